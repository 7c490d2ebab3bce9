//! Checker: syntax tree → `ModelSpec`, or every semantic error found.
//!
//! Each check reports at the exact text it concerns. Defaults documented in
//! `spec::defaults` fill whatever the file leaves out.

use crate::diagnostic::{one_of, suggestion, Diagnostic, Diagnostics, Rule, Span};
use crate::front::ast::*;
use crate::front::parse;
use crate::spec::*;

use crate::resources::{human, Cause, MemoryLimit};
use crate::words::{self, FAMILIES, LAYERS, NETWORKS, POSTERIOR_MODES, SETTINGS};

/// The most latent or observed dimensions, or mixture components, a model may have.
const DIMENSIONS_MAX: u64 = 1 << 16;
/// `train { restarts }`: each restart running at once holds a model; 1024 is far beyond
/// what helps and keeps a typo from asking for millions.
const RESTARTS_MAX: u64 = 1024;

/// A model file's bytes as text: a UTF-8 byte-order mark is skipped (editors on Windows
/// write one), and bytes that are not UTF-8 are one diagnostic at the first bad byte.
/// The error carries the text to render it against (the bad bytes replaced).
pub fn decode(bytes: &[u8]) -> Result<String, (Diagnostics, String)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
        let d = Diagnostic::new(
            Rule::NotUtf8,
            at..at,
            "the model file is not valid UTF-8 text",
        )
        .label("invalid byte here");
        (Diagnostics(vec![d]), text)
    })
}

/// Parses and checks a model text: the validated model, or every diagnostic.
///
/// The text alone decides: the same file checks the same on a laptop and a cluster node.
/// [`compile_here`] also weighs the model against this machine.
pub fn compile(source: &str) -> Result<ModelSpec, Diagnostics> {
    compile_limited(source, None)
}

/// [`compile`], and a model whose smallest fit (two rows) would need more memory than this
/// process may use is refused at the statement that asks for most of it: what the commands
/// do before they allocate anything.
pub fn compile_here(source: &str) -> Result<ModelSpec, Diagnostics> {
    compile_limited(source, crate::resources::memory_limit())
}

/// `compile` for a machine with `memory` bytes (`None`: no size is refused).
pub fn compile_within(source: &str, memory: Option<u128>) -> Result<ModelSpec, Diagnostics> {
    let limit = memory.map(|bytes| MemoryLimit {
        bytes,
        source: "this machine has",
    });
    compile_limited(source, limit)
}

/// `compile` within a memory limit, which its message names.
fn compile_limited(source: &str, memory: Option<MemoryLimit>) -> Result<ModelSpec, Diagnostics> {
    let (statements, mut diagnostics) = parse(source);
    let mut checker = Checker {
        diagnostics: Vec::new(),
        syntax_ok: diagnostics.is_empty(),
        memory,
    };
    let spec = checker.check(&statements);
    diagnostics.extend(checker.diagnostics);
    diagnostics.sort_by_key(|d| d.span.start);
    match spec {
        Some(spec) if diagnostics.is_empty() => Ok(spec),
        _ => Err(Diagnostics(diagnostics)),
    }
}

struct Checker {
    diagnostics: Vec<Diagnostic>,
    /// With syntax errors, a missing statement may only have failed to parse: don't
    /// report it as missing.
    syntax_ok: bool,
    /// The machine's memory in bytes, for refusing models too large to train.
    memory: Option<MemoryLimit>,
}

/// One statement kind may appear once; this remembers where it first did.
struct Once<T> {
    what: &'static str,
    first: Option<(Span, T)>,
}

impl<T> Once<T> {
    fn new(what: &'static str) -> Self {
        Once { what, first: None }
    }

