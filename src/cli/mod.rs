//! What each command does with files: reading inputs, writing outputs, reporting. The
//! numerics live in the library modules; this layer only moves data in and out.

pub mod fit;

use crate::backend::Model;
use crate::data::{read_all, read_observed, write_csv, write_csv_to, Precision, Preprocessing};
use crate::eval::recovery;
use crate::matrix::Matrix;
use crate::simulate::Scenario;
use crate::spec::Encoder;
use crate::{check, diagnostic};
use std::path::Path;

/// How a command ended, mapped to the exit code by the binary.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    /// The input was fine but the job did not succeed (exit 1).
    JobFailed(String),
    /// The input was bad: the message names the file, the line and what was expected (exit 2).
    BadInput(String),
}

/// Reads a model file and checks it; diagnostics rendered against the file's text.
pub fn load_model(path: &Path) -> Result<crate::ModelSpec, String> {
    let name = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| format!("error: cannot read model file `{name}`: {e}"))?;
    let source = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let d = diagnostic::Diagnostic::new(at..at, "the model file is not valid UTF-8 text")
                .label("invalid byte here");
            return Err(diagnostic::render(&name, &text, &[d]));
        }
    };
    check::compile_source(&source).map_err(|ds| diagnostic::render(&name, &source, &ds))
}

/// `pdgc check`: print the normalised model, or the diagnostics.
pub fn check(model: &Path, as_pdg: bool) -> Outcome {
    match load_model(model) {
        Ok(spec) => {
            if as_pdg {
                emit_text(&spec.to_pdg())
            } else {
                emit_text(&format!("{}\n", spec.to_ron()))
            }
        }
        Err(message) => Outcome::BadInput(message),
    }
}

/// `pdgc simulate`: the paper's scenario as DIR/data.csv and DIR/truth.csv.
pub fn simulate(scenario: Scenario, samples: usize, seed: u64, out: &Path) -> Outcome {
    if samples < 2 {
        return Outcome::BadInput("error: --samples must be at least 2".to_string());
    }
    let sim = crate::simulate::simulate(scenario, samples, seed);
    let names = |prefix: &str, n: usize| (0..n).map(|j| format!("{prefix}{j}")).collect::<Vec<_>>();
    let written = fit::write_atomically(out, |dir| {
        let data_header = names("x", sim.data.cols);
        let truth_header = names("s", sim.truth.cols);
        write_csv(
            &dir.join("data.csv"),
            &data_header,
            &sim.data,
            Precision::Double,
        )
        .and_then(|_| {
            write_csv(
                &dir.join("truth.csv"),
                &truth_header,
                &sim.truth,
                Precision::Double,
            )
        })
        .map_err(|e| e.to_string())
    });
    match written {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::JobFailed(format!("error: {e}")),
    }
}

/// `pdgc eval`: MCC of estimated sources against the truth.
pub fn eval(truth: &Path, sources: &Path, json: bool) -> Outcome {
    let truth_table = match read_all(truth) {
        Ok(t) => t,
        Err(e) => return Outcome::BadInput(e),
    };
    let est_table = match read_all(sources) {
        Ok(t) => t,
        Err(e) => return Outcome::BadInput(e),
    };
    // A fit's sources.csv also holds posterior standard deviations: compare the means.
    let keep: Vec<usize> = (0..est_table.columns.len())
        .filter(|&c| !est_table.columns[c].ends_with("_sd"))
        .collect();
    let estimate = est_table.values.select_columns(&keep);
    let rec = match recovery(&truth_table.values, &estimate) {
        Ok(r) => r,
        Err(e) => {
            return Outcome::BadInput(format!(
                "error: cannot compare `{}` with `{}`: {e}",
                truth.display(),
                sources.display()
            ))
        }
    };
    let report = if json {
        let text = serde_json::to_string_pretty(&rec).expect("plain numbers serialise");
        format!("{text}\n")
    } else {
        let mut text = format!(
            "MCC (Pearson)  {:.4}\nMCC (Spearman) {:.4}\n{:<12} {:<12} |corr|\n",
            rec.mcc, rec.mcc_spearman, "source", "matched"
        );
        for (i, &j) in rec.matching.iter().enumerate() {
            text += &format!(
                "{:<12} {:<12} {:.4}\n",
                truth_table.columns[i], est_table.columns[keep[j]], rec.per_source[i]
            );
        }
        text
    };
    emit_text(&report)
}

/// The fitted model in `fit` (a fit's output folder, or its `model.safetensors`) and the
/// preprocessing it was trained with.
fn load_fit(fit: &Path) -> Result<(Model<f32>, Preprocessing), String> {
    let file = if fit.is_dir() {
        fit.join("model.safetensors")
    } else {
        fit.to_path_buf()
    };
    let (model, meta) = Model::<f32>::load(&file)?;
    let preprocessing = meta
        .get(fit::PREPROCESSING_KEY)
        .and_then(|text| ron::from_str(text).ok())
        .ok_or_else(|| format!("error: {}: no data preprocessing recorded", file.display()))?;
    Ok((model, preprocessing))
}

/// Writes a CSV to `out`, or to standard output.
fn emit_csv(out: Option<&Path>, header: &[String], x: &Matrix) -> Outcome {
    written(match out {
        Some(path) => write_csv(path, header, x, Precision::Single),
        None => write_csv_to(std::io::stdout().lock(), header, x, Precision::Single),
    })
}

/// Writes a report to standard output.
fn emit_text(text: &str) -> Outcome {
    use std::io::Write;
    written(std::io::stdout().lock().write_all(text.as_bytes()))
}

fn written(result: std::io::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Outcome::Ok,
        Err(e) => Outcome::JobFailed(format!("error: cannot write the output: {e}")),
    }
}

/// `pdgc encode FIT DATA`: sources of new data with a fitted model, preprocessed as the
/// training data was. Without an encoder (Half-VAE) each new row's latents are fitted
/// against the frozen decoder and priors, for as many steps as the model's epochs.
pub fn encode(fit_dir: &Path, data: &Path, out: Option<&Path>) -> Outcome {
    let (model, preprocessing) = match load_fit(fit_dir) {
        Ok(x) => x,
        Err(e) => return Outcome::BadInput(e),
    };
    let spec = model.spec().clone();
    let table = match read_observed(data, &spec) {
        Ok(t) => t,
        Err(e) => return Outcome::BadInput(e),
    };
    let y = preprocessing.apply(&table.values);
    let (means, sds) = match spec.encoder {
        Encoder::None => model
            .fit_latents(&y, spec.train.epochs, spec.train.seed)
            .encode(&y),
        Encoder::Mlp(_) => model.encode(&y),
    };
    let (header, table) = fit::sources_table(&spec, &means, &sds);
    emit_csv(out, &header, &table)
}

/// `pdgc sample FIT N`: N draws from the fitted generative model, in the data's units:
/// the observed columns (the decoder's mean g(z), without observation noise), then z.
pub fn sample(fit_dir: &Path, rows: usize, seed: u64, out: Option<&Path>) -> Outcome {
    let (model, preprocessing) = match load_fit(fit_dir) {
        Ok(x) => x,
        Err(e) => return Outcome::BadInput(e),
    };
    let (z, y) = model.sample(rows, seed);
    let y = preprocessing.invert(&y);
    let zname = &model.spec().latent.name;
    let header: Vec<String> = preprocessing
        .columns
        .iter()
        .cloned()
        .chain((0..z.cols).map(|j| format!("{zname}{j}")))
        .collect();
    emit_csv(out, &header, &y.beside(&z))
}
