//! `pdgc compare MODEL… (--data D --truth T | --scenario S)`: every model (and FastICA)
//! with every seed, in parallel; a table of MCC per method, and the runs for scripts.

use super::error::{within_memory, CliError, Outcome};
use super::files::{check_own_file, write_file_atomically};
use super::load_model;
use super::report::{check_truth, read_truth};
use pdgc::compare::{run_all, summarise, Method, Problem, Run, Summary};
use pdgc::data::{read_table, select_observed, Table, Wanted};
use pdgc::report::Truth;
use pdgc::simulate::{Scenario, Settings};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "scenario"])))]
pub struct CompareArgs {
    /// The `.pdg` model files to compare.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// A CSV of observations, the same for every seed (the seeds vary the fits).
    #[arg(long, requires = "truth")]
    pub data: Option<PathBuf>,
    /// The true sources of --data's rows.
    #[arg(long, requires = "data")]
    pub truth: Option<PathBuf>,
    /// Simulate fresh data per seed instead (with that seed and the scenario's defaults).
    #[arg(long, value_parser = super::scenario_parser())]
    pub scenario: Option<Scenario>,
    /// Rows simulated per seed with --scenario.
    #[arg(long, default_value_t = 5000, requires = "scenario")]
    pub samples: usize,
    /// Seeds 0..N; each fit uses its seed for initialisation and noise.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: u64,
    /// The classical baseline fitted beside the models: `fastica` (default) or `none`.
    #[arg(long, default_value = "fastica", value_parser = ["fastica", "none"])]
    pub baseline: String,
    /// Fits run at once (default: one per core). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Epochs of every model (overrides the model files).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub epochs: Option<u64>,
    /// Print JSON (the summaries and every run) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write every run as CSV here.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw a box plot of MCC per method here (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// No line per finished run on standard error.
    #[arg(short, long)]
    pub quiet: bool,
}

const CSV_HEADER: &str = "method,seed,mcc,mcc_spearman,final_loss,seconds,error";
const PLOT_MARK: &str = "<!-- pdgc compare -->";
const OURS: &str = "an earlier `pdgc compare` output";

fn model_name(path: &Path, all: &[PathBuf]) -> String {
    let stem = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let clashes = all
        .iter()
        .filter(|p| p.file_stem() == path.file_stem())
        .count();
    if clashes > 1 {
        path.display().to_string()
    } else {
        stem
    }
}