    fn set(&mut self, checker: &mut Checker, at: &Span, value: T) {
        if let Some((first, _)) = &self.first {
            checker.error(
                Diagnostic::new(
                    Rule::GivenTwice,
                    at.clone(),
                    format!("`{}` is given twice", self.what),
                )
                .label("second one here")
                .related(first.clone(), "first given here")
                .help("keep one of them"),
            );
        } else {
            self.first = Some((at.clone(), value));
        }
    }

    /// Where the statement was given first.
    fn span(&self) -> Option<Span> {
        self.first.as_ref().map(|(span, _)| span.clone())
    }

    fn value(self) -> Option<T> {
        self.first.map(|(_, v)| v)
    }
}

impl Checker {
    fn error(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// "unknown WHAT `found`", with the words expected and the nearest as a suggestion.
    fn unknown(&mut self, at: Span, what: &str, found: &str, expected: &[&str]) {
        self.error(
            Diagnostic::new(Rule::UnknownWord, at, format!("unknown {what} `{found}`"))
                .label(format!("expected {}", one_of(expected)))
                .help_opt(suggestion(found, expected)),
        );
    }

    fn check(&mut self, statements: &[Statement]) -> Option<ModelSpec> {
        let mut name = Once::new("model");
        let mut observed = Once::new("observed");
        let mut preprocess = Once::new("preprocess");
        let mut latent: Once<(Word, Option<usize>, Option<PriorExpr>)> = Once::new("latent");
        let mut encoder = Once::new("encoder");
        let mut decoder = Once::new("decoder");
        let mut posterior = Once::new("posterior variance");
        let mut beta = Once::new("beta");
        let mut likelihood = Once::new("likelihood");
        let mut kl = Once::new("kl");
        let mut train = Once::new("train");
        let mut dimension_priors: Vec<(&Word, &Word, &PriorExpr)> = Vec::new();

        for st in statements {
            let at = &st.keyword;
            match &st.kind {
                StatementKind::Model(w) => name.set(self, at, w.value.clone()),
                StatementKind::Observed { name, columns } => {
                    let o = self.observed(name, columns);
                    observed.set(self, at, o);
                }
                StatementKind::Preprocess(w) => {
                    let p = self.preprocess(w);
                    preprocess.set(self, at, p);
                }
                StatementKind::Latent { name, dim, prior } => {
                    let n = self.count_up_to(dim, "the latent dimension", DIMENSIONS_MAX);
                    latent.set(self, at, (name.clone(), n, prior.clone()));
                }
                StatementKind::DimensionPrior { name, index, prior } => {
                    dimension_priors.push((name, index, prior));
                }
                StatementKind::Encoder(net) => {
                    let e = self.network(net, true);
                    encoder.set(self, at, e);
                }
                StatementKind::Decoder(net) => {
                    // `network` rejects `none` for a decoder, so only layers come back.
                    let d = self.network(net, false).and_then(|e| match e {
                        Encoder::Mlp(layers) => Some(layers),
                        Encoder::None => None,
                    });
                    decoder.set(self, at, d);
                }
                StatementKind::PosteriorVariance(f) => {
                    let p = self.posterior_variance(f);
                    posterior.set(self, at, p);
                }
                StatementKind::Kl(f) => {
                    let k = self.kl_estimate(f);
                    kl.set(self, at, k);
                }
                StatementKind::Likelihood(p) => {
                    let l = self.likelihood(p);
                    likelihood.set(self, at, l);
                }
                StatementKind::Beta { value: w, schedule } => {
                    let warmup = match schedule {
                        None => Some(0),
                        Some((key, count)) => self.beta_schedule(key, count),
                    };
                    let b = self.number(w, "β").and_then(|b| {
                        if !(0.0..=limits::BETA_MAX).contains(&b) {
                            let (why, label) = match b < 0.0 {
                                true => (format!("β must be ≥ 0, found {}", w.value), "negative β"),
                                false => (
                                    format!(
                                        "β must be at most {:e}, found {}",
                                        limits::BETA_MAX,
                                        w.value
                                    ),
                                    "too large",
                                ),
                            };
                            self.error(
                                Diagnostic::new(Rule::OutOfRange, w.span.clone(), why)
                                    .label(label)
                                    .help("β weighs the KL term: 0 turns it off, 1 is the ELBO"),
                            );
                            None
                        } else {
                            Some(b)
                        }
                    });
                    beta.set(self, at, b.zip(warmup));
                }
                StatementKind::Train(settings) => {
                    let t = self.train(settings);
                    train.set(self, at, t);
                }
            }
        }

        let statement_at = [
            (Cause::Encoder, encoder.span()),
            (Cause::Decoder, decoder.span()),
            (Cause::Prior, latent.span()),
            (Cause::Rows, latent.span()),
            (Cause::Samples, train.span()),
            (Cause::Epochs, train.span()),
        ];
        let observed = observed.value();
        let latent = latent.value();
        if self.syntax_ok {
            if observed.is_none() {
                self.error(
                    Diagnostic::new(
                        Rule::MissingStatement,
                        0..0,
                        "the model has no `observed` statement",
                    )
                    .help("say which data columns the model sees, e.g. `observed x[3]`"),
                );
            }
            if latent.is_none() {
                self.error(
                    Diagnostic::new(
                        Rule::MissingStatement,
                        0..0,
                        "the model has no `latent` statement",
                    )
                    .help("declare the sources, e.g. `latent z[3] ~ gmm(K = 3)`"),
                );
            }
        }
        let prior = latent.as_ref().and_then(|(name, n, default)| {
            self.prior(name, (*n)?, default.as_ref(), &dimension_priors)
        });

        let encoder = encoder
            .value()
            .unwrap_or(Some(Encoder::Mlp(defaults::network())));
        let decoder = decoder.value().unwrap_or(Some(defaults::network()));
        let posterior_variance = posterior
            .value()
            .unwrap_or(Some(defaults::POSTERIOR_VARIANCE));
        let (beta, beta_warmup) = match beta.value().unwrap_or(Some((defaults::BETA, 0))) {
            Some((b, w)) => (Some(b), w),
            None => (None, 0),
        };
        let preprocess = preprocess.value().unwrap_or(Some(Preprocess::default()));
        let likelihood = likelihood.value().unwrap_or(Some(Likelihood::default()));
        let kl_at = kl.span();
        let kl = kl.value().unwrap_or(Some(KlEstimate::default()));
        let train_at = train.span();
        let train = train.value().unwrap_or(Some(defaults::train()));

        if let (Some(Encoder::None), Some(t), Some(at)) = (&encoder, &train, &train_at) {
            if let Batch::Size(_) = t.batch {
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        at.clone(),
                        "minibatches make no sense with `encoder none`",
                    )
                    .label("this block sets a batch size")
                    .help(
                        "without an encoder every data row has its own latent parameters; a \
                             minibatch step would still move the others through Adam's momentum: \
                             use `batch full`",
                    ),
                );
            }
        }

