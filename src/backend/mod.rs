//! The dfdx backend: the only code that knows dfdx.
//!
//! A `ModelSpec` compiles to a list of run-time-shaped parameter tensors and the recipe
//! that combines them into the objective of the paper (eq. 39):
//!
//! L = (1/Tm) Σ‖ŷ_t − y_t‖² + β (log q(Z̃|Y) − log p(Z̃)) / (Tm),   z̃ = μ + σ ⊙ ε,
//!
//! or, with a Gaussian likelihood of noise variance σ²_i per column (eq. 25–26), the
//! negative ELBO per number: the first term becomes
//! (1/Tm) Σ_t Σ_i [(ŷ_ti − y_ti)²/(2σ²_i) + ½ log(2πσ²_i)].
//!
//! dfdx 0.13's `nn` modules and optimisers need compile-time shapes, so parameters are
//! plain `(usize, usize)` tensors stepped with dfdx's own Adam kernel, with the moments
//! kept in `Gradients::leaky()`. Every parameter starts its chain with `leaky_trace()`, so
//! none loses its gradient. The element type is generic: f32 for training, f64 for the
//! gradient checks and the property tests.

mod fused;
mod optim;
mod params;
mod prior;

use crate::matrix::{row_range, Matrix};
use crate::numeric::LN_2PI;
pub use crate::numeric::{Mixture, PriorDensity};
use crate::spec::{
    Activation, Bound, Encoder, KlEstimate, Likelihood, ModelSpec, PosteriorVariance,
};
use dfdx::prelude::*;
use optim::Adam;
use params::{Linear, Mlp, Param, VarBuilder};
use prior::PriorFamily;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::ops::Range;

pub use optim::AdamState;
pub use params::ParamInfo;

/// How many numbers the parameters of `spec`'s model hold, part by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterCounts {
    /// The encoder's layers (and its per-sample variance head).
    pub encoder: u128,
    /// The decoder's layers and the likelihood's learned noise variances: p(y | z).
    pub decoder: u128,
    /// Posterior parameters: Half-VAE's per-row means and variances, or the per-dimension
    /// variances.
    pub latents: u128,
    pub prior: u128,
}

impl ParameterCounts {
    pub fn total(&self) -> Option<u128> {
        self.encoder
            .checked_add(self.decoder)?
            .checked_add(self.latents)?
            .checked_add(self.prior)
    }
}

/// The parameter counts of `spec`'s model for data with `rows` rows (Half-VAE's latents
/// grow with the rows), computed without building it. `None` when a count overflows.
/// `tests/backend.rs` holds the total equal to the built model's.
pub fn parameter_counts(spec: &ModelSpec, rows: usize) -> Option<ParameterCounts> {
    let (m, n) = (spec.m() as u128, spec.n() as u128);
    let rows = rows as u128;
    // Hidden layers from `inputs`, then a projection to `outputs`: (count, last width).
    let mlp = |inputs: u128, layers: &[crate::spec::Dense], outputs: u128| {
        let mut width = inputs;
        let mut count: u128 = 0;
        for layer in layers {
            let w = layer.width as u128;
            count = count.checked_add(width.checked_mul(w)?.checked_add(w)?)?;
            width = w;
        }
        Some((
            count.checked_add(width.checked_mul(outputs)?.checked_add(outputs)?)?,
            width,
        ))
    };
    let per_sample = spec.posterior_variance == PosteriorVariance::PerSample;
    let (encoder, latents) = match &spec.encoder {
        Encoder::Mlp(layers) => {
            let (count, width) = mlp(m, layers, n)?;
            let head = match per_sample {
                true => width.checked_mul(n)?.checked_add(n)?,
                false => 0,
            };
            (count.checked_add(head)?, 0)
        }
        Encoder::None => {
            let means = rows.checked_mul(n)?;
            (
                0,
                if per_sample {
                    means.checked_mul(2)?
                } else {
                    means
                },
            )
        }
    };
    let latents = match spec.posterior_variance {
        PosteriorVariance::PerDimension => latents.checked_add(n)?,
        _ => latents,
    };
    Some(ParameterCounts {
        encoder,
        decoder: mlp(n, &spec.decoder, m)?
            .0
            .checked_add(spec.likelihood.learned_variances(spec.m()) as u128)?,
        latents,
        prior: prior::parameter_count(&spec.prior, spec.n())?,
    })
}

/// How many numbers the parameters of `spec`'s model hold for data with `rows` rows: the
/// sizes of a fitted-model file are checked against this before anything is allocated.
pub fn parameter_count(spec: &ModelSpec, rows: usize) -> Option<u128> {
    parameter_counts(spec, rows)?.total()
}

/// Log-variances are clamped to this range: exp stays finite and no variance reaches 0.
pub const LOG_VAR_RANGE: (f64, f64) = crate::spec::LOG_VARIANCE_RANGE;

/// The dfdx device tensors of element type E live on: dfdx's `Cpu`. Named through the
/// sealed `Engine`, whose associated type carries the bound `Device<E>`, so that generic
/// code needs no `where Cpu: Device<E>` (a where-clause on another type is never implied,
/// and would show in every public signature of `Model`).
pub(crate) type Dev<E> = <E as sealed::Engine>::Device;
pub(crate) type Mat<E> = Tensor<(usize, usize), E, Dev<E>>;
pub(crate) type Traced<E> = Tensor<(usize, usize), E, Dev<E>, OwnedTape<E, Dev<E>>>;
pub(crate) type Scalar<E> = Tensor<(), E, Dev<E>, OwnedTape<E, Dev<E>>>;
pub(crate) type Traced1<E> = Tensor<(usize,), E, Dev<E>, OwnedTape<E, Dev<E>>>;
/// A traced tensor of any shape.
pub(crate) type TracedOf<S, E> = Tensor<S, E, Dev<E>, OwnedTape<E, Dev<E>>>;

