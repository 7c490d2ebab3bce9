//! `pdgc fit MODEL DATA -o DIR`: read, train, write every output at once or not at all.

use super::error::{CliError, Outcome};
use super::files::{
    self, check_output, write_atomically, write_bytes, write_csv, write_error, write_ron,
    OutputKind,
};
use super::load_model;
use indicatif::{ProgressBar, ProgressStyle};
use pdgc::backend::{Mixture, Model};
use pdgc::checkpoint::{Checkpoint, DataFingerprint};
use pdgc::data::{parse_table, DataError, Precision, Preprocessing, Wanted};
use pdgc::fitted::Fitted;
use pdgc::matrix::Matrix;
use pdgc::spec::ModelSpec;
use pdgc::train::{train, Control, Options, TraceRow};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `fit` was asked to do: its command-line arguments, as typed.
#[derive(clap::Args, Debug)]
pub struct FitArgs {
    /// The `.pdg` model file.
    pub model: PathBuf,
    /// A CSV file with a header row; the model's observed columns are used.
    pub data: PathBuf,
    /// Output folder (replaced only when the fit succeeds).
    #[arg(short, long, default_value = "fit")]
    pub out: PathBuf,
    /// Epochs (overrides the model file).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam learning rate (overrides the model file).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Random seed (overrides the model file).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for the matrix products; results are reproducible for a given count.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Replace the output folder even if it holds something other than an earlier fit
    /// (never a file, nor a folder holding the model or the data).
    #[arg(long)]
    pub force: bool,
    /// Write a checkpoint (OUT.checkpoint) every N epochs; one is also written when the
    /// fit is interrupted (SIGINT, SIGTERM).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
    /// Go on from a checkpoint of the same model and data (with the same flags; --epochs
    /// may be larger).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
}

/// What `fit` will do, validated once: the checked model with the flags applied under the
/// model file's own rules, and where things go.
#[derive(Debug)]
pub struct FitConfig {
    pub model_file: PathBuf,
    pub spec: ModelSpec,
    pub data: PathBuf,
    pub out: PathBuf,
    pub threads: u16,
    pub quiet: bool,
    /// Where checkpoints go: OUT.checkpoint, beside the output folder (which appears
    /// only when the fit succeeds).
    pub checkpoint: PathBuf,
    pub checkpoint_every: Option<usize>,
    pub resume: Option<PathBuf>,
}

impl FitConfig {
    pub fn from_args(args: FitArgs) -> Result<FitConfig, CliError> {
        let mut spec = load_model(&args.model)?;
        let inputs = [args.model.as_path(), args.data.as_path()];
        check_output(&args.out, OutputKind::Fit, &inputs, args.force)?;
        // Flags replace values the checker validated in the file: held to the same rules.
        if let Some(e) = args.epochs {
            if e == 0 {
                let why = "must be at least 1".to_string();
                return Err(CliError::Flag {
                    flag: "--epochs",
                    why,
                });
            }
            spec.train.epochs = e;
        }
        if let Some(lr) = args.lr {
            if !(lr.is_finite() && lr > 0.0) {
                let why = format!("must be a positive number, found {lr}");
                return Err(CliError::Flag { flag: "--lr", why });
            }
            spec.train.lr = lr;
        }
        if let Some(seed) = args.seed {
            spec.train.seed = seed;
        }
        let mut checkpoint = args.out.clone().into_os_string();
        checkpoint.push(".checkpoint");
        let checkpoint = PathBuf::from(checkpoint);
        // The checkpoint's name may be taken by a user's file: never overwrite that.
        if checkpoint.exists() && Some(&checkpoint) != args.resume.as_ref() {
            read_checkpoint(&checkpoint).map_err(|_| CliError::Output {
                path: checkpoint.clone(),
                why: "is where this fit keeps its checkpoint, and holds something else: move it, or choose another -o".into(),
            })?;
        }
        Ok(FitConfig {
            model_file: args.model,
            spec,
            data: args.data,
            out: args.out,
            threads: args.threads,
            quiet: args.quiet,
            checkpoint,
            checkpoint_every: args.checkpoint_every.map(|n| n as usize),
            resume: args.resume,
        })
    }
}

/// `run.ron`: everything needed to re-run and to judge the result.
#[derive(Serialize)]
struct RunRecord {
    pdgc_version: &'static str,
    model_file: String,
    data_file: String,
    data_bytes: u64,
    rows: usize,
    columns: Vec<String>,
    threads: u16,
    model: ModelSpec,
    preprocessing: Preprocessing,
    wall_seconds: f64,
    train_seconds: f64,
    epochs_per_second: f64,
    final_loss: f64,
    final_reconstruction: f64,
    final_kl: f64,
}

/// `priors.ron`: one entry per latent dimension.
#[derive(Serialize)]
struct FittedPrior {
    dimension: String,
    weights: Vec<f64>,
    means: Vec<f64>,
    variances: Vec<f64>,
    posterior_variance: f64,
}

