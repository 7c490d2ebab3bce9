//! `pdgc compare … --plan DIR` and `pdgc compare --collect DIR`: a comparison handed to a
//! cluster (a Slurm job array) or to GNU parallel instead of run here, and gathered back.
//!
//! A plan folder holds everything its runs need but the `pdgc` binary: the model files, the
//! data (each seed's, for a scenario) and one `pdgc fit …`/`pdgc fastica …` command per run,
//! every path relative to the folder. `run.sh ID` runs line ID of `runs.tsv` once: a run
//! whose result is complete is skipped, so a sweep resumes by being submitted again; results
//! appear whole (`fit -o` and `fastica -o` write atomically), and a run that fails leaves
//! its messages in `status/ID.failed`. `--collect` scores the results exactly as a local
//! `compare` scores its fits: the same numbers, from the same inputs.

use super::error::{CliError, Outcome};
use super::fit::shell_word;
use super::outputs;
use super::read::read_table;
use super::report::read_truth;
use pdgc::compare::{Method, Problem, Run};
use pdgc::data::{Precision, Wanted};
use pdgc::files::{self, write_bytes};
use pdgc::folder::parse_record;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// `plan.ron`: what `--collect` needs to score the runs.
#[derive(Debug, Serialize, Deserialize)]
struct PlanRecord {
    pdgc_version: String,
    /// The methods in the order of the table: a model's label and its file in `models/`,
    /// or FastICA (no file).
    methods: Vec<PlannedMethod>,
    seeds: u64,
    runs: Vec<PlannedRun>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlannedMethod {
    label: String,
    model: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PlannedRun {
    id: usize,
    method: usize,
    seed: u64,
    /// The run's result, relative to the plan folder: a fit's folder, or FastICA's sources.
    result: String,
    /// The true sources it is scored against.
    truth: String,
    command: String,
}

/// The files of a plan, which a later plan may replace (while no run has left a result).
const PLAN_FILES: [&str; 10] = [
    "plan.ron",
    "runs.tsv",
    "commands",
    "run.sh",
    "slurm.sbatch",
    "README.txt",
    "models",
    "data",
    "results",
    "status",
];

/// Whether `dir` may receive a plan: missing, empty, or an earlier plan none of whose runs
/// has left a result or a status (results are hours of a cluster's work: never replaced).
fn check_plan_folder(dir: &Path) -> Outcome {
    let refuse = |why: &str| {
        Err(CliError::Output {
            flag: "--plan",
            path: dir.to_path_buf(),
            why: why.to_string(),
        })
    };
    outputs::check_folder_path("--plan", dir)?;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let names: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    if !dir.join("plan.ron").is_file() || !names.iter().all(|n| PLAN_FILES.iter().any(|f| n == f)) {
        return refuse(
            "holds more than an earlier plan; it is not replaced: choose another folder",
        );
    }
    let has_results = ["results", "status"]
        .iter()
        .any(|f| std::fs::read_dir(dir.join(f)).is_ok_and(|mut e| e.next().is_some()));
    if has_results {
        return refuse(
            "is a plan whose runs have left results; it is not replaced: collect it with --collect, or choose another folder",
        );
    }
    Ok(())
}

/// What a plan is made of besides its runs, and what its Slurm job asks for.
pub struct Settings<'a> {
    /// The model files, one per model method, in the methods' order.
    pub models: &'a [PathBuf],
    /// `--data` and `--truth`, copied into the plan; `None` for a scenario (each seed's
    /// problem is written).
    pub data: Option<(&'a Path, &'a Path)>,
    pub seeds: u64,
    pub threads_per_run: u16,
    pub time: &'a str,
    pub partition: Option<&'a str>,
    pub account: Option<&'a str>,
    pub concurrency: u64,
}

/// Whether `time` is one of the forms of sbatch's `--time` (with minutes and seconds
/// below 60, hours below 24 after a day count) and not zero, which Slurm reads as no limit.
fn is_slurm_time(time: &str) -> bool {
    let number = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.chars().all(|c| c.is_ascii_digit())).then(|| t.parse().ok())?
    };
    let (days, clock) = match time.split_once('-') {
        Some((d, rest)) => (Some(number(d)), rest),
        None => (None, time),
    };
    let parts: Option<Vec<u64>> = clock.split(':').map(number).collect();
    let Some(parts) = parts else { return false };
    let seconds = match (days, parts.as_slice()) {
        (None, [m]) => Some(m * 60),
        (None, [m, s]) if *s < 60 => Some(m * 60 + s),
        (None, [h, m, s]) if *m < 60 && *s < 60 => Some(h * 3600 + m * 60 + s),
        (Some(Some(d)), [h]) if *h < 24 => Some(d * 86400 + h * 3600),
        (Some(Some(d)), [h, m]) if *h < 24 && *m < 60 => Some(d * 86400 + h * 3600 + m * 60),
        (Some(Some(d)), [h, m, s]) if *h < 24 && *m < 60 && *s < 60 => {
            Some(d * 86400 + h * 3600 + m * 60 + s)
        }
        _ => None,
    };
    seconds.is_some_and(|s| s > 0)
}

