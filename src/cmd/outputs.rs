//! Where an output may go, checked before any work: never an input of the command (by any
//! name or link) nor a fit's own files, never a link, a folder name, a device or a path
//! under a file, never two outputs in one file, and a folder only where it holds exactly an
//! earlier output of the same command. Every refusal names the flag (exit 2).

use super::error::CliError;
use std::path::{Path, PathBuf};

/// A refusal of the output `path` given with `flag`.
fn refuse(flag: &'static str, path: &Path, why: impl Into<String>) -> CliError {
    CliError::Output {
        flag,
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Whether the path's last component names a file or folder of its own (not `.`, `..`,
/// `/`, and not written with a trailing slash, which says "a folder").
fn names_an_entry(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    // Read from the bytes: `Path::components` drops a trailing `.` (`fit/.` → `fit`).
    let last = path.as_os_str().as_bytes().rsplit(|&b| b == b'/').next();
    !matches!(last, None | Some(b"" | b"." | b".."))
}

/// The folder an output goes into, or where it will be made: the nearest existing
/// ancestor must be a folder.
fn check_parent(flag: &'static str, path: &Path) -> Result<(), CliError> {
    let mut ancestor = path.parent();
    while let Some(a) = ancestor.filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(a) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(refuse(
                    flag,
                    path,
                    format!("cannot be made: `{}` is a file, not a folder", a.display()),
                ))
            }
            Err(_) if a.symlink_metadata().is_ok() => {
                return Err(refuse(
                    flag,
                    path,
                    format!(
                        "cannot be made: `{}` is a link to nothing that exists",
                        a.display()
                    ),
                ))
            }
            Err(_) => ancestor = a.parent(),
        }
    }
    Ok(())
}

/// `path` made absolute and with its existing part resolved, so that two spellings of
/// one file compare equal even before the file exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => absolute,
    }
}

/// Whether `path` is `folder` or lies inside it, by any spelling (neither need exist yet).
pub fn is_within(path: &Path, folder: &Path) -> bool {
    resolved(path).starts_with(resolved(folder))
}

