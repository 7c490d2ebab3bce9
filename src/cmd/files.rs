//! Every file the commands write goes through here: CSV and RON files, and whole output
//! folders that appear at once or not at all, and only where they replace nothing but an
//! earlier output of the same command.

use super::error::CliError;
use pdgc::data::{write_csv_to, Precision};
use pdgc::matrix::Matrix;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The error of a failed write to `path`.
pub fn write_error(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |source| CliError::Write {
        path: path.to_path_buf(),
        source,
    }
}

pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(write_error(path))
}

/// A file an output may replace: a missing one, or one pdgc wrote (it holds `mark`).
/// Anything else is the user's, and refused as `what` it is not.
pub fn check_own_file(path: &Path, mark: &str, what: &str) -> Result<(), CliError> {
    if !path.exists() {
        return Ok(());
    }
    let ours = std::fs::read_to_string(path).is_ok_and(|text| text.contains(mark));
    if path.is_file() && ours {
        return Ok(());
    }
    Err(CliError::Output {
        path: path.to_path_buf(),
        why: format!("exists and is not {what}; it is not replaced: choose another name"),
    })
}

/// Writes a file whole or not at all: a sibling file renamed into place, so a reader (or
/// a failure half-way) never sees part of it, and a file it replaces stays until then.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    write_bytes(&partial, bytes)?;
    std::fs::rename(&partial, path).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        write_error(path)(e)
    })
}

/// Writes a CSV file, making its folder first if needed.
pub fn write_csv(
    path: &Path,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    }
    let file = std::fs::File::create(path).map_err(write_error(path))?;
    write_csv_to(file, header, x, precision).map_err(write_error(path))
}

pub fn write_ron(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::new().struct_names(true))
        .map_err(|e| write_error(path)(std::io::Error::other(e)))?;
    write_bytes(path, (text + "\n").as_bytes())
}

/// What a folder written by a command holds, so that a later run knows it may replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `pdgc fit`: recognised by its `run.ron`.
    Fit,
    /// `pdgc simulate`: `data.csv` and `truth.csv`, nothing else.
    Simulation,
}

impl OutputKind {
    fn holds_earlier_output(self, dir: &Path) -> bool {
        match self {
            OutputKind::Fit => dir.join("run.ron").is_file(),
            OutputKind::Simulation => std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.filter_map(Result::ok).all(|e| {
                    let name = e.file_name();
                    name == "data.csv" || name == "truth.csv" || name == "mixing.csv"
                })
            }),
        }
    }

    fn what(self) -> &'static str {
        match self {
            OutputKind::Fit => "an earlier pdgc fit (it has no run.ron)",
            OutputKind::Simulation => {
                "an earlier `pdgc simulate` (only data.csv, truth.csv and mixing.csv)"
            }
        }
    }
}

/// Whether `out` may receive a command's output folder; checked before any work is done.
/// A missing or empty folder, or one holding an earlier output of the same kind, may be
/// replaced; `force` allows any other folder. Never: a file, the current folder or one
/// that contains it, or a folder that holds one of the command's `inputs`.
pub fn check_output(
    out: &Path,
    kind: OutputKind,
    inputs: &[&Path],
    force: bool,
) -> Result<(), CliError> {
    let refuse = |why: String| {
        Err(CliError::Output {
            path: out.to_path_buf(),
            why,
        })
    };
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return refuse("is a file; the results are a folder: choose a new folder name".into());
    }
    let Ok(folder) = out.canonicalize() else {
        return refuse("cannot be resolved to a folder".into());
    };
    let here = std::env::current_dir().and_then(|d| d.canonicalize());
    if here.is_ok_and(|here| here.starts_with(&folder)) {
        return refuse(
            "is the current folder, or holds it; choose a new folder for the results".into(),
        );
    }
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i.starts_with(&folder)) {
            return refuse(format!(
                "holds the input `{}`, and is never replaced: choose another folder",
                input.display()
            ));
        }
    }
    let empty = std::fs::read_dir(&folder).is_ok_and(|mut e| e.next().is_none());
    if empty || force || kind.holds_earlier_output(&folder) {
        return Ok(());
    }
    refuse(format!(
        "is a folder that does not hold {}; it is not replaced: choose another name, or add --force",
        kind.what()
    ))
}

/// The output folders being swapped in right now, so that a signal can undo the swap.
static SWAPS: Mutex<Vec<Swap>> = Mutex::new(Vec::new());

#[derive(Clone)]
struct Swap {
    staging: PathBuf,
    previous: PathBuf,
    out: PathBuf,
}

impl Swap {
    /// Leaves `out` as it was before the swap began, whatever step it had reached.
    fn undo(&self) {
        let _ = std::fs::remove_dir_all(&self.staging);
        if self.previous.exists() {
            if self.out.exists() {
                let _ = std::fs::remove_dir_all(&self.previous);
            } else {
                let _ = std::fs::rename(&self.previous, &self.out);
            }
        }
    }
}

/// Set while a fit trains: a signal then asks training to stop after the current epoch
/// (and write a checkpoint) instead of ending the process.
static TRAINING: AtomicBool = AtomicBool::new(false);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Marks the training phase, in which a signal stops training instead of the process.
pub fn training(on: bool) {
    TRAINING.store(on, Ordering::SeqCst);
}

/// Whether a signal asked training to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// On SIGINT or SIGTERM while training: ask training to stop after this epoch. Otherwise
/// (or on a second signal): undo any output swap under way (no staging folder is left
/// behind, an earlier result stays in place), say so, and exit 130.
pub fn clean_up_on_signals() {
    let _ = ctrlc::set_handler(|| {
        if TRAINING.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let swaps = SWAPS.lock().map(|s| s.clone()).unwrap_or_default();
        for swap in &swaps {
            swap.undo();
        }
        eprintln!("error: interrupted; no output was written or replaced");
        std::process::exit(130);
    });
}

/// Writes into a fresh sibling folder and only then puts it in place of `out`, so a run
/// that fails leaves an earlier `out` as it was.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_string());
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    let swap = Swap {
        staging: parent.join(format!(".{name}.partial-{}", std::process::id())),
        previous: parent.join(format!(".{name}.previous-{}", std::process::id())),
        out: out.to_path_buf(),
    };
    let registry = || SWAPS.lock().unwrap_or_else(|e| e.into_inner());
    registry().push(swap.clone());
    let result = swap_in(&swap, write);
    if result.is_err() {
        swap.undo();
    }
    registry().retain(|s| s.staging != swap.staging);
    result
}

fn swap_in(swap: &Swap, write: impl FnOnce(&Path) -> Result<(), CliError>) -> Result<(), CliError> {
    let _ = std::fs::remove_dir_all(&swap.staging);
    std::fs::create_dir(&swap.staging).map_err(write_error(&swap.staging))?;
    write(&swap.staging)?;
    if swap.out.exists() {
        std::fs::rename(&swap.out, &swap.previous).map_err(write_error(&swap.out))?;
    }
    std::fs::rename(&swap.staging, &swap.out).map_err(write_error(&swap.out))?;
    let _ = std::fs::remove_dir_all(&swap.previous);
    Ok(())
}
