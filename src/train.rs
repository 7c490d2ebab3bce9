//! The training loop (Algorithm 1): epochs of Adam steps on full or mini batches, the
//! trace, and divergence detection. Numbers in, numbers out: the backend does the maths,
//! the CLI does the files and the progress bar.

use crate::backend::{Model, ParamInfo, PriorDensity, Terms};
use crate::matrix::Matrix;
use crate::postprocess::Unmixing;
use crate::spec::{Batch, BetaSchedule, Choose, ModelSpec, Start};
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
    /// The fitted priors, recorded every epoch (`trace.csv` keeps those of
    /// [`Plan::records_priors`]' epochs, so that a run resumed with more epochs writes what
    /// an uninterrupted one would).
    pub priors: Option<Vec<PriorDensity>>,
    /// With the truth known: each true source's |corr| with its matched posterior mean,
    /// recorded with the priors.
    #[serde(default)]
    pub recovery: Option<Vec<f64>>,
    /// Steps of this epoch that were skipped because their objective or gradient was not
    /// finite (the terms average the others; with none left they are NaN).
    #[serde(default)]
    pub skipped_steps: usize,
}

/// Training stopped because the objective stopped being a finite number.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("training diverged at epoch {epoch}: the {term} term became {value}")]
pub struct Diverged {
    /// The first epoch of the steps that went bad (training stopped at a later one when
    /// the first bad steps were skipped).
    pub epoch: usize,
    /// The term that went bad first: "reconstruction", "log q" or "log p" (or "loss"), or
    /// "gradient" when the terms were finite but a gradient entry was not.
    pub term: &'static str,
    pub value: f64,
}

/// Steps in a row whose objective or gradient is not finite before training stops.
pub const BAD_STEPS_TO_STOP: usize = 5;

/// A training run's settings, resolved once from the model's `train { }` block and β
/// (after a caller's `fit::Overrides`): [`train`] and [`train_restarts`] read every setting
/// of the loop from here and none from the model, so one value says what a run does.
///
/// The model's spec still gives what is not a choice about the run: its shapes (n, m, the
/// likelihood's learned variances), and the settings of a single step (learning rate,
/// Monte-Carlo samples, bound), which the backend takes from the spec when it builds the
/// model. The true sources, when known, are no setting either: they are data about the
/// rows, passed beside the rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The last epoch: a fresh run trains this many, a resumed one goes on up to it.
    pub epochs: usize,
    /// Seeds the model's initial parameters and each epoch's noise and minibatch order.
    pub seed: u64,
    pub batch: Batch,
    /// β, epoch by epoch.
    pub beta: BetaSchedule,
    /// `train { tol }`: stop once [`converged`] (never when `None`).
    pub tol: Option<f64>,
    /// `train { restarts }`: independent fits from seeds `seed`, `seed + 1`, …
    pub restarts: usize,
    /// `train { choose }`: which restart is kept.
    pub choose: Choose,
    /// With the truth known, the recovery is recorded every this many epochs (and at the
    /// first and the last), the epochs whose priors `trace.csv` keeps.
    pub prior_every: usize,
}

impl Plan {
    /// The plan `spec` describes (give it the spec with the caller's overrides applied).
    pub fn new(spec: &ModelSpec) -> Plan {
        let epochs = spec.train.epochs;
        Plan {
            epochs,
            seed: spec.train.seed,
            batch: spec.train.batch,
            beta: spec.beta_schedule(),
            tol: spec.train.tol,
            restarts: spec.train.restarts,
            choose: spec.train.choose,
            // About a hundred recorded epochs, whatever the length of the run.
            prior_every: (epochs / 100).max(1),
        }
    }

    /// The plan of restart `r` (from 0) of `train { restarts }`: one fit from its own seed.
    pub fn restart(&self, r: usize) -> Plan {
        Plan {
            seed: restart_seed(self.seed, r),
            restarts: 1,
            ..*self
        }
    }

