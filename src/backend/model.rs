//! The model: its parts (layers, posterior parameters, prior families, the likelihood's
//! noise), each owning its parameters in one fixed order, built from a `ModelSpec`; the
//! forward pass from data to the posterior and from latents to the decoder's output;
//! encoding, decoding and sampling of a fitted model; its parameters as numbers.

use super::fused::LogVariances;
use super::invertible::Invertible;
use super::optim::Adam;
use super::params::{Linear, Mlp, Param, ParamInfo, VarBuilder};
use super::prior::{self, PriorFamily};
use super::{c, clamp_log_var, tensor_of, to_matrix, Dev, Mat, Part, PriorDensity, Real, Traced};
use crate::matrix::{row_range, Matrix};
use crate::spec::{Activation, Encoder, ModelSpec, PosteriorVariance};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::Range;

/// The model's parts, each owning its parameters: apart from the optimisers, so that a
/// step can lend the optimiser every parameter.
pub(super) struct Net<E: Real> {
    pub(super) encoder: Option<Mlp<E>>,
    /// An invertible encoder (`encoder { monotone …; affine; … }`): the model has then no
    /// decoder, posterior variance or noise of its own.
    pub(super) flow: Option<Invertible<E>>,
    /// Per-sample log σ² head on the encoder's last hidden layer.
    pub(super) log_var_head: Option<Linear<E>>,
    /// None with an invertible encoder, whose inverse decodes.
    pub(super) decoder: Option<Mlp<E>>,
    /// Half-VAE: the T×n posterior means.
    pub(super) free_means: Option<Param<E>>,
    /// The posterior log-variance parameter: (1, n) per dimension, or (T, n) per sample
    /// without an encoder.
    pub(super) log_var: Option<Param<E>>,
    /// The prior family (or families) of the latent dimensions.
    pub(super) prior: Box<dyn PriorFamily<E> + Send + Sync>,
    /// The likelihood's learned log σ² ((1, m), or (1, 1) shared), if it learns them.
    pub(super) noise_log_var: Option<Param<E>>,
}

impl<E: Real> Net<E> {
    /// Every parameter, in the one fixed order of the saved file, the optimiser's moments
    /// and `Model::parameters()`: the encoder (its per-sample variance head last, or the
    /// invertible encoder's maps), the decoder, Half-VAE's means, the posterior variance,
    /// the prior, the likelihood's noise.
    pub(super) fn params(&self) -> Vec<&Param<E>> {
        let mut all = Vec::new();
        all.extend(self.encoder.iter().flat_map(Mlp::params));
        all.extend(self.log_var_head.iter().flat_map(Linear::params));
        all.extend(self.flow.iter().flat_map(Invertible::params));
        all.extend(self.decoder.iter().flat_map(Mlp::params));
        all.extend(&self.free_means);
        all.extend(&self.log_var);
        all.extend(self.prior.params());
        all.extend(&self.noise_log_var);
        all
    }

    /// `params()`, to change.
    pub(super) fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        let mut all = Vec::new();
        all.extend(self.encoder.iter_mut().flat_map(Mlp::params_mut));
        all.extend(self.log_var_head.iter_mut().flat_map(Linear::params_mut));
        all.extend(self.flow.iter_mut().flat_map(Invertible::params_mut));
        all.extend(self.decoder.iter_mut().flat_map(Mlp::params_mut));
        all.extend(&mut self.free_means);
        all.extend(&mut self.log_var);
        all.extend(self.prior.params_mut());
        all.extend(&mut self.noise_log_var);
        all
    }

    /// Where `p` sits in `params()`.
    pub(super) fn position(&self, p: &Param<E>) -> usize {
        self.params()
            .iter()
            .position(|q| std::ptr::eq(*q, p))
            .expect("a parameter of this model")
    }
}

