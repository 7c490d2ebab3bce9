//! Training on the paper's scenarios at sizes CI can afford: every shipped model briefly,
//! linear ICA at the full size (about a minute). The nonlinear full-size figures are
//! in the README.

use pdgc::data::Table;
use pdgc::matrix::Matrix;
use pdgc::simulate::{simulate, Scenario};
use pdgc::{FitOptions, ModelSpec};

fn shipped(name: &str) -> ModelSpec {
    let path = format!("{}/models/{name}.pdg", env!("CARGO_MANIFEST_DIR"));
    pdgc::compile(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `spec` fitted to the columns of `x` for `epochs` epochs, as `pdgc fit` fits it.
fn fit(spec: &ModelSpec, x: &Matrix, epochs: usize) -> pdgc::Fit {
    let mut spec = spec.clone();
    spec.train.epochs = epochs;
    let table = Table {
        columns: (0..x.ncols()).map(|c| format!("x{c}")).collect(),
        values: x.clone(),
    };
    pdgc::fit(&spec, &table, &FitOptions::default(), &mut ()).expect("training stays finite")
}

fn final_loss(fit: &pdgc::Fit) -> f64 {
    fit.trace.last().unwrap().terms.loss
}

/// Every file in `models/`, so a model shipped later is covered too.
#[test]
fn every_shipped_model_trains_to_a_finite_loss() {
    let data = simulate(Scenario::Nonlinear, 300, 1).data;
    for path in crate::util::shipped_models() {
        let name = crate::util::relative(&path);
        let spec = pdgc::compile(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let x = pdgc::matrix::select(&data, ndarray::Axis(1), &(0..spec.m()).collect::<Vec<_>>());
        let fitted = fit(&spec, &x, 60);
        let loss = final_loss(&fitted);
        assert!(loss.is_finite(), "{name}: loss {loss}");
        let (means, sds) = (&fitted.sources, &fitted.sources_sd);
        assert!(
            means.iter().chain(sds.iter()).all(|v| v.is_finite()),
            "{name}"
        );
    }
}

#[test]
fn half_vae_trains_with_fewer_observed_columns_than_sources() {
    let mut spec = shipped("half_vae");
    spec.observed.columns = pdgc::spec::Columns::First(2);
    let data = pdgc::matrix::select(
        &simulate(Scenario::Linear, 300, 2).data,
        ndarray::Axis(1),
        &[0, 1],
    );
    let fitted = fit(&spec, &data, 100);
    assert!(final_loss(&fitted).is_finite());
    assert_eq!(fitted.sources.dim(), (300, 3));
}

/// The target at full size: `models/linear.pdg` as shipped (4000 epochs) on
/// `pdgc simulate linear` (T = 5000, seed 0) recovers every source with |corr| ≥ 0.99, as
/// the paper reports. About a minute with the optimised test profile.
#[test]
fn linear_mixtures_are_recovered() {
    let spec = shipped("linear");
    let sim = simulate(Scenario::Linear, 5000, 0);
    let options = FitOptions {
        truth: Some(&sim.truth),
        ..Default::default()
    };
    let table = Table {
        columns: vec!["x0".into(), "x1".into(), "x2".into()],
        values: sim.data,
    };
    let fitted = pdgc::fit(&spec, &table, &options, &mut ()).unwrap();
    let rec = fitted.recovery.expect("the truth was given");
    println!(
        "linear, T = 5000, {} epochs: MCC {:.4}, per source {:?}",
        spec.train.epochs, rec.mcc, rec.per_source
    );
    assert!(
        rec.per_source.iter().all(|&c| c >= 0.99),
        "MCC {:.4} per source {:?}",
        rec.mcc,
        rec.per_source
    );
}

/// `beta 0.5 warmup 4`: β rises 0, 0.125, 0.25, 0.375, then stays 0.5, and the loss of
/// each epoch is its reconstruction plus that β times its KL term.
#[test]
fn beta_warms_up_linearly_and_weighs_the_kl_term() {
    let mut spec = shipped("linear");
    spec.beta = 0.5;
    spec.beta_warmup = 4;
    let trace = fit(&spec, &simulate(Scenario::Linear, 200, 3).data, 6).trace;
    let betas: Vec<f64> = trace.iter().map(|r| r.beta).collect();
    assert_eq!(betas, [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]);
    for row in &trace {
        let t = &row.terms;
        let expected = t.reconstruction + row.beta * t.kl();
        assert!(
            (t.loss - expected).abs() < 1e-4 * expected.abs().max(1.0),
            "epoch {}: loss {} but reconstruction + β·KL = {expected}",
            row.epoch,
            t.loss
        );
    }
}
