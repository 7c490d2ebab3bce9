//! pdgc: a modeling language and trainer for source-separation VAEs.
//!
//! The pipeline, one direction: `.pdg` text → [`front`] (pest, syntax tree with spans) →
//! [`check`] (validated [`spec::ModelSpec`]) → backend (dfdx) → fit → outputs.
//! See ARCHITECTURE.md for the code map.

pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod front;
pub mod spec;

pub use check::compile_source;
pub use diagnostic::{render, Diagnostic};
pub use spec::ModelSpec;