/// The dfdx bound, kept out of the public signatures: `Real` is sealed on it, so code
/// outside the backend sees only `Real` (f32 to train, f64 to check) and cannot name dfdx.
mod sealed {
    use dfdx::tensor::{Cpu, Storage};

    pub trait Engine: dfdx::dtypes::Dtype {
        /// dfdx's `Cpu`, with the bound every op needs.
        type Device: dfdx::tensor_ops::Device<Self> + Send + Sync;

        /// A device whose random draws start from `seed`.
        fn device(seed: u64) -> Self::Device;

        /// The numbers of a gradient buffer (the fused ops' backward passes write them in
        /// place). Stated per type because in generic code the device's buffer type does
        /// not resolve to dfdx's Vec wrapper.
        fn cells(buffer: &mut <Self::Device as Storage<Self>>::Vec) -> &mut [Self];

        /// tanh as the fused kernels compute it: for f32 a rational approximation whose
        /// loops vectorise, for f64 (the gradient checks) the library's own.
        fn kernel_tanh(self) -> Self;

        /// e^x as the fused kernels compute it: the same split as `kernel_tanh`.
        fn kernel_exp(self) -> Self;
    }
    impl Engine for f32 {
        type Device = Cpu;
        fn device(seed: u64) -> Cpu {
            Cpu::seed_from_u64(seed)
        }
        fn cells(buffer: &mut <Cpu as Storage<f32>>::Vec) -> &mut [f32] {
            buffer
        }
        #[inline]
        fn kernel_tanh(self) -> f32 {
            super::fused::tanh_f32(self)
        }
        #[inline]
        fn kernel_exp(self) -> f32 {
            super::fused::exp_f32(self)
        }
    }
    impl Engine for f64 {
        type Device = Cpu;
        fn device(seed: u64) -> Cpu {
            Cpu::seed_from_u64(seed)
        }
        fn cells(buffer: &mut <Cpu as Storage<f64>>::Vec) -> &mut [f64] {
            buffer
        }
        #[inline]
        fn kernel_tanh(self) -> f64 {
            self.tanh()
        }
        #[inline]
        fn kernel_exp(self) -> f64 {
            self.exp()
        }
    }
}

/// Element types the backend runs in: f32 and f64, no others. The fused kernels compute
/// with them directly (`num_traits::Float`).
pub trait Real: sealed::Engine + num_traits::Float + std::fmt::Display + 'static {}
impl Real for f32 {}
impl Real for f64 {}

pub(crate) fn c<E: Real>(x: f64) -> E {
    E::from_f64(x).expect("a finite constant fits the element type")
}

/// The objective's terms for one step, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Terms {
    /// L, eq. 39 (averaged over the Monte-Carlo samples).
    pub loss: f64,
    /// (1/Tm) Σ‖ŷ − y‖².
    pub reconstruction: f64,
    /// log q(Z̃|Y) / (Tm): the posterior part of the KL estimate.
    pub log_q: f64,
    /// log p(Z̃) / (Tm): the prior part of the KL estimate.
    pub log_p: f64,
}

impl Terms {
    /// (log q − log p)/(Tm), the single-sample KL estimate β multiplies.
    pub fn kl(&self) -> f64 {
        self.log_q - self.log_p
    }

    /// self += w · other
    pub fn add_scaled(&mut self, other: &Terms, w: f64) {
        self.loss += w * other.loss;
        self.reconstruction += w * other.reconstruction;
        self.log_q += w * other.log_q;
        self.log_p += w * other.log_p;
    }
}

/// What one optimiser step reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The objective before the step.
    pub terms: Terms,
    /// Mean posterior variance σ_j² of each dimension over the step's rows.
    pub posterior_variances: Vec<f64>,
    /// The likelihood's learned noise variances (one per column, or one shared); empty
    /// when nothing is learned.
    pub noise_variances: Vec<f64>,
    /// Whether the parameters moved: not when the objective or a gradient entry was not
    /// finite (they keep their last finite values).
    pub applied: bool,
}

/// Parameters that code outside the backend addresses by what they are (the theory
/// probes set them directly), never by their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// (rows, K) prior log-weights before the softmax; rows = 1 shared, n otherwise.
    PriorLogits,
    PriorMeans,
    PriorLogVariances,
    /// Half-VAE's (T, n) free posterior means.
    LatentMeans,
    /// The posterior log-variance parameter ((1, n) per dimension, (T, n) per sample).
    PosteriorLogVariance,
    /// The decoder's last (output) weight matrix.
    DecoderOutputWeight,
    /// The likelihood's learned log σ²: (1, m), or (1, 1) shared.
    NoiseLogVariance,
}

/// The model's parts, each owning its parameters: apart from the optimisers, so that a
/// step can lend the optimiser every parameter.
struct Net<E: Real> {
    encoder: Option<Mlp<E>>,
    /// Per-sample log σ² head on the encoder's last hidden layer.
    log_var_head: Option<Linear<E>>,
    decoder: Mlp<E>,
    /// Half-VAE: the T×n posterior means.
    free_means: Option<Param<E>>,
    /// The posterior log-variance parameter: (1, n) per dimension, or (T, n) per sample
    /// without an encoder.
    log_var: Option<Param<E>>,
    /// The prior family (or families) of the latent dimensions.
    prior: Box<dyn PriorFamily<E> + Send + Sync>,
    /// The likelihood's learned log σ² ((1, m), or (1, 1) shared), if it learns them.
    noise_log_var: Option<Param<E>>,
}

impl<E: Real> Net<E> {
    /// Every parameter, in the one fixed order of the saved file, the optimiser's moments
    /// and `Model::parameters()`: the encoder (its per-sample variance head last), the
    /// decoder, Half-VAE's means, the posterior variance, the prior, the likelihood's noise.
    fn params(&self) -> Vec<&Param<E>> {
        let mut all = Vec::new();
        all.extend(self.encoder.iter().flat_map(Mlp::params));
        all.extend(self.log_var_head.iter().flat_map(Linear::params));
        all.extend(self.decoder.params());
        all.extend(&self.free_means);
        all.extend(&self.log_var);
        all.extend(self.prior.params());
        all.extend(&self.noise_log_var);
        all
    }

