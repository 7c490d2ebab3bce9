//! Training steps: the objective's chunks run in parallel and their gradients added in
//! chunk order (so a step is the same number on any thread count), Adam on every
//! parameter or on the prior's alone, the noise of a step, the fitting of new rows'
//! latents (Half-VAE), and the optimiser's state for checkpoints.

use super::model::Model;
use super::optim::{Adam, AdamState};
use super::params::ParamInfo;
use super::{c, fused, value, Dev, Real, Step, Terms};
use crate::matrix::Matrix;
use crate::spec::PosteriorVariance;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::Range;

impl<E: Real> Model<E> {
    /// Draws the reparameterisation noise for `rows` rows. An invertible encoder's exact
    /// likelihood reads none: it gets zeros of the same shape, and `rng` is left as it is
    /// (a step draws nothing after its noise, so no later draw moves: the fit is the same
    /// number for number, and skips about 2 % of its epoch).
    pub fn draw_noise(&self, rows: usize, rng: &mut StdRng) -> Vec<Matrix> {
        let n = self.spec.n();
        if self.net.flow.is_some() {
            return vec![Matrix::zeros((rows, n)); self.spec.train.samples];
        }
        (0..self.spec.train.samples)
            .map(|_| {
                Matrix::from_shape_fn((rows, n), |(_, _)| {
                    Distribution::<f64>::sample(&StandardNormal, rng)
                })
            })
            .collect()
    }

    /// Runs the chunks of each step on `pool` (whose size then decides how many run at
    /// once; the numbers do not depend on it).
    /// `None`: on the current pool again (a fitted model holds no threads).
    pub fn run_on(&mut self, pool: Option<std::sync::Arc<rayon::ThreadPool>>) {
        self.pool = pool;
    }

    /// Sets the β of the following steps (a warm-up's schedule; see `BetaSchedule::at`).
    pub fn set_beta(&mut self, beta: f64) {
        self.beta = beta;
    }

    /// The objective over the rows `y` and its gradients, computed chunk by chunk
    /// ([`Chunk::plan`]): the chunks run in parallel on the current rayon pool, and their
    /// terms and gradients are added in chunk order, so the result does not depend on
    /// the number of threads.
    pub(super) fn backward(&self, y: &Matrix, eps: &[Matrix]) -> (Step, Gradients<E, Dev<E>>) {
        use rayon::prelude::*;
        let chunks = Chunk::plan(y.nrows());
        let run = |chunk: &Chunk| {
            let rows = |m: &Matrix| crate::matrix::row_range(m, chunk.rows.clone());
            let noise: Vec<Matrix> = eps.iter().map(rows).collect();
            let (loss, step) = self.objective(&rows(y), &noise, chunk);
            (step, loss.backward())
        };
        let parts = match &self.pool {
            Some(pool) => pool.install(|| chunks.par_iter().map(run).collect::<Vec<_>>()),
            None => chunks.par_iter().map(run).collect::<Vec<_>>(),
        };
        let mut parts = parts.into_iter();
        let (mut step, mut grads) = parts.next().expect("at least one chunk");
        for (other, mut other_grads) in parts {
            step.terms.add_scaled(&other.terms, 1.0);
            for (v, o) in step
                .posterior_variances
                .iter_mut()
                .zip(&other.posterior_variances)
            {
                *v += o;
            }
            for p in self.net.params() {
                let p = p.value();
                let from = other_grads.get_or_alloc_mut(p).expect("gradient buffer");
                let from = E::cells(from).to_vec();
                let into = grads.get_or_alloc_mut(p).expect("gradient buffer");
                fused::add_into(E::cells(into), &from);
            }
        }
        (step, grads)
    }

