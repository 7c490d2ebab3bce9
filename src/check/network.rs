//! The networks: encoder and decoder layers, and the posterior variance the encoder
//! puts out.

use super::{arguments, Checker};
use crate::diagnostic::{one_of, suggestion, Diagnostic, Rule};
use crate::front::ast::{FamilyExpr, LayerExpr, NetworkExpr};
use crate::spec::{Activation, Dense, Encoder, PosteriorVariance};
use crate::words::{self, LAYERS, NETWORKS, POSTERIOR_MODES};

impl Checker {
    pub(super) fn network(&mut self, net: &NetworkExpr, is_encoder: bool) -> Option<Encoder> {
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

    pub(super) fn layer(&mut self, l: &LayerExpr) -> Option<Dense> {
        let mut ok = true;
        if l.kind.value != words::DENSE {
            ok = false;
            self.unknown(l.kind.span.clone(), "layer", &l.kind.value, &LAYERS);
        }
        let width = self.count(&l.width, "a layer width");
        let activation = self.word_of(
            &l.activation,
            "activation",
            &Activation::ALL,
            Activation::keyword,
        );
        if !ok {
            return None;
        }
        Some(Dense {
            width: width?,
            activation: activation?,
        })
    }

    pub(super) fn posterior_variance(&mut self, f: &FamilyExpr) -> Option<PosteriorVariance> {
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
}
