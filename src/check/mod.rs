//! Checker: syntax tree → `ModelSpec`, or every semantic error found.
//!
//! Each check reports at the exact text it concerns. Defaults documented in
//! `spec::defaults` fill whatever the file leaves out.
//!
//! This file holds the entry points and the walk over the statements, which also judges
//! what only the whole model can (what is missing, settings that conflict, the memory a
//! fit needs). The checks of each statement live in a file of their own, each adding
//! methods to `Checker`, as naga's `valid/` does, so each reads alone.

mod loss;
mod network;
use network::Network;
mod numbers;
mod observed;
mod prior;
mod train;

use crate::diagnostic::{one_of, suggestion, Diagnostic, Diagnostics, Rule, Span};
use crate::front::ast::*;
use crate::front::parse;
use crate::spec::*;

use crate::resources::{human, Cause, MemoryLimit};

/// The most latent or observed dimensions, or mixture components, a model may have.
const DIMENSIONS_MAX: u64 = 1 << 16;

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

    /// The choice among `all` (each written as `keyword` gives it) that `w` names; an
    /// "unknown {what}" error with a suggestion when it names none.
    pub(super) fn word_of<T: Copy>(
        &mut self,
        w: &Word,
        what: &str,
        all: &[T],
        keyword: fn(T) -> &'static str,
    ) -> Option<T> {
        let found = all.iter().copied().find(|&x| keyword(x) == w.value);
        if found.is_none() {
            let words: Vec<&str> = all.iter().map(|&x| keyword(x)).collect();
            self.unknown(w.span.clone(), what, &w.value, &words);
        }
        found
    }

    /// Where a call's arguments stand, or its name where it has none: where a complaint
    /// about its arguments points.
    fn args_span(&self, f: &FamilyExpr) -> Span {
        f.arguments
            .as_ref()
            .map_or(f.name.span.clone(), |a| a.span.clone())
    }

    fn check(&mut self, statements: &[Statement]) -> Option<ModelSpec> {
        let mut name = Once::new("model");
        let mut observed = Once::new("observed");
        let mut preprocess = Once::new("preprocess");
        let mut postprocess = Once::new("postprocess");
        let mut latent: Once<(Word, Option<usize>, Option<PriorExpr>)> = Once::new("latent");
        let mut encoder = Once::new("encoder");
        let mut decoder = Once::new("decoder");
        let mut posterior = Once::new("posterior variance");
        let mut beta = Once::new("beta");
        let mut likelihood = Once::new("likelihood");
        let mut kl = Once::new("kl");
        let mut train = Once::new("train");
        let mut dimension_priors: Vec<(&Word, &Word, &PriorExpr)> = Vec::new();
        let mut train_settings: Option<&[Setting]> = None;

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
                StatementKind::Postprocess(w) => {
                    let p = self.postprocess(w);
                    postprocess.set(self, at, p);
                }
                StatementKind::Latent { name, dim, prior } => {
                    let n = self.count_up_to(dim, "the latent dimension", DIMENSIONS_MAX);
                    latent.set(self, at, (name.clone(), n, prior.clone()));
                }
                StatementKind::DimensionPrior { name, index, prior } => {
                    dimension_priors.push((name, index, prior));
                }
                StatementKind::Encoder(net) => {
                    // `network` refuses an input activation and `inverse` for the encoder.
                    let e = self.network(net, true).map(|n| match n {
                        Network::Dense(layers, _) => Encoder::Mlp(layers),
                        Network::None => Encoder::None,
                        Network::Invertible(maps) => Encoder::Invertible(maps),
                        Network::Inverse => unreachable!("an encoder is never `inverse`"),
                    });
                    encoder.set(self, at, e);
                }
                StatementKind::Decoder(net) => {
                    // `network` refuses `none` and maps for a decoder: layers or `inverse`.
                    let d = self.network(net, false);
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
                    let b = self.beta(w);
                    beta.set(self, at, b.zip(warmup));
                }
                StatementKind::Train(settings) => {
                    train_settings = Some(settings.as_slice());
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

        let encoder_at = encoder.span();
        let encoder = encoder
            .value()
            .unwrap_or(Some(Encoder::Mlp(defaults::network())));
        let invertible = matches!(encoder, Some(Encoder::Invertible(_)));
        let decoder_at = decoder.span().unwrap_or(0..0);
        // An invertible encoder's decoder is its inverse: no layers of its own.
        let inverse = || Some((Vec::new(), Activation::Identity));
        let decoder = match decoder.value() {
            None if invertible => inverse(),
            None => Some((defaults::network(), Activation::Identity)),
            Some(None) => None,
            Some(Some(Network::Inverse)) if invertible => inverse(),
            Some(Some(Network::Inverse)) => {
                if encoder.is_some() {
                    self.error(
                        Diagnostic::new(
                            Rule::Conflict,
                            decoder_at,
                            "`decoder inverse` needs an invertible encoder",
                        )
                        .label("the encoder has no inverse")
                        .help("write `encoder { monotone 8 tanh; affine; monotone 8 tanh; affine }` (m = n), or give the decoder layers"),
                    );
                }
                None
            }
            Some(Some(Network::Dense(..))) if invertible => {
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        decoder_at,
                        "an invertible encoder's decoder is its inverse",
                    )
                    .label("a decoder of its own")
                    .related(
                        encoder_at.clone().unwrap_or(0..0),
                        "this encoder is invertible",
                    )
                    .help("write `decoder inverse`, or leave the decoder out"),
                );
                None
            }
            Some(Some(Network::Dense(layers, input))) => Some((layers, input)),
            Some(Some(Network::None | Network::Invertible(_))) => {
                unreachable!("`network` refuses these for a decoder")
            }
        };
        if invertible {
            self.exact_likelihood_only(
                encoder_at.clone().unwrap_or(0..0),
                [
                    (posterior.span(), "posterior variance"),
                    (likelihood.span(), "likelihood"),
                    (kl.span(), "KL estimate"),
                    (beta.span(), "β"),
                ],
            );
        }
        let posterior_variance = posterior
            .value()
            .unwrap_or(Some(defaults::POSTERIOR_VARIANCE));
        let (beta, beta_warmup) = match beta.value().unwrap_or(Some((defaults::BETA, 0))) {
            Some((b, w)) => (Some(b), w),
            None => (None, 0),
        };
        let preprocess = preprocess.value().unwrap_or(Some(Preprocess::default()));
        let postprocess = postprocess.value().unwrap_or(Some(Postprocess::default()));
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
        if let (true, Some(t), Some(settings)) = (invertible, &train, train_settings) {
            self.train_for_invertible(settings, t);
        }
        if let (true, Some(Some(o)), Some((_, Some(n), _))) = (invertible, &observed, &latent) {
            if o.count() != *n {
                self.error(
                    Diagnostic::new(
                        Rule::Conflict,
                        encoder_at.clone().unwrap_or(0..0),
                        format!(
                            "an invertible encoder needs as many sources as observed columns: {} columns, {n} sources",
                            o.count()
                        ),
                    )
                    .label("invertible only for m = n")
                    .help("give `latent` as many dimensions as `observed` has columns"),
                );
            }
        }
        let (observed, latent) = (observed??, latent?);
        let (decoder, decoder_input) = decoder?;
        let spec = ModelSpec {
            name: name
                .value()
                .unwrap_or_else(|| defaults::MODEL_NAME.to_string()),
            observed,
            preprocess: preprocess?,
            postprocess: postprocess?,
            latent: Latent {
                name: latent.0.value,
                dim: latent.1?,
            },
            prior: prior?,
            encoder: encoder?,
            decoder,
            decoder_input,
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
