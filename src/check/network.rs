//! The networks: encoder and decoder layers, and the posterior variance the encoder
//! puts out.

use super::{arguments, Checker};
use crate::diagnostic::{one_of, suggestion, Diagnostic, Rule};
use crate::front::ast::{FamilyExpr, LayerExpr, NetworkExpr, Word};
use crate::spec::{Activation, Dense, Encoder, PosteriorVariance};
use crate::words::{self, LAYERS, NETWORKS, POSTERIOR_MODES};

impl Checker {
    /// A network, with the activation its input goes through first (the identity unless
    /// a decoder's list starts with an activation alone: `decoder { sigmoid; dense 30
    /// leaky_relu }`).
    pub(super) fn network(
        &mut self,
        net: &NetworkExpr,
        is_encoder: bool,
    ) -> Option<(Encoder, Activation)> {
        let network = match net {
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
                let mut input = Activation::Identity;
                let mut ok = true;
                for (i, l) in layers.iter().enumerate() {
                    let checked = match l {
                        LayerExpr::Dense {
                            kind,
                            width,
                            activation,
                        } => self.layer(kind, width, activation).map(|d| out.push(d)),
                        LayerExpr::Alone(w) => {
                            self.input_activation(w, i, is_encoder).map(|a| input = a)
                        }
                    };
                    ok &= checked.is_some();
                }
                return ok.then_some((Encoder::Mlp(out), input));
            }
        };
        network.map(|n| (n, Activation::Identity))
    }

    /// A word alone in a layer list: the activation the decoder's input goes through
    /// before its first layer (IMA-VAE's decoder reads sigmoid(z)).
    fn input_activation(&mut self, w: &Word, at: usize, is_encoder: bool) -> Option<Activation> {
        let activation = self.word_of(w, "activation", &Activation::ALL, Activation::keyword)?;
        let misplaced = match (is_encoder, at) {
            (true, _) => Some("an activation alone applies to the decoder's input; the encoder reads the data as they are"),
            (false, 0) => None,
            (false, _) => Some("an activation alone applies to the decoder's input, so it comes before every layer"),
        };
        if let Some(why) = misplaced {
            self.error(
                Diagnostic::new(Rule::Conflict, w.span.clone(), why)
                    .label(format!("`{}` alone", w.value))
                    .help("write `decoder { sigmoid; dense 30 leaky_relu }`, or give it a layer: `dense 64 sigmoid`"),
            );
            return None;
        }
        Some(activation)
    }

    fn layer(&mut self, kind: &Word, width: &Word, activation: &Word) -> Option<Dense> {
        let mut ok = true;
        if kind.value != words::DENSE {
            ok = false;
            self.unknown(kind.span.clone(), "layer", &kind.value, &LAYERS);
        }
        let width = self.count(width, "a layer width");
        let activation = self.word_of(
            activation,
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
