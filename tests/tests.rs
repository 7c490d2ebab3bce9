//! Every integration test in one binary, so the crate is linked once (ripgrep's
//! `tests/tests.rs`). Each module is one area; `util` runs the real `pdgc` binary.

mod util;

mod backend;
mod cli;
mod cluster;
mod fuzz;
mod language;
mod language_props;
mod layout;
mod recovery;
mod report;
mod safety;
mod theory;
