//! A fit's folder, the format: what `pdgc fit` writes and `report`, `encode`, `sample` and
//! `compare --collect` read back. `run.ron` ([`RunRecord`]), `priors.ron` ([`FittedPrior`])
//! and the layout of `sources.csv` live here, in the library, so that the binary's commands
//! (and the Python package) read and write them one way. [`FitFolder`] is a whole fit
//! folder in memory: made from a [`Fit`], or read from a folder; written in one atomic swap
//! ([`crate::files`]). Its report is drawn from its own files' bytes, so that a report
//! drawn now and one drawn later from the folder (`pdgc report`) are the same.

use crate::backend::{Mixture, PriorDensity};
use crate::data::{parse_table, write_csv_to, DataError, Precision, Preprocessing, Wanted};
use crate::files::{write_atomically, write_bytes, write_error, WriteError};
use crate::fit::Fit;
use crate::fitted::{FitFileError, Fitted};
use crate::matrix::Matrix;
use crate::report::{FitView, ReportError, Truth};
use crate::spec::{Family, FamilyKind, ModelSpec};
use crate::trace::{Trace, TraceError};
use crate::train::RestartOutcome;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `run.ron`: everything needed to re-run and to judge the result. Fields added since the
/// first release are optional, so `report` reads older fits too.
#[derive(Serialize, Deserialize)]
pub struct RunRecord {
    pub pdgc_version: String,
    pub model_file: String,
    /// The model file as written, comments and all.
    #[serde(default)]
    pub model_text: Option<String>,
    pub data_file: String,
    pub data_bytes: u64,
    pub rows: usize,
    pub columns: Vec<String>,
    pub threads: u16,
    pub model: ModelSpec,
    pub preprocessing: Preprocessing,
    pub wall_seconds: f64,
    pub train_seconds: f64,
    pub epochs_per_second: f64,
    pub final_loss: f64,
    pub final_reconstruction: f64,
    pub final_kl: f64,
    /// The true sources given with `--truth`, and the recovery against them.
    /// Absolute, so that `pdgc report` finds it from any folder.
    #[serde(default)]
    pub truth_file: Option<String>,
    /// The truth file's path as bytes, when it is not UTF-8 text (`truth_file` then
    /// shows it with the bad bytes replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_path_bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub mcc: Option<f64>,
    #[serde(default)]
    pub mcc_spearman: Option<f64>,
    /// With `postprocess fastica`: the unmixing applied to the posterior means (also in
    /// `model.safetensors`), or why FastICA could not run on them, and with the truth the
    /// MCC of the posterior means before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postprocessing: Option<crate::postprocess::Unmixing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postprocess_failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc_before_postprocess: Option<f64>,
    /// The epoch `train { tol }` stopped at, when it stopped before `epochs`.
    #[serde(default)]
    pub converged_at: Option<usize>,
    /// With `train { restarts N }`: which restart was kept (the one `choose` picked),
    /// and how each ended, its MCC too when the truth was given.
    #[serde(default)]
    pub kept_restart: Option<usize>,
    #[serde(default)]
    pub restarts: Vec<RestartOutcome>,
}

/// `priors.ron`: one entry per latent dimension. A mixture fills `weights`, `means` and
/// `variances` (as every `priors.ron` before other families did); a Laplace or a logistic
/// fills `location` and `scale`, a Student-t those and `dof`.
#[derive(Serialize, Deserialize)]
pub struct FittedPrior {
    pub dimension: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub means: Vec<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variances: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dof: Option<f64>,
    pub posterior_variance: f64,
}

impl FittedPrior {
    pub fn new(dimension: String, density: &PriorDensity, posterior_variance: f64) -> Self {
        let mut entry = FittedPrior {
            dimension,
            weights: Vec::new(),
            means: Vec::new(),
            variances: Vec::new(),
            location: None,
            scale: None,
            dof: None,
            posterior_variance,
        };
        match density {
            PriorDensity::Mixture(m) => {
                entry.weights = m.weights.clone();
                entry.means = m.means.clone();
                entry.variances = m.variances.clone();
            }
            PriorDensity::Laplace { location, scale }
            | PriorDensity::Logistic { location, scale } => {
                (entry.location, entry.scale) = (Some(*location), Some(*scale));
            }
            PriorDensity::StudentT {
                location,
                scale,
                dof,
            } => {
                (entry.location, entry.scale) = (Some(*location), Some(*scale));
                entry.dof = Some(*dof);
            }
        }
        entry
    }