    /// The objective and its gradient with respect to every parameter, in `parameters()` order.
    pub fn gradients(&self, y: &Matrix, eps: &[Matrix]) -> (Terms, Vec<Vec<f64>>) {
        let (Step { terms, .. }, mut grads) = self.backward(y, eps);
        let g = self
            .net
            .params()
            .into_iter()
            .map(|p| {
                let p = p.value();
                // A parameter the loss does not reach gets a zero gradient, not a panic.
                grads.get_or_alloc_mut(p).expect("gradient buffer");
                grads
                    .get(p)
                    .as_vec()
                    .iter()
                    .map(|x| x.to_f64().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        (terms, g)
    }

    /// One Adam step on the objective; reports the terms before the step.
    pub fn step(&mut self, y: &Matrix, eps: &[Matrix]) -> Step {
        let (mut step, grads) = self.backward(y, eps);
        // A non-finite objective moves nothing; the caller decides whether training goes on.
        step.applied =
            step.terms.loss.is_finite() && self.optimiser.step(&mut self.net.params_mut(), grads);
        step
    }

    /// One Adam step of the prior parameters alone towards maximum likelihood of the
    /// latent values `z` (rows × n): loss −(1/rows) Σ log p(z), through the same prior
    /// code as training. Returns the loss before the step.
    pub fn step_prior(&mut self, z: &Matrix) -> f64 {
        let zt = self.tensor(z).leaky_trace();
        let loss = self.log_prior(zt) * c::<E>(-1.0 / z.nrows() as f64);
        let before = value(&loss);
        let prior = self.net.prior.params();
        let prior = prior.iter().map(|p| self.net.position(p)).collect();
        let lr = self.spec.train.lr;
        self.prior_optimiser
            .get_or_insert_with(|| Adam::new(lr, prior))
            .step(&mut self.net.params_mut(), loss.backward());
        before
    }

    /// A copy of this fitted model for `rows` new data rows whose own latent parameters
    /// (Half-VAE's means and per-sample variances) are fitted by `steps` Adam steps of the
    /// objective while the decoder, the priors and the shared variances stay frozen.
    /// A model with an encoder needs no fitting: use `encode` directly.
    pub fn fit_latents(&self, y: &Matrix, steps: usize, seed: u64) -> Model<E> {
        let mut fresh = Model::<E>::new(&self.spec, y.nrows(), seed);
        let own = self.per_row_parameters();
        for (i, (to, from)) in fresh
            .net
            .params_mut()
            .into_iter()
            .zip(self.net.params())
            .enumerate()
        {
            if !own.contains(&i) {
                to.set(&from.values());
            }
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut adam = Adam::new(self.spec.train.lr, own);
        for _ in 0..steps {
            let eps = fresh.draw_noise(y.nrows(), &mut rng);
            let (_, grads) = fresh.backward(y, &eps);
            adam.step(&mut fresh.net.params_mut(), grads);
        }
        fresh
    }

    /// The parameters with one row per data row: Half-VAE's free means, and its
    /// per-sample log-variances.
    fn per_row_parameters(&self) -> Vec<usize> {
        let per_sample = self.spec.posterior_variance == PosteriorVariance::PerSample;
        let per_row_variance = self
            .net
            .log_var
            .as_ref()
            .filter(|_| per_sample && self.net.encoder.is_none());
        let free_means = self.net.free_means.as_ref();
        free_means
            .into_iter()
            .chain(per_row_variance)
            .map(|p| self.net.position(p))
            .collect()
    }
}

/// Rows `rows` of a batch of `of` rows: the part of a step one thread computes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Chunk {
    pub(super) rows: Range<usize>,
    pub(super) of: usize,
}

impl Chunk {
    /// Rows per chunk at least. Chunks cost little above this (T = 5000: the same
    /// epochs/s on one thread as unsplit when measured first; at 092dd30 on the AMD EPYC,
    /// 8 chunks of 625 rows were 3 % slower than 2 of 2500, and 16 of 312 14 % slower,
    /// `docs/speed-092dd30-amd/chunk-size.txt`) and a minibatch of 1000 still gets two:
    /// T = 1000 on one thread is 8 % slower split, and on two threads 1.85× as fast.
    pub(super) const MIN_ROWS: usize = 500;
    /// Chunks per batch at most.
    pub(super) const MAX: usize = 8;

    pub(super) fn all(rows: usize) -> Chunk {
        Chunk {
            rows: 0..rows,
            of: rows,
        }
    }

    /// How a batch of `rows` rows is split: a function of `rows` alone, never of the
    /// thread count, so that a fit is the same number for number on any pool.
    pub(super) fn plan(rows: usize) -> Vec<Chunk> {
        let count = (rows / Self::MIN_ROWS).clamp(1, Self::MAX);
        (0..count)
            .map(|c| Chunk {
                rows: c * rows / count..(c + 1) * rows / count,
                of: rows,
            })
            .collect()
    }
}

/// Everything training needs to go on from where it stopped: the parameters' values and
/// the optimiser's state (a checkpoint holds this).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingState {
    pub parameters: Vec<ParamInfo>,
    pub adam: AdamState,
}

impl Model<f32> {
    pub fn training_state(&mut self) -> TrainingState {
        TrainingState {
            parameters: self.parameters(),
            adam: self.optimiser.state(&self.net.params()),
        }
    }

    /// Continues from `state` (taken from a model of the same spec and rows).
    pub fn restore_training(&mut self, state: &TrainingState) {
        for (p, saved) in self.net.params_mut().into_iter().zip(&state.parameters) {
            p.set(&saved.values);
        }
        self.optimiser.restore(&self.net.params(), &state.adam);
    }
}
