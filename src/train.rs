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
        let spec = model.spec();
        if let Some(tol) = spec.train.tol {
            if converged(&trace, tol, spec.beta_warmup) {
                break;
            }
        }
    }
    Ok(trace)
}

/// `train { tol }` compares the mean loss of consecutive windows of this many epochs.
pub const TOL_WINDOW: usize = 100;
/// … and stops when this many successive relative changes are all below the tolerance.
pub const TOL_WINDOWS_BELOW: usize = 3;

/// Whether training has converged at the trace's last epoch in the sense of `train { tol }`
/// (CmdStan ADVI's `tol_rel_obj`, on windows instead of single evaluations): checked every
/// `TOL_WINDOW` epochs, the mean loss of each of the last `TOL_WINDOWS_BELOW` + 1 windows,
/// and true when every relative change between neighbours, |L_w − L_{w−1}| / |L_w|, is below
/// `tol`. A single Monte-Carlo loss is too noisy to stop on; a window's mean is not. Windows
/// must lie after a β warm-up, during which the objective changes by design.
pub fn converged(trace: &[TraceRow], tol: f64, warmup: usize) -> bool {
    let Some(last) = trace.last() else {
        return false;
    };
    let windows = TOL_WINDOWS_BELOW + 1;
    let span = windows * TOL_WINDOW;
    if last.epoch % TOL_WINDOW != 0 || last.epoch < warmup + span || trace.len() < span {
        return false;
    }
    let means: Vec<f64> = trace[trace.len() - span..]
        .chunks(TOL_WINDOW)
        .map(|w| w.iter().map(|r| r.terms.loss).sum::<f64>() / TOL_WINDOW as f64)
        .collect();
    means
        .windows(2)
        .all(|pair| (pair[1] - pair[0]).abs() < tol * pair[1].abs().max(f64::MIN_POSITIVE))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(losses: impl Iterator<Item = f64>) -> Vec<TraceRow> {
        losses
            .enumerate()
            .map(|(i, loss)| TraceRow {
                epoch: i + 1,
                terms: Terms {
                    loss,
                    ..Terms::default()
                },
                beta: 1.0,
                posterior_variances: Vec::new(),
                noise_variances: Vec::new(),
                priors: None,
                recovery: None,
            })
            .collect()
    }

    #[test]
    fn a_flat_loss_converges_at_the_first_full_set_of_windows() {
        // Noise of ±1 % around 2 epoch by epoch; the windows' means agree far better.
        let noisy = |e: usize| 2.0 * (1.0 + 0.01 * if e.is_multiple_of(2) { 1.0 } else { -1.0 });
        let t = trace((1..=1000).map(noisy));
        let first = (1..=t.len()).find(|&e| converged(&t[..e], 1e-4, 0));
        assert_eq!(first, Some(TOL_WINDOW * (TOL_WINDOWS_BELOW + 1)));
        // During a warm-up of 450 epochs it may not stop: the first chance after it.
        let first = (1..=t.len()).find(|&e| converged(&t[..e], 1e-4, 450));
        assert_eq!(first, Some(900));
    }

    #[test]
    fn a_falling_loss_does_not_converge_until_it_flattens() {
        // Falls by 1e-3 relative per epoch (0.1 per window) up to epoch 500, then flat.
        let t = trace((1..=1200).map(|e| 1.0 + (-1e-3 * e.min(500) as f64).exp()));
        assert!(!(1..=500).any(|e| converged(&t[..e], 1e-3, 0)));
        let first = (1..=t.len()).find(|&e| converged(&t[..e], 1e-3, 0));
        // The window (500, 600] is the first flat one; three flat changes end at 900.
        assert_eq!(first, Some(900));
    }
}
