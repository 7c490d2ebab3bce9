//! The paper's one-dimensional theory (§3.6–3.9) as an API, so that its claims can be
//! checked numerically against the code that trains.
//!
//! Two kinds of quantity live here:
//! - the closed forms and formulas the paper states (Gaussian KL, responsibilities, ρ_k*,
//!   eq. 75 and eq. 87), computed directly in f64;
//! - the same quantities computed *through the training objective*: [`KlProbe`] runs the
//!   backend's `log q(z̃) − log p(z̃)` and its autodiff gradients at quadrature nodes ε.
//!
//! Expectations over q = N(m, s²) are E[f(m + sε)], ε ~ N(0, 1), by a deterministic rule
//! (`Quadrature`): Gauss–Hermite (exact for polynomials of degree < 2·points), or
//! composite Simpson on ε ∈ [−12, 12], which also resolves the sharp switches of
//! responsibility between narrow components. `Quadrature::error_bound` compares a rule
//! with one twice as fine to state the accuracy.
//!
//! ```
//! use pdgc::backend::Mixture;
//! use pdgc::theory::{component, kl_normal, KlProbe, Normal, Quadrature};
//!
//! let prior = Mixture { weights: vec![0.3, 0.7], means: vec![-1.0, 1.0], variances: vec![0.5, 0.2] };
//! let q = Normal { mean: 0.4, variance: 0.1 };
//! // E_q[log q − log p] of the objective's KL term, by Simpson's rule over ε.
//! let kl = KlProbe::new(&prior).kl(q, &Quadrature::simpson(2000));
//! // Prop. 3.4: every component gives an upper envelope.
//! for k in 0..2 {
//!     assert!(kl <= kl_normal(q, component(&prior, k)) - prior.weights[k].ln());
//! }
//! ```

use crate::backend::{Mixture, Model, Part};
use crate::matrix::Matrix;
use crate::numeric::log_sum_exp;
use crate::spec::ModelSpec;
use std::f64::consts::PI;

pub use crate::numeric::{Normal, Quadrature};

/// KL(q ‖ p) between normals, closed form.
pub fn kl_normal(q: Normal, p: Normal) -> f64 {
    0.5 * ((p.variance / q.variance).ln() + (q.variance + (q.mean - p.mean).powi(2)) / p.variance
        - 1.0)
}

/// KL(q ‖ p) for a normal q and a 1-D mixture p: −½ log(2πe s²) − E_q[log p], by quadrature.
pub fn kl_to_mixture(q: Normal, p: &Mixture, gh: &Quadrature) -> f64 {
    -0.5 * (2.0 * PI * std::f64::consts::E * q.variance).ln()
        - gh.expect_under(q, |z| p.log_density(z))
}

/// The component of `p` as a normal.
pub fn component(p: &Mixture, k: usize) -> Normal {
    Normal {
        mean: p.means[k],
        variance: p.variances[k],
    }
}

/// r_k(z), the posterior responsibility of each component at z (eq. 74).
pub fn responsibilities(p: &Mixture, z: f64) -> Vec<f64> {
    let log_terms = p.component_log_densities(z);
    let total = log_sum_exp(&log_terms);
    log_terms.iter().map(|t| (t - total).exp()).collect()
}

/// ρ_k*(z) = Σ_{l≠k*} π_l N_l(z) / (π_k* N_k*(z)) (eq. 60), as log(1 + ρ) computed stably.
pub fn log_one_plus_rho(p: &Mixture, k_star: usize, z: f64) -> f64 {
    p.log_density(z) - p.weights[k_star].ln() - component(p, k_star).log_density(z)
}

/// The right-hand side of Prop. 3.6 (eq. 75): E_ε[Σ_k r_k(z)(z − μ_k)/v_k], z = m + sε.
pub fn kl_mean_gradient_formula(q: Normal, p: &Mixture, gh: &Quadrature) -> f64 {
    gh.expect_under(q, |z| {
        responsibilities(p, z)
            .iter()
            .enumerate()
            .map(|(k, r)| r * (z - p.means[k]) / p.variances[k])
            .sum()
    })
}

