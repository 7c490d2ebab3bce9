//! Synthetic data with known sources: the paper's scenarios (§4) and the generators the
//! nonlinear-ICA literature measures on. Every scenario draws n i.i.d. sources with the
//! chosen marginals and mixes them into m observed columns, optionally with Gaussian noise.

use crate::matrix::Matrix;
use nalgebra::DMatrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal, Uniform};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// x = A s, A with N(0, 1) entries (paper §4.1).
    Linear,
    /// x = tanh(A₂ tanh(A₁ s)) (paper eq. 114).
    Nonlinear,
    /// A Möbius transformation, as in the IMA-VAE experiments.
    Moebius,
    /// An L-layer leaky-ReLU MLP, as in TCL/iVAE and IMA-VAE.
    Mlp,
    /// x = f(A s), f element-wise invertible (Taleb & Jutten 1999).
    PostNonlinear,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Linear,
        Scenario::Nonlinear,
        Scenario::Moebius,
        Scenario::Mlp,
        Scenario::PostNonlinear,
    ];

    /// The scenario's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Linear => "linear",
            Scenario::Nonlinear => "nonlinear",
            Scenario::Moebius => "moebius",
            Scenario::Mlp => "mlp",
            Scenario::PostNonlinear => "post-nonlinear",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The sources' marginals when none are asked for: the paper's three for its own
    /// scenarios, IMA-VAE's uniform sources for the Möbius mixing, TCL's Laplace for the MLP.
    fn default_marginals(self) -> Vec<Marginal> {
        match self {
            Scenario::Moebius => vec![Marginal::Uniform],
            Scenario::Mlp => vec![Marginal::Laplace],
            _ => vec![Marginal::Bimodal, Marginal::Uniform, Marginal::Laplace],
        }
    }
}

/// A source's distribution. Each drawn column is standardised to mean 0 and variance 1
/// with its sample moments (but for the Möbius mixing, see [`Settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marginal {
    /// ½N(−2, 0.5²) + ½N(2, 0.5²).
    Bimodal,
    Uniform,
    Laplace,
    /// Skewed: Exp(1).
    Exponential,
    /// N(0, 1): not identifiable, by design (any rotation of Gaussians is Gaussian).
    Gaussian,
}

impl Marginal {
    pub const ALL: [Marginal; 5] = [
        Marginal::Bimodal,
        Marginal::Uniform,
        Marginal::Laplace,
        Marginal::Exponential,
        Marginal::Gaussian,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Marginal::Bimodal => "bimodal",
            Marginal::Uniform => "uniform",
            Marginal::Laplace => "laplace",
            Marginal::Exponential => "exponential",
            Marginal::Gaussian => "gaussian",
        }
    }

    pub fn from_name(name: &str) -> Option<Marginal> {
        Marginal::ALL.into_iter().find(|m| m.name() == name)
    }

    fn draw(self, rng: &mut StdRng) -> f64 {
        match self {
            Marginal::Bimodal => {
                let centre = if rng.gen_bool(0.5) { -2.0 } else { 2.0 };
                centre + Normal::new(0.0, 0.5).expect("valid normal").sample(rng)
            }
            Marginal::Uniform => Uniform::new(-1.0, 1.0).sample(rng),
            Marginal::Laplace => {
                // Laplace(0, 1) as the difference of two unit exponentials.
                let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                let v: f64 = rng.gen_range(f64::EPSILON..1.0);
                u.ln() - v.ln()
            }
            Marginal::Exponential => -rng.gen_range(f64::EPSILON..1.0_f64).ln(),
            Marginal::Gaussian => StandardNormal.sample(rng),
        }
    }
}

