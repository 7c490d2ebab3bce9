//! The prior on the sources: the latent vector's default family, the per-dimension
//! overrides, and each family's arguments.

use super::{arguments, Checker, DIMENSIONS_MAX};
use crate::diagnostic::{Diagnostic, Rule, Span};
use crate::front::ast::{FamilyExpr, PriorExpr, Word};
use crate::spec::{Family, Prior};
use crate::words::{self, FAMILIES};

impl Checker {
    pub(super) fn prior(
        &mut self,
        latent: &Word,
        n: usize,
        default: Option<&PriorExpr>,
        overrides: &[(&Word, &Word, &PriorExpr)],
    ) -> Option<Prior> {
        let default_family = default.map(|p| (p.shared.clone(), self.family(&p.family)));
        let mut per_dim: Vec<Option<Family>> = vec![None; n];
        let mut given_at: Vec<Option<Span>> = vec![None; n];
        let mut ok = true;
        for (name, index, prior) in overrides {
            if name.value != latent.value {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::UnknownWord,
                        name.span.clone(),
                        format!("unknown latent vector `{}`", name.value),
                    )
                    .label("not declared")
                    .help(format!("the latent vector is `{}`", latent.value)),
                );
                continue;
            }
            if let Some(shared) = prior.shared.as_ref() {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        shared.clone(),
                        "`shared` applies to the whole latent vector, not to one dimension",
                    )
                    .label("on one dimension")
                    .help(format!("write `latent {}[{n}] ~ shared …`", latent.value)),
                );
            }
            if let Some((Some(shared), _)) = &default_family {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        name.span.start..index.span.end + 1,
                        format!(
                            "`{}` has one shared prior; a dimension cannot have its own",
                            latent.value
                        ),
                    )
                    .label("per-dimension prior")
                    .related(shared.clone(), "shared here")
                    .help("drop `shared` to give dimensions their own priors"),
                );
                continue;
            }
            let family = self.family(&prior.family);
            let Some(j) = self.whole(index, "a dimension index") else {
                ok = false;
                continue;
            };
            if j >= n as u64 {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::OutOfRange,
                        index.span.clone(),
                        format!(
                            "latent `{}` has {n} dimension{} but `{}[{j}]` was given a prior",
                            latent.value,
                            if n == 1 { "" } else { "s" },
                            latent.value
                        ),
                    )
                    .label(format!("valid indices are 0 to {}", n - 1)),
                );
                continue;
            }
            let j = j as usize;
            if let Some(first) = &given_at[j] {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::GivenTwice,
                        index.span.clone(),
                        format!("dimension `{}[{j}]` has two priors", latent.value),
                    )
                    .label("second prior")
                    .related(first.clone(), "first prior"),
                );
                continue;
            }
            given_at[j] = Some(index.span.clone());
            match family {
                Some(f) => per_dim[j] = Some(f),
                None => ok = false,
            }
        }
        match default_family {
            Some((Some(_), family)) => family.filter(|_| ok).map(Prior::Shared),
            Some((None, family)) => {
                let family = family?;
                let dims: Vec<Family> = per_dim
                    .into_iter()
                    .map(|f| f.unwrap_or_else(|| family.clone()))
                    .collect();
                ok.then_some(Prior::PerDimension(dims))
            }
            None => {
                let missing: Vec<String> = (0..n)
                    .filter(|&j| given_at[j].is_none())
                    .map(|j| format!("`{}[{j}]`", latent.value))
                    .collect();
                if !missing.is_empty() {
                    self.error(
                        Diagnostic::new(Rule::MissingPrior,
                            latent.span.clone(),
                            format!("{} {} no prior", missing.join(", "), if missing.len() == 1 { "has" } else { "have" }),
                        )
                        .label("no default prior given here")
                        .help(format!(
                            "give a default, `latent {}[{n}] ~ gmm(K = 3)`, or a line per dimension",
                            latent.value
                        )),
                    );
                    return None;
                }
                let dims: Option<Vec<Family>> = per_dim.into_iter().collect();
                dims.filter(|_| ok).map(Prior::PerDimension)
            }
        }
    }

    pub(super) fn family(&mut self, f: &FamilyExpr) -> Option<Family> {
        let args = arguments(f);
        match f.name.value.as_str() {
            words::GMM => {
                let [(key, value)] = args.as_slice() else {
                    self.error(
                        Diagnostic::new(
                            Rule::WrongArguments,
                            self.args_span(f),
                            "`gmm` takes one argument, the number of components",
                        )
                        .label("expected `(K = …)`")
                        .help("write `gmm(K = 3)`"),
                    );
                    return None;
                };
                if let Some(key) = key {
                    if key.value != words::GMM_COMPONENTS {
                        self.error(
                            Diagnostic::new(
                                Rule::WrongArguments,
                                key.span.clone(),
                                format!("`gmm` has no argument `{}`", key.value),
                            )
                            .label("expected `K`")
                            .help("write `gmm(K = 3)`"),
                        );
                        return None;
                    }
                }
                let k =
                    self.count_up_to(value, "K, the number of mixture components", DIMENSIONS_MAX)?;
                Some(Family::Gmm { k })
            }
            words::NORMAL => {
                if args.is_empty() && f.arguments.is_none() {
                    return Some(Family::LearnableNormal);
                }
                let [mean, variance] = self.two_arguments(
                    f,
                    &args,
                    ["mean", "variance"],
                    "`normal` takes a mean and a variance, or nothing",
                    "write `normal(0, 1)` for a fixed N(0, 1), or `normal` for a learnable one",
                )?;
                let mean = self.prior_mean(mean);
                let variance = self.variance(variance, "the variance")?;
                Some(Family::Normal {
                    mean: mean?,
                    variance,
                })
            }
            words::LOGISTIC => {
                if args.is_empty() && f.arguments.is_none() {
                    return Some(Family::LearnableLogistic);
                }
                let [location, scale] = self.two_arguments(
                    f,
                    &args,
                    ["location", "scale"],
                    "`logistic` takes a location and a scale, or nothing",
                    "write `logistic(0, 1)` for a fixed Logistic(0, 1) (a uniform prior on sigmoid(z)), or `logistic` for a learnable one",
                )?;
                let location = self.prior_location(location);
                let scale = self.scale(scale, "the scale")?;
                Some(Family::Logistic {
                    location: location?,
                    scale,
                })
            }
            word @ (words::LAPLACE | words::STUDENT_T) => {
                let (family, learned) = match word {
                    words::LAPLACE => (Family::Laplace, "location and scale"),
                    _ => (Family::StudentT, "location, scale and degrees of freedom"),
                };
                if f.arguments.is_some() {
                    self.error(
                        Diagnostic::new(
                            Rule::WrongArguments,
                            self.args_span(f),
                            format!("`{word}` takes no arguments: its {learned} are learned"),
                        )
                        .label("not expected here")
                        .help(format!("write `{word}`")),
                    );
                    return None;
                }
                Some(family)
            }
            other => {
                self.unknown(f.name.span.clone(), "prior family", other, &FAMILIES);
                None
            }
        }
    }

    /// The two arguments of a fixed family (`normal(0, 1)`, `logistic(0, 1)`), each
    /// optionally named by `names`; `None` after reporting any other number of arguments
    /// (with `takes` and `help`) or a wrong name.
    fn two_arguments<'a>(
        &mut self,
        f: &FamilyExpr,
        args: &[(Option<&Word>, &'a Word)],
        names: [&str; 2],
        takes: &str,
        help: &str,
    ) -> Option<[&'a Word; 2]> {
        let &[(first_key, first), (second_key, second)] = args else {
            self.error(
                Diagnostic::new(Rule::WrongArguments, self.args_span(f), takes)
                    .label(format!(
                        "{} argument{}",
                        args.len(),
                        if args.len() == 1 { "" } else { "s" }
                    ))
                    .help(help),
            );
            return None;
        };
        for (key, expected) in [first_key, second_key].into_iter().zip(names) {
            if let Some(key) = key {
                if key.value != expected {
                    self.error(
                        Diagnostic::new(
                            Rule::WrongArguments,
                            key.span.clone(),
                            format!("expected `{expected}`, found `{}`", key.value),
                        )
                        .label(format!("this argument is the {expected}")),
                    );
                    return None;
                }
            }
        }
        Some([first, second])
    }
}