pub fn fit(config: &FitConfig) -> Outcome {
    let started = Instant::now();
    let spec = &config.spec;
    let data_name = config.data.display().to_string();
    let bytes = std::fs::read(&config.data).map_err(|source| DataError::Read {
        file: data_name.clone(),
        source,
    })?;
    let table = parse_table(&data_name, &bytes, Wanted::Observed(spec))?;
    let rows = table.values.rows;
    let fingerprint = DataFingerprint::of(&bytes, rows);
    drop(bytes);
    if let Some(memory) = pdgc::resources::machine_memory() {
        if let Some(e) = pdgc::resources::fit_refusal(spec, rows, memory) {
            return Err(CliError::TooLarge {
                what: format!(
                    "training `{}` on the {rows} rows of `{data_name}` (mostly {})",
                    spec.name,
                    e.largest.what()
                ),
                needs: e.bytes,
                has: memory,
            });
        }
    }
    let preprocessing = Preprocessing::fit(&data_name, &table, spec.preprocess)?;
    let y = preprocessing.apply(&table.values);

    let mut model = Model::<f32>::new(spec, y.rows, spec.train.seed);
    let earlier = match &config.resume {
        Some(path) => resume(path, spec, fingerprint, &mut model)?,
        None => Vec::new(),
    };
    let bar = progress_bar(spec.train.epochs, config.quiet);
    bar.set_position(earlier.len() as u64);
    let train_started = Instant::now();
    let options = Options {
        epochs: spec.train.epochs,
        seed: spec.train.seed,
        prior_every: (spec.train.epochs / 100).max(1),
    };
    let mut failed_write = None;
    files::training(true);
    let result = train(&mut model, &y, &options, earlier, &mut |model, trace| {
        let row = trace.last().expect("after an epoch");
        bar.set_message(format!(
            "loss {:.5}  {:.0} epochs/s",
            row.terms.loss,
            bar.per_sec()
        ));
        bar.inc(1);
        let due = config.checkpoint_every.is_some_and(|n| row.epoch % n == 0);
        let stop = files::interrupted();
        if due || stop {
            let checkpoint = Checkpoint {
                model: spec.clone(),
                data: fingerprint,
                trace: trace.to_vec(),
                state: model.training_state(),
            };
            if let Err(e) = write_checkpoint(&config.checkpoint, &checkpoint) {
                failed_write = Some(e);
                return Control::Stop;
            }
        }
        if stop {
            Control::Stop
        } else {
            Control::Continue
        }
    });
    files::training(false);
    bar.finish_and_clear();
    let train_seconds = train_started.elapsed().as_secs_f64();
    let trace = result.map_err(|source| CliError::Diverged {
        source,
        out: config.out.clone(),
    })?;
    if let Some(e) = failed_write {
        return Err(e);
    }
    if trace.len() < spec.train.epochs {
        return Err(CliError::Interrupted {
            epoch: trace.len(),
            epochs: spec.train.epochs,
            out: config.out.clone(),
            resume: resume_command(&config.checkpoint),
        });
    }

    let (means, sds) = model.encode(&y);
    let last = trace.last().expect("at least one epoch");
    let priors = model.priors();
    let record = RunRecord {
        pdgc_version: env!("CARGO_PKG_VERSION"),
        model_file: config.model_file.display().to_string(),
        data_file: data_name,
        data_bytes: std::fs::metadata(&config.data).map_or(0, |m| m.len()),
        rows: y.rows,
        columns: table.columns.clone(),
        threads: config.threads,
        model: spec.clone(),
        preprocessing: preprocessing.clone(),
        wall_seconds: started.elapsed().as_secs_f64(),
        train_seconds,
        epochs_per_second: spec.train.epochs as f64 / train_seconds.max(1e-9),
        final_loss: last.terms.loss,
        final_reconstruction: last.terms.reconstruction,
        final_kl: last.terms.kl(),
    };
    let fitted_model = Fitted {
        model,
        preprocessing,
        rows,
    };
    write_atomically(&config.out, |dir| {
        let z = &spec.latent.name;
        let (header, both) = sources_table(spec, &means, &sds);
        write_csv(&dir.join("sources.csv"), &header, &both, Precision::Single)?;
        write_trace(&dir.join("trace.csv"), spec, &trace)?;
        let fitted: Vec<FittedPrior> = priors
            .iter()
            .enumerate()
            .map(|(j, p)| FittedPrior {
                dimension: format!("{z}{j}"),
                weights: p.weights.clone(),
                means: p.means.clone(),
                variances: p.variances.clone(),
                posterior_variance: last.posterior_variances[j],
            })
            .collect();
        write_ron(&dir.join("priors.ron"), &fitted)?;
        write_ron(&dir.join("run.ron"), &record)?;
        let path = dir.join("model.safetensors");
        let bytes = fitted_model.to_bytes()?;
        write_bytes(&path, &bytes)
    })?;
    // The fit is complete: its checkpoint has served (it is pdgc's own file).
    if config.checkpoint.exists() {
        let _ = std::fs::remove_file(&config.checkpoint);
    }
    if !config.quiet {
        eprintln!(
            "fitted {} to {rows} rows in {train_seconds:.1}s ({:.0} epochs/s); final loss {:.5}; wrote {}",
            spec.name,
            record.epochs_per_second,
            last.terms.loss,
            config.out.display()
        );
    }
    Ok(())
}

