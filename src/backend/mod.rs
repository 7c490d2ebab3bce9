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
//!
//! The files, in the order data flow through them: `params.rs` (parameters, layers with
//! their own forward pass, `VarBuilder`), `prior/` (the prior families), `model.rs` (the
//! model's parts and its forward pass: posterior, decoder, encode, decode, sample),
//! `objective.rs` (the objective, one function per estimator), `step.rs` (chunked
//! gradients, Adam steps, checkpoints' optimiser state), `optim.rs` (Adam), `fused.rs`
//! (fused kernels), `counts.rs` (parameter counts without a model).

mod counts;
mod fused;
mod invertible;
mod model;
mod objective;
mod optim;
mod params;
mod prior;
mod step;

use crate::matrix::Matrix;
pub use crate::numeric::{Mixture, PriorDensity};
use dfdx::prelude::*;

pub use counts::{parameter_count, parameter_counts, ParameterCounts};
pub use model::Model;
pub use optim::AdamState;
pub use params::ParamInfo;
pub use step::TrainingState;

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

        /// dst ← srcᵀ for src (rows × cols, row-major), dst's rows `stride` ≥ rows apart
        /// and zero past rows (`fused::transpose_f32`): for f32 by 8 × 8 blocks in AVX
        /// registers where the CPU has AVX, else one at a time.
        fn kernel_transpose(src: &[Self], shape: (usize, usize), dst: (&mut [Self], usize));

        /// dst[t][j] (+)= lhs's row t · column j, for a product with few outputs a row
        /// (`fused::dots`): for f32 in AVX2 registers where the CPU has AVX2 and FMA.
        fn kernel_dots(
            lhs: &[Self],
            columns: &[Self],
            shape: (usize, usize),
            dst: &mut [Self],
            accumulate: bool,
        );

        /// The fused ops' spare buffers of this type (`fused::scratch`).
        fn spare_buffers() -> &'static super::fused::Spares<Self>;
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
        fn spare_buffers() -> &'static super::fused::Spares<f32> {
            static SPARES: super::fused::Spares<f32> = super::fused::Spares::new();
            &SPARES
        }
        #[inline]
        fn kernel_exp(self) -> f32 {
            super::fused::exp_f32(self)
        }
        fn kernel_transpose(src: &[f32], shape: (usize, usize), dst: (&mut [f32], usize)) {
            super::fused::transpose_f32(src, shape, dst)
        }
        fn kernel_dots(
            lhs: &[f32],
            columns: &[f32],
            shape: (usize, usize),
            dst: &mut [f32],
            accumulate: bool,
        ) {
            super::fused::dots_f32(lhs, columns, shape, dst, accumulate)
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
        fn spare_buffers() -> &'static super::fused::Spares<f64> {
            static SPARES: super::fused::Spares<f64> = super::fused::Spares::new();
            &SPARES
        }
        #[inline]
        fn kernel_exp(self) -> f64 {
            self.exp()
        }
        fn kernel_transpose(src: &[f64], shape: (usize, usize), dst: (&mut [f64], usize)) {
            super::fused::transpose_from(src, shape, dst, (0, 0))
        }
        fn kernel_dots(
            lhs: &[f64],
            columns: &[f64],
            shape: (usize, usize),
            dst: &mut [f64],
            accumulate: bool,
        ) {
            super::fused::dots(lhs, columns, shape, dst, accumulate)
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
    /// log q(Z̃|Y) / (Tm): the posterior part of the KL estimate. With an invertible
    /// encoder, −log|det ∂z/∂y| / (Tm), so that `kl()` is its whole (exact) loss.
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

pub(crate) fn clamp_log_var<S: Shape, E: Real>(t: TracedOf<S, E>) -> TracedOf<S, E> {
    t.clamp(LOG_VAR_RANGE.0, LOG_VAR_RANGE.1)
}

#[cfg(test)]
mod tests;
