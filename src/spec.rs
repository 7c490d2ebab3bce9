//! `ModelSpec`: the one validated description of a model, with every default filled in.
//!
//! Everything after the front end reads only this type. It is serialised as RON by
//! `pdgc check` and embedded in every fitted model, and it prints back to `.pdg` text
//! (`to_pdg`) that parses to the same value.

use crate::words;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub observed: Observed,
    /// How the observed columns are transformed before training (and for every later use).
    #[serde(default)]
    pub preprocess: Preprocess,
    /// What is done to the posterior means after training (and to every later encoding).
    #[serde(default, skip_serializing_if = "is_default")]
    pub postprocess: Postprocess,
    pub latent: Latent,
    pub prior: Prior,
    pub encoder: Encoder,
    /// Hidden layers of the decoder; empty means a linear decoder.
    pub decoder: Vec<Dense>,
    /// What the decoder's input goes through before its first layer (`decoder { sigmoid;
    /// … }`): the identity, or IMA-VAE's sigmoid(z). Written only when it is not the
    /// identity, so that the records of models without it read as they did before.
    #[serde(default, skip_serializing_if = "is_default")]
    pub decoder_input: Activation,
    pub posterior_variance: PosteriorVariance,
    /// p(y | z), how the reconstruction is scored (`likelihood …`; eq. 39's squared error
    /// unless the file says otherwise).
    #[serde(default)]
    pub likelihood: Likelihood,
    /// How E_q[log p(z)] is estimated (`kl sample`, the paper's, or `kl quadrature(H)`).
    #[serde(default)]
    pub kl: KlEstimate,
    pub beta: f64,
    /// `beta β warmup W`: β rises linearly from 0 over the first W epochs (0: none).
    #[serde(default)]
    pub beta_warmup: usize,
    pub train: Train,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The name the model gives the observation vector (`x` in `observed x[3]`).
    pub name: String,
    pub columns: Columns,
}

impl Observed {
    /// The names an array's `count` unnamed columns are given: the model's own names when
    /// it names its columns and the count matches, else `x0`, `x1`, … (the model's letter).
    pub fn names_for(&self, count: usize) -> Vec<String> {
        match &self.columns {
            Columns::Named(names) if names.len() == count => names.clone(),
            _ => (0..count).map(|c| format!("{}{c}", self.name)).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Columns {
    /// The first `m` columns of the data file.
    First(usize),
    /// These columns of the data file, by header name, in this order.
    Named(Vec<String>),
}

impl Observed {
    /// m, the observation dimension.
    pub fn count(&self) -> usize {
        match &self.columns {
            Columns::First(m) => *m,
            Columns::Named(names) => names.len(),
        }
    }
}

/// The transform of the observed columns that the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Preprocess {
    /// Each column to mean 0 and variance 1 (the paper's reference does this).
    #[default]
    Standardise,
    /// Each column to mean 0, its scale kept (IMA-VAE centres its data and no more), so a
    /// fixed likelihood variance is in the data's own units.
    Centre,
    /// Standardised, then decorrelated by the symmetric (ZCA) whitening matrix C^(-1/2) of
    /// the columns' correlation matrix C: the columns stay as close to the originals as
    /// whitening allows. After whitening a linear mixture of independent unit-variance
    /// sources is a rotation, whose columns are orthogonal, the shape a mean-field
    /// posterior prefers.
    Whiten,
}

impl Preprocess {
    pub const ALL: [Preprocess; 3] = [
        Preprocess::Standardise,
        Preprocess::Centre,
        Preprocess::Whiten,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Preprocess::Standardise => "standardise",
            Preprocess::Centre => "centre",
            Preprocess::Whiten => "whiten",
        }
    }
}

/// What is done to the posterior means once training has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Postprocess {
    /// The posterior means are the sources.
    #[default]
    None,
    /// FastICA of the training rows' posterior means, a linear unmixing W and their means μ,
    /// after which the sources are W (z − μ) (NIFA's last step; TCL applies FastICA to its
    /// features too). A mean-field VAE often undoes most of a nonlinear mixing but leaves a
    /// linear mixing among its latents, which linear ICA removes. Recorded in the fit, so
    /// `encode`, `sample` and `decode` use the same W.
    Fastica,
}

impl Postprocess {
    pub const ALL: [Postprocess; 2] = [Postprocess::None, Postprocess::Fastica];

