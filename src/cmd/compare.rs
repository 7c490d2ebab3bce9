//! `pdgc compare MODEL… (--data D --truth T | --scenario S)`: every model (and FastICA)
//! with every seed, in parallel; a table of MCC per method, and the runs for scripts.

use super::error::{threads_fit, within_memory, CliError, Outcome};
use super::load_model;
use super::outputs::{check_distinct_outputs, check_output_file, check_own_file, is_within};
use super::read::read_table;
use super::report::{check_truth, read_truth};
use pdgc::compare::{run_all, summarise, Method, Problem, Run, Summary};
use pdgc::data::{select_observed, Preprocessing, Table, Wanted};
use pdgc::files::write_file_atomically;
use pdgc::report::Truth;
use pdgc::simulate::{Scenario, Settings};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The `.pdg` model files to compare.
    #[arg(required_unless_present = "collect", conflicts_with = "collect")]
    pub models: Vec<PathBuf>,
    /// A CSV of observations, the same for every seed (the seeds vary the fits).
    #[arg(long, requires = "truth")]
    pub data: Option<PathBuf>,
    /// The true sources of --data's rows.
    #[arg(long, requires = "data", conflicts_with = "scenario")]
    pub truth: Option<PathBuf>,
    /// Simulate fresh data per seed instead (with that seed and the scenario's defaults).
    #[arg(long, value_parser = super::scenario_parser(), conflicts_with = "data")]
    pub scenario: Option<Scenario>,
    /// Rows simulated per seed with --scenario (default 5000; as `simulate --samples`).
    #[arg(long, requires = "scenario", value_parser = super::samples_parser())]
    pub samples: Option<usize>,
    /// With --scenario: the mixing's settings, as `simulate` takes them.
    #[command(flatten)]
    pub mixing: super::MixingArgs,
    /// How many seeds: --seed-from S … S+N−1. Each fit uses its seed for initialisation
    /// and noise; with --scenario each seed's data are simulated with it too.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: u64,
    /// The first seed (default 0): report on seeds that were never used to choose a
    /// model, say `--seed-from 1000`.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=u64::MAX / 2))]
    pub seed_from: u64,
    /// The classical baseline fitted beside the models.
    #[arg(long, value_enum, default_value_t = Baseline::FastIca)]
    pub baseline: Baseline,
    /// Fits run at once (default: one per core). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024), conflicts_with_all = ["plan", "collect"])]
    pub jobs: Option<u64>,
    /// Epochs of every model (overrides the model files, held to their rules).
    #[arg(long)]
    pub epochs: Option<usize>,
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
    /// Run nothing: write into DIR every input the runs need, one command per run
    /// (runs.tsv, commands), a Slurm job array over them (slurm.sbatch) and README.txt.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["json", "csv", "plot"])]
    pub plan: Option<PathBuf>,
    /// The table (--json, --csv, --plot too) of a plan's runs that have finished, and how
    /// many are done, running or failed.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["data", "scenario", "epochs", "plan", "seeds", "seed_from", "samples", "baseline", "quiet"])]
    pub collect: Option<PathBuf>,
    /// With --plan: threads of each run (Slurm's --cpus-per-task).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "plan", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads_per_run: u16,
    /// With --plan: the time limit of each run (Slurm's --time).
    #[arg(
        long,
        value_name = "TIME",
        default_value = "01:00:00",
        requires = "plan"
    )]
    pub time: String,
    /// With --plan: the Slurm partition (default: the cluster's).
    #[arg(long, value_name = "NAME", requires = "plan")]
    pub slurm_partition: Option<String>,
    /// With --plan: the Slurm account to charge (default: yours).
    #[arg(long, value_name = "NAME", requires = "plan")]
    pub slurm_account: Option<String>,
    /// With --plan: at most this many runs of the array at once (Slurm's `%K`).
    #[arg(long, value_name = "K", default_value_t = 100, requires = "plan", value_parser = clap::value_parser!(u64).range(1..))]
    pub slurm_concurrency: u64,
}

/// `compare --baseline`: what is fitted beside the models on the same seeds.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// FastICA, the classical method every model is paired with.
    #[value(name = "fastica")]
    FastIca,
    /// The models alone, paired with nothing.
    None,
}

