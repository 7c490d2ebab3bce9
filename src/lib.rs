//! pdgc: a modeling language and trainer for source-separation VAEs.
//!
//! The pipeline, one direction: `.pdg` text → [`front`] (pest, syntax tree with spans) →
//! [`check`] (validated [`spec::ModelSpec`]) → backend (dfdx) → fit → outputs.
//! See ARCHITECTURE.md for the code map. The library prints nothing and writes no file;
//! the `pdgc` binary (`src/main.rs`, `src/cmd/`) does both.

pub mod backend;
pub mod baseline;
pub mod check;
pub mod checkpoint;
pub mod compare;
pub mod data;
pub mod diagnostic;
pub mod eval;
pub mod files;
pub mod fit;
pub mod fitted;
pub mod folder;
pub mod front;
pub mod label_free;
pub mod matrix;
pub mod numeric;
pub mod parallel;
pub mod postprocess;
pub mod report;
pub mod resources;
pub mod simulate;
pub mod spec;
pub mod theory;
pub mod trace;
pub mod train;
pub mod words;

pub use check::{compile, compile_here, compile_within, decode};
pub use diagnostic::{render, Diagnostic, Diagnostics, Rule};
pub use fit::{fit, Fit, FitError, FitOptions, Observer};
pub use spec::ModelSpec;
