//! Laplace priors, one per latent dimension or one shared:
//! log p_j(z) = −log 2b_j − |z − m_j| / b_j, with the location m and log-scale log b
//! learned. Heavier-tailed than a normal (kurtosis 6), the classic super-Gaussian source
//! model of ICA.

use super::{exp_within, per_dimension, rows_of_parameters, spread, Part, PriorFamily};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, Real, Traced};
use crate::numeric::PriorDensity;
use crate::spec::Prior;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// log b is clamped to half the log-variance range (b² ∝ the variance).
pub(super) const LOG_SCALE_RANGE: (f64, f64) = (
    0.5 * crate::backend::LOG_VAR_RANGE.0,
    0.5 * crate::backend::LOG_VAR_RANGE.1,
);

pub(crate) struct Laplace<E: Real> {
    /// The (p, 1) locations and log-scales; p is 1 when shared, n
    /// otherwise.
    location: Param<E>,
    log_scale: Param<E>,
    n: usize,
}

impl<E: Real> Laplace<E> {
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        let p = rows_of_parameters(prior, n);
        // Jittered locations, so that the dimensions' priors differ from the start (as the
        // mixtures' do); unit scales.
        let jitter = Uniform::new(-0.1, 0.1);
        let location = vb.add("location", p, 1, |_, _| jitter.sample(rng));
        let log_scale = vb.add("log_scale", p, 1, |_, _| 0.0);
        Laplace {
            location,
            log_scale,
            n,
        }
    }
}

impl<E: Real> PriorFamily<E> for Laplace<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let shape = *z.shape();
        let log_b = self
            .log_scale
            .traced()
            .clamp(LOG_SCALE_RANGE.0, LOG_SCALE_RANGE.1);
        let inv_b = spread(log_b.with_empty_tape().negate().exp(), shape);
        let constant = spread(log_b.negate() - c::<E>(std::f64::consts::LN_2), shape);
        let location = spread(self.location.traced(), shape);
        constant - (z - location).abs() * inv_b
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let location = per_dimension(&self.location, self.n, |x| x);
        let scale = per_dimension(&self.log_scale, self.n, exp_within(LOG_SCALE_RANGE));
        let pairs = location.into_iter().zip(scale);
        pairs
            .map(|(location, scale)| PriorDensity::Laplace { location, scale })
            .collect()
    }

    fn part(&self, _: Part) -> Option<&Param<E>> {
        None
    }

    fn params(&self) -> Vec<&Param<E>> {
        vec![&self.location, &self.log_scale]
    }

    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![&mut self.location, &mut self.log_scale]
    }
}