    /// `params()`, to change.
    fn params_mut(&mut self) -> Vec<&mut Param<E>> {
        let mut all = Vec::new();
        all.extend(self.encoder.iter_mut().flat_map(Mlp::params_mut));
        all.extend(self.log_var_head.iter_mut().flat_map(Linear::params_mut));
        all.extend(self.decoder.params_mut());
        all.extend(&mut self.free_means);
        all.extend(&mut self.log_var);
        all.extend(self.prior.params_mut());
        all.extend(&mut self.noise_log_var);
        all
    }

    /// Where `p` sits in `params()`.
    fn position(&self, p: &Param<E>) -> usize {
        self.params()
            .iter()
            .position(|q| std::ptr::eq(*q, p))
            .expect("a parameter of this model")
    }
}

/// A model compiled from a `ModelSpec`: its parts (layers and prior, each owning its
/// parameters), its optimiser state, and how to evaluate the objective.
pub struct Model<E: Real> {
    spec: ModelSpec,
    dev: Dev<E>,
    net: Net<E>,
    /// Adam over every parameter: what `step` trains with.
    optimiser: Adam<E>,
    /// Adam over the prior's parameters alone, for `step_prior`; made on first use.
    prior_optimiser: Option<Adam<E>>,
    /// The β `step` weighs the KL term with: the model's β, or during a warm-up the
    /// value training sets each epoch.
    beta: f64,
    /// The threads a step's chunks run on; without one, the current rayon pool's (the
    /// binary sizes the global pool by `--threads`).
    pool: Option<std::sync::Arc<rayon::ThreadPool>>,
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

