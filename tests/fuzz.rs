//! Fuzzing: random and mutated bytes fed to every reader of user files: the model
//! parser, the CSV reader, the fitted-model loader, the checkpoint loader and the trace
//! reader (with the report drawn from whatever it reads). None may panic; each returns a
//! value or an error. The default run has 300 cases per property;
//! `PDGC_FUZZ_CASES=100000 cargo test --release --test integration fuzz::` is the long
//! run (README, Tests).

use pdgc::checkpoint::{Checkpoint, DataFingerprint};
use pdgc::compile;
use pdgc::data::{parse_table, Preprocessing, Wanted};
use pdgc::fitted::Fitted;
use pdgc::spec::Preprocess;
use proptest::prelude::*;
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    let cases = std::env::var("PDGC_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(300);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// A random edit: delete, insert or replace a few bytes near a random place.
fn edit(text: &str, at: usize, len: usize, insert: &str) -> String {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut end = (at + len).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}{}", &text[..at], insert, &text[end..])
}

/// One change to a byte string: replace, insert or delete a byte, or cut it short.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Insert(at, b)),
        2 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Replace(at, b) if len > 0 => bytes[at % len] = b,
            Mutation::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Mutation::Delete(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Mutation::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

/// A valid data file: three columns, a header and 40 rows.
fn csv_text() -> Vec<u8> {
    let mut text = String::from("x0,x1,x2\n");
    for i in 0..40 {
        text += &format!("{},{:.3},{}\n", i % 7, (i as f64).sin(), i * i % 11);
    }
    text.into_bytes()
}

/// Valid fitted-model files: a model with an encoder, and a Half-VAE (per-row latents).
fn fitted_files() -> &'static [Vec<u8>] {
    static FILES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FILES.get_or_init(|| {
        let texts = [
            "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder linear\npreprocess whiten",
            "observed x[3]\nlatent z[2]\nz[0] ~ normal(0, 1)\nz[1] ~ gmm(K = 3)\nencoder none\ndecoder { dense 3 elu }\nposterior variance per_sample",
        ];
        let table = parse_table("fuzz.csv", &csv_text(), Wanted::All).unwrap();
        texts
            .iter()
            .map(|text| {
                let spec = compile(text).unwrap();
                let preprocessing = Preprocessing::fit("fuzz.csv", &table, spec.preprocess).unwrap();
                let model = pdgc::backend::Model::<f32>::new(&spec, 40, 0);
                Fitted { model, preprocessing, postprocessing: None, rows: 40 }.to_bytes().unwrap()
            })
            .collect()
    })
}

/// A valid checkpoint: a small model after two training steps.
fn checkpoint_file() -> &'static [u8] {
    static FILE: OnceLock<Vec<u8>> = OnceLock::new();
    FILE.get_or_init(|| {
        let spec = compile(
            "observed x[3]\nlatent z[2] ~ gmm(K = 2)\nencoder { dense 4 tanh }\ndecoder linear",
        )
        .unwrap();
        let table = parse_table("fuzz.csv", &csv_text(), Wanted::All).unwrap();
        let y = Preprocessing::fit("fuzz.csv", &table, spec.preprocess)
            .unwrap()
            .apply(&table.values);
        let mut model = pdgc::backend::Model::<f32>::new(&spec, 40, 0);
        let plan = pdgc::train::Plan {
            epochs: 2,
            ..pdgc::train::Plan::new(&spec)
        };
        let trace = pdgc::train::train(&mut model, &y, None, &plan, Vec::new(), &mut |_, _| {
            pdgc::train::Control::Continue
        })
        .unwrap();
        let checkpoint = Checkpoint {
            model: spec,
            data: DataFingerprint::of(&csv_text(), 40),
            trace,
            truth: None,
            state: model.training_state(),
        };
        checkpoint.to_bytes().unwrap()
    })
}

#[test]
fn the_fuzzed_fitted_files_are_valid_to_begin_with() {
    assert_eq!(
        Checkpoint::from_bytes("fuzz", checkpoint_file())
            .unwrap()
            .epoch(),
        2
    );
    for bytes in fitted_files() {
        assert!(Fitted::from_bytes("fuzz", bytes).is_ok());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(d) = compile(&text) {
            let _ = d.render("random.pdg", &text);
        }
    }

    #[test]
    fn random_edits_of_shipped_models_never_panic(
        which in 0usize..6,
        edits in prop::collection::vec((any::<usize>(), 0usize..6, "[ -~\n\u{3b2}\u{3c3}]{0,6}"), 1..4),
    ) {
        let models = ["linear", "nonlinear", "standard_vae", "homogeneous", "half_vae", "heterogeneous_k"];
        let path = format!("{}/models/{}.pdg", env!("CARGO_MANIFEST_DIR"), models[which]);
        let mut text = std::fs::read_to_string(path).unwrap();
        for (at, len, insert) in &edits {
            text = edit(&text, *at, *len, insert);
        }
        match compile(&text) {
            Ok(spec) => {
                // Whatever parses must print back to something that parses the same.
                prop_assert_eq!(compile(&spec.to_pdg()).ok(), Some(spec));
            }
            Err(d) => {
                prop_assert!(!d.0.is_empty());
                let rendered = d.render("edited.pdg", &text);
                prop_assert!(rendered.contains("edited.pdg:"));
            }
        }
    }

    #[test]
    fn random_bytes_never_crash_the_csv_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_table("random.csv", &bytes, Wanted::All);
    }

    #[test]
    fn mutated_csv_files_never_crash_the_reader(mutations in prop::collection::vec(mutation(), 1..6)) {
        let bytes = mutate(csv_text(), &mutations);
        let spec = compile("observed x = [x2, x0]\nlatent z[2] ~ gmm(K = 2)").unwrap();
        for wanted in [Wanted::All, Wanted::Observed(&spec)] {
            if let Ok(table) = parse_table("mutated.csv", &bytes, wanted) {
                prop_assert!(table.values.iter().all(|v| v.is_finite()));
                for how in [Preprocess::Standardise, Preprocess::Whiten] {
                    if let Ok(p) = Preprocessing::fit("mutated.csv", &table, how) {
                        prop_assert!(p.apply(&table.values).iter().all(|v| v.is_finite()));
                    }
                }
            }
        }
    }

    #[test]
    fn mutated_checkpoints_never_crash_the_loader(mutations in prop::collection::vec(mutation(), 1..4)) {
        let bytes = mutate(checkpoint_file().to_vec(), &mutations);
        let _ = Checkpoint::from_bytes("mutated.checkpoint", &bytes);
    }

    #[test]
    fn mutated_fitted_files_never_crash_the_loader(
        which in 0usize..2,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = mutate(fitted_files()[which].clone(), &mutations);
        if let Ok(fitted) = Fitted::from_bytes("mutated.safetensors", &bytes) {
            // Whatever loads can be used.
            let (z, y) = fitted.model.sample(3, 0);
            prop_assert_eq!((z.nrows(), y.nrows()), (3, 3));
        }
    }

    #[test]
    fn mutated_traces_never_crash_the_reader_or_the_report(
        truth: bool,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (mut view, bytes) = crate::report::view_and_trace(truth);
        let bytes = mutate(bytes, &mutations);
        if let Ok(trace) = pdgc::trace::Trace::parse("mutated.csv", &view.spec, &bytes) {
            view.trace = trace;
            let report = pdgc::report::render(&view, &pdgc::report::Options { rows: 50 });
            prop_assert!(report.is_ok());
        }
    }
}
