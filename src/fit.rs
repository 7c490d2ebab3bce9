//! One fit, in memory: a checked model and a table of data in; the fitted model, its
//! sources with their uncertainty, the fitted priors, the trace and (given the truth) the
//! recovery out. `pdgc fit`, `compare` and the tests all call [`fit`]; what they do around it
//! (files, a progress bar, checkpoints) they do through an [`Observer`].
//!
//! ```
//! let spec = pdgc::compile("observed x[2]\nlatent z[2] ~ gmm(K = 2)\ntrain { epochs 5 }").unwrap();
//! let sim = pdgc::simulate::simulate(pdgc::simulate::Scenario::Linear, 200, 0);
//! let data = pdgc::data::Table {
//!     columns: vec!["x0".into(), "x1".into(), "x2".into()],
//!     values: sim.data,
//! };
//! let fitted = pdgc::fit::fit(&spec, &data, &pdgc::fit::FitOptions::default(), &mut ()).unwrap();
//! assert_eq!(fitted.sources.dim(), (200, 2));
//! ```

use crate::backend::{Model, PriorDensity, TrainingState};
use crate::data::{select_observed, DataError, Preprocessing, Table};
use crate::eval::Recovery;
use crate::matrix::Matrix;
use crate::parallel::ThreadsUnavailable;
use crate::postprocess::Unmixing;
use crate::spec::ModelSpec;
use crate::train::{train, train_restarts, Control, Diverged, Plan, RestartOutcome};
use crate::train::{RestartsFailed, TraceRow};

/// What a fit needs besides the model and the data.
#[derive(Debug, Clone, Default)]
pub struct FitOptions<'a> {
    /// The data's name in messages (a file's name; "the data" when empty).
    pub name: &'a str,
    /// Threads: a step's rows are split into chunks computed on this many (the numbers
    /// do not depend on it); `train { restarts }` runs this many restarts at a time, each
    /// on one. 0 counts as 1.
    pub threads: usize,
    /// The true sources of the data's rows: the trace records each one's |corr| as training
    /// goes, and [`Fit::recovery`] holds the final recovery.
    pub truth: Option<&'a Matrix>,
    /// Go on from this state and trace (a checkpoint's), made for the same model and data.
    pub resume: Option<Resume>,
    /// When the observer stops training, encode the rows as the model then stands (a
    /// Python callback's early stop), instead of returning the fit unfinished (a signal,
    /// after which the binary keeps a checkpoint).
    pub finish_when_stopped: bool,
}

/// Settings a caller gives over the model file's `train { }` block (`pdgc fit`'s flags,
/// the Python keywords), held to the rules the checker holds the file's to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub seed: Option<u64>,
}

/// A setting out of its range: its name (`epochs`, `lr`) and why.
#[derive(Debug, thiserror::Error)]
#[error("{name} {why}")]
pub struct OverrideError {
    pub name: &'static str,
    pub why: String,
}

impl Overrides {
    /// `spec` with these settings in place of its own.
    pub fn apply(&self, spec: &ModelSpec) -> Result<ModelSpec, OverrideError> {
        let mut spec = spec.clone();
        if let Some(e) = self.epochs {
            if e == 0 {
                let why = "must be at least 1".to_string();
                return Err(OverrideError {
                    name: "epochs",
                    why,
                });
            }
            spec.train.epochs = e;
        }
        if let Some(lr) = self.lr {
            let max = crate::spec::limits::LR_MAX;
            if !(lr.is_finite() && lr > 0.0 && lr <= max) {
                let shown = match lr.abs() >= 1e6 {
                    true => format!("{lr:e}"),
                    false => format!("{lr}"),
                };
                let why = format!("must be a number in (0, {max}], found {shown}");
                return Err(OverrideError { name: "lr", why });
            }
            spec.train.lr = lr;
        }
        if let Some(seed) = self.seed {
            spec.train.seed = seed;
        }
        Ok(spec)
    }
}

/// Where an interrupted fit had got to.
#[derive(Debug, Clone)]
pub struct Resume {
    pub state: TrainingState,
    pub trace: Vec<TraceRow>,
}

/// Told of training as it goes, and may stop it. Every method has a default that goes on.
pub trait Observer: Sync {
    /// Before the first epoch (a resumed fit's state restored).
    fn start(&mut self, _model: &mut Model<f32>, _trace: &[TraceRow]) -> Control {
        Control::Continue
    }
    /// After each epoch of a fit without restarts.
    fn epoch(&mut self, _model: &mut Model<f32>, _trace: &[TraceRow]) -> Control {
        Control::Continue
    }
    /// After each epoch of any of `train { restarts }`'s fits, from their threads.
    fn restart_epoch(&self) -> Control {
        Control::Continue
    }
}

/// No observer: train to the end.
impl Observer for () {}

