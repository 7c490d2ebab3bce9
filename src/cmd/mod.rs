//! What each command does with files: reading inputs, writing outputs, reporting. The
//! numerics live in the library; this layer only moves data in and out, and lives in the
//! binary (the library prints nothing and writes no file).
//!
//! Every command's flags are validated by one rule, so that a value is refused in the same
//! words wherever it is given (each refusal exits 2 with one message naming the flag):
//!
//! - A flag that gives a value the library also takes from elsewhere is held to the
//!   library's own check of it, never to a copy here: a model file's setting (`fit
//!   --epochs`, `--lr`, `--seed`, `compare --epochs`, and the `fit` commands `compare
//!   --plan` writes) goes through `pdgc::fit::Overrides`, the checker's ranges for the
//!   file's `train { }` block; a simulation's shape (`simulate --sources`, `--observed`,
//!   `--layers`, `--noise`, how many `--marginals`) through
//!   `pdgc::simulate::Settings::problem`. Python's keywords go through the same two.
//! - Every other numeric flag has a clap range (`value_parser!(u64).range(..)`, or
//!   `RangedU64ValueParser::<usize>` for a count, as [`samples_parser`]), and every
//!   enumerated one a `clap::ValueEnum` or the library's own list of names
//!   ([`scenario_parser`]): clap refuses it before any file is read.
//! - What the flag's value alone cannot decide is checked here, by hand, as a
//!   `CliError::Flag`: a range that depends on the data (`fastica --sources`), on another
//!   flag (`--layers` only for mlp) or on the machine (`--threads`, `--jobs` against memory
//!   and address space), and a format (`--time`). One exception, kept for its tested
//!   message: `sample`'s number of draws, checked by hand to be at least 1.

pub mod compare;
pub mod error;

pub mod fit;
pub mod outputs;
pub mod plan;
pub mod read;
pub mod report;

use error::{within_memory, CliError, Outcome};
use pdgc::data::{write_csv_to, Precision, Wanted};
use pdgc::eval::recovery;
use pdgc::files::{self, write_atomically};
use pdgc::fitted::Fitted;
use pdgc::matrix::Matrix;
use pdgc::simulate::{Marginal, Scenario, Settings};
use pdgc::spec::ModelSpec;
use read::read_table;
use std::path::Path;

/// The largest model file read (the largest model the checker allows is far smaller).
const MODEL_FILE_MAX: u64 = 16 << 20;

/// Reads a model file and checks it; diagnostics rendered against the file's text.
pub fn load_model(path: &Path) -> Result<ModelSpec, CliError> {
    load_model_and_text(path).map(|(spec, _)| spec)
}

/// The checked model and the file's text as written (which a fit records).
pub fn load_model_and_text(path: &Path) -> Result<(ModelSpec, String), CliError> {
    let file = path.display().to_string();
    // A model is a short text; this keeps an endless input (`/dev/zero`) from filling memory.
    let too_large =
        || std::io::Error::other("it is larger than 16 MiB; a model file is a short text");
    let bytes = read::at_most(path, MODEL_FILE_MAX)
        .and_then(|b| b.ok_or_else(too_large))
        .map_err(|source| CliError::ModelRead {
            file: file.clone(),
            source,
        })?;
    let source = pdgc::decode(&bytes).map_err(|(d, text)| CliError::Model {
        rendered: d.render(&file, &text),
    })?;
    let spec = pdgc::compile_here(&source).map_err(|d| CliError::Model {
        rendered: d.render(&file, &source),
    })?;
    Ok((spec, source))
}

/// `pdgc check`: print the normalised model, or the diagnostics.
pub fn check(model: &Path, as_pdg: bool) -> Outcome {
    let spec = load_model(model)?;
    if as_pdg {
        emit_text(&spec.to_pdg())
    } else {
        emit_text(&format!("{}\n", spec.to_ron()))
    }
}

