//! The few scalar formulas that several layers need, written once: log-sum-exp, the normal
//! log-density, a 1-D Gaussian mixture as plain numbers, and quadrature under a normal
//! (`kl quadrature(H)` in the backend, and the theory checks). (The backend computes the
//! same quantities on tensors, inside the objective.)

use std::f64::consts::PI;
use std::num::NonZeroUsize;

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

/// A fitted prior of one latent dimension, as numbers: what the trace, `priors.ron`, the
/// report and `sample` read. The backend evaluates the same densities on tensors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PriorDensity {
    /// `gmm(K = k)` and `normal`.
    Mixture(Mixture),
    /// `laplace`: density exp(−|z − location| / scale) / (2 scale).
    Laplace { location: f64, scale: f64 },
    /// `student_t`: location and scale of a t density with `dof` degrees of freedom.
    StudentT { location: f64, scale: f64, dof: f64 },
    /// `logistic` and `logistic(m, s)`: density e^(−u) / (s (1 + e^(−u))²),
    /// u = (z − location) / scale.
    Logistic { location: f64, scale: f64 },
}

impl PriorDensity {
    /// log p(z).
    pub fn log_density(&self, z: f64) -> f64 {
        match self {
            PriorDensity::Mixture(m) => m.log_density(z),
            PriorDensity::Laplace { location, scale } => {
                -(2.0 * scale).ln() - (z - location).abs() / scale
            }
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => {
                let u = (z - location) / scale;
                student_t_normaliser(*dof)
                    - 0.5 * (dof * std::f64::consts::PI).ln()
                    - scale.ln()
                    - 0.5 * (dof + 1.0) * (u * u / dof).ln_1p()
            }
            PriorDensity::Logistic { location, scale } => {
                logistic_log_density((z - location) / scale) - scale.ln()
            }
        }
    }

    /// One draw from the density. A mixture draws its component from U(0, 1), then a
    /// standard normal.
    pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
        use rand_distr::{Distribution, StandardNormal, Uniform};
        match self {
            PriorDensity::Mixture(p) => {
                let u: f64 = Uniform::new(0.0, 1.0).sample(rng);
                let mut k = 0;
                let mut cumulative = p.weights[0];
                while u > cumulative && k + 1 < p.weights.len() {
                    k += 1;
                    cumulative += p.weights[k];
                }
                let e: f64 = StandardNormal.sample(rng);
                p.means[k] + p.variances[k].sqrt() * e
            }
            // The inverse of the Laplace CDF at u − ½, u ~ U(0, 1).
            PriorDensity::Laplace { location, scale } => {
                let u: f64 = Uniform::new(-0.5, 0.5).sample(rng);
                location - scale * u.signum() * (1.0 - 2.0 * u.abs()).ln()
            }
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => {
                let t = rand_distr::StudentT::new(*dof).map_or(f64::NAN, |d| d.sample(rng));
                location + scale * t
            }
            // The inverse of the logistic CDF, logit(u), at u ~ U(0, 1) without its ends.
            PriorDensity::Logistic { location, scale } => {
                let u: f64 = rand::distributions::Open01.sample(rng);
                location + scale * (u / (1.0 - u)).ln()
            }
        }
    }

    /// The numbers that describe it, in the order `Family::fitted_names` names them.
    pub fn values(&self) -> Vec<f64> {
        match self {
            PriorDensity::Mixture(m) => (0..m.weights.len())
                .flat_map(|k| [m.weights[k], m.means[k], m.variances[k]])
                .collect(),
            PriorDensity::Laplace { location, scale }
            | PriorDensity::Logistic { location, scale } => vec![*location, *scale],
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => vec![*location, *scale, *dof],
        }
    }

    /// The density of `family` described by `values` (as `values` gives them); `None`
    /// when their number does not fit the family.
    pub fn from_values(family: &crate::spec::Family, values: &[f64]) -> Option<PriorDensity> {
        use crate::spec::FamilyKind;
        if values.len() != family.fitted_names().len() {
            return None;
        }
        Some(match family.kind() {
            FamilyKind::Mixture => {
                let column = |i: usize| values.iter().skip(i).step_by(3).copied().collect();
                PriorDensity::Mixture(Mixture {
                    weights: column(0),
                    means: column(1),
                    variances: column(2),
                })
            }
            FamilyKind::Laplace => PriorDensity::Laplace {
                location: values[0],
                scale: values[1],
            },
            FamilyKind::StudentT => PriorDensity::StudentT {
                location: values[0],
                scale: values[1],
                dof: values[2],
            },
            FamilyKind::Logistic => PriorDensity::Logistic {
                location: values[0],
                scale: values[1],
            },
        })
    }

    /// The parameters as the report draws them over the epochs: one series per kind of
    /// number, one entry per component.
    pub fn series(&self) -> Vec<(&'static str, Vec<f64>)> {
        match self {
            PriorDensity::Mixture(m) => vec![
                ("weights", m.weights.clone()),
                ("means", m.means.clone()),
                ("variances", m.variances.clone()),
            ],
            PriorDensity::Laplace { location, scale }
            | PriorDensity::Logistic { location, scale } => {
                vec![("location", vec![*location]), ("scale", vec![*scale])]
            }
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => vec![
                ("location", vec![*location]),
                ("scale", vec![*scale]),
                ("degrees of freedom", vec![*dof]),
            ],
        }
    }

    pub fn as_mixture(&self) -> Option<&Mixture> {
        match self {
            PriorDensity::Mixture(m) => Some(m),
            _ => None,
        }
    }

    /// The variance of the density (∞ for a Student-t with ν ≤ 2).
    pub fn variance(&self) -> f64 {
        match self {
            PriorDensity::Mixture(m) => {
                let mean: f64 = m.weights.iter().zip(&m.means).map(|(w, mu)| w * mu).sum();
                (0..m.weights.len())
                    .map(|k| m.weights[k] * (m.variances[k] + (m.means[k] - mean).powi(2)))
                    .sum()
            }
            PriorDensity::Laplace { scale, .. } => 2.0 * scale * scale,
            PriorDensity::StudentT { scale, dof, .. } if *dof > 2.0 => {
                scale * scale * dof / (dof - 2.0)
            }
            PriorDensity::StudentT { .. } => f64::INFINITY,
            PriorDensity::Logistic { scale, .. } => PI * PI * scale * scale / 3.0,
        }
    }
}

