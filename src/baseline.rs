//! The classical baseline: FastICA (linfa-ica), with scikit-learn's defaults (logcosh
//! contrast, parallel updates, tolerance 1e-4; at most 1000 iterations, as
//! `../shared/anchors/fastica.py` asks), so comparisons need no Python.

use crate::matrix::Matrix;
use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_ica::fast_ica::{FastIca, GFunc};
use ndarray::Array2;

/// Sources estimated by a linear unmixing: s = W (x − mean).
#[derive(Debug, Clone)]
pub struct Unmixed {
    /// T × n estimated sources.
    pub sources: Matrix,
    /// n × m unmixing matrix W, in the data's own units.
    pub unmixing: Matrix,
}

fn to_array(x: &Matrix) -> Array2<f64> {
    Array2::from_shape_vec((x.rows, x.cols), x.data.clone()).expect("rows × cols values")
}

fn from_array(a: &Array2<f64>) -> Matrix {
    Matrix::from_fn(a.nrows(), a.ncols(), |r, c| a[(r, c)])
}

/// FastICA of the rows of `x` into `n` sources (n ≤ the number of columns), started from
/// a random matrix drawn with `seed`.
pub fn fastica(x: &Matrix, n: usize, seed: u64) -> Result<Unmixed, String> {
    if n == 0 || n > x.cols.min(x.rows) {
        return Err(format!(
            "FastICA finds at most min(rows, columns) = {} sources, asked for {n}",
            x.cols.min(x.rows)
        ));
    }
    let records = to_array(x);
    let model = FastIca::params()
        .ncomponents(n)
        .gfunc(GFunc::Logcosh(1.0))
        .max_iter(1000)
        .tol(1e-4)
        .random_state(seed as usize)
        .fit(&DatasetBase::from(records.clone()))
        .map_err(|e| format!("FastICA failed: {e}"))?;
    let sources = from_array(&model.predict(&records));
    // The unmixing is linear: W's columns are the responses to the unit vectors.
    let mean: Vec<f64> = x.column_moments().iter().map(|(m, _)| *m).collect();
    let probe = Matrix::from_fn(x.cols, x.cols, |r, c| {
        mean[c] + if r == c { 1.0 } else { 0.0 }
    });
    let at_mean = Matrix::from_fn(1, x.cols, |_, c| mean[c]);
    let base = from_array(&model.predict(&to_array(&at_mean)));
    let response = from_array(&model.predict(&to_array(&probe)));
    let unmixing = Matrix::from_fn(n, x.cols, |i, j| response.get(j, i) - base.get(0, i));
    Ok(Unmixed { sources, unmixing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{simulate, Scenario};

    #[test]
    fn fastica_unmixes_linear_data() {
        let sim = simulate(Scenario::Linear, 2000, 0);
        let u = fastica(&sim.data, 3, 0).unwrap();
        let rec = crate::eval::recovery(&sim.truth, &u.sources).unwrap();
        assert!(rec.mcc > 0.99, "{}", rec.mcc);
        let amari = crate::eval::amari_distance(&u.unmixing, sim.mixing.as_ref().unwrap());
        assert!(amari < 0.05, "{amari}");
        // The recorded unmixing reproduces the sources.
        let moments = sim.data.column_moments();
        let centred = Matrix::from_fn(sim.data.rows, 3, |r, c| sim.data.get(r, c) - moments[c].0);
        let again = centred.matmul_transpose(&u.unmixing);
        for (a, b) in again.data.iter().zip(&u.sources.data).take(50) {
            assert!((a - b).abs() < 1e-8);
        }
    }
}