pub fn compare(args: CompareArgs) -> Outcome {
    if let Some(p) = &args.csv {
        check_own_file(p, CSV_HEADER, OURS)?;
    }
    if let Some(p) = &args.plot {
        check_own_file(p, PLOT_MARK, OURS)?;
    }
    let mut methods = Vec::new();
    for path in &args.models {
        let mut spec = load_model(path)?;
        if let Some(e) = args.epochs {
            spec.train.epochs = usize::try_from(e).unwrap_or(usize::MAX);
        }
        methods.push(Method::Model {
            name: model_name(path, &args.models),
            spec: Box::new(spec),
        });
    }
    if args.baseline == "fastica" {
        methods.push(Method::FastIca);
    }
    let problems: Vec<Problem> = match (&args.data, &args.truth, args.scenario) {
        (Some(data), Some(truth), _) => {
            let table = read_table(data, Wanted::All)?;
            let truth = read_truth(truth)?;
            (0..args.seeds)
                .map(|seed| Problem {
                    seed,
                    data: table.clone(),
                    truth: truth.values.clone(),
                })
                .collect()
        }
        (_, _, Some(scenario)) => {
            let mut settings = Settings::new(scenario);
            settings.samples = args.samples;
            if args.samples < 2 {
                return Err(CliError::Flag {
                    flag: "--samples",
                    why: "must be at least 2".into(),
                });
            }
            (0..args.seeds)
                .map(|seed| {
                    settings.seed = seed;
                    let sim = pdgc::simulate::simulate_with(&settings);
                    Problem {
                        seed,
                        data: Table {
                            columns: (0..sim.data.ncols()).map(|c| format!("x{c}")).collect(),
                            values: sim.data,
                        },
                        truth: sim.truth,
                    }
                })
                .collect()
        }
        _ => unreachable!("clap requires --data with --truth, or --scenario"),
    };
    // Every model must read the data, and have a latent dimension per true source.
    let first = &problems[0];
    let (data_name, truth_name) = match (&args.data, &args.truth) {
        (Some(d), Some(t)) => (d.display().to_string(), t.display().to_string()),
        _ => {
            let what = format!("pdgc simulate {}", args.scenario.map_or("", Scenario::name));
            (what.clone(), what)
        }
    };
    let truth = Truth {
        file: truth_name,
        columns: Vec::new(),
        values: first.truth.clone(),
    };
    for m in &methods {
        if let Method::Model { name, spec } = m {
            select_observed(&first.data, spec).map_err(|e| CliError::Flag {
                flag: "--data",
                why: format!("does not suit model `{name}`: {e}"),
            })?;
            check_truth(&truth, first.data.values.nrows(), spec, &data_name)?;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.map_or(cores, |j| j as usize);
    let rows = first.data.values.nrows();
    for m in &methods {
        if let Method::Model { name, spec } = m {
            let mut estimate = pdgc::resources::fit(spec, rows);
            estimate.bytes = estimate
                .bytes
                .saturating_mul(jobs.min(problems.len()) as u128);
            within_memory(estimate, || {
                format!("fitting `{name}` {jobs} at a time on {rows} rows (use --jobs 1)")
            })?;
        }
    }
    let quiet = args.quiet;
    let runs = run_all(&methods, &problems, jobs, &|r: &Run| {
        if quiet {
            return;
        }
        match (&r.error, r.mcc) {
            (None, Some(mcc)) => eprintln!(
                "{} seed {}: MCC {mcc:.4} ({:.1} s)",
                r.method, r.seed, r.seconds
            ),
            (Some(e), _) => eprintln!("{} seed {}: failed: {e}", r.method, r.seed),
            _ => {}
        }
    });
    let summaries = summarise(&methods, &runs);
    if let Some(path) = &args.csv {
        write_file_atomically(path, runs_csv(&runs).as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let groups: Vec<(String, Vec<f64>)> = methods
            .iter()
            .map(|m| {
                let values = runs
                    .iter()
                    .filter(|r| r.method == m.name())
                    .filter_map(|r| r.mcc)
                    .collect();
                (m.name().to_string(), values)
            })
            .collect();
        let svg = pdgc::report::box_plot(
            &format!("MCC per method over {} seeds", args.seeds),
            "MCC",
            &groups,
        )?;
        write_file_atomically(path, format!("{PLOT_MARK}\n{svg}").as_bytes())?;
    }
    let text = if args.json {
        let value = serde_json::json!({ "summaries": summaries, "runs": runs });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&value).expect("plain values serialise")
        )
    } else {
        table(&summaries)
    };
    super::emit_text(&text)?;
    let failed: usize = summaries.iter().map(|s| s.failed).sum();
    if failed > 0 {
        return Err(CliError::RunsFailed {
            failed,
            total: runs.len(),
        });
    }
    Ok(())
}

fn number(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

fn runs_csv(runs: &[Run]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = CSV_HEADER.split(',').collect();
    w.write_record(&header).expect("writing to memory");
    for r in runs {
        w.write_record([
            r.method.clone(),
            r.seed.to_string(),
            number(r.mcc),
            number(r.mcc_spearman),
            number(r.final_loss),
            format!("{:.3}", r.seconds),
            r.error.clone().unwrap_or_default(),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

/// The summary table: MCC and Spearman MCC as mean ± sd and min over the seeds.
fn table(summaries: &[Summary]) -> String {
    let width = summaries
        .iter()
        .map(|s| s.method.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:<width$}  {:>4}  {:>17}  {:>6}  {:>17}  {:>6}  {:>10}  {:>8}\n",
        "method", "runs", "MCC mean ± sd", "min", "Spearman ± sd", "min", "final loss", "time/fit"
    );
    for s in summaries {
        // With failures: the runs that succeeded, of all; no numbers when none did.
        let runs = if s.failed > 0 {
            format!("{}/{}", s.runs - s.failed, s.runs)
        } else {
            s.runs.to_string()
        };
        let none = s.failed == s.runs;
        let stats = |st: &pdgc::compare::Stats| match none {
            true => ("—".to_string(), "—".to_string()),
            false => (
                format!("{:.4} ± {:.4}", st.mean, st.sd),
                format!("{:.4}", st.min),
            ),
        };
        let (mcc, mcc_min) = stats(&s.mcc);
        let (spearman, spearman_min) = stats(&s.mcc_spearman);
        out += &format!(
            "{:<width$}  {:>4}  {:>17}  {:>6}  {:>17}  {:>6}  {:>10}  {:>7.1}s\n",
            s.method,
            runs,
            mcc,
            mcc_min,
            spearman,
            spearman_min,
            s.final_loss.map_or("—".to_string(), |l| format!("{l:.5}")),
            s.mean_seconds
        );
    }
    out
}
