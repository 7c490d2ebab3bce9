//! Training's memory stays flat over epochs. A test binary of its own: the resident set
//! it reads is then this test's alone, not that of tests running beside it.
//!
//! dfdx's buffer cache once kept every epoch's data, noise and constants (tensors made
//! with `tensor_from_vec` give their buffer to the cache when dropped, and nothing took
//! them back): 235 KB an epoch at T = 5000, and `pdgc compare` ran out of 24 GB. The
//! cache is now off altogether (it is not thread-safe, and a step's chunks run in
//! parallel); this test keeps it that way.

use pdgc::backend::Model;
use pdgc::matrix::Matrix;
use pdgc::train::{train, Control, Plan};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// The process's resident set, in bytes (Linux's /proc).
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn training_memory_does_not_grow_with_epochs() {
    let text = "observed x[3]\nlatent z[3] ~ gmm(K = 2)\nencoder { dense 16 tanh }\n\
                decoder { dense 16 tanh }\nposterior variance fixed(0.1)\n\
                train { epochs 330; samples 2 }";
    let spec = pdgc::compile(text).expect("a valid model");
    let rows = 4000;
    let mut rng = StdRng::seed_from_u64(1);
    let y = Matrix::from_shape_fn((rows, 3), |(_, _)| StandardNormal.sample(&mut rng));
    let mut model = Model::<f32>::new(&spec, rows, 0);
    let plan = Plan::new(&spec);
    let mut after_warm_up = None;
    let mut measure = |_: &mut Model<f32>, trace: &[pdgc::train::TraceRow]| {
        if trace.len() == 30 {
            after_warm_up = resident();
        }
        Control::Continue
    };
    train(&mut model, &y, None, &plan, Vec::new(), &mut measure).expect("training runs");
    let (Some(before), Some(after)) = (after_warm_up, resident()) else {
        eprintln!("no /proc/self/status here: nothing measured");
        return;
    };
    // A leak of the epoch's (rows × 3) inputs would be 300 × 4000 × 3 × 4 B × 4 ≈ 58 MB.
    let grown = after.saturating_sub(before);
    assert!(
        grown < 8 << 20,
        "the resident set grew by {} KB over 300 epochs",
        grown >> 10
    );
}
