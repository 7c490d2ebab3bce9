//! Gaussian-mixture priors, one 1-D mixture per latent dimension (eq. 15–22):
//! p_j(z) = Σ_k π_jk N(z | μ_jk, σ²_jk), π = softmax(α), σ² = exp(η), all learned jointly.
//! `gmm(K = k)` is a learned k-component mixture; `normal` a learned one-component one;
//! `normal(μ, σ²)` a fixed one. `shared` gives every dimension the same parameters.
//!
//! All dimensions are evaluated at once on (rows, n, K_max) tensors: a dimension with
//! fewer components is padded with components of log-weight `PAD_LOGIT`, and entries that
//! are fixed (or padding) come from constant tensors, masked out of the learned ones.

use super::{Part, PriorFamily};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, clamp_log_var, fused, Mat, Real, Traced};
use crate::matrix::Matrix;
use crate::numeric::{Mixture, PriorDensity};
use crate::spec::{Family, Prior};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// Log-weight of a padding component (dimension j has K_j < K_max components). Finite on
/// purpose: logsumexp of a row of −∞ is NaN in dfdx 0.13.
const PAD_LOGIT: f64 = -1e30;

pub(crate) struct GaussianMixture<E: Real> {
    /// The (rows, K_max) logits α, means μ and log-variances η; rows is 1 when shared, n
    /// otherwise.
    logits: Param<E>,
    means: Param<E>,
    log_vars: Param<E>,
    /// Components of each dimension (padding left out).
    components: Vec<usize>,
    k_max: usize,
    /// (n, rows) 0/1: which parameter row each dimension reads (all ones when shared).
    select: Mat<E>,
    /// (n, K_max) 1 where the entry is learned, 0 where fixed or padding.
    learned: Mat<E>,
    /// (n, K_max) values of the fixed and padding entries (0 where learned).
    fixed_logits: Mat<E>,
    fixed_means: Mat<E>,
    fixed_log_vars: Mat<E>,
}

/// The families of the parameter rows: one when shared, one per dimension otherwise.
fn families(prior: &Prior) -> Vec<&Family> {
    match prior {
        Prior::Shared(f) => vec![f],
        Prior::PerDimension(fs) => fs.iter().collect(),
    }
}

impl<E: Real> GaussianMixture<E> {
    pub fn new(
        prior: &Prior,
        n: usize,
        dev: &crate::backend::Dev<E>,
        vb: &VarBuilder<'_, E>,
        rng: &mut StdRng,
    ) -> Self {
        let families = families(prior);
        let rows = families.len();
        let k_max = families.iter().map(|f| f.components()).max().unwrap_or(1);
        let jitter = Uniform::new(-0.1, 0.1);
        // Learned GMMs start spread over [−1.5, 1.5] with a little jitter so that the
        // components of one mixture, and the mixtures of different dimensions, differ.
        let init_mean = |f: &Family, k: usize, rng: &mut StdRng| match f {
            Family::Gmm { k: kk } if *kk > 1 => {
                -1.5 + 3.0 * k as f64 / (*kk - 1) as f64 + jitter.sample(rng)
            }
            Family::Gmm { .. } | Family::LearnableNormal => jitter.sample(rng),
            Family::Normal { mean, .. } => *mean,
            Family::Laplace
            | Family::StudentT
            | Family::Logistic { .. }
            | Family::LearnableLogistic => unreachable!("not a mixture"),
        };
        let logits = Matrix::zeros((rows, k_max));
        let mut means = Matrix::zeros((rows, k_max));
        let mut log_vars = Matrix::zeros((rows, k_max));
        for (r, f) in families.iter().enumerate() {
            for k in 0..f.components() {
                means[[r, k]] = init_mean(f, k, rng);
                log_vars[[r, k]] = match f {
                    Family::Gmm { k: kk } if *kk > 1 => -1.0,
                    Family::Normal { variance, .. } => variance.ln(),
                    _ => 0.0,
                };
            }
        }
        let family_of_dim = |j: usize| if rows == 1 { families[0] } else { families[j] };
        let select = Matrix::from_shape_fn(
            (n, rows),
            |(j, r)| if rows == 1 || r == j { 1.0 } else { 0.0 },
        );
        let learned = Matrix::from_shape_fn((n, k_max), |(j, k)| {
            let f = family_of_dim(j);
            if f.is_learnable() && k < f.components() {
                1.0
            } else {
                0.0
            }
        });
        let fixed = |source: &Matrix, pad: f64| {
            Matrix::from_shape_fn((n, k_max), |(j, k)| {
                let f = family_of_dim(j);
                let r = if rows == 1 { 0 } else { j };
                if k >= f.components() {
                    pad
                } else if f.is_learnable() {
                    0.0
                } else {
                    source[[r, k]]
                }
            })
        };
        let t = |m: &Matrix| dev.tensor_from_vec(m.iter().map(|&v| c::<E>(v)).collect(), m.dim());

        let mut logits_p = vb.add("logits", rows, k_max, |r, k| logits[[r, k]]);
        let mut means_p = vb.add("means", rows, k_max, |r, k| means[[r, k]]);
        let mut log_vars_p = vb.add("log_vars", rows, k_max, |r, k| log_vars[[r, k]]);
        let learned_entries = |min_components: usize| -> Vec<bool> {
            families
                .iter()
                .flat_map(|f| {
                    let live = f.is_learnable() && f.components() >= min_components;
                    (0..k_max).map(move |k| live && k < f.components())
                })
                .collect()
        };
        // Softmax over one component is 1 whatever its logit: that logit never moves.
        logits_p.set_learned(learned_entries(2));
        means_p.set_learned(learned_entries(1));
        log_vars_p.set_learned(learned_entries(1));

        GaussianMixture {
            logits: logits_p,
            means: means_p,
            log_vars: log_vars_p,
            components: (0..n).map(|j| family_of_dim(j).components()).collect(),
            k_max,
            select: t(&select),
            learned: t(&learned),
            fixed_logits: t(&fixed(&logits, PAD_LOGIT)),
            fixed_means: t(&fixed(&means, 0.0)),
            fixed_log_vars: t(&fixed(&log_vars, 0.0)),
        }
    }

