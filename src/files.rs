//! Every file pdgc writes (the commands, and `Fit::save` for the library) goes through here: single files and whole output folders,
//! each of which appears complete or not at all. (Where an output may go at all is checked
//! before any work, in `outputs.rs`.)
//!
//! How a write stays whole:
//! - A file is written to a temporary sibling (`tempfile`) and renamed over its name only
//!   when complete; a folder is written to a sibling staging folder and exchanged with the
//!   old one in one `renameat2(RENAME_EXCHANGE)`, so at every instant the name holds either
//!   the old output or the new one, never part of either.
//! - The temporaries are registered while they exist: a signal removes them before the
//!   process exits, and a commit holds the registry's lock, so a signal waits for it.
//! - A process killed outright (SIGKILL, power loss) leaves its temporaries behind; their
//!   names carry its process id, and the next write to the same name removes those of
//!   processes that are gone.

use crate::data::{write_csv_to, Precision};
use crate::matrix::Matrix;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Why an output was not written. Whatever it was, an earlier output of the same name is
/// as it was.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A signal came while a folder was being written: nothing was put in place.
    #[error("interrupted before the output was put in place")]
    Stopped,
}

/// The error of a failed write to `path`.
pub fn write_error(path: &Path) -> impl Fn(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file inside a staging folder (which is itself swapped in whole). A signal that
/// came meanwhile stops the folder here: the staging folder is removed and nothing is
/// swapped in.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    if interrupted() {
        return Err(WriteError::Stopped);
    }
    std::fs::write(path, bytes).map_err(write_error(path))
}

// ---------------------------------------------------------------------------------------
// Temporaries, and what a signal does.

/// Paths that are not (or no longer) anybody's output: temporary files, staging folders
/// and replaced folders on their way out. A signal removes them.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn remove_path(path: &Path) {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// The start of every temporary's name for the output `name`: `.NAME.pdgc-PID.` (the
/// name cut to 64 bytes, so that the temporary's own name stays within the limit).
fn temp_prefix(name: &OsStr, pid: u32) -> OsString {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    let mut prefix = OsString::from(".");
    prefix.push(OsStr::from_bytes(&bytes[..bytes.len().min(64)]));
    prefix.push(format!(".pdgc-{pid}."));
    prefix
}

/// Removes the temporaries that killed processes left beside `path` (the next write to a
/// name cleans up after the last one that was killed while writing it).
pub fn remove_stale_temporaries(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let (Some(parent), Some(name)) = (parent_of(path), path.file_name()) else {
        return;
    };
    let start = temp_prefix(name, 0);
    // `.NAME.pdgc-0.` less its `0.`: every process's temporaries start so.
    let start = &start.as_bytes()[..start.len() - "0.".len()];
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name();
        let Some(rest) = file.as_bytes().strip_prefix(start) else {
            continue;
        };
        let pid = std::str::from_utf8(rest.split(|&b| b == b'.').next().unwrap_or_default());
        if pid.is_ok_and(process_gone) {
            // An earlier output moved aside by a swap that was killed half-way goes back
            // where it was; anything else of a dead process is a temporary.
            let put_back = rest.ends_with(b".previous") && path.symlink_metadata().is_err();
            if !(put_back && std::fs::rename(entry.path(), path).is_ok()) {
                remove_path(&entry.path());
            }
        }
    }
}

/// Whether `pid` (as written in a temporary's name or a run's status) names a process that
/// no longer exists on this machine.
pub fn process_gone(pid: &str) -> bool {
    pid.parse::<i32>()
        .ok()
        // `Pid::from_raw` asserts a pid is not negative: a name such as `-1` is no pid.
        .filter(|&pid| pid > 0)
        .and_then(rustix::process::Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH))
}

fn parent_of(path: &Path) -> Option<&Path> {
    let parent = path.parent()?;
    Some(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    })
}

/// Set while a fit runs: a signal then asks it to stop at the next safe point (after the
/// current epoch, or before the output is swapped in) instead of ending the process.
static DEFERRING: AtomicBool = AtomicBool::new(false);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Marks the span in which a signal stops the command at its next safe point.
pub fn defer_signals(on: bool) {
    DEFERRING.store(on, Ordering::SeqCst);
}

/// Whether a signal asked the command to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What a signal (SIGINT, SIGTERM) does; the binary's handler calls this. While signals
/// are deferred, the first is remembered and the command stops at its next safe point.
/// Otherwise (or on a second signal): every temporary is removed (waiting for a commit
/// under way to finish, so nothing is left half-replaced), and `exit` runs with the
/// registry still locked, so that no commit starts after it.
pub fn on_signal(exit: impl FnOnce()) {
    if DEFERRING.load(Ordering::SeqCst) && !INTERRUPTED.swap(true, Ordering::SeqCst) {
        return;
    }
    let mut pending = pending();
    for path in pending.drain(..) {
        remove_path(&path);
    }
    exit();
}

/// A registered temporary path, removed when dropped unless it was committed.
struct Temporary(PathBuf);

impl Temporary {
    /// Registers `path`, with the registry locked by the caller (so that no signal falls
    /// between making the temporary and registering it).
    fn register(registry: &mut Vec<PathBuf>, path: PathBuf) -> Temporary {
        registry.push(path.clone());
        Temporary(path)
    }

    /// The temporary is now the output (or already gone): forget it. Called with the
    /// registry locked by the commit.
    fn forget(self, registry: &mut Vec<PathBuf>) {
        registry.retain(|p| p != &self.0);
        std::mem::forget(self);
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        let mut registry = pending();
        remove_path(&self.0);
        registry.retain(|p| p != &self.0);
    }
}