/// Reads a checkpoint file.
fn read_checkpoint(path: &Path) -> Result<Checkpoint, CliError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CliError::Resume {
        path: path.to_path_buf(),
        why: source.to_string(),
    })?;
    Ok(Checkpoint::from_bytes(&file, &bytes)?)
}

/// Restores `model` from the checkpoint at `path`, made for the same model (but for its
/// number of epochs) and the same data; returns the trace so far.
fn resume(
    path: &Path,
    spec: &ModelSpec,
    data: DataFingerprint,
    model: &mut Model<f32>,
) -> Result<Vec<TraceRow>, CliError> {
    let checkpoint = read_checkpoint(path)?;
    let refuse = |why: String| CliError::Resume {
        path: path.to_path_buf(),
        why,
    };
    let mut same = checkpoint.model.clone();
    same.train.epochs = spec.train.epochs;
    if &same != spec {
        return Err(refuse(
            "it was made for another model, or with other flags (only --epochs may differ)".into(),
        ));
    }
    if checkpoint.data != data {
        return Err(refuse("it was made on other data".into()));
    }
    if checkpoint.epoch() > spec.train.epochs {
        return Err(refuse(format!(
            "it has trained {} epochs already, more than the {} asked for",
            checkpoint.epoch(),
            spec.train.epochs
        )));
    }
    model.restore_training(&checkpoint.state);
    Ok(checkpoint.trace)
}

/// Writes a checkpoint whole or not at all (a sibling file renamed into place).
fn write_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), CliError> {
    let bytes = checkpoint.to_bytes()?;
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    write_bytes(&partial, &bytes)?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        files::write_error(path)(e)
    })
}

/// This command line again, resuming from `checkpoint`.
fn resume_command(checkpoint: &Path) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--resume" {
            args.next();
        } else if !arg.starts_with("--resume=") {
            words.push(arg);
        }
    }
    words.push("--resume".into());
    words.push(checkpoint.display().to_string());
    let quote = |w: &String| match w.contains(|c: char| c.is_whitespace() || c == '\'') {
        true => format!("'{}'", w.replace('\'', "'\\''")),
        false => w.clone(),
    };
    format!(
        "pdgc {}",
        words.iter().map(quote).collect::<Vec<_>>().join(" ")
    )
}

fn progress_bar(epochs: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(epochs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} epoch {pos}/{len}  {msg}  {eta} left")
            .expect("a valid progress template"),
    );
    bar
}

/// trace.csv: one row per epoch; the prior columns are filled every few epochs.
fn write_trace(path: &Path, spec: &ModelSpec, trace: &[TraceRow]) -> Result<(), CliError> {
    let io_error = write_error(path);
    let z = &spec.latent.name;
    let n = spec.n();
    let mut header: Vec<String> = ["epoch", "loss", "reconstruction", "kl", "log_q", "log_p"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((0..n).map(|j| format!("sigma2_{z}{j}")));
    for j in 0..n {
        for k in 0..spec.prior.family(j).components() {
            header.extend(
                ["weight", "mean", "var"]
                    .iter()
                    .map(|what| format!("{z}{j}_{what}{k}")),
            );
        }
    }
    let csv_error = |e: csv::Error| io_error(e.into());
    let mut w = csv::Writer::from_path(path).map_err(csv_error)?;
    w.write_record(&header).map_err(csv_error)?;
    for row in trace {
        let t = &row.terms;
        let mut cells: Vec<String> = vec![row.epoch.to_string()];
        cells.extend(
            [t.loss, t.reconstruction, t.kl(), t.log_q, t.log_p]
                .iter()
                .map(|v| format!("{}", *v as f32)),
        );
        cells.extend(
            row.posterior_variances
                .iter()
                .map(|v| format!("{}", *v as f32)),
        );
        match &row.priors {
            Some(priors) => {
                for p in priors {
                    cells.extend(prior_cells(p));
                }
            }
            None => cells.resize(header.len(), String::new()),
        }
        w.write_record(&cells).map_err(csv_error)?;
    }
    w.flush().map_err(io_error)
}

fn prior_cells(p: &Mixture) -> Vec<String> {
    (0..p.weights.len())
        .flat_map(|k| [p.weights[k], p.means[k], p.variances[k]])
        .map(|v| format!("{}", v as f32))
        .collect()
}

/// The sources table: `z0..z{n-1}` posterior means, then `z0_sd..` standard deviations.
pub fn sources_table(spec: &ModelSpec, means: &Matrix, sds: &Matrix) -> (Vec<String>, Matrix) {
    let z = &spec.latent.name;
    let n = spec.n();
    let header = (0..n)
        .map(|j| format!("{z}{j}"))
        .chain((0..n).map(|j| format!("{z}{j}_sd")))
        .collect();
    (header, means.beside(sds))
}
