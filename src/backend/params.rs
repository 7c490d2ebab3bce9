//! Parameters: each a named tensor owned by the layer or prior family that uses it
//! (candle-nn's `Linear` and `VarBuilder` are the model). The model lists them in one
//! fixed order (`Model::params`), which is the order of the saved file, of the optimiser's
//! moments and of `parameters()`.

use super::{c, fused, tensor_of, Dev, Mat, Real, Traced};
use crate::spec::{Activation, Dense, Init};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// A named (rows, cols) parameter tensor.
///
/// dfdx tensors are copy-on-write: a second handle to the same tensor would go stale at
/// the first Adam step (which writes in place, copying a shared buffer first). So each
/// parameter has exactly one owner, and the optimiser and the saver reach it through the
/// model's list of `&mut Param`.
pub struct Param<E: Real> {
    name: String,
    value: Mat<E>,
    /// Per entry: whether the objective depends on it (see `ParamInfo::learned`).
    learned: Vec<bool>,
}

impl<E: Real> Param<E> {
    pub fn value(&self) -> &Mat<E> {
        &self.value
    }

    pub fn value_mut(&mut self) -> &mut Mat<E> {
        &mut self.value
    }

    /// The tensor, on a fresh tape: where a forward pass starts.
    pub fn traced(&self) -> Traced<E> {
        self.value.leaky_trace()
    }

    pub fn shape(&self) -> (usize, usize) {
        *self.value.shape()
    }

    /// Marks which entries the objective depends on.
    pub fn set_learned(&mut self, learned: Vec<bool>) {
        assert_eq!(learned.len(), self.learned.len());
        self.learned = learned;
    }

    pub fn fill(&mut self, x: f64) {
        let (r, k) = self.shape();
        self.set(&vec![x; r * k]);
    }

    pub fn set(&mut self, values: &[f64]) {
        let shape = self.shape();
        assert_eq!(
            values.len(),
            shape.0 * shape.1,
            "parameter `{}` has shape {shape:?}",
            self.name
        );
        // A new tensor has a new id: the optimiser's moments for this parameter restart.
        self.value = tensor_of(
            self.value.device(),
            values.iter().map(|&v| c::<E>(v)),
            shape,
        );
    }

    /// The values, row-major.
    pub fn values(&self) -> Vec<f64> {
        self.value
            .as_vec()
            .iter()
            .map(|x| x.to_f64().unwrap_or(f64::NAN))
            .collect()
    }

    /// The values as a matrix.
    pub fn values_matrix(&self) -> crate::matrix::Matrix {
        let (rows, cols) = self.shape();
        crate::matrix::from_row_major(rows, cols, self.values())
    }

    pub fn info(&self) -> ParamInfo {
        ParamInfo {
            name: self.name.clone(),
            shape: self.shape(),
            values: self.values(),
            learned: self.learned.clone(),
        }
    }
}

/// A dense layer: its weight (in × out) and bias (1 × out).
pub struct Linear<E: Real> {
    pub w: Param<E>,
    pub b: Param<E>,
}

impl<E: Real> Linear<E> {
    /// act(x·W + b), as one fused op (`fused::dense_chain` of one layer).
    pub fn forward(&self, x: Traced<E>, act: Activation) -> Traced<E> {
        self.apply(x, act, true)
    }

    /// `forward`, with a gradient for x only when `input_gradient`: the data's is learned
    /// by nothing, and leaving it out saves the backward pass one product.
    pub fn apply(&self, x: Traced<E>, act: Activation, input_gradient: bool) -> Traced<E> {
        fused::dense_chain(
            x,
            Activation::Identity,
            vec![self.layer(act)],
            input_gradient,
        )
    }

    /// The layer as a link of a fused chain.
    fn layer(&self, act: Activation) -> fused::Layer<E> {
        fused::Layer {
            w: self.w.traced(),
            b: self.b.traced(),
            act,
        }
    }

    /// x·W + b: an output projection.
    pub fn project(&self, x: Traced<E>) -> Traced<E> {
        self.forward(x, Activation::Identity)
    }

    pub fn params(&self) -> Vec<&Param<E>> {
        vec![&self.w, &self.b]
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        vec![&mut self.w, &mut self.b]
    }
}

pub struct Mlp<E: Real> {
    /// What the input goes through before the first layer (`decoder { sigmoid; … }`).
    input: Activation,
    pub hidden: Vec<(Linear<E>, Activation)>,
    pub out: Linear<E>,
    widths: Vec<usize>,
}

impl<E: Real> Mlp<E> {
    /// The hidden layers, then the output projection, as one fused op.
    pub fn forward(&self, x: Traced<E>) -> Traced<E> {
        self.apply(x, true)
    }

    /// `forward`, with a gradient for x only when `input_gradient` (not for the data).
    pub fn apply(&self, x: Traced<E>, input_gradient: bool) -> Traced<E> {
        let hidden = self.hidden.iter().map(|(l, act)| l.layer(*act));
        let layers = hidden.chain([self.out.layer(Activation::Identity)]);
        fused::dense_chain(x, self.input, layers.collect(), input_gradient)
    }

