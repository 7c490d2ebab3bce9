//! The fitted-model file (`model.safetensors`): every parameter as a safetensors tensor
//! (f32) and one metadata entry, [`HEADER_KEY`], holding the model, the row count and the
//! data preprocessing as RON. This module owns the format and all its keys.
//!
//! A file is never trusted: loading re-runs the checker on the embedded model, checks the
//! preprocessing against it, and checks every tensor's shape (and, before anything is
//! allocated, the total number of values) against what that model needs.
//!
//! dfdx 0.13 pins safetensors 0.3; this calls that crate directly, since dfdx's own
//! save/load wants compile-time-shaped modules.

use crate::backend::{parameter_count, Model};
use crate::data::Preprocessing;
use crate::postprocess::Unmixing;
use crate::spec::{ModelSpec, Postprocess};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The one metadata key: a RON [`Header`]. One key, so the file's bytes do not depend on
/// a hash map's order.
pub const HEADER_KEY: &str = "pdgc";
/// Keys of files written before the header existed (read, never written).
const LEGACY_SPEC_KEY: &str = "pdgc.spec";
const LEGACY_ROWS_KEY: &str = "pdgc.nrows()";
const LEGACY_PREPROCESSING_KEY: &str = "pdgc.preprocessing";

/// The file's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    model: ModelSpec,
    /// Data rows the model was fitted to (the size of Half-VAE's latents).
    rows: usize,
    preprocessing: Preprocessing,
    /// `postprocess fastica`'s unmixing (absent from files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    postprocessing: Option<Unmixing>,
}

/// A fitted model with what is needed to use it on new data.
pub struct Fitted {
    pub model: Model<f32>,
    /// How data columns are turned into what the model sees.
    pub preprocessing: Preprocessing,
    /// How posterior means are turned into sources (`postprocess fastica`), if at all.
    pub postprocessing: Option<Unmixing>,
    /// The number of rows it was fitted to.
    pub rows: usize,
}

/// Why a fitted-model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FitFileError {
    #[error("cannot read fitted model `{file}`: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not a pdgc fitted model ({why})")]
    NotAFit { file: String, why: String },
    #[error("{file}: the embedded model does not pass the checker: {why}")]
    InvalidModel { file: String, why: String },
    #[error("{file}: the recorded preprocessing does not fit the model: {why}")]
    BadPreprocessing { file: String, why: String },
    #[error("{file}: the recorded postprocessing does not fit the model: {why}")]
    BadPostprocessing { file: String, why: String },
    #[error("{file}: parameter `{name}` {why}")]
    BadTensor {
        file: String,
        name: String,
        why: String,
    },
    #[error("cannot store parameter `{name}`: {why}")]
    Store { name: String, why: String },
}

impl Fitted {
    /// The file's bytes: the same model always gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FitFileError> {
        let infos = self.model.parameters();
        let bytes: Vec<Vec<u8>> = infos.iter().map(|p| f32_bytes(&p.values)).collect();
        let mut views = Vec::new();
        for (p, b) in infos.iter().zip(&bytes) {
            let view = TensorView::new(Dtype::F32, vec![p.shape.0, p.shape.1], b).map_err(|e| {
                FitFileError::Store {
                    name: p.name.clone(),
                    why: format!("{e:?}"),
                }
            })?;
            views.push((p.name.clone(), view));
        }
        let header = Header {
            model: self.model.spec().clone(),
            rows: self.rows,
            preprocessing: self.preprocessing.clone(),
            postprocessing: self.postprocessing.clone(),
        };
        let text = ron::to_string(&header).map_err(|e| FitFileError::Store {
            name: HEADER_KEY.to_string(),
            why: e.to_string(),
        })?;
        let meta = HashMap::from([(HEADER_KEY.to_string(), text)]);
        safetensors::serialize(views, &Some(meta)).map_err(|e| FitFileError::Store {
            name: HEADER_KEY.to_string(),
            why: format!("{e:?}"),
        })
    }

    /// Parses and checks a fitted-model file's bytes, named `file` in messages.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Fitted, FitFileError> {
        let not_a_fit = |why: String| FitFileError::NotAFit {
            file: file.to_string(),
            why,
        };
        let (_, meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| not_a_fit(format!("{e:?}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let header = read_header(&meta).map_err(not_a_fit)?;
        let spec = header.model;
        let invalid = |why: String| FitFileError::InvalidModel {
            file: file.to_string(),
            why,
        };
        passes_checker(&spec).map_err(invalid)?;
        check_preprocessing(&spec, &header.preprocessing).map_err(|why| {
            FitFileError::BadPreprocessing {
                file: file.to_string(),
                why,
            }
        })?;
        if let Some(why) = postprocessing_problem(&spec, header.postprocessing.as_ref()) {
            return Err(FitFileError::BadPostprocessing {
                file: file.to_string(),
                why,
            });
        }
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| not_a_fit(format!("{e:?}")))?;
        // Before building the model (which allocates what the spec asks for), the file
        // must hold exactly as many values as the spec needs.
        let held = values_held(&tensors);
        let needed = parameter_count(&spec, header.rows);
        if needed != Some(held) {
            return Err(not_a_fit(format!(
                "it holds {held} parameter values but its model needs {}",
                needed.map_or("more than can be counted".to_string(), |n| n.to_string())
            )));
        }
        let mut model = Model::<f32>::new(&spec, header.rows, spec.train.seed);
        let mut loaded = Vec::new();
        for p in &model.parameters() {
            let bad = |why: String| FitFileError::BadTensor {
                file: file.to_string(),
                name: p.name.clone(),
                why,
            };
            let view = tensors
                .tensor(&p.name)
                .map_err(|_| bad("is missing".into()))?;
            if view.dtype() != Dtype::F32 {
                return Err(bad(format!("is {:?}; expected F32", view.dtype())));
            }
            if view.shape() != [p.shape.0, p.shape.1] {
                return Err(bad(format!(
                    "has shape {:?}; the model needs [{}, {}]",
                    view.shape(),
                    p.shape.0,
                    p.shape.1
                )));
            }
            let values = f32_values(&view);
            if values.iter().any(|v| !v.is_finite()) {
                return Err(bad("holds a value that is not a finite number".into()));
            }
            loaded.push(values);
        }
        model.set_parameters(loaded.iter().map(Vec::as_slice));
        Ok(Fitted {
            model,
            preprocessing: header.preprocessing,
            postprocessing: header.postprocessing,
            rows: header.rows,
        })
    }
}