const CSV_HEADER: &str =
    "method,seed,mcc,mcc_spearman,final_loss,seconds,error,mcc_minus_baseline,mcc_before_postprocess";
/// What marks a CSV as one `compare` wrote, earlier versions' (fewer columns) too.
const CSV_MARK: &str = "method,seed,mcc,mcc_spearman,final_loss,seconds,error";

impl CompareArgs {
    /// The seeds run: --seed-from, and the --seeds − 1 after it.
    fn seed_list(&self) -> std::ops::Range<u64> {
        self.seed_from..self.seed_from + self.seeds
    }
}
const PLOT_MARK: &str = "<!-- pdgc compare -->";
const OURS: &str = "an earlier `pdgc compare` output";

/// One label per method, all different: a model's file stem (its path where stems clash),
/// then ` (2)`, ` (3)`… for a file given again or a label taken by the baseline.
fn method_labels(paths: &[PathBuf], baseline: Option<&str>) -> Vec<String> {
    let stem = |p: &PathBuf| {
        p.file_stem().map_or_else(
            || p.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        )
    };
    let mut taken: Vec<String> = baseline.into_iter().map(str::to_string).collect();
    let mut labels = Vec::new();
    for path in paths {
        let clashes = paths.iter().filter(|p| stem(p) == stem(path)).count() > 1;
        // A stem that is the baseline's label, or another file's: the path says which.
        let base = match clashes || baseline == Some(stem(path).as_str()) {
            true => path.display().to_string(),
            false => stem(path),
        };
        let label = (1..)
            .map(|k| match k {
                1 => base.clone(),
                k => format!("{base} ({k})"),
            })
            .find(|l| !taken.contains(l))
            .expect("an unused label");
        taken.push(label.clone());
        labels.push(label);
    }
    labels
}

