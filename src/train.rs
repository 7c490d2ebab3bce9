//! The training loop (Algorithm 1): epochs of Adam steps on full or mini batches, the
//! trace, and divergence detection. Numbers in, numbers out: the backend does the maths,
//! the CLI does the files and the progress bar.

use crate::backend::{Mixture, Model, Terms};
use crate::matrix::Matrix;
use crate::spec::Batch;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One epoch of the trace.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceRow {
    pub epoch: usize,
    /// Terms averaged over the epoch's batches (weighted by batch size).
    pub terms: Terms,
    /// The β in force this epoch (below the model's β during a warm-up).
    #[serde(default)]
    pub beta: f64,
    /// Mean posterior variance σ_j² per dimension over the epoch's data.
    pub posterior_variances: Vec<f64>,
    /// The likelihood's learned noise variances, averaged over the epoch's steps (empty
    /// when the likelihood learns none).
    #[serde(default)]
    pub noise_variances: Vec<f64>,
    /// The prior mixtures, recorded every `prior_every` epochs and at the last one.
    pub priors: Option<Vec<Mixture>>,
    /// With the truth known: each true source's |corr| with its matched posterior mean,
    /// recorded with the priors.
    #[serde(default)]
    pub recovery: Option<Vec<f64>>,
}

/// Training stopped because the objective stopped being a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("training diverged at epoch {epoch}: the {term} term became {value}")]
pub struct Diverged {
    pub epoch: usize,
    /// The term that went bad first: "reconstruction", "log q" or "log p" (or "loss"), or
    /// "gradient" when the terms were finite but a gradient entry was not.
    pub term: &'static str,
    pub value: f64,
}

/// Steps in a row whose objective or gradient is not finite before training stops.
pub const BAD_STEPS_TO_STOP: usize = 5;

pub struct Options<'a> {
    pub epochs: usize,
    pub seed: u64,
    /// Record the prior parameters in the trace every this many epochs.
    pub prior_every: usize,
    /// The true sources of the training rows, when known: the recovery is recorded with
    /// the priors (it costs one pass of the encoder).
    pub truth: Option<&'a Matrix>,
}

/// What the caller decides after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this epoch (an interrupt): the trace so far is returned.
    Stop,
}

/// The noise and minibatch order of one epoch come from their own generator, seeded by the
/// run's seed and the epoch: training resumed at any epoch draws what it would have drawn.
fn epoch_rng(seed: u64, epoch: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Trains `model` on `y` (standardised, rows are samples) up to `options.epochs` epochs,
/// going on after the epochs of `earlier` (empty for a fresh start; a resumed run passes
/// its checkpoint's trace, with the model restored to that epoch). After every epoch
/// `after_epoch` sees the model and the whole trace, and may stop training.
///
/// A step whose objective or gradient is not finite is skipped; `BAD_STEPS_TO_STOP` in a
/// row stop training, the model keeping the parameters of the last finite step, and the
/// error says where it went wrong.
pub fn train(
    model: &mut Model<f32>,
    y: &Matrix,
    options: &Options,
    earlier: Vec<TraceRow>,
    after_epoch: &mut dyn FnMut(&mut Model<f32>, &[TraceRow]) -> Control,
) -> Result<Vec<TraceRow>, Diverged> {
    let batch = match model.spec().train.batch {
        Batch::Full => y.rows,
        Batch::Size(b) => b.min(y.rows),
    };
    let first = earlier.len() + 1;
    let mut trace = earlier;
    trace.reserve(options.epochs.saturating_sub(trace.len()));
    let mut bad_steps = 0;
    for epoch in first..=options.epochs {
        let mut rng = epoch_rng(options.seed, epoch);
        let beta = model.spec().beta_at(epoch);
        model.set_beta(beta);
        let mut order: Vec<usize> = (0..y.rows).collect();
        let mut sum = Terms::default();
        let mut variances = vec![0.0; model.spec().n()];
        let mut noise = vec![0.0; model.spec().likelihood.learned_variances(model.spec().m())];
        if batch < y.rows {
            order.shuffle(&mut rng);
        }
        for rows in order.chunks(batch) {
            let batch_y;
            let y_step = if rows.len() == y.rows {
                y
            } else {
                batch_y = y.select_rows(rows);
                &batch_y
            };
            let eps = model.draw_noise(rows.len(), &mut rng);
            let step = model.step(y_step, &eps);
            if !step.applied {
                // Skipped: the parameters keep their last finite values. A transient fault
                // (one unlucky noise draw) passes; several in a row stop training.
                bad_steps += 1;
                if bad_steps >= BAD_STEPS_TO_STOP {
                    return Err(diverged(&step.terms, epoch));
                }
                continue;
            }
            bad_steps = 0;
            let w = rows.len() as f64 / y.rows as f64;
            sum.add_scaled(&step.terms, w);
            for (v, s) in variances.iter_mut().zip(&step.posterior_variances) {
                *v += s * w;
            }
            for (v, s) in noise.iter_mut().zip(&step.noise_variances) {
                *v += s * w;
            }
        }
        let record_priors =
            epoch % options.prior_every.max(1) == 0 || epoch == options.epochs || epoch == 1;
        trace.push(TraceRow {
            epoch,
            terms: sum,
            beta,
            posterior_variances: variances,
            noise_variances: noise,
            priors: record_priors.then(|| model.priors()),
            recovery: options
                .truth
                .filter(|_| record_priors)
                .map(|truth| crate::eval::matched_pearson(truth, &model.encode(y).0).1),
        });
        if after_epoch(model, &trace) == Control::Stop {
            break;
        }
    }
    Ok(trace)
}

/// The first term that is not finite, or the gradient when every term is.
fn diverged(t: &Terms, epoch: usize) -> Diverged {
    let terms = [
        ("reconstruction", t.reconstruction),
        ("log q", t.log_q),
        ("log p", t.log_p),
        ("loss", t.loss),
    ];
    terms.into_iter().find(|(_, v)| !v.is_finite()).map_or(
        Diverged {
            epoch,
            term: "gradient",
            value: f64::NAN,
        },
        |(term, value)| Diverged { epoch, term, value },
    )
}