/// `pdgc simulate`: DIR/data.csv, DIR/truth.csv and, for a linear mixing, DIR/mixing.csv
/// (rows: observed columns, columns: sources). The settings come checked from
/// [`MixingArgs::settings`].
pub fn simulate(settings: &Settings, out: &Path, force: bool) -> Outcome {
    outputs::check_output(out, outputs::OutputKind::Simulation, &[], force)?;
    let columns = settings.sources + settings.observed;
    within_memory(pdgc::resources::simulate(settings.samples, columns), || {
        format!("--samples {}", settings.samples)
    })?;
    let sim = pdgc::simulate::simulate_with(settings);
    let names = |prefix: &str, n: usize| (0..n).map(|j| format!("{prefix}{j}")).collect::<Vec<_>>();
    let written = write_atomically(out, |dir| -> Result<(), files::WriteError> {
        let double = Precision::Double;
        files::write_csv(
            &dir.join("data.csv"),
            &names("x", sim.data.ncols()),
            &sim.data,
            double,
        )?;
        files::write_csv(
            &dir.join("truth.csv"),
            &names("s", sim.truth.ncols()),
            &sim.truth,
            double,
        )?;
        match &sim.mixing {
            Some(a) => files::write_csv(&dir.join("mixing.csv"), &names("s", a.ncols()), a, double),
            None => Ok(()),
        }
    });
    Ok(written?)
}

/// `pdgc eval`: MCC of estimated sources against the truth.
pub fn eval(truth: &Path, sources: &Path, json: bool, linear: Option<(&Path, &Path)>) -> Outcome {
    let truth_table = read_table(truth, Wanted::All)?;
    let est_table = read_table(sources, Wanted::All)?;
    // A fit's sources.csv also holds posterior standard deviations: compare the means.
    let keep: Vec<usize> = (0..est_table.columns.len())
        .filter(|&c| !est_table.columns[c].ends_with("_sd"))
        .collect();
    if keep.is_empty() {
        return Err(CliError::Compare {
            truth: truth.display().to_string(),
            estimate: sources.display().to_string(),
            why: "the estimate has only `_sd` columns (posterior standard deviations), no sources"
                .into(),
        });
    }
    let estimate = pdgc::matrix::select(&est_table.values, ndarray::Axis(1), &keep);
    let rec = recovery(&truth_table.values, &estimate).map_err(|why| CliError::Compare {
        truth: truth.display().to_string(),
        estimate: sources.display().to_string(),
        why,
    })?;
    let amari = match linear {
        None => None,
        Some((mixing, unmixing)) => Some(amari(mixing, unmixing)?),
    };
    let report = if json {
        let mut value = serde_json::to_value(&rec).expect("plain numbers serialise");
        if let Some(d) = amari {
            value["amari"] = serde_json::json!(d);
        }
        let text = serde_json::to_string_pretty(&value).expect("plain numbers serialise");
        format!("{text}\n")
    } else {
        let mut text = format!(
            "MCC (Pearson)  {:.4}\nMCC (Spearman) {:.4}\n",
            rec.mcc, rec.mcc_spearman
        );
        if let Some(d) = amari {
            text += &format!("Amari distance {d:.4}\n");
        }
        text += &format!("{:<12} {:<12} |corr|\n", "source", "matched");
        for (i, j) in rec.matching.iter().enumerate() {
            let matched = j.map_or("(none)", |j| est_table.columns[keep[j]].as_str());
            text += &format!(
                "{:<12} {:<12} {:.4}\n",
                truth_table.columns[i], matched, rec.per_source[i]
            );
        }
        text
    };
    emit_text(&report)
}

/// The Amari distance between a mixing (m × n) and an unmixing (n × m) file.
fn amari(mixing: &Path, unmixing: &Path) -> Result<f64, CliError> {
    let a = read_table(mixing, Wanted::All)?.values;
    let w = read_table(unmixing, Wanted::All)?.values;
    if w.ncols() != a.nrows() || w.nrows() != a.ncols() {
        return Err(CliError::Compare {
            truth: mixing.display().to_string(),
            estimate: unmixing.display().to_string(),
            why: format!(
                "the mixing is {}×{} and the unmixing {}×{}; the unmixing must be {}×{}",
                a.nrows(),
                a.ncols(),
                w.nrows(),
                w.ncols(),
                a.ncols(),
                a.nrows()
            ),
        });
    }
    let distance = pdgc::eval::amari_distance(&w, &a);
    if !distance.is_finite() {
        let product_finite = w.dot(&a).iter().all(|v| v.is_finite());
        let why = match product_finite {
            true => "the unmixing times the mixing has a row or column of zeros: the Amari distance is not defined",
            false => "the unmixing times the mixing overflows: the Amari distance is not defined",
        };
        return Err(CliError::Compare {
            truth: mixing.display().to_string(),
            estimate: unmixing.display().to_string(),
            why: why.into(),
        });
    }
    Ok(distance)
}

