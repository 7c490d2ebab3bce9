//! After training: `postprocess fastica`, a linear ICA unmixing of the posterior means.
//!
//! A mean-field VAE often undoes most of a nonlinear mixing but leaves a linear mixing
//! among its latents (NIFA's schedule ends with a FastICA rotation for this reason, and TCL
//! applies FastICA to its features). The unmixing is fitted once, to the training rows'
//! posterior means, and recorded in the fit: `encode` applies it to new rows, and `sample`
//! and `decode` undo it before the decoder, so every command speaks of the same sources.

use crate::matrix::Matrix;
use crate::spec::Postprocess;
use serde::{Deserialize, Serialize};

/// Sources from latents: s = W (z − μ), and back: z = W⁻¹ s + μ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmixing {
    /// μ, the mean of each latent dimension over the training rows.
    pub means: Vec<f64>,
    /// W, n × n, rows first.
    pub matrix: Vec<Vec<f64>>,
    /// W⁻¹, rows first.
    pub inverse: Vec<Vec<f64>>,
}

impl Unmixing {
    /// What `how` asks for of the posterior means `z`: nothing for `postprocess none`,
    /// else [`Unmixing::fit`]. Err (why) when FastICA cannot run on them.
    pub fn fit_for(how: Postprocess, z: &Matrix, seed: u64) -> Result<Option<Unmixing>, String> {
        match how {
            Postprocess::None => Ok(None),
            Postprocess::Fastica => Unmixing::fit(z, seed).map(Some),
        }
    }

    /// FastICA of the posterior means `z` (rows × n), started from `seed`, scaled so that
    /// each source has unit variance over these rows, as standardised sources do. Err when
    /// FastICA cannot run on them (a collapsed dimension, say) or finds a singular unmixing.
    pub fn fit(z: &Matrix, seed: u64) -> Result<Unmixing, String> {
        let unmixed = crate::baseline::fastica(z, z.ncols(), seed)?
            .unit_variance()
            .map_err(|why| format!("{why} in the posterior means"))?;
        let means = crate::matrix::column_moments(z)
            .iter()
            .map(|(m, _)| *m)
            .collect();
        let w = unmixed.unmixing;
        let inverse = crate::matrix::to_nalgebra(&w)
            .try_inverse()
            .filter(|inv| inv.iter().all(|v| v.is_finite()))
            .ok_or("FastICA's unmixing of the posterior means is singular")?;
        Ok(Unmixing {
            means,
            matrix: rows(&w),
            inverse: rows(&crate::matrix::from_nalgebra(&inverse)),
        })
    }

    /// n, the number of sources.
    pub fn dim(&self) -> usize {
        self.means.len()
    }

    /// The sources of latents `z` with posterior standard deviations `sd` (both rows × n):
    /// W (z − μ), and the standard deviation of each source under the mean-field posterior,
    /// sqrt(Σ_j W_ij² sd_j²).
    pub fn apply(&self, z: &Matrix, sd: &Matrix) -> (Matrix, Matrix) {
        let n = self.dim();
        let w = &self.matrix;
        let s_sd = Matrix::from_shape_fn((sd.nrows(), n), |(r, i)| {
            (0..n)
                .map(|j| (w[i][j] * sd[[r, j]]).powi(2))
                .sum::<f64>()
                .sqrt()
        });
        (self.sources(z), s_sd)
    }

    /// The sources of latents `z` (rows × n): W (z − μ).
    pub fn sources(&self, z: &Matrix) -> Matrix {
        let n = self.dim();
        let w = &self.matrix;
        Matrix::from_shape_fn((z.nrows(), n), |(r, i)| {
            (0..n).map(|j| w[i][j] * (z[[r, j]] - self.means[j])).sum()
        })
    }

    /// The latents of sources `s` (rows × n): W⁻¹ s + μ.
    pub fn invert(&self, s: &Matrix) -> Matrix {
        let n = self.dim();
        let inv = &self.inverse;
        Matrix::from_shape_fn((s.nrows(), n), |(r, j)| {
            self.means[j] + (0..n).map(|i| inv[j][i] * s[[r, i]]).sum::<f64>()
        })
    }

    /// Why this cannot be the unmixing of `n` latent dimensions, or `None`: square n × n
    /// matrices and n means, every number finite.
    pub fn problem(&self, n: usize) -> Option<String> {
        let square = |m: &[Vec<f64>]| m.len() == n && m.iter().all(|r| r.len() == n);
        if self.means.len() != n || !square(&self.matrix) || !square(&self.inverse) {
            return Some(format!("it is not an unmixing of {n} latent dimensions"));
        }
        let finite = self
            .means
            .iter()
            .chain(self.matrix.iter().flatten())
            .chain(self.inverse.iter().flatten())
            .all(|v| v.is_finite());
        (!finite).then(|| "it holds a number that is not finite".to_string())
    }
}

fn rows(m: &Matrix) -> Vec<Vec<f64>> {
    m.rows().into_iter().map(|r| r.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{simulate, Scenario};

    #[test]
    fn unmixes_a_linear_mixture_of_latents_and_inverts() {
        // Latents that are a linear mixture of independent sources: the unmixing recovers
        // the sources, and inverting it gives the latents back.
        let sim = simulate(Scenario::Linear, 2000, 3);
        let u = Unmixing::fit(&sim.data, 0).unwrap();
        let sd = Matrix::from_elem(sim.data.dim(), 0.1);
        let (s, s_sd) = u.apply(&sim.data, &sd);
        let mcc = crate::eval::recovery(&sim.truth, &s).unwrap().mcc;
        assert!(mcc > 0.99, "{mcc}");
        let back = u.invert(&s);
        for (a, b) in back.iter().zip(sim.data.iter()) {
            assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{a} {b}");
        }
        // Independent posteriors: a source's variance is the sum of its terms'.
        let w = &u.matrix;
        let want = (0..3).map(|j| (w[0][j] * 0.1).powi(2)).sum::<f64>().sqrt();
        assert!((s_sd[[0, 0]] - want).abs() < 1e-12);
        assert_eq!(u.problem(3), None);
        assert!(u.problem(2).is_some());
    }

    #[test]
    fn a_collapsed_dimension_is_an_error_not_a_panic() {
        let mut z = simulate(Scenario::Linear, 500, 0).data;
        z.column_mut(1).fill(0.25);
        assert!(Unmixing::fit(&z, 0).is_err());
    }
}