    /// Whether the trace file records the priors (and the recovery) at `epoch`: every
    /// `prior_every`-th epoch, the first and the last.
    pub fn records_priors(&self, epoch: usize) -> bool {
        epoch.is_multiple_of(self.prior_every.max(1)) || epoch == self.epochs || epoch == 1
    }
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

/// Trains `model` on `y` (standardised, rows are samples) as `plan` says, up to
/// `plan.epochs` epochs, going on after the epochs of `earlier` (empty for a fresh start;
/// a resumed run passes its checkpoint's trace, with the model restored to that epoch).
/// `truth`, the true sources of `y`'s rows when known, has the trace record the recovery
/// at the epochs whose priors are kept (one pass of the encoder each). After every epoch
/// `after_epoch` sees the model and the whole trace, and may stop training.
///
/// A step whose objective or gradient is not finite is skipped; `BAD_STEPS_TO_STOP` in a
/// row stop training, the model keeping the parameters of the last finite step, and the
/// error names the epoch of the first of them. A run whose last step was skipped, or
/// whose parameters are not all finite at the end, is diverged too: its result would be
/// garbage.
pub fn train(
    model: &mut Model<f32>,
    y: &Matrix,
    truth: Option<&Matrix>,
    plan: &Plan,
    earlier: Vec<TraceRow>,
    after_epoch: &mut dyn FnMut(&mut Model<f32>, &[TraceRow]) -> Control,
) -> Result<Vec<TraceRow>, Diverged> {
    let batch = match plan.batch {
        Batch::Full => y.nrows(),
        Batch::Size(b) => b.min(y.nrows()),
    };
    let first = earlier.len() + 1;
    let mut trace = earlier;
    // The bad steps in a row so far, and the epoch and terms of the first of them.
    let mut bad_steps = 0;
    let mut first_bad: Option<(usize, Terms)> = None;
    for epoch in first..=plan.epochs {
        let mut rng = epoch_rng(plan.seed, epoch);
        let beta = plan.beta.at(epoch);
        model.set_beta(beta);
        let mut order: Vec<usize> = (0..y.nrows()).collect();
        let mut sum = Terms::default();
        let mut applied = 0.0;
        let mut skipped_steps = 0;
        let mut variances = vec![0.0; model.spec().n()];
        let mut noise = vec![0.0; model.spec().likelihood.learned_variances(model.spec().m())];
        if batch < y.nrows() {
            order.shuffle(&mut rng);
        }
        for rows in order.chunks(batch) {
            let batch_y;
            let y_step = if rows.len() == y.nrows() {
                y
            } else {
                batch_y = crate::matrix::select(y, ndarray::Axis(0), rows);
                &batch_y
            };
            let eps = model.draw_noise(rows.len(), &mut rng);
            let step = model.step(y_step, &eps);
            if !step.applied {
                // Skipped: the parameters keep their last finite values. A transient fault
                // (one unlucky noise draw) passes; several in a row stop training.
                bad_steps += 1;
                skipped_steps += 1;
                let (at, terms) = first_bad.get_or_insert((epoch, step.terms));
                if bad_steps >= BAD_STEPS_TO_STOP {
                    return Err(diverged(terms, *at));
                }
                continue;
            }
            bad_steps = 0;
            first_bad = None;
            let w = rows.len() as f64 / y.nrows() as f64;
            applied += w;
            sum.add_scaled(&step.terms, w);
            for (v, s) in variances.iter_mut().zip(&step.posterior_variances) {
                *v += s * w;
            }
            for (v, s) in noise.iter_mut().zip(&step.noise_variances) {
                *v += s * w;
            }
        }
        // Skipped steps leave the epoch's average to the others (NaN when none is left).
        if skipped_steps > 0 {
            let share = if applied > 0.0 {
                1.0 / applied
            } else {
                f64::NAN
            };
            let mut averaged = Terms::default();
            averaged.add_scaled(&sum, share);
            sum = averaged;
            variances
                .iter_mut()
                .chain(&mut noise)
                .for_each(|v| *v *= share);
        }
        trace.push(TraceRow {
            epoch,
            terms: sum,
            beta,
            posterior_variances: variances,
            noise_variances: noise,
            priors: Some(model.priors()),
            recovery: truth
                .filter(|_| plan.records_priors(epoch))
                .map(|truth| crate::eval::matched_pearson(truth, &model.encode(y).0).1),
            skipped_steps,
        });
        if after_epoch(model, &trace) == Control::Stop {
            break;
        }
        if let Some(tol) = plan.tol {
            if converged(&trace, tol, plan.beta.warmup) {
                break;
            }
        }
    }
    if let Some((at, terms)) = first_bad {
        return Err(diverged(&terms, at));
    }
    if !model.parameters_finite() {
        let at = trace.last().map_or(0, |r| r.epoch);
        return Err(Diverged {
            epoch: at,
            term: "parameter",
            value: f64::NAN,
        });
    }
    Ok(trace)
}

/// A fit's final objective, what `train { restarts }` compares by default: the mean loss
/// over its last `TOL_WINDOW` epochs (all of them if it ran fewer), so that one Monte-Carlo
/// draw does not decide.
pub fn final_objective(trace: &[TraceRow]) -> f64 {
    let last = &trace[trace.len().saturating_sub(TOL_WINDOW)..];
    last.iter().map(|r| r.terms.loss).sum::<f64>() / last.len().max(1) as f64
}

/// The seed of restart `r` (from 0): the model's own seed first, then the next ones.
pub fn restart_seed(seed: u64, r: usize) -> u64 {
    seed.wrapping_add(r as u64)
}

/// How one of `train { restarts }`'s fits ended, with what every `choose` criterion says
/// of it (whichever chose), so that a run shows whether they agree.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RestartOutcome {
    pub seed: u64,
    /// `final_objective` of its trace; `None` when it diverged.
    pub objective: Option<f64>,
    /// Epochs it ran (fewer than asked when `tol` stopped it).
    pub epochs: usize,
    /// With the truth known: the MCC of its sources (after `postprocess`).
    #[serde(default)]
    pub mcc: Option<f64>,
    /// `choose independence`'s measure: the mean distance correlation between its sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependence: Option<f64>,
    /// `choose agreement`'s measure: its sources' mean MCC against the other restarts'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
}