// ---------------------------------------------------------------------------------------
// Writes.

/// Writes a file whole or not at all: a temporary sibling, renamed into place only when
/// complete, so a reader (or a failure, a full disk, a signal half-way) never sees part of
/// it, and a file it replaces stays until then. Makes missing parent folders.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_file_with(path, |w| w.write_all(bytes))
}

/// Writes a CSV file whole or not at all, as [`write_file_atomically`].
pub fn write_csv(
    path: &Path,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> Result<(), WriteError> {
    write_file_with(path, |w| write_csv_to(w, header, x, precision))
}

fn write_file_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&std::fs::File>) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let name = path
        .file_name()
        .ok_or_else(|| write_error(path)(std::io::Error::other("the path names no file")))?;
    let parent = parent_of(path).expect("a path with a file name has a parent");
    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
    remove_stale_temporaries(path);
    let (file, temporary) = {
        let mut registry = pending();
        let file = tempfile::Builder::new()
            .prefix(&temp_prefix(name, std::process::id()))
            .tempfile_in(parent)
            .map_err(write_error(path))?;
        let temporary = Temporary::register(&mut registry, file.path().to_path_buf());
        (file, temporary)
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(output_mode(path));
        file.as_file()
            .set_permissions(mode)
            .map_err(write_error(path))?;
    }
    let mut buffered = std::io::BufWriter::new(file.as_file());
    write(&mut buffered)
        .and_then(|()| buffered.flush())
        .map_err(write_error(path))?;
    drop(buffered);
    file.as_file().sync_all().map_err(write_error(path))?;
    let mut registry = pending();
    // On failure the temporary is removed (by `file`'s drop, and `temporary`'s).
    file.persist(path).map_err(|e| write_error(path)(e.error))?;
    temporary.forget(&mut registry);
    Ok(())
}

/// The mode an output file gets: that of the file it replaces, or what the umask leaves of
/// 0666 for a new one (a temporary file is made 0600, which is not what a user expects).
fn output_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        return meta.permissions().mode() & 0o7777;
    }
    // Read, not set and reset: `umask(2)` would change it for every thread meanwhile.
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Umask:"))?;
            u32::from_str_radix(line.split_whitespace().nth(1)?, 8).ok()
        })
        .unwrap_or(0o022);
    0o666 & !umask
}

/// Writes into a fresh sibling folder and only then puts it in place of `out`, so a run
/// that fails, or is stopped or killed at any point, leaves an earlier `out` as it was.
pub fn write_atomically<E: From<WriteError>>(
    out: &Path,
    write: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let name = out
        .file_name()
        .ok_or_else(|| write_error(out)(std::io::Error::other("the path names no folder")))
        .map_err(E::from)?;
    let parent = parent_of(out).expect("a path with a file name has a parent");
    std::fs::create_dir_all(parent)
        .map_err(write_error(parent))
        .map_err(E::from)?;
    remove_stale_temporaries(out);
    // Numbered: two threads of one process (Python's) writing the same name each stage
    // in a folder of their own.
    static STAGED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut staging_name = temp_prefix(name, std::process::id());
    staging_name.push(format!("{}.staging", STAGED.fetch_add(1, Ordering::SeqCst)));
    let staging = parent.join(staging_name);
    let temporary = Temporary::register(&mut pending(), staging.clone());
    remove_path(&staging);
    std::fs::create_dir(&staging)
        .map_err(write_error(&staging))
        .map_err(E::from)?;
    // While the folder is written, a signal stops it at the next file (and the staging
    // folder is removed by `temporary`): the handler removing it while files are still
    // being written into it could leave part of it behind.
    let deferring = DEFERRING.swap(true, Ordering::SeqCst);
    let written = write(&staging);
    DEFERRING.store(deferring, Ordering::SeqCst);
    written?;
    // A fit stopped by a signal while it wrote: nothing is swapped in.
    if interrupted() {
        return Err(WriteError::Stopped.into());
    }
    let mut registry = pending();
    if out.symlink_metadata().is_err() {
        std::fs::rename(&staging, out)
            .map_err(write_error(out))
            .map_err(E::from)?;
    } else {
        swap(&staging, out, &mut registry).map_err(E::from)?;
    }
    temporary.forget(&mut registry);
    Ok(())
}

/// Puts the folder `staging` in place of the folder `out` and removes the old one.
fn swap(staging: &Path, out: &Path, registry: &mut Vec<PathBuf>) -> Result<(), WriteError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, staging, CWD, out, RenameFlags::EXCHANGE) {
        // The old output now sits at the staging name, still registered: remove it.
        Ok(()) => {
            remove_path(staging);
            Ok(())
        }
        // A file system without the exchange: move the old aside first (a kill between
        // the two renames leaves it beside `out`, under a temporary's name).
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            let mut aside = staging.as_os_str().to_owned();
            aside.push(".previous");
            let aside = PathBuf::from(aside);
            registry.push(aside.clone());
            let moved = std::fs::rename(out, &aside).and_then(|()| {
                std::fs::rename(staging, out).inspect_err(|_| {
                    let _ = std::fs::rename(&aside, out);
                })
            });
            if moved.is_ok() {
                remove_path(&aside);
            }
            registry.retain(|p| p != &aside);
            moved.map_err(write_error(out))
        }
        Err(e) => Err(write_error(out)(e.into())),
    }
}
