//! Logistic priors, one per latent dimension or one shared:
//! log p_j(z) = −u − log s_j − 2 log(1 + e^(−u)), u = (z − m_j)/s_j, evaluated as
//! −log s_j − |u| − 2 log(1 + e^(−|u|)) (the density is symmetric), which neither
//! overflows nor cancels in the tails. `logistic` learns m and log s; `logistic(m, s)`
//! fixes them.
//!
//! Logistic(0, 1) is the law of logit(U), U ~ U(0, 1): a uniform prior on sigmoid(z_j)
//! (IMA-VAE's) is this prior on z_j, with the same KL term, which a bijection does not
//! change. Slightly heavier tails than a normal (kurtosis 4.2).

use super::location_scale::LocationScale;
use super::{spread, Part, PriorFamily};
use crate::backend::params::{Param, VarBuilder};
use crate::backend::{c, Real, Traced};
use crate::numeric::PriorDensity;
use crate::spec::{Family, Prior};
use dfdx::prelude::*;
use rand::rngs::StdRng;

pub(crate) struct Logistic<E: Real> {
    ls: LocationScale<E>,
}

impl<E: Real> Logistic<E> {
    pub fn new(prior: &Prior, n: usize, vb: &VarBuilder<'_, E>, rng: &mut StdRng) -> Self {
        let fixed = |f: &Family| match f {
            Family::Logistic { location, scale } => Some((*location, *scale)),
            _ => None,
        };
        Logistic {
            ls: LocationScale::with_fixed(prior, n, vb, rng, fixed),
        }
    }
}

impl<E: Real> PriorFamily<E> for Logistic<E> {
    fn log_density(&self, z: Traced<E>) -> Traced<E> {
        let shape = *z.shape();
        let (u, log_s) = self.ls.standardise(z);
        let a = u.abs();
        let softplus = (a.with_empty_tape().negate().exp() + c::<E>(1.0)).ln();
        spread(log_s.negate(), shape) - a - softplus * c::<E>(2.0)
    }

    fn fitted(&self) -> Vec<PriorDensity> {
        let (location, scale) = self.ls.fitted();
        let pairs = location.into_iter().zip(scale);
        pairs
            .map(|(location, scale)| PriorDensity::Logistic { location, scale })
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
