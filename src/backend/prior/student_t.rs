//! Student-t priors, one per latent dimension or one shared:
//! log p_j(z) = ln Γ((ν+1)/2) − ln Γ(ν/2) − ½ ln(νπ) − ln s − (ν+1)/2 · ln(1 + u²/ν),
//! u = (z − m)/s, with the location m, log-scale ln s and log degrees of freedom ln ν
//! learned. ν → ∞ is a normal and ν = 1 Cauchy, so a fit can tell how heavy a source's
//! tails are.

use super::location_scale::LocationScale;
use super::{exp_within, per_dimension, rows_of_parameters, spread, Part, PriorFamily};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, fused, Real, Traced};
use crate::numeric::PriorDensity;
use crate::spec::Prior;
use dfdx::prelude::*;
use rand::rngs::StdRng;

/// ln ν is clamped to [ln 0.1, ln 1000]: below, the density is a spike with no moments;
/// above, it is a normal to within what f32 can tell.
const LOG_DOF_RANGE: (f64, f64) = (-std::f64::consts::LN_10, 3.0 * std::f64::consts::LN_10);

/// Where ν starts: tails clearly heavier than a normal's, with finite kurtosis.
const INITIAL_DOF: f64 = 5.0;

pub(crate) struct StudentT<E: Real> {
    ls: LocationScale<E>,
    /// The (p, 1) log degrees of freedom; p is 1 when shared, n otherwise.
    log_dof: Param<E>,
}

impl<E: Real> StudentT<E> {
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        let ls = LocationScale::new(prior, n, vb, rng);
        let p = rows_of_parameters(prior, n);
        let log_dof = vb.add("log_dof", p, 1, |_, _| INITIAL_DOF.ln());
        StudentT { ls, log_dof }
    }
}

impl<E: Real> PriorFamily<E> for StudentT<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let shape = *z.shape();
        let (u, log_s) = self.ls.standardise(z);
        let log_nu = self
            .log_dof
            .traced()
            .clamp(LOG_DOF_RANGE.0, LOG_DOF_RANGE.1);
        let nu = log_nu.with_empty_tape().exp();
        // Per dimension: the terms that do not depend on z.
        let constant = fused::student_t_normaliser(nu.with_empty_tape())
            - log_nu * c::<E>(0.5)
            - log_s
            - c::<E>(0.5 * std::f64::consts::PI.ln());
        let inv_nu = spread(nu.with_empty_tape().recip(), shape);
        let half_nu_plus_one = spread((nu + c::<E>(1.0)) * c::<E>(0.5), shape);
        let tail = (u.square() * inv_nu + c::<E>(1.0)).ln() * half_nu_plus_one;
        spread(constant, shape) - tail
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let (location, scale) = self.ls.fitted();
        let dof = per_dimension(&self.log_dof, self.ls.n, exp_within(LOG_DOF_RANGE));
        (0..self.ls.n)
            .map(|j| PriorDensity::StudentT {
                location: location[j],
                scale: scale[j],
                dof: dof[j],
            })
            .collect()
    }

    fn part(&self, _: Part) -> Option<&Param<E>> {
        None
    }

    fn params(&self) -> Vec<&Param<E>> {
        let mut all = self.ls.params();
        all.push(&self.log_dof);
        all
    }

    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        let mut all = self.ls.params_mut();
        all.push(&mut self.log_dof);
        all
    }
}