    /// The density this entry describes, read as `family`; `None` when its numbers are
    /// not that family's.
    pub fn density(&self, family: &Family) -> Option<PriorDensity> {
        let mixture = [&self.weights, &self.means, &self.variances];
        let density = match (family.kind(), self.location, self.scale, self.dof) {
            (FamilyKind::Mixture, None, None, None) => {
                let k = family.components();
                mixture.iter().all(|v| v.len() == k).then(|| {
                    PriorDensity::Mixture(Mixture {
                        weights: self.weights.clone(),
                        means: self.means.clone(),
                        variances: self.variances.clone(),
                    })
                })?
            }
            (FamilyKind::Laplace, Some(location), Some(scale), None) => {
                PriorDensity::Laplace { location, scale }
            }
            (FamilyKind::Logistic, Some(location), Some(scale), None) => {
                PriorDensity::Logistic { location, scale }
            }
            (FamilyKind::StudentT, Some(location), Some(scale), Some(dof)) => {
                PriorDensity::StudentT {
                    location,
                    scale,
                    dof,
                }
            }
            _ => return None,
        };
        let numbers_only_of_family =
            family.kind() == FamilyKind::Mixture || mixture.iter().all(|v| v.is_empty());
        numbers_only_of_family.then_some(density)
    }
}

/// The columns of `sources.csv`: `z0..z{n-1}` posterior means, then `z0_sd..` standard
/// deviations.
pub fn sources_header(spec: &ModelSpec) -> Vec<String> {
    let z = &spec.latent.name;
    let n = spec.n();
    (0..n)
        .map(|j| format!("{z}{j}"))
        .chain((0..n).map(|j| format!("{z}{j}_sd")))
        .collect()
}

/// The sources table: [`sources_header`] and the means beside the deviations.
pub fn sources_table(spec: &ModelSpec, means: &Matrix, sds: &Matrix) -> (Vec<String>, Matrix) {
    (sources_header(spec), crate::matrix::beside(means, sds))
}

/// A fit's record from the text of its `run.ron`.
pub fn parse_record(text: &str) -> Result<RunRecord, ron::error::SpannedError> {
    ron::from_str(text)
}

/// The files of a fit folder, in the order they are written; `plots/` holds the figures.
pub const FILES: [&str; 7] = [
    "sources.csv",
    "trace.csv",
    "priors.ron",
    "run.ron",
    "model.safetensors",
    "report.html",
    "plots",
];

/// Whether the folder `dir` holds exactly an earlier fit: a `run.ron` that is a fit's
/// record, nothing but the files a fit writes, and a `plots/` of figures only. Such a
/// folder may be replaced by a new fit.
pub fn holds_earlier_fit(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let names: Vec<std::ffi::OsString> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    let record =
        std::fs::read_to_string(dir.join("run.ron")).is_ok_and(|text| parse_record(&text).is_ok());
    let plots_only_figures = !dir.join("plots").exists() || only_figures(&dir.join("plots"));
    record && plots_only_figures && names.iter().all(|n| FILES.iter().any(|f| n == f))
}

/// Whether `plots/` holds nothing but SVG files, as a fit's figures do.
pub fn only_figures(plots: &Path) -> bool {
    std::fs::read_dir(plots).is_ok_and(|entries| {
        entries.filter_map(Result::ok).all(|e| {
            e.path().extension().is_some_and(|x| x == "svg")
                && e.file_type().is_ok_and(|t| t.is_file())
        })
    })
}

