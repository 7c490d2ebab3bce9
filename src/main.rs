//! The `pdgc` binary: parses flags into a validated command, lets the library do the work,
//! and turns the outcome into output and an exit code (0 ok, 1 the job failed, 2 bad input).

use clap::{Parser, Subcommand};
use pdgc::cli::{self, Outcome};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pdgc",
    version,
    about = "Source-separation VAEs from a short model file"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a model file; print the normalised model (RON) or the errors.
    Check {
        /// The `.pdg` model file.
        model: PathBuf,
        /// Print the normalised model as `.pdg` text instead of RON.
        #[arg(long)]
        pdg: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command {
        Command::Check { model, pdg } => cli::check(&model, pdg),
    };
    match outcome {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::JobFailed(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
        Outcome::BadInput(message) => {
            eprint!("{message}");
            if !message.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(2)
        }
    }
}
