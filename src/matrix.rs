//! A plain row-major matrix of f64: how data, sources and parameters travel between the
//! I/O layer, the training loop and the backend, without anyone else knowing dfdx.
//! Row-major because CSV rows and dfdx tensors are; linear algebra (products, and the
//! eigendecompositions in `data`) is nalgebra's, through `to_nalgebra`/`From`.

#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    /// Row-major: element (r, c) is `data[r * cols + c]`.
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(
            data.len(),
            rows * cols,
            "matrix data does not match its shape"
        );
        Matrix { rows, cols, data }
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix::new(rows, cols, vec![0.0; rows * cols])
    }

    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                data.push(f(r, c));
            }
        }
        Matrix { rows, cols, data }
    }

    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn column(&self, c: usize) -> Vec<f64> {
        (0..self.rows).map(|r| self.get(r, c)).collect()
    }

    /// These rows, in this order.
    pub fn select_rows(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        Matrix::new(rows.len(), self.cols, data)
    }

    /// The rows `range`, in order.
    pub fn row_range(&self, range: std::ops::Range<usize>) -> Matrix {
        let data = self.data[range.start * self.cols..range.end * self.cols].to_vec();
        Matrix::new(range.len(), self.cols, data)
    }

    /// Keeps these columns, in this order.
    pub fn select_columns(&self, cols: &[usize]) -> Matrix {
        Matrix::from_fn(self.rows, cols.len(), |r, c| self.get(r, cols[c]))
    }

    /// self · other
    pub fn matmul(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.cols, other.rows, "matmul shapes");
        (self.to_nalgebra() * other.to_nalgebra()).into()
    }

    /// self · otherᵀ
    pub fn matmul_transpose(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.cols, other.cols, "matmul shapes");
        (self.to_nalgebra() * other.to_nalgebra().transpose()).into()
    }

    /// The same matrix as nalgebra's (column-major) type.
    pub fn to_nalgebra(&self) -> nalgebra::DMatrix<f64> {
        nalgebra::DMatrix::from_row_slice(self.rows, self.cols, &self.data)
    }

    /// This matrix's columns followed by `other`'s (same number of rows).
    pub fn beside(&self, other: &Matrix) -> Matrix {
        assert_eq!(self.rows, other.rows, "side by side needs equal row counts");
        Matrix::from_fn(self.rows, self.cols + other.cols, |r, c| {
            if c < self.cols {
                self.get(r, c)
            } else {
                other.get(r, c - self.cols)
            }
        })
    }

    /// Each column's mean and population standard deviation, at any magnitude.
    pub fn column_moments(&self) -> Vec<(f64, f64)> {
        (0..self.cols)
            .map(|c| crate::numeric::mean_and_sd(&self.column(c)))
            .collect()
    }

    pub fn map(&self, f: impl Fn(f64) -> f64) -> Matrix {
        Matrix::new(
            self.rows,
            self.cols,
            self.data.iter().map(|&x| f(x)).collect(),
        )
    }
}

impl From<nalgebra::DMatrix<f64>> for Matrix {
    fn from(m: nalgebra::DMatrix<f64>) -> Matrix {
        Matrix::from_fn(m.nrows(), m.ncols(), |r, c| m[(r, c)])
    }
}
