//! `pdgc fit MODEL DATA -o DIR`: read, train, write every output at once or not at all.

use super::error::{CliError, Outcome};
use super::load_model_and_text;
use super::outputs::{self, check_output, same_path, OutputKind};
use super::report::{check_truth, parse_truth};
use indicatif::{ProgressBar, ProgressStyle};
use pdgc::backend::Model;
use pdgc::checkpoint::{Checkpoint, DataFingerprint};
use pdgc::data::{parse_table, Wanted};
use pdgc::files::{self, WriteError};
use pdgc::folder::{FitFolder, Provenance};
use pdgc::spec::{Choose, ModelSpec};
use pdgc::train::{Control, TraceRow};
use pdgc::FitError;
use std::ffi::{OsStr, OsString};
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
    /// Threads for training: a step's rows are split into chunks computed in parallel. The results are the same on any count.
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
    /// The true sources of the data's rows (a CSV with a header): the report shows the
    /// recovery, and the trace records each source's |corr| as training goes.
    #[arg(long, value_name = "TRUTH.csv")]
    pub truth: Option<PathBuf>,
    /// Write no report.html and no plots/.
    #[arg(long)]
    pub no_plots: bool,
    /// How many of the first rows the report's sources figure shows (default 300).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..), conflicts_with = "no_plots")]
    pub plot_rows: Option<u64>,
}

/// What `fit` will do, validated once: the checked model with the flags applied under the
/// model file's own rules, and where things go.
#[derive(Debug)]
pub struct FitConfig {
    pub model_file: PathBuf,
    /// The model file's text as read when the fit began (it is recorded in run.ron).
    pub model_text: String,
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
    pub truth: Option<PathBuf>,
    /// `None` with --no-plots; otherwise how the report is drawn.
    pub report: Option<pdgc::report::Options>,
}

impl FitConfig {
    pub fn from_args(args: FitArgs) -> Result<FitConfig, CliError> {
        let (spec, model_text) = load_model_and_text(&args.model)?;
        let mut inputs = vec![args.model.as_path(), args.data.as_path()];
        inputs.extend(args.truth.as_deref());
        check_output(&args.out, OutputKind::Fit, &inputs, args.force)?;
        // Flags replace values the checker validated in the file: held to the same rules.
        let overrides = pdgc::fit::Overrides {
            epochs: args.epochs,
            lr: args.lr,
            seed: args.seed,
        };
        let spec = overrides.apply(&spec)?;
        if spec.train.restarts > 1 {
            let flag = match (&args.checkpoint_every, &args.resume) {
                (Some(_), _) => Some("--checkpoint-every"),
                (_, Some(_)) => Some("--resume"),
                _ => None,
            };
            if let Some(flag) = flag {
                let why = format!(
                    "cannot be used with `train {{ restarts {} }}`: a checkpoint holds one fit",
                    spec.train.restarts
                );
                return Err(CliError::Flag { flag, why });
            }
        }
        let mut checkpoint = args.out.clone().into_os_string();
        checkpoint.push(".checkpoint");
        let checkpoint = PathBuf::from(checkpoint);
        // The checkpoint's name may be taken by a user's file: never overwrite that.
        let taken = checkpoint.symlink_metadata().is_ok()
            && args
                .resume
                .as_deref()
                .is_none_or(|r| !same_path(r, &checkpoint));
        if taken {
            let ours = checkpoint.symlink_metadata().is_ok_and(|m| m.is_file())
                && read_checkpoint(&checkpoint).is_ok();
            if !ours {
                return Err(CliError::Output {
                    flag: "-o",
                    path: args.out.clone(),
                    why: format!(
                        "keeps its checkpoint in `{}`, which holds something that is not a pdgc checkpoint: move it, or choose another -o",
                        checkpoint.display()
                    ),
                });
            }
        }
        outputs::check_output_file("-o", &checkpoint, &inputs)?;
        if let Some(resume) = &args.resume {
            if !resume.is_file() {
                return Err(CliError::Resume {
                    path: resume.clone(),
                    why: "no such file".into(),
                });
            }
        }
        Ok(FitConfig {
            model_file: args.model,
            model_text,
            spec,
            data: args.data,
            out: args.out,
            threads: args.threads,
            quiet: args.quiet,
            checkpoint,
            checkpoint_every: args.checkpoint_every.map(|n| n as usize),
            resume: args.resume,
            truth: args.truth,
            report: (!args.no_plots).then_some(pdgc::report::Options {
                rows: usize::try_from(args.plot_rows.unwrap_or(300)).unwrap_or(usize::MAX),
            }),
        })
    }
}