/// Why a fit folder may not be written at `path` (for [`FitFolder::write`] called from a
/// library: the binary checks more, before any work): a link, a file, or a folder that
/// holds anything but an earlier fit is never replaced.
pub fn may_replace(path: &Path) -> Result<(), String> {
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link; pdgc replaces no folder through a link".into());
    }
    if !meta.is_dir() {
        return Err("is a file; a fit is a folder: choose a new folder name".into());
    }
    let empty = std::fs::read_dir(path).is_ok_and(|mut e| e.next().is_none());
    if empty || holds_earlier_fit(path) {
        return Ok(());
    }
    Err("is a folder that holds more than an earlier pdgc fit; it is not replaced: choose another name".into())
}

/// Why a report page may not be written at `path` (for a library caller; the binary
/// checks more): only a new name, or an earlier pdgc report, is replaced; never a link, a
/// folder, a fit's own file or any other file.
pub fn may_replace_report(path: &Path) -> Result<(), String> {
    let Ok(meta) = path.symlink_metadata() else {
        return Ok(());
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        return Err("is not a file of its own (a folder or a link); give a new file name".into());
    }
    let ours =
        std::fs::read_to_string(path).is_ok_and(|text| text.contains(crate::report::GENERATOR));
    match ours {
        true => Ok(()),
        false => {
            Err("exists and is not a pdgc report; it is not replaced: choose another name".into())
        }
    }
}

/// Whether `name` may be a file of a fit folder: one of [`FILES`], or `plots/NAME.svg`.
fn is_folder_file(name: &str) -> bool {
    let figure = name
        .strip_prefix("plots/")
        .is_some_and(|f| f.ends_with(".svg") && !f.contains('/') && !f.starts_with('.'));
    figure || FILES[..FILES.len() - 1].contains(&name)
}

/// Why a fit folder could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// One of the folder's files is missing or is not what a fit writes: why.
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Model(#[from] FitFileError),
}

/// Where a fit's inputs came from, as its record tells them.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The model file's name ("" for a model given as text), and its text.
    pub model_file: String,
    pub model_text: Option<String>,
    /// The data's name (a file's, or a description of an array) and size in bytes.
    pub data_file: String,
    pub data_bytes: u64,
    pub threads: u16,
    /// From the start of the command (or call) to the end of the fit.
    pub wall_seconds: f64,
    /// The truth file, absolute, and its bytes when the path is not UTF-8 text.
    pub truth_file: Option<String>,
    pub truth_path_bytes: Option<Vec<u8>>,
}

impl RunRecord {
    /// The record of a finished fit.
    pub fn new(fit: &Fit, from: Provenance) -> RunRecord {
        let last = fit
            .trace
            .last()
            .expect("a finished fit has trained an epoch");
        let trained = match &fit.restarts {
            Some((_, outcomes)) => outcomes.iter().map(|o| o.epochs).sum::<usize>(),
            None => fit.trace.len() - fit.first_epoch,
        };
        RunRecord {
            pdgc_version: env!("CARGO_PKG_VERSION").to_string(),
            model_file: from.model_file,
            model_text: from.model_text,
            data_file: from.data_file,
            data_bytes: from.data_bytes,
            rows: fit.sources.nrows(),
            columns: fit.preprocessing.columns.clone(),
            threads: from.threads,
            model: fit.spec.clone(),
            preprocessing: fit.preprocessing.clone(),
            wall_seconds: from.wall_seconds,
            train_seconds: fit.train_seconds,
            epochs_per_second: trained as f64 / fit.train_seconds.max(1e-9),
            final_loss: last.terms.loss,
            final_reconstruction: last.terms.reconstruction,
            final_kl: last.terms.kl(),
            truth_file: from.truth_file,
            truth_path_bytes: from.truth_path_bytes,
            mcc: fit.recovery.as_ref().map(|r| r.mcc),
            mcc_spearman: fit.recovery.as_ref().map(|r| r.mcc_spearman),
            postprocessing: fit.postprocessing.clone(),
            postprocess_failed: fit.postprocess_failed.clone(),
            mcc_before_postprocess: fit.recovery_before_postprocess.as_ref().map(|r| r.mcc),
            converged_at: fit.converged_at,
            kept_restart: fit.restarts.as_ref().map(|(best, _)| *best),
            restarts: fit
                .restarts
                .as_ref()
                .map_or(Vec::new(), |(_, outcomes)| outcomes.clone()),
        }
    }
}

