//! `pdgc fit MODEL DATA -o DIR`: read, train, write every output at once or not at all.

use super::{load_model, Outcome};
use crate::backend::{Mixture, Model};
use crate::data::{read_observed, write_csv, Precision, Preprocessing};
use crate::matrix::Matrix;
use crate::spec::ModelSpec;
use crate::train::{train, Options, TraceRow};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Metadata key, in the fitted-model file, of the data preprocessing (RON).
pub const PREPROCESSING_KEY: &str = "pdgc.preprocessing";

/// What `fit` was asked to do: its command-line arguments.
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

pub fn fit(args: &FitArgs) -> Outcome {
    let started = Instant::now();
    let mut spec = match load_model(&args.model) {
        Ok(spec) => spec,
        Err(message) => return Outcome::BadInput(message),
    };
    // Flags replace values the checker validated in the file: hold them to the same rules.
    if let Some(e) = args.epochs {
        if e == 0 {
            return Outcome::BadInput("error: --epochs must be at least 1".to_string());
        }
        spec.train.epochs = e;
    }
    if let Some(lr) = args.lr {
        if !(lr.is_finite() && lr > 0.0) {
            return Outcome::BadInput(format!("error: --lr must be a positive number, found {lr}"));
        }
        spec.train.lr = lr;
    }
    if let Some(seed) = args.seed {
        spec.train.seed = seed;
    }
    let data_name = args.data.display().to_string();
    let table = match read_observed(&args.data, &spec) {
        Ok(t) => t,
        Err(message) => return Outcome::BadInput(message),
    };
    let preprocessing = match Preprocessing::fit(&data_name, &table, spec.preprocess) {
        Ok(s) => s,
        Err(message) => return Outcome::BadInput(message),
    };
    let y = preprocessing.apply(&table.values);

    let mut model = Model::<f32>::new(&spec, y.rows, spec.train.seed);
    let bar = progress_bar(spec.train.epochs, args.quiet);
    let train_started = Instant::now();
    let options = Options {
        epochs: spec.train.epochs,
        seed: spec.train.seed,
        prior_every: (spec.train.epochs / 100).max(1),
    };
    let result = train(&mut model, &y, &options, &mut |row| {
        bar.set_message(format!(
            "loss {:.5}  {:.0} epochs/s",
            row.terms.loss,
            bar.per_sec()
        ));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let train_seconds = train_started.elapsed().as_secs_f64();
    let trace = match result {
        Ok(trace) => trace,
        Err(diverged) => {
            return Outcome::JobFailed(format!(
                "error: {diverged}; nothing was written to `{}`\n  hint: a smaller learning rate (--lr) or β usually helps",
                args.out.display()
            ))
        }
    };

    let (means, sds) = model.encode(&y);
    let last = trace.last().expect("at least one epoch");
    let priors = model.priors();
    let record = RunRecord {
        pdgc_version: env!("CARGO_PKG_VERSION"),
        model_file: args.model.display().to_string(),
        data_file: data_name,
        data_bytes: std::fs::metadata(&args.data).map(|m| m.len()).unwrap_or(0),
        rows: y.rows,
        columns: table.columns.clone(),
        threads: args.threads,
        model: spec.clone(),
        preprocessing: preprocessing.clone(),
        wall_seconds: started.elapsed().as_secs_f64(),
        train_seconds,
        epochs_per_second: spec.train.epochs as f64 / train_seconds.max(1e-9),
        final_loss: last.terms.loss,
        final_reconstruction: last.terms.reconstruction,
        final_kl: last.terms.kl(),
    };
    let written = write_atomically(&args.out, |dir| {
        let z = &spec.latent.name;
        let (header, both) = sources_table(&spec, &means, &sds);
        write_csv(&dir.join("sources.csv"), &header, &both, Precision::Single).map_err(io_error)?;
        write_trace(&dir.join("trace.csv"), &spec, &trace)?;
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
        let preprocessing_text = ron::to_string(&preprocessing).map_err(|e| e.to_string())?;
        model.save(
            &dir.join("model.safetensors"),
            y.rows,
            &[(PREPROCESSING_KEY, preprocessing_text)],
        )
    });
    match written {
        Ok(()) => {
            if !args.quiet {
                eprintln!(
                    "fitted {} to {} rows in {:.1}s ({:.0} epochs/s); final loss {:.5}; wrote {}",
                    spec.name,
                    y.rows,
                    train_seconds,
                    record.epochs_per_second,
                    last.terms.loss,
                    args.out.display()
                );
            }
            Outcome::Ok
        }
        Err(message) => Outcome::JobFailed(format!("error: {message}")),
    }
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

fn io_error(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn write_ron(path: &Path, value: &impl Serialize) -> Result<(), String> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::new().struct_names(true))
        .map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// trace.csv: one row per epoch; the prior columns are filled every few epochs.
fn write_trace(path: &Path, spec: &ModelSpec, trace: &[TraceRow]) -> Result<(), String> {
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
    let mut w = csv::Writer::from_path(path).map_err(io_error)?;
    w.write_record(&header).map_err(io_error)?;
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
        w.write_record(&cells).map_err(io_error)?;
    }
    w.flush().map_err(io_error)
}

fn prior_cells(p: &Mixture) -> Vec<String> {
    (0..p.weights.len())
        .flat_map(|k| [p.weights[k], p.means[k], p.variances[k]])
        .map(|v| format!("{}", v as f32))
        .collect()
}

/// Writes into a fresh sibling folder and only then puts it in place of `out`, so a run
/// that fails leaves an earlier `out` as it was.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)
        .map_err(|e| format!("cannot create `{}`: {e}", staging.display()))?;
    if let Err(e) = write(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let previous = parent.join(format!(".{name}.previous-{}", std::process::id()));
    if out.exists() {
        std::fs::rename(out, &previous)
            .map_err(|e| format!("cannot move aside `{}`: {e}", out.display()))?;
    }
    if let Err(e) = std::fs::rename(&staging, out) {
        // Put the earlier result back where it was.
        let _ = std::fs::rename(&previous, out);
        return Err(format!("cannot write `{}`: {e}", out.display()));
    }
    let _ = std::fs::remove_dir_all(&previous);
    Ok(())
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