/// `pdgc fit`. From its start to its end a signal (SIGINT, SIGTERM) stops the fit at the
/// next safe point instead of ending the process: after the current epoch, or before the
/// output is swapped in; the training so far is kept in a checkpoint (a second signal ends
/// the process at once, leaving no temporary behind).
pub fn fit(config: &FitConfig) -> Outcome {
    files::defer_signals(true);
    let outcome = fit_and_write(config);
    files::defer_signals(false);
    // A signal that came while the output was being swapped in (the last safe point had
    // passed): the fit is complete and in place, and the signal still ends the process.
    if outcome.is_ok() && files::interrupted() {
        return Err(CliError::InterruptedAfterWriting {
            out: config.out.clone(),
        });
    }
    outcome
}

/// What a checkpoint of this fit must match: the data, and the truth if one was given.
#[derive(Clone, Copy)]
struct Inputs {
    data: DataFingerprint,
    truth: Option<DataFingerprint>,
}

fn fit_and_write(config: &FitConfig) -> Outcome {
    let started = Instant::now();
    // What a killed fit left beside its checkpoint (its output folder's are cleared when
    // the output is written).
    files::remove_stale_temporaries(&config.checkpoint);
    let spec = &config.spec;
    let data_name = config.data.display().to_string();
    let bytes = super::read::read_data_file(&config.data)?;
    let table = parse_table(&data_name, &bytes, Wanted::Observed(spec))?;
    let rows = table.values.nrows();
    let fingerprint = DataFingerprint::of(&bytes, rows);
    drop(bytes);
    if let Some((e, memory)) = pdgc::resources::fit_refusal_here(spec, rows, config.threads.into())
    {
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
    // The truth's bytes are read once: parsed, and fingerprinted for the checkpoint.
    let (truth, truth_fingerprint) = match &config.truth {
        Some(path) => {
            let bytes = super::read::read_data_file(path)?;
            let truth = parse_truth(path, &bytes)?;
            check_truth(&truth, rows, spec, &data_name)?;
            (Some(truth), Some(DataFingerprint::of(&bytes, rows)))
        }
        None => (None, None),
    };
    let inputs = Inputs {
        data: fingerprint,
        truth: truth_fingerprint,
    };
    let resume = match &config.resume {
        Some(path) => Some(resume(path, spec, inputs)?),
        None => None,
    };

    let options = pdgc::FitOptions {
        name: &data_name,
        threads: config.threads.into(),
        truth: truth.as_ref().map(|t| &t.values),
        resume,
        // A signal stops training; the checkpoint keeps it, and nothing is encoded.
        finish_when_stopped: false,
    };
    let epochs = spec.train.epochs * spec.train.restarts;
    let mut observer = Progress {
        config,
        inputs,
        bar: progress_bar(epochs, config.quiet),
        failed_write: None,
    };
    if spec.train.restarts > 1 {
        observer.bar.set_message(format!(
            "{} restarts, {} at a time",
            spec.train.restarts, config.threads
        ));
    }
    let fitted = pdgc::fit(spec, &table, &options, &mut observer);
    observer.bar.finish_and_clear();
    let mut fitted = fitted.map_err(|e| match e {
        FitError::Data(e) => CliError::Data(e),
        FitError::Truth(why) => CliError::Flag {
            flag: "--truth",
            why,
        },
        FitError::Diverged(source) => CliError::Diverged {
            source,
            out: config.out.clone(),
        },
        FitError::Threads(e) => CliError::Flag {
            flag: "--threads",
            why: format!("{}: {e}", config.threads),
        },
    })?;
    if let Some(e) = observer.failed_write {
        return Err(e);
    }
    if fitted.stopped {
        return Err(match fitted.restarts {
            Some(_) => CliError::InterruptedRestarts {
                out: config.out.clone(),
            },
            None => interrupted(config, &mut fitted.model, fitted.trace, inputs),
        });
    }
    let truth_path = config.truth.as_deref().map(absolute);
    let provenance = Provenance {
        model_file: config.model_file.display().to_string(),
        model_text: Some(config.model_text.clone()),
        data_file: data_name,
        data_bytes: std::fs::metadata(&config.data).map_or(0, |m| m.len()),
        threads: config.threads,
        wall_seconds: started.elapsed().as_secs_f64(),
        truth_file: truth_path.as_ref().map(|p| p.display().to_string()),
        truth_path_bytes: truth_path.as_ref().and_then(|p| {
            use std::os::unix::ffi::OsStrExt;
            p.to_str()
                .is_none()
                .then(|| p.as_os_str().as_bytes().to_vec())
        }),
    };
    let (converged_at, trace) = (fitted.converged_at, fitted.trace.clone());
    let last = trace.last().expect("at least one epoch").clone();
    let folder = FitFolder::new(fitted, provenance, truth, config.report.as_ref())
        .map_err(|e| super::report::folder_error(&config.out, e))?;
    let record = &folder.record;
    match folder.write(&config.out) {
        Err(WriteError::Stopped) if record.kept_restart.is_some() => {
            return Err(CliError::InterruptedRestarts {
                out: config.out.clone(),
            })
        }
        // Stopped after training, while writing: keep the training in a checkpoint.
        Err(WriteError::Stopped) => {
            let mut model = folder.fitted.model;
            return Err(interrupted(config, &mut model, trace, inputs));
        }
        other => other?,
    }
    // The fit is complete: its checkpoint has served (it is pdgc's own file).
    if config.checkpoint.is_file() {
        let _ = std::fs::remove_file(&config.checkpoint);
    }
    // Said even with --quiet: the sources are not what the model file asked for.
    if let Some(why) = &record.postprocess_failed {
        eprintln!(
            "warning: postprocess fastica did not run ({why}): the sources are the posterior means"
        );
    }
    if !config.quiet {
        let mcc = record
            .mcc
            .map_or(String::new(), |m| format!("; MCC {m:.4}"));
        if let Some(kept) = record.kept_restart {
            let o = &record.restarts[kept];
            let why = match spec.train.choose {
                Choose::Objective => format!(
                    "the lowest final objective, {:.5}",
                    o.objective.unwrap_or(f64::NAN)
                ),
                Choose::Independence => format!(
                    "the least dependent sources, mean distance correlation {:.4}",
                    o.dependence.unwrap_or(f64::NAN)
                ),
                Choose::Agreement => format!(
                    "the most agreement with the others, mean MCC {:.4}",
                    o.agreement.unwrap_or(f64::NAN)
                ),
            };
            eprintln!(
                "kept restart {kept} of {} (seed {}): {why}",
                record.restarts.len(),
                o.seed,
            );
        }
        if let (Some(at), Some(tol)) = (converged_at, spec.train.tol) {
            eprintln!(
                "stopped at epoch {at} of {}: the loss's mean over each of the last {} windows of {} epochs changed by less than tol {tol}",
                spec.train.epochs,
                pdgc::train::TOL_WINDOWS_BELOW + 1,
                pdgc::train::TOL_WINDOW
            );
        }
        eprintln!(
            "fitted {} to {rows} rows in {:.1}s ({} epochs/s); final loss {:.5}{mcc}; wrote {}",
            spec.name,
            record.train_seconds,
            pdgc::folder::rate(record.epochs_per_second),
            last.terms.loss,
            config.out.display()
        );
        if config.report.is_some() {
            eprintln!("report: {}", config.out.join("report.html").display());
        }
    }
    Ok(())
}

/// `path` made absolute (against the current folder), as it is recorded.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The state of a fit stopped by a signal after `trace`'s epochs, written to its
/// checkpoint; the error says so and how to go on. When even the checkpoint cannot be
/// written, the error says that.
fn interrupted(
    config: &FitConfig,
    model: &mut Model<f32>,
    trace: Vec<TraceRow>,
    inputs: Inputs,
) -> CliError {
    let epoch = trace.len();
    let checkpoint = Checkpoint {
        model: config.spec.clone(),
        data: inputs.data,
        truth: inputs.truth,
        trace,
        state: model.training_state(),
    };
    match write_checkpoint(&config.checkpoint, &checkpoint) {
        Ok(()) => CliError::Interrupted {
            epoch,
            epochs: config.spec.train.epochs,
            out: config.out.clone(),
            resume: resume_command(&config.checkpoint),
        },
        Err(e) => e,
    }
}

/// Training's answer to a signal: stop at this safe point.
fn stop_if_interrupted() -> Control {
    match files::interrupted() {
        true => Control::Stop,
        false => Control::Continue,
    }
}

/// What `fit` does while training: the progress bar, checkpoints every N epochs, and a
/// stop at the next safe point when a signal came.
struct Progress<'a> {
    config: &'a FitConfig,
    inputs: Inputs,
    bar: ProgressBar,
    /// A checkpoint that could not be written: training stops and this is the error.
    failed_write: Option<CliError>,
}