/// `pdgc fastica DATA`: the baseline's sources, and its unmixing matrix.
pub fn fastica(
    data: &Path,
    sources: Option<usize>,
    seed: u64,
    out: Option<&Path>,
    unmixing: Option<&Path>,
    precision: Precision,
) -> Outcome {
    let outputs: Vec<(&'static str, &Path)> = [("-o", out), ("--unmixing", unmixing)]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?)))
        .collect();
    for (flag, path) in &outputs {
        outputs::check_output_file(flag, path, &[data])?;
    }
    outputs::check_distinct_outputs(&outputs)?;
    let table = read_table(data, Wanted::All)?;
    pdgc::data::Preprocessing::check_for_fastica(&data.display().to_string(), &table)?;
    let n = sources.unwrap_or(table.values.ncols());
    if n == 0 || n > table.values.ncols() {
        return Err(CliError::Flag {
            flag: "--sources",
            why: format!(
                "must be between 1 and the data's {} columns, found {n}",
                table.values.ncols()
            ),
        });
    }
    let result =
        pdgc::baseline::fastica(&table.values, n, seed).map_err(|why| CliError::Baseline {
            file: data.display().to_string(),
            why,
        })?;
    if let Some(path) = unmixing {
        files::write_csv(path, &table.columns, &result.unmixing, Precision::Double)?;
    }
    let header: Vec<String> = (0..n).map(|j| format!("z{j}")).collect();
    emit_csv_with(out, &header, &result.sources, precision)
}

/// Writes a CSV of model outputs (f32) to `out`, or to standard output.
fn emit_csv(out: Option<&Path>, header: &[String], x: &Matrix) -> Outcome {
    emit_csv_with(out, header, x, Precision::Single)
}

fn emit_csv_with(
    out: Option<&Path>,
    header: &[String],
    x: &Matrix,
    precision: Precision,
) -> Outcome {
    match out {
        Some(path) => Ok(files::write_csv(path, header, x, precision)?),
        None => stdout(write_csv_to(std::io::stdout().lock(), header, x, precision)),
    }
}

/// Writes a report to standard output.
fn emit_text(text: &str) -> Outcome {
    use std::io::Write;
    stdout(std::io::stdout().lock().write_all(text.as_bytes()))
}

fn stdout(result: std::io::Result<()>) -> Outcome {
    match result {
        Ok(()) => Ok(()),
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Stdout(e)),
    }
}

/// `pdgc encode FIT DATA`: sources of new data with a fitted model, preprocessed as the
/// training data was, its columns matched by the names the fit recorded. Without an encoder (Half-VAE) each new row's latents are fitted
/// against the frozen decoder and priors, for as many steps as the model's epochs.
pub fn encode(fit_dir: &Path, data: &Path, out: Option<&Path>) -> Outcome {
    if let Some(path) = out {
        outputs::check_output_file("-o", path, &[fit_dir, data])?;
    }
    let Fitted {
        model,
        preprocessing,
        postprocessing,
        ..
    } = read::fitted(fit_dir)?;
    let spec = model.spec().clone();
    // The columns the model was trained on, by name: a file whose columns were renamed or
    // reordered since is bad input, not data to read by position.
    let table = read_table(data, Wanted::Named(&preprocessing.columns))?;
    within_memory(pdgc::resources::encode(&spec, table.values.nrows()), || {
        format!(
            "encoding the {} rows of `{}`",
            table.values.nrows(),
            data.display()
        )
    })?;
    let (means, sds) = pdgc::fit::encode(&model, &preprocessing, postprocessing.as_ref(), &table)?;
    let (header, table) = pdgc::folder::sources_table(&spec, &means, &sds);
    emit_csv(out, &header, &table)
}

