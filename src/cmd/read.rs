//! Every file a command reads as input, opened here: the library parses bytes (the data's
//! `parse_table`, the fitted model's `Fitted::from_bytes`), and only the binary opens paths.

use pdgc::data::{parse_table, DataError, Table, Wanted};
use pdgc::fitted::{FitFileError, Fitted};
use std::path::Path;

/// Reads a CSV data file with a header row (see [`parse_table`]).
pub fn read_table(path: &Path, wanted: Wanted) -> Result<Table, DataError> {
    parse_table(&path.display().to_string(), &read_data_file(path)?, wanted)
}

/// A data file's bytes; one larger than a quarter of the memory this process may use (its
/// numbers take more room than its text) is refused before it is read whole, so an endless
/// input (`/dev/zero`, a pipe) ends in a message, not in the kernel's OOM killer.
pub fn read_data_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = path.display().to_string();
    let limit = pdgc::resources::machine_memory().map_or(u64::MAX, |m| (m / 4) as u64);
    match at_most(path, limit) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(DataError::TooLargeToRead {
            file,
            limit: u128::from(limit),
        }),
        Err(source) => Err(DataError::Read { file, source }),
    }
}

/// The bytes of `path`, or `None` when it holds more than `limit` (only `limit + 1` bytes
/// are read to find out).
pub fn at_most(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Reads a fitted model: a fit's output folder, or its `model.safetensors`.
pub fn fitted(path: &Path) -> Result<Fitted, FitFileError> {
    let path = if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_path_buf()
    };
    let file = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| FitFileError::Read {
        file: file.clone(),
        source,
    })?;
    Fitted::from_bytes(&file, &bytes)
}