/// A whole fit folder in memory: its files' bytes, and what they say.
pub struct FitFolder {
    pub record: RunRecord,
    /// The fitted model (`model.safetensors`), ready to encode, sample and decode.
    pub fitted: Fitted,
    /// What the report shows, read from the folder's own files (sources at single
    /// precision, as `sources.csv` holds them).
    pub view: FitView,
    /// Each file's name in the folder (`plots/NAME.svg` for a figure) and bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

impl FitFolder {
    /// The folder `pdgc fit` writes for `fit`; `report` draws `report.html` and `plots/`
    /// (`None`: no report). The model is moved in; the fit's other parts are copied.
    pub fn new(
        fit: Fit,
        from: Provenance,
        truth: Option<Truth>,
        report: Option<&crate::report::Options>,
    ) -> Result<FitFolder, FolderError> {
        let record = RunRecord::new(&fit, from);
        let spec = &fit.spec;
        let last = fit
            .trace
            .last()
            .expect("a finished fit has trained an epoch");
        let z = &spec.latent.name;
        let (header, both) = sources_table(spec, &fit.sources, &fit.sources_sd);
        let mut sources = Vec::new();
        write_csv_to(&mut sources, &header, &both, Precision::Single).expect("writing to memory");
        let truth_names = truth.as_ref().map_or(Vec::new(), |t| t.columns.clone());
        let priors: Vec<FittedPrior> = fit
            .priors
            .iter()
            .enumerate()
            .map(|(j, p)| FittedPrior::new(format!("{z}{j}"), p, last.posterior_variances[j]))
            .collect();
        let fitted = Fitted {
            model: fit.model,
            preprocessing: fit.preprocessing,
            postprocessing: fit.postprocessing,
            rows: record.rows,
        };
        let mut files = vec![
            ("sources.csv".to_string(), sources),
            (
                "trace.csv".into(),
                crate::trace::to_csv(spec, &fit.trace, &truth_names),
            ),
            ("priors.ron".into(), ron_bytes(&priors)),
            ("run.ron".into(), ron_bytes(&record)),
            ("model.safetensors".into(), fitted.to_bytes()?),
        ];
        let view = view(Path::new(""), &record, truth, |name| {
            Ok(files
                .iter()
                .find(|(file, _)| file == name)
                .expect("the folder's own file")
                .1
                .clone())
        })?;
        if let Some(options) = report {
            let report = crate::report::render(&view, options)?;
            files.push(("report.html".into(), report.html.into_bytes()));
            for f in report.figures {
                files.push((format!("plots/{}.svg", f.name), f.svg.into_bytes()));
            }
        }
        Ok(FitFolder {
            record,
            fitted,
            view,
            files,
        })
    }

