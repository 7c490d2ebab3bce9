//! The backend's own invariants: a step's chunks add up to the whole batch, encoding in
//! blocks is encoding row by row, and steps do not depend on the thread count.

use super::model::BLOCK_ROWS;
use super::step::Chunk;
use super::{Model, Real};
use crate::matrix::{row_range, Matrix};
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Models whose objectives read the rows differently: an encoder with one variance
/// per dimension, Half-VAE's per-row means and variances, the importance-weighted
/// bound (per-row weights), quadrature, a learned noise variance, and a prior of
/// several families (each over its own dimensions), one of them with a fixed and a
/// learned logistic.
const MODELS: [&str; 6] = [
    "observed x[3]\nlatent z[2] ~ gmm(K = 3)\nencoder { dense 5 tanh }\ndecoder { dense 4 tanh }\nlikelihood gaussian(learned)",
    "observed x[2]\nlatent z[2] ~ gmm(K = 2)\nencoder none\ndecoder { dense 3 tanh }\nposterior variance per_sample\ntrain { samples 2 }",
    "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 relu }\ndecoder linear\ntrain { samples 3; bound iwae }",
    "observed x[3]\nlatent z[2] ~ shared gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder { dense 4 elu }\nposterior variance per_sample\nkl quadrature(5)",
    "observed x[3]\nlatent z[3]\nz[0] ~ student_t\nz[1] ~ gmm(K = 2)\nz[2] ~ laplace\nencoder { dense 4 tanh }\ndecoder linear",
    "observed x[3]\nlatent z[3]\nz[0] ~ logistic(0, 1)\nz[1] ~ normal\nz[2] ~ logistic\nencoder { dense 4 tanh }\ndecoder linear",
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

/// `init xavier` draws every dense layer's weights from U(±√(6/(fan_in + fan_out))) and
/// leaves the biases as `init pytorch` draws them, U(±1/√fan_in), the same values from the
/// same seed; `init pytorch`'s weights stay within ±1/√fan_in.
#[test]
fn init_xavier_changes_the_weights_bounds_and_keeps_the_biases() {
    let text = "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 40 tanh }\ndecoder { dense 40 tanh }\nposterior variance per_sample";
    let params = |init: &str| {
        let spec = crate::compile(&format!("{text}\ntrain {{ init {init} }}")).expect("checks");
        Model::<f64>::new(&spec, 10, 5).parameters()
    };
    let (pytorch, xavier) = (params("pytorch"), params("xavier"));
    let mut layers = 0;
    for (p, x) in pytorch.iter().zip(&xavier) {
        assert_eq!(p.name, x.name);
        let fan_in = p.shape.0 as f64;
        let max = |v: &[f64]| v.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        if p.name.ends_with(".bias") {
            assert_eq!(
                p.values, x.values,
                "{}: biases as PyTorch's either way",
                p.name
            );
        } else if p.name.ends_with(".weight") {
            layers += 1;
            let xavier_bound = (6.0 / (p.shape.0 + p.shape.1) as f64).sqrt();
            assert!(max(&p.values) <= 1.0 / fan_in.sqrt(), "{}", p.name);
            assert!(max(&x.values) <= xavier_bound, "{}", p.name);
            // 40 × 40 draws or more: the largest comes near its bound.
            if p.values.len() >= 80 {
                assert!(max(&x.values) > 0.9 * xavier_bound, "{}", p.name);
                assert!(max(&p.values) > 0.9 / fan_in.sqrt(), "{}", p.name);
            }
        }
    }
    // Encoder: hidden, out, log-variance head; decoder: hidden, out.
    assert_eq!(layers, 5);
}
