//! The `pdgc` binary: parses flags into a validated command, lets the library do the work,
//! and turns the outcome into output and an exit code (0 ok, 1 the job failed, 2 bad input).

mod cmd;

/// mimalloc keeps freed pages for reuse; with glibc's allocator each epoch's large
/// buffers were returned to the system and faulted back in (a tenth of an epoch's time
/// in page faults, `perf record`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use cmd::compare::CompareArgs;
use cmd::fit::{FitArgs, FitConfig};
use pdgc::simulate::Scenario;
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
    /// Train the model on a CSV file; write the sources, the fitted model and the trace.
    Fit(FitArgs),
    /// Sources of new data with a fitted model (sources.csv's layout).
    Encode {
        /// A fit's output folder, or its model.safetensors.
        fit: PathBuf,
        /// A CSV with the columns the model observes.
        data: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Draw from the fitted generative model: observed columns (decoder mean) and latents.
    Sample {
        /// A fit's output folder, or its model.safetensors.
        fit: PathBuf,
        /// Number of draws.
        rows: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write here instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Simulate data with known sources: DIR/data.csv, DIR/truth.csv (and DIR/mixing.csv
    /// for a linear mixing).
    Simulate {
        #[arg(value_parser = cmd::scenario_parser())]
        scenario: Scenario,
        /// Number of samples T.
        #[arg(long, default_value_t = 5000, value_parser = cmd::samples_parser())]
        samples: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        mixing: cmd::MixingArgs,
        #[arg(short, long, default_value = "simulated")]
        out: PathBuf,
        /// Replace the output folder even if it holds more than an earlier simulation.
        #[arg(long)]
        force: bool,
    },
    /// Fit every model with every seed (and FastICA beside them); a table of MCC per method.
    Compare(CompareArgs),
    /// Draw a fit's figures and report.html again from its folder (with new truth, say).
    Report {
        /// A fit's output folder (or its model.safetensors).
        fit: PathBuf,
        /// The true sources of the fitted rows; by default the fit's own --truth, if any.
        #[arg(long, value_name = "TRUTH.csv")]
        truth: Option<PathBuf>,
        /// Write only this self-contained page instead of FIT/report.html and FIT/plots/.
        #[arg(short, long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// How many of the first rows the sources figure shows.
        #[arg(long, value_name = "N", default_value_t = 300, value_parser = clap::value_parser!(u64).range(2..))]
        plot_rows: u64,
    },
    /// Compare estimated sources with the true ones: MCC after Hungarian matching.
    Eval {
        /// CSV of the true sources.
        truth: PathBuf,
        /// CSV of estimated sources (a fit's sources.csv: the `_sd` columns are ignored).
        sources: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The true mixing matrix (simulate's mixing.csv); with --unmixing, the Amari
        /// distance is reported too.
        #[arg(long, value_name = "MIXING.csv", requires = "unmixing")]
        mixing: Option<PathBuf>,
        /// The estimated linear unmixing (fastica's --unmixing file).
        #[arg(long, value_name = "UNMIXING.csv", requires = "mixing")]
        unmixing: Option<PathBuf>,
    },
    /// FastICA (linfa-ica, scikit-learn's defaults) of a CSV's columns: the classical
    /// baseline. Writes the sources (z0..) and optionally the unmixing matrix.
    Fastica {
        /// A CSV with a header row; every column is used.
        data: PathBuf,
        /// Number of sources (default: the number of columns).
        #[arg(long)]
        sources: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Write the sources here instead of standard output.
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Write the n × m unmixing matrix W here (s = W (x − mean)).
        #[arg(long, value_name = "FILE")]
        unmixing: Option<PathBuf>,
        /// Write the sources with every digit of their f64 values (as the runs of
        /// `compare --plan` do, so that `--collect` scores them as `compare` does).
        #[arg(long)]
        full_precision: bool,
    },
}

/// A source marginal, from the library's own list of names.
fn main() -> ExitCode {
    // First, so that no signal finds the process without its handler.
    // SIGINT, SIGTERM: a fit stops at its next safe point; otherwise the command ends,
    // leaving no temporary behind.
    let _ = ctrlc::set_handler(|| {
        pdgc::files::on_signal(|| {
            eprintln!("error: interrupted; no output was left half-written, and earlier files are as they were");
            std::process::exit(130);
        })
    });
    let args = Args::parse();
    let outcome = match args.command {
        Command::Check { model, pdg } => cmd::check(&model, pdg),
        Command::Fit(args) => {
            // From here on a signal stops the fit at its next safe point, keeping the
            // training (before training starts: its first state, epoch 0).
            pdgc::files::defer_signals(true);
            // Matrix products run on rayon's global pool; fixing its size fixes the results.
            let threads = usize::from(args.threads);
            // A thread that cannot get its stacks aborts the process: count them first.
            // Restarts add a thread and a pool of one per restart running at once.
            let started = cmd::error::threads_fit(3 * threads, || {
                format!("--threads {threads}: starting {} threads", 3 * threads)
            })
            .and_then(|()| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build_global()
                    .map_err(|e| cmd::error::CliError::Flag {
                        flag: "--threads",
                        why: format!("{threads}: cannot start that many threads here ({e})"),
                    })
            });
            started.and_then(|()| FitConfig::from_args(args).and_then(|c| cmd::fit::fit(&c)))
        }
        Command::Encode { fit, data, out } => cmd::encode(&fit, &data, out.as_deref()),
        Command::Sample {
            fit,
            rows,
            seed,
            out,
        } => cmd::sample(&fit, rows, seed, out.as_deref()),
        Command::Simulate {
            scenario,
            samples,
            seed,
            mixing,
            out,
            force,
        } => match mixing.settings(scenario, samples, seed) {
            Ok(settings) => cmd::simulate(&settings, &out, force),
            Err(e) => Err(e),
        },
        Command::Compare(args) => cmd::compare::compare(args),
        Command::Report {
            fit,
            truth,
            out,
            plot_rows,
        } => cmd::report::report(
            &fit,
            truth.as_deref(),
            out.as_deref(),
            usize::try_from(plot_rows).unwrap_or(usize::MAX),
        ),
        Command::Eval {
            truth,
            sources,
            json,
            mixing,
            unmixing,
        } => cmd::eval(
            &truth,
            &sources,
            json,
            mixing.as_deref().zip(unmixing.as_deref()),
        ),
        Command::Fastica {
            data,
            sources,
            seed,
            out,
            unmixing,
            full_precision,
        } => cmd::fastica(
            &data,
            sources,
            seed,
            out.as_deref(),
            unmixing.as_deref(),
            match full_precision {
                true => pdgc::data::Precision::Double,
                false => pdgc::data::Precision::Single,
            },
        ),
    };
    finish(outcome)
}

/// The exit code of a command's outcome, its error printed once.
fn finish(outcome: cmd::error::Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("{}", error.message());
            ExitCode::from(error.exit_code())
        }
    }
}