/// log of the standard logistic density e^(−u) / (1 + e^(−u))², written as
/// −|u| − 2 log(1 + e^(−|u|)) (the density is symmetric), which neither overflows nor
/// cancels for large |u|.
pub fn logistic_log_density(u: f64) -> f64 {
    -u.abs() - 2.0 * (-u.abs()).exp().ln_1p()
}

/// ln Γ((ν + 1)/2) − ln Γ(ν/2): the part of the Student-t log-density that depends on ν
/// alone.
pub fn student_t_normaliser(dof: f64) -> f64 {
    use statrs::function::gamma::ln_gamma;
    ln_gamma(0.5 * (dof + 1.0)) - ln_gamma(0.5 * dof)
}

/// d/dν of [`student_t_normaliser`]: (ψ((ν + 1)/2) − ψ(ν/2)) / 2.
pub fn student_t_normaliser_derivative(dof: f64) -> f64 {
    use statrs::function::gamma::digamma;
    0.5 * (digamma(0.5 * (dof + 1.0)) - digamma(0.5 * dof))
}

// ---------------------------------------------------------------------------------------
// Expectations under a normal: the quadrature rules of `kl quadrature(H)` (the backend) and
// of the theory checks (`theory`).

/// A 1-D normal distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal {
    pub mean: f64,
    pub variance: f64,
}

impl Normal {
    pub fn log_density(&self, z: f64) -> f64 {
        normal_log_density(z, self.mean, self.variance)
    }
}

/// Nodes and weights for expectations under N(0, 1): E[f(ε)] ≈ Σᵢ wᵢ f(εᵢ).
#[derive(Debug, Clone)]
pub struct Quadrature {
    pub nodes: Vec<f64>,
    pub weights: Vec<f64>,
    rule: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    GaussHermite(usize),
    Simpson(usize),
}

/// Simpson's rule covers ε ∈ [−SIMPSON_RANGE, SIMPSON_RANGE]; the mass outside is 2e-32.
const SIMPSON_RANGE: f64 = 12.0;