/// Slurm's default `MaxArraySize`: an array of more tasks must be submitted in pieces.
const SLURM_ARRAY_MAX: usize = 1000;

/// Writes the plan of `methods` × `problems` into `dir`, all at once.
pub fn write(
    dir: &Path,
    args: &Settings,
    methods: &[Method],
    problems: &[Problem],
    inputs: &[&Path],
) -> Outcome {
    check_plan_folder(dir)?;
    // These go into slurm.sbatch as they are: a space or a line break would change the script.
    let slurm_words = [
        ("--time", Some(args.time)),
        ("--slurm-partition", args.partition),
        ("--slurm-account", args.account),
    ];
    if !is_slurm_time(args.time) {
        return Err(CliError::Flag {
            flag: "--time",
            why: format!(
                "`{}` is not a Slurm time limit greater than zero: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS, DAYS-HOURS:MINUTES or DAYS-HOURS:MINUTES:SECONDS",
                args.time
            ),
        });
    }
    for (flag, value) in slurm_words {
        let Some(value) = value else { continue };
        let plain = |c: char| c.is_ascii_alphanumeric() || "_.,:+-".contains(c);
        if value.is_empty() || !value.chars().all(plain) {
            return Err(CliError::Flag {
                flag,
                why: format!(
                    "`{value}` is not a Slurm value: letters, digits and `_ . , : + -` only"
                ),
            });
        }
    }
    outputs::check_holds_no_input("--plan", dir, inputs)?;
    let threads = args.threads_per_run;
    let scenario = args.data.is_none();
    // Where each seed's data and truth are, relative to the plan.
    let data_of = |seed: u64| match scenario {
        true => (
            format!("data/seed-{seed}/data.csv"),
            format!("data/seed-{seed}/truth.csv"),
        ),
        false => ("data/data.csv".to_string(), "data/truth.csv".to_string()),
    };
    let mut planned_methods = Vec::new();
    let mut model_files = Vec::new();
    for (i, m) in methods.iter().enumerate() {
        let model = match m {
            Method::Model { .. } => {
                let file = format!("models/m{i}.pdg");
                model_files.push((file.clone(), args.models[i].clone()));
                Some(file)
            }
            Method::FastIca => None,
        };
        planned_methods.push(PlannedMethod {
            label: m.name().to_string(),
            model,
        });
    }
    let mut runs = Vec::new();
    for problem in problems {
        for (i, m) in methods.iter().enumerate() {
            let id = runs.len();
            let (data, truth) = data_of(problem.seed);
            let (result, words): (String, Vec<String>) = match m {
                Method::Model { spec, .. } => {
                    let result = format!("results/r{id}");
                    let seed = pdgc::compare::fit_seed(spec, problem.seed);
                    let words: Vec<String> = [
                        "fit",
                        planned_methods[i].model.as_deref().expect("a model's file"),
                        &data,
                        "-o",
                        &result,
                        "--truth",
                        &truth,
                        "--seed",
                        &seed.to_string(),
                        "--epochs",
                        &spec.train.epochs.to_string(),
                        "--threads",
                        &threads.to_string(),
                        "--quiet",
                        "--no-plots",
                    ]
                    .map(str::to_string)
                    .to_vec();
                    (result, words)
                }
                Method::FastIca => {
                    let result = format!("results/r{id}.csv");
                    let n = problem.truth.ncols().min(problem.data.values.ncols());
                    let words = [
                        "fastica",
                        &data,
                        "--sources",
                        &n.to_string(),
                        "--seed",
                        &problem.seed.to_string(),
                        "--full-precision",
                        "-o",
                        &result,
                    ]
                    .map(str::to_string)
                    .to_vec();
                    (result, words)
                }
            };
            let command = std::iter::once("pdgc".to_string())
                .chain(words)
                .map(|w| shell_word(OsStr::new(&w)))
                .collect::<Vec<_>>()
                .join(" ");
            runs.push(PlannedRun {
                id,
                method: i,
                seed: problem.seed,
                result,
                truth,
                command,
            });
        }
    }
    // Memory per run: the largest model's fit, and the process around it.
    let rows = problems[0].data.values.nrows();
    let fit_bytes = methods
        .iter()
        .filter_map(|m| match m {
            Method::Model { spec, .. } => Some(pdgc::resources::fit(spec, rows).bytes),
            Method::FastIca => None,
        })
        .max()
        .unwrap_or(0);
    let memory_mib = (fit_bytes.saturating_mul(2) >> 20).saturating_add(256);
    let record = PlanRecord {
        pdgc_version: env!("CARGO_PKG_VERSION").to_string(),
        methods: planned_methods,
        seeds: args.seeds,
        runs,
    };
    let count = record.runs.len();
    files::write_atomically(dir, |staging| -> Result<(), CliError> {
        for sub in ["models", "data", "results", "status"] {
            std::fs::create_dir(staging.join(sub)).map_err(files::write_error(staging))?;
        }
        for (file, source) in &model_files {
            let text = std::fs::read(source).map_err(|source_error| CliError::ModelRead {
                file: source.display().to_string(),
                source: source_error,
            })?;
            write_bytes(&staging.join(file), &text)?;
        }
        match args.data {
            Some((data, truth)) => {
                for (from, to) in [(data, "data/data.csv"), (truth, "data/truth.csv")] {
                    std::fs::copy(from, staging.join(to)).map_err(files::write_error(from))?;
                }
            }
            _ => {
                for problem in problems {
                    let (data, truth) = data_of(problem.seed);
                    let folder = staging
                        .join(&data)
                        .parent()
                        .expect("a seed folder")
                        .to_path_buf();
                    std::fs::create_dir_all(&folder).map_err(files::write_error(&folder))?;
                    let names = |prefix: &str, n: usize| {
                        (0..n).map(|j| format!("{prefix}{j}")).collect::<Vec<_>>()
                    };
                    let (x, s) = (&problem.data.values, &problem.truth);
                    write_bytes(
                        &staging.join(&data),
                        &csv_bytes(&problem.data.columns, x, Precision::Double),
                    )?;
                    write_bytes(
                        &staging.join(&truth),
                        &csv_bytes(&names("s", s.ncols()), s, Precision::Double),
                    )?;
                }
            }
        }
        let mut tsv = String::from("id\tmethod\tseed\tcommand\tresult\n");
        let mut commands = String::new();
        for r in &record.runs {
            // A label is shown, never parsed: tabs and line breaks would move the fields.
            let label: String = record.methods[r.method]
                .label
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            tsv += &format!(
                "{}\t{label}\t{}\t{}\t{}\n",
                r.id, r.seed, r.command, r.result
            );
            commands += &format!("sh run.sh {}\n", r.id);
        }
        write_bytes(&staging.join("runs.tsv"), tsv.as_bytes())?;
        write_bytes(&staging.join("commands"), commands.as_bytes())?;
        write_bytes(&staging.join("run.sh"), RUN_SH.as_bytes())?;
        {
            use std::os::unix::fs::PermissionsExt;
            let script = staging.join("run.sh");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(files::write_error(&script))?;
        }
        let sbatch = sbatch(args, count, threads, memory_mib);
        write_bytes(&staging.join("slurm.sbatch"), sbatch.as_bytes())?;
        write_bytes(
            &staging.join("README.txt"),
            readme(count, threads).as_bytes(),
        )?;
        let text = ron::ser::to_string_pretty(&record, ron::ser::PrettyConfig::new())
            .map_err(|e| files::write_error(staging)(std::io::Error::other(e)))?;
        Ok(write_bytes(
            &staging.join("plan.ron"),
            (text + "\n").as_bytes(),
        )?)
    })?;
    eprintln!(
        "planned {count} runs in {}: submit with `cd {} && sbatch slurm.sbatch`, or see its README.txt",
        dir.display(),
        shell_word(dir.as_os_str())
    );
    if count > SLURM_ARRAY_MAX {
        eprintln!(
            "note: {count} runs is more than Slurm's default MaxArraySize ({}); README.txt says how to submit them in pieces",
            SLURM_ARRAY_MAX + 1
        );
    }
    Ok(())
}

