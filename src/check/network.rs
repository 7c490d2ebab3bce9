//! The networks: encoder and decoder layers, and the posterior variance the encoder
//! puts out.

use super::{arguments, Checker};
use crate::diagnostic::Span;
use crate::diagnostic::{one_of, suggestion, Diagnostic, Rule};
use crate::front::ast::{FamilyExpr, LayerExpr, NetworkExpr, Word};
use crate::spec::{Activation, Bijection, Dense, PosteriorVariance};
use crate::words::{self, LAYERS, NETWORKS, POSTERIOR_MODES};

/// What an `encoder` or `decoder` statement says, before the whole model is checked.
pub(super) enum Network {
    /// Dense layers (none: `linear`) after the input's activation.
    Dense(Vec<Dense>, Activation),
    /// `encoder none`: Half-VAE.
    None,
    /// `encoder { monotone 8 tanh; affine; … }`.
    Invertible(Vec<Bijection>),
    /// `decoder inverse`: the invertible encoder's inverse.
    Inverse,
}

/// One entry of a layer list, checked on its own.
enum Entry {
    Dense(Dense),
    Input(Activation),
    Map(Bijection),
}

impl Checker {
    /// A network: dense layers with the activation their input goes through first (the
    /// identity unless a decoder's list starts with an activation alone: `decoder {
    /// sigmoid; dense 30 leaky_relu }`), Half-VAE's `none`, an invertible encoder's maps,
    /// or its `inverse` as the decoder.
    pub(super) fn network(&mut self, net: &NetworkExpr, is_encoder: bool) -> Option<Network> {
        match net {
            NetworkExpr::Word(w) => match (w.value.as_str(), is_encoder) {
                (words::LINEAR, _) => Some(Network::Dense(Vec::new(), Activation::Identity)),
                (words::NONE, true) => Some(Network::None),
                (words::INVERSE, false) => Some(Network::Inverse),
                (words::NONE, false) => {
                    self.error(
                        Diagnostic::new(Rule::Conflict, w.span.clone(), "the decoder cannot be `none`")
                            .label("a decoder is needed")
                            .help("the decoder maps sources to observations: use `linear` or a list of layers"),
                    );
                    None
                }
                (other, _) => {
                    let words: &[&str] = match is_encoder {
                        true => &NETWORKS,
                        false => &[words::LINEAR, words::INVERSE],
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
            NetworkExpr::Layers(layers) => self.layers(layers, is_encoder),
        }
    }

    /// A layer list: dense layers (led, in a decoder, by the input's activation), or an
    /// invertible encoder's maps alone.
    fn layers(&mut self, layers: &[LayerExpr], is_encoder: bool) -> Option<Network> {
        let mut entries = Vec::new();
        let mut ok = true;
        for (i, l) in layers.iter().enumerate() {
            let entry = match l {
                LayerExpr::Dense {
                    kind,
                    width,
                    activation,
                } => self.layer(kind, width, activation),
                LayerExpr::Alone(w) if w.value == words::AFFINE => {
                    Some(Entry::Map(Bijection::Affine))
                }
                LayerExpr::Alone(w) => self.input_activation(w, i, is_encoder).map(Entry::Input),
            };
            ok &= entry.is_some();
            entries.push(entry);
        }
        let is_map = |e: &Option<Entry>| matches!(e, Some(Entry::Map(_)));
        let Some(first_map) = entries.iter().position(is_map) else {
            let mut dense = Vec::new();
            let mut input = Activation::Identity;
            for entry in entries.into_iter().flatten() {
                match entry {
                    Entry::Dense(d) => dense.push(d),
                    Entry::Input(a) => input = a,
                    Entry::Map(_) => unreachable!("no map in this list"),
                }
            }
            return ok.then_some(Network::Dense(dense, input));
        };
        if !is_encoder {
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    layer_span(&layers[first_map]),
                    "`monotone` and `affine` maps make an invertible encoder, not a decoder",
                )
                .label("in the decoder")
                .help("put them in the encoder and write `decoder inverse`"),
            );
            return None;
        }
        if let Some(other) = entries.iter().position(|e| e.is_some() && !is_map(e)) {
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    layer_span(&layers[other]),
                    "an invertible encoder holds `monotone` and `affine` maps alone",
                )
                .label("not an invertible map")
                .related(
                    layer_span(&layers[first_map]),
                    "this map makes the encoder invertible",
                )
                .help("a dense layer has no inverse: write `monotone 8 tanh` or `affine`"),
            );
            return None;
        }
        let maps = entries.into_iter().map(|e| match e {
            Some(Entry::Map(m)) => Some(m),
            _ => None,
        });
        let maps: Vec<Bijection> = maps.collect::<Option<_>>().filter(|_| ok)?;
        if !maps.contains(&Bijection::Affine) {
            let whole = layer_span(&layers[0]).start..layer_span(&layers[layers.len() - 1]).end;
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    whole,
                    "an invertible encoder without an `affine` map mixes nothing",
                )
                .label("each source would be one column, transformed")
                .help("add `affine`: `{ monotone 8 tanh; affine; monotone 8 tanh; affine }`"),
            );
            return None;
        }
        Some(Network::Invertible(maps))
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

    /// `dense 64 tanh`, or an invertible encoder's `monotone 8 tanh`.
    fn layer(&mut self, kind: &Word, width: &Word, activation: &Word) -> Option<Entry> {
        let known = LAYERS.contains(&kind.value.as_str());
        if !known {
            self.unknown(kind.span.clone(), "layer", &kind.value, &LAYERS);
        }
        let width = self.count(width, "a layer width");
        if kind.value == words::MONOTONE {
            let tanh = Activation::Tanh.keyword();
            if activation.value != tanh {
                self.error(
                    Diagnostic::new(
                        Rule::UnknownWord,
                        activation.span.clone(),
                        format!("a monotone map's units are `{tanh}`, not `{}`", activation.value),
                    )
                    .label(format!("expected `{tanh}`"))
                    .help("f(u) = a·u + Σ w tanh(b·u + c) is increasing because tanh is: write `monotone 8 tanh`"),
                );
                return None;
            }
            return Some(Entry::Map(Bijection::Monotone { units: width? }));
        }
        let activation = self.word_of(
            activation,
            "activation",
            &Activation::ALL,
            Activation::keyword,
        );
        if !known {
            return None;
        }
        Some(Entry::Dense(Dense {
            width: width?,
            activation: activation?,
        }))
    }

    /// The statements an invertible encoder's model refuses, each where it was written: its
    /// objective is the data's exact likelihood, with no posterior, reconstruction or β.
    pub(super) fn exact_likelihood_only<const N: usize>(
        &mut self,
        encoder_at: Span,
        statements: [(Option<Span>, &str); N],
    ) {
        for (at, what) in statements {
            let Some(at) = at else { continue };
            self.error(
                Diagnostic::new(
                    Rule::Conflict,
                    at,
                    format!("an invertible encoder has no {what}: it is trained on the data's exact likelihood"),
                )
                .label("not used by the exact likelihood")
                .related(encoder_at.clone(), "this encoder is invertible")
                .help("remove this statement"),
            );
        }
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

/// Where a layer was written: from its first word to its last.
fn layer_span(l: &LayerExpr) -> Span {
    match l {
        LayerExpr::Dense {
            kind, activation, ..
        } => kind.span.start..activation.span.end,
        LayerExpr::Alone(w) => w.span.clone(),
    }
}