    /// How many numbers the three parameter tensors hold.
    pub fn parameter_count(prior: &Prior, n: usize) -> Option<u128> {
        let families = families(prior);
        let rows = if families.len() == 1 { 1 } else { n as u128 };
        let k_max = families.iter().map(|f| f.components()).max().unwrap_or(1) as u128;
        rows.checked_mul(k_max)?.checked_mul(3)
    }

    /// The (n, K_max) log-weights, means and log-variances as traced tensors.
    fn tensors(&self) -> (Traced<E>, Traced<E>, Traced<E>) {
        let expand = |p: &Param<E>, fixed: &Mat<E>| {
            let per_dim = self.select.clone().leaky_trace().matmul(p.traced());
            per_dim * self.learned.clone() + fixed.clone()
        };
        let log_pi = expand(&self.logits, &self.fixed_logits).log_softmax::<Axis<1>>();
        let means = expand(&self.means, &self.fixed_means);
        let log_vars = clamp_log_var(expand(&self.log_vars, &self.fixed_log_vars));
        (log_pi, means, log_vars)
    }
}

impl<E: Real> PriorFamily<E> for GaussianMixture<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let (log_pi, means, log_vars) = self.tensors();
        fused::mixture_log_density(z, log_pi, means, log_vars)
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let (log_pi, means, log_vars) = self.tensors();
        let k = self.k_max;
        let (lp, mu, lv) = (log_pi.as_vec(), means.as_vec(), log_vars.as_vec());
        let f = |x: E| x.to_f64().unwrap_or(f64::NAN);
        self.components
            .iter()
            .enumerate()
            .map(|(j, &kj)| {
                let at = |v: &[E], i: usize| f(v[j * k + i]);
                PriorDensity::Mixture(Mixture {
                    weights: (0..kj).map(|i| at(&lp, i).exp()).collect(),
                    means: (0..kj).map(|i| at(&mu, i)).collect(),
                    variances: (0..kj).map(|i| at(&lv, i).exp()).collect(),
                })
            })
            .collect()
    }

    fn part(&self, part: Part) -> Option<&Param<E>> {
        match part {
            Part::PriorLogits => Some(&self.logits),
            Part::PriorMeans => Some(&self.means),
            Part::PriorLogVariances => Some(&self.log_vars),
            _ => None,
        }
    }

    fn params(&self) -> Vec<&Param<E>> {
        vec![&self.logits, &self.means, &self.log_vars]
    }

    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![&mut self.logits, &mut self.means, &mut self.log_vars]
    }
}