/// The kept fit of `train { restarts }`: its parameters and trace, and how every restart
/// ended (in restart order).
pub struct Restarts {
    /// Index of the kept restart: the one `choose` picks (the first of equals).
    pub best: usize,
    pub parameters: Vec<ParamInfo>,
    pub trace: Vec<TraceRow>,
    pub outcomes: Vec<RestartOutcome>,
}

impl Restarts {
    /// The kept fit as a model of `spec` for `rows` rows.
    pub fn model(&self, spec: &ModelSpec, rows: usize) -> Model<f32> {
        let seed = self.outcomes[self.best].seed;
        let mut model = Model::<f32>::new(spec, rows, seed);
        model.set_parameters(self.parameters.iter().map(|p| p.values.as_slice()));
        model
    }
}

/// A fresh model of `spec` for the rows `y`, drawn from `seed`, for restart `restart`
/// (from 0; a single fit is restart 0), and with `train { start fastica }` its posterior
/// means started at FastICA's sources of `y` (unit variance); with `start
/// fastica_autoencoder` its decoder too, at the map from them back to `y`; with `start
/// fastica_and_random`, restart 0 as `fastica` and the others as `random`.
pub fn initial_model(spec: &ModelSpec, y: &Matrix, seed: u64, restart: usize) -> Model<f32> {
    let mut model = Model::<f32>::new(spec, y.nrows(), seed);
    if spec.train.start.at_fastica(restart) {
        // Where FastICA cannot run (data it cannot whiten), the random start stays.
        let k = spec.n().min(y.ncols());
        let unmixed = crate::baseline::fastica(y, k, seed).and_then(|u| u.unit_variance());
        if let Ok(unmixed) = unmixed {
            // Dimensions beyond the data's columns start at 0.
            let mut targets = Matrix::zeros((y.nrows(), spec.n()));
            targets
                .slice_mut(ndarray::s![.., ..k])
                .assign(&unmixed.sources);
            model.start_means_at(y, &targets);
            if spec.train.start == Start::FasticaAutoencoder {
                model.start_decoder_at(&targets, y);
            }
        }
    }
    model
}

