//! Every way a command can fail, turned into one message and one exit code here, and
//! nowhere else: `error:` is printed once, by `main`.

use pdgc::checkpoint::CheckpointError;
use pdgc::data::DataError;
use pdgc::fitted::FitFileError;
use pdgc::report::ReportError;
use pdgc::resources::{human, Estimate, MemoryLimit};
use pdgc::trace::TraceError;
use pdgc::train::Diverged;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The model text is wrong: the rendered diagnostics, which carry their own `error:`.
    #[error("{rendered}")]
    Model { rendered: String },
    #[error("cannot read model file `{file}`: {source}")]
    ModelRead {
        file: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    FitFile(#[from] FitFileError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A checkpoint that does not belong to this model or data.
    #[error("cannot resume from `{}`: {why}", .path.display())]
    Resume { path: PathBuf, why: String },
    /// SIGINT or SIGTERM during training: a checkpoint was written.
    #[error("interrupted after epoch {epoch} of {epochs}; nothing was written to `{}`\n  resume with: {resume}", .out.display())]
    Interrupted {
        epoch: usize,
        epochs: usize,
        out: PathBuf,
        resume: String,
    },
    /// SIGINT or SIGTERM during `train { restarts }`, which keeps no checkpoint.
    #[error("interrupted during the restarts; nothing was written to `{}` (a fit with restarts keeps no checkpoint: run it again to start over)", .out.display())]
    InterruptedRestarts { out: PathBuf },
    /// SIGINT or SIGTERM while a complete fit was being put in place: it is there.
    #[error("interrupted; the fit had finished and is complete in `{}`", .out.display())]
    InterruptedAfterWriting { out: PathBuf },
    /// A flag's value breaks the rule the model file's setting keeps.
    #[error("{flag} {why}")]
    Flag { flag: &'static str, why: String },
    /// An output path that must not be written to, or replaced, given with `flag`.
    #[error("{}`{}` {why}", lead(flag), .path.display())]
    Output {
        flag: &'static str,
        path: PathBuf,
        why: String,
    },
    /// A signal arrived while a fit wrote its output: nothing was swapped in (the fit
    /// turns this into `Interrupted`, with a checkpoint).
    #[error("interrupted; the output was not put in place, and earlier files are as they were")]
    StoppedBeforeSwap,
    /// A request that needs more memory than this process may use.
    #[error("{what} needs {}; {} {}", human(*.needs), .has.source, human(.has.bytes))]
    TooLarge {
        what: String,
        needs: u128,
        has: MemoryLimit,
    },
    #[error("cannot compare `{truth}` with `{estimate}`: {why}")]
    Compare {
        truth: String,
        estimate: String,
        why: String,
    },
    #[error("{source}; nothing was written to `{}`\n  hint: a smaller learning rate (--lr) or β usually helps", .out.display())]
    Diverged { source: Diverged, out: PathBuf },
    #[error("cannot write `{}`: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the output: {0}")]
    Stdout(std::io::Error),
    /// Some runs of `compare` failed (their errors were printed as they happened).
    #[error("{failed} of {total} runs failed; the table summarises the others")]
    RunsFailed { failed: usize, total: usize },
    /// The baseline could not run on this data.
    #[error("{file}: {why}")]
    Baseline { file: String, why: String },
    /// A fit folder that `report` cannot read.
    #[error("`{}` {why}", .path.display())]
    FitFolder { path: PathBuf, why: String },
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl CliError {
    /// 2 for bad input, 1 for a job that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Model { .. }
            | CliError::ModelRead { .. }
            | CliError::Data(_)
            | CliError::FitFile(_)
            | CliError::Resume { .. }
            | CliError::Flag { .. }
            | CliError::Output { .. }
            | CliError::TooLarge { .. }
            | CliError::Compare { .. }
            | CliError::FitFolder { .. }
            | CliError::Baseline { .. }
            | CliError::Trace(_)
            | CliError::Report(ReportError::Truth { .. }) => 2,
            CliError::Diverged { .. }
            | CliError::Write { .. }
            | CliError::Stdout(_)
            | CliError::Checkpoint(CheckpointError::Store(_))
            | CliError::Report(ReportError::Draw { .. })
            | CliError::RunsFailed { .. } => 1,
            CliError::Checkpoint(_) => 2,
            CliError::Interrupted { .. }
            | CliError::InterruptedRestarts { .. }
            | CliError::InterruptedAfterWriting { .. }
            | CliError::StoppedBeforeSwap => 130,
        }
    }

    /// What is printed on standard error, ending in a line break.
    pub fn message(&self) -> String {
        match self {
            CliError::Model { rendered } => rendered.clone(),
            other => format!("error: {other}\n"),
        }
    }
}

/// A flag and a space, or nothing for an output no flag named.
fn lead(flag: &str) -> String {
    match flag {
        "" => String::new(),
        flag => format!("{flag} "),
    }
}

/// `Result` of a command.
pub type Outcome = Result<(), CliError>;

/// Refuses a request whose `estimate` exceeds this machine's memory, saying `what` it was.
pub fn within_memory(estimate: Estimate, what: impl FnOnce() -> String) -> Outcome {
    within(estimate, pdgc::resources::memory_limit(), what)
}

/// Refuses to start `count` threads where the address-space limit cannot hold their stacks
/// (a thread that cannot get them aborts the process), saying `what` they are for.
pub fn threads_fit(count: usize, what: impl FnOnce() -> String) -> Outcome {
    within(
        pdgc::resources::threads(count),
        pdgc::resources::address_space_limit(),
        what,
    )
}

/// Refuses `estimate` when it exceeds `limit` (none: nothing is refused).
fn within(
    estimate: Estimate,
    limit: Option<MemoryLimit>,
    what: impl FnOnce() -> String,
) -> Outcome {
    match limit {
        Some(has) if !estimate.fits(has.bytes) => Err(CliError::TooLarge {
            what: what(),
            needs: estimate.bytes,
            has,
        }),
        _ => Ok(()),
    }
}

/// A flag given over a model file's setting, out of the range the file's is held to: named
/// as the flag, in the library's words (what `fit` and `compare` say alike).
impl From<pdgc::fit::OverrideError> for CliError {
    fn from(e: pdgc::fit::OverrideError) -> Self {
        let flag = match e.name {
            "epochs" => "--epochs",
            "lr" => "--lr",
            // The one other setting, which takes any value.
            _ => "--seed",
        };
        CliError::Flag { flag, why: e.why }
    }
}

impl From<pdgc::files::WriteError> for CliError {
    fn from(e: pdgc::files::WriteError) -> Self {
        match e {
            pdgc::files::WriteError::Io { path, source } => CliError::Write { path, source },
            pdgc::files::WriteError::Stopped => CliError::StoppedBeforeSwap,
        }
    }
}