    pub fn keyword(self) -> &'static str {
        match self {
            Postprocess::None => "none",
            Postprocess::Fastica => "fastica",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latent {
    pub name: String,
    /// n, the number of latent sources.
    pub dim: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Prior {
    /// One set of prior parameters for every latent dimension (homogeneous, Thm 3.2).
    Shared(Family),
    /// An independent prior per dimension (the paper's design); entry j is dimension j's.
    PerDimension(Vec<Family>),
}

impl Prior {
    /// The family of dimension `j`.
    pub fn family(&self, j: usize) -> &Family {
        match self {
            Prior::Shared(f) => f,
            Prior::PerDimension(fs) => &fs[j],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Family {
    /// A learnable 1-D Gaussian mixture with `k` components (eq. 15–18).
    Gmm { k: usize },
    /// A fixed normal N(mean, variance).
    Normal { mean: f64, variance: f64 },
    /// A normal whose mean and variance are learned, starting from N(0, 1).
    LearnableNormal,
    /// A Laplace density with learned location and scale, starting from Laplace(0, 1).
    Laplace,
    /// A Student-t density with learned location, scale and degrees of freedom ν,
    /// starting from t₅(0, 1).
    StudentT,
    /// A fixed logistic density with this location m and scale s:
    /// log p(z) = −u − log s − 2 log(1 + e^(−u)), u = (z − m)/s. Logistic(0, 1) is the law
    /// of logit(U), U ~ U(0, 1), so it is IMA-VAE's uniform prior on sigmoid(z): the KL
    /// term does not change under the bijection.
    Logistic { location: f64, scale: f64 },
    /// A logistic density whose location and scale are learned, starting from
    /// Logistic(0, 1).
    LearnableLogistic,
}

/// The shapes of prior density the backend evaluates with one implementation each (a
/// normal is a one-component mixture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyKind {
    Mixture,
    Laplace,
    StudentT,
    Logistic,
}

impl Family {
    /// Number of mixture components (a normal is a one-component mixture; a Laplace, a
    /// Student-t or a logistic density is one component too).
    pub fn components(&self) -> usize {
        match self {
            Family::Gmm { k } => *k,
            _ => 1,
        }
    }

    pub fn kind(&self) -> FamilyKind {
        match self {
            Family::Gmm { .. } | Family::Normal { .. } | Family::LearnableNormal => {
                FamilyKind::Mixture
            }
            Family::Laplace => FamilyKind::Laplace,
            Family::StudentT => FamilyKind::StudentT,
            Family::Logistic { .. } | Family::LearnableLogistic => FamilyKind::Logistic,
        }
    }

    /// The names of the numbers that describe a fitted prior of this family, in the order
    /// `numeric::PriorDensity::values` gives them: the trace's column suffixes.
    pub fn fitted_names(&self) -> Vec<String> {
        match self.kind() {
            FamilyKind::Mixture => (0..self.components())
                .flat_map(|k| ["weight", "mean", "var"].map(|what| format!("{what}{k}")))
                .collect(),
            FamilyKind::Laplace | FamilyKind::Logistic => vec!["loc".into(), "scale".into()],
            FamilyKind::StudentT => vec!["loc".into(), "scale".into(), "dof".into()],
        }
    }

    pub fn is_learnable(&self) -> bool {
        !matches!(self, Family::Normal { .. } | Family::Logistic { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Encoder {
    /// Half-VAE: the posterior means (and per-sample variances) are free parameters.
    None,
    /// An MLP with these hidden layers, then a linear projection to the n means.
    Mlp(Vec<Dense>),
    /// For m = n: an invertible map from the data to the sources, these maps in order
    /// (`encoder { monotone 8 tanh; affine; … }`), trained on the data's exact likelihood.
    /// Its decoder is its inverse (`decoder inverse`), and it has no posterior variance,
    /// likelihood, KL estimate or β: those statements are refused.
    Invertible(Vec<Bijection>),
}

/// One map of an invertible encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bijection {
    /// Per dimension, f(u) = a·u + Σ_i w_i tanh(b_i u + c_i) with a, w, b > 0 (`monotone 8
    /// tanh`: eight units): strictly increasing, so invertible.
    Monotone { units: usize },
    /// u·W + b with W square (`affine`): invertible while W is not singular.
    Affine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub width: usize,
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Activation {
    Tanh,
    Relu,
    LeakyRelu,
    Elu,
    Sigmoid,
    #[default]
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 6] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    /// The keyword in the model language.
    pub fn keyword(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Elu => "elu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PosteriorVariance {
    /// One learnable σ_j² per latent dimension, shared by all samples (eq. 10).
    PerDimension,
    /// A σ_tj² per sample: an encoder head, or free parameters with `encoder none`.
    PerSample,
    /// A fixed σ² for every sample and dimension.
    Fixed(f64),
}

/// How the KL term's expectations are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum KlEstimate {
    /// log q(z̃) − log p(z̃) at the reparameterised sample (eq. 39).
    #[default]
    Sample,
    /// Deterministic: E_q[log q] in closed form and E_q[log p_j(z_tj)] by Gauss–Hermite with
    /// this many nodes per row and dimension (the posterior and the prior both factorise).
    Quadrature(usize),
}

impl KlEstimate {
    /// The most Gauss–Hermite nodes `kl quadrature(H)` takes: each node costs one
    /// evaluation of the prior per row and dimension.
    pub const MAX_NODES: usize = 64;

    pub fn to_pdg(&self) -> String {
        match self {
            KlEstimate::Sample => words::KL_SAMPLE.to_string(),
            KlEstimate::Quadrature(h) => format!("{}({h})", words::KL_QUADRATURE),
        }
    }
}

/// How the decoder's output is scored against the data: the reconstruction term.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Likelihood {
    /// Eq. 39's (1/Tm)·Σ‖ŷ − y‖²: a Gaussian likelihood with σ² = ½ up to a constant, so
    /// that β = 1 is not the true bound unless the noise happens to be that large.
    #[default]
    SquaredError,
    /// N(y | g(z), σ²I) with this fixed σ² (eq. 25–26): the loss is the negative ELBO per
    /// number, −(1/Tm)·log p(Y|Z̃) + β·KL/(Tm).
    Gaussian(f64),
    /// N(y | g(z), diag σ²) with σ² learned, one per observed column or one `shared`, never
    /// below `floor` (a perfect fit would otherwise drive σ² to 0 and the bound to −∞).
    LearnedGaussian { shared: bool, floor: f64 },
}

impl Likelihood {
    /// The smallest learned σ² unless the file gives `floor = …`: 1 % of the standard
    /// deviation of a standardised column.
    pub const FLOOR: f64 = 1e-4;

    /// How many σ² the likelihood learns for `m` observed columns.
    pub fn learned_variances(&self, m: usize) -> usize {
        match self {
            Likelihood::LearnedGaussian { shared: true, .. } => 1,
            Likelihood::LearnedGaussian { shared: false, .. } => m,
            _ => 0,
        }
    }

    /// The likelihood as the model language writes it (after `likelihood`).
    pub fn to_pdg(&self) -> String {
        match self {
            Likelihood::SquaredError => words::SQUARED_ERROR.to_string(),
            Likelihood::Gaussian(v) => format!("{}({})", words::GAUSSIAN, number_text(*v)),
            Likelihood::LearnedGaussian { shared, floor } => format!(
                "{}{}({}, {} = {})",
                if *shared { "shared " } else { "" },
                words::GAUSSIAN,
                words::LEARNED,
                words::FLOOR,
                number_text(*floor)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Train {
    pub epochs: usize,
    pub lr: f64,
    pub batch: Batch,
    pub seed: u64,
    /// Monte-Carlo samples of z̃ per step; the loss averages over them.
    pub samples: usize,
    /// `tol 1e-4`: stop before `epochs` once the loss's relative change between windows of
    /// epochs stays below this (see `train::converged`); none: run every epoch.
    #[serde(default)]
    pub tol: Option<f64>,
    /// `restarts 8`: independent fits from seeds seed, seed + 1, …; the one `choose` picks
    /// is kept (see `train::train_restarts`).
    #[serde(default = "one")]
    pub restarts: usize,
    /// `choose …`: how the kept restart is picked.
    #[serde(default, skip_serializing_if = "is_default")]
    pub choose: Choose,
    /// `start …`: where the posterior means start.
    #[serde(default, skip_serializing_if = "is_default")]
    pub start: Start,
    /// `init …`: how the dense layers' weights are drawn.
    #[serde(default, skip_serializing_if = "is_default")]
    pub init: Init,
    /// What the Monte-Carlo samples estimate: the ELBO (eq. 39, the mean of the samples'
    /// losses) or the importance-weighted bound.
    #[serde(default)]
    pub bound: Bound,
}

/// `train { bound … }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Bound {
    /// The mean over the S samples of each sample's loss: the ELBO's estimate.
    #[default]
    Elbo,
    /// Per row, −log of the mean of the S importance weights exp(−loss_s) (Burda et al.
    /// 2016): a tighter bound that equals the ELBO at S = 1.
    Iwae,
}

impl Bound {
    pub const ALL: [Bound; 2] = [Bound::Elbo, Bound::Iwae];

    pub fn keyword(self) -> &'static str {
        match self {
            Bound::Elbo => "elbo",
            Bound::Iwae => "iwae",
        }
    }
}

/// `train { restarts N; choose … }`: which restart is kept. The final objective does not
/// rank fits by recovery (in IMA-VAE's sweeps its correlation with MCC over 20 runs ranges
/// from −0.71 to +0.46), so two criteria that need no labels are offered beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Choose {
    /// The lowest final objective (the mean loss over the last 100 epochs).
    #[default]
    Objective,
    /// The least dependent sources: the lowest mean distance correlation (Székely, Rizzo &
    /// Bakirov 2007) between pairs of the fit's sources, which is 0 only for independent
    /// ones. The sources are what the fit outputs (after `postprocess`).
    Independence,
    /// The restart whose sources agree best with the others' (the highest mean MCC against
    /// them): the idea of UDR (Duan et al. 2020), that good solutions resemble each other
    /// and bad ones differ each in its own way.
    Agreement,
}

impl Choose {
    pub const ALL: [Choose; 3] = [Choose::Objective, Choose::Independence, Choose::Agreement];

    pub fn keyword(self) -> &'static str {
        match self {
            Choose::Objective => "objective",
            Choose::Independence => "independence",
            Choose::Agreement => "agreement",
        }
    }
}

/// `train { start … }`: where training starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Start {
    /// Every parameter drawn from the seed.
    #[default]
    Random,
    /// As `Random`, then the encoder's output projection fitted by least squares so that
    /// the posterior means start at FastICA's sources of the (preprocessed) data, each of
    /// unit variance: training starts where linear ICA ends. Without an encoder, the free
    /// means are FastICA's sources. Where FastICA cannot run, the random start stays.
    Fastica,
    /// As `Fastica`, and the decoder's output projection fitted by least squares too, from
    /// its last hidden layer at FastICA's sources back to the data: the whole autoencoder
    /// starts where linear ICA ends, so its first steps do not move the encoder away to
    /// serve a random decoder.
    FasticaAutoencoder,
    /// With `restarts` (two or more): the first restart starts as `Fastica`, the others as
    /// `Random`, and `choose` keeps one. Neither start wins everywhere (issue 25's flow
    /// prototype: each was the better on some seeds), and the objective tells which one
    /// ended better without the truth.
    FasticaAndRandom,
}

impl Start {
    pub const ALL: [Start; 4] = [
        Start::Random,
        Start::Fastica,
        Start::FasticaAutoencoder,
        Start::FasticaAndRandom,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Start::Random => "random",
            Start::Fastica => "fastica",
            Start::FasticaAutoencoder => "fastica_autoencoder",
            Start::FasticaAndRandom => "fastica_and_random",
        }
    }

    /// Whether restart `r` (from 0; a single fit is restart 0) starts at FastICA's sources.
    pub fn at_fastica(self, r: usize) -> bool {
        match self {
            Start::Random => false,
            Start::Fastica | Start::FasticaAutoencoder => true,
            Start::FasticaAndRandom => r == 0,
        }
    }
}

/// `train { init … }`: the distribution the dense layers' weights are drawn from (the
/// biases are always PyTorch's, U(±1/√fan_in)). A network's starting point decides which
/// local optimum it ends in: on IMA-VAE's Möbius draw, Xavier's weights (theirs) brought
/// the three of ten fits that stopped at 0.83–0.90 to 0.98 (and one other from 0.98 to 0.95).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Init {
    /// PyTorch's `nn.Linear` default: U(±1/√fan_in).
    #[default]
    Pytorch,
    /// Glorot & Bengio (2010)'s uniform, U(±√(6/(fan_in + fan_out))): PyTorch's
    /// `xavier_uniform_`, as IMA-VAE initialises its networks.
    Xavier,
}

impl Init {
    pub const ALL: [Init; 2] = [Init::Pytorch, Init::Xavier];

    pub fn keyword(self) -> &'static str {
        match self {
            Init::Pytorch => "pytorch",
            Init::Xavier => "xavier",
        }
    }
}

/// Settings added after files were written are left out at their defaults, so a model
/// that does not use them is recorded as it always was.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Batch {
    Full,
    Size(usize),
}

/// `beta β warmup W`: the KL term's weight epoch by epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaSchedule {
    /// β after the warm-up.
    pub beta: f64,
    /// Epochs over which β rises linearly from 0 (0: none).
    pub warmup: usize,
}

impl BetaSchedule {
    /// The β in force at `epoch` (from 1): β·(epoch − 1)/W during a warm-up of W epochs,
    /// then β.
    pub fn at(&self, epoch: usize) -> f64 {
        match self.warmup {
            0 => self.beta,
            w => self.beta * (epoch.saturating_sub(1) as f64 / w as f64).min(1.0),
        }
    }
}

/// The defaults the language documents; the checker fills these in.
/// Log-variances (of the priors and the posterior) are kept in this range during training,
/// so exp stays finite and no variance reaches 0. A variance given in a model file must lie
/// inside it: the checker refuses one that training would silently clamp.
pub const LOG_VARIANCE_RANGE: (f64, f64) = (-12.0, 8.0);

/// The variances a model file may give (priors and `posterior variance fixed(…)`): round
/// numbers inside exp(`LOG_VARIANCE_RANGE`), so a value the message calls allowed is
/// used exactly as written.
pub const VARIANCE_RANGE: (f64, f64) = (1e-5, 2980.0);

/// The scales a model file may give (a fixed `logistic(m, s)`): round numbers whose
/// squares lie inside `VARIANCE_RANGE`, so that training, which keeps log-scales within
/// half the log-variance range, uses them exactly as written.
pub const SCALE_RANGE: (f64, f64) = (4e-3, 54.0);

/// The largest |mean| (or location) of a fixed prior: the latents are on the scale of
/// standardised data, and a larger mean's square overflows single precision.
pub const PRIOR_MEAN_LIMIT: f64 = 1e6;

#[test]
fn the_allowed_variances_are_never_clamped() {
    let (lo, hi) = LOG_VARIANCE_RANGE;
    assert!(lo.exp() < VARIANCE_RANGE.0 && VARIANCE_RANGE.1 < hi.exp());
}

#[test]
fn the_allowed_scales_are_never_clamped() {
    let (lo, hi) = SCALE_RANGE;
    assert!(VARIANCE_RANGE.0 < lo * lo && hi * hi < VARIANCE_RANGE.1);
    let (log_lo, log_hi) = LOG_VARIANCE_RANGE;
    assert!((0.5 * log_lo).exp() < lo && hi < (0.5 * log_hi).exp());
}

/// The ranges of the numbers a model file (or a flag that overrides one) may give, where
/// the type alone allows values no training can use: each is finite, so that no product
/// in the objective overflows to infinity.
pub mod limits {
    /// β, the KL term's weight: [0, 1e6].
    pub const BETA_MAX: f64 = 1e6;
    /// Adam's learning rate: (0, 10].
    pub const LR_MAX: f64 = 10.0;
}

pub mod defaults {
    use super::*;

