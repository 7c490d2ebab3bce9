//! Laplace priors, one per latent dimension or one shared:
//! log p_j(z) = −log 2b_j − |z − m_j| / b_j, with the location m and log-scale log b
//! learned. Heavier-tailed than a normal (kurtosis 6), the classic super-Gaussian source
//! model of ICA.

use super::location_scale::LocationScale;
use super::{spread, Part, PriorFamily};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, Real, Traced};
use crate::numeric::PriorDensity;
use crate::spec::Prior;
use dfdx::prelude::*;
use rand::rngs::StdRng;

pub(crate) struct Laplace<E: Real> {
    ls: LocationScale<E>,
}

impl<E: Real> Laplace<E> {
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        Laplace {
            ls: LocationScale::new(prior, n, vb, rng),
        }
    }
}

impl<E: Real> PriorFamily<E> for Laplace<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let shape = *z.shape();
        let (u, log_b) = self.ls.standardise(z);
        spread(log_b.negate() - c::<E>(std::f64::consts::LN_2), shape) - u.abs()
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let (location, scale) = self.ls.fitted();
        let pairs = location.into_iter().zip(scale);
        pairs
            .map(|(location, scale)| PriorDensity::Laplace { location, scale })
            .collect()
    }

    fn part(&self, _: Part) -> Option<&Param<E>> {
        None
    }

    fn params(&self) -> Vec<&Param<E>> {
        self.ls.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        self.ls.params_mut()
    }
}