/// What to simulate. `Settings::new` gives each scenario's documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub scenario: Scenario,
    pub samples: usize,
    pub seed: u64,
    /// n, the number of sources.
    pub sources: usize,
    /// m, the number of observed columns (m < n only for `linear`; m = n for `moebius`).
    pub observed: usize,
    /// Mixing layers of `mlp`.
    pub layers: usize,
    /// `mlp`: orthogonal weight matrices (IMA-VAE) instead of condition-filtered ones (TCL).
    pub orthogonal: bool,
    /// Standard deviation of Gaussian noise added to every observation.
    pub noise: f64,
    /// One marginal for every source, or one per source; empty: the scenario's own,
    /// repeated over the sources.
    pub marginals: Vec<Marginal>,
}

/// The most sources or observed columns a simulation draws.
pub const MAX_COLUMNS: usize = 1024;

impl Settings {
    pub fn new(scenario: Scenario) -> Settings {
        Settings {
            scenario,
            samples: 5000,
            seed: 0,
            sources: 3,
            observed: 3,
            layers: 3,
            orthogonal: false,
            noise: 0.0,
            marginals: Vec::new(),
        }
    }

    /// Why these settings cannot be simulated, naming the flag to change.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let (n, m) = (self.sources, self.observed);
        if !(1..=MAX_COLUMNS).contains(&n) {
            return Some((
                "--sources",
                format!("must be between 1 and {MAX_COLUMNS}, found {n}"),
            ));
        }
        if !(1..=MAX_COLUMNS).contains(&m) {
            return Some((
                "--observed",
                format!("must be between 1 and {MAX_COLUMNS}, found {m}"),
            ));
        }
        match self.scenario {
            Scenario::Linear => {}
            Scenario::Moebius if m != n => {
                return Some((
                    "--observed",
                    format!("must equal --sources for moebius (a Möbius transformation maps R^n to itself); found {m} and {n}"),
                ))
            }
            Scenario::Moebius if n < 2 => {
                return Some(("--sources", "must be at least 2 for moebius".into()))
            }
            _ if m < n => {
                return Some((
                    "--observed",
                    format!(
                        "must be at least --sources ({n}) for {}: fewer observations than sources is only simulated for `linear`",
                        self.scenario.name()
                    ),
                ))
            }
            _ => {}
        }
        if self.scenario != Scenario::Mlp && self.orthogonal {
            return Some(("--orthogonal", "applies only to mlp".into()));
        }
        if !(1..=64).contains(&self.layers) {
            return Some((
                "--layers",
                format!("must be between 1 and 64, found {}", self.layers),
            ));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Some((
                "--noise",
                format!("must be a number ≥ 0, found {}", self.noise),
            ));
        }
        if self.marginals.len() > 1 && self.marginals.len() != n {
            return Some((
                "--marginals",
                format!(
                    "names one marginal for every source, or one per source ({n}); found {}",
                    self.marginals.len()
                ),
            ));
        }
        None
    }

    fn marginal(&self, j: usize) -> Marginal {
        let defaults = self.scenario.default_marginals();
        let list = if self.marginals.is_empty() {
            &defaults
        } else {
            &self.marginals
        };
        list[j % list.len()]
    }
}

/// Simulated data and the sources that made it.
pub struct Simulation {
    /// T × m observations.
    pub data: Matrix,
    /// T × n true sources.
    pub truth: Matrix,
    /// The mixing matrix (m × n) when the mixing is linear: x = A s.
    pub mixing: Option<Matrix>,
}

/// The paper's three sources (bimodal, uniform, Laplace), each standardised.
pub const SOURCES: usize = 3;

/// T draws of each source, each column standardised with its sample mean and deviation.
/// Rows are drawn in order, each row's sources in turn, from one generator.
fn sources(settings: &Settings, rng: &mut StdRng) -> Matrix {
    let raw = Matrix::from_shape_fn((settings.samples, settings.sources), |(_, c)| {
        settings.marginal(c).draw(rng)
    });
    standardise_columns(&raw)
}

fn standardise_columns(x: &Matrix) -> Matrix {
    let stats = crate::matrix::column_moments(x);
    Matrix::from_shape_fn((x.nrows(), x.ncols()), |(r, c)| {
        let (mean, sd) = stats[c];
        (x[[r, c]] - mean) / if sd > 0.0 { sd } else { 1.0 }
    })
}