    pub const MODEL_NAME: &str = "model";
    pub const BETA: f64 = 1.0;
    pub const EPOCHS: usize = 4000;
    pub const LR: f64 = 3e-3;
    pub const BATCH: Batch = Batch::Full;
    pub const SEED: u64 = 0;
    pub const SAMPLES: usize = 1;
    pub const POSTERIOR_VARIANCE: PosteriorVariance = PosteriorVariance::PerDimension;

    /// Encoder and decoder default: two hidden layers of 64 tanh units (the reference's).
    pub fn network() -> Vec<Dense> {
        vec![
            Dense {
                width: 64,
                activation: Activation::Tanh,
            };
            2
        ]
    }

    pub fn train() -> Train {
        Train {
            epochs: EPOCHS,
            lr: LR,
            batch: BATCH,
            seed: SEED,
            samples: SAMPLES,
            tol: None,
            restarts: 1,
            choose: Choose::Objective,
            start: Start::Random,
            init: Init::Pytorch,
            bound: Bound::Elbo,
        }
    }
}

impl ModelSpec {
    /// Number of observed columns, m.
    pub fn m(&self) -> usize {
        self.observed.count()
    }

    /// Number of latent dimensions, n.
    pub fn n(&self) -> usize {
        self.latent.dim
    }

