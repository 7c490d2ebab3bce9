//! The parameter store: every learnable tensor of a model, with its name.

use super::{c, Mat, Real};
use crate::spec::{Activation, Dense};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Uniform};

/// A dense layer: indices of its weight (in × out) and bias (1 × out) in the store.
#[derive(Debug, Clone)]
pub struct Linear {
    pub w: usize,
    pub b: usize,
}

#[derive(Debug, Clone)]
pub struct Mlp {
    pub hidden: Vec<(Linear, Activation)>,
    pub out: Linear,
    widths: Vec<usize>,
}

impl Mlp {
    /// Width of the last hidden layer (the input width when there is none).
    pub fn output_width_of_hidden(&self, input: usize) -> usize {
        self.widths.last().copied().unwrap_or(input)
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

pub struct ParamStore<E: Real> {
    dev: super::Dev<E>,
    names: Vec<String>,
    values: Vec<Mat<E>>,
    learned: Vec<Vec<bool>>,
}

impl<E: Real> ParamStore<E> {
    pub fn new(dev: super::Dev<E>) -> Self {
        ParamStore {
            dev,
            names: Vec::new(),
            values: Vec::new(),
            learned: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn value(&self, i: usize) -> &Mat<E> {
        &self.values[i]
    }

    pub fn value_mut(&mut self, i: usize) -> &mut Mat<E> {
        &mut self.values[i]
    }

    /// A builder that names what it adds `name.…`.
    pub fn builder(&mut self, name: &str) -> VarBuilder<'_, E> {
        VarBuilder {
            store: self,
            prefix: name.to_string(),
        }
    }

    fn add(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        mut init: impl FnMut(usize, usize) -> f64,
    ) -> usize {
        let mut data = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for k in 0..cols {
                data.push(c::<E>(init(r, k)));
            }
        }
        self.values
            .push(self.dev.tensor_from_vec(data, (rows, cols)));
        self.names.push(name.to_string());
        self.learned.push(vec![true; rows * cols]);
        self.values.len() - 1
    }

    /// Marks which entries of parameter `i` the objective depends on.
    pub fn set_learned(&mut self, i: usize, learned: Vec<bool>) {
        assert_eq!(learned.len(), self.learned[i].len());
        self.learned[i] = learned;
    }

    pub fn fill(&mut self, i: usize, x: f64) {
        let (r, k) = *self.values[i].shape();
        self.set(i, &vec![x; r * k]);
    }

    pub fn set(&mut self, i: usize, values: &[f64]) {
        let shape = *self.values[i].shape();
        assert_eq!(
            values.len(),
            shape.0 * shape.1,
            "parameter `{}` has shape {shape:?}",
            self.names[i]
        );
        // A new tensor has a new id: the optimiser's moments for this parameter restart.
        self.values[i] = super::tensor_of(&self.dev, values.iter().map(|&v| c::<E>(v)), shape);
    }

    /// Parameter `i`'s values, row-major.
    pub fn values(&self, i: usize) -> Vec<f64> {
        self.values[i]
            .as_vec()
            .iter()
            .map(|x| x.to_f64().unwrap_or(f64::NAN))
            .collect()
    }

    /// Parameter `i` as a matrix.
    pub fn values_matrix(&self, i: usize) -> crate::matrix::Matrix {
        let (rows, cols) = *self.values[i].shape();
        crate::matrix::Matrix::new(rows, cols, self.values(i))
    }

    pub fn infos(&self) -> Vec<ParamInfo> {
        (0..self.len())
            .map(|i| ParamInfo {
                name: self.names[i].clone(),
                shape: *self.values[i].shape(),
                values: self.values(i),
                learned: self.learned[i].clone(),
            })
            .collect()
    }
}

/// Adds parameters to a store under a dotted path, so a layer never spells its full name:
/// `store.builder("encoder").pp("0")` makes `encoder.0.weight` and `encoder.0.bias`
/// (candle-nn's `VarBuilder`).
pub struct VarBuilder<'a, E: Real> {
    store: &'a mut ParamStore<E>,
    prefix: String,
}

impl<E: Real> VarBuilder<'_, E> {
    /// A builder one level further down the path.
    pub fn pp(&mut self, name: impl std::fmt::Display) -> VarBuilder<'_, E> {
        VarBuilder {
            prefix: format!("{}.{name}", self.prefix),
            store: self.store,
        }
    }

    /// A (rows, cols) parameter named `prefix.name`, with entries `init(r, c)`; its index.
    pub fn add(
        &mut self,
        name: &str,
        rows: usize,
        cols: usize,
        init: impl FnMut(usize, usize) -> f64,
    ) -> usize {
        let full = format!("{}.{name}", self.prefix);
        self.store.add(&full, rows, cols, init)
    }

    /// Marks which entries of parameter `i` the objective depends on.
    pub fn set_learned(&mut self, i: usize, learned: Vec<bool>) {
        self.store.set_learned(i, learned);
    }

    /// A dense layer with PyTorch's default initialisation, U(±1/√fan_in).
    pub fn linear(&mut self, inputs: usize, outputs: usize, rng: &mut StdRng) -> Linear {
        let bound = 1.0 / (inputs as f64).sqrt();
        let u = Uniform::new_inclusive(-bound, bound);
        let w = self.add("weight", inputs, outputs, |_, _| u.sample(rng));
        let b = self.add("bias", 1, outputs, |_, _| u.sample(rng));
        Linear { w, b }
    }

    /// Hidden layers `0`, `1`, … as given, then a linear projection `out` to `outputs`.
    pub fn mlp(
        &mut self,
        inputs: usize,
        layers: &[Dense],
        outputs: usize,
        rng: &mut StdRng,
    ) -> Mlp {
        let mut width = inputs;
        let mut hidden = Vec::new();
        let mut widths = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            hidden.push((self.pp(i).linear(width, layer.width, rng), layer.activation));
            width = layer.width;
            widths.push(width);
        }
        let out = self.pp("out").linear(width, outputs, rng);
        Mlp {
            hidden,
            out,
            widths,
        }
    }
}