fn gaussian_matrix(rows: usize, cols: usize, rng: &mut StdRng) -> DMatrix<f64> {
    // Drawn row by row, as the paper's generator always has.
    let entries: Vec<f64> = (0..rows * cols)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    DMatrix::from_row_slice(rows, cols, &entries)
}

/// The ratio of the largest singular value to the smallest.
fn condition_number(a: &DMatrix<f64>) -> f64 {
    let s = a.singular_values();
    let (lo, hi) = s.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    if lo > 0.0 {
        hi / lo
    } else {
        f64::INFINITY
    }
}

/// An m × n matrix with N(0, 1) entries for the paper's scenarios: square ones are redrawn
/// until |det| ≥ 0.5 (comfortably invertible, the rule since the first release); others
/// until their condition number is at most 10.
fn paper_mixing(m: usize, n: usize, rng: &mut StdRng) -> DMatrix<f64> {
    loop {
        let a = gaussian_matrix(m, n, rng);
        let fine = if m == n {
            a.determinant().abs() >= 0.5
        } else {
            condition_number(&a) <= 10.0
        };
        if fine {
            return a;
        }
    }
}

/// A matrix with orthonormal columns (m ≥ n), uniform over such matrices (Haar): the Q of
/// a Gaussian matrix's QR, each column's sign fixed by R's diagonal. IMA-VAE draws these
/// with scipy's `ortho_group.rvs`, the same distribution.
fn orthogonal_matrix(m: usize, n: usize, rng: &mut StdRng) -> DMatrix<f64> {
    let qr = gaussian_matrix(m, n, rng).qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..n {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// TCL's mixing matrices (hmorioka/TCL, `subfunc/generate_artificial_data.py`,
/// `apply_MLP_to_source`): entries uniform in [−1, 1], each column scaled to unit length,
/// redrawn until the condition number is at most the 25th percentile of 10 000 such draws.
fn tcl_matrix(m: usize, n: usize, threshold: f64, rng: &mut StdRng) -> DMatrix<f64> {
    loop {
        let a = tcl_draw(m, n, rng);
        if condition_number(&a) <= threshold {
            return a;
        }
    }
}

fn tcl_draw(m: usize, n: usize, rng: &mut StdRng) -> DMatrix<f64> {
    let uniform = Uniform::new(-1.0, 1.0);
    let mut a = DMatrix::from_fn(m, n, |_, _| uniform.sample(rng));
    for mut column in a.column_iter_mut() {
        let norm = column.norm();
        column /= norm;
    }
    a
}

fn tcl_threshold(m: usize, n: usize, rng: &mut StdRng) -> f64 {
    let mut conditions: Vec<f64> = (0..10_000)
        .map(|_| condition_number(&tcl_draw(m, n, rng)))
        .collect();
    conditions.sort_by(f64::total_cmp);
    conditions[conditions.len() / 4]
}

/// Rows of `x` times Aᵀ: each row s becomes A s.
fn mix(x: &Matrix, a: &DMatrix<f64>) -> Matrix {
    crate::matrix::from_nalgebra(&(crate::matrix::to_nalgebra(x) * a.transpose()))
}

fn leaky_relu(v: f64) -> f64 {
    if v > 0.0 {
        v
    } else {
        0.2 * v
    }
}

/// The post-nonlinear scenario's invertible functions, one per observed column in turn.
/// A named element-wise function.
type Named = (&'static str, fn(f64) -> f64);

const POST_NONLINEARITIES: [Named; 3] = [
    ("tanh(u)", f64::tanh),
    ("u + u³/3", |u| u + u * u * u / 3.0),
    ("sign(u) log(1 + |u|)", |u| u.signum() * u.abs().ln_1p()),
];

/// The simulation of `scenario` with its defaults but for the size and seed.
pub fn simulate(scenario: Scenario, samples: usize, seed: u64) -> Simulation {
    simulate_with(&Settings {
        samples,
        seed,
        ..Settings::new(scenario)
    })
}

/// Draws the sources, mixes them, adds the noise. `settings` must have no
/// [`Settings::problem`].
pub fn simulate_with(settings: &Settings) -> Simulation {
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let (n, m) = (settings.sources, settings.observed);
    let truth = sources(settings, &mut rng);
    let (data, mixing) = match settings.scenario {
        Scenario::Linear => {
            let a = paper_mixing(m, n, &mut rng);
            (mix(&truth, &a), Some(crate::matrix::from_nalgebra(&a)))
        }
        Scenario::Nonlinear => {
            // Eq. 114: h = tanh(A₁ s), x = tanh(A₂ h), A₂ m × n.
            let a1 = paper_mixing(n, n, &mut rng);
            let a2 = paper_mixing(m, n, &mut rng);
            let h = mix(&truth, &a1).mapv(f64::tanh);
            (mix(&h, &a2).mapv(f64::tanh), None)
        }
        Scenario::Moebius => (moebius(&truth, &mut rng), None),
        Scenario::Mlp => (mlp(&truth, settings, &mut rng), None),
        Scenario::PostNonlinear => {
            let a = paper_mixing(m, n, &mut rng);
            let linear = mix(&truth, &a);
            let data = Matrix::from_shape_fn((linear.nrows(), m), |(r, c)| {
                (POST_NONLINEARITIES[c % POST_NONLINEARITIES.len()].1)(linear[[r, c]])
            });
            (data, None)
        }
    };
    let data = if settings.noise > 0.0 {
        let noise = Normal::new(0.0, settings.noise).expect("checked noise");
        data.mapv(|v| v + noise.sample(&mut rng))
    } else {
        data
    };
    Simulation {
        data,
        truth,
        mixing,
    }
}

/// The Möbius mixing of the IMA-VAE experiments (rpatrik96/ima-vae,
/// `ima_vae/data/data_generators/gen_synth_dataset.py`, `gen_data(mobius=True)`, and
/// `ima_vae/data/utils.py`, `build_moebius_transform`): y = b + α A (s − a) / ‖s − a‖²
/// with A orthogonal (Haar), α = 1, b = 0, and each entry of a drawn from N(0, 1) until
/// |aᵢ| > 0.5; the observations are then centred. Their sources are uniform on
/// [−0.5, 0.5], so the pole a lies outside the data: here every source is scaled to that
/// uniform's standard deviation (1/√12) first, and the truth is written at that scale. A
/// source with long tails (Laplace, Gaussian) may come near the pole.
fn moebius(truth: &Matrix, rng: &mut StdRng) -> Matrix {
    let n = truth.ncols();
    let a_matrix = orthogonal_matrix(n, n, rng);
    let mut a = Vec::with_capacity(n);
    while a.len() < n {
        let s: f64 = StandardNormal.sample(rng);
        if s.abs() > 0.5 {
            a.push(s);
        }
    }
    let scale = (1.0_f64 / 12.0).sqrt();
    // Rows d = s − a; then A d / ‖d‖² for each row.
    let d = Matrix::from_shape_fn((truth.nrows(), n), |(r, c)| scale * truth[[r, c]] - a[c]);
    let ad = mix(&d, &a_matrix);
    let y = Matrix::from_shape_fn((truth.nrows(), n), |(r, c)| {
        let norm2: f64 = d.row(r).iter().map(|v| v * v).sum();
        ad[[r, c]] / norm2
    });
    let means = crate::matrix::column_moments(&y);
    Matrix::from_shape_fn((y.nrows(), n), |(r, c)| y[[r, c]] - means[c].0)
}

/// An L-layer leaky-ReLU MLP (slope 0.2), as TCL builds it (hmorioka/TCL,
/// `subfunc/generate_artificial_data.py`, `apply_MLP_to_source`): a linear layer, then
/// (leaky ReLU, linear layer) L − 1 times, no biases. The first layer maps the n sources
/// to the m observations; the others are m × m. Weights are TCL's condition-filtered
/// matrices, or with `orthogonal` Haar-orthogonal ones as in IMA-VAE's `gen_data` (which
/// also puts a leaky ReLU on the sources before the first layer; an element-wise monotone
/// map of the sources, left out here so that the truth is the sources themselves).
fn mlp(truth: &Matrix, settings: &Settings, rng: &mut StdRng) -> Matrix {
    let (n, m) = (settings.sources, settings.observed);
    let mut x = truth.clone();
    let mut thresholds: Vec<((usize, usize), f64)> = Vec::new();
    for layer in 0..settings.layers {
        let cols = if layer == 0 { n } else { m };
        let a = if settings.orthogonal {
            orthogonal_matrix(m, cols, rng)
        } else {
            let threshold = match thresholds.iter().find(|(shape, _)| *shape == (m, cols)) {
                Some((_, t)) => *t,
                None => {
                    let t = tcl_threshold(m, cols, rng);
                    thresholds.push(((m, cols), t));
                    t
                }
            };
            tcl_matrix(m, cols, threshold, rng)
        };
        if layer > 0 {
            x = x.mapv(leaky_relu);
        }
        x = mix(&x, &a);
    }
    x
}

/// How each post-nonlinear column is distorted, for the README and `--help`.
pub fn post_nonlinearities() -> Vec<&'static str> {
    POST_NONLINEARITIES.iter().map(|(name, _)| *name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_matrices_are_orthogonal() {
        let mut rng = StdRng::seed_from_u64(1);
        for (m, n) in [(3, 3), (5, 3)] {
            let q = orthogonal_matrix(m, n, &mut rng);
            let qtq = q.transpose() * &q;
            assert!((qtq - DMatrix::<f64>::identity(n, n)).abs().max() < 1e-12);
        }
    }

    #[test]
    fn every_scenario_has_the_asked_shape_and_finite_values() {
        for scenario in Scenario::ALL {
            let mut s = Settings::new(scenario);
            s.samples = 200;
            s.sources = 4;
            s.observed = if scenario == Scenario::Moebius { 4 } else { 6 };
            s.noise = 0.1;
            assert_eq!(s.problem(), None, "{scenario:?}");
            let sim = simulate_with(&s);
            assert_eq!((sim.data.nrows(), sim.data.ncols()), (200, s.observed));
            assert_eq!((sim.truth.nrows(), sim.truth.ncols()), (200, 4));
            assert!(sim.data.iter().all(|v| v.is_finite()), "{scenario:?}");
            assert_eq!(sim.mixing.is_some(), scenario == Scenario::Linear);
        }
    }

    #[test]
    fn linear_mixing_is_the_data_without_noise() {
        let mut s = Settings::new(Scenario::Linear);
        s.samples = 50;
        s.observed = 2;
        let sim = simulate_with(&s);
        let a = sim.mixing.unwrap();
        assert_eq!((a.nrows(), a.ncols()), (2, 3));
        let again = sim.truth.dot(&a.t());
        for (x, y) in again.iter().zip(sim.data.iter()) {
            assert!((x - y).abs() < 1e-12);
        }
    }

    #[test]
    fn settings_are_checked() {
        let mut s = Settings::new(Scenario::Moebius);
        s.observed = 4;
        assert_eq!(s.problem().unwrap().0, "--observed");
        let mut s = Settings::new(Scenario::Mlp);
        s.observed = 2;
        assert_eq!(s.problem().unwrap().0, "--observed");
        let mut s = Settings::new(Scenario::Linear);
        s.marginals = vec![Marginal::Uniform, Marginal::Gaussian];
        assert_eq!(s.problem().unwrap().0, "--marginals");
        s.marginals = vec![Marginal::Gaussian];
        s.orthogonal = true;
        assert_eq!(s.problem().unwrap().0, "--orthogonal");
    }
}