    /// β through training, as `beta β warmup W` sets it.
    pub fn beta_schedule(&self) -> BetaSchedule {
        BetaSchedule {
            beta: self.beta,
            warmup: self.beta_warmup,
        }
    }

    /// The normalised `.pdg` text of this model: every setting spelled out.
    /// Parsing it back gives the same `ModelSpec`.
    pub fn to_pdg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "model {}", self.name);
        match &self.observed.columns {
            Columns::First(m) => {
                let _ = writeln!(s, "observed {}[{m}]", self.observed.name);
            }
            Columns::Named(names) => {
                let cols: Vec<String> = names.iter().map(|c| column_text(c)).collect();
                let _ = writeln!(s, "observed {} = [{}]", self.observed.name, cols.join(", "));
            }
        }
        let _ = writeln!(s, "preprocess {}", self.preprocess.keyword());
        if self.postprocess != Postprocess::None {
            let _ = writeln!(s, "postprocess {}", self.postprocess.keyword());
        }
        let (z, n) = (&self.latent.name, self.latent.dim);
        match &self.prior {
            Prior::Shared(f) => {
                let _ = writeln!(s, "latent {z}[{n}] ~ shared {}", f.to_pdg());
            }
            Prior::PerDimension(fs) if fs.iter().all(|f| f == &fs[0]) => {
                let _ = writeln!(s, "latent {z}[{n}] ~ {}", Family::to_pdg(&fs[0]));
            }
            Prior::PerDimension(fs) => {
                let _ = writeln!(s, "latent {z}[{n}]");
                for (j, f) in fs.iter().enumerate() {
                    let _ = writeln!(s, "{z}[{j}] ~ {}", f.to_pdg());
                }
            }
        }
        match &self.encoder {
            Encoder::None => {
                let _ = writeln!(s, "encoder {}", words::NONE);
            }
            Encoder::Mlp(layers) => {
                let _ = writeln!(s, "encoder {}", network_text(Activation::Identity, layers));
            }
            Encoder::Invertible(maps) => {
                let _ = writeln!(s, "encoder {}", invertible_text(maps));
                let _ = writeln!(s, "decoder {}", words::INVERSE);
            }
        }
        // An invertible encoder's objective is the exact likelihood: no decoder of its
        // own, no posterior, no β.
        if !self.is_invertible() {
            self.write_variational(&mut s);
        }
        self.write_train(&mut s);
        s
    }

    /// Whether the encoder is invertible (and the objective the exact likelihood).
    pub fn is_invertible(&self) -> bool {
        matches!(self.encoder, Encoder::Invertible(_))
    }

    /// The statements of a variational model: decoder, posterior variance, likelihood,
    /// KL estimate and β.
    fn write_variational(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "decoder {}",
            network_text(self.decoder_input, &self.decoder)
        );
        let pv = match self.posterior_variance {
            PosteriorVariance::PerDimension => words::PER_DIMENSION.to_string(),
            PosteriorVariance::PerSample => words::PER_SAMPLE.to_string(),
            PosteriorVariance::Fixed(v) => format!("{}({})", words::FIXED, number_text(v)),
        };
        let _ = writeln!(s, "posterior variance {pv}");
        let _ = writeln!(s, "likelihood {}", self.likelihood.to_pdg());
        let _ = writeln!(s, "kl {}", self.kl.to_pdg());
        match self.beta_warmup {
            0 => {
                let _ = writeln!(s, "beta {}", number_text(self.beta));
            }
            w => {
                let _ = writeln!(s, "beta {} {} {w}", number_text(self.beta), words::WARMUP);
            }
        }
    }

    /// The `train { }` block, every setting spelled out (but the Monte-Carlo samples of a
    /// model that draws none).
    fn write_train(&self, s: &mut String) {
        let t = &self.train;
        let batch = match t.batch {
            Batch::Full => words::FULL.to_string(),
            Batch::Size(b) => b.to_string(),
        };
        // `tol`, `restarts` and `bound` only when set: without them, one fit of the ELBO
        // runs every epoch.
        let mut optional = t.tol.map_or(String::new(), |x| {
            format!("; {} {}", words::TOL, number_text(x))
        });
        if t.restarts > 1 {
            let _ = write!(optional, "; {} {}", words::RESTARTS, t.restarts);
        }
        if t.choose != Choose::Objective {
            let _ = write!(optional, "; {} {}", words::CHOOSE, t.choose.keyword());
        }
        if t.start != Start::Random {
            let _ = write!(optional, "; {} {}", words::START, t.start.keyword());
        }
        if t.init != Init::Pytorch {
            let _ = write!(optional, "; {} {}", words::INIT, t.init.keyword());
        }
        if t.bound != Bound::Elbo {
            let _ = write!(optional, "; {} {}", words::BOUND, t.bound.keyword());
        }
        let samples = match self.is_invertible() {
            true => String::new(),
            false => format!("; {} {}", words::SAMPLES, t.samples),
        };
        let _ = writeln!(
            s,
            "train {{ {} {}; {} {}; {} {batch}; {} {}{samples}{optional} }}",
            words::EPOCHS,
            t.epochs,
            words::LR,
            number_text(t.lr),
            words::BATCH,
            words::SEED,
            t.seed,
        );
    }
}