/// A model compiled from a `ModelSpec`: its parts (layers and prior, each owning its
/// parameters), its optimiser state, and how to evaluate the objective.
pub struct Model<E: Real> {
    pub(super) spec: ModelSpec,
    pub(super) dev: Dev<E>,
    pub(super) net: Net<E>,
    /// Adam over every parameter: what `step` trains with.
    pub(super) optimiser: Adam<E>,
    /// Adam over the prior's parameters alone, for `step_prior`; made on first use.
    pub(super) prior_optimiser: Option<Adam<E>>,
    /// The β `step` weighs the KL term with: the model's β, or during a warm-up the
    /// value training sets each epoch.
    pub(super) beta: f64,
    /// The threads a step's chunks run on; without one, the current rayon pool's (the
    /// binary sizes the global pool by `--threads`).
    pub(super) pool: Option<std::sync::Arc<rayon::ThreadPool>>,
}

impl<E: Real> Model<E> {
    /// A fresh model for `spec`, for data with `rows` rows (Half-VAE needs the count),
    /// initialised from `seed`.
    pub fn new(spec: &ModelSpec, rows: usize, seed: u64) -> Self {
        // dfdx's allocation cache stays off: it is not safe to use from two threads at
        // once (`try_pop` checks for a buffer, then takes it under a second lock, and
        // panics when another thread took it in between), and the chunks of a step run
        // in parallel. The binary's allocator (mimalloc) keeps freed pages instead.
        let dev = E::device(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0f1a_7e00);
        let (m, n) = (spec.m(), spec.n());
        let vb = |name: &str| VarBuilder::new(&dev, name);
        let init = spec.train.init;

        let encoder = match &spec.encoder {
            Encoder::Mlp(layers) => {
                Some(vb("encoder").mlp(m, Activation::Identity, layers, n, init, &mut rng))
            }
            Encoder::None | Encoder::Invertible(_) => None,
        };
        let flow = match &spec.encoder {
            Encoder::Invertible(maps) => Some(Invertible::new(&vb("encoder"), n, maps, &mut rng)),
            Encoder::None | Encoder::Mlp(_) => None,
        };
        let log_var_head = match (&encoder, &spec.posterior_variance) {
            (Some(enc), PosteriorVariance::PerSample) => {
                let width = enc.output_width_of_hidden(m);
                let mut head = vb("encoder").pp("log_var").linear(width, n, init, &mut rng);
                // Start the head near log σ² = −2, the same start as the other modes.
                head.b.fill(-2.0);
                Some(head)
            }
            _ => None,
        };
        let decoder = flow
            .is_none()
            .then(|| vb("decoder").mlp(n, spec.decoder_input, &spec.decoder, m, init, &mut rng));
        let free_means = matches!(spec.encoder, Encoder::None).then(|| {
            vb("latent").add("means", rows, n, |_, _| {
                Distribution::<f64>::sample(&StandardNormal, &mut rng)
            })
        });
        // One σ² per dimension, or per sample when no encoder head gives it: its rows.
        let log_var_rows = match (&spec.posterior_variance, &spec.encoder) {
            (_, Encoder::Invertible(_)) => None,
            (PosteriorVariance::PerDimension, _) => Some(1),
            (PosteriorVariance::PerSample, Encoder::None) => Some(rows),
            _ => None,
        };
        let log_var = log_var_rows.map(|r| vb("posterior").add("log_var", r, n, |_, _| -2.0));

        let prior = prior::build(&spec.prior, n, &dev, &vb("prior"), &mut rng);
        // After the prior, so that the files of models without it keep their order. σ²
        // starts at 1, the variance of a standardised column that nothing explains yet.
        let noise_log_var = match spec.likelihood.learned_variances(m) {
            0 => None,
            k => Some(vb("likelihood").add("log_var", 1, k, |_, _| 0.0)),
        };

        let net = Net {
            encoder,
            flow,
            log_var_head,
            decoder,
            free_means,
            log_var,
            prior,
            noise_log_var,
        };
        let every_parameter = (0..net.params().len()).collect();
        Model {
            spec: spec.clone(),
            dev,
            net,
            optimiser: Adam::new(spec.train.lr, every_parameter),
            prior_optimiser: None,
            beta: spec.beta,
            pool: None,
        }
    }

    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    pub(super) fn tensor(&self, x: &Matrix) -> Mat<E> {
        tensor_of(&self.dev, row_major(x).into_iter(), x.dim())
    }