/// `pdgc sample FIT N`: N draws from the fitted generative model, in the data's units:
/// the observed columns (the decoder's mean g(z), without observation noise), then z.
pub fn sample(fit_dir: &Path, rows: usize, seed: u64, out: Option<&Path>) -> Outcome {
    if rows == 0 {
        let why = "must be at least 1".to_string();
        return Err(CliError::Flag {
            flag: "the number of draws",
            why,
        });
    }
    if let Some(path) = out {
        outputs::check_output_file("-o", path, &[fit_dir])?;
    }
    let Fitted {
        model,
        preprocessing,
        postprocessing,
        ..
    } = read::fitted(fit_dir)?;
    within_memory(pdgc::resources::sample(model.spec(), rows), || {
        format!("drawing {rows} samples")
    })?;
    let (z, y) = pdgc::fit::sample(&model, &preprocessing, postprocessing.as_ref(), rows, seed);
    let zname = &model.spec().latent.name;
    let header: Vec<String> = preprocessing
        .columns
        .iter()
        .cloned()
        .chain((0..z.ncols()).map(|j| format!("{zname}{j}")))
        .collect();
    emit_csv(out, &header, &pdgc::matrix::beside(&y, &z))
}

/// The rows a simulation draws (`simulate --samples`, `compare --samples`): at least two,
/// the fewest rows a fit reads.
pub fn samples_parser() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(2..)
}

/// `--sources` when not given.
const DEFAULT_SOURCES: usize = 3;

/// How `simulate`, and `compare --scenario`, mix the sources: every setting beside the
/// scenario, the rows and the seed. One struct, so the two commands take the same flags.
#[derive(clap::Args, Debug, Clone)]
pub struct MixingArgs {
    /// Number of sources n.
    #[arg(long, default_value_t = DEFAULT_SOURCES)]
    pub sources: usize,
    /// Number of observed columns m (default n; m < n only for linear).
    #[arg(long)]
    pub observed: Option<usize>,
    /// Mixing layers (mlp only; default 3).
    #[arg(long)]
    pub layers: Option<usize>,
    /// Orthogonal weight matrices (mlp), instead of condition-filtered ones.
    #[arg(long)]
    pub orthogonal: bool,
    /// Standard deviation of Gaussian noise added to the observations.
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// Source marginals, one for all or one per source: bimodal, uniform, laplace,
    /// exponential, gaussian (default: the scenario's own, see README).
    #[arg(long, value_delimiter = ',', value_parser = marginal_parser())]
    pub marginals: Vec<Marginal>,
}

impl MixingArgs {
    /// The first flag given a value other than its default, if any: they mean nothing
    /// without a scenario to simulate.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            ("--sources", self.sources != DEFAULT_SOURCES),
            ("--observed", self.observed.is_some()),
            ("--layers", self.layers.is_some()),
            ("--orthogonal", self.orthogonal),
            ("--noise", self.noise != 0.0),
            ("--marginals", !self.marginals.is_empty()),
        ]
        .into_iter()
        .find_map(|(flag, given)| given.then_some(flag))
    }

    /// The simulation these flags ask for, checked: `--layers` only for mlp, and what
    /// `Settings::problem` refuses.
    pub fn settings(
        &self,
        scenario: Scenario,
        samples: usize,
        seed: u64,
    ) -> Result<Settings, CliError> {
        let mut settings = Settings::new(scenario);
        settings.samples = samples;
        settings.seed = seed;
        settings.sources = self.sources;
        settings.observed = self.observed.unwrap_or(self.sources);
        if let Some(layers) = self.layers {
            if scenario != Scenario::Mlp {
                let why = "applies only to mlp".to_string();
                return Err(CliError::Flag {
                    flag: "--layers",
                    why,
                });
            }
            settings.layers = layers;
        }
        settings.orthogonal = self.orthogonal;
        settings.noise = self.noise;
        if !self.marginals.is_empty() {
            settings.marginals = self.marginals.clone();
        }
        match settings.problem() {
            Some((flag, why)) => Err(CliError::Flag { flag, why }),
            None => Ok(settings),
        }
    }
}

fn marginal_parser() -> impl clap::builder::TypedValueParser<Value = Marginal> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Marginal::ALL.map(Marginal::name))
        .map(|name: String| Marginal::from_name(&name).expect("a listed marginal"))
}

/// A scenario, from the library's own list of scenario names.
pub fn scenario_parser() -> impl clap::builder::TypedValueParser<Value = Scenario> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Scenario::ALL.map(Scenario::name))
        .map(|name: String| Scenario::from_name(&name).expect("a listed scenario"))
}