impl Family {
    /// The family as the model language writes it: `gmm(K = 3)`, `gaussian(0, 1)`.
    pub fn to_pdg(&self) -> String {
        match self {
            Family::Gmm { k } => format!("{}({} = {k})", words::GMM, words::GMM_COMPONENTS),
            Family::Normal { mean, variance } => {
                format!(
                    "{}({}, {})",
                    words::NORMAL,
                    number_text(*mean),
                    number_text(*variance)
                )
            }
            Family::LearnableNormal => words::NORMAL.to_string(),
            Family::Laplace => words::LAPLACE.to_string(),
            Family::StudentT => words::STUDENT_T.to_string(),
            Family::Logistic { location, scale } => format!(
                "{}({}, {})",
                words::LOGISTIC,
                number_text(*location),
                number_text(*scale)
            ),
            Family::LearnableLogistic => words::LOGISTIC.to_string(),
        }
    }
}

/// `linear`, or the layer list, led by the input's activation where it is not the
/// identity (`{ sigmoid }` is a linear decoder of sigmoid(z)).
fn network_text(input: Activation, layers: &[Dense]) -> String {
    if layers.is_empty() && input == Activation::Identity {
        return words::LINEAR.to_string();
    }
    let input = (input != Activation::Identity).then(|| input.keyword().to_string());
    let dense =
        (layers.iter()).map(|l| format!("{} {} {}", words::DENSE, l.width, l.activation.keyword()));
    let parts: Vec<String> = input.into_iter().chain(dense).collect();
    format!("{{ {} }}", parts.join("; "))
}

