//! What the Laplace and Student-t families share: a learned location m and log-scale
//! log s per dimension (one row each, or one row when shared), and the standardised
//! z ↦ (z − m)/s they evaluate their densities at.

use super::{exp_within, per_dimension, rows_of_parameters, spread};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{Real, Traced};
use crate::spec::Prior;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// log s is clamped to half the log-variance range (s² ∝ the variance).
const LOG_SCALE_RANGE: (f64, f64) = (
    0.5 * crate::backend::LOG_VAR_RANGE.0,
    0.5 * crate::backend::LOG_VAR_RANGE.1,
);

pub(super) struct LocationScale<E: Real> {
    /// The (p, 1) locations and log-scales; p is 1 when shared, n otherwise.
    location: Param<E>,
    log_scale: Param<E>,
    pub n: usize,
}

impl<E: Real> LocationScale<E> {
    /// Jittered locations, so that the dimensions' priors differ from the start (as the
    /// mixtures' do), and unit scales.
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        let p = rows_of_parameters(prior, n);
        let jitter = Uniform::new(-0.1, 0.1);
        LocationScale {
            location: vb.add("location", p, 1, |_, _| jitter.sample(rng)),
            log_scale: vb.add("log_scale", p, 1, |_, _| 0.0),
            n,
        }
    }

    /// (z − m)/s for every cell of z, and the (p, 1) column of log s (clamped).
    pub fn standardise(&self, z: Traced<E>) -> (Traced<E>, Traced<E>) {
        let shape = *z.shape();
        let log_s = self
            .log_scale
            .traced()
            .clamp(LOG_SCALE_RANGE.0, LOG_SCALE_RANGE.1);
        let inv_s = spread(log_s.with_empty_tape().negate().exp(), shape);
        let location = spread(self.location.traced(), shape);
        ((z - location) * inv_s, log_s)
    }

    /// Each dimension's fitted location and scale.
    pub fn fitted(&self) -> (Vec<f64>, Vec<f64>) {
        (
            per_dimension(&self.location, self.n, |x| x),
            per_dimension(&self.log_scale, self.n, exp_within(LOG_SCALE_RANGE)),
        )
    }

    pub fn params(&self) -> Vec<&Param<E>> {
        vec![&self.location, &self.log_scale]
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![&mut self.location, &mut self.log_scale]
    }
}