/// Refuses an output folder `out` (given with `flag`) that is or holds one of the inputs.
pub fn check_holds_no_input(
    flag: &'static str,
    out: &Path,
    inputs: &[&Path],
) -> Result<(), CliError> {
    match inputs
        .iter()
        .find(|input| input.exists() && is_within(input, out))
    {
        Some(input) => Err(refuse(
            flag,
            out,
            format!(
                "holds the input `{}`, and is never replaced: choose another folder",
                input.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Whether two paths name the same file (by any name or link), or will once written.
pub fn same_path(a: &Path, b: &Path) -> bool {
    same_file::is_same_file(a, b).unwrap_or(false) || resolved(a) == resolved(b)
}

/// The files a fit folder holds, which no other command's output may replace.
pub use pdgc::folder::FILES as FIT_FILES;

/// Refuses an output that is one of the command's inputs (the same file by any name or
/// link), or, where an input is a fit's folder, one of that fit's own files.
fn check_not_an_input(flag: &'static str, path: &Path, inputs: &[&Path]) -> Result<(), CliError> {
    let out = resolved(path);
    for input in inputs {
        if same_path(path, input) {
            return Err(refuse(
                flag,
                path,
                format!(
                    "is an input of this command (`{}`); inputs are never replaced: choose another name",
                    input.display()
                ),
            ));
        }
        if input.is_dir() {
            let folder = resolved(input);
            let own = out
                .strip_prefix(&folder)
                .ok()
                .and_then(|rest| rest.components().next())
                .is_some_and(|first| FIT_FILES.iter().any(|f| first.as_os_str() == *f));
            if own {
                return Err(refuse(
                    flag,
                    path,
                    format!(
                        "is a file of the fit `{}`, an input of this command; it is never replaced: choose another name",
                        input.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Whether the file `path` (given with `flag`) may receive an output, checked before any
/// work: it names a file (not a folder, a link or a device), its folder exists or can be
/// made, and it is none of the command's `inputs`. An existing regular file is replaced
/// when the output is complete.
pub fn check_output_file(
    flag: &'static str,
    path: &Path,
    inputs: &[&Path],
) -> Result<(), CliError> {
    if !names_an_entry(path) {
        return Err(refuse(
            flag,
            path,
            "names a folder; give the name of a file to write",
        ));
    }
    if let Ok(meta) = path.symlink_metadata() {
        if meta.file_type().is_symlink() {
            return Err(refuse(
                flag,
                path,
                "is a symbolic link; pdgc writes no output through a link: choose another name",
            ));
        }
        if meta.is_dir() {
            return Err(refuse(
                flag,
                path,
                "is a folder; give the name of a file to write",
            ));
        }
        if !meta.is_file() {
            return Err(refuse(
                flag,
                path,
                "is not a regular file (a device or a pipe); choose a file name, or leave the flag out to write to standard output",
            ));
        }
    }
    check_parent(flag, path)?;
    check_not_an_input(flag, path, inputs)
}

/// Refuses two outputs of one command that are the same file.
pub fn check_distinct_outputs(outputs: &[(&'static str, &Path)]) -> Result<(), CliError> {
    for (i, (flag, a)) in outputs.iter().enumerate() {
        for (other, b) in &outputs[..i] {
            if same_path(a, b) {
                return Err(refuse(
                    flag,
                    a,
                    format!("is also given with {other}; two outputs cannot be one file"),
                ));
            }
        }
    }
    Ok(())
}

/// A file an output may replace: a missing one, or one pdgc wrote (it holds `mark`).
/// Anything else is the user's, and refused as `what` it is not.
pub fn check_own_file(
    flag: &'static str,
    path: &Path,
    mark: &str,
    what: &str,
) -> Result<(), CliError> {
    if !path.exists() {
        return Ok(());
    }
    let ours = std::fs::read_to_string(path).is_ok_and(|text| text.contains(mark));
    if path.is_file() && ours {
        return Ok(());
    }
    Err(refuse(
        flag,
        path,
        format!("exists and is not {what}; it is not replaced: choose another name"),
    ))
}

/// What a folder written by a command holds, so that a later run knows it may replace it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `pdgc fit`: a `run.ron` that is a fit's record, and nothing but a fit's files.
    Fit,
    /// `pdgc simulate`: `data.csv` and `truth.csv` (and `mixing.csv`), nothing else.
    Simulation,
}

impl OutputKind {
    fn holds_earlier_output(self, dir: &Path) -> bool {
        match self {
            OutputKind::Fit => pdgc::folder::holds_earlier_fit(dir),
            OutputKind::Simulation => std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.filter_map(Result::ok).all(|e| {
                    let n = e.file_name();
                    n == "data.csv" || n == "truth.csv" || n == "mixing.csv"
                })
            }),
        }
    }

    fn what(self) -> &'static str {
        match self {
            OutputKind::Fit => "only an earlier pdgc fit (its run.ron and the files a fit writes)",
            OutputKind::Simulation => {
                "only an earlier `pdgc simulate` (data.csv, truth.csv and mixing.csv)"
            }
        }
    }
}

/// Whether the path `out` (given with `flag`) may name an output folder: it names one of its
/// own, its parent exists or can be made, and it is not a link, a file, or the current
/// folder or one holding it. What it holds is for the caller to judge.
pub fn check_folder_path(flag: &'static str, out: &Path) -> Result<(), CliError> {
    let refuse = |why: &str| Err(refuse(flag, out, why));
    if !names_an_entry(out) {
        return refuse(
            "does not name a folder of its own (it ends in `.`, `..` or `/`): give the folder's name",
        );
    }
    check_parent(flag, out)?;
    let Ok(meta) = out.symlink_metadata() else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return refuse(
            "is a symbolic link; pdgc replaces no folder through a link: choose another name",
        );
    }
    if !meta.is_dir() {
        return refuse("is a file; the results are a folder: choose a new folder name");
    }
    let Ok(folder) = out.canonicalize() else {
        return refuse("cannot be resolved to a folder");
    };
    let here = std::env::current_dir().and_then(|d| d.canonicalize());
    if here.is_ok_and(|here| here.starts_with(&folder)) {
        return refuse("is the current folder, or holds it; choose a new folder for the results");
    }
    Ok(())
}

/// Whether `out` may receive a command's output folder; checked before any work is done.
/// A missing or empty folder, or one holding exactly an earlier output of the same kind,
/// may be replaced; `force` allows any other folder. Never: a file, a link, the current
/// folder or one that contains it, or a folder that holds one of the command's `inputs`.
pub fn check_output(
    out: &Path,
    kind: OutputKind,
    inputs: &[&Path],
    force: bool,
) -> Result<(), CliError> {
    let refuse = |why: String| Err(refuse("-o", out, why));
    check_folder_path("-o", out)?;
    let Ok(folder) = out.canonicalize() else {
        return Ok(());
    };
    check_holds_no_input("-o", out, inputs)?;
    let empty = std::fs::read_dir(&folder).is_ok_and(|mut e| e.next().is_none());
    if empty || force || kind.holds_earlier_output(&folder) {
        return Ok(());
    }
    refuse(format!(
        "is a folder that holds more than {}; it is not replaced: choose another name, or add --force",
        kind.what()
    ))
}
