//! Every word of the model language, defined once: the front end, the checker (with its
//! "did you mean") and the printer (`ModelSpec::to_pdg`) all read them from here.
//! Activations and pre- and postprocessing words belong to their enums (`spec::Activation::ALL`,
//! `spec::Preprocess::ALL`, `spec::Postprocess::ALL`, each with `keyword()`), which are lists of their own. The
//! grammar (`grammar/pdg.pest`) is structural: it parses these as names, except the
//! statement keywords and `shared`, which it must know to find statement boundaries.

/// The words that begin a statement.
pub const STATEMENTS: [&str; 12] = [
    "model",
    "observed",
    "preprocess",
    "postprocess",
    "latent",
    "encoder",
    "decoder",
    "posterior",
    "likelihood",
    "kl",
    "beta",
    "train",
];

/// `beta 1 warmup 500`: β rises linearly from 0 over the first 500 epochs.
pub const WARMUP: &str = "warmup";
pub const BETA_SCHEDULES: [&str; 1] = [WARMUP];

/// Prior families.
pub const GMM: &str = "gmm";
pub const NORMAL: &str = "normal";
pub const LAPLACE: &str = "laplace";
pub const STUDENT_T: &str = "student_t";
pub const LOGISTIC: &str = "logistic";
pub const FAMILIES: [&str; 5] = [GMM, NORMAL, LAPLACE, STUDENT_T, LOGISTIC];
/// The name of `gmm`'s one argument, the number of components.
pub const GMM_COMPONENTS: &str = "K";

/// An encoder or decoder without hidden layers, and no encoder at all (Half-VAE).
pub const LINEAR: &str = "linear";
pub const NONE: &str = "none";
pub const NETWORKS: [&str; 2] = [LINEAR, NONE];

/// Layer kinds: `dense 64 tanh`, and an invertible encoder's `monotone 8 tanh` and
/// `affine`, whose decoder is `inverse`.
pub const DENSE: &str = "dense";
pub const MONOTONE: &str = "monotone";
pub const LAYERS: [&str; 2] = [DENSE, MONOTONE];
pub const AFFINE: &str = "affine";
pub const INVERSE: &str = "inverse";

/// Posterior variance modes.
pub const PER_DIMENSION: &str = "per_dimension";
pub const PER_SAMPLE: &str = "per_sample";
pub const FIXED: &str = "fixed";
pub const POSTERIOR_MODES: [&str; 3] = [PER_DIMENSION, PER_SAMPLE, FIXED];

/// Likelihoods: eq. 39's squared error, or a Gaussian with a fixed or `learned` σ²
/// (`floor = …` its smallest value).
pub const SQUARED_ERROR: &str = "mse";
pub const GAUSSIAN: &str = "gaussian";
pub const LIKELIHOODS: [&str; 2] = [SQUARED_ERROR, GAUSSIAN];
pub const LEARNED: &str = "learned";
pub const FLOOR: &str = "floor";

/// `kl sample` (eq. 39's single-sample estimate) or `kl quadrature(H)`.
pub const KL_SAMPLE: &str = "sample";
pub const KL_QUADRATURE: &str = "quadrature";
pub const KL_ESTIMATES: [&str; 2] = [KL_SAMPLE, KL_QUADRATURE];

/// Settings of the `train { }` block.
pub const EPOCHS: &str = "epochs";
pub const LR: &str = "lr";
pub const BATCH: &str = "batch";
pub const SEED: &str = "seed";
pub const SAMPLES: &str = "samples";
pub const TOL: &str = "tol";
pub const RESTARTS: &str = "restarts";
/// `bound elbo` or `bound iwae`: the bound's words are `spec::Bound::ALL`'s keywords.
pub const BOUND: &str = "bound";
/// `choose objective|independence|agreement`: the words are `spec::Choose::ALL`'s keywords.
pub const CHOOSE: &str = "choose";
/// `start random|fastica|fastica_autoencoder|fastica_and_random`: the words are `spec::Start::ALL`'s keywords.
pub const START: &str = "start";
/// `init pytorch|xavier`: the words are `spec::Init::ALL`'s keywords.
pub const INIT: &str = "init";
pub const SETTINGS: [&str; 11] = [
    EPOCHS, LR, BATCH, SEED, SAMPLES, TOL, RESTARTS, CHOOSE, START, INIT, BOUND,
];
/// `batch full`: every row in every step.
pub const FULL: &str = "full";
