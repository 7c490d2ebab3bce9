//! The model language through the real binary: shipped models check, bad files get their
//! exact golden diagnostics and exit code 2.

use crate::util::*;
use pdgc::spec::ModelSpec;

#[test]
fn every_shipped_model_passes_check() {
    let models = shipped_models();
    assert_eq!(
        example_models().len(),
        9,
        "models/ should ship nine example models"
    );
    assert_eq!(models.len(), 17, "… and six best models and IMA-VAE's two");
    for model in models {
        let out = pdgc(&["check", &relative(&model)]);
        assert!(
            out.status.success(),
            "{}: {}",
            model.display(),
            stderr(&out)
        );
        let spec = ModelSpec::from_ron(&stdout(&out)).expect("check prints RON");
        assert_eq!(
            stdout(&out).trim_end(),
            spec.to_ron(),
            "RON → ModelSpec → RON is the identity"
        );
    }
}

/// The lines that say something, without comments, leaving out the `model` name line.
fn significant_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with("model "))
        .collect()
}

#[test]
fn shipped_variants_are_small_changes_of_nonlinear() {
    let base =
        significant_lines(&std::fs::read_to_string(root().join("models/nonlinear.pdg")).unwrap());
    // models/flow.pdg is the other kind of model, the exact likelihood of an invertible
    // encoder: no decoder, posterior variance or β to vary.
    let variants = example_models().into_iter();
    for model in variants.filter(|m| !m.ends_with("flow.pdg")) {
        let lines = significant_lines(&std::fs::read_to_string(&model).unwrap());
        let removed = base.iter().filter(|l| !lines.contains(l)).count();
        let added = lines.iter().filter(|l| !base.contains(l)).count();
        // A few lines: half_vae_underdetermined.pdg changes four (observed columns,
        // encoder, decoder, β); every other variant two at most.
        assert!(
            removed.max(added) <= 4,
            "{} differs from nonlinear.pdg in more than four lines",
            model.display()
        );
    }
}

/// The bad model files in `tests/golden/`, sorted.
fn golden_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdg"))
        .collect();
    files.sort();
    files
}

/// The diagnostics are rendered in-process (naga's `wgsl_errors.rs`): the library's
/// checker and renderer, compared with the golden text. `BLESS=1` rewrites the files.
#[test]
fn bad_model_files_get_their_golden_diagnostics() {
    let files = golden_files();
    assert!(files.len() >= 25, "at least 25 golden bad files");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for file in files {
        let name = relative(&file);
        let source = std::fs::read_to_string(&file).unwrap();
        let actual = match pdgc::compile(&source) {
            Ok(_) => panic!("{name} should not check"),
            Err(diagnostics) => diagnostics.render(&name, &source),
        };
        let expected_path = file.with_extension("stderr");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {} (run with BLESS=1)", expected_path.display()));
        if expected != actual {
            failures.push(format!(
                "--- {name}\nexpected:\n{expected}\nactual:\n{actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The binary prints exactly the rendered diagnostics, nothing on stdout, and exits 2.
#[test]
fn check_prints_the_golden_diagnostics_and_exits_2() {
    for file in golden_files().iter().step_by(9) {
        let out = pdgc(&["check", &relative(file)]);
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
        assert!(
            out.stdout.is_empty(),
            "{}: nothing on stdout",
            file.display()
        );
        let expected = std::fs::read_to_string(file.with_extension("stderr")).unwrap();
        assert_eq!(stderr(&out), expected, "{}", file.display());
    }
}

#[test]
fn missing_model_file_is_bad_input() {
    let out = pdgc(&["check", "models/does_not_exist.pdg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: cannot read model file `models/does_not_exist.pdg`"));
}

#[test]
fn check_can_print_normalised_pdg() {
    let out = pdgc(&["check", "--pdg", "models/homogeneous.pdg"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("latent z[3] ~ shared gmm(K = 3)\n"));
}

/// Tests can tell which check fired without reading the message.
#[test]
fn diagnostics_name_the_rule_that_fired() {
    use pdgc::Rule;
    let rules = |text: &str| pdgc::compile(text).unwrap_err().rules();
    let base = "observed x[2]\nlatent z[2] ~ gmm(K = 2)\n";
    assert_eq!(
        rules(&format!("{base}decoder {{ dense 8 tanhh }}\n")),
        [Rule::UnknownWord]
    );
    assert_eq!(rules(&format!("{base}beta -1\n")), [Rule::OutOfRange]);
    assert_eq!(
        rules(&format!("{base}beta 1\nbeta 2\n")),
        [Rule::GivenTwice]
    );
    assert_eq!(
        rules("latent z[2] ~ gmm(K = 2)\n"),
        [Rule::MissingStatement]
    );
    assert_eq!(
        rules(&format!("{base}encoder {{ dense }}\n")),
        [Rule::Syntax]
    );
    assert_eq!(
        rules(&format!("{base}train {{ epochs many }}\n")),
        [Rule::NotANumber]
    );
}

/// A byte-order mark (Windows editors write one) is not part of the model text.
#[test]
fn a_byte_order_mark_is_skipped() {
    let text = std::fs::read_to_string(root().join("models/linear.pdg")).unwrap();
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let decoded = pdgc::decode(&with_bom).unwrap();
    assert_eq!(pdgc::compile(&decoded), pdgc::compile(&text));
    let (d, _) = pdgc::decode(b"model a\xff").unwrap_err();
    assert_eq!(d.rules(), [pdgc::Rule::NotUtf8]);
}

/// A model too large to train on even two rows is refused at the statement that asks for
/// most of the memory (here for a machine of 24 GiB).
#[test]
fn a_model_too_large_for_the_machine_is_refused_at_its_statement() {
    let base = "observed x[3]\nlatent z[3] ~ gmm(K = 3)\n";
    let text = format!("{base}decoder {{ dense 1000000000000 tanh }}\n");
    let d = pdgc::compile_within(&text, Some(24 << 30)).unwrap_err();
    assert_eq!(d.rules(), [pdgc::Rule::TooLarge]);
    assert_eq!(
        d.render("wide.pdg", &text),
        "error: the model needs about 218 TiB to train on even two rows; this machine has about 24 GiB
  --> wide.pdg:3:1
  |
3 | decoder { dense 1000000000000 tanh }
  | ^^^^^^^ the decoder is too large
  |
  = help: make it smaller

"
    );
    let text = format!("{base}train {{ samples 100000000 }}\n");
    let d = pdgc::compile_within(&text, Some(24 << 30)).unwrap_err();
    assert!(d
        .render("s.pdg", &text)
        .contains("the number of Monte-Carlo samples is too large"));
    // Without a known memory size nothing is refused; the shipped models fit easily.
    assert!(pdgc::compile_within(&text, None).is_ok());
    for model in shipped_models() {
        let text = std::fs::read_to_string(model).unwrap();
        assert!(pdgc::compile_within(&text, Some(1 << 30)).is_ok());
    }
}
