//! The fitted-model file: every parameter as a safetensors tensor (f32), with the
//! `ModelSpec` and whatever else the caller needs embedded as metadata.
//! dfdx 0.13 pins safetensors 0.3; this calls that crate directly, since dfdx's own
//! save/load wants compile-time-shaped modules.

use super::Model;
use crate::spec::ModelSpec;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

/// Metadata key of the embedded model description (RON).
pub const SPEC_KEY: &str = "pdgc.spec";
/// Metadata key of the number of data rows the model was fitted to (Half-VAE latents).
const ROWS_KEY: &str = "pdgc.rows";

impl Model<f32> {
    /// Writes the parameters and `metadata` (plus the spec) to `path`.
    pub fn save(
        &self,
        path: &Path,
        rows: usize,
        metadata: &[(&str, String)],
    ) -> Result<(), String> {
        let infos = self.parameters();
        let bytes: Vec<Vec<u8>> = infos
            .iter()
            .map(|p| {
                p.values
                    .iter()
                    .flat_map(|&v| (v as f32).to_le_bytes())
                    .collect()
            })
            .collect();
        let mut views = Vec::new();
        for (p, b) in infos.iter().zip(&bytes) {
            let view = TensorView::new(Dtype::F32, vec![p.shape.0, p.shape.1], b)
                .map_err(|e| format!("error: cannot store parameter `{}`: {e:?}", p.name))?;
            views.push((p.name.clone(), view));
        }
        let mut meta: HashMap<String, String> = metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        meta.insert(SPEC_KEY.to_string(), self.spec().to_ron());
        meta.insert(ROWS_KEY.to_string(), rows.to_string());
        safetensors::serialize_to_file(views, &Some(meta), path)
            .map_err(|e| format!("error: cannot write `{}`: {e:?}", path.display()))
    }

    /// Reads a model written by `save`, with its metadata.
    pub fn load(path: &Path) -> Result<(Model<f32>, HashMap<String, String>), String> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| format!("error: cannot read fitted model `{name}`: {e}"))?;
        let bad = |why: String| format!("error: {name}: not a pdgc fitted model ({why})");
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("{e:?}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let spec_text = meta
            .get(SPEC_KEY)
            .ok_or_else(|| bad("no embedded model".into()))?;
        let spec =
            ModelSpec::from_ron(spec_text).map_err(|e| bad(format!("embedded model: {e}")))?;
        let rows: usize = meta
            .get(ROWS_KEY)
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| bad("no row count".into()))?;
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| bad(format!("{e:?}")))?;
        let mut model = Model::<f32>::new(&spec, rows, spec.train.seed);
        for (i, p) in model.parameters().iter().enumerate() {
            let view = tensors
                .tensor(&p.name)
                .map_err(|_| bad(format!("parameter `{}` is missing", p.name)))?;
            if view.dtype() != Dtype::F32 || view.shape() != [p.shape.0, p.shape.1] {
                return Err(bad(format!(
                    "parameter `{}` has the wrong type or shape",
                    p.name
                )));
            }
            let values: Vec<f64> = view
                .data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            model.set_parameter(i, &values);
        }
        Ok((model, meta))
    }
}
