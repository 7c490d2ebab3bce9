//! What each command does with files: reading inputs, writing outputs, reporting. The
//! numerics live in the library modules; this layer only moves data in and out.

use crate::{check, diagnostic};
use std::path::Path;

/// How a command ended, mapped to the exit code by the binary.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    /// The input was fine but the job did not succeed (exit 1).
    JobFailed(String),
    /// The input was bad: the message names the file, the line and what was expected (exit 2).
    BadInput(String),
}

/// Reads a model file and checks it; diagnostics rendered against the file's text.
pub fn load_model(path: &Path) -> Result<crate::ModelSpec, String> {
    let name = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| format!("error: cannot read model file `{name}`: {e}"))?;
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = diagnostic::Diagnostic::new(at..at, "the model file is not valid UTF-8 text")
                .label("invalid byte here");
            return Err(diagnostic::render(&name, &text, &[d]));
        }
    };
    check::compile_source(&source).map_err(|ds| diagnostic::render(&name, &source, &ds))
}

/// `pdgc check`: print the normalised model, or the diagnostics.
pub fn check(model: &Path, as_pdg: bool) -> Outcome {
    match load_model(model) {
        Ok(spec) => {
            if as_pdg {
                print!("{}", spec.to_pdg());
            } else {
                println!("{}", spec.to_ron());
            }
            Outcome::Ok
        }
        Err(message) => Outcome::BadInput(message),
    }
}
