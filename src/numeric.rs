//! The few scalar formulas that several layers need, written once: log-sum-exp, the normal
//! log-density and a 1-D Gaussian mixture as plain numbers. (The backend computes the same
//! quantities on tensors, inside the objective.)

/// ln(2π).
pub const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// log Σ exp(xᵢ), computed stably; −∞ for an empty slice or all −∞.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + x.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// log N(z | mean, variance).
pub fn normal_log_density(z: f64, mean: f64, variance: f64) -> f64 {
    -0.5 * (LN_2PI + variance.ln() + (z - mean).powi(2) / variance)
}

/// Mean and population standard deviation of `x`, without overflow or underflow: the
/// values are divided by their largest magnitude first, so columns of 1e200 or 1e-300
/// have moments like any other. NaN for an empty slice.
pub fn mean_and_sd(x: &[f64]) -> (f64, f64) {
    let scale = largest_magnitude(x);
    if x.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    if scale == 0.0 {
        return (0.0, 0.0);
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|v| v / scale).sum::<f64>() / n;
    let var = x.iter().map(|v| (v / scale - mean).powi(2)).sum::<f64>() / n;
    (mean * scale, var.sqrt() * scale)
}

/// max |xᵢ| (0 for an empty slice).
pub fn largest_magnitude(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m: f64, v| m.max(v.abs()))
}

/// The deviations of `x` from its mean, divided by the largest of them: what a
/// correlation needs, at any magnitude. `None` when `x` is constant.
pub fn centred_unit(x: &[f64]) -> Option<Vec<f64>> {
    let (mean, _) = mean_and_sd(x);
    let deviations: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let scale = largest_magnitude(&deviations);
    (scale > 0.0 && scale.is_finite()).then(|| deviations.iter().map(|d| d / scale).collect())
}

/// A 1-D Gaussian mixture (a fitted prior of one latent dimension), as numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mixture {
    pub weights: Vec<f64>,
    pub means: Vec<f64>,
    pub variances: Vec<f64>,
}

impl Mixture {
    /// log πₖ + log N(z | μₖ, σₖ²) of each component k.
    pub fn component_log_densities(&self, z: f64) -> Vec<f64> {
        (0..self.weights.len())
            .map(|k| self.weights[k].ln() + normal_log_density(z, self.means[k], self.variances[k]))
            .collect()
    }

    /// log p(z) of the mixture, computed stably.
    pub fn log_density(&self, z: f64) -> f64 {
        log_sum_exp(&self.component_log_densities(z))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable_and_exact() {
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert!((log_sum_exp(&[-1000.0, f64::NEG_INFINITY]) + 1000.0).abs() < 1e-12);
    }

    #[test]
    fn moments_hold_at_any_magnitude() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let (mean, sd) = mean_and_sd(&x);
        assert!((mean - 2.5).abs() < 1e-15 && (sd - 1.25f64.sqrt()).abs() < 1e-15);
        for scale in [1e200, 1e-300] {
            let big: Vec<f64> = x.iter().map(|v| v * scale).collect();
            let (m, s) = mean_and_sd(&big);
            assert!((m / scale - mean).abs() < 1e-12, "{scale}: mean {m}");
            assert!((s / scale - sd).abs() < 1e-12, "{scale}: sd {s}");
        }
        assert_eq!(mean_and_sd(&[7.0; 5]), (7.0, 0.0));
        assert!(centred_unit(&[7.0; 5]).is_none());
    }

    #[test]
    fn normal_log_density_matches_the_formula() {
        let direct = (-(0.5f64 - 0.2).powi(2) / (2.0 * 3.0)).exp()
            / (2.0 * std::f64::consts::PI * 3.0).sqrt();
        assert!((normal_log_density(0.5, 0.2, 3.0) - direct.ln()).abs() < 1e-14);
    }
}