fn csv_bytes(header: &[String], x: &pdgc::matrix::Matrix, precision: Precision) -> Vec<u8> {
    let mut bytes = Vec::new();
    pdgc::data::write_csv_to(&mut bytes, header, x, precision).expect("writing to memory");
    bytes
}

/// Runs line ID of `runs.tsv` once. `PDGC` names the binary (default: `pdgc` on PATH).
const RUN_SH: &str = r#"#!/bin/sh
# Runs line ID of runs.tsv once, from this folder: skipped when its result is complete (a
# fit's folder with its run.ron, FastICA's sources). A fit stopped by a signal (a Slurm
# time limit, scancel) leaves a checkpoint, which the next submission resumes from.
# While it runs, status/ID.running holds the host and process; if it fails or is stopped,
# its messages are kept in status/ID.failed (where `pdgc compare --collect` finds them).
# Usage: sh run.sh ID   (PDGC=/path/to/pdgc names the binary; default: pdgc on PATH)
set -u
id="${1:-}"
case "$id" in
  ''|*[!0-9]*|0?*) echo "run.sh: usage: sh run.sh ID, ID a run's number in runs.tsv" >&2; exit 2 ;;
esac
binary="${PDGC:-pdgc}"
case "$binary" in
  */*) binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")" ;;
esac
cd "$(dirname "$0")" || exit 1
line=$(awk -F '\t' -v id="$id" 'NR > 1 && $1 "" == id ""' runs.tsv)
if [ -z "$line" ]; then echo "run.sh: no run $id in runs.tsv" >&2; exit 2; fi
command=$(printf '%s\n' "$line" | cut -f 4)
result=$(printf '%s\n' "$line" | cut -f 5)
if [ -e "$result/run.ron" ] || [ -f "$result" ]; then exit 0; fi
if [ -f "$result.checkpoint" ]; then command="$command --resume $result.checkpoint"; fi
pdgc() { command "$binary" "$@"; }
mkdir -p status results
rm -f "status/$id.failed"
echo "$(hostname) $$" > "status/$id.running"
stopped() {
  echo "run.sh: stopped by a signal" >> "status/$id.log"
  mv "status/$id.log" "status/$id.failed"
  rm -f "status/$id.running"
  exit 130
}
trap stopped INT TERM HUP
eval "$command" 2> "status/$id.log"
code=$?
trap - INT TERM HUP
if [ "$code" -eq 0 ]; then
  rm -f "status/$id.running" "status/$id.log"
  exit 0
fi
mv "status/$id.log" "status/$id.failed"
rm -f "status/$id.running"
exit "$code"
"#;

/// The Slurm job array over the plan's runs.
fn sbatch(args: &Settings, count: usize, threads: u16, memory_mib: u128) -> String {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        "# A job array over runs.tsv: task K runs line K (sh run.sh K). Submit from this folder."
            .to_string(),
        "#SBATCH --job-name=pdgc-compare".to_string(),
        format!("#SBATCH --array=0-{}%{}", count - 1, args.concurrency),
        format!("#SBATCH --cpus-per-task={threads}"),
        "#SBATCH --ntasks=1".to_string(),
        format!("#SBATCH --mem={memory_mib}M"),
        format!("#SBATCH --time={}", args.time),
        "#SBATCH --output=status/slurm-%A_%a.out".to_string(),
    ];
    if let Some(p) = args.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = args.account {
        lines.push(format!("#SBATCH --account={a}"));
    }
    lines.push("cd \"${SLURM_SUBMIT_DIR:-.}\" || exit 1".to_string());
    lines.push("exec sh run.sh \"$SLURM_ARRAY_TASK_ID\"".to_string());
    lines.join("\n") + "\n"
}

fn readme(count: usize, threads: u16) -> String {
    format!(
        "A pdgc comparison of {count} runs, planned with `pdgc compare --plan`.\n\
         \n\
         Every run needs only this folder and the pdgc binary (on PATH, or named by PDGC=…).\n\
         A run whose result is complete is skipped, so submitting again resumes a sweep.\n\
         \n\
         On a Slurm cluster (this folder on a file system the nodes share):\n\
         \x20   mkdir -p status && sbatch slurm.sbatch\n\
         With GNU parallel on one machine, 8 runs at a time:\n\
         \x20   parallel -j 8 < commands\n\
         With xargs:\n\
         \x20   seq 0 {last} | xargs -P 8 -n 1 sh run.sh\n\
         Each run uses {threads} thread(s); runs at once × threads should not exceed the cores.\n\
         Slurm refuses arrays larger than its MaxArraySize (1001 by default); submit a larger\n\
         plan in pieces (a task still runs the line of its own number), for example:\n\
         \x20   sbatch --array=0-999%100 slurm.sbatch; sbatch --array=1000-1999%100 slurm.sbatch\n\
         \n\
         While runs go on, and after:\n\
         \x20   pdgc compare --collect .\n\
         prints the table (--json, --csv FILE, --plot FILE.svg as for compare) of the runs that\n\
         finished, and how many are done, running or failed.\n",
        last = count.saturating_sub(1)
    )
}

/// A plan's runs as far as they have gone.
pub struct Collected {
    pub methods: Vec<Method>,
    pub runs: Vec<Run>,
    pub seeds: u64,
    /// Exit 1 when a run failed.
    pub outcome: Outcome,
}

/// Reads the results of the plan in `dir` and scores them as `compare` scores its fits.
pub fn collect(dir: &Path) -> Result<Collected, CliError> {
    let bad = |why: String| CliError::FitFolder {
        path: dir.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(dir.join("plan.ron"))
        .map_err(|e| bad(format!("is not a plan folder (plan.ron: {e})")))?;
    let record: PlanRecord = ron::from_str(&text)
        .map_err(|e| bad(format!("holds a plan.ron that cannot be read: {e}")))?;
    let mut methods = Vec::new();
    for m in &record.methods {
        methods.push(match &m.model {
            Some(file) => Method::Model {
                name: m.label.clone(),
                spec: Box::new(super::load_model(&dir.join(file))?),
            },
            None => Method::FastIca,
        });
    }
    let (mut done, mut running, mut failed, mut pending) = (0, 0, 0, 0);
    let mut runs = Vec::new();
    for r in &record.runs {
        let label = record
            .methods
            .get(r.method)
            .map(|m| m.label.clone())
            .ok_or_else(|| bad(format!("plan.ron: run {} names no method", r.id)))?;
        let result = dir.join(&r.result);
        let failure = dir.join("status").join(format!("{}.failed", r.id));
        let running_file = dir.join("status").join(format!("{}.running", r.id));
        let complete = result.join("run.ron").exists() || result.is_file();
        let outcome = if complete {
            let scored = score(
                dir,
                r,
                &result,
                matches!(methods[r.method], Method::FastIca),
            );
            if let Err(why) = &scored {
                eprintln!("run {} ({label}, seed {}) failed: {why}", r.id, r.seed);
            }
            Some(scored)
        } else if failure.is_file() || running_here_but_gone(&running_file) {
            let log = match failure.is_file() {
                true => failure.clone(),
                false => dir.join("status").join(format!("{}.log", r.id)),
            };
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("its process ended without a result or a message (killed?)");
            eprintln!("run {} ({label}, seed {}) failed: {first}", r.id, r.seed);
            Some(Err(first.to_string()))
        } else {
            if running_file.is_file() {
                running += 1;
            } else {
                pending += 1;
            }
            None
        };
        let Some(outcome) = outcome else { continue };
        match &outcome {
            Ok(_) => done += 1,
            Err(_) => failed += 1,
        }
        runs.push(match outcome {
            Ok((mcc, mcc_spearman, final_loss, seconds, before)) => Run {
                method: label,
                seed: r.seed,
                mcc: Some(mcc),
                mcc_spearman: Some(mcc_spearman),
                final_loss,
                seconds,
                error: None,
                mcc_before_postprocess: before,
            },
            Err(why) => Run {
                method: label,
                seed: r.seed,
                mcc: None,
                mcc_spearman: None,
                final_loss: None,
                seconds: 0.0,
                error: Some(why),
                mcc_before_postprocess: None,
            },
        });
    }
    eprintln!(
        "{} runs: {done} done, {running} running, {failed} failed, {pending} not started",
        record.runs.len()
    );
    let outcome = match failed {
        0 => Ok(()),
        failed => Err(CliError::RunsFailed {
            failed,
            total: record.runs.len(),
        }),
    };
    Ok(Collected {
        methods,
        runs,
        seeds: record.seeds,
        outcome,
    })
}

/// Whether `status/ID.running` names a process of this host that no longer exists (killed
/// outright, so that `run.sh` could not record it): the run failed.
fn running_here_but_gone(running: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(running) else {
        return false;
    };
    let mut words = text.split_whitespace();
    let (Some(host), Some(pid)) = (words.next(), words.next()) else {
        return false;
    };
    let here = rustix::system::uname();
    let this_host = here.nodename().to_string_lossy() == host;
    this_host && files::process_gone(pid)
}

/// A finished run's MCC, Spearman MCC, final loss and seconds, or why it cannot be read.
/// A finished run's MCC (Pearson, Spearman), final loss, seconds, and with `postprocess`
/// the MCC before it.
type Score = (f64, f64, Option<f64>, f64, Option<f64>);

fn score(dir: &Path, run: &PlannedRun, result: &Path, fastica: bool) -> Result<Score, String> {
    let unreadable = |e: String| format!("its result `{}` cannot be read: {e}", run.result);
    if fastica {
        let truth = read_truth(&dir.join(&run.truth)).map_err(|e| unreadable(e.to_string()))?;
        let sources = read_table(result, Wanted::All).map_err(|e| unreadable(e.to_string()))?;
        let expected: Vec<String> = (0..truth.values.ncols()).map(|j| format!("z{j}")).collect();
        if sources.columns != expected {
            return Err(unreadable(format!(
                "its columns are not FastICA's {}",
                expected.join(", ")
            )));
        }
        let r = pdgc::eval::recovery(&truth.values, &sources.values)?;
        return Ok((r.mcc, r.mcc_spearman, None, 0.0, None));
    }
    let text =
        std::fs::read_to_string(result.join("run.ron")).map_err(|e| unreadable(e.to_string()))?;
    let record = parse_record(&text).map_err(|e| unreadable(e.to_string()))?;
    match (record.mcc, record.mcc_spearman) {
        (Some(mcc), Some(spearman)) => {
            let before = record.mcc_before_postprocess;
            Ok((
                mcc,
                spearman,
                Some(record.final_loss),
                record.wall_seconds,
                before,
            ))
        }
        _ => Err(unreadable("it records no recovery".into())),
    }
}
