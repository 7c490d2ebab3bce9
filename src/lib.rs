//! pdgc: a modeling language and trainer for source-separation VAEs.
//!
//! The pipeline, one direction: `.pdg` text → [`front`] (pest, syntax tree with spans) →
//! [`check`] (validated [`spec::ModelSpec`]) → backend (dfdx) → fit → outputs.
//! See ARCHITECTURE.md for the code map.

pub mod backend;
pub mod check;
pub mod cli;
pub mod data;
pub mod diagnostic;
pub mod eval;
pub mod front;
pub mod matrix;
pub mod simulate;
pub mod spec;
pub mod theory;
pub mod train;

pub use check::compile_source;
pub use diagnostic::{render, Diagnostic};
pub use spec::ModelSpec;
