//! The paper's one-dimensional theory (§3.6–3.9) as an API, so that its claims can be
//! checked numerically against the code that trains.
//!
//! Two kinds of quantity live here:
//! - the closed forms and formulas the paper states (Gaussian KL, responsibilities, ρ_k*,
//!   eq. 75 and eq. 87), computed directly in f64;
//! - the same quantities computed *through the training objective*: [`KlProbe`] runs the
//!   backend's `log q(z̃) − log p(z̃)` and its autodiff gradients at Gauss–Hermite nodes ε.
//!
//! Expectations over q = N(m, s²) use Gauss–Hermite quadrature: E[f(m + sε)] with
//! ε ~ N(0, 1) is Σᵢ wᵢ f(m + s√2 xᵢ) / √π over the nodes xᵢ of the physicists' rule.
//! It is exact for polynomials of degree < 2·points and converges fast for the smooth
//! integrands here; `Quadrature::error_bound` compares two orders to state the accuracy.
//!
//! ```
//! use pdgc::backend::Mixture;
//! use pdgc::theory::{kl_to_mixture, Normal, Quadrature};
//! let prior = Mixture { weights: vec![0.3, 0.7], means: vec![-1.0, 1.0], variances: vec![0.5, 0.2] };
//! let q = Normal { mean: 0.4, variance: 0.1 };
//! let gh = Quadrature::new(80);
//! // Prop. 3.4: every component gives an upper envelope.
//! let kl = kl_to_mixture(q, &prior, &gh);
//! for k in 0..2 {
//!     let component = Normal { mean: prior.means[k], variance: prior.variances[k] };
//!     assert!(kl <= pdgc::theory::kl_normal(q, component) - prior.weights[k].ln());
//! }
//! ```

use crate::backend::{Mixture, Model};
use crate::matrix::Matrix;
use crate::spec::ModelSpec;
use std::f64::consts::PI;
use std::num::NonZeroUsize;

/// A 1-D normal distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normal {
    pub mean: f64,
    pub variance: f64,
}

impl Normal {
    pub fn log_density(&self, z: f64) -> f64 {
        -0.5 * ((2.0 * PI * self.variance).ln() + (z - self.mean).powi(2) / self.variance)
    }
}

/// Gauss–Hermite nodes and weights for expectations under N(0, 1).
#[derive(Debug, Clone)]
pub struct Quadrature {
    /// Standard-normal nodes εᵢ = √2 xᵢ.
    pub nodes: Vec<f64>,
    /// Weights wᵢ/√π, summing to 1.
    pub weights: Vec<f64>,
}

impl Quadrature {
    pub fn new(points: usize) -> Self {
        let rule = gauss_quad::GaussHermite::new(
            NonZeroUsize::new(points.max(1)).expect("at least one point"),
        );
        let (nodes, weights) = rule
            .as_node_weight_pairs()
            .iter()
            .map(|&(x, w)| (std::f64::consts::SQRT_2 * x, w / PI.sqrt()))
            .unzip();
        Quadrature { nodes, weights }
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

    /// |E_n[f] − E_2n[f]|: how far this order is from one twice as fine; a practical
    /// bound on its error for the smooth integrands used here.
    pub fn error_bound(&self, q: Normal, f: impl Fn(f64) -> f64 + Copy) -> f64 {
        let finer = Quadrature::new(2 * self.nodes.len());
        (self.expect_under(q, f) - finer.expect_under(q, f)).abs()
    }
}

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
    let log_terms: Vec<f64> = (0..p.weights.len())
        .map(|k| p.weights[k].ln() + component(p, k).log_density(z))
        .collect();
    let max = log_terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_terms.iter().map(|t| (t - max).exp()).sum();
    log_terms.iter().map(|t| (t - max).exp() / total).collect()
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

/// The training objective reduced to one dimension: one data row, one latent dimension,
/// no encoder (so the posterior mean m is a parameter), posterior variance s² a parameter,
/// a decoder whose weight is zero (so reconstruction does not depend on z) and β = 1.
/// For noise ε the backend's KL term is exactly log q(z̃) − log p(z̃), z̃ = m + sε, and
/// its autodiff gradients are those training uses.
pub struct KlProbe {
    model: Model<f64>,
    means: usize,
    log_var: usize,
}

impl KlProbe {
    pub fn new(prior: &Mixture) -> Self {
        let k = prior.weights.len();
        let text = format!(
            "observed x[1]\nlatent z[1] ~ gmm(K = {k})\nencoder none\ndecoder linear\n\
             posterior variance per_dimension\nbeta 1"
        );
        let spec: ModelSpec = crate::compile_source(&text).expect("the probe model checks");
        let mut model = Model::<f64>::new(&spec, 1, 0);
        let index = |name: &str| {
            model
                .parameters()
                .iter()
                .position(|p| p.name == name)
                .expect("probe parameter")
        };
        let (weight, logits, means, log_vars) = (
            index("decoder.out.weight"),
            index("prior.logits"),
            index("prior.means"),
            index("prior.log_vars"),
        );
        let (latent, log_var) = (index("latent.means"), index("posterior.log_var"));
        model.set_parameter(weight, &[0.0]);
        model.set_parameter(
            logits,
            &prior.weights.iter().map(|w| w.ln()).collect::<Vec<_>>(),
        );
        model.set_parameter(means, &prior.means);
        model.set_parameter(
            log_vars,
            &prior.variances.iter().map(|v| v.ln()).collect::<Vec<_>>(),
        );
        KlProbe {
            model,
            means: latent,
            log_var,
        }
    }

