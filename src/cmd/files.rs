//! Every file the commands write goes through here: CSV and RON files, and whole output
//! folders that appear at once or not at all.

use super::error::CliError;
use pdgc::data::{write_csv_to, Precision};
use pdgc::matrix::Matrix;
use serde::Serialize;
use std::path::Path;

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

pub fn write_csv(
    path: &Path,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> Result<(), CliError> {
    let file = std::fs::File::create(path).map_err(write_error(path))?;
    write_csv_to(file, header, x, precision).map_err(write_error(path))
}

pub fn write_ron(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::new().struct_names(true))
        .map_err(|e| write_error(path)(std::io::Error::other(e)))?;
    write_bytes(path, (text + "\n").as_bytes())
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
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(write_error(&staging))?;
    if let Err(e) = write(&staging) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let previous = parent.join(format!(".{name}.previous-{}", std::process::id()));
    if out.exists() {
        if let Err(source) = std::fs::rename(out, &previous) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(CliError::Write {
                path: out.to_path_buf(),
                source,
            });
        }
    }
    if let Err(source) = std::fs::rename(&staging, out) {
        // Put the earlier result back where it was.
        let _ = std::fs::rename(&previous, out);
        let _ = std::fs::remove_dir_all(&staging);
        return Err(CliError::Write {
            path: out.to_path_buf(),
            source,
        });
    }
    let _ = std::fs::remove_dir_all(&previous);
    Ok(())
}