/// The sources a fit of `spec` outputs for `y`: its posterior means, after `postprocess`
/// (FastICA from `seed`; the means themselves when FastICA cannot run on them).
fn output_sources(spec: &ModelSpec, model: &Model<f32>, y: &Matrix, seed: u64) -> Matrix {
    let means = model.encode(y).0;
    match Unmixing::fit_for(spec.postprocess, &means, seed) {
        Ok(Some(u)) => u.sources(&means),
        Ok(None) | Err(_) => means,
    }
}

/// Trains `plan.restarts` independent fits of `spec` on `y` (with `truth` as [`train`]
/// takes it), restart r as `plan.restart(r)` says (its own seed for its model, noise and
/// minibatches), `jobs` at a time, each on its own one-thread pool (the results do not
/// depend on `jobs`). Keeps the one `plan.choose` picks; every restart's outcome records
/// every criterion. `after_epoch` is told of every epoch of every restart and may stop
/// them all. Err when every restart diverged (the first one's error), or when the threads
/// for `jobs` could not be started.
pub fn train_restarts(
    spec: &ModelSpec,
    y: &Matrix,
    truth: Option<&Matrix>,
    plan: &Plan,
    jobs: usize,
    after_epoch: &(dyn Fn() -> Control + Sync),
) -> Result<Restarts, RestartsFailed> {
    // By the objective, only the best so far keeps its parameters, so memory holds
    // `jobs` + 1 models; the other criteria compare restarts after all have ended, so each
    // keeps its own.
    let keep_all = plan.choose != Choose::Objective;
    type Kept = (f64, usize, Vec<ParamInfo>, Vec<TraceRow>);
    let best = std::sync::Mutex::new(None::<Kept>);
    let probe = crate::label_free::probe_rows(y.nrows(), spec.n());
    let results = crate::parallel::run(plan.restarts, jobs, |r| {
        let restart = plan.restart(r);
        let mut model = initial_model(spec, y, restart.seed, r);
        let trace = train(&mut model, y, truth, &restart, Vec::new(), &mut |_, _| {
            after_epoch()
        })?;
        let objective = final_objective(&trace);
        let sources = output_sources(spec, &model, y, restart.seed);
        let mcc = truth
            .and_then(|t| crate::eval::recovery(t, &sources).ok())
            .map(|r| r.mcc);
        let probed = crate::matrix::select(&sources, ndarray::Axis(0), &probe);
        let outcome = RestartOutcome {
            seed: restart.seed,
            objective: Some(objective),
            epochs: trace.len(),
            mcc,
            dependence: Some(crate::label_free::dependence(&probed)),
            agreement: None,
        };
        if keep_all {
            return Ok((outcome, probed, Some((model.parameters(), trace))));
        }
        let mut kept = best.lock().unwrap_or_else(|e| e.into_inner());
        let better = match &*kept {
            None => objective.is_finite(),
            Some((o, i, _, _)) => objective < *o || (objective == *o && r < *i),
        };
        if better {
            *kept = Some((objective, r, model.parameters(), trace));
        }
        Ok((outcome, probed, None))
    })?;
    let first_error = results.iter().find_map(|r| r.as_ref().err().cloned());
    // In restart order: each one's outcome and, with `keep_all`, its parameters and trace;
    // the probed sources of those that ended, for their agreement.
    let mut outcomes = Vec::new();
    let mut own = Vec::new();
    let (mut ended, mut probed) = (Vec::new(), Vec::new());
    for (r, result) in results.into_iter().enumerate() {
        match result {
            Ok((outcome, sources, parameters)) => {
                outcomes.push(outcome);
                own.push(parameters);
                ended.push(r);
                probed.push(sources);
            }
            Err(_) => {
                outcomes.push(RestartOutcome {
                    seed: plan.restart(r).seed,
                    objective: None,
                    epochs: 0,
                    mcc: None,
                    dependence: None,
                    agreement: None,
                });
                own.push(None);
            }
        }
    }
    for (&r, a) in ended.iter().zip(crate::label_free::agreement(&probed)) {
        outcomes[r].agreement = Some(a);
    }
    let chosen = match plan.choose {
        Choose::Objective => best
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .map(|(_, r, parameters, trace)| (r, parameters, trace)),
        criterion => {
            // Lower is better for every criterion: agreement counts negated.
            let score = |o: &RestartOutcome| match criterion {
                Choose::Independence => o.dependence,
                _ => o.agreement.map(|a| -a),
            };
            outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| o.objective.is_some_and(f64::is_finite))
                .filter_map(|(r, o)| Some((r, score(o)?)))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                .and_then(|(r, _)| {
                    own[r]
                        .take()
                        .map(|(parameters, trace)| (r, parameters, trace))
                })
        }
    };
    match chosen {
        Some((best, parameters, trace)) => Ok(Restarts {
            best,
            parameters,
            trace,
            outcomes,
        }),
        None => Err(RestartsFailed::Diverged(first_error.unwrap_or(Diverged {
            epoch: 0,
            term: "loss",
            value: f64::NAN,
        }))),
    }
}