/// The right-hand side of Lemma 3.7 (eq. 87): ∂KL/∂λ with λ = s², equal to
/// ½[E_q(Σ_k r_k/v_k) − 1/λ − E_q(Var_{k∼r}[a_k])], a_k = (z − μ_k)/v_k.
pub fn kl_variance_gradient_formula(q: Normal, p: &Mixture, gh: &Quadrature) -> f64 {
    let precision = gh.expect_under(q, |z| {
        let r = responsibilities(p, z);
        (0..r.len()).map(|k| r[k] / p.variances[k]).sum()
    });
    let spread = gh.expect_under(q, |z| {
        let r = responsibilities(p, z);
        let a: Vec<f64> = (0..r.len())
            .map(|k| (z - p.means[k]) / p.variances[k])
            .collect();
        let mean: f64 = (0..r.len()).map(|k| r[k] * a[k]).sum();
        (0..r.len()).map(|k| r[k] * (a[k] - mean).powi(2)).sum()
    });
    0.5 * (precision - 1.0 / q.variance - spread)
}

/// The training objective reduced to one dimension and evaluated at many noise values at
/// once: one row per quadrature node, one latent dimension, no encoder (so each row's
/// posterior mean and variance are parameters, all set to q's), a decoder whose weight
/// is zero (so reconstruction does not depend on z) and β = 1. Row t's share of the KL
/// term is exactly log q(z̃_t) − log p(z̃_t), z̃_t = m + sε_t, computed by the backend, and
/// its autodiff gradients are those training uses.
pub struct KlProbe {
    prior: Mixture,
}

struct ProbeModel {
    model: Model<f64>,
    means: usize,
    log_var: usize,
}

impl KlProbe {
    pub fn new(prior: &Mixture) -> Self {
        KlProbe {
            prior: prior.clone(),
        }
    }

    /// A model with one row per node, every row's posterior set to q.
    fn model(&self, q: Normal, rows: usize) -> ProbeModel {
        let k = self.prior.weights.len();
        let text = format!(
            "observed x[1]\nlatent z[1] ~ gmm(K = {k})\nencoder none\ndecoder linear\n\
             posterior variance per_sample\nbeta 1"
        );
        let spec: ModelSpec = crate::compile(&text).expect("the probe model checks");
        let mut model = Model::<f64>::new(&spec, rows, 0);
        let index = |part: Part| model.index_of(part).expect("the probe model has it");
        let (weight, logits, means, log_vars) = (
            index(Part::DecoderOutputWeight),
            index(Part::PriorLogits),
            index(Part::PriorMeans),
            index(Part::PriorLogVariances),
        );
        let (latent, log_var) = (index(Part::LatentMeans), index(Part::PosteriorLogVariance));
        let p = &self.prior;
        model.set_parameter(weight, &[0.0]);
        model.set_parameter(
            logits,
            &p.weights.iter().map(|w| w.ln()).collect::<Vec<_>>(),
        );
        model.set_parameter(means, &p.means);
        model.set_parameter(
            log_vars,
            &p.variances.iter().map(|v| v.ln()).collect::<Vec<_>>(),
        );
        model.set_parameter(latent, &vec![q.mean; rows]);
        model.set_parameter(log_var, &vec![q.variance.ln(); rows]);
        ProbeModel {
            model,
            means: latent,
            log_var,
        }
    }

    fn inputs(nodes: &[f64]) -> (Matrix, Matrix) {
        (
            Matrix::zeros((nodes.len(), 1)),
            crate::matrix::from_row_major(nodes.len(), 1, nodes.to_vec()),
        )
    }

    /// log q(z̃) − log p(z̃) at each noise value, from the training objective.
    pub fn kl_samples(&self, q: Normal, nodes: &[f64]) -> Vec<f64> {
        let (y, e) = Self::inputs(nodes);
        let kl = self.model(q, nodes.len()).model.kl_elements(&y, &e);
        crate::matrix::values(&kl).to_vec()
    }

    /// KL(q ‖ p): the quadrature-weighted sum of the objective's KL terms.
    pub fn kl(&self, q: Normal, rule: &Quadrature) -> f64 {
        let values = self.kl_samples(q, &rule.nodes);
        values.iter().zip(&rule.weights).map(|(v, w)| v * w).sum()
    }

