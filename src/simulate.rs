//! The paper's synthetic scenarios (§4): three i.i.d. standardised non-Gaussian sources,
//! mixed linearly or through h = tanh(A₁z), x = tanh(A₂h) (eq. 114).

use crate::matrix::Matrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal, Uniform};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Linear,
    Nonlinear,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Linear, Scenario::Nonlinear];

    /// The scenario's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Linear => "linear",
            Scenario::Nonlinear => "nonlinear",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Simulated data and the sources that made it.
pub struct Simulation {
    /// T × 3 observations.
    pub data: Matrix,
    /// T × 3 true sources, each standardised to mean 0 and variance 1.
    pub truth: Matrix,
    /// The mixing matrices drawn (A for linear; A₁ then A₂ for nonlinear).
    pub mixing: Vec<Matrix>,
}

pub const SOURCES: usize = 3;

/// Source 0: a bimodal mixture ½N(−2, 0.5²) + ½N(2, 0.5²); source 1: uniform; source 2:
/// Laplace. Each column is then standardised with its sample mean and deviation.
pub fn sources(samples: usize, rng: &mut StdRng) -> Matrix {
    let bump = Normal::new(0.0, 0.5).expect("valid normal");
    let uniform = Uniform::new(-1.0, 1.0);
    let raw = Matrix::from_fn(samples, SOURCES, |_, c| match c {
        0 => {
            let centre = if rng.gen_bool(0.5) { -2.0 } else { 2.0 };
            centre + bump.sample(rng)
        }
        1 => uniform.sample(rng),
        _ => {
            // Laplace(0, 1) as the difference of two unit exponentials.
            let u: f64 = rng.gen_range(f64::EPSILON..1.0);
            let v: f64 = rng.gen_range(f64::EPSILON..1.0);
            u.ln() - v.ln()
        }
    });
    standardise_columns(&raw)
}

fn standardise_columns(x: &Matrix) -> Matrix {
    let stats = x.column_moments();
    Matrix::from_fn(x.rows, x.cols, |r, c| {
        (x.get(r, c) - stats[c].0) / stats[c].1
    })
}

/// A 3 × 3 matrix with N(0, 1) entries, redrawn until it is comfortably invertible
/// (|det| ≥ 0.5), so that the sources are recoverable in principle.
fn mixing_matrix(rng: &mut StdRng) -> Matrix {
    loop {
        let a = Matrix::from_fn(SOURCES, SOURCES, |_, _| StandardNormal.sample(rng));
        let det = a.get(0, 0) * (a.get(1, 1) * a.get(2, 2) - a.get(1, 2) * a.get(2, 1))
            - a.get(0, 1) * (a.get(1, 0) * a.get(2, 2) - a.get(1, 2) * a.get(2, 0))
            + a.get(0, 2) * (a.get(1, 0) * a.get(2, 1) - a.get(1, 1) * a.get(2, 0));
        if det.abs() >= 0.5 {
            return a;
        }
    }
}

/// x_t = A z_t (linear) or x_t = tanh(A₂ tanh(A₁ z_t)) (nonlinear), rows as samples.
pub fn simulate(scenario: Scenario, samples: usize, seed: u64) -> Simulation {
    let mut rng = StdRng::seed_from_u64(seed);
    let truth = sources(samples, &mut rng);
    match scenario {
        Scenario::Linear => {
            let a = mixing_matrix(&mut rng);
            let data = truth.matmul_transpose(&a);
            Simulation {
                data,
                truth,
                mixing: vec![a],
            }
        }
        Scenario::Nonlinear => {
            let a1 = mixing_matrix(&mut rng);
            let a2 = mixing_matrix(&mut rng);
            let h = truth.matmul_transpose(&a1).map(f64::tanh);
            let data = h.matmul_transpose(&a2).map(f64::tanh);
            Simulation {
                data,
                truth,
                mixing: vec![a1, a2],
            }
        }
    }
}
