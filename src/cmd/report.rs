//! `pdgc report FIT`: the figures and `report.html` of a fit, drawn from its folder's files,
//! so that a fit made earlier (or one seen against new truth) is looked at without
//! refitting. `fit` draws its own report the same way, from the folder it is writing.

use super::error::CliError;
use super::outputs;
use pdgc::data::{Table, Wanted};
use pdgc::files::{self, write_file_atomically};
use pdgc::folder::{FolderError, RunRecord};
use pdgc::report::{render, FitView, Options, Report, Truth};
use pdgc::spec::ModelSpec;
use std::path::{Path, PathBuf};

use pdgc::report::GENERATOR;

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

/// The record of the fit in `dir`.
pub fn read_record(dir: &Path) -> Result<RunRecord, CliError> {
    let text = std::fs::read_to_string(dir.join("run.ron")).map_err(|e| {
        unreadable(
            dir,
            format!("is not a pdgc fit folder that can be read: run.ron: {e}"),
        )
    })?;
    pdgc::folder::parse_record(&text).map_err(|e| {
        unreadable(
            dir,
            format!("holds a run.ron that is not a pdgc fit's record: {e}"),
        )
    })
}

/// A problem with the fit folder `dir` (or with a figure drawn from it), as the
/// command's error.
pub fn folder_error(dir: &Path, e: FolderError) -> CliError {
    match e {
        FolderError::Unreadable(why) => unreadable(dir, why),
        FolderError::Trace(e) => CliError::Trace(e),
        FolderError::Report(e) => CliError::Report(e),
        FolderError::Model(e) => CliError::FitFile(e),
    }
}

/// Everything the report shows, from the files of the fit in `dir`.
pub fn load(dir: &Path, record: &RunRecord, truth: Option<Truth>) -> Result<FitView, CliError> {
    let limit = pdgc::resources::machine_memory().map_or(u64::MAX, |m| (m / 4) as u64);
    pdgc::folder::view(dir, record, truth, |name| {
        super::read::at_most(&dir.join(name), limit)?
            .ok_or_else(|| std::io::Error::other("larger than a quarter of the memory"))
    })
    .map_err(|e| folder_error(dir, e))
}

/// Writes `report.html` and `plots/*.svg` into the fit folder `dir`.
pub fn write_into(dir: &Path, report: &Report) -> Result<(), CliError> {
    files::write_atomically(
        &dir.join("plots"),
        |plots| -> Result<(), files::WriteError> {
            for f in &report.figures {
                files::write_bytes(&plots.join(format!("{}.svg", f.name)), f.svg.as_bytes())?;
            }
            Ok(())
        },
    )?;
    Ok(write_file_atomically(
        &dir.join("report.html"),
        report.html.as_bytes(),
    )?)
}

/// `plots/` in a fit folder may be replaced when it holds only figures.
fn check_plots(dir: &Path) -> Result<(), CliError> {
    let plots = dir.join("plots");
    let is_folder = plots.symlink_metadata().is_ok_and(|m| m.is_dir());
    if !plots.exists() || (is_folder && pdgc::folder::only_figures(&plots)) {
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