    /// Reads the fit folder `dir` whole (what `pdgc fit` or [`FitFolder::write`] wrote).
    pub fn read(dir: &Path) -> Result<FitFolder, FolderError> {
        // The record first: a folder without one is not a fit at all.
        let mut names: Vec<String> = ["run.ron", "sources.csv", "trace.csv", "priors.ron"]
            .into_iter()
            .chain(["model.safetensors"])
            .map(str::to_string)
            .collect();
        if dir.join("report.html").is_file() {
            names.push("report.html".into());
            let mut figures: Vec<String> = std::fs::read_dir(dir.join("plots"))
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|name| name.ends_with(".svg"))
                        .map(|name| format!("plots/{name}"))
                        .collect()
                })
                .unwrap_or_default();
            figures.sort();
            names.extend(figures);
        }
        let mut files = Vec::new();
        for name in names {
            let bytes = std::fs::read(dir.join(&name)).map_err(|e| {
                FolderError::Unreadable(format!(
                    "is not a pdgc fit folder that can be read: {name}: {e}"
                ))
            })?;
            files.push((name, bytes));
        }
        FitFolder::from_files(dir, files)
    }

    /// A fit folder from its files' bytes (named as in the folder `dir`, for messages).
    pub fn from_files(dir: &Path, files: Vec<(String, Vec<u8>)>) -> Result<FitFolder, FolderError> {
        if let Some((name, _)) = files.iter().find(|(name, _)| !is_folder_file(name)) {
            return Err(FolderError::Unreadable(format!(
                "holds `{name}`, which is not a file of a fit folder"
            )));
        }
        let file = |name: &str| -> std::io::Result<Vec<u8>> {
            files
                .iter()
                .find(|(file, _)| file == name)
                .map(|(_, bytes)| bytes.clone())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let unreadable = |name: &str, e: String| {
            FolderError::Unreadable(format!(
                "is not a pdgc fit folder that can be read: {name}: {e}"
            ))
        };
        let record = file("run.ron")
            .map_err(|e| e.to_string())
            .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
            .map_err(|e| unreadable("run.ron", e))?;
        let record = parse_record(&record).map_err(|e| {
            FolderError::Unreadable(format!(
                "holds a run.ron that is not a pdgc fit's record: {e}"
            ))
        })?;
        let model = dir.join("model.safetensors").display().to_string();
        let bytes = file("model.safetensors").map_err(|source| FitFileError::Read {
            file: model.clone(),
            source,
        })?;
        let fitted = Fitted::from_bytes(&model, &bytes)?;
        let view = view(dir, &record, None, file)?;
        Ok(FitFolder {
            record,
            fitted,
            view,
            files,
        })
    }

    /// Writes the folder to `dir` whole or not at all: an earlier folder there is replaced
    /// in one swap (whether `dir` may be replaced is the caller's to check).
    pub fn write(&self, dir: &Path) -> Result<(), WriteError> {
        write_atomically(dir, |staging| -> Result<(), WriteError> {
            for (name, bytes) in &self.files {
                let path = staging.join(name);
                if let Some(parent) = path.parent().filter(|p| *p != staging) {
                    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
                }
                write_bytes(&path, bytes)?;
            }
            Ok(())
        })
    }

    /// The report page, when one was drawn.
    pub fn report_html(&self) -> Option<&str> {
        self.files
            .iter()
            .find(|(name, _)| name == "report.html")
            .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
    }
}

/// RON as every `.ron` file of a fit folder is written: pretty, with struct names.
pub fn ron_bytes(value: &impl Serialize) -> Vec<u8> {
    let text = ron::ser::to_string_pretty(value, ron::ser::PrettyConfig::new().struct_names(true))
        .expect("a fit's records serialise");
    (text + "\n").into_bytes()
}

/// Everything the report shows, from the fit folder `dir`'s record and its files
/// `sources.csv`, `priors.ron` and `trace.csv`, each read through `read` (from the disk,
/// or from a folder still in memory).
pub fn view(
    dir: &Path,
    record: &RunRecord,
    truth: Option<Truth>,
    read: impl Fn(&str) -> std::io::Result<Vec<u8>>,
) -> Result<FitView, FolderError> {
    let unreadable = FolderError::Unreadable;
    let spec = &record.model;
    let n = spec.n();
    // The fit's own file: a problem with it is the fit folder's, not a data file's.
    let sources_path = dir.join("sources.csv").display().to_string();
    let sources = read("sources.csv")
        .map_err(|source| DataError::Read {
            file: sources_path.clone(),
            source,
        })
        .and_then(|bytes| parse_table(&sources_path, &bytes, Wanted::All))
        .map_err(|e| unreadable(format!("holds a sources.csv that cannot be read: {e}")))?;
    if sources.values.nrows() != record.rows {
        return Err(unreadable(format!(
            "holds a sources.csv of {} rows, but its fit was of {} rows: the folder is not a whole fit",
            sources.values.nrows(),
            record.rows
        )));
    }
    let expected = sources_header(spec);
    if sources.columns != expected {
        return Err(unreadable(format!(
            "holds a sources.csv whose columns are not those of model `{}` ({})",
            spec.name,
            expected.join(", ")
        )));
    }
    let columns = |c: std::ops::Range<usize>| {
        crate::matrix::select(&sources.values, ndarray::Axis(1), &c.collect::<Vec<_>>())
    };
    let (means, sds) = (columns(0..n), columns(n..2 * n));
    let priors_text = read("priors.ron")
        .map_err(|e| e.to_string())
        .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
        .map_err(|e| {
            unreadable(format!(
                "is not a pdgc fit folder that can be read: priors.ron: {e}"
            ))
        })?;
    let priors: Vec<FittedPrior> = ron::from_str(&priors_text)
        .map_err(|e| unreadable(format!("holds a priors.ron that cannot be read: {e}")))?;
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
        return Err(unreadable(format!(
            "holds a priors.ron that does not match model `{}`",
            spec.name
        )));
    };
    let trace_bytes =
        read("trace.csv").map_err(|e| unreadable(format!("has no readable trace.csv: {e}")))?;
    let trace_path = dir.join("trace.csv").display().to_string();
    let trace = Trace::parse(&trace_path, spec, &trace_bytes)?;
    Ok(FitView {
        spec: spec.clone(),
        model_text: record.model_text.clone(),
        settings: settings(record, truth.as_ref()),
        trace,
        means,
        sds,
        priors: densities,
        posterior_variances: priors.iter().map(|p| p.posterior_variance).collect(),
        truth,
    })
}

