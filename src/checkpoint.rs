//! The checkpoint file: what training needs to go on after an interruption, so that a
//! resumed run ends byte-identical to one that was never stopped. It holds the parameters
//! and Adam's moments as safetensors tensors (f32, exactly as trained) and one metadata
//! entry, [`HEADER_KEY`], with the model, the data's fingerprint, Adam's step count and the
//! trace so far, as RON. The noise needs no state: each epoch draws from its own seed.

use crate::backend::{AdamState, Model, TrainingState};
use crate::fitted::{f32_bytes, f32_values, passes_checker, values_held};
use crate::spec::ModelSpec;
use crate::train::TraceRow;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const HEADER_KEY: &str = "pdgc.checkpoint";

/// Which data a checkpoint was trained on: its rows and a hash of the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub rows: usize,
    pub hash: u64,
}

impl DataFingerprint {
    /// FNV-1a over the data file's bytes.
    pub fn of(bytes: &[u8], rows: usize) -> Self {
        let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        DataFingerprint { rows, hash }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    model: ModelSpec,
    data: DataFingerprint,
    adam_steps: i32,
    trace: Vec<TraceRow>,
    /// The true sources the fit was given (its trace records the recovery against them).
    #[serde(default)]
    truth: Option<DataFingerprint>,
}

/// Training stopped after `trace.len()` epochs, with everything needed to go on.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub model: ModelSpec,
    pub data: DataFingerprint,
    pub trace: Vec<TraceRow>,
    pub state: TrainingState,
    /// The fingerprint of the truth file given with the fit, if any: a resumed fit must be
    /// given the same one, or its trace would differ from an uninterrupted fit's.
    pub truth: Option<DataFingerprint>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{file}: not a pdgc checkpoint ({why})")]
    NotACheckpoint { file: String, why: String },
    #[error("cannot store the checkpoint: {0}")]
    Store(String),
}

const FIRST: &str = "adam.first.";
const SECOND: &str = "adam.second.";

impl Checkpoint {
    /// Epochs done.
    pub fn epoch(&self) -> usize {
        self.trace.len()
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, CheckpointError> {
        let store = |e: String| CheckpointError::Store(e);
        let params = &self.state.parameters;
        let adam = &self.state.adam;
        let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let mut tensors: Vec<(String, (usize, usize), Vec<u8>)> = Vec::new();
        for (k, p) in params.iter().enumerate() {
            tensors.push((p.name.clone(), p.shape, f32_bytes(&p.values)));
            tensors.push((
                format!("{FIRST}{}", p.name),
                p.shape,
                f32_bytes(&widen(&adam.first[k])),
            ));
            tensors.push((
                format!("{SECOND}{}", p.name),
                p.shape,
                f32_bytes(&widen(&adam.second[k])),
            ));
        }
        let mut views = Vec::new();
        for (name, shape, bytes) in &tensors {
            let view = TensorView::new(Dtype::F32, vec![shape.0, shape.1], bytes)
                .map_err(|e| store(format!("{name}: {e:?}")))?;
            views.push((name.clone(), view));
        }
        let header = Header {
            model: self.model.clone(),
            data: self.data,
            adam_steps: adam.t,
            trace: self.trace.clone(),
            truth: self.truth,
        };
        let text = ron::to_string(&header).map_err(|e| store(e.to_string()))?;
        let meta = HashMap::from([(HEADER_KEY.to_string(), text)]);
        safetensors::serialize(views, &Some(meta)).map_err(|e| store(format!("{e:?}")))
    }

    /// Reads and checks a checkpoint: its model passes the checker, and every tensor has
    /// the shape that model needs.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let bad = |why: String| CheckpointError::NotACheckpoint {
            file: file.to_string(),
            why,
        };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("{e:?}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let text = meta
            .get(HEADER_KEY)
            .ok_or_else(|| bad(format!("no `{HEADER_KEY}` entry")))?;
        let header: Header = ron::from_str(text).map_err(|e| bad(format!("its header: {e}")))?;
        passes_checker(&header.model)
            .map_err(|why| bad(format!("its model does not pass the checker: {why}")))?;
        let rows = header.data.rows;
        let needed = crate::backend::parameter_count(&header.model, rows).map(|n| n * 3);
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("{e:?}")))?;
        if needed != Some(values_held(&tensors)) {
            return Err(bad("its tensors do not fit its model".into()));
        }
        let model = Model::<f32>::new(&header.model, rows, header.model.train.seed);
        let mut parameters = model.parameters();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for p in &mut parameters {
            let read = |name: &str| -> Result<Vec<f64>, CheckpointError> {
                let view = tensors
                    .tensor(name)
                    .map_err(|_| bad(format!("`{name}` is missing")))?;
                if view.dtype() != Dtype::F32 || view.shape() != [p.shape.0, p.shape.1] {
                    return Err(bad(format!("`{name}` has the wrong type or shape")));
                }
                let values = f32_values(&view);
                match values.iter().all(|v| v.is_finite()) {
                    true => Ok(values),
                    false => Err(bad(format!("`{name}` holds a value that is not finite"))),
                }
            };
            let narrow = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
            p.values = read(&p.name)?;
            first.push(narrow(read(&format!("{FIRST}{}", p.name))?));
            second.push(narrow(read(&format!("{SECOND}{}", p.name))?));
        }
        Ok(Checkpoint {
            model: header.model,
            data: header.data,
            trace: header.trace,
            truth: header.truth,
            state: TrainingState {
                parameters,
                adam: AdamState {
                    t: header.adam_steps,
                    first,
                    second,
                },
            },
        })
    }
}
