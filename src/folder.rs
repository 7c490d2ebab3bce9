//! A fit's folder, the format: what `pdgc fit` writes and `report`, `encode`, `sample` and
//! `compare --collect` read back. `run.ron` ([`RunRecord`]), `priors.ron` ([`FittedPrior`])
//! and the layout of `sources.csv` live here, in the library, so that the binary's commands
//! (and a Python package) read and write them one way; which bytes go to which file, and
//! how they are put in place, is the binary's.

use crate::backend::{Mixture, PriorDensity};
use crate::data::Preprocessing;
use crate::matrix::Matrix;
use crate::spec::{Family, FamilyKind, ModelSpec};
use crate::train::RestartOutcome;
use serde::{Deserialize, Serialize};

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
    /// The epoch `train { tol }` stopped at, when it stopped before `epochs`.
    #[serde(default)]
    pub converged_at: Option<usize>,
    /// With `train { restarts N }`: which restart was kept (the lowest final objective),
    /// and how each ended, its MCC too when the truth was given.
    #[serde(default)]
    pub kept_restart: Option<usize>,
    #[serde(default)]
    pub restarts: Vec<RestartOutcome>,
}

/// `priors.ron`: one entry per latent dimension. A mixture fills `weights`, `means` and
/// `variances` (as every `priors.ron` before other families did); a Laplace fills
/// `location` and `scale`, a Student-t those and `dof`.
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
            PriorDensity::Laplace { location, scale } => {
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