    fn set_posterior(&mut self, q: Normal) {
        self.model.set_parameter(self.means, &[q.mean]);
        self.model.set_parameter(self.log_var, &[q.variance.ln()]);
    }

    fn at(e: f64) -> (Matrix, Vec<Matrix>) {
        (
            Matrix::new(1, 1, vec![0.0]),
            vec![Matrix::new(1, 1, vec![e])],
        )
    }

    /// log q(z̃) − log p(z̃) for one ε, from the training objective.
    pub fn kl_sample(&mut self, q: Normal, e: f64) -> f64 {
        self.set_posterior(q);
        let (y, eps) = Self::at(e);
        self.model.evaluate(&y, &eps).kl()
    }

    /// KL(q ‖ p) as the quadrature-weighted sum of the objective's KL term.
    pub fn kl(&mut self, q: Normal, gh: &Quadrature) -> f64 {
        self.set_posterior(q);
        let mut total = 0.0;
        for (&e, &w) in gh.nodes.iter().zip(&gh.weights) {
            let (y, eps) = Self::at(e);
            total += w * self.model.evaluate(&y, &eps).kl();
        }
        total
    }

    /// (∂/∂m, ∂/∂λ) of the objective's KL term for one ε, by autodiff (λ = s²).
    pub fn kl_gradient_sample(&mut self, q: Normal, e: f64) -> (f64, f64) {
        self.set_posterior(q);
        let (y, eps) = Self::at(e);
        let (_, grads) = self.model.gradients(&y, &eps);
        // The objective is rec + β·KL with a reconstruction that ignores z, so these
        // gradients are the KL term's. The parameter is log λ: ∂/∂λ = ∂/∂log λ · 1/λ.
        (grads[self.means][0], grads[self.log_var][0] / q.variance)
    }

    /// (∂KL/∂m, ∂KL/∂λ): the quadrature-weighted autodiff gradients.
    pub fn kl_gradient(&mut self, q: Normal, gh: &Quadrature) -> (f64, f64) {
        let mut total = (0.0, 0.0);
        for (&e, &w) in gh.nodes.iter().zip(&gh.weights) {
            let (dm, dl) = self.kl_gradient_sample(q, e);
            total.0 += w * dm;
            total.1 += w * dl;
        }
        total
    }
}

/// Each row's objective: ℓ_t for the row y_t with its noise rows (the full objective is
/// their mean). Needs a model with an encoder, so rows can be evaluated one at a time.
pub fn per_sample_objective(model: &Model<f64>, y: &Matrix, eps: &[Matrix]) -> Vec<f64> {
    (0..y.rows)
        .map(|t| {
            let noise: Vec<Matrix> = eps.iter().map(|e| e.select_rows(&[t])).collect();
            model.evaluate(&y.select_rows(&[t]), &noise).loss
        })
        .collect()
}

/// Relabels the latent coordinates: coordinate j of the new model is coordinate perm[j] of
/// the old one. Encoder outputs, posterior-variance parameters and decoder inputs move;
/// the prior stays where it is (permute the noise columns the same way to compare).
pub fn permute_latents(model: &mut Model<f64>, perm: &[usize]) {
    let n = perm.len();
    for (i, p) in model.parameters().iter().enumerate() {
        let (rows, cols) = p.shape;
        let moved: Option<Vec<f64>> = if p.name == "encoder.out.weight"
            || p.name == "encoder.out.bias"
            || p.name.starts_with("encoder.log_var.")
            || p.name == "latent.means"
            || p.name == "posterior.log_var"
        {
            // Latent coordinates are the columns.
            Some(
                (0..rows * cols)
                    .map(|e| p.values[(e / cols) * cols + perm[e % cols]])
                    .collect(),
            )
        } else if p.name.starts_with("decoder.")
            && p.name.ends_with(".weight")
            && rows == n
            && is_first_decoder_layer(&p.name, model)
        {
            // Latent coordinates are the rows of the first decoder layer.
            Some(
                (0..rows * cols)
                    .map(|e| p.values[perm[e / cols] * cols + e % cols])
                    .collect(),
            )
        } else {
            None
        };
        if let Some(values) = moved {
            model.set_parameter(i, &values);
        }
    }
}

fn is_first_decoder_layer(name: &str, model: &Model<f64>) -> bool {
    let first = if model.spec().decoder.is_empty() {
        "decoder.out.weight"
    } else {
        "decoder.0.weight"
    };
    name == first
}

/// Permutes the columns of a noise matrix the same way as `permute_latents`.
pub fn permute_columns(x: &Matrix, perm: &[usize]) -> Matrix {
    x.select_columns(perm)
}

/// Fits a K-component mixture to 1-D samples by maximum likelihood with the training
/// code's prior and Adam (the prior of a one-dimensional model, nothing else learned).
pub fn fit_mixture(samples: &[f64], k: usize, steps: usize, lr: f64, seed: u64) -> Mixture {
    let text = format!(
        "observed x[1]\nlatent z[1] ~ gmm(K = {k})\nencoder none\ndecoder linear\ntrain {{ lr {lr:?} }}"
    );
    let spec = crate::compile_source(&text).expect("the mixture model checks");
    let mut model = Model::<f64>::new(&spec, 1, seed);
    let z = Matrix::new(samples.len(), 1, samples.to_vec());
    for _ in 0..steps {
        model.step_prior(&z);
    }
    model.priors().remove(0)
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
