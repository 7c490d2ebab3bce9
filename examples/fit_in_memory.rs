//! pdgc as a library: fit a model to an array in memory and read the sources back, without
//! touching the file system. `cargo run --example fit_in_memory` (CI runs it).

use pdgc::data::Table;
use pdgc::simulate::{simulate, Scenario};
use pdgc::{FitOptions, Observer};

/// Prints the loss every 100 epochs; returning `Control::Stop` would end training there.
struct Every100;

impl Observer for Every100 {
    fn epoch(
        &mut self,
        _model: &mut pdgc::backend::Model<f32>,
        trace: &[pdgc::train::TraceRow],
    ) -> pdgc::train::Control {
        let row = trace.last().expect("after an epoch");
        if row.epoch.is_multiple_of(100) {
            println!("epoch {:4}  loss {:.5}", row.epoch, row.terms.loss);
        }
        pdgc::train::Control::Continue
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The model is text; `compile` checks it (a bad model is an error carrying the
    // rendered diagnostics, as `pdgc check` prints them).
    let text = "model linear\n\
                observed x[3]\n\
                preprocess whiten\n\
                latent z[3] ~ gmm(K = 3)\n\
                decoder linear\n\
                beta 0.01\n\
                train { epochs 400; lr 3e-3; seed 0 }\n";
    let spec = pdgc::compile(text).map_err(|d| d.render("linear.pdg", text))?;

    // Three sources (bimodal, uniform, Laplace) mixed by a random matrix: 2000 rows.
    let sim = simulate(Scenario::Linear, 2000, 1);
    let data = Table {
        columns: vec!["x0".into(), "x1".into(), "x2".into()],
        values: sim.data,
    };
    let options = FitOptions {
        truth: Some(&sim.truth),
        ..Default::default()
    };
    let fitted = pdgc::fit(&spec, &data, &options, &mut Every100)?;

    let (rows, n) = fitted.sources.dim();
    println!("sources: {rows} rows × {n} (and their posterior sd)");
    for (j, prior) in fitted.priors.iter().enumerate() {
        println!("z{j}: {prior:?}");
    }
    let recovery = fitted.recovery.as_ref().expect("the truth was given");
    println!(
        "MCC {:.4}, per source {:?}",
        recovery.mcc, recovery.per_source
    );
    // New rows go through the same preprocessing and encoder.
    let (again, _) = fitted.encode(&data)?;
    assert_eq!(again, fitted.sources);
    Ok(())
}
