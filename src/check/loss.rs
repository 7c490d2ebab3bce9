//! The terms of the loss: the likelihood of the data, how the KL term is estimated, and
//! the warm-up of β, its weight.

use super::{arguments, Checker};
use crate::diagnostic::{Diagnostic, Rule};
use crate::front::ast::{FamilyExpr, PriorExpr, Word};
use crate::spec::{KlEstimate, Likelihood};
use crate::words;

impl Checker {
    /// `likelihood mse`, `likelihood gaussian(0.01)`, `likelihood [shared]
    /// gaussian(learned[, floor = 1e-4])`.
    pub(super) fn likelihood(&mut self, p: &PriorExpr) -> Option<Likelihood> {
        let f = &p.family;
        let args = arguments(f);
        let args_span = self.args_span(f);
        let wrong = |what: String| {
            Diagnostic::new(Rule::WrongArguments, args_span.clone(), what)
                .label("unexpected arguments")
        };
        let likelihood = match f.name.value.as_str() {
            words::SQUARED_ERROR if f.arguments.is_some() => {
                self.error(wrong(format!(
                    "`{}` takes no arguments",
                    words::SQUARED_ERROR
                )));
                return None;
            }
            words::SQUARED_ERROR => Likelihood::SquaredError,
            words::GAUSSIAN => match args.as_slice() {
                [(None, w)] if w.value == words::LEARNED => Likelihood::LearnedGaussian {
                    shared: p.shared.is_some(),
                    floor: Likelihood::FLOOR,
                },
                [(None, w), (Some(key), floor)]
                    if w.value == words::LEARNED && key.value == words::FLOOR =>
                {
                    let floor = self.variance(floor, "the noise variance's floor")?;
                    Likelihood::LearnedGaussian {
                        shared: p.shared.is_some(),
                        floor,
                    }
                }
                [(None, v)] => Likelihood::Gaussian(self.variance(v, "the noise variance")?),
                _ => {
                    self.error(
                        wrong(format!(
                            "`{}` takes the noise variance, or `{}` with an optional `{} = …`",
                            words::GAUSSIAN,
                            words::LEARNED,
                            words::FLOOR
                        ))
                        .help("write `gaussian(0.01)`, `gaussian(learned)` or `gaussian(learned, floor = 1e-3)`"),
                    );
                    return None;
                }
            },
            other => {
                self.unknown(
                    f.name.span.clone(),
                    "likelihood",
                    other,
                    &words::LIKELIHOODS,
                );
                return None;
            }
        };
        if let (Some(shared), false) = (
            &p.shared,
            matches!(likelihood, Likelihood::LearnedGaussian { .. }),
        ) {
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    shared.clone(),
                    "`shared` applies only to a learned noise variance",
                )
                .label("nothing to share")
                .help(
                    "a fixed noise variance is already the same for every column: remove `shared`",
                ),
            );
            return None;
        }
        Some(likelihood)
    }

    /// `kl sample` or `kl quadrature(H)`.
    pub(super) fn kl_estimate(&mut self, f: &FamilyExpr) -> Option<KlEstimate> {
        let args = arguments(f);
        match f.name.value.as_str() {
            words::KL_SAMPLE if f.arguments.is_none() => Some(KlEstimate::Sample),
            words::KL_QUADRATURE if matches!(args.as_slice(), [(None, _)]) => {
                let h = self.count_up_to(
                    args[0].1,
                    "the number of quadrature nodes",
                    KlEstimate::MAX_NODES as u64,
                )?;
                Some(KlEstimate::Quadrature(h))
            }
            name @ (words::KL_SAMPLE | words::KL_QUADRATURE) => {
                let expected = if name == words::KL_SAMPLE {
                    "`sample` takes no arguments"
                } else {
                    "`quadrature` takes one argument, the number of nodes"
                };
                self.error(
                    Diagnostic::new(Rule::WrongArguments, self.args_span(f), expected)
                        .label("unexpected arguments")
                        .help("write `kl sample` or `kl quadrature(16)`"),
                );
                None
            }
            other => {
                self.unknown(
                    f.name.span.clone(),
                    "KL estimate",
                    other,
                    &words::KL_ESTIMATES,
                );
                None
            }
        }
    }

    /// `warmup N` after β: the epochs over which β rises linearly from 0.
    pub(super) fn beta_schedule(&mut self, key: &Word, count: &Word) -> Option<usize> {
        if key.value != words::WARMUP {
            self.unknown(
                key.span.clone(),
                "β schedule",
                &key.value,
                &words::BETA_SCHEDULES,
            );
            return None;
        }
        self.count(count, "warm-up epochs")
    }
}
