//! Comparison runs: every model (and the FastICA baseline) fitted with every seed, scored
//! against the truth, and summarised per model. Independent fits run in parallel, each on
//! its own one-thread pool, so a run's numbers depend on its seed only, never on how many
//! run at once.

use crate::data::Table;
use crate::eval::recovery;
use crate::matrix::Matrix;
use crate::spec::ModelSpec;
use serde::Serialize;
use std::time::Instant;

/// What a fit gives `compare`: sources, the final loss, and the posterior means before a
/// `postprocess`.
type FitOutcome = (Matrix, Option<f64>, Option<Matrix>);

/// What is fitted in one run.
#[derive(Debug, Clone)]
pub enum Method {
    Model { name: String, spec: Box<ModelSpec> },
    FastIca,
}

impl Method {
    pub fn name(&self) -> &str {
        match self {
            Method::Model { name, .. } => name,
            Method::FastIca => "fastica",
        }
    }
}

/// One fit's data: the observed table (every column the models may read) and the truth.
#[derive(Debug, Clone)]
pub struct Problem {
    pub seed: u64,
    pub data: Table,
    pub truth: Matrix,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub method: String,
    pub seed: u64,
    pub mcc: Option<f64>,
    pub mcc_spearman: Option<f64>,
    /// The final objective (eq. 39) of a model's fit; none for FastICA.
    pub final_loss: Option<f64>,
    pub seconds: f64,
    /// Why the run failed (bad data for this model, divergence), if it did.
    pub error: Option<String>,
    /// A model with `postprocess`: the MCC of its posterior means before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcc_before_postprocess: Option<f64>,
}

/// Fits `method` to `problem` with the problem's seed and scores it.
pub fn run(method: &Method, problem: &Problem) -> Run {
    let started = Instant::now();
    let outcome = match method {
        Method::FastIca => {
            let n = problem.truth.ncols().min(problem.data.values.ncols());
            crate::baseline::fastica(&problem.data.values, n, problem.seed)
                .map(|u| (u.sources, None, None))
        }
        Method::Model { spec, .. } => fit_model(spec, problem),
    };
    let seconds = started.elapsed().as_secs_f64();
    let scored = outcome.and_then(|(sources, loss, before)| {
        let before = before
            .map(|means| recovery(&problem.truth, &means).map(|r| r.mcc))
            .transpose()?;
        recovery(&problem.truth, &sources).map(|r| (r, loss, before))
    });
    match scored {
        Ok((r, loss, before)) => Run {
            method: method.name().to_string(),
            seed: problem.seed,
            mcc: Some(r.mcc),
            mcc_spearman: Some(r.mcc_spearman),
            final_loss: loss,
            seconds,
            error: None,
            mcc_before_postprocess: before,
        },
        Err(why) => Run {
            method: method.name().to_string(),
            seed: problem.seed,
            mcc: None,
            mcc_spearman: None,
            final_loss: None,
            seconds,
            error: Some(why),
            mcc_before_postprocess: None,
        },
    }
}

/// The seed `spec`'s fit of the problem of seed `seed` starts from (a local run's, and the
/// `--seed` of a planned one). Restarts use seeds seed, seed + 1, …: seed k's are
/// k·R … k·R + R − 1, so no two problems share a restart (with one restart, the seed is
/// the problem's).
pub fn fit_seed(spec: &ModelSpec, seed: u64) -> u64 {
    seed.wrapping_mul(spec.train.restarts as u64)
}

/// Trains `spec` (its seed replaced by the problem's) and returns its sources, the final
/// loss and, with `postprocess`, the posterior means before it.
fn fit_model(spec: &ModelSpec, problem: &Problem) -> Result<FitOutcome, String> {
    let mut spec = spec.clone();
    spec.train.seed = fit_seed(&spec, problem.seed);
    // Restarts run one after another: `compare` already runs its fits in parallel.
    let options = crate::fit::FitOptions {
        threads: 1,
        ..Default::default()
    };
    let fitted =
        crate::fit::fit(&spec, &problem.data, &options, &mut ()).map_err(|e| e.to_string())?;
    let loss = fitted.trace.last().map(|row| row.terms.loss);
    let before = fitted
        .postprocessing
        .as_ref()
        .map(|u| u.invert(&fitted.sources));
    Ok((fitted.sources, loss, before))
}

/// Runs every method on every problem, `jobs` at a time, each on its own one-thread rayon
/// pool. `done` is told of each run as it finishes. The runs come back in the order of the
/// problems, then the methods; none runs if the threads for `jobs` cannot be started.
pub fn run_all(
    methods: &[Method],
    problems: &[Problem],
    jobs: usize,
    done: &(dyn Fn(&Run) + Sync),
) -> Result<Vec<Run>, crate::parallel::ThreadsUnavailable> {
    let tasks: Vec<(usize, usize)> = (0..problems.len())
        .flat_map(|p| (0..methods.len()).map(move |m| (p, m)))
        .collect();
    crate::parallel::run(tasks.len(), jobs, |i| {
        let (p, m) = tasks[i];
        let r = run(&methods[m], &problems[p]);
        done(&r);
        r
    })
}

/// A method's results over its runs.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub method: String,
    pub runs: usize,
    pub failed: usize,
    pub mcc: Stats,
    pub mcc_spearman: Stats,
    pub final_loss: Option<f64>,
    pub mean_seconds: f64,
}

