//! `trace.csv`, the training trace as a file: written by `fit`, read back by `report` to
//! draw the training curves of a fit made earlier. One row per epoch; the prior's
//! parameters (and, when the truth was given, each true source's |corr|) are filled on the
//! epochs where they were recorded and left empty on the others.

use crate::numeric::PriorDensity;
use crate::spec::ModelSpec;
use crate::train::TraceRow;

/// The columns every trace starts with, then the β in force (traces written before β
/// warm-up existed lack that column; they still read).
const TERMS: [&str; 6] = ["epoch", "loss", "reconstruction", "kl", "log_q", "log_p"];
const BETA: &str = "beta";
/// After β: steps of the epoch skipped for a non-finite objective or gradient (traces
/// written before it was recorded lack the column; they still read).
const SKIPPED: &str = "skipped_steps";

/// What a trace file holds, column by column: what the report draws.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub epochs: Vec<usize>,
    pub loss: Vec<f64>,
    pub reconstruction: Vec<f64>,
    pub kl: Vec<f64>,
    /// The β in force at each epoch row (empty for a trace from before it was recorded).
    pub beta: Vec<f64>,
    /// `posterior_variances[j][i]`: dimension j's mean posterior variance at epoch row i.
    pub posterior_variances: Vec<Vec<f64>>,
    /// `noise_variances[i][r]`: the likelihood's learned σ² number i at epoch row r (one
    /// per observed column, or one shared; none when the likelihood learns nothing).
    pub noise_variances: Vec<Vec<f64>>,
    /// Every dimension's prior, at the epochs where it was recorded.
    pub priors: Vec<(usize, Vec<PriorDensity>)>,
    /// The true sources' names, when the fit was given the truth.
    pub truth_names: Vec<String>,
    /// Each true source's |corr| with its matched estimate, at the epochs recorded.
    pub recovery: Vec<(usize, Vec<f64>)>,
}

/// A trace file that is not the one `fit` writes for this model.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{file}: {why}")]
    Csv { file: String, why: String },
    #[error("{file}:{line}: {why}")]
    Cell {
        file: String,
        line: u64,
        why: String,
    },
}

/// The header of `model`'s trace, with a `corr_NAME` column for each true source given.
fn header(
    spec: &ModelSpec,
    truth_names: &[String],
    with_beta: bool,
    with_skipped: bool,
) -> Vec<String> {
    let z = &spec.latent.name;
    let n = spec.n();
    let mut header: Vec<String> = TERMS.iter().map(|s| s.to_string()).collect();
    if with_beta {
        header.push(BETA.to_string());
    }
    if with_skipped {
        header.push(SKIPPED.to_string());
    }
    header.extend((0..n).map(|j| format!("sigma2_{z}{j}")));
    header.extend(noise_columns(spec));
    for j in 0..n {
        let names = spec.prior.family(j).fitted_names();
        header.extend(names.iter().map(|what| format!("{z}{j}_{what}")));
    }
    header.extend(truth_names.iter().map(|name| format!("corr_{name}")));
    header
}

/// How many cells the priors fill in a row: each dimension's `Family::fitted_names`.
fn prior_cells(spec: &ModelSpec) -> usize {
    (0..spec.n())
        .map(|j| spec.prior.family(j).fitted_names().len())
        .sum()
}

/// The learned noise variances' columns: `noise_x0`, … per observed column, or one
/// `noise_x` when shared.
pub fn noise_columns(spec: &ModelSpec) -> Vec<String> {
    let x = &spec.observed.name;
    match spec.likelihood.learned_variances(spec.m()) {
        1 if spec.m() > 1 => vec![format!("noise_{x}")],
        k => (0..k).map(|i| format!("noise_{x}{i}")).collect(),
    }
}