/// Why `train_restarts` kept no fit.
#[derive(Debug, thiserror::Error)]
pub enum RestartsFailed {
    /// Every restart diverged: the first one's error.
    #[error(transparent)]
    Diverged(#[from] Diverged),
    #[error(transparent)]
    Threads(#[from] crate::parallel::ThreadsUnavailable),
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

    /// Simulated columns standardised as `fit` standardises a data file's.
    fn standardised(data: Matrix) -> Matrix {
        let table = crate::data::Table {
            columns: (0..data.ncols()).map(|j| format!("x{j}")).collect(),
            values: data,
        };
        crate::data::Preprocessing::fit("sim", &table, crate::spec::Preprocess::Standardise)
            .unwrap()
            .apply(&table.values)
    }

    /// 1000 standardised rows of `mlp` data, and FastICA's sources of them (seed 7).
    fn mlp_data_and_its_fastica_sources() -> (Matrix, Matrix) {
        let sim = crate::simulate::simulate(crate::simulate::Scenario::Mlp, 1000, 4);
        let y = standardised(sim.data);
        let ica = crate::baseline::fastica(&y, 3, 7).unwrap().sources;
        (y, ica)
    }

    /// `start fastica`: before any step the posterior means are FastICA's sources, with an
    /// encoder of hidden layers (by regression), without one (Half-VAE's free means) and
    /// with an invertible encoder (its last affine map); `start fastica_and_random` does so
    /// for restart 0 alone.
    #[test]
    fn a_fastica_start_begins_at_fasticas_sources() {
        let (y, ica) = mlp_data_and_its_fastica_sources();
        let networks = [
            "encoder { dense 64 tanh; dense 64 tanh }",
            "encoder none",
            "encoder { monotone 8 tanh; affine; monotone 8 tanh; affine }",
        ];
        for network in networks {
            for (start, restarts) in [("fastica", 1), ("fastica_and_random", 2)] {
                let text = format!(
                    "observed x[3]\nlatent z[3] ~ gmm(K = 2)\n{network}\ntrain {{ start {start}; restarts {restarts}; seed 7 }}"
                );
                let spec = crate::compile(&text).unwrap();
                let means = initial_model(&spec, &y, 7, 0).encode(&y).0;
                let agree = crate::eval::recovery(&ica, &means).unwrap().mcc;
                assert!(agree > 0.99, "{network}, {start}: {agree}");
                let random = Model::<f32>::new(&spec, y.nrows(), 7).encode(&y).0;
                let before = crate::eval::recovery(&ica, &random).unwrap().mcc;
                assert!(
                    before < 0.95,
                    "{network}: a random start is not there already ({before})"
                );
                let later = initial_model(&spec, &y, 8, 1).encode(&y).0;
                let later = crate::eval::recovery(&ica, &later).unwrap().mcc;
                let expected = if start == "fastica" {
                    later > 0.99
                } else {
                    later < 0.95
                };
                assert!(expected, "{network}, {start}: restart 1 at {later}");
            }
        }
    }

    /// `start fastica_autoencoder`: the means start at FastICA's sources as with `start
    /// fastica`, and the decoder maps them back to the data, whatever it reads them
    /// through: the reconstruction from the start is far closer than from a random
    /// decoder, and through a `linear` decoder it is the data up to the ridge.
    #[test]
    fn an_autoencoder_start_also_reconstructs_from_fasticas_sources() {
        let (y, ica) = mlp_data_and_its_fastica_sources();
        let squared_error = |model: &Model<f32>| {
            let back = model.decode(&model.encode(&y).0);
            (&back - &y).mapv(|d| d * d).mean().unwrap()
        };
        for (encoder, decoder, close) in [
            (
                "encoder { dense 64 tanh; dense 64 tanh }",
                "decoder { dense 64 tanh; dense 64 tanh }",
                0.05,
            ),
            ("encoder { dense 64 tanh }", "decoder linear", 0.01),
            ("encoder none", "decoder { sigmoid }", 0.1),
            (
                "encoder { dense 32 tanh }",
                "decoder { sigmoid; dense 30 leaky_relu }",
                0.1,
            ),
        ] {
            let model = |start: &str| {
                let text = format!(
                    "observed x[3]\nlatent z[3] ~ gmm(K = 2)\n{encoder}\n{decoder}\n\
                     train {{ start {start}; seed 7 }}"
                );
                initial_model(&crate::compile(&text).unwrap(), &y, 7, 0)
            };
            let (both, means_only) = (model("fastica_autoencoder"), model("fastica"));
            let agree = crate::eval::recovery(&ica, &both.encode(&y).0).unwrap().mcc;
            assert!(
                agree > 0.99,
                "{decoder}: the means start at FastICA's ({agree})"
            );
            let (from_both, from_means_only) = (squared_error(&both), squared_error(&means_only));
            assert!(
                from_both < close && from_both < 0.2 * from_means_only,
                "{decoder}: {from_both} against {from_means_only} with a random decoder"
            );
        }
    }

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
                skipped_steps: 0,
            })
            .collect()
    }

    #[test]
    fn a_restart_is_one_fit_of_the_same_plan_from_its_own_seed() {
        let text = "observed x[2]\nlatent z[2] ~ gmm(K = 2)\nbeta 0.5 warmup 10\n\
                    train { epochs 250; seed 7; batch 32; tol 1e-3; restarts 4 }";
        let plan = Plan::new(&crate::compile(text).unwrap());
        let second = plan.restart(1);
        assert_eq!((second.seed, second.restarts), (8, 1));
        assert_eq!(
            Plan {
                seed: plan.seed,
                restarts: plan.restarts,
                ..second
            },
            plan
        );
        assert_eq!(
            (plan.beta.at(1), plan.beta.at(6), plan.beta.at(11)),
            (0.0, 0.25, 0.5)
        );
        // About a hundred epochs record the priors: every second of 250, and the last.
        let recorded: Vec<usize> = (1..=250).filter(|&e| plan.records_priors(e)).collect();
        assert_eq!(recorded.len(), 126);
        assert_eq!(&recorded[..3], [1, 2, 4]);
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