impl Quadrature {
    /// Gauss–Hermite with `points` nodes: exact for polynomials of degree < 2·points,
    /// excellent for smooth integrands whose features are wide compared with σ.
    pub fn gauss_hermite(points: usize) -> Self {
        let rule = gauss_quad::GaussHermite::new(
            NonZeroUsize::new(points.max(1)).expect("at least one point"),
        );
        let (nodes, weights) = rule
            .as_node_weight_pairs()
            .iter()
            .map(|&(x, w)| (std::f64::consts::SQRT_2 * x, w / PI.sqrt()))
            .unzip();
        Quadrature {
            nodes,
            weights,
            rule: Rule::GaussHermite(points),
        }
    }

    /// Composite Simpson on ε ∈ [−12, 12] with `panels` (even) panels, weighted by the
    /// normal density. Robust where a mixture's responsibilities switch sharply inside
    /// q's support (narrow components, wide q), where Gauss–Hermite converges slowly.
    pub fn simpson(panels: usize) -> Self {
        let panels = panels.max(2).div_ceil(2) * 2;
        let h = 2.0 * SIMPSON_RANGE / panels as f64;
        let (nodes, weights) = (0..=panels)
            .map(|i| {
                let e = -SIMPSON_RANGE + i as f64 * h;
                let simpson = match i {
                    0 => 1.0,
                    _ if i == panels => 1.0,
                    _ if i % 2 == 1 => 4.0,
                    _ => 2.0,
                };
                (
                    e,
                    simpson * h / 3.0 * (-0.5 * e * e).exp() / (2.0 * PI).sqrt(),
                )
            })
            .unzip();
        Quadrature {
            nodes,
            weights,
            rule: Rule::Simpson(panels),
        }
    }

    /// The same rule at twice the resolution.
    pub fn refined(&self) -> Quadrature {
        match self.rule {
            Rule::GaussHermite(n) => Quadrature::gauss_hermite(2 * n),
            Rule::Simpson(n) => Quadrature::simpson(2 * n),
        }
    }