        let encoder = match &spec.encoder {
            Encoder::Mlp(layers) => Some(vb("encoder").mlp(m, layers, n, &mut rng)),
            Encoder::None => None,
        };
        let log_var_head = match (&encoder, &spec.posterior_variance) {
            (Some(enc), PosteriorVariance::PerSample) => {
                let width = enc.output_width_of_hidden(m);
                let mut head = vb("encoder").pp("log_var").linear(width, n, &mut rng);
                // Start the head near log σ² = −2, the same start as the other modes.
                head.b.fill(-2.0);
                Some(head)
            }
            _ => None,
        };
        let decoder = vb("decoder").mlp(n, &spec.decoder, m, &mut rng);
        let free_means = encoder.is_none().then(|| {
            vb("latent").add("means", rows, n, |_, _| {
                Distribution::<f64>::sample(&StandardNormal, &mut rng)
            })
        });
        // One σ² per dimension, or per sample when no encoder head gives it: its rows.
        let log_var_rows = match (&spec.posterior_variance, &encoder) {
            (PosteriorVariance::PerDimension, _) => Some(1),
            (PosteriorVariance::PerSample, None) => Some(rows),
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

    fn tensor(&self, x: &Matrix) -> Mat<E> {
        tensor_of(&self.dev, x.iter().map(|&v| c(v)), x.dim())
    }

    /// x·W + b, then the activation: the product is dfdx's, the rest one fused op.
    fn dense(&self, x: Traced<E>, l: &Linear<E>, act: Activation) -> Traced<E> {
        fused::bias_activation(x.matmul(l.w.traced()), l.b.traced(), act)
    }

    fn linear(&self, x: Traced<E>, l: &Linear<E>) -> Traced<E> {
        self.dense(x, l, Activation::Identity)
    }

    /// The MLP's hidden layers, then its output projection (kept apart so the per-sample
    /// variance head can share the hidden layers).
    fn hidden(&self, mut x: Traced<E>, mlp: &Mlp<E>) -> Traced<E> {
        for (l, act) in &mlp.hidden {
            x = self.dense(x, l, *act);
        }
        x
    }

    /// The decoder's output g(z) for latent rows `z`.
    fn decoded(&self, z: Traced<E>) -> Traced<E> {
        self.linear(self.hidden(z, &self.net.decoder), &self.net.decoder.out)
    }

    /// Posterior means and log-variances of the rows `y`, which are the rows `range` of
    /// the batch (Half-VAE reads those rows of its per-row parameters).
    fn posterior(&self, y: &Mat<E>, range: Range<usize>) -> (Traced<E>, Traced<E>) {
        let rows = y.shape().0;
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
                let h = self.hidden(y.clone().leaky_trace(), enc);
                if let Some(head) = &self.net.log_var_head {
                    let mu = self.linear(h.with_empty_tape(), &enc.out);
                    let lv = self.linear(h, head);
                    return (mu, clamp_log_var(lv));
                }
                self.linear(h, &enc.out)
            }
            (None, Some(means)) => rows_of(means),
            (None, None) => unreachable!("a model without an encoder has free means"),
        };
        let lv = match (&self.spec.posterior_variance, &self.net.log_var) {
            (PosteriorVariance::Fixed(v), _) => {
                let lv: Mat<E> = self.dev.ones_like(&(rows, n)) * c::<E>(v.ln());
                lv.leaky_trace()
            }
            (PosteriorVariance::PerDimension, Some(p)) => p
                .traced()
                .reshape_like(&(n,))
                .broadcast_like::<_, Axis<0>>(&(rows, n)),
            (PosteriorVariance::PerSample, Some(p)) => rows_of(p),
            _ => unreachable!("posterior variance parameters match the spec"),
        };
        (mu, clamp_log_var(lv))
    }

    /// Σ_t Σ_j log p_j(z_tj), each p_j the dimension's prior (eq. 21–22).
    fn log_prior(&self, z: Traced<E>) -> Scalar<E> {
        self.log_prior_elements(z).sum()
    }

    /// log p_j(z_tj) for every row t and dimension j, as a (rows, n) tensor.
    fn log_prior_elements(&self, z: Traced<E>) -> Traced<E> {
        self.net.prior.log_density(z)
    }

    /// log N(z̃_tj | μ_tj, σ²_tj) for every row and dimension. With z̃ − μ = σε exactly, the
    /// quadratic term is ε²/2, which keeps the gradient the reparameterised one.
    fn log_q_elements(&self, lv: Traced<E>, e: &Matrix) -> Traced<E> {
        let constant = e.map(|x| -0.5 * LN_2PI - 0.5 * x * x);
        lv * c::<E>(-0.5) + self.tensor(&constant)
    }

    /// log q(z̃_tj) − log p_j(z̃_tj) for every row and dimension, for the noise `e`: the
    /// summands of the objective's KL term, computed by the same code.
    pub fn kl_elements(&self, y: &Matrix, e: &Matrix) -> Matrix {
        let (mu, lv) = self.posterior(&self.tensor(y), 0..y.nrows());
        let sd = (lv.with_empty_tape() * c::<E>(0.5)).exp();
        let z = mu + sd * self.tensor(e);
        to_matrix(&(self.log_q_elements(lv, e) - self.log_prior_elements(z)))
    }

    /// The objective's share from the rows `chunk.nrows()` of a batch of `chunk.of` rows:
    /// `y` holds those rows, and `eps` their noise, one ε matrix (rows × n) per
    /// Monte-Carlo sample. Every term is divided by the whole batch's size, so the shares
    /// of a batch's chunks add up to its objective. Returns the traced loss and its terms
    /// as numbers.
    fn objective(&self, y: &Matrix, eps: &[Matrix], chunk: &Chunk) -> (Scalar<E>, Step) {
        assert!(!eps.is_empty(), "at least one Monte-Carlo sample");
        assert_eq!(y.nrows(), chunk.rows.len(), "y holds the chunk's rows");
        let yt = self.tensor(y);
        let (rows, m) = (y.nrows(), y.ncols());
        let n = self.spec.n();
        let scale = 1.0 / (chunk.of * m) as f64;
        let beta = self.beta;
        let samples = eps.len() as f64;
        let (mu, lv) = self.posterior(&yt, chunk.rows.clone());
        let lv_values = lv.as_vec();
        let posterior_variances = (0..n)
            .map(|j| {
                (0..rows)
                    .map(|r| lv_values[r * n + j].to_f64().unwrap_or(f64::NAN).exp())
                    .sum::<f64>()
                    / chunk.of as f64
            })
            .collect();
        let mut total: Option<Scalar<E>> = None;
        let mut terms = Terms::default();
        // For the importance-weighted bound: each sample's loss per row.
        let iwae = self.spec.train.bound == Bound::Iwae;
        let mut row_losses: Vec<Traced1<E>> = Vec::new();
        // With `kl quadrature` the KL term is computed once, after the samples, from these
        // copies of μ and the original log σ² (the samples then leave log σ² alone).
        let quadrature = match self.spec.kl {
            KlEstimate::Quadrature(h) => Some(crate::numeric::Quadrature::gauss_hermite(h)),
            KlEstimate::Sample => None,
        };
        assert!(
            !(iwae && quadrature.is_some()),
            "the checker refuses iwae with quadrature"
        );
        let mu_copy = mu.with_empty_tape();
        // A tensor's tape holds the ops that made it: copies made with `with_empty_tape`
        // share its gradient only if the original itself reaches the loss, so the last
        // sample consumes the originals.
        let (mut mu, mut lv) = (Some(mu), Some(lv));
        for (s, e) in eps.iter().enumerate() {
            assert_eq!(
                (e.nrows(), e.ncols()),
                (rows, n),
                "ε has one row per data row"
            );
            let last = s + 1 == eps.len();
            let use_once = |t: &mut Option<Traced<E>>| match last {
                true => t.take().expect("consumed once"),
                false => t.as_ref().expect("still held").with_empty_tape(),
            };
            let et = self.tensor(e);
            let sd = (lv.as_ref().expect("held").with_empty_tape() * c::<E>(0.5)).exp();
            let z = use_once(&mut mu) + sd * et;
            if quadrature.is_some() {
                // Only the reconstruction is sampled.
                let (rec, squared_error) = self.reconstruction(self.decoded(z) - yt.clone(), scale);
                terms.reconstruction += squared_error / samples;
                total = Some(plus(total, rec * c::<E>(1.0 / samples)));
                continue;
            }
            let lv_s = use_once(&mut lv);
            let y_hat = self.decoded(z.with_empty_tape());
            if iwae {
                let (cells, squared_error) = self.reconstruction_cells(y_hat - yt.clone());
                let log_q = self.log_q_elements(lv_s, e);
                let log_p = self.log_prior_elements(z);
                let q_v = value(&log_q.with_empty_tape().sum::<(), _>());
                let p_v = value(&log_p.with_empty_tape().sum::<(), _>());
                terms.reconstruction += squared_error * scale / samples;
                terms.log_q += q_v * scale / samples;
                terms.log_p += p_v * scale / samples;
                row_losses.push(
                    cells.sum::<(usize,), Axis<1>>()
                        + (log_q - log_p).sum::<(usize,), Axis<1>>() * c::<E>(beta),
                );
                continue;
            }
            let (rec, squared_error) = self.reconstruction(y_hat - yt.clone(), scale);
            let log_q = self.log_q_elements(lv_s, e).sum::<(), _>();
            let log_p = self.log_prior(z);
            let (q_v, p_v) = (value(&log_q), value(&log_p));
            terms.reconstruction += squared_error / samples;
            terms.log_q += q_v * scale / samples;
            terms.log_p += p_v * scale / samples;
            let loss = (rec + (log_q - log_p) * c::<E>(beta * scale)) * c::<E>(1.0 / samples);
            total = Some(plus(total, loss));
        }
        if iwae {
            total = Some(importance_weighted(row_losses, scale));
        }
        if let Some(q) = &quadrature {
            let lv = lv.take().expect("the samples leave log σ² to the KL term");
            let (log_q, log_p) = self.expected_kl_terms(mu_copy, lv, q);
            let (q_v, p_v) = (value(&log_q), value(&log_p));
            terms.log_q = q_v * scale;
            terms.log_p = p_v * scale;
            let kl = (log_q - log_p) * c::<E>(beta * scale);
            total = Some(total.expect("at least one sample") + kl);
        }
        let loss = total.expect("at least one sample");
        terms.loss = value(&loss);
        let noise_variances = self.net.noise_log_var.as_ref().map_or_else(Vec::new, |p| {
            let (lo, hi) = self.noise_log_var_range();
            p.values().iter().map(|&v| v.clamp(lo, hi).exp()).collect()
        });
        (
            loss,
            Step {
                terms,
                posterior_variances,
                noise_variances,
                applied: false,
            },
        )
    }

    /// `kl quadrature`: Σ_tj E_q[log q(z_tj)] in closed form, −½(log 2πσ² + 1), and
    /// Σ_tj E_q[log p_j(z_tj)] by the rule's nodes, z = μ + σε_h, through the same prior
    /// code as the sampled estimate. `mu` is a copy (μ's own tape reaches the loss through
    /// the reconstruction); `lv` is the original, which reaches it here.
    fn expected_kl_terms(
        &self,
        mu: Traced<E>,
        lv: Traced<E>,
        rule: &crate::numeric::Quadrature,
    ) -> (Scalar<E>, Scalar<E>) {
        let mut log_p: Option<Scalar<E>> = None;
        for (&node, &weight) in rule.nodes.iter().zip(&rule.weights) {
            let sd = (lv.with_empty_tape() * c::<E>(0.5)).exp();
            let z = mu.with_empty_tape() + sd * c::<E>(node);
            log_p = Some(plus(log_p, self.log_prior(z) * c::<E>(weight)));
        }
        let log_p = log_p.expect("at least one node");
        let cells = (lv.shape().0 * lv.shape().1) as f64;
        let log_q = lv.sum::<(), _>() * c::<E>(-0.5) - c::<E>(0.5 * (LN_2PI + 1.0) * cells);
        (log_q, log_p)
    }

    /// The range a learned noise log-variance is clamped to: from log of the floor.
    fn noise_log_var_range(&self) -> (f64, f64) {
        match self.spec.likelihood {
            Likelihood::LearnedGaussian { floor, .. } => (floor.ln(), LOG_VAR_RANGE.1),
            _ => LOG_VAR_RANGE,
        }
    }

    /// The reconstruction term of the loss for the residuals ŷ − y (rows × m), already
    /// multiplied by `scale` = 1/(Tm), and the squared error (1/Tm) Σ(ŷ − y)² as a number
    /// (what the trace calls reconstruction, whatever the likelihood).
    fn reconstruction(&self, residual: Traced<E>, scale: f64) -> (Scalar<E>, f64) {
        let (cells, squared_error) = self.reconstruction_cells(residual);
        (cells.sum::<(), _>() * c::<E>(scale), squared_error * scale)
    }

    /// −log p(y_ti | z_t) for every row and column, up to eq. 39's convention: the squared
    /// error itself for `likelihood mse`, (ŷ − y)²/(2σ²) + ½ log 2πσ² for a Gaussian. Also
    /// the sum of squared errors, as a number.
    fn reconstruction_cells(&self, residual: Traced<E>) -> (Traced<E>, f64) {
        let (rows, m) = *residual.shape();
        let squared = residual.square();
        let squared_error = value(&squared.with_empty_tape().sum::<(), _>());
        let cells = match (self.spec.likelihood, &self.net.noise_log_var) {
            (Likelihood::SquaredError, _) => squared,
            (Likelihood::Gaussian(variance), _) => {
                squared * c::<E>(1.0 / (2.0 * variance)) + c::<E>(0.5 * (variance.ln() + LN_2PI))
            }
            (Likelihood::LearnedGaussian { .. }, Some(p)) => {
                let k = p.shape().1;
                let (lo, hi) = self.noise_log_var_range();
                let lv = p.traced().clamp(lo, hi);
                let lv: Traced<E> = match k {
                    1 => lv
                        .reshape_like(&())
                        .broadcast_like::<_, Axes2<0, 1>>(&(rows, m)),
                    _ => lv
                        .reshape_like(&(m,))
                        .broadcast_like::<_, Axis<0>>(&(rows, m)),
                };
                let precision = (lv.with_empty_tape().negate().exp()) * c::<E>(0.5);
                squared * precision + lv * c::<E>(0.5) + c::<E>(0.5 * LN_2PI)
            }
            (Likelihood::LearnedGaussian { .. }, None) => {
                unreachable!("a learned likelihood has its noise parameter")
            }
        };
        (cells, squared_error)
    }

    /// Draws the reparameterisation noise for `rows` rows.
    pub fn draw_noise(&self, rows: usize, rng: &mut StdRng) -> Vec<Matrix> {
        let n = self.spec.n();
        (0..self.spec.train.samples)
            .map(|_| {
                Matrix::from_shape_fn((rows, n), |(_, _)| {
                    Distribution::<f64>::sample(&StandardNormal, rng)
                })
            })
            .collect()
    }

    /// Runs the chunks of each step on `pool` (whose size then decides how many run at
    /// once; the numbers do not depend on it).
    /// `None`: on the current pool again (a fitted model holds no threads).
    pub fn run_on(&mut self, pool: Option<std::sync::Arc<rayon::ThreadPool>>) {
        self.pool = pool;
    }

    /// The objective's value and terms, without a step.
    pub fn evaluate(&self, y: &Matrix, eps: &[Matrix]) -> Terms {
        self.objective(y, eps, &Chunk::all(y.nrows())).1.terms
    }

    /// The objective over the rows `y` and its gradients, computed chunk by chunk
    /// ([`Chunk::plan`]): the chunks run in parallel on the current rayon pool, and their
    /// terms and gradients are added in chunk order, so the result does not depend on
    /// the number of threads.
    fn backward(&self, y: &Matrix, eps: &[Matrix]) -> (Step, Gradients<E, Dev<E>>) {
        use rayon::prelude::*;
        let chunks = Chunk::plan(y.nrows());
        let run = |chunk: &Chunk| {
            let rows = |m: &Matrix| crate::matrix::row_range(m, chunk.rows.clone());
            let noise: Vec<Matrix> = eps.iter().map(rows).collect();
            let (loss, step) = self.objective(&rows(y), &noise, chunk);
            (step, loss.backward())
        };
        let parts = match &self.pool {
            Some(pool) => pool.install(|| chunks.par_iter().map(run).collect::<Vec<_>>()),
            None => chunks.par_iter().map(run).collect::<Vec<_>>(),
        };
        let mut parts = parts.into_iter();
        let (mut step, mut grads) = parts.next().expect("at least one chunk");
        for (other, mut other_grads) in parts {
            step.terms.add_scaled(&other.terms, 1.0);
            for (v, o) in step
                .posterior_variances
                .iter_mut()
                .zip(&other.posterior_variances)
            {
                *v += o;
            }
            for p in self.net.params() {
                let p = p.value();
                let from = other_grads.get_or_alloc_mut(p).expect("gradient buffer");
                let from = E::cells(from).to_vec();
                let into = grads.get_or_alloc_mut(p).expect("gradient buffer");
                fused::add_into(E::cells(into), &from);
            }
        }
        (step, grads)
    }

    /// The objective and its gradient with respect to every parameter, in `parameters()` order.
    pub fn gradients(&self, y: &Matrix, eps: &[Matrix]) -> (Terms, Vec<Vec<f64>>) {
        let (Step { terms, .. }, mut grads) = self.backward(y, eps);
        let g = self
            .net
            .params()
            .into_iter()
            .map(|p| {
                let p = p.value();
                // A parameter the loss does not reach gets a zero gradient, not a panic.
                grads.get_or_alloc_mut(p).expect("gradient buffer");
                grads
                    .get(p)
                    .as_vec()
                    .iter()
                    .map(|x| x.to_f64().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        (terms, g)
    }

    /// One Adam step on the objective; reports the terms before the step.
    pub fn step(&mut self, y: &Matrix, eps: &[Matrix]) -> Step {
        let (mut step, grads) = self.backward(y, eps);
        // A non-finite objective moves nothing; the caller decides whether training goes on.
        step.applied =
            step.terms.loss.is_finite() && self.optimiser.step(&mut self.net.params_mut(), grads);
        step
    }

    /// One Adam step of the prior parameters alone towards maximum likelihood of the
    /// latent values `z` (rows × n): loss −(1/rows) Σ log p(z), through the same prior
    /// code as training. Returns the loss before the step.
    pub fn step_prior(&mut self, z: &Matrix) -> f64 {
        let zt = self.tensor(z).leaky_trace();
        let loss = self.log_prior(zt) * c::<E>(-1.0 / z.nrows() as f64);
        let before = value(&loss);
        let prior = self.net.prior.params();
        let prior = prior.iter().map(|p| self.net.position(p)).collect();
        let lr = self.spec.train.lr;
        self.prior_optimiser
            .get_or_insert_with(|| Adam::new(lr, prior))
            .step(&mut self.net.params_mut(), loss.backward());
        before
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
            crate::spec::Encoder::Mlp(_) => self.encode(y),
        }
    }

    /// A copy of this fitted model for `rows` new data rows whose own latent parameters
    /// (Half-VAE's means and per-sample variances) are fitted by `steps` Adam steps of the
    /// objective while the decoder, the priors and the shared variances stay frozen.
    /// A model with an encoder needs no fitting: use `encode` directly.
    pub fn fit_latents(&self, y: &Matrix, steps: usize, seed: u64) -> Model<E> {
        let mut fresh = Model::<E>::new(&self.spec, y.nrows(), seed);
        let own = self.per_row_parameters();
        for (i, (to, from)) in fresh
            .net
            .params_mut()
            .into_iter()
            .zip(self.net.params())
            .enumerate()
        {
            if !own.contains(&i) {
                to.set(&from.values());
            }
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut adam = Adam::new(self.spec.train.lr, own);
        for _ in 0..steps {
            let eps = fresh.draw_noise(y.nrows(), &mut rng);
            let (_, grads) = fresh.backward(y, &eps);
            adam.step(&mut fresh.net.params_mut(), grads);
        }
        fresh
    }

    /// The parameters with one row per data row: Half-VAE's free means, and its
    /// per-sample log-variances.
    fn per_row_parameters(&self) -> Vec<usize> {
        let per_sample = self.spec.posterior_variance == PosteriorVariance::PerSample;
        let per_row_variance = self
            .net
            .log_var
            .as_ref()
            .filter(|_| per_sample && self.net.encoder.is_none());
        let free_means = self.net.free_means.as_ref();
        free_means
            .into_iter()
            .chain(per_row_variance)
            .map(|p| self.net.position(p))
            .collect()
    }

    /// Relabels the latent coordinates: coordinate j of the new model is coordinate
    /// perm[j] of the old one. Encoder outputs, posterior-variance parameters and decoder
    /// inputs move; the prior stays where it is.
    pub fn permute_latents(&mut self, perm: &[usize]) {
        let net = &mut self.net;
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
        let first = match net.decoder.hidden.first_mut() {
            Some((l, _)) => &mut l.w,
            None => &mut net.decoder.out.w,
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

    /// Sets the β of the following steps (a warm-up's schedule; see `ModelSpec::beta_at`).
    pub fn set_beta(&mut self, beta: f64) {
        self.beta = beta;
    }

    /// Posterior means and standard deviations of the rows `y` (for Half-VAE, `y` must be
    /// the rows its per-row parameters were fitted to: `fit_latents` makes them for new
    /// rows).
    pub fn encode(&self, y: &Matrix) -> (Matrix, Matrix) {
        let n = self.spec.n();
        let (mut means, mut sds) = (Vec::new(), Vec::new());
        for rows in blocks(y.nrows()) {
            let (mu, lv) = self.posterior(&self.tensor(&row_range(y, rows.clone())), rows);
            means.extend(to_matrix(&mu).iter());
            sds.extend(to_matrix(&lv).iter().map(|v| (0.5 * v).exp()));
        }
        (
            crate::matrix::from_row_major(y.nrows(), n, means),
            crate::matrix::from_row_major(y.nrows(), n, sds),
        )
    }

    /// The decoder's output for latent rows `z`.
    pub fn decode(&self, z: &Matrix) -> Matrix {
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
            Part::DecoderOutputWeight => Some(&net.decoder.out.w),
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
const BLOCK_ROWS: usize = 16_384;

fn blocks(rows: usize) -> impl Iterator<Item = Range<usize>> {
    (0..rows)
        .step_by(BLOCK_ROWS)
        .map(move |start| start..(start + BLOCK_ROWS).min(rows))
}

/// Rows `rows` of a batch of `of` rows: the part of a step one thread computes.
#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    rows: Range<usize>,
    of: usize,
}

impl Chunk {
    /// Rows per chunk at least. Chunks cost little above this (T = 5000: the same
    /// epochs/s on one thread as unsplit) and a minibatch of 1000 still gets two: T = 1000
    /// on one thread is 8 % slower split, and on two threads 1.85× as fast.
    const MIN_ROWS: usize = 500;
    /// Chunks per batch at most.
    const MAX: usize = 8;

    fn all(rows: usize) -> Chunk {
        Chunk {
            rows: 0..rows,
            of: rows,
        }
    }

    /// How a batch of `rows` rows is split: a function of `rows` alone, never of the
    /// thread count, so that a fit is the same number for number on any pool.
    fn plan(rows: usize) -> Vec<Chunk> {
        let count = (rows / Self::MIN_ROWS).clamp(1, Self::MAX);
        (0..count)
            .map(|c| Chunk {
                rows: c * rows / count..(c + 1) * rows / count,
                of: rows,
            })
            .collect()
    }
}

/// Everything training needs to go on from where it stopped: the parameters' values and
/// the optimiser's state (a checkpoint holds this).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingState {
    pub parameters: Vec<ParamInfo>,
    pub adam: AdamState,
}

impl Model<f32> {
    pub fn training_state(&mut self) -> TrainingState {
        TrainingState {
            parameters: self.parameters(),
            adam: self.optimiser.state(&self.net.params()),
        }
    }

    /// Continues from `state` (taken from a model of the same spec and rows).
    pub fn restore_training(&mut self, state: &TrainingState) {
        for (p, saved) in self.net.params_mut().into_iter().zip(&state.parameters) {
            p.set(&saved.values);
        }
        self.optimiser.restore(&self.net.params(), &state.adam);
    }
}

/// The importance-weighted bound's loss from each sample's per-row loss ℓ_ts (eq. 39's
/// summands, β included): (1/Tm) Σ_t −log((1/S) Σ_s exp(−ℓ_ts)) (Burda et al. 2016). The
/// log-sum-exp is shifted per row by the largest −ℓ_ts, a constant: the value and the
/// gradient (the softmax weights) do not depend on the shift, and no exp overflows.
fn importance_weighted<E: Real>(row_losses: Vec<Traced1<E>>, scale: f64) -> Scalar<E> {
    let samples = row_losses.len();
    let rows = row_losses[0].shape().0;
    let values: Vec<Vec<f64>> = row_losses
        .iter()
        .map(|l| {
            l.as_vec()
                .iter()
                .map(|x| x.to_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    // A row whose losses are not all finite gets no shift: its loss is then not finite
    // either, and the step is skipped as any other.
    let shift: Vec<E> = (0..rows)
        .map(|t| {
            values
                .iter()
                .map(|v| -v[t])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .map(|x| c::<E>(if x.is_finite() { x } else { 0.0 }))
        .collect();
    let dev = row_losses[0].device().clone();
    let mut shift_t: Tensor<(usize,), E, Dev<E>> = dev.zeros_like(&(rows,));
    shift_t.copy_from(&shift);
    let mut sum: Option<Traced1<E>> = None;
    for l in row_losses {
        sum = Some(plus(sum, (l.negate() - shift_t.clone()).exp()));
    }
    let log_mean = sum.expect("at least one sample").ln() + shift_t - c::<E>((samples as f64).ln());
    log_mean.sum::<(), _>() * c::<E>(-scale)
}

/// `sum + term`, or `term` when nothing has been summed yet: how the objective adds up
/// its samples, nodes and importance weights.
fn plus<S: Shape, E: Real>(sum: Option<TracedOf<S, E>>, term: TracedOf<S, E>) -> TracedOf<S, E> {
    match sum {
        None => term,
        Some(sum) => sum + term,
    }
}

/// A tensor holding `values`.
///
/// dfdx's allocation cache must stay off (see `Model::new`) for this too: with it on,
/// `tensor_from_vec` gives its Vec to the cache when the tensor is dropped, and only the
/// device's own allocations take from it, so each epoch's data, noise and constants
/// stayed allocated for good (1 GB over a 4000-epoch fit at T = 5000;
/// `tests/memory.rs`).
pub(crate) fn tensor_of<E: Real>(
    dev: &Dev<E>,
    values: impl Iterator<Item = E>,
    shape: (usize, usize),
) -> Mat<E> {
    dev.tensor_from_vec(values.collect(), shape)
}

/// A (rows, cols) tensor's values as a host matrix.
fn to_matrix<E: Real, T>(t: &Tensor<(usize, usize), E, Dev<E>, T>) -> Matrix {
    let (rows, cols) = *t.shape();
    let values = t
        .as_vec()
        .iter()
        .map(|x| x.to_f64().unwrap_or(f64::NAN))
        .collect();
    crate::matrix::from_row_major(rows, cols, values)
}

fn value<E: Real>(t: &Scalar<E>) -> f64 {
    t.as_vec()[0].to_f64().unwrap_or(f64::NAN)
}

pub(crate) fn clamp_log_var<E: Real>(t: Traced<E>) -> Traced<E> {
    t.clamp(LOG_VAR_RANGE.0, LOG_VAR_RANGE.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Models whose objectives read the rows differently: an encoder with one variance
    /// per dimension, Half-VAE's per-row means and variances, the importance-weighted
    /// bound (per-row weights), quadrature, a learned noise variance, and a prior of
    /// several families (each over its own dimensions).
    const MODELS: [&str; 5] = [
        "observed x[3]\nlatent z[2] ~ gmm(K = 3)\nencoder { dense 5 tanh }\ndecoder { dense 4 tanh }\nlikelihood gaussian(learned)",
        "observed x[2]\nlatent z[2] ~ gmm(K = 2)\nencoder none\ndecoder { dense 3 tanh }\nposterior variance per_sample\ntrain { samples 2 }",
        "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 relu }\ndecoder linear\ntrain { samples 3; bound iwae }",
        "observed x[3]\nlatent z[2] ~ shared gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder { dense 4 elu }\nposterior variance per_sample\nkl quadrature(5)",
        "observed x[3]\nlatent z[3]\nz[0] ~ student_t\nz[1] ~ gmm(K = 2)\nz[2] ~ laplace\nencoder { dense 4 tanh }\ndecoder linear",
    ];

    fn problem<E: Real>(text: &str, rows: usize) -> (Model<E>, Matrix, Vec<Matrix>) {
        let spec = crate::compile(text).expect("the test models check");
        let model = Model::<E>::new(&spec, rows, 5);
        let y = Matrix::from_shape_fn((rows, spec.m()), |(r, c)| {
            ((r * 7 + c * 3) % 11) as f64 / 5.0 - 1.0
        });
        let eps = model.draw_noise(rows, &mut StdRng::seed_from_u64(6));
        (model, y, eps)
    }

    #[test]
    fn a_batch_is_split_into_chunks_by_its_size_alone() {
        assert_eq!(Chunk::plan(999), vec![Chunk::all(999)]);
        let plan = Chunk::plan(1001);
        assert_eq!(plan.len(), 2);
        assert_eq!(
            (plan[0].rows.clone(), plan[1].rows.clone()),
            (0..500, 500..1001)
        );
        let plan = Chunk::plan(5000);
        assert_eq!(plan.len(), Chunk::MAX);
        assert_eq!(plan[0].rows, 0..625);
        assert_eq!(plan[7].rows, 4375..5000);
        assert!(plan.iter().all(|c| c.of == 5000));
    }

    /// The chunked objective (what `step` and `gradients` use) is the whole batch's
    /// objective: value, terms and every gradient, in f64.
    #[test]
    fn chunks_add_up_to_the_whole_batch() {
        let rows = 2 * Chunk::MIN_ROWS + 5;
        assert_eq!(Chunk::plan(rows).len(), 2);
        for text in MODELS {
            let (model, y, eps) = problem::<f64>(text, rows);
            let (terms, chunked) = model.gradients(&y, &eps);
            let (loss, whole) = model.objective(&y, &eps, &Chunk::all(rows));
            let mut grads = loss.backward();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-10 * (1.0 + b.abs());
            assert!(close(terms.loss, whole.terms.loss), "{text}: loss");
            assert!(close(terms.log_p, whole.terms.log_p), "{text}: log p");
            assert!(close(terms.reconstruction, whole.terms.reconstruction));
            for (i, g) in chunked.iter().enumerate() {
                let p = model.net.params()[i].value();
                grads.get_or_alloc_mut(p).expect("gradient buffer");
                for (a, b) in g.iter().zip(grads.get(p).as_vec()) {
                    assert!(close(*a, b), "{text}: parameter {i}: {a} vs {b}");
                }
            }
        }
    }

    /// `encode` and `decode` work in blocks of rows; a row's result does not depend on
    /// which block it falls in.
    #[test]
    fn encoding_in_blocks_is_encoding_row_by_row() {
        let rows = BLOCK_ROWS + 700;
        let (model, y, _) = problem::<f64>(MODELS[0], rows);
        let (means, sds) = model.encode(&y);
        assert_eq!((means.nrows(), sds.nrows()), (rows, rows));
        let decoded = model.decode(&means);
        assert_eq!((decoded.nrows(), decoded.ncols()), (rows, 3));
        for part in [0..3, BLOCK_ROWS - 2..BLOCK_ROWS + 2, rows - 3..rows] {
            let (m, s) = model.encode(&row_range(&y, part.clone()));
            assert_eq!(m, crate::matrix::row_range(&means, part.clone()));
            assert_eq!(s, crate::matrix::row_range(&sds, part.clone()));
            assert_eq!(model.decode(&m), crate::matrix::row_range(&decoded, part));
        }
    }

    /// Training steps give the same numbers, bit for bit, on one thread and on two.
    #[test]
    fn steps_do_not_depend_on_the_thread_count() {
        let rows = 4 * Chunk::MIN_ROWS;
        let train = |threads: usize, text: &str| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            pool.install(|| {
                let (mut model, y, eps) = problem::<f32>(text, rows);
                let losses: Vec<f64> = (0..3).map(|_| model.step(&y, &eps).terms.loss).collect();
                (losses, model.parameters())
            })
        };
        for text in MODELS {
            assert_eq!(train(1, text), train(2, text), "{text}");
        }
    }
}