    /// What the output projection reads: the input through the input activation and the
    /// hidden layers (the encoder's per-sample variance head shares them with the output
    /// projection; `start fastica_autoencoder` fits the decoder's projection to them).
    /// `input_gradient` false for the data: the first layer then computes no gradient for
    /// its input.
    pub fn hidden_forward(&self, x: Traced<E>, input_gradient: bool) -> Traced<E> {
        let hidden: Vec<_> = self.hidden.iter().map(|(l, act)| l.layer(*act)).collect();
        match (hidden.is_empty(), self.input) {
            (true, Activation::Identity) => x,
            // No hidden layer but an input activation (`decoder { sigmoid }`): the
            // chain needs a layer, and an identity one with a zero bias changes no number.
            (true, input) => {
                let width = x.shape().1;
                let dev = x.device().clone();
                let eye = (0..width * width).map(|i| match i % (width + 1) {
                    0 => E::one(),
                    _ => E::zero(),
                });
                let w = tensor_of(&dev, eye, (width, width));
                let b = tensor_of(&dev, std::iter::repeat_n(E::zero(), width), (1, width));
                let layer = fused::Layer {
                    w: w.leaky_trace(),
                    b: b.leaky_trace(),
                    act: Activation::Identity,
                };
                fused::dense_chain(x, input, vec![layer], input_gradient)
            }
            (false, input) => fused::dense_chain(x, input, hidden, input_gradient),
        }
    }

    /// Width of the last hidden layer (the input width when there is none).
    pub fn output_width_of_hidden(&self, input: usize) -> usize {
        self.widths.last().copied().unwrap_or(input)
    }

    /// The layers' parameters, first layer first, the output projection last.
    pub fn params(&self) -> Vec<&Param<E>> {
        let layers = self.hidden.iter().map(|(l, _)| l).chain([&self.out]);
        layers.flat_map(Linear::params).collect()
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        let layers = self
            .hidden
            .iter_mut()
            .map(|(l, _)| l)
            .chain([&mut self.out]);
        layers.flat_map(Linear::params_mut).collect()
    }
}

/// A parameter's name, shape and values, for saving, reporting and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: (usize, usize),
    pub values: Vec<f64>,
    /// Per entry: whether the objective depends on it. Entries of fixed priors, padding
    /// components and the logit of a one-component mixture are carried but never move.
    pub learned: Vec<bool>,
}

/// Makes parameters under a dotted path, so a layer never spells its full name:
/// `VarBuilder::new(&dev, "encoder").pp("0")` makes `encoder.0.weight` and
/// `encoder.0.bias` (candle-nn's `VarBuilder`).
pub struct VarBuilder<'a, E: Real> {
    dev: &'a Dev<E>,
    prefix: String,
}

impl<'a, E: Real> VarBuilder<'a, E> {
    pub fn new(dev: &'a Dev<E>, prefix: &str) -> Self {
        VarBuilder {
            dev,
            prefix: prefix.to_string(),
        }
    }

    /// A builder one level further down the path.
    pub fn pp(&self, name: impl std::fmt::Display) -> VarBuilder<'a, E> {
        VarBuilder {
            dev: self.dev,
            prefix: format!("{}.{name}", self.prefix),
        }
    }

    /// A (rows, cols) parameter named `prefix.name`, with entries `init(r, c)`, every
    /// entry learned.
    pub fn add(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        mut init: impl FnMut(usize, usize) -> f64,
    ) -> Param<E> {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for k in 0..cols {
                data.push(c::<E>(init(r, k)));
            }
        }
        Param {
            name: format!("{}.{name}", self.prefix),
            value: tensor_of(self.dev, data.into_iter(), (rows, cols)),
            learned: vec![true; rows * cols],
        }
    }

    /// A dense layer: weights drawn as `init` says, biases as PyTorch's default,
    /// U(±1/√fan_in). Either way the draws come in the same order and number, so a seed
    /// gives the same biases under both.
    pub fn linear(&self, inputs: usize, outputs: usize, init: Init, rng: &mut StdRng) -> Linear<E> {
        let bias_bound = 1.0 / (inputs as f64).sqrt();
        let weight_bound = match init {
            Init::Pytorch => bias_bound,
            Init::Xavier => (6.0 / (inputs + outputs) as f64).sqrt(),
        };
        let weights = Uniform::new_inclusive(-weight_bound, weight_bound);
        let biases = Uniform::new_inclusive(-bias_bound, bias_bound);
        let w = self.add("weight", inputs, outputs, |_, _| weights.sample(rng));
        let b = self.add("bias", 1, outputs, |_, _| biases.sample(rng));
        Linear { w, b }
    }

    /// The input through `input` (the identity but for `decoder { sigmoid; … }`), hidden
    /// layers `0`, `1`, … as given, then a linear projection `out` to `outputs`.
    pub fn mlp(
        &self,
        inputs: usize,
        input: Activation,
        layers: &[Dense],
        outputs: usize,
        init: Init,
        rng: &mut StdRng,
    ) -> Mlp<E> {
        let mut width = inputs;
        let mut hidden = Vec::new();
        let mut widths = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            hidden.push((
                self.pp(i).linear(width, layer.width, init, rng),
                layer.activation,
            ));
            width = layer.width;
            widths.push(width);
        }
        let out = self.pp("out").linear(width, outputs, init, rng);
        Mlp {
            input,
            hidden,
            out,
            widths,
        }
    }
}
