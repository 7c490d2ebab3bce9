//! Time of one training epoch (full batch: one Adam step) of the shipped linear and
//! nonlinear models on the paper's simulated data, at T = 1000, 5000 and 50000.
//!
//!     cargo bench --bench epoch
//!
//! One thread, like the reference comparison in benches/anchor.sh.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pdgc::backend::Model;
use pdgc::data::{Preprocessing, Table};
use pdgc::simulate::{simulate, Scenario};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::Duration;

/// The binary's allocator (see `src/main.rs`), so that the bench times what `fit` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn model(name: &str) -> pdgc::ModelSpec {
    let path = format!("{}/models/{name}.pdg", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("shipped model");
    pdgc::compile(&text).expect("shipped models check")
}

fn epoch(c: &mut Criterion) {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    let mut group = c.benchmark_group("epoch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, scenario) in [
        ("linear", Scenario::Linear),
        ("nonlinear", Scenario::Nonlinear),
    ] {
        let spec = model(name);
        for t in [1000usize, 5000, 50000] {
            let sim = simulate(scenario, t, 0);
            let table = Table {
                columns: vec!["x0".into(), "x1".into(), "x2".into()],
                values: sim.data,
            };
            let y = Preprocessing::fit("simulated", &table, spec.preprocess)
                .expect("non-constant")
                .apply(&table.values);
            let mut m = Model::<f32>::new(&spec, t, 0);
            let mut rng = StdRng::seed_from_u64(0);
            group.bench_with_input(BenchmarkId::new(name, t), &t, |b, _| {
                b.iter(|| {
                    let eps = m.draw_noise(t, &mut rng);
                    m.step(&y, &eps)
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, epoch);
criterion_main!(benches);