/// `{ monotone 8 tanh; affine; … }`.
fn invertible_text(maps: &[Bijection]) -> String {
    let parts: Vec<String> = maps
        .iter()
        .map(|m| match m {
            Bijection::Monotone { units } => {
                format!("{} {units} {}", words::MONOTONE, Activation::Tanh.keyword())
            }
            Bijection::Affine => words::AFFINE.to_string(),
        })
        .collect();
    format!("{{ {} }}", parts.join("; "))
}

/// Shortest text that parses back to exactly this number.
/// `{:?}` writes 1e-7 as "1e-7" and 3 as "3.0": both are numbers in the grammar.
fn number_text(x: f64) -> String {
    format!("{x:?}")
}

fn column_text(name: &str) -> String {
    let is_ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if is_ident {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

impl ModelSpec {
    /// The RON text `pdgc check` prints; `from_ron` reads it back to the same value.
    pub fn to_ron(&self) -> String {
        let config = ron::ser::PrettyConfig::new().struct_names(true);
        // Every field is plain data (strings, numbers, enums): serialising cannot fail.
        ron::ser::to_string_pretty(self, config).expect("ModelSpec serialises to RON")
    }

    pub fn from_ron(text: &str) -> Result<ModelSpec, ron::error::SpannedError> {
        ron::from_str(text)
    }
}