impl pdgc::Observer for Progress<'_> {
    /// A signal that came while the data were read: epoch 0 (or the resumed one) is kept.
    fn start(&mut self, _model: &mut Model<f32>, trace: &[TraceRow]) -> Control {
        self.bar.set_position(trace.len() as u64);
        stop_if_interrupted()
    }

    fn epoch(&mut self, model: &mut Model<f32>, trace: &[TraceRow]) -> Control {
        let row = trace.last().expect("after an epoch");
        self.bar.set_message(format!(
            "loss {:.5}  {} epochs/s",
            row.terms.loss,
            pdgc::folder::rate(self.bar.per_sec())
        ));
        self.bar.inc(1);
        if stop_if_interrupted() == Control::Stop {
            return Control::Stop;
        }
        let due = self
            .config
            .checkpoint_every
            .is_some_and(|n| row.epoch.is_multiple_of(n));
        if due {
            let checkpoint = Checkpoint {
                model: self.config.spec.clone(),
                data: self.inputs.data,
                truth: self.inputs.truth,
                trace: trace.to_vec(),
                state: model.training_state(),
            };
            if let Err(e) = write_checkpoint(&self.config.checkpoint, &checkpoint) {
                self.failed_write = Some(e);
                return Control::Stop;
            }
        }
        Control::Continue
    }

    /// Restarts keep no checkpoint: a signal stops them all, and nothing is written.
    fn restart_epoch(&self) -> Control {
        self.bar.inc(1);
        stop_if_interrupted()
    }
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