    /// (∂/∂m, ∂/∂λ) of log q(z̃) − log p(z̃) at each noise value, by the backend's autodiff
    /// (λ = s²).
    pub fn kl_gradient_samples(&self, q: Normal, nodes: &[f64]) -> Vec<(f64, f64)> {
        let (y, e) = Self::inputs(nodes);
        let probe = self.model(q, nodes.len());
        let (_, grads) = probe.model.gradients(&y, &[e]);
        // The objective is rec + (1/T)Σ_t kl_t with a reconstruction that ignores z, so
        // T times a row's gradient is that row's KL gradient. The parameter is log λ.
        let t = nodes.len() as f64;
        (0..nodes.len())
            .map(|i| {
                (
                    t * grads[probe.means][i],
                    t * grads[probe.log_var][i] / q.variance,
                )
            })
            .collect()
    }

    /// (∂KL/∂m, ∂KL/∂λ): the quadrature-weighted autodiff gradients.
    pub fn kl_gradient(&self, q: Normal, rule: &Quadrature) -> (f64, f64) {
        let g = self.kl_gradient_samples(q, &rule.nodes);
        g.iter()
            .zip(&rule.weights)
            .fold((0.0, 0.0), |acc, ((dm, dl), w)| {
                (acc.0 + w * dm, acc.1 + w * dl)
            })
    }
}

/// Each row's objective: ℓ_t for the row y_t with its noise rows (the full objective is
/// their mean). Needs a model with an encoder, so rows can be evaluated one at a time.
pub fn per_sample_objective(model: &Model<f64>, y: &Matrix, eps: &[Matrix]) -> Vec<f64> {
    (0..y.nrows())
        .map(|t| {
            let noise: Vec<Matrix> = eps
                .iter()
                .map(|e| crate::matrix::select(e, ndarray::Axis(0), &[t]))
                .collect();
            model
                .evaluate(&crate::matrix::select(y, ndarray::Axis(0), &[t]), &noise)
                .loss
        })
        .collect()
}

/// Relabels the latent coordinates: coordinate j of the new model is coordinate perm[j] of
/// the old one. Encoder outputs, posterior-variance parameters and decoder inputs move;
/// the prior stays where it is (permute the noise columns the same way to compare).
pub fn permute_latents(model: &mut Model<f64>, perm: &[usize]) {
    model.permute_latents(perm);
}

/// Permutes the columns of a noise matrix the same way as `permute_latents`.
pub fn permute_columns(x: &Matrix, perm: &[usize]) -> Matrix {
    crate::matrix::select(x, ndarray::Axis(1), perm)
}

/// Fits a K-component mixture to 1-D samples by maximum likelihood with the training
/// code's prior and Adam (the prior of a one-dimensional model, nothing else learned).
pub fn fit_mixture(samples: &[f64], k: usize, steps: usize, lr: f64, seed: u64) -> Mixture {
    let text = format!(
        "observed x[1]\nlatent z[1] ~ gmm(K = {k})\nencoder none\ndecoder linear\ntrain {{ lr {lr:?} }}"
    );
    let spec = crate::compile(&text).expect("the mixture model checks");
    let mut model = Model::<f64>::new(&spec, 1, seed);
    let z = crate::matrix::from_row_major(samples.len(), 1, samples.to_vec());
    for _ in 0..steps {
        model.step_prior(&z);
    }
    match model.priors().remove(0) {
        crate::backend::PriorDensity::Mixture(m) => m,
        other => unreachable!("a gmm prior fits a mixture, not {other:?}"),
    }
}

/// ∫|f − g| over [lo, hi] by composite Simpson's rule with `intervals` panels.
pub fn l1_distance(
    f: impl Fn(f64) -> f64,
    g: impl Fn(f64) -> f64,
    lo: f64,
    hi: f64,
    intervals: u32,
) -> f64 {
    let panels = std::num::NonZeroU32::new(intervals.max(2)).expect("at least two panels");
    gauss_quad::Simpson::new(panels).integrate(lo, hi, |x| (f(x) - g(x)).abs())
}
