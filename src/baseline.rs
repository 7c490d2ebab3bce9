//! The classical baseline: FastICA (linfa-ica), with scikit-learn's defaults (logcosh
//! contrast, parallel updates, tolerance 1e-4; at most 1000 iterations, as
//! `../shared/anchors/fastica.py` asks), so comparisons need no Python.

use crate::matrix::Matrix;
use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_ica::fast_ica::{FastIca, GFunc};

std::thread_local! {
    /// Set while this thread runs code whose panics are caught and turned into errors.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic as `Err` without printing its message; the process's panic
/// hook still prints every other panic, of other threads too.
fn quietly<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = std::panic::catch_unwind(f);
    QUIET.with(|q| q.set(false));
    result
}

/// Sources estimated by a linear unmixing: s = W (x − mean).
#[derive(Debug, Clone)]
pub struct Unmixed {
    /// T × n estimated sources.
    pub sources: Matrix,
    /// n × m unmixing matrix W, in the data's own units.
    pub unmixing: Matrix,
}

impl Unmixed {
    /// The same unmixing with each source scaled to unit variance over the rows (linfa's
    /// sources have unit norm over them instead): W's rows and the sources' columns divided
    /// by each source's standard deviation. Err when a source is constant.
    pub fn unit_variance(self) -> Result<Unmixed, String> {
        let sds: Vec<f64> = crate::matrix::column_moments(&self.sources)
            .into_iter()
            .map(|(_, sd)| sd)
            .collect();
        if sds.iter().any(|sd| !(sd.is_finite() && *sd > 0.0)) {
            return Err("FastICA found a constant source".into());
        }
        Ok(Unmixed {
            sources: Matrix::from_shape_fn(self.sources.dim(), |(r, i)| {
                self.sources[[r, i]] / sds[i]
            }),
            unmixing: Matrix::from_shape_fn(self.unmixing.dim(), |(i, j)| {
                self.unmixing[[i, j]] / sds[i]
            }),
        })
    }
}

/// FastICA of the rows of `x` into `n` sources (n ≤ the number of columns), started from
/// a random matrix drawn with `seed`.
pub fn fastica(x: &Matrix, n: usize, seed: u64) -> Result<Unmixed, String> {
    if n == 0 || n > x.ncols().min(x.nrows()) {
        return Err(format!(
            "FastICA finds at most min(rows, columns) = {} sources, asked for {n}",
            x.ncols().min(x.nrows())
        ));
    }
    // Data FastICA cannot whiten (a constant column, too few rows, dependent columns)
    // make linfa panic or invent sources: refused with the reason.
    let columns: Vec<String> = (0..x.ncols()).map(|c| format!("{c}")).collect();
    let table = crate::data::Table {
        columns,
        values: x.clone(),
    };
    crate::data::Preprocessing::check_for_fastica("the data", &table).map_err(|e| e.to_string())?;
    let records = x.clone();
    // linfa's own failures are errors here, never a panic that ends the process (or that
    // prints its message: the error says what happened).
    let fitted = quietly(|| {
        FastIca::params()
            .ncomponents(n)
            .gfunc(GFunc::Logcosh(1.0))
            .max_iter(1000)
            .tol(1e-4)
            .random_state(seed as usize)
            .fit(&DatasetBase::from(records.clone()))
    });
    let model = match fitted {
        Ok(result) => result.map_err(|e| format!("FastICA failed: {e}"))?,
        Err(_) => return Err("FastICA failed inside linfa-ica on this data".to_string()),
    };
    // linfa's arrays may be column-major; every matrix here is row-major.
    let standard = |a: Matrix| a.as_standard_layout().into_owned();
    let sources = standard(model.predict(&records));
    // The unmixing is linear: W's columns are the responses to the unit vectors.
    let mean: Vec<f64> = crate::matrix::column_moments(x)
        .iter()
        .map(|(m, _)| *m)
        .collect();
    let probe = Matrix::from_shape_fn((x.ncols(), x.ncols()), |(r, c)| {
        mean[c] + if r == c { 1.0 } else { 0.0 }
    });
    let at_mean = Matrix::from_shape_fn((1, x.ncols()), |(_, c)| mean[c]);
    let base = standard(model.predict(&at_mean));
    let response = standard(model.predict(&probe));
    let unmixing = Matrix::from_shape_fn((n, x.ncols()), |(i, j)| response[[j, i]] - base[[0, i]]);
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
        let moments = crate::matrix::column_moments(&sim.data);
        let centred = Matrix::from_shape_fn((sim.data.nrows(), 3), |(r, c)| {
            sim.data[[r, c]] - moments[c].0
        });
        let again = centred.dot(&u.unmixing.t());
        for (a, b) in again.iter().zip(u.sources.iter()).take(50) {
            assert!((a - b).abs() < 1e-8);
        }
    }
}
