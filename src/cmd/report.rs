//! `pdgc report FIT`: the figures and `report.html` of a fit, drawn from its folder's files,
//! so that a fit made earlier (or one seen against new truth) is looked at without
//! refitting. `fit` draws its own report the same way, from the folder it is writing.

use super::error::CliError;
use super::files::{self, write_file_atomically};
use super::outputs;
use super::read::read_table;
use pdgc::data::{Table, Wanted};
use pdgc::folder::{FittedPrior, RunRecord};
use pdgc::numeric::PriorDensity;
use pdgc::report::{render, FitView, Options, Report, Truth};
use pdgc::spec::ModelSpec;
use pdgc::trace::Trace;
use std::path::{Path, PathBuf};

/// What marks a page as pdgc's own, which a later report may replace.
const GENERATOR: &str = "<meta name=\"generator\" content=\"pdgc\">";

/// Reads the true sources for a report.
pub fn read_truth(path: &Path) -> Result<Truth, CliError> {
    parse_truth(path, &super::read::read_data_file(path)?)
}

/// The true sources from the bytes of the file at `path`.
pub fn parse_truth(path: &Path, bytes: &[u8]) -> Result<Truth, CliError> {
    let file = path.display().to_string();
    let Table { columns, values } = pdgc::data::parse_table(&file, bytes, Wanted::All)?;
    Ok(Truth {
        file,
        columns,
        values,
    })
}

/// The truth must describe the data's rows, and have no more sources than the model has
/// latent dimensions (each is matched to one).
pub fn check_truth(
    truth: &Truth,
    rows: usize,
    spec: &ModelSpec,
    data: &str,
) -> Result<(), CliError> {
    match pdgc::fit::truth_problem(&truth.values, rows, spec, data) {
        None => Ok(()),
        Some(why) => Err(CliError::Flag {
            flag: "--truth",
            why: format!("`{}` {why}", truth.file),
        }),
    }
}

fn unreadable(dir: &Path, why: String) -> CliError {
    CliError::FitFolder {
        path: dir.to_path_buf(),
        why,
    }
}

fn read_text(dir: &Path, name: &str) -> Result<String, CliError> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| {
        unreadable(
            dir,
            format!("is not a pdgc fit folder that can be read: {name}: {e}"),
        )
    })
}

/// The record of the fit in `dir`.
pub fn read_record(dir: &Path) -> Result<RunRecord, CliError> {
    let text = read_text(dir, "run.ron")?;
    pdgc::folder::parse_record(&text).map_err(|e| {
        unreadable(
            dir,
            format!("holds a run.ron that is not a pdgc fit's record: {e}"),
        )
    })
}

/// Everything the report shows, from the files of the fit in `dir`.
pub fn load(dir: &Path, record: &RunRecord, truth: Option<Truth>) -> Result<FitView, CliError> {
    let spec = &record.model;
    let n = spec.n();
    // The fit's own file: a problem with it is the fit folder's, not a data file's.
    let sources = read_table(&dir.join("sources.csv"), Wanted::All)
        .map_err(|e| unreadable(dir, format!("holds a sources.csv that cannot be read: {e}")))?;
    if sources.values.nrows() != record.rows {
        return Err(unreadable(
            dir,
            format!(
                "holds a sources.csv of {} rows, but its fit was of {} rows: the folder is not a whole fit",
                sources.values.nrows(),
                record.rows
            ),
        ));
    }
    let expected = pdgc::folder::sources_header(spec);
    if sources.columns != expected {
        return Err(unreadable(
            dir,
            format!(
                "holds a sources.csv whose columns are not those of model `{}` ({})",
                spec.name,
                expected.join(", ")
            ),
        ));
    }
    let columns = |c: std::ops::Range<usize>| {
        pdgc::matrix::select(&sources.values, ndarray::Axis(1), &c.collect::<Vec<_>>())
    };
    let (means, sds) = (columns(0..n), columns(n..2 * n));
    let priors: Vec<FittedPrior> = ron::from_str(&read_text(dir, "priors.ron")?)
        .map_err(|e| unreadable(dir, format!("holds a priors.ron that cannot be read: {e}")))?;
    let densities: Option<Vec<PriorDensity>> = (priors.len() == n)
        .then(|| {
            priors
                .iter()
                .enumerate()
                .map(|(j, p)| p.density(spec.prior.family(j)))
                .collect()
        })
        .flatten();
    let Some(densities) = densities else {
        return Err(unreadable(
            dir,
            format!(
                "holds a priors.ron that does not match model `{}`",
                spec.name
            ),
        ));
    };
    let trace_path = dir.join("trace.csv");
    let trace_bytes = std::fs::read(&trace_path)
        .map_err(|e| unreadable(dir, format!("has no readable trace.csv: {e}")))?;
    let trace = Trace::parse(&trace_path.display().to_string(), spec, &trace_bytes)?;
    let mut settings = vec![
        ("model file".to_string(), record.model_file.clone()),
        ("data file".into(), record.data_file.clone()),
        ("rows".into(), record.rows.to_string()),
        ("columns".into(), record.columns.join(", ")),
        ("preprocess".into(), spec.preprocess.keyword().to_string()),
        (
            "epochs".into(),
            match (record.converged_at, spec.train.tol) {
                (Some(at), Some(tol)) => format!(
                    "{at} of {} (stopped: the loss changed by less than tol {tol})",
                    spec.train.epochs
                ),
                _ => spec.train.epochs.to_string(),
            },
        ),
        ("learning rate".into(), spec.train.lr.to_string()),
        (
            "batch".into(),
            format!("{:?}", spec.train.batch).to_lowercase(),
        ),
        ("Monte-Carlo samples".into(), spec.train.samples.to_string()),
        ("β".into(), spec.beta.to_string()),
        ("seed".into(), spec.train.seed.to_string()),
        ("threads".into(), record.threads.to_string()),
        (
            "training time".into(),
            format!(
                "{:.1} s ({} epochs/s)",
                record.train_seconds,
                super::rate(record.epochs_per_second)
            ),
        ),
        ("pdgc version".into(), record.pdgc_version.clone()),
    ];
    if let Some(t) = &truth {
        settings.push(("truth file".into(), t.file.clone()));
    }
    if let Some(kept) = record.kept_restart {
        // One line per restart: seed, final objective, epochs run, MCC; the kept one marked.
        let lines: Vec<String> = record
            .restarts
            .iter()
            .enumerate()
            .map(|(r, o)| {
                let objective = o.objective.map_or("diverged".into(), |v| format!("{v:.5}"));
                let mcc = o.mcc.map_or(String::new(), |m| format!(", MCC {m:.4}"));
                let mark = if r == kept { " (kept)" } else { "" };
                format!(
                    "#{r} seed {}: objective {objective}, {} epochs{mcc}{mark}",
                    o.seed, o.epochs
                )
            })
            .collect();
        settings.push(("restarts".into(), lines.join("; ")));
    }
    Ok(FitView {
        spec: spec.clone(),
        model_text: record.model_text.clone(),
        settings,
        trace,
        means,
        sds,
        priors: densities,
        posterior_variances: priors.iter().map(|p| p.posterior_variance).collect(),
        truth,
    })
}

