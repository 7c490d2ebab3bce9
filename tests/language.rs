//! The model language through the real binary: shipped models check, bad files get their
//! exact golden diagnostics and exit code 2.

mod common;
use common::*;
use pdgc::spec::ModelSpec;

#[test]
fn every_shipped_model_passes_check() {
    let models = shipped_models();
    assert_eq!(models.len(), 6, "models/ should ship six example models");
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
    for model in shipped_models() {
        let lines = significant_lines(&std::fs::read_to_string(&model).unwrap());
        let removed = base.iter().filter(|l| !lines.contains(l)).count();
        let added = lines.iter().filter(|l| !base.contains(l)).count();
        assert!(
            removed.max(added) <= 2,
            "{} differs from nonlinear.pdg in more than two lines",
            model.display()
        );
    }
}

#[test]
fn bad_model_files_get_their_golden_diagnostics() {
    let dir = root().join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pdg"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "at least 25 golden bad files");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for file in files {
        let out = pdgc(&["check", &relative(&file)]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{} should exit 2",
            file.display()
        );
        assert!(
            out.stdout.is_empty(),
            "{}: nothing on stdout",
            file.display()
        );
        let expected_path = file.with_extension("stderr");
        let actual = stderr(&out);
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("missing {} (run with BLESS=1)", expected_path.display()));
        if expected != actual {
            failures.push(format!(
                "--- {}\nexpected:\n{expected}\nactual:\n{actual}",
                file.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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