/// The state and trace of the checkpoint at `path`, made for the same model (but for its
/// number of epochs), the same data and the same truth.
fn resume(path: &Path, spec: &ModelSpec, inputs: Inputs) -> Result<pdgc::fit::Resume, CliError> {
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
    if checkpoint.data != inputs.data {
        return Err(refuse("it was made on other data".into()));
    }
    let truth_why = match (checkpoint.truth, inputs.truth) {
        (Some(_), None) => Some("it was made with --truth: give the same --truth again"),
        (None, Some(_)) => Some(
            "it was made without --truth, and the trace so far holds no recovery: resume without --truth, and draw the recovery afterwards with `pdgc report FIT --truth …`",
        ),
        (Some(a), Some(b)) if a != b => Some("it was made with another --truth file"),
        _ => None,
    };
    if let Some(why) = truth_why {
        return Err(refuse(why.into()));
    }
    if inputs.truth.is_some() && checkpoint.model.train.epochs != spec.train.epochs {
        return Err(refuse(format!(
            "with --truth, a resumed fit keeps the checkpoint's --epochs ({}): the recovery is recorded at epochs that depend on it",
            checkpoint.model.train.epochs
        )));
    }
    if checkpoint.epoch() > spec.train.epochs {
        return Err(refuse(format!(
            "it has trained {} epochs already, more than the {} asked for",
            checkpoint.epoch(),
            spec.train.epochs
        )));
    }
    Ok(pdgc::fit::Resume {
        state: checkpoint.state,
        trace: checkpoint.trace,
    })
}

/// Writes a checkpoint whole or not at all.
fn write_checkpoint(path: &Path, checkpoint: &Checkpoint) -> Result<(), CliError> {
    Ok(files::write_file_atomically(path, &checkpoint.to_bytes()?)?)
}

/// This command line again, resuming from `checkpoint`, every word quoted for the shell
/// (so that pasting it runs pdgc and nothing else, whatever the paths hold).
fn resume_command(checkpoint: &Path) -> String {
    let mut words: Vec<OsString> = vec!["pdgc".into()];
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--resume" {
            args.next();
        } else if !arg.as_encoded_bytes().starts_with(b"--resume=") {
            words.push(arg);
        }
    }
    words.push("--resume".into());
    words.push(checkpoint.as_os_str().to_owned());
    words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One word quoted for a POSIX shell; a word that is not UTF-8 text is written in bash's
/// `$'…'` form with its bytes escaped, so the line stays text and pastes back exactly.
pub fn shell_word(word: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    if let Some(quoted) = word.to_str().and_then(|w| shlex::try_quote(w).ok()) {
        return quoted.into_owned();
    }
    let mut text = String::from("$'");
    for &b in word.as_bytes() {
        match b {
            b'\\' | b'\'' => {
                text.push('\\');
                text.push(b as char);
            }
            0x20..=0x7e => text.push(b as char),
            _ => text += &format!("\\x{b:02x}"),
        }
    }
    text.push('\'');
    text
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