    /// The decoder's output g(z) for latent rows `z`.
    pub(super) fn decoded(&self, z: Traced<E>) -> Traced<E> {
        self.decoder().forward(z)
    }

    /// The decoder of a variational model (an invertible encoder has none: its inverse
    /// decodes, in `decode`).
    fn decoder(&self) -> &Mlp<E> {
        let decoder = self.net.decoder.as_ref();
        decoder.expect("a model without an invertible encoder has a decoder")
    }

    /// Posterior means and log-variances of the rows `y`, which are the rows `range` of
    /// the batch (Half-VAE reads those rows of its per-row parameters).
    pub(super) fn posterior(
        &self,
        y: &Mat<E>,
        range: Range<usize>,
    ) -> (Traced<E>, LogVariances<E>) {
        // A per-row parameter's rows for `range`: the whole tensor when it is all of it.
        let rows_of = |p: &Param<E>| {
            let t = p.traced();
            assert!(
                range.end <= t.shape().0,
                "Half-VAE's rows are those it was fitted to ({}), not {}",
                t.shape().0,
                range.end
            );
            match t.shape().0 == range.len() {
                true => t,
                false => t.slice((range.clone(), ..)),
            }
        };
        let n = self.spec.n();
        let mu = match (&self.net.encoder, &self.net.free_means) {
            (Some(enc), _) => {
                // The data get no gradient: nothing learns them.
                let y = y.clone().leaky_trace();
                if let Some(head) = &self.net.log_var_head {
                    let h = enc.hidden_forward(y, false);
                    let mu = enc.out.project(h.with_empty_tape());
                    let lv = head.project(h);
                    return (mu, LogVariances::Cells(clamp_log_var(lv)));
                }
                enc.apply(y, false)
            }
            (None, Some(means)) => rows_of(means),
            (None, None) => {
                unreachable!("Half-VAE has free means; the exact likelihood no posterior")
            }
        };
        // One log-variance a dimension stays a column of n until a (rows, n) tensor is
        // asked for (`LogVariances::cells`): the sample reads it as it is.
        let lv = match (&self.spec.posterior_variance, &self.net.log_var) {
            (PosteriorVariance::Fixed(v), _) => {
                let lv: Tensor<(usize,), E, Dev<E>> = self.dev.ones_like(&(n,)) * c::<E>(v.ln());
                LogVariances::Columns(clamp_log_var(lv.leaky_trace()))
            }
            (PosteriorVariance::PerDimension, Some(p)) => {
                LogVariances::Columns(clamp_log_var(p.traced().reshape_like(&(n,))))
            }
            (PosteriorVariance::PerSample, Some(p)) => {
                LogVariances::Cells(clamp_log_var(rows_of(p)))
            }
            _ => unreachable!("posterior variance parameters match the spec"),
        };
        (mu, lv)
    }

    /// The posterior means and standard deviations of rows the model was not fitted to
    /// (preprocessed as its training rows were): through the encoder, or, without one
    /// (Half-VAE), by fitting each row's latents against the frozen decoder and priors for
    /// as many steps as the model's epochs.
    pub fn encode_new(&self, y: &Matrix) -> (Matrix, Matrix) {
        let spec = self.spec();
        match spec.encoder {
            crate::spec::Encoder::None => self
                .fit_latents(y, spec.train.epochs, spec.train.seed)
                .encode(y),
            crate::spec::Encoder::Mlp(_) | crate::spec::Encoder::Invertible(_) => self.encode(y),
        }
    }

