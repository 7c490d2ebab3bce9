//! Helpers shared by the integration tests: run the real `pdgc` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `pdgc` with `args` from the repository root.
pub fn pdgc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pdgc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running pdgc")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every `.pdg` file under `models/`: the examples, `models/best/` and `models/ima_vae/`.
pub fn shipped_models() -> Vec<PathBuf> {
    let mut models = Vec::new();
    for dir in ["models", "models/best", "models/ima_vae"] {
        models.extend(models_in(dir));
    }
    models
}

/// The example models, the `.pdg` files directly in `models/`.
pub fn example_models() -> Vec<PathBuf> {
    models_in("models")
}

fn models_in(dir: &str) -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("a models folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdg"))
        .collect();
    models.sort();
    models
}

pub fn relative(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

/// A temporary folder (tempfile), removed when dropped; derefs to its path.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

pub fn scratch() -> Scratch {
    Scratch(tempfile::tempdir().expect("a temporary folder"))
}

/// Asserts that `o` exited with `code` and that its standard error holds `expected`.
#[track_caller]
pub fn fails_with(o: &Output, code: i32, expected: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", stderr(o));
    assert!(stderr(o).contains(expected), "{}", stderr(o));
}

/// Runs `pdgc` with `args` in `dir`, so that messages name short relative paths.
pub fn pdgc_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pdgc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running pdgc")
}

/// Asserts that `o` succeeded, showing what it printed if not.
#[track_caller]
pub fn ok(o: &Output) {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
}
