//! The optimiser: dfdx's own Adam kernel over a chosen set of a model's parameters, with
//! its moments and step count (candle-nn's `optim.rs` is the model). dfdx 0.13's
//! `Optimizer` wants compile-time-shaped modules, so the moments live in
//! `Gradients::leaky()` keyed by each parameter tensor.

use super::params::Param;
use super::Real;
use dfdx::optim::AdamConfig;
use dfdx::prelude::*;

pub(crate) struct Adam<E: Real> {
    config: AdamConfig,
    /// Positions, in the model's parameter list (`Model::params`), of the parameters
    /// this optimiser moves.
    params: Vec<usize>,
    moments: (Gradients<E, super::Dev<E>>, Gradients<E, super::Dev<E>>),
    t: i32,
}

impl<E: Real> Adam<E> {
    /// Adam with PyTorch's defaults and learning rate `lr`, over `params` only.
    pub fn new(lr: f64, params: Vec<usize>) -> Self {
        Adam {
            config: AdamConfig {
                lr,
                ..AdamConfig::default()
            },
            params,
            moments: (Gradients::leaky(), Gradients::leaky()),
            t: 0,
        }
    }

    /// One step of this optimiser's parameters down the gradients `grads` (a loss's
    /// `backward()`), all or nothing: when any gradient entry is not finite no parameter
    /// moves (NumPyro's stable update) and the step returns false.
    pub fn step(
        &mut self,
        all: &mut [&mut Param<E>],
        mut grads: Gradients<E, super::Dev<E>>,
    ) -> bool {
        for &i in &self.params {
            let p = all[i].value();
            grads.get_or_alloc_mut(p).expect("gradient buffer");
            let finite = |x: &E| x.to_f64().is_some_and(f64::is_finite);
            if !grads.get(p).as_vec().iter().all(finite) {
                return false;
            }
        }
        self.t += 1;
        for &i in &self.params {
            let p = all[i].value_mut();
            let g = grads.get_or_alloc_mut(p).expect("gradient buffer");
            let m1 = self.moments.0.get_or_alloc_mut(p).expect("moment buffer");
            let m2 = self.moments.1.get_or_alloc_mut(p).expect("moment buffer");
            self.config
                .try_update(self.t, p, m1, m2, g)
                .expect("Adam update on the CPU");
        }
        true
    }
}

/// An optimiser's state as numbers: step count and both moments of each parameter, in
/// the order of its parameters (what a checkpoint keeps).
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    pub t: i32,
    pub first: Vec<Vec<f32>>,
    pub second: Vec<Vec<f32>>,
}

impl Adam<f32> {
    pub fn state(&mut self, all: &[&Param<f32>]) -> AdamState {
        let mut moments = |which: usize| -> Vec<Vec<f32>> {
            self.params
                .iter()
                .map(|&i| {
                    let p = all[i].value();
                    let m = if which == 0 {
                        &mut self.moments.0
                    } else {
                        &mut self.moments.1
                    };
                    m.get_or_alloc_mut(p).expect("moment buffer").to_vec()
                })
                .collect()
        };
        let (first, second) = (moments(0), moments(1));
        AdamState {
            t: self.t,
            first,
            second,
        }
    }

    /// Puts `state` back for the parameters `all` (after their values were set).
    pub fn restore(&mut self, all: &[&Param<f32>], state: &AdamState) {
        self.t = state.t;
        for (k, &i) in self.params.iter().enumerate() {
            let p = all[i].value();
            let m1 = self.moments.0.get_or_alloc_mut(p).expect("moment buffer");
            m1.copy_from_slice(&state.first[k]);
            let m2 = self.moments.1.get_or_alloc_mut(p).expect("moment buffer");
            m2.copy_from_slice(&state.second[k]);
        }
    }
}