    /// Starts the posterior means at `targets` (rows × n) for the rows `y` (`train { start
    /// fastica }`): the encoder's output projection becomes the least-squares map (with a
    /// ridge) from its last hidden layer, at its initial weights, to the targets; with
    /// no hidden layer that is the linear unmixing itself. Without an encoder (Half-VAE) the
    /// free means are the targets. An invertible encoder starts as the least-squares
    /// affine map from `y` to the targets (exact when they are a linear unmixing of `y`).
    pub fn start_means_at(&mut self, y: &Matrix, targets: &Matrix) {
        if let Some(flow) = &mut self.net.flow {
            let (w, b) = least_squares_affine(y, targets);
            flow.start_at(&w, &b);
            return;
        }
        let Some(enc) = &self.net.encoder else {
            let means = self
                .net
                .free_means
                .as_mut()
                .expect("no encoder: free means");
            means.set(crate::matrix::values(targets));
            return;
        };
        let features = self.in_blocks(y, |x| enc.hidden_forward(x, false));
        let out = &mut self.net.encoder.as_mut().expect("checked above").out;
        fit_readout(out, &features, targets);
    }

    /// Starts the decoder at the map from the latents `z` (rows × n) back to the rows `y`
    /// (`train { start fastica_autoencoder }`, with z FastICA's sources): its output
    /// projection becomes the least-squares map (the same ridge) from its last hidden layer
    /// at z, at its initial weights, to y; with no hidden layer, the linear mixing that
    /// best explains y from z, shrunk by the ridge. Training then starts from an
    /// autoencoder that already reconstructs, instead of a random decoder whose first
    /// gradients pull the encoder away from the start.
    pub fn start_decoder_at(&mut self, z: &Matrix, y: &Matrix) {
        let dec = self.decoder();
        let features = self.in_blocks(z, |x| dec.hidden_forward(x, false));
        let decoder = self.net.decoder.as_mut().expect("checked by `decoder`");
        fit_readout(&mut decoder.out, &features, y);
    }

    /// `f` of the rows `x`, BLOCK_ROWS at a time (so that each block's graph is dropped
    /// before the next), as one matrix.
    fn in_blocks(&self, x: &Matrix, f: impl Fn(Traced<E>) -> Traced<E>) -> Matrix {
        let parts: Vec<Matrix> = blocks(x.nrows())
            .map(|rows| to_matrix(&f(self.tensor(&row_range(x, rows)).leaky_trace())))
            .collect();
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(ndarray::Axis(0), &views).expect("equal widths")
    }

    /// Relabels the latent coordinates: coordinate j of the new model is coordinate
    /// perm[j] of the old one. Encoder outputs, posterior-variance parameters and decoder
    /// inputs move; the prior stays where it is.
    pub fn permute_latents(&mut self, perm: &[usize]) {
        let net = &mut self.net;
        if let Some(flow) = &mut net.flow {
            flow.permute_outputs(perm);
            return;
        }
        // Parameters whose columns are the latent coordinates.
        let mut by_column: Vec<&mut Param<E>> = Vec::new();
        by_column.extend(net.encoder.iter_mut().flat_map(|e| e.out.params_mut()));
        by_column.extend(net.log_var_head.iter_mut().flat_map(Linear::params_mut));
        by_column.extend(net.free_means.iter_mut().chain(&mut net.log_var));
        for p in by_column {
            let moved = crate::matrix::select(&p.values_matrix(), ndarray::Axis(1), perm);
            p.set(crate::matrix::values(&moved));
        }
        // The first decoder layer's weight: its rows are the latent coordinates.
        let decoder = net
            .decoder
            .as_mut()
            .expect("no invertible encoder: a decoder");
        let first = match decoder.hidden.first_mut() {
            Some((l, _)) => &mut l.w,
            None => &mut decoder.out.w,
        };
        let moved = crate::matrix::select(&first.values_matrix(), ndarray::Axis(0), perm);
        first.set(crate::matrix::values(&moved));
    }