/// An embedded model is text a user could have edited: it must pass the checker as if it
/// were a model file (sizes included), and come back as the same model. The reason if not.
pub(crate) fn passes_checker(spec: &ModelSpec) -> Result<(), String> {
    match crate::compile_here(&spec.to_pdg()) {
        Ok(checked) if &checked == spec => Ok(()),
        Ok(_) => Err("it does not print back as itself".into()),
        Err(d) => Err(d.0[0].message.clone()),
    }
}

/// How many values a file's tensors hold together, read from their shapes alone.
pub(crate) fn values_held(tensors: &SafeTensors) -> u128 {
    tensors
        .tensors()
        .iter()
        .map(|(_, v)| v.shape().iter().map(|&d| d as u128).product::<u128>())
        .sum()
}

/// Values as little-endian f32 bytes, a safetensors tensor's data.
pub(crate) fn f32_bytes(values: &[f64]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect()
}

/// An F32 tensor's values.
pub(crate) fn f32_values(view: &TensorView) -> Vec<f64> {
    view.data()
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

/// The header, or the three keys files had before it.
fn read_header(meta: &HashMap<String, String>) -> Result<Header, String> {
    if let Some(text) = meta.get(HEADER_KEY) {
        return ron::from_str(text).map_err(|e| format!("its header: {e}"));
    }
    let get = |key: &str| meta.get(key).ok_or_else(|| format!("no `{key}` entry"));
    let model = ModelSpec::from_ron(get(LEGACY_SPEC_KEY).map_err(|_| "no embedded model")?)
        .map_err(|e| format!("embedded model: {e}"))?;
    let rows = get(LEGACY_ROWS_KEY)?
        .parse()
        .map_err(|_| "no row count".to_string())?;
    let preprocessing = ron::from_str(get(LEGACY_PREPROCESSING_KEY)?)
        .map_err(|e| format!("recorded preprocessing: {e}"))?;
    Ok(Header {
        model,
        rows,
        preprocessing,
        postprocessing: None,
    })
}

/// An unmixing only with `postprocess` (which may lack one: FastICA could not run), and
/// then one of the model's n dimensions.
fn postprocessing_problem(spec: &ModelSpec, u: Option<&Unmixing>) -> Option<String> {
    match (spec.postprocess, u) {
        (_, None) => None,
        (Postprocess::None, Some(_)) => {
            Some("an unmixing is recorded, but the model has no `postprocess`".into())
        }
        (Postprocess::Fastica, Some(u)) => u.problem(spec.n()),
    }
}

/// The preprocessing must transform exactly the model's m columns, with finite numbers.
fn check_preprocessing(spec: &ModelSpec, p: &Preprocessing) -> Result<(), String> {
    let m = spec.m();
    let lengths = [p.columns.len(), p.means.len(), p.sds.len()];
    if lengths.iter().any(|&l| l != m) {
        return Err(format!(
            "{} columns, {} means and {} standard deviations for a model of {m} observed columns",
            lengths[0], lengths[1], lengths[2]
        ));
    }
    if p.means.iter().any(|v| !v.is_finite()) || p.sds.iter().any(|v| !(v.is_finite() && *v > 0.0))
    {
        return Err("a mean or standard deviation is not a finite (positive) number".into());
    }
    if let Some(w) = &p.whitening {
        for (what, matrix) in [("whitening", &w.matrix), ("inverse whitening", &w.inverse)] {
            let square = matrix.len() == m && matrix.iter().all(|row| row.len() == m);
            if !square {
                return Err(format!("the {what} matrix is not {m} × {m}"));
            }
            if matrix.iter().flatten().any(|v| !v.is_finite()) {
                return Err(format!(
                    "the {what} matrix holds a value that is not finite"
                ));
            }
        }
    }
    Ok(())
}