/// Why a fit could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The data do not suit the model (columns, rows, a constant or dependent column).
    #[error(transparent)]
    Data(#[from] DataError),
    /// The truth does not describe the data's rows, or has more sources than the model.
    #[error("the truth {0}")]
    Truth(String),
    #[error(transparent)]
    Diverged(#[from] Diverged),
    #[error(transparent)]
    Threads(#[from] ThreadsUnavailable),
}

impl From<RestartsFailed> for FitError {
    fn from(e: RestartsFailed) -> Self {
        match e {
            RestartsFailed::Diverged(d) => FitError::Diverged(d),
            RestartsFailed::Threads(t) => FitError::Threads(t),
        }
    }
}

/// A fitted model and everything it says about the data it was fitted to.
pub struct Fit {
    /// The model as fitted (the model file's, with the caller's settings).
    pub spec: ModelSpec,
    pub model: Model<f32>,
    /// How the data's columns were turned into what the model saw (and new data will be).
    pub preprocessing: Preprocessing,
    pub trace: Vec<TraceRow>,
    /// The epoch it was resumed from (0 for a fresh start).
    pub first_epoch: usize,
    /// The observer stopped training: the model and the trace are where it stopped, and
    /// (unless [`FitOptions::finish_when_stopped`]) nothing below is filled (`sources` are
    /// empty).
    pub stopped: bool,
    /// The posterior means, a row per data row (T × n), and their standard deviations.
    pub sources: Matrix,
    pub sources_sd: Matrix,
    pub priors: Vec<PriorDensity>,
    /// The recovery of the truth, when one was given.
    pub recovery: Option<Recovery>,
    /// With `postprocess fastica`: the unmixing of the posterior means, already applied to
    /// `sources` (`None` when FastICA could not run on them: `postprocess_failed` says why).
    pub postprocessing: Option<Unmixing>,
    pub postprocess_failed: Option<String>,
    /// With `postprocess` and the truth: the recovery of the posterior means before it.
    pub recovery_before_postprocess: Option<Recovery>,
    /// With `train { restarts }`: the kept one (the one `choose` picked) and how each
    /// ended.
    pub restarts: Option<(usize, Vec<RestartOutcome>)>,
    /// The epoch `train { tol }` stopped at, when it stopped before `epochs`.
    pub converged_at: Option<usize>,
    /// Seconds spent training (every restart's, when they ran at once: the wall time).
    pub train_seconds: f64,
}

/// Fits `spec` to the observed columns of `data`, as Algorithm 1 does: preprocess, train
/// (or train every restart and keep the best), and encode the rows.
pub fn fit(
    spec: &ModelSpec,
    data: &Table,
    options: &FitOptions,
    observer: &mut impl Observer,
) -> Result<Fit, FitError> {
    let name = match options.name {
        "" => "the data",
        name => name,
    };
    let started = std::time::Instant::now();
    let table = select_observed(name, data, spec)?;
    if table.values.nrows() < 2 {
        let (file, rows) = (name.to_string(), table.values.nrows());
        return Err(DataError::TooFewRows { file, rows }.into());
    }
    let preprocessing = Preprocessing::fit(name, &table, spec.preprocess)?;
    let y = preprocessing.apply(&table.values);
    if let Some(why) = options
        .truth
        .and_then(|truth| truth_problem(truth, y.nrows(), spec, name))
    {
        return Err(FitError::Truth(why));
    }
    // The training settings, resolved once: nothing below reads them from the spec.
    let plan = Plan::new(spec);
    let (model, trace, first_epoch, stopped, restarts) = if plan.restarts > 1 {
        let threads = options.threads.max(1);
        let stop = std::sync::atomic::AtomicBool::new(false);
        let kept = train_restarts(spec, &y, options.truth, &plan, threads, &|| {
            let control = observer.restart_epoch();
            if control == Control::Stop {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            control
        })?;
        let stopped = stop.into_inner();
        let model = kept.model(spec, y.nrows());
        (
            model,
            kept.trace,
            0,
            stopped,
            Some((kept.best, kept.outcomes)),
        )
    } else {
        let mut model = crate::train::initial_model(spec, &y, plan.seed, 0);
        model.run_on(Some(crate::parallel::pool(options.threads.max(1))?));
        let earlier = match &options.resume {
            Some(resume) => {
                model.restore_training(&resume.state);
                resume.trace.clone()
            }
            None => Vec::new(),
        };
        let first_epoch = earlier.len();
        if observer.start(&mut model, &earlier) == Control::Stop {
            return Ok(stopped_at(spec, model, preprocessing, earlier, first_epoch));
        }
        let mut stopped = false;
        let trace = train(
            &mut model,
            &y,
            options.truth,
            &plan,
            earlier,
            &mut |model, trace| {
                let control = observer.epoch(model, trace);
                stopped = control == Control::Stop;
                control
            },
        );
        // The pool's threads end here, not with the fitted model.
        model.run_on(None);
        let trace = trace?;
        (model, trace, first_epoch, stopped, None)
    };
    if stopped && !options.finish_when_stopped {
        let mut fit = stopped_at(spec, model, preprocessing, trace, first_epoch);
        fit.restarts = restarts;
        return Ok(fit);
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let converged_at = (trace.len() < plan.epochs && !stopped).then_some(trace.len());
    let (means, means_sd) = model.encode(&y);
    let recover = |sources: &Matrix| {
        options
            .truth
            .map(|t| crate::eval::recovery(t, sources).expect("shapes checked before training"))
    };
    // A postprocessing that cannot run loses nothing: the fit keeps its posterior means.
    let (postprocessing, postprocess_failed) =
        match Unmixing::fit_for(spec.postprocess, &means, plan.seed) {
            Ok(u) => (u, None),
            Err(why) => (None, Some(why)),
        };
    let (sources, sources_sd, recovery_before_postprocess) = match &postprocessing {
        Some(u) => {
            let (s, sd) = u.apply(&means, &means_sd);
            (s, sd, recover(&means))
        }
        None => (means, means_sd, None),
    };
    let recovery = recover(&sources);
    Ok(Fit {
        spec: spec.clone(),
        priors: model.priors(),
        model,
        preprocessing,
        trace,
        first_epoch,
        stopped,
        sources,
        sources_sd,
        recovery,
        postprocessing,
        postprocess_failed,
        recovery_before_postprocess,
        restarts,
        converged_at,
        train_seconds,
    })
}

/// Why `truth` cannot be the true sources of `rows` rows of the data named `data` for
/// `spec` (each true source is matched to a latent dimension), or `None` when it can.
pub fn truth_problem(truth: &Matrix, rows: usize, spec: &ModelSpec, data: &str) -> Option<String> {
    if truth.nrows() != rows {
        return Some(format!(
            "has {} rows, but `{data}` has {rows}: the truth must describe the data's rows",
            truth.nrows()
        ));
    }
    (truth.ncols() > spec.n()).then(|| {
        format!(
            "has {} sources, more than model `{}`'s {} latent dimensions",
            truth.ncols(),
            spec.name,
            spec.n()
        )
    })
}

/// A fit the observer stopped after `trace`'s epochs.
fn stopped_at(
    spec: &ModelSpec,
    model: Model<f32>,
    preprocessing: Preprocessing,
    trace: Vec<TraceRow>,
    first_epoch: usize,
) -> Fit {
    Fit {
        spec: spec.clone(),
        model,
        preprocessing,
        trace,
        first_epoch,
        stopped: true,
        sources: Matrix::zeros((0, 0)),
        sources_sd: Matrix::zeros((0, 0)),
        priors: Vec::new(),
        recovery: None,
        postprocessing: None,
        postprocess_failed: None,
        recovery_before_postprocess: None,
        restarts: None,
        converged_at: None,
        train_seconds: 0.0,
    }
}

impl Fit {
    /// The sources of new rows (with the columns of the data the model was fitted to),
    /// preprocessed as the training data were: posterior means and standard deviations.
    /// Without an encoder (Half-VAE) each row's latents are fitted against the frozen
    /// decoder and priors.
    pub fn encode(&self, data: &Table) -> Result<(Matrix, Matrix), FitError> {
        let post = self.postprocessing.as_ref();
        Ok(encode(&self.model, &self.preprocessing, post, data)?)
    }

    /// `rows` draws from the fitted generative model: the latents z and the decoder's mean
    /// in the data's units.
    pub fn sample(&self, rows: usize, seed: u64) -> (Matrix, Matrix) {
        sample(
            &self.model,
            &self.preprocessing,
            self.postprocessing.as_ref(),
            rows,
            seed,
        )
    }

    /// The decoder's mean for latents `z` (rows × n), in the data's units.
    pub fn decode(&self, z: &Matrix) -> Matrix {
        decode(
            &self.model,
            &self.preprocessing,
            self.postprocessing.as_ref(),
            z,
        )
    }
}

/// [`Fit::encode`] for any fitted model (a fit's, or one read from `model.safetensors`):
/// data columns → preprocessing → encoder → postprocessing.
pub fn encode(
    model: &Model<f32>,
    preprocessing: &Preprocessing,
    postprocessing: Option<&Unmixing>,
    data: &Table,
) -> Result<(Matrix, Matrix), DataError> {
    let table = crate::data::select_named("the new data", data, &preprocessing.columns)?;
    let (means, sds) = model.encode_new(&preprocessing.apply(&table.values));
    Ok(match postprocessing {
        Some(u) => u.apply(&means, &sds),
        None => (means, sds),
    })
}

/// [`Fit::sample`] for any fitted model: the sources (postprocessed, as `encode` gives
/// them) and the data columns.
pub fn sample(
    model: &Model<f32>,
    preprocessing: &Preprocessing,
    postprocessing: Option<&Unmixing>,
    rows: usize,
    seed: u64,
) -> (Matrix, Matrix) {
    let (z, y) = model.sample(rows, seed);
    let sources = match postprocessing {
        Some(u) => u.sources(&z),
        None => z,
    };
    (sources, preprocessing.invert(&y))
}

/// [`Fit::decode`] for any fitted model: sources as `encode` gives them → data columns.
pub fn decode(
    model: &Model<f32>,
    preprocessing: &Preprocessing,
    postprocessing: Option<&Unmixing>,
    sources: &Matrix,
) -> Matrix {
    let z = match postprocessing {
        Some(u) => u.invert(sources),
        None => sources.clone(),
    };
    preprocessing.invert(&model.decode(&z))
}
