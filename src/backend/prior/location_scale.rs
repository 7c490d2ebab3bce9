//! What the Laplace, Student-t and logistic families share: a location m and log-scale
//! log s per dimension (one row each, or one row when shared), and the standardised
//! z ↦ (z − m)/s they evaluate their densities at. A row is learned, or fixed at the values
//! the model file gives (`logistic(0, 1)`): a fixed row's entries are carried as
//! parameters but marked not learned and masked out of the objective (as a fixed normal's
//! are in the mixture), so they get no gradient and never move.

use super::{exp_within, per_dimension, rows_of_parameters, spread};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, tensor_of, Mat, Real, Traced};
use crate::spec::{Family, Prior};
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
    /// Each row's fixed (location, scale), `None` where learned.
    given: Vec<Option<(f64, f64)>>,
    /// Present when some row is fixed.
    fixed: Option<Fixed<E>>,
    pub n: usize,
}

/// (p, 1) constants: 1 where the row is learned and 0 where fixed, and the fixed rows'
/// locations and log-scales (0 where learned).
struct Fixed<E: Real> {
    learned: Mat<E>,
    location: Mat<E>,
    log_scale: Mat<E>,
}

impl<E: Real> LocationScale<E> {
    /// Every row learned.
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        Self::with_fixed(prior, n, vb, rng, |_| None)
    }

    /// Learned rows start at jittered locations, so that the dimensions' priors differ from
    /// the start (as the mixtures' do), and unit scales; a row whose family `fixed` gives a
    /// (location, scale) stays there.
    pub fn with_fixed(
        prior: &Prior,
        n: usize,
        vb: &VarBuilder<'_, E>,
        rng: &mut StdRng,
        fixed: impl Fn(&Family) -> Option<(f64, f64)>,
    ) -> Self {
        let p = rows_of_parameters(prior, n);
        let given: Vec<Option<(f64, f64)>> = (0..p).map(|r| fixed(prior.family(r))).collect();
        let jitter = Uniform::new(-0.1, 0.1);
        let mut location = vb.add("location", p, 1, |r, _| match given[r] {
            Some((m, _)) => m,
            None => jitter.sample(rng),
        });
        let mut log_scale = vb.add("log_scale", p, 1, |r, _| match given[r] {
            Some((_, s)) => s.ln(),
            None => 0.0,
        });
        let fixed = given.iter().any(Option::is_some).then(|| {
            let dev = location.value().device().clone();
            let column = |f: &dyn Fn(Option<(f64, f64)>) -> f64| {
                tensor_of(&dev, given.iter().map(|&g| c::<E>(f(g))), (p, 1))
            };
            Fixed {
                learned: column(&|g| if g.is_some() { 0.0 } else { 1.0 }),
                location: column(&|g| g.map_or(0.0, |(m, _)| m)),
                log_scale: column(&|g| g.map_or(0.0, |(_, s)| s.ln())),
            }
        });
        let learned: Vec<bool> = given.iter().map(Option::is_none).collect();
        location.set_learned(learned.clone());
        log_scale.set_learned(learned);
        LocationScale {
            location,
            log_scale,
            given,
            fixed,
            n,
        }
    }

    /// (z − m)/s for every cell of z, and the (p, 1) column of log s (clamped).
    pub fn standardise(&self, z: Traced<E>) -> (Traced<E>, Traced<E>) {
        let shape = *z.shape();
        let (mut location, mut log_s) = (self.location.traced(), self.log_scale.traced());
        if let Some(f) = &self.fixed {
            location = location * f.learned.clone() + f.location.clone();
            log_s = log_s * f.learned.clone() + f.log_scale.clone();
        }
        let log_s = log_s.clamp(LOG_SCALE_RANGE.0, LOG_SCALE_RANGE.1);
        let inv_s = spread(log_s.with_empty_tape().negate().exp(), shape);
        let location = spread(location, shape);
        ((z - location) * inv_s, log_s)
    }

    /// Each dimension's fitted location and scale (a fixed row's as the file gives them).
    pub fn fitted(&self) -> (Vec<f64>, Vec<f64>) {
        let mut location = per_dimension(&self.location, self.n, |x| x);
        let mut scale = per_dimension(&self.log_scale, self.n, exp_within(LOG_SCALE_RANGE));
        for j in 0..self.n {
            let row = if self.given.len() == 1 { 0 } else { j };
            if let Some((m, s)) = self.given[row] {
                (location[j], scale[j]) = (m, s);
            }
        }
        (location, scale)
    }

    pub fn params(&self) -> Vec<&Param<E>> {
        vec![&self.location, &self.log_scale]
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![&mut self.location, &mut self.log_scale]
    }
}