    /// E[f(ε)], ε ~ N(0, 1).
    pub fn expect(&self, f: impl Fn(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&e, &w)| w * f(e))
            .sum()
    }

    /// E_q[f(z)] for q = N(m, s²).
    pub fn expect_under(&self, q: Normal, f: impl Fn(f64) -> f64) -> f64 {
        let s = q.variance.sqrt();
        self.expect(|e| f(q.mean + s * e))
    }

    /// |E[f] − E_refined[f]|: how far this rule is from one twice as fine, a practical
    /// estimate of its error for the integrands used here.
    pub fn error_bound(&self, q: Normal, f: impl Fn(f64) -> f64 + Copy) -> f64 {
        (self.expect_under(q, f) - self.refined().expect_under(q, f)).abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each density integrates to one, and its sampler draws from it (mean and variance
    /// of 200 000 draws).
    #[test]
    fn prior_densities_normalise_and_sample_what_they_describe() {
        use rand::SeedableRng;
        let densities = [
            PriorDensity::Mixture(Mixture {
                weights: vec![0.3, 0.7],
                means: vec![-1.0, 2.0],
                variances: vec![0.5, 0.25],
            }),
            PriorDensity::Laplace {
                location: 0.5,
                scale: 0.7,
            },
            PriorDensity::StudentT {
                location: -0.3,
                scale: 1.3,
                dof: 6.5,
            },
            PriorDensity::Logistic {
                location: 0.4,
                scale: 0.8,
            },
        ];
        for p in &densities {
            // Simpson over [−60, 60]: the t tail beyond holds under 1e-7 of the mass.
            let (a, b, panels) = (-60.0, 60.0, 200_000);
            let h = (b - a) / panels as f64;
            let mass: f64 = (0..=panels)
                .map(|i| {
                    let w = if i == 0 || i == panels {
                        1.0
                    } else if i % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * p.log_density(a + h * i as f64).exp()
                })
                .sum::<f64>()
                * h
                / 3.0;
            assert!((mass - 1.0).abs() < 1e-6, "{p:?}: mass {mass}");
            let mut rng = rand::rngs::StdRng::seed_from_u64(7);
            let draws: Vec<f64> = (0..200_000).map(|_| p.sample(&mut rng)).collect();
            let (mean, sd) = mean_and_sd(&draws);
            let expected_mean = match p {
                PriorDensity::Mixture(m) => {
                    m.weights.iter().zip(&m.means).map(|(w, mu)| w * mu).sum()
                }
                PriorDensity::Laplace { location, .. }
                | PriorDensity::StudentT { location, .. }
                | PriorDensity::Logistic { location, .. } => *location,
            };
            let expected_sd = p.variance().sqrt();
            assert!((mean - expected_mean).abs() < 0.02, "{p:?}: mean {mean}");
            assert!(
                (sd / expected_sd - 1.0).abs() < 0.02,
                "{p:?}: sd {sd} vs {expected_sd}"
            );
            let names = match p {
                PriorDensity::Mixture(_) => crate::spec::Family::Gmm { k: 2 },
                PriorDensity::Laplace { .. } => crate::spec::Family::Laplace,
                PriorDensity::StudentT { .. } => crate::spec::Family::StudentT,
                PriorDensity::Logistic { .. } => crate::spec::Family::LearnableLogistic,
            };
            assert_eq!(
                PriorDensity::from_values(&names, &p.values()).as_ref(),
                Some(p)
            );
        }
    }

    /// The normaliser's derivative is its finite difference, and at ν = 1 the density is
    /// Cauchy's.
    #[test]
    fn the_student_t_normaliser_and_its_derivative_agree() {
        for dof in [0.3, 1.0, 4.5, 30.0, 800.0] {
            let h = 1e-5 * dof;
            let fd = (student_t_normaliser(dof + h) - student_t_normaliser(dof - h)) / (2.0 * h);
            let d = student_t_normaliser_derivative(dof);
            assert!(
                (d - fd).abs() < 1e-7 * (1.0 + d.abs()),
                "ν {dof}: {d} vs {fd}"
            );
        }
        let cauchy = PriorDensity::StudentT {
            location: 0.0,
            scale: 1.0,
            dof: 1.0,
        };
        let z: f64 = 1.7;
        let expected = -(std::f64::consts::PI * (1.0 + z * z)).ln();
        assert!((cauchy.log_density(z) - expected).abs() < 1e-12);
    }

    /// The logistic log-density is the textbook −u − log s − 2 log(1 + e^(−u)) wherever
    /// that is computable, stays finite far out in both tails (where the textbook form
    /// overflows on one side), and is the log of the derivative of the CDF
    /// 1/(1 + e^(−u)). Logistic(0, 1) at z = logit(p) has density p(1 − p), the Jacobian of
    /// sigmoid: a uniform on sigmoid(z).
    #[test]
    fn the_logistic_density_is_the_closed_form() {
        let (location, scale) = (0.3, 1.7);
        let p = PriorDensity::Logistic { location, scale };
        for z in [-40.0, -7.5, -1.0, -0.2, 0.0, 0.3, 0.31, 2.0, 9.0, 35.0] {
            let u: f64 = (z - location) / scale;
            let textbook = -u - scale.ln() - 2.0 * (-u).exp().ln_1p();
            assert!(
                (p.log_density(z) - textbook).abs() < 1e-12,
                "z {z}: {} vs {textbook}",
                p.log_density(z)
            );
            let cdf = |z: f64| 1.0 / (1.0 + (-(z - location) / scale).exp());
            let h = 1e-5;
            let derivative = (cdf(z + h) - cdf(z - h)) / (2.0 * h);
            if derivative > 1e-3 {
                assert!((p.log_density(z) - derivative.ln()).abs() < 1e-6, "z {z}");
            }
        }
        for u in [-1e4, -800.0, 800.0, 1e4] {
            let log_p = logistic_log_density(u);
            assert!(log_p.is_finite() && (log_p + u.abs()).abs() < 1e-12, "{u}");
            assert_eq!(logistic_log_density(u), logistic_log_density(-u));
        }
        let standard = PriorDensity::Logistic {
            location: 0.0,
            scale: 1.0,
        };
        for prob in [0.01f64, 0.3, 0.5, 0.77, 0.999] {
            let z: f64 = (prob / (1.0 - prob)).ln();
            let jacobian: f64 = prob * (1.0 - prob);
            assert!((standard.log_density(z) - jacobian.ln()).abs() < 1e-12);
        }
        assert!((standard.variance() - PI * PI / 3.0).abs() < 1e-15);
    }

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