/// The trace as CSV text. Values are written at single precision, which they were
/// computed in.
///
/// The priors are written at the epochs of `train::Plan::records_priors` (every
/// `epochs / 100`-th, the first and the last: those of the recovery), from
/// a trace that records them every epoch: which rows hold them depends on the model's
/// epochs alone, so a run resumed with more epochs writes the same file as one that was
/// never stopped. A skipped epoch's terms are empty cells.
pub fn to_csv(spec: &ModelSpec, trace: &[TraceRow], truth_names: &[String]) -> Vec<u8> {
    let header = header(spec, truth_names, true, true);
    let plan = crate::train::Plan::new(spec);
    let prior_cells = prior_cells(spec);
    let single = |v: f64| match v.is_nan() {
        true => String::new(),
        false => format!("{}", v as f32),
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut write = |cells: &[String]| w.write_record(cells).expect("writing to memory");
    write(&header);
    for row in trace {
        let t = &row.terms;
        let mut cells: Vec<String> = vec![row.epoch.to_string()];
        cells.extend([t.loss, t.reconstruction, t.kl(), t.log_q, t.log_p, row.beta].map(single));
        cells.push(row.skipped_steps.to_string());
        cells.extend(row.posterior_variances.iter().map(|&v| single(v)));
        cells.extend(row.noise_variances.iter().map(|&v| single(v)));
        let written = plan.records_priors(row.epoch);
        match row.priors.as_ref().filter(|_| written) {
            Some(priors) => {
                for p in priors {
                    cells.extend(p.values().into_iter().map(single));
                }
            }
            None => cells.extend(std::iter::repeat_n(String::new(), prior_cells)),
        }
        match &row.recovery {
            Some(corr) => cells.extend(corr.iter().map(|&v| single(v))),
            None => cells.extend(std::iter::repeat_n(String::new(), truth_names.len())),
        }
        write(&cells);
    }
    w.into_inner().expect("writing to memory")
}

/// A trace as columns of numbers (for a data frame): the epoch, the terms, β, each
/// dimension's posterior variance, the learned noise variances and each true source's
/// |corr| (NaN at the epochs where it was not recorded).
pub fn columns(spec: &ModelSpec, trace: &Trace) -> (Vec<String>, Vec<Vec<f64>>) {
    let z = &spec.latent.name;
    let rows = trace.epochs.len();
    let mut names: Vec<String> = ["epoch", "loss", "reconstruction", "kl"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut values = vec![
        trace.epochs.iter().map(|&e| e as f64).collect(),
        trace.loss.clone(),
        trace.reconstruction.clone(),
        trace.kl.clone(),
    ];
    if trace.beta.len() == rows {
        names.push(BETA.into());
        values.push(trace.beta.clone());
    }
    for (j, v) in trace.posterior_variances.iter().enumerate() {
        names.push(format!("sigma2_{z}{j}"));
        values.push(v.clone());
    }
    for (name, i) in noise_columns(spec).into_iter().zip(0..) {
        names.push(name);
        values.push(trace.noise_variances.iter().map(|row| row[i]).collect());
    }
    for (k, name) in trace.truth_names.iter().enumerate() {
        let mut column = vec![f64::NAN; rows];
        for (epoch, corr) in &trace.recovery {
            if let Some(i) = trace.epochs.iter().position(|e| e == epoch) {
                column[i] = corr[k];
            }
        }
        names.push(format!("corr_{name}"));
        values.push(column);
    }
    (names, values)
}

impl Trace {
    /// Reads back the trace `fit` wrote for `spec`, named `file` in messages.
    pub fn parse(file: &str, spec: &ModelSpec, bytes: &[u8]) -> Result<Trace, TraceError> {
        let csv_error = |why: String| TraceError::Csv {
            file: file.to_string(),
            why,
        };
        let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
        let found: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(e.to_string()))?
            .iter()
            .map(str::to_string)
            .collect();
        let truth_names: Vec<String> = found
            .iter()
            .filter_map(|c| c.strip_prefix("corr_").map(str::to_string))
            .collect();
        let with_beta = found.get(TERMS.len()).is_some_and(|c| c == BETA);
        let with_skipped = found
            .get(TERMS.len() + usize::from(with_beta))
            .is_some_and(|c| c == SKIPPED);
        let expected = header(spec, &truth_names, with_beta, with_skipped);
        if found != expected {
            let first = found.iter().zip(&expected).position(|(a, b)| a != b);
            let why = match first {
                Some(i) => format!(
                    "column {} is `{}`; a trace of model `{}` has `{}` there",
                    i + 1,
                    found[i],
                    spec.name,
                    expected[i]
                ),
                None => format!(
                    "it has {} columns; a trace of model `{}` has {}",
                    found.len(),
                    spec.name,
                    expected.len()
                ),
            };
            return Err(csv_error(why));
        }
        let n = spec.n();
        let mut trace = Trace {
            posterior_variances: vec![Vec::new(); n],
            noise_variances: vec![Vec::new(); noise_columns(spec).len()],
            truth_names,
            ..Trace::default()
        };
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(e.to_string()))?;
            let line = record.position().map_or(0, |p| p.line());
            let cell_error = |why: String| TraceError::Cell {
                file: file.to_string(),
                line,
                why,
            };
            let number = |i: usize| -> Result<Option<f64>, TraceError> {
                let text = record.get(i).unwrap_or("").trim();
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse::<f64>()
                    .map(Some)
                    .map_err(|_| cell_error(format!("`{}` is not a number", expected[i])))
            };
            let required = |i: usize| {
                number(i)?.ok_or_else(|| cell_error(format!("`{}` is empty", expected[i])))
            };
            let epoch = required(0)?;
            if !(epoch >= 1.0 && epoch.fract() == 0.0) {
                return Err(cell_error("`epoch` is not a whole number from 1".into()));
            }
            let epoch = epoch as usize;
            let mut i = TERMS.len() + usize::from(with_beta);
            let skipped = match with_skipped {
                true => {
                    i += 1;
                    required(i - 1)? > 0.0
                }
                false => false,
            };
            // An epoch whose every step was skipped has no terms: NaN, which no figure draws.
            let term = |i: usize| match skipped {
                true => number(i).map(|v| v.unwrap_or(f64::NAN)),
                false => required(i),
            };
            trace.epochs.push(epoch);
            trace.loss.push(term(1)?);
            trace.reconstruction.push(term(2)?);
            trace.kl.push(term(3)?);
            if with_beta {
                trace.beta.push(required(TERMS.len())?);
            }
            for variances in trace
                .posterior_variances
                .iter_mut()
                .chain(&mut trace.noise_variances)
            {
                variances.push(term(i)?);
                i += 1;
            }
            // The prior's cells are all filled or all empty.
            let prior_cells = prior_cells(spec);
            let cells: Vec<Option<f64>> =
                (i..i + prior_cells).map(number).collect::<Result<_, _>>()?;
            if cells.iter().all(Option::is_some) {
                let values: Vec<f64> = cells.into_iter().flatten().collect();
                let mut at = 0;
                let priors = (0..n)
                    .map(|j| {
                        let family = spec.prior.family(j);
                        let count = family.fitted_names().len();
                        at += count;
                        PriorDensity::from_values(family, &values[at - count..at]).expect("counted")
                    })
                    .collect();
                trace.priors.push((epoch, priors));
            } else if cells.iter().any(Option::is_some) {
                return Err(cell_error(
                    "the prior's columns are partly filled: all or none are".into(),
                ));
            }
            i += prior_cells;
            let corr: Vec<Option<f64>> =
                (i..expected.len()).map(number).collect::<Result<_, _>>()?;
            if !corr.is_empty() && corr.iter().all(Option::is_some) {
                trace
                    .recovery
                    .push((epoch, corr.into_iter().flatten().collect()));
            }
        }
        Ok(trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Terms;
    use crate::numeric::Mixture;

    fn row(epoch: usize, recorded: bool) -> TraceRow {
        TraceRow {
            epoch,
            terms: Terms {
                loss: 1.5 / epoch as f64,
                reconstruction: 1.0,
                log_q: 0.25,
                log_p: -0.25,
            },
            beta: 0.5,
            posterior_variances: vec![0.5, 0.125],
            noise_variances: Vec::new(),
            priors: recorded.then(|| {
                vec![
                    PriorDensity::Mixture(Mixture {
                        weights: vec![0.5, 0.5],
                        means: vec![-1.0, 1.0],
                        variances: vec![0.25, 0.5],
                    }),
                    PriorDensity::Mixture(Mixture {
                        weights: vec![1.0],
                        means: vec![0.0],
                        variances: vec![1.0],
                    }),
                ]
            }),
            recovery: recorded.then(|| vec![0.75, 0.5]),
            skipped_steps: 0,
        }
    }

    #[test]
    fn a_trace_reads_back_as_written() {
        let spec = crate::compile(
            "model m\nobserved x[2]\nlatent z[2] ~ gmm(K = 2)\nz[1] ~ normal(0, 1)\ndecoder linear\ntrain { epochs 3 }\n",
        )
        .unwrap();
        let rows = [row(1, true), row(2, false), row(3, true)];
        let names = ["s0".to_string(), "s1".to_string()];
        let bytes = to_csv(&spec, &rows, &names);
        let trace = Trace::parse("trace.csv", &spec, &bytes).unwrap();
        assert_eq!(trace.epochs, [1, 2, 3]);
        assert_eq!(trace.loss, [1.5, 0.75, 0.5]);
        assert_eq!(trace.kl, [0.5; 3]);
        assert_eq!(trace.beta, [0.5; 3]);
        assert_eq!(trace.posterior_variances, [[0.5; 3], [0.125; 3]]);
        assert_eq!(trace.priors.len(), 2);
        assert_eq!(trace.priors[1].0, 3);
        assert_eq!(trace.priors[1].1, rows[2].priors.clone().unwrap());
        assert_eq!(trace.truth_names, names);
        assert_eq!(trace.recovery, [(1, vec![0.75, 0.5]), (3, vec![0.75, 0.5])]);

        // A trace written before β and skipped steps were recorded: neither column.
        let text = String::from_utf8(bytes.clone()).unwrap();
        let old: String = text
            .lines()
            .map(|l| {
                let mut cells: Vec<&str> = l.split(',').collect();
                cells.drain(6..8);
                cells.join(",") + "\n"
            })
            .collect();
        let before = Trace::parse("trace.csv", &spec, old.as_bytes()).unwrap();
        assert!(before.beta.is_empty());
        assert_eq!(before.loss, trace.loss);
        assert_eq!(before.priors, trace.priors);

        let other =
            crate::compile("model m\nobserved x[2]\nlatent z[2] ~ gmm(K = 2)\ndecoder linear\n")
                .unwrap();
        let e = Trace::parse("trace.csv", &other, &bytes).unwrap_err();
        assert!(e.to_string().contains("column 20 is `corr_s0`"), "{e}");

        // An epoch whose every step was skipped: empty terms, which read back as NaN.
        let mut skipped = row(2, false);
        skipped.skipped_steps = 1;
        skipped.terms = Terms {
            loss: f64::NAN,
            reconstruction: f64::NAN,
            log_q: f64::NAN,
            log_p: f64::NAN,
        };
        skipped.posterior_variances = vec![f64::NAN; 2];
        let rows = [row(1, true), skipped, row(3, true)];
        let bytes = to_csv(&spec, &rows, &names);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.lines().nth(2).unwrap().starts_with("2,,,,,,0.5,1,,,"),
            "{text}"
        );
        let trace = Trace::parse("trace.csv", &spec, &bytes).unwrap();
        assert!(trace.loss[1].is_nan() && trace.loss[2] == 0.5);
    }
}
