//! The one matrix type for numbers outside dfdx: ndarray's `Array2<f64>`, row-major like
//! CSV rows and dfdx tensors, and the type linfa (FastICA) reads. Data, sources and
//! parameters travel between the I/O layer, the training loop and the backend in it.
//! Decompositions (eigen, QR, SVD) are nalgebra's, through [`to_nalgebra`].

use ndarray::Axis;

pub type Matrix = ndarray::Array2<f64>;

/// A rows × cols matrix of row-major `data`.
pub fn from_row_major(rows: usize, cols: usize, data: Vec<f64>) -> Matrix {
    Matrix::from_shape_vec((rows, cols), data).expect("matrix data does not match its shape")
}

/// The entries, row-major. Every matrix this crate makes is in standard layout (row-major,
/// contiguous); use [`select`] rather than ndarray's `select`, which may not be.
pub fn values(m: &Matrix) -> &[f64] {
    m.as_slice().expect("a row-major matrix")
}

/// The same matrix as nalgebra's (column-major) type.
pub fn to_nalgebra(m: &Matrix) -> nalgebra::DMatrix<f64> {
    nalgebra::DMatrix::from_row_slice(m.nrows(), m.ncols(), values(m))
}

pub fn from_nalgebra(m: &nalgebra::DMatrix<f64>) -> Matrix {
    Matrix::from_shape_fn((m.nrows(), m.ncols()), |(r, c)| m[(r, c)])
}

/// `a`'s columns followed by `b`'s (same number of rows).
pub fn beside(a: &Matrix, b: &Matrix) -> Matrix {
    ndarray::concatenate(Axis(1), &[a.view(), b.view()])
        .expect("side by side needs equal row counts")
        .as_standard_layout()
        .into_owned()
}

/// The rows (`Axis(0)`) or columns (`Axis(1)`) `indices`, in that order, row-major like
/// every other matrix (ndarray's own `select` may return a column-major one). Copied
/// element by element: ndarray's concatenates one view per index, which took a tenth of
/// a minibatch fit's time gathering its batches (`batch 5000` of 100 000 rows).
pub fn select(m: &Matrix, axis: Axis, indices: &[usize]) -> Matrix {
    match axis {
        Axis(0) => Matrix::from_shape_fn((indices.len(), m.ncols()), |(r, c)| m[[indices[r], c]]),
        Axis(1) => Matrix::from_shape_fn((m.nrows(), indices.len()), |(r, c)| m[[r, indices[c]]]),
        Axis(other) => panic!("a matrix has the axes 0 and 1, not {other}"),
    }
}

/// The rows `range`, in order.
pub fn row_range(m: &Matrix, range: std::ops::Range<usize>) -> Matrix {
    m.slice(ndarray::s![range, ..]).to_owned()
}

/// Each column's mean and population standard deviation, at any magnitude.
pub fn column_moments(m: &Matrix) -> Vec<(f64, f64)> {
    m.columns()
        .into_iter()
        .map(|c| crate::numeric::mean_and_sd(&c.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `select` picks what ndarray's picks, repeats and reordering included, row-major.
    #[test]
    fn select_is_ndarrays_select_in_row_major_order() {
        let m = Matrix::from_shape_fn((7, 5), |(r, c)| (10 * r + c) as f64);
        for (axis, indices) in [
            (Axis(0), vec![6, 0, 3, 3]),
            (Axis(1), vec![4, 1, 1, 0]),
            (Axis(0), vec![]),
        ] {
            let chosen = select(&m, axis, &indices);
            assert_eq!(chosen, m.select(axis, &indices));
            assert!(chosen.is_standard_layout());
        }
    }
}