    /// `rows` draws from the fitted generative model: z from each dimension's prior, and
    /// the decoder's output g(z) (the mean of p(y|z); no observation noise).
    pub fn sample(&self, rows: usize, seed: u64) -> (Matrix, Matrix) {
        let mut rng = StdRng::seed_from_u64(seed);
        let priors = self.priors();
        let z = Matrix::from_shape_fn((rows, priors.len()), |(_, j)| priors[j].sample(&mut rng));
        let y = self.decode(&z);
        (z, y)
    }

    /// Posterior means and standard deviations of the rows `y` (for Half-VAE, `y` must be
    /// the rows its per-row parameters were fitted to: `fit_latents` makes them for new
    /// rows). An invertible encoder's sources are a function of the rows: sd 0.
    pub fn encode(&self, y: &Matrix) -> (Matrix, Matrix) {
        let n = self.spec.n();
        if let Some(flow) = &self.net.flow {
            let z = self.in_blocks(y, |x| flow.forward(x).0);
            return (z, Matrix::zeros((y.nrows(), n)));
        }
        let (mut means, mut sds) = (Vec::new(), Vec::new());
        for rows in blocks(y.nrows()) {
            let count = rows.len();
            let (mu, lv) = self.posterior(&self.tensor(&row_range(y, rows.clone())), rows);
            let lv = lv.cells(count);
            means.extend(to_matrix(&mu).iter());
            sds.extend(to_matrix(&lv).iter().map(|v| (0.5 * v).exp()));
        }
        (
            crate::matrix::from_row_major(y.nrows(), n, means),
            crate::matrix::from_row_major(y.nrows(), n, sds),
        )
    }

    /// The decoder's output for latent rows `z`: an invertible encoder's inverse, in f64
    /// (every cell not a number when one of its affine maps is singular).
    pub fn decode(&self, z: &Matrix) -> Matrix {
        if let Some(flow) = &self.net.flow {
            let z = z.as_standard_layout();
            let cells = z.as_slice().expect("a standard-layout matrix is one slice");
            let x = flow
                .inverse(cells)
                .unwrap_or_else(|| vec![f64::NAN; cells.len()]);
            return crate::matrix::from_row_major(z.nrows(), self.spec.m(), x);
        }
        let mut values = Vec::new();
        for rows in blocks(z.nrows()) {
            let zt = self.tensor(&row_range(z, rows)).leaky_trace();
            values.extend(to_matrix(&self.decoded(zt)).iter());
        }
        crate::matrix::from_row_major(z.nrows(), self.spec.m(), values)
    }

    /// Each dimension's fitted prior.
    pub fn priors(&self) -> Vec<PriorDensity> {
        self.net.prior.fitted()
    }

    /// Where a named part of the model sits in `parameters()` order, if the model has it.
    pub fn index_of(&self, part: Part) -> Option<usize> {
        let net = &self.net;
        let p = match part {
            Part::PriorLogits | Part::PriorMeans | Part::PriorLogVariances => net.prior.part(part),
            Part::LatentMeans => net.free_means.as_ref(),
            Part::PosteriorLogVariance => net.log_var.as_ref(),
            Part::DecoderOutputWeight => net.decoder.as_ref().map(|d| &d.out.w),
            Part::NoiseLogVariance => net.noise_log_var.as_ref(),
        };
        p.map(|p| net.position(p))
    }

    /// Names, shapes and values of every parameter.
    pub fn parameters(&self) -> Vec<ParamInfo> {
        self.net.params().iter().map(|p| p.info()).collect()
    }

    /// Whether every parameter entry is a finite number.
    pub fn parameters_finite(&self) -> bool {
        self.net
            .params()
            .iter()
            .all(|p| p.info().values.iter().all(|v| v.is_finite()))
    }