pub fn compare(args: CompareArgs) -> Outcome {
    if let (None, Some(flag)) = (args.scenario, args.mixing.first_given()) {
        let why = "sets how --scenario simulates: give a --scenario, or leave it out".to_string();
        return Err(CliError::Flag { flag, why });
    }
    let mut inputs: Vec<&Path> = args.models.iter().map(PathBuf::as_path).collect();
    inputs.extend(args.data.as_deref());
    inputs.extend(args.truth.as_deref());
    inputs.extend(args.collect.as_deref());
    let outputs: Vec<(&'static str, &Path)> = [("--csv", &args.csv), ("--plot", &args.plot)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
        .collect();
    for (flag, path) in &outputs {
        check_output_file(flag, path, &inputs)?;
    }
    check_distinct_outputs(&outputs)?;
    if let Some(p) = &args.csv {
        check_own_file("--csv", p, CSV_MARK, OURS)?;
    }
    if let Some(p) = &args.plot {
        check_own_file("--plot", p, PLOT_MARK, OURS)?;
    }
    if let Some(dir) = &args.collect {
        // Its outputs go beside the plan, never into it (a file there could be taken for a
        // run's result).
        for (flag, path) in &outputs {
            if is_within(path, dir) {
                return Err(CliError::Output {
                    flag,
                    path: path.to_path_buf(),
                    why: format!(
                        "is inside the plan `{}`, which --collect only reads: choose a file outside it",
                        dir.display()
                    ),
                });
            }
        }
        let collected = super::plan::collect(dir)?;
        return report(&args, &collected.methods, &collected.runs, collected.seeds)
            .and(collected.outcome);
    }
    if args.samples.is_some() && args.scenario.is_none() {
        return Err(CliError::Flag {
            flag: "--samples",
            why: "applies only with --scenario (--data gives its own rows)".into(),
        });
    }
    if args.data.is_none() && args.scenario.is_none() {
        return Err(CliError::Flag {
            flag: "--data",
            why: "(with --truth) or --scenario is needed: the data to compare the models on".into(),
        });
    }
    let baseline = (args.baseline == Baseline::FastIca).then(|| Method::FastIca.name());
    let labels = method_labels(&args.models, baseline);
    // --epochs replaces a setting the checker validated in each file: held to its rules.
    let overrides = pdgc::fit::Overrides {
        epochs: args.epochs,
        ..Default::default()
    };
    let mut methods = Vec::new();
    for (path, name) in args.models.iter().zip(labels) {
        let spec = overrides.apply(&load_model(path)?)?;
        methods.push(Method::Model {
            name,
            spec: Box::new(spec),
        });
    }
    if baseline.is_some() {
        methods.push(Method::FastIca);
    }
    let problems: Vec<Problem> = match (&args.data, &args.truth, args.scenario) {
        (Some(data), Some(truth), _) => {
            let table = read_table(data, Wanted::All)?;
            let truth = read_truth(truth)?;
            args.seed_list()
                .map(|seed| Problem {
                    seed,
                    data: table.clone(),
                    truth: truth.values.clone(),
                })
                .collect()
        }
        (_, _, Some(scenario)) => {
            let samples = args.samples.unwrap_or(Settings::new(scenario).samples);
            let mut settings = args.mixing.settings(scenario, samples, args.seed_from)?;
            within_memory(
                pdgc::resources::simulate(settings.samples, settings.sources + settings.observed),
                || format!("--samples {}", settings.samples),
            )?;
            args.seed_list()
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
    let data_flag = match args.scenario {
        Some(_) => "--scenario",
        None => "--data",
    };
    for m in &methods {
        match m {
            Method::Model { name, spec } => {
                select_observed(&data_name, &first.data, spec).map_err(|e| CliError::Flag {
                    flag: data_flag,
                    why: format!("does not suit model `{name}`: {e}"),
                })?;
                check_truth(&truth, first.data.values.nrows(), spec, &data_name)?;
            }
            // FastICA whitens: data it cannot whiten are refused before any fit.
            Method::FastIca => match (&args.data, args.scenario) {
                (Some(data), _) => {
                    Preprocessing::check_for_fastica(&data.display().to_string(), &first.data)?
                }
                (None, Some(_)) => Preprocessing::check_for_fastica(&data_name, &first.data)
                    .map_err(|e| CliError::Flag {
                        flag: "--samples",
                        why: format!("is too few for the baseline: {e}"),
                    })?,
                (None, None) => {}
            },
        }
    }
    if let Some(dir) = &args.plan {
        let settings = super::plan::Settings {
            models: &args.models,
            data: args.data.as_deref().zip(args.truth.as_deref()),
            seeds: args.seeds,
            threads_per_run: args.threads_per_run,
            time: &args.time,
            partition: args.slurm_partition.as_deref(),
            account: args.slurm_account.as_deref(),
            concurrency: args.slurm_concurrency,
        };
        return super::plan::write(dir, &settings, &methods, &problems, &inputs);
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
    // Each job is a thread and its one-thread pool; one that cannot get its stacks aborts
    // the process, so they are counted first.
    let workers = jobs.min(problems.len() * methods.len()).max(1);
    threads_fit(2 * workers, || {
        format!("--jobs {jobs}: starting {} threads", 2 * workers)
    })?;
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
    })
    .map_err(|e| CliError::Flag {
        flag: "--jobs",
        why: format!("{jobs}: {e}"),
    })?;
    report(&args, &methods, &runs, args.seeds)
}

/// Prints the table (or JSON) of `runs` and writes `--csv` and `--plot`; exit 1 when a
/// run failed. A local `compare` and `--collect` of a plan end here alike.
fn report(args: &CompareArgs, methods: &[Method], runs: &[Run], seeds: u64) -> Outcome {
    let summaries = summarise(methods, runs);
    let baseline = methods.iter().any(|m| matches!(m, Method::FastIca));
    let paired = match baseline {
        true => pdgc::compare::paired(methods, runs, Method::FastIca.name()),
        false => Vec::new(),
    };
    if let Some(path) = &args.csv {
        write_file_atomically(path, runs_csv(runs, baseline).as_bytes())?;
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
            &format!("MCC per method over {seeds} seeds"),
            "MCC",
            &groups,
        )?;
        write_file_atomically(path, format!("{PLOT_MARK}\n{svg}").as_bytes())?;
    }
    let text = if args.json {
        let value = serde_json::json!({ "summaries": summaries, "paired": paired, "runs": runs });
        format!(
            "{}\n",
            serde_json::to_string_pretty(&value).expect("plain values serialise")
        )
    } else {
        table(&summaries) + &paired_table(&paired)
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

/// Every run; with the baseline, each run's MCC less the baseline's on the same seed.
fn runs_csv(runs: &[Run], baseline: bool) -> String {
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
            number(baseline.then(|| baseline_difference(runs, r)).flatten()),
            number(r.mcc_before_postprocess),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 cells")
}

/// A run's MCC less FastICA's on the same seed (none for FastICA's own runs).
fn baseline_difference(runs: &[Run], run: &Run) -> Option<f64> {
    let fastica = Method::FastIca;
    if run.method == fastica.name() {
        return None;
    }
    let theirs = runs
        .iter()
        .find(|r| r.method == fastica.name() && r.seed == run.seed)?;
    Some(run.mcc? - theirs.mcc?)
}

/// Each model against FastICA on the same seeds: wins, ties and losses, and the mean
/// difference of MCC with its bootstrap 95 % interval.
fn paired_table(paired: &[pdgc::compare::Paired]) -> String {
    if paired.is_empty() {
        return String::new();
    }
    let width = name_width(paired.iter().map(|p| p.method.as_str()));
    let mut out = format!(
        "\nagainst {} on the same seeds (a tie: MCC within {}):\n{:<width$}  {:>5}  {:>9}  {:>9}  {:>20}\n",
        paired[0].baseline,
        pdgc::compare::TIE,
        "method",
        "pairs",
        "W / T / L",
        "Δ MCC",
        "95% CI (bootstrap)"
    );
    for p in paired {
        out += &format!(
            "{:<width$}  {:>5}  {:>9}  {:>+9.4}  {:>20}\n",
            p.method,
            p.pairs,
            format!("{} / {} / {}", p.wins, p.ties, p.losses),
            p.mean_difference,
            format!("[{:+.4}, {:+.4}]", p.ci_low, p.ci_high)
        );
    }
    out
}

/// The width of a table's method column: its longest name, and at least "method"'s.
fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(|n| n.chars().count()).max().unwrap_or(6).max(6)
}

/// The summary table: MCC and Spearman MCC as mean ± sd and min over the seeds.
fn table(summaries: &[Summary]) -> String {
    let width = name_width(summaries.iter().map(|s| s.method.as_str()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use pdgc::compare::{summarise, Run};

    fn run(method: &str, seed: u64, mcc: Option<f64>) -> Run {
        Run {
            method: method.into(),
            seed,
            mcc,
            mcc_spearman: mcc,
            final_loss: mcc.map(|_| 0.5),
            seconds: 1.0,
            error: mcc.is_none().then(|| "training diverged at epoch 1".into()),
            mcc_before_postprocess: None,
        }
    }

    /// A method whose every run failed is shown as 0 of its runs, without numbers (no
    /// NaN); the others' rows keep theirs. (Training can no longer be made to diverge
    /// from a model file, whose numbers have finite ranges, so this is the table alone.)
    #[test]
    fn failed_runs_are_shown_without_numbers() {
        let methods = [
            Method::Model {
                name: "wide".into(),
                spec: Box::new(pdgc::compile("observed x[3]\nlatent z[3] ~ gmm(K = 2)\n").unwrap()),
            },
            Method::FastIca,
        ];
        let runs = [
            run("wide", 0, None),
            run("fastica", 0, Some(0.99)),
            run("wide", 1, None),
            run("fastica", 1, Some(1.0)),
        ];
        let text = table(&summarise(&methods, &runs));
        let wide = text.lines().find(|l| l.starts_with("wide")).unwrap();
        assert!(wide.contains(" 0/2 "), "{text}");
        assert!(wide.contains('—') && !wide.contains("NaN"), "{text}");
        let fastica = text.lines().find(|l| l.starts_with("fastica")).unwrap();
        assert!(fastica.contains("0.9950"), "{text}");
    }

    #[test]
    fn labels_are_unique() {
        let paths: Vec<PathBuf> = ["a/m.pdg", "a/m.pdg", "fastica.pdg", "b/m.pdg"]
            .iter()
            .map(PathBuf::from)
            .collect();
        assert_eq!(
            method_labels(&paths, Some("fastica")),
            ["a/m.pdg", "a/m.pdg (2)", "fastica.pdg", "b/m.pdg"]
        );
    }
}