/// Mean, sample standard deviation, minimum and maximum of the successful runs.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Stats {
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Stats {
        if values.is_empty() {
            return Stats {
                mean: f64::NAN,
                sd: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Stats {
            mean,
            sd,
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

/// One summary per method, in the methods' order.
pub fn summarise(methods: &[Method], runs: &[Run]) -> Vec<Summary> {
    methods
        .iter()
        .map(|m| {
            let mine: Vec<&Run> = runs.iter().filter(|r| r.method == m.name()).collect();
            let ok: Vec<&&Run> = mine.iter().filter(|r| r.error.is_none()).collect();
            let losses: Vec<f64> = ok.iter().filter_map(|r| r.final_loss).collect();
            Summary {
                method: m.name().to_string(),
                runs: mine.len(),
                failed: mine.len() - ok.len(),
                mcc: Stats::of(&ok.iter().filter_map(|r| r.mcc).collect::<Vec<_>>()),
                mcc_spearman: Stats::of(
                    &ok.iter().filter_map(|r| r.mcc_spearman).collect::<Vec<_>>(),
                ),
                final_loss: (!losses.is_empty())
                    .then(|| losses.iter().sum::<f64>() / losses.len() as f64),
                // `+ 0.0`: an empty sum is −0.0, shown as "-0.0s".
                mean_seconds: mine.iter().map(|r| r.seconds).sum::<f64>()
                    / mine.len().max(1) as f64
                    + 0.0,
            }
        })
        .collect()
}

/// Two recoveries within this of each other count as a tie.
pub const TIE: f64 = 0.005;
/// Bootstrap resamples of the paired differences.
const RESAMPLES: usize = 10_000;

/// A method's MCC against a baseline's on the same seeds (the same data): how often it
/// was better, level (within [`TIE`]) or worse, and the mean difference with a bootstrap
/// 95 % interval (percentiles of 10 000 resamples of the seeds, drawn from a fixed seed,
/// so the same runs give the same interval).
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub method: String,
    pub baseline: String,
    /// Seeds where both succeeded.
    pub pairs: usize,
    pub wins: usize,
    pub ties: usize,
    pub losses: usize,
    pub mean_difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

/// Each method's [`Paired`] comparison with `baseline` (none for the baseline itself, nor
/// for a method with no seed in common with it).
pub fn paired(methods: &[Method], runs: &[Run], baseline: &str) -> Vec<Paired> {
    use rand::{Rng, SeedableRng};
    let mcc_of = |method: &str, seed: u64| {
        runs.iter()
            .find(|r| r.method == method && r.seed == seed)
            .and_then(|r| r.mcc)
    };
    methods
        .iter()
        .filter(|m| m.name() != baseline)
        .filter_map(|m| {
            let differences: Vec<f64> = runs
                .iter()
                .filter(|r| r.method == m.name())
                .filter_map(|r| Some(r.mcc? - mcc_of(baseline, r.seed)?))
                .collect();
            if differences.is_empty() {
                return None;
            }
            let n = differences.len();
            let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
            let mut rng = rand::rngs::StdRng::seed_from_u64(0);
            let mut means: Vec<f64> = (0..RESAMPLES)
                .map(|_| {
                    (0..n)
                        .map(|_| differences[rng.gen_range(0..n)])
                        .sum::<f64>()
                        / n as f64
                })
                .collect();
            means.sort_by(f64::total_cmp);
            let at = |q: f64| means[((q * RESAMPLES as f64) as usize).min(RESAMPLES - 1)];
            Some(Paired {
                method: m.name().to_string(),
                baseline: baseline.to_string(),
                pairs: n,
                wins: differences.iter().filter(|d| **d > TIE).count(),
                ties: differences.iter().filter(|d| d.abs() <= TIE).count(),
                losses: differences.iter().filter(|d| **d < -TIE).count(),
                mean_difference: mean(&differences),
                ci_low: at(0.025),
                ci_high: at(0.975),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(method: &str, seed: u64, mcc: f64) -> Run {
        Run {
            method: method.into(),
            seed,
            mcc: Some(mcc),
            mcc_spearman: Some(mcc),
            final_loss: None,
            seconds: 0.0,
            error: None,
            mcc_before_postprocess: None,
        }
    }

    #[test]
    fn paired_counts_wins_ties_and_losses_on_the_same_seeds() {
        let methods = [
            Method::Model {
                name: "m".into(),
                spec: Box::new(crate::compile("observed x[2]\nlatent z[2] ~ gmm(K = 2)").unwrap()),
            },
            Method::FastIca,
        ];
        let runs = [
            run("m", 0, 0.9),
            run("fastica", 0, 0.8),
            run("m", 1, 0.8),
            run("fastica", 1, 0.802),
            run("m", 2, 0.7),
            run("fastica", 2, 0.9),
            run("m", 3, 0.95),
        ];
        let p = &paired(&methods, &runs, "fastica")[0];
        assert_eq!((p.pairs, p.wins, p.ties, p.losses), (3, 1, 1, 1));
        assert!((p.mean_difference - (0.1 - 0.002 - 0.2) / 3.0).abs() < 1e-12);
        assert!(p.ci_low <= p.mean_difference && p.mean_difference <= p.ci_high);
        assert!(p.ci_low >= -0.2 - 1e-12 && p.ci_high <= 0.1 + 1e-12);
        assert_eq!(paired(&methods, &runs, "fastica")[0].ci_low, p.ci_low);
    }

    #[test]
    fn stats_are_the_sample_statistics() {
        let s = Stats::of(&[1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd, s.min, s.max), (2.0, 1.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[0.5]).sd, 0.0);
        assert!(Stats::of(&[]).mean.is_nan());
    }
}