    /// Replaces the values of every parameter, in `parameters()` order (loading): one pass
    /// over the list, so that loading is linear in the number of layers.
    pub fn set_parameters<'v>(&mut self, values: impl IntoIterator<Item = &'v [f64]>) {
        for (p, v) in self.net.params_mut().into_iter().zip(values) {
            p.set(v);
        }
    }

    /// Replaces the values of parameter `i` (finite-difference checks).
    pub fn set_parameter(&mut self, i: usize, values: &[f64]) {
        self.net.params_mut()[i].set(values);
    }
}

/// `encode` and `decode` take this many rows at a time: each block's graph is dropped
/// before the next, so their memory does not grow with the rows (encoding 10⁶ rows at
/// once held about 1 GB of activations and their tapes).
pub(super) const BLOCK_ROWS: usize = 16_384;

/// Sets `out` to the least-squares map (weights and bias) from `features` (rows × width) to
/// `targets` (rows × outputs), with a strong ridge (1 % of the mean diagonal of the Gram
/// matrix): random hidden features are nearly collinear, and an exact fit needs large
/// output weights, which Adam's first steps (every parameter moves by about the learning
/// rate) would throw far off. Leaves `out` as it is where even the ridge leaves the Gram
/// matrix not positive definite.
fn fit_readout<E: Real>(out: &mut Linear<E>, features: &Matrix, targets: &Matrix) {
    let a = with_ones(features);
    let mut gram = a.transpose() * &a;
    let ridge = 1e-2 * gram.trace() / gram.nrows() as f64;
    for i in 0..gram.nrows() {
        gram[(i, i)] += ridge;
    }
    let rhs = a.transpose() * crate::matrix::to_nalgebra(targets);
    let Some(solution) = gram.cholesky().map(|c| c.solve(&rhs)) else {
        return;
    };
    let (weights, bias) = weights_and_bias(&solution, features.ncols());
    out.w.set(&weights);
    out.b.set(&bias);
}

/// The affine map (W, b), both row-major, with x·W + b closest to `targets` in least
/// squares over the rows of `x`: the map that gives FastICA's sources, found from them.
fn least_squares_affine(x: &Matrix, targets: &Matrix) -> (Vec<f64>, Vec<f64>) {
    let solution = with_ones(x)
        .svd(true, true)
        .solve(&crate::matrix::to_nalgebra(targets), 1e-12)
        .expect("both factors were computed");
    weights_and_bias(&solution, x.ncols())
}

/// `x` with a column of ones beside it: the design matrix of an affine least-squares fit.
fn with_ones(x: &Matrix) -> nalgebra::DMatrix<f64> {
    let ones = Matrix::ones((x.nrows(), 1));
    crate::matrix::to_nalgebra(&crate::matrix::beside(x, &ones))
}

/// An affine fit's solution ((width + 1) × outputs, the bias in the last row) as the
/// weights, row-major (width × outputs), and the bias.
fn weights_and_bias(solution: &nalgebra::DMatrix<f64>, width: usize) -> (Vec<f64>, Vec<f64>) {
    let outputs = solution.ncols();
    let weights = (0..width * outputs)
        .map(|i| solution[(i / outputs, i % outputs)])
        .collect();
    let bias = (0..outputs).map(|j| solution[(width, j)]).collect();
    (weights, bias)
}

fn blocks(rows: usize) -> impl Iterator<Item = Range<usize>> {
    (0..rows)
        .step_by(BLOCK_ROWS)
        .map(move |start| start..(start + BLOCK_ROWS).min(rows))
}

/// A matrix's numbers row by row in the element type. A step converts its data and noise
/// this way: from the row-major slice in one loop that vectorises, where ndarray's element
/// iterator would not (a matrix not row-major already is copied into that order first).
pub(super) fn row_major<E: Real>(x: &Matrix) -> Vec<E> {
    let x = x.as_standard_layout();
    let values = x.as_slice().expect("a standard-layout matrix is one slice");
    values.iter().map(|&v| c(v)).collect()
}