        if let (Some(KlEstimate::Quadrature(_)), Some(t), Some(at)) = (&kl, &train, &kl_at) {
            if t.bound == Bound::Iwae {
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        at.clone(),
                        "`kl quadrature` cannot be used with `bound iwae`",
                    )
                    .label("replaces the sampled prior term")
                    .help(
                        "the importance weights need log p at each sample; use `kl sample` \
                         with `bound iwae`, or quadrature with `bound elbo`",
                    ),
                );
            }
        }
        let (observed, latent) = (observed??, latent?);
        let spec = ModelSpec {
            name: name
                .value()
                .unwrap_or_else(|| defaults::MODEL_NAME.to_string()),
            observed,
            preprocess: preprocess?,
            latent: Latent {
                name: latent.0.value,
                dim: latent.1?,
            },
            prior: prior?,
            encoder: encoder?,
            decoder: decoder?,
            posterior_variance: posterior_variance?,
            likelihood: likelihood?,
            kl: kl?,
            beta: beta?,
            beta_warmup,
            train: train?,
        };
        if let Some(memory) = self.memory {
            if let Some(e) = crate::resources::fit_refusal(&spec, 2, memory.bytes) {
                let at = statement_at
                    .iter()
                    .find(|(cause, _)| *cause == e.largest)
                    .and_then(|(_, at)| at.clone())
                    .unwrap_or(0..0);
                self.error(
                    Diagnostic::new(
                        Rule::TooLarge,
                        at,
                        format!(
                            "the model needs {} to train on even two rows; {} {}",
                            human(e.bytes),
                            memory.source,
                            human(memory.bytes)
                        ),
                    )
                    .label(format!("{} is too large", e.largest.what()))
                    .help("make it smaller"),
                );
                return None;
            }
        }
        Some(spec)
    }

    // ---- numbers ------------------------------------------------------------------------

    fn number(&mut self, w: &Word, what: &str) -> Option<f64> {
        match w.value.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                self.error(
                    Diagnostic::new(
                        Rule::NotANumber,
                        w.span.clone(),
                        format!("expected a number for {what}, found `{}`", w.value),
                    )
                    .label("not a finite number"),
                );
                None
            }
        }
    }

    fn whole(&mut self, w: &Word, what: &str) -> Option<u64> {
        match w.value.parse::<u64>() {
            Ok(x) => Some(x),
            Err(_) => {
                let why = if w.value.chars().all(|c| c.is_ascii_digit()) {
                    "too large"
                } else {
                    "not a whole number"
                };
                self.error(
                    Diagnostic::new(
                        Rule::NotANumber,
                        w.span.clone(),
                        format!("expected a whole number for {what}, found `{}`", w.value),
                    )
                    .label(why),
                );
                None
            }
        }
    }

    /// A variance: positive, and inside the range training keeps log-variances in (a value
    /// outside it would be clamped, i.e. silently changed).
    fn variance(&mut self, w: &Word, what: &str) -> Option<f64> {
        let v = self.number(w, what)?;
        let (lo, hi) = VARIANCE_RANGE;
        let d = if v <= 0.0 {
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!("a variance must be > 0, found {}", w.value),
            )
            .label("not positive")
        } else if !(lo..=hi).contains(&v) {
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!(
                    "a variance must be between {lo:e} and {hi}, found {}",
                    w.value
                ),
            )
            .label("outside the range training keeps")
            .help("training keeps variances within these bounds (the data are standardised)")
        } else {
            return Some(v);
        };
        self.error(d);
        None
    }

    /// The mean of a fixed normal prior, within ±`PRIOR_MEAN_LIMIT`.
    fn prior_mean(&mut self, w: &Word) -> Option<f64> {
        let mean = self.number(w, "the mean")?;
        if mean.abs() <= PRIOR_MEAN_LIMIT {
            return Some(mean);
        }
        self.error(
            Diagnostic::new(
                Rule::OutOfRange,
                w.span.clone(),
                format!(
                    "a prior mean must be within ±{PRIOR_MEAN_LIMIT:e}, found {}",
                    w.value
                ),
            )
            .label("too far from 0")
            .help("the latents are on the scale of standardised data"),
        );
        None
    }

    /// A whole number ≥ 1 that sizes something.
    fn count(&mut self, w: &Word, what: &str) -> Option<usize> {
        self.count_up_to(w, what, 1 << 40)
    }

    /// A whole number from 1 to `max`. Sizes of per-dimension structures (latent and
    /// observed dimensions, mixture components) are held to a `max` the checker itself can
    /// allocate for; larger ones are refused, never tried.
    fn count_up_to(&mut self, w: &Word, what: &str, max: u64) -> Option<usize> {
        let x = self.whole(w, what)?;
        if x == 0 {
            self.error(
                Diagnostic::new(
                    Rule::OutOfRange,
                    w.span.clone(),
                    format!("{what} must be at least 1, found 0"),
                )
                .label("zero"),
            );
            return None;
        }
        match usize::try_from(x) {
            Ok(x) if x as u64 <= max => Some(x),
            _ => {
                self.error(
                    Diagnostic::new(
                        Rule::OutOfRange,
                        w.span.clone(),
                        format!("{what} is too large"),
                    )
                    .help(format!("at most {max}"))
                    .label("too large"),
                );
                None
            }
        }
    }

    // ---- statements -----------------------------------------------------------------------

    fn observed(&mut self, name: &Word, columns: &ObservedColumns) -> Option<Observed> {
        let columns = match columns {
            ObservedColumns::Count(w) => Columns::First(self.count_up_to(
                w,
                "the number of observed columns",
                DIMENSIONS_MAX,
            )?),
            ObservedColumns::Names(names) => {
                let mut ok = true;
                for (i, c) in names.iter().enumerate() {
                    if let Some(first) = names[..i].iter().find(|p| p.value == c.value) {
                        ok = false;
                        self.error(
                            Diagnostic::new(
                                Rule::GivenTwice,
                                c.span.clone(),
                                format!("column `{}` is observed twice", c.value),
                            )
                            .label("again here")
                            .related(first.span.clone(), "first here"),
                        );
                    }
                    if c.value.is_empty() {
                        ok = false;
                        self.error(
                            Diagnostic::new(
                                Rule::EmptyName,
                                c.span.clone(),
                                "a column name cannot be empty",
                            )
                            .label("empty"),
                        );
                    }
                }
                if !ok {
                    return None;
                }
                Columns::Named(names.iter().map(|c| c.value.clone()).collect())
            }
        };
        Some(Observed {
            name: name.value.clone(),
            columns,
        })
    }

    fn prior(
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

    fn family(&mut self, f: &FamilyExpr) -> Option<Family> {
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
                let names = ["mean", "variance"];
                if args.len() != 2 {
                    self.error(
                        Diagnostic::new(Rule::WrongArguments, self.args_span(f), "`normal` takes a mean and a variance, or nothing")
                            .label(format!("{} argument{}", args.len(), if args.len() == 1 { "" } else { "s" }))
                            .help("write `normal(0, 1)` for a fixed N(0, 1), or `normal` for a learnable one"),
                    );
                    return None;
                }
                for ((key, _), expected) in args.iter().zip(names) {
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
                let mean = self.prior_mean(args[0].1);
                let variance = self.variance(args[1].1, "the variance")?;
                Some(Family::Normal {
                    mean: mean?,
                    variance,
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

    fn args_span(&self, f: &FamilyExpr) -> Span {
        f.arguments
            .as_ref()
            .map_or(f.name.span.clone(), |a| a.span.clone())
    }

    fn network(&mut self, net: &NetworkExpr, is_encoder: bool) -> Option<Encoder> {
        match net {
            NetworkExpr::Word(w) => match (w.value.as_str(), is_encoder) {
                (words::LINEAR, _) => Some(Encoder::Mlp(Vec::new())),
                (words::NONE, true) => Some(Encoder::None),
                (words::NONE, false) => {
                    self.error(
                        Diagnostic::new(Rule::Conflict, w.span.clone(), "the decoder cannot be `none`")
                            .label("a decoder is needed")
                            .help("the decoder maps sources to observations: use `linear` or a list of layers"),
                    );
                    None
                }
                (other, _) => {
                    let words: &[&str] = if is_encoder {
                        &NETWORKS
                    } else {
                        &NETWORKS[..1]
                    };
                    self.error(
                        Diagnostic::new(
                            Rule::UnknownWord,
                            w.span.clone(),
                            format!(
                                "expected {} or `{{ layers }}`, found `{other}`",
                                one_of(words)
                            ),
                        )
                        .label("unknown network")
                        .help_opt(suggestion(other, words)),
                    );
                    None
                }
            },
            NetworkExpr::Layers(layers) => {
                let mut out = Vec::new();
                let mut ok = true;
                for l in layers {
                    match self.layer(l) {
                        Some(d) => out.push(d),
                        None => ok = false,
                    }
                }
                ok.then_some(Encoder::Mlp(out))
            }
        }
    }

    fn layer(&mut self, l: &LayerExpr) -> Option<Dense> {
        let mut ok = true;
        if l.kind.value != words::DENSE {
            ok = false;
            self.unknown(l.kind.span.clone(), "layer", &l.kind.value, &LAYERS);
        }
        let width = self.count(&l.width, "a layer width");
        let activation = Activation::from_keyword(&l.activation.value);
        if activation.is_none() {
            let names: Vec<&str> = Activation::ALL.iter().map(|a| a.keyword()).collect();
            self.unknown(
                l.activation.span.clone(),
                "activation",
                &l.activation.value,
                &names,
            );
        }
        if !ok {
            return None;
        }
        Some(Dense {
            width: width?,
            activation: activation?,
        })
    }

    fn posterior_variance(&mut self, f: &FamilyExpr) -> Option<PosteriorVariance> {
        let mode = f.name.value.as_str();
        let args = arguments(f);
        match mode {
            words::PER_DIMENSION | words::PER_SAMPLE if f.arguments.is_some() => {
                self.error(
                    Diagnostic::new(
                        Rule::WrongArguments,
                        self.args_span(f),
                        format!("`{mode}` takes no arguments"),
                    )
                    .label("unexpected arguments"),
                );
                None
            }
            words::PER_DIMENSION => Some(PosteriorVariance::PerDimension),
            words::PER_SAMPLE => Some(PosteriorVariance::PerSample),
            words::FIXED => {
                let [(None, value)] = args.as_slice() else {
                    self.error(
                        Diagnostic::new(
                            Rule::WrongArguments,
                            self.args_span(f),
                            "`fixed` takes one argument, the variance",
                        )
                        .label("expected `(variance)`")
                        .help("write `fixed(0.01)`"),
                    );
                    return None;
                };
                let v = self.variance(value, "the posterior variance")?;
                Some(PosteriorVariance::Fixed(v))
            }
            other => {
                self.unknown(
                    f.name.span.clone(),
                    "posterior variance",
                    other,
                    &POSTERIOR_MODES,
                );
                None
            }
        }
    }

    /// `likelihood mse`, `likelihood gaussian(0.01)`, `likelihood [shared]
    /// gaussian(learned[, floor = 1e-4])`.
    fn likelihood(&mut self, p: &PriorExpr) -> Option<Likelihood> {
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
    fn kl_estimate(&mut self, f: &FamilyExpr) -> Option<KlEstimate> {
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
    fn beta_schedule(&mut self, key: &Word, count: &Word) -> Option<usize> {
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

    fn preprocess(&mut self, w: &Word) -> Option<Preprocess> {
        let found = Preprocess::from_keyword(&w.value);
        if found.is_none() {
            let words: Vec<&str> = Preprocess::ALL.iter().map(|p| p.keyword()).collect();
            self.unknown(w.span.clone(), "preprocessing", &w.value, &words);
        }
        found
    }

    fn train(&mut self, settings: &[Setting]) -> Option<Train> {
        let mut t = defaults::train();
        let mut seen: Vec<&Word> = Vec::new();
        let mut ok = true;
        let mut bound_at = None;
        for s in settings {
            let key = s.key.value.as_str();
            if let Some(first) = seen.iter().find(|w| w.value == key) {
                ok = false;
                self.error(
                    Diagnostic::new(
                        Rule::GivenTwice,
                        s.key.span.clone(),
                        format!("`{key}` is set twice"),
                    )
                    .label("second one here")
                    .related(first.span.clone(), "first set here"),
                );
                continue;
            }
            seen.push(&s.key);
            let v = &s.value;
            let set = match key {
                words::EPOCHS => self.count(v, "epochs").map(|x| t.epochs = x),
                words::SAMPLES => self.count(v, "samples").map(|x| t.samples = x),
                words::BOUND => {
                    bound_at = Some(v.span.clone());
                    self.bound(v).map(|b| t.bound = b)
                }
                words::RESTARTS => self
                    .count_up_to(v, "the number of restarts", RESTARTS_MAX)
                    .map(|x| t.restarts = x),
                words::SEED => self.whole(v, "the seed").map(|x| t.seed = x),
                words::TOL => self.number(v, "the tolerance").and_then(|x| {
                    if x > 0.0 && x < 1.0 {
                        t.tol = Some(x);
                        Some(())
                    } else {
                        self.error(
                            Diagnostic::new(
                                Rule::OutOfRange,
                                v.span.clone(),
                                format!("the tolerance must lie between 0 and 1, found {}", v.value),
                            )
                            .label("a relative change")
                            .help("`tol 1e-4` stops once the loss changes by less than 0.01 % between windows of 100 epochs"),
                        );
                        None
                    }
                }),
                words::LR => self.number(v, "the learning rate").and_then(|x| {
                    if x > 0.0 && x <= limits::LR_MAX {
                        t.lr = x;
                        Some(())
                    } else {
                        let (why, label) = match x > 0.0 {
                            false => (format!("the learning rate must be > 0, found {}", v.value), "not positive"),
                            true => (
                                format!("the learning rate must be at most {}, found {}", limits::LR_MAX, v.value),
                                "too large",
                            ),
                        };
                        self.error(
                            Diagnostic::new(Rule::OutOfRange, v.span.clone(), why)
                                .label(label)
                                .help("Adam moves each parameter by about the learning rate per step: 1e-4 to 1e-2 is usual"),
                        );
                        None
                    }
                }),
                words::BATCH if v.value == words::FULL => {
                    t.batch = Batch::Full;
                    Some(())
                }
                words::BATCH => {
                    if v.value.starts_with(|c: char| c.is_ascii_alphabetic()) {
                        self.error(
                            Diagnostic::new(
                                Rule::NotANumber,
                                v.span.clone(),
                                format!("expected `full` or a batch size, found `{}`", v.value),
                            )
                            .label("not a batch size")
                            .help_opt(suggestion(&v.value, &[words::FULL])),
                        );
                        None
                    } else {
                        self.count(v, "the batch size")
                            .map(|b| t.batch = Batch::Size(b))
                    }
                }
                other => {
                    self.unknown(s.key.span.clone(), "training setting", other, &SETTINGS);
                    None
                }
            };
            ok &= set.is_some();
        }
        if let (Bound::Iwae, 1, Some(at)) = (t.bound, t.samples, bound_at) {
            ok = false;
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    at,
                    "the importance-weighted bound needs several samples",
                )
                .label("with `samples 1` this is the ELBO")
                .help("set `samples 8` (or more) in the same block"),
            );
        }
        ok.then_some(t)
    }

    fn bound(&mut self, w: &Word) -> Option<Bound> {
        let found = Bound::from_keyword(&w.value);
        if found.is_none() {
            let words: Vec<&str> = Bound::ALL.iter().map(|b| b.keyword()).collect();
            self.unknown(w.span.clone(), "bound", &w.value, &words);
        }
        found
    }
}

/// A call's arguments as (key, value) pairs.
fn arguments(f: &FamilyExpr) -> Vec<(Option<&Word>, &Word)> {
    f.arguments
        .as_ref()
        .map(|a| {
            a.value
                .iter()
                .map(|arg| (arg.key.as_ref(), &arg.value))
                .collect()
        })
        .unwrap_or_default()
}