/// The report's table of settings and facts of the run, as (name, value) rows.
fn settings(record: &RunRecord, truth: Option<&Truth>) -> Vec<(String, String)> {
    let spec = &record.model;
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
    ];
    // The exact likelihood draws no samples and weighs no KL term.
    settings.extend(match spec.is_invertible() {
        true => vec![("objective".into(), "the exact likelihood".into())],
        false => vec![
            ("Monte-Carlo samples".into(), spec.train.samples.to_string()),
            ("β".into(), spec.beta.to_string()),
        ],
    });
    settings.extend([
        ("seed".into(), spec.train.seed.to_string()),
        ("threads".into(), record.threads.to_string()),
        (
            "training time".into(),
            format!(
                "{:.1} s ({} epochs/s)",
                record.train_seconds,
                rate(record.epochs_per_second)
            ),
        ),
        ("pdgc version".into(), record.pdgc_version.clone()),
    ]);
    if let Some(t) = truth {
        settings.push(("truth file".into(), t.file.clone()));
    }
    if spec.postprocess != crate::spec::Postprocess::None {
        let what = match (&record.postprocess_failed, record.mcc_before_postprocess) {
            (Some(why), _) => format!("did not run ({why}): the sources are the posterior means"),
            (None, Some(mcc)) => format!("applied; MCC before it {mcc:.4}"),
            (None, None) => "applied".to_string(),
        };
        settings.push((format!("postprocess {}", spec.postprocess.keyword()), what));
    }
    if let Some(kept) = record.kept_restart {
        // One line per restart: seed, final objective, epochs run, the label-free
        // criteria, MCC; the kept one marked.
        let lines: Vec<String> = record
            .restarts
            .iter()
            .enumerate()
            .map(|(r, o)| {
                let objective = o.objective.map_or("diverged".into(), |v| format!("{v:.5}"));
                let dependence = o
                    .dependence
                    .map_or(String::new(), |d| format!(", dependence {d:.4}"));
                let agreement = o
                    .agreement
                    .map_or(String::new(), |a| format!(", agreement {a:.4}"));
                let mcc = o.mcc.map_or(String::new(), |m| format!(", MCC {m:.4}"));
                let mark = if r == kept { " (kept)" } else { "" };
                format!(
                    "#{r} seed {}: objective {objective}, {} epochs{dependence}{agreement}{mcc}{mark}",
                    o.seed, o.epochs
                )
            })
            .collect();
        settings.push(("restarts".into(), lines.join("; ")));
    }
    settings
}

/// A rate such as epochs/s, to two significant figures below 10 ("0.39", "2.5") and as a
/// whole number above ("220"): a slow minibatched fit is not shown as 0 epochs/s.
pub fn rate(per_second: f64) -> String {
    match per_second {
        r if r >= 10.0 => format!("{r:.0}"),
        r if r >= 1.0 => format!("{r:.1}"),
        r => format!("{r:.2}"),
    }
}