/// Writes `report.html` and `plots/*.svg` into the fit folder `dir`.
pub fn write_into(dir: &Path, report: &Report) -> Result<(), CliError> {
    files::write_atomically(&dir.join("plots"), |plots| {
        for f in &report.figures {
            files::write_bytes(&plots.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
        }
        Ok(())
    })?;
    write_file_atomically(&dir.join("report.html"), report.html.as_bytes())
}

/// `plots/` in a fit folder may be replaced when it holds only figures.
fn check_plots(dir: &Path) -> Result<(), CliError> {
    let plots = dir.join("plots");
    let is_folder = plots.symlink_metadata().is_ok_and(|m| m.is_dir());
    if !plots.exists() || (is_folder && outputs::only_figures(&plots)) {
        return Ok(());
    }
    Err(CliError::Output {
        flag: "",
        path: plots,
        why: "holds more than pdgc's figures; it is not replaced: move what you keep there".into(),
    })
}

/// The truth file a fit recorded, exactly (fits since the path is stored absolute and,
/// when it is not UTF-8, as bytes; an older fit's relative path is taken from here).
fn recorded_truth(record: &RunRecord) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    match (&record.truth_path_bytes, &record.truth_file) {
        (Some(bytes), _) => Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes))),
        (None, Some(text)) => Some(PathBuf::from(text)),
        (None, None) => None,
    }
}

/// `pdgc report FIT [--truth T] [-o FILE] [--rows N]`.
pub fn report(
    fit: &Path,
    truth: Option<&Path>,
    out: Option<&Path>,
    rows: usize,
) -> Result<(), CliError> {
    let dir = if fit.is_file() && fit.file_name().is_some_and(|n| n == "model.safetensors") {
        fit.parent().unwrap_or(Path::new(".")).to_path_buf()
    } else {
        fit.to_path_buf()
    };
    if !dir.is_dir() {
        return Err(unreadable(
            &dir,
            "is not a folder; expected a fit's output folder".into(),
        ));
    }
    let record = read_record(&dir)?;
    let page = match out {
        Some(file) => file.to_path_buf(),
        None => dir.join("report.html"),
    };
    let flag = if out.is_some() { "-o" } else { "" };
    // The fit's own files (but its page, which a report replaces) and the truth are inputs.
    let fit_files: Vec<PathBuf> = outputs::FIT_FILES
        .iter()
        .filter(|f| **f != "report.html")
        .map(|f| dir.join(f))
        .collect();
    let mut inputs: Vec<&Path> = fit_files.iter().map(PathBuf::as_path).collect();
    inputs.extend(truth);
    outputs::check_output_file(flag, &page, &inputs)?;
    outputs::check_own_file(flag, &page, GENERATOR, "a pdgc report")?;
    if out.is_none() {
        check_plots(&dir)?;
    }
    // The truth given now, or the one the fit was given if it is still there.
    let truth_path: Option<PathBuf> = match (truth, recorded_truth(&record)) {
        (Some(t), _) => Some(t.to_path_buf()),
        (None, Some(recorded)) if recorded.is_file() => Some(recorded),
        (None, Some(gone)) => {
            eprintln!(
                "note: the fit's truth file `{}` is gone; drawing without it (give --truth)",
                gone.display()
            );
            None
        }
        (None, None) => None,
    };
    let truth = truth_path.as_deref().map(read_truth).transpose()?;
    let view = load(&dir, &record, truth)?;
    let report = render(&view, &Options { rows })?;
    match out {
        None => write_into(&dir, &report)?,
        Some(_) => write_file_atomically(&page, report.html.as_bytes())?,
    }
    // Said on standard output: where to look is the command's result.
    println!("{}", page.display());
    Ok(())
}
