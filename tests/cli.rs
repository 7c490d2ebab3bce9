//! The command line, through the real binary: simulate → fit → eval, reproducibility,
//! atomic outputs, divergence, and one clear message (golden text) per kind of bad data.

use crate::util::*;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `pdgc fit MODEL DATA -o OUT --quiet FLAGS…`
fn fit(model: &str, data: &str, out: &str, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["fit", model, data, "-o", out, "--quiet"];
    args.extend_from_slice(flags);
    pdgc(&args)
}

/// A fresh temporary folder holding `pdgc simulate linear` data; removed when dropped.
fn simulate(samples: usize) -> Scratch {
    let dir = scratch();
    let out = pdgc(&[
        "simulate",
        "linear",
        "--samples",
        &samples.to_string(),
        "--seed",
        "3",
        "-o",
        s(&dir),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    dir
}

#[test]
fn simulate_writes_data_and_truth() {
    let dir = simulate(50);
    let data = std::fs::read_to_string(dir.join("data.csv")).unwrap();
    let truth = std::fs::read_to_string(dir.join("truth.csv")).unwrap();
    assert!(data.starts_with("x0,x1,x2\n"));
    assert!(truth.starts_with("s0,s1,s2\n"));
    assert_eq!(data.lines().count(), 51);
    assert_eq!(truth.lines().count(), 51);
    let again = simulate(50);
    assert_eq!(
        data,
        std::fs::read_to_string(again.join("data.csv")).unwrap(),
        "same seed, same data"
    );
}

#[test]
fn fit_writes_every_output_and_is_reproducible() {
    let sim = simulate(120);
    let data = sim.join("data.csv");
    let run = |out: &Path| {
        let o = fit(
            "models/linear.pdg",
            s(&data),
            s(out),
            &["--epochs", "20", "--threads", "1"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            o.stderr.is_empty(),
            "--quiet prints nothing: {}",
            stderr(&o)
        );
    };
    let (a, b) = (sim.join("a"), sim.join("b"));
    run(&a);
    run(&b);
    for file in [
        "sources.csv",
        "trace.csv",
        "priors.ron",
        "run.ron",
        "model.safetensors",
    ] {
        assert!(a.join(file).is_file(), "missing {file}");
    }
    let sources = std::fs::read_to_string(a.join("sources.csv")).unwrap();
    assert!(sources.starts_with("z0,z1,z2,z0_sd,z1_sd,z2_sd\n"));
    assert_eq!(sources.lines().count(), 121);
    // The whole output folder is byte-identical, but for run.ron's timings.
    for file in [
        "sources.csv",
        "trace.csv",
        "priors.ron",
        "model.safetensors",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file} byte-identical"
        );
    }
    let untimed = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("run.ron"))
            .unwrap()
            .lines()
            .filter(|l| {
                !["wall_seconds", "train_seconds", "epochs_per_second"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(untimed(&a), untimed(&b), "run.ron but for its timings");
    let trace = std::fs::read_to_string(a.join("trace.csv")).unwrap();
    assert_eq!(trace.lines().count(), 21, "a header and one row per epoch");
    let run_ron = std::fs::read_to_string(a.join("run.ron")).unwrap();
    for field in [
        "pdgc_version",
        "epochs_per_second",
        "data_bytes",
        "seed",
        "wall_seconds",
    ] {
        assert!(run_ron.contains(field), "run.ron lacks {field}");
    }
    // eval reads a fit's sources (ignoring the _sd columns).
    let e = pdgc(&[
        "eval",
        s(&sim.join("truth.csv")),
        s(&a.join("sources.csv")),
        "--json",
    ]);
    assert!(e.status.success(), "{}", stderr(&e));
    let json: serde_json::Value = serde_json::from_str(&stdout(&e)).unwrap();
    let mcc = json["mcc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&mcc));
    assert_eq!(json["per_source"].as_array().unwrap().len(), 3);
}

#[test]
fn eval_of_the_truth_against_itself_is_perfect() {
    let sim = simulate(40);
    let truth = sim.join("truth.csv");
    let e = pdgc(&["eval", s(&truth), s(&truth)]);
    assert!(e.status.success());
    assert!(
        stdout(&e).starts_with("MCC (Pearson)  1.0000\nMCC (Spearman) 1.0000\n"),
        "{}",
        stdout(&e)
    );
}

/// `pdgc eval … | head -1`: a reader that leaves early is no error and no panic.
#[test]
fn a_closed_output_pipe_is_not_an_error() {
    let sim = simulate(40);
    let truth = sim.join("truth.csv");
    for args in [
        vec!["eval", s(&truth), s(&truth)],
        vec!["check", "models/linear.pdg"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // every write to stdout now fails with a broken pipe
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_pdgc"))
            .args(&args)
            .current_dir(root())
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
}

/// A checkpoint of `models/linear.pdg` (with `epochs`) for `data`, whose parameters were
/// pushed far out (as a damaged or hostile file can hold them): every step's loss overflows.
fn blown_up_checkpoint(data: &Path, epochs: usize) -> Vec<u8> {
    use pdgc::checkpoint::{Checkpoint, DataFingerprint};
    let text = std::fs::read_to_string(root().join("models/linear.pdg")).unwrap();
    let mut spec = pdgc::compile(&text).unwrap();
    spec.train.epochs = epochs;
    let bytes = std::fs::read(data).unwrap();
    let table =
        pdgc::data::parse_table("data", &bytes, pdgc::data::Wanted::Observed(&spec)).unwrap();
    let rows = table.values.nrows();
    let mut model = pdgc::backend::Model::<f32>::new(&spec, rows, spec.train.seed);
    let mut state = model.training_state();
    for p in &mut state.parameters {
        p.values.iter_mut().for_each(|v| *v *= 1e30);
    }
    model.restore_training(&state);
    let checkpoint = Checkpoint {
        model: spec,
        data: DataFingerprint::of(&bytes, rows),
        trace: Vec::new(),
        state: model.training_state(),
        truth: None,
    };
    checkpoint.to_bytes().unwrap()
}

#[test]
fn divergence_fails_with_exit_1_and_keeps_the_earlier_result() {
    let sim = simulate(60);
    let data = sim.join("data.csv");
    let out = sim.join("out");
    let good = fit("models/linear.pdg", s(&data), s(&out), &["--epochs", "3"]);
    assert!(good.status.success(), "{}", stderr(&good));
    let before = std::fs::read(out.join("sources.csv")).unwrap();
    // Five bad steps in a row stop training; with two epochs the last step is bad. Either
    // way the error names the epoch where it went bad, the first.
    for epochs in [50, 2] {
        let checkpoint = sim.join("out.checkpoint");
        std::fs::write(&checkpoint, blown_up_checkpoint(&data, epochs)).unwrap();
        let epochs = epochs.to_string();
        let bad = fit(
            "models/linear.pdg",
            s(&data),
            s(&out),
            &["--epochs", &epochs, "--resume", s(&checkpoint)],
        );
        assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
        let message = stderr(&bad);
        assert!(
            message.starts_with("error: training diverged at epoch 1: "),
            "{message}"
        );
        assert!(message.contains(" term became "), "{message}");
        assert_eq!(
            before,
            std::fs::read(out.join("sources.csv")).unwrap(),
            "earlier result untouched"
        );
        std::fs::remove_file(&checkpoint).unwrap();
    }
    let leftovers: Vec<_> = std::fs::read_dir(&sim)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no staging folders left behind");
}

#[test]
fn bad_data_gets_one_golden_message_and_exit_2() {
    let cases = [
        ("missing.csv", "error: cannot read data file `tests/data/missing.csv`: No such file or directory (os error 2)\n"),
        ("empty.csv", "error: tests/data/empty.csv: the file is empty; expected a header row of column names and at least two rows of numbers\n"),
        ("no_header.csv", "error: tests/data/no_header.csv:1: expected a header row of column names, found numbers (`1,2,3`)\n"),
        ("non_numeric.csv", "error: tests/data/non_numeric.csv:3: column `x1` has `abc`; expected a number\n"),
        ("missing_value.csv", "error: tests/data/missing_value.csv:3: column `x1` has a missing value (``); expected a number\n"),
        ("na_value.csv", "error: tests/data/na_value.csv:3: column `x1` has a missing value (`NA`); expected a number\n"),
        ("ragged_row.csv", "error: tests/data/ragged_row.csv:4: 2 fields, expected 3 as in the header row\n"),
        ("too_few_columns.csv", "error: tests/data/too_few_columns.csv:1: the file has 2 columns, but the model observes 3 (`observed x[3]`)\n"),
        ("constant_column.csv", "error: tests/data/constant_column.csv: column `x1` is constant (every row is 2); it carries no signal and cannot be standardised\n"),
        ("one_row.csv", "error: tests/data/one_row.csv: 1 data row; at least two are needed\n"),
        ("dependent_columns.csv", "error: tests/data/dependent_columns.csv: columns `x0`, `x1` and `x2` are linearly dependent; `preprocess whiten` needs columns of which none is a combination of the others (drop one, or use `preprocess standardise`)\n"),
        ("three_rows.csv", "error: tests/data/three_rows.csv: 3 data rows; `preprocess whiten` of 3 columns needs at least 4\n"),
        ("header_only.csv", "error: tests/data/header_only.csv: 0 data rows; at least two are needed\n"),
        // Windows line ends and blank lines: the line named is the row's own.
        ("crlf_ragged_row.csv", "error: tests/data/crlf_ragged_row.csv:4: 2 fields, expected 3 as in the header row\n"),
        ("non_numeric_after_blank_lines.csv", "error: tests/data/non_numeric_after_blank_lines.csv:5: column `x2` has `abc`; expected a number\n"),
    ];
    let scratch = scratch();
    let out = scratch.join("out");
    for (file, expected) in cases {
        let path = format!("tests/data/{file}");
        let o = fit("models/linear.pdg", &path, s(&out), &["--epochs", "1"]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", stderr(&o));
        assert_eq!(stderr(&o), expected, "{file}");
        assert!(!out.exists(), "{file}: nothing written");
    }
}

#[test]
fn a_bad_model_stops_fit_before_reading_data() {
    let o = pdgc(&[
        "fit",
        "tests/golden/unknown_activation.pdg",
        "tests/data/empty.csv",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("error: unknown activation `tanhh`"));
}

#[test]
fn flags_are_held_to_the_model_files_rules() {
    let o = pdgc(&[
        "fit",
        "models/linear.pdg",
        "tests/data/no_header.csv",
        "--epochs",
        "0",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: --epochs must be at least 1\n");
    let o = pdgc(&[
        "fit",
        "models/linear.pdg",
        "tests/data/no_header.csv",
        "--lr=-1",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: --lr must be a number in (0, 10], found -1\n"
    );
    // `compare --epochs` overrides every model file's: the same rule, in the same words.
    let o = pdgc(&[
        "compare",
        "models/linear.pdg",
        "--scenario",
        "linear",
        "--epochs",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o), "error: --epochs must be at least 1\n");
}

/// Flags of no model file have clap's ranges and lists, alike in every command: a
/// simulation's rows are at least two whether `simulate` or `compare` draws them.
#[test]
fn other_flags_are_refused_by_their_range_or_list() {
    let dir = scratch();
    let refused = [
        vec!["simulate", "linear", "--samples", "1", "-o", s(&dir)],
        vec![
            "compare",
            "models/linear.pdg",
            "--scenario",
            "linear",
            "--samples",
            "1",
        ],
    ];
    for args in refused {
        let o = pdgc(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("error: invalid value '1' for '--samples <SAMPLES>'"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
    let o = pdgc(&[
        "compare",
        "models/linear.pdg",
        "--scenario",
        "linear",
        "--baseline",
        "ica",
    ]);
    fails_with(&o, 2, "[possible values: fastica, none]");
}

#[test]
fn named_columns_are_taken_from_the_header() {
    let sim = simulate(40);
    let model = sim.join("named.pdg");
    std::fs::write(
        &model,
        "observed x = [x2, x0]\nlatent z[2] ~ gmm(K = 2)\nencoder linear\ndecoder linear\n",
    )
    .unwrap();
    let out = sim.join("fit");
    let o = fit(
        s(&model),
        s(&sim.join("data.csv")),
        s(&out),
        &["--epochs", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
    assert!(
        run.contains("columns: [\n        \"x2\",\n        \"x0\",\n    ]"),
        "{run}"
    );

    std::fs::write(
        &model,
        "observed x = [x2, nope]\nlatent z[2] ~ gmm(K = 2)\n",
    )
    .unwrap();
    let o = fit(s(&model), s(&sim.join("data.csv")), s(&out), &[]);
    assert_eq!(o.status.code(), Some(2));
    let expected = format!(
        "error: {}:1: the model observes column `nope`, but the header has no such column (it has `x0`, `x1`, `x2`)\n",
        sim.join("data.csv").display()
    );
    assert_eq!(stderr(&o), expected);
}

#[test]
fn encode_and_sample_use_the_fitted_model_file() {
    let sim = simulate(80);
    let data = sim.join("data.csv");
    let out = sim.join("fit");
    let o = fit("models/linear.pdg", s(&data), s(&out), &["--epochs", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The training data through the saved model gives the fit's own sources, exactly.
    let e = pdgc(&["encode", s(&out), s(&data)]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(
        stdout(&e),
        std::fs::read_to_string(out.join("sources.csv")).unwrap()
    );

    let d = pdgc(&[
        "sample",
        s(&out.join("model.safetensors")),
        "7",
        "--seed",
        "2",
    ]);
    assert!(d.status.success(), "{}", stderr(&d));
    let text = stdout(&d);
    assert!(text.starts_with("x0,x1,x2,z0,z1,z2\n"), "{text}");
    assert_eq!(text.lines().count(), 8);

    let bad = pdgc(&["encode", s(&out), "tests/data/ragged_row.csv"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        stderr(&bad),
        "error: tests/data/ragged_row.csv:4: 2 fields, expected 3 as in the header row\n"
    );
    let missing = pdgc(&["sample", s(&sim.join("nothing")), "3"]);
    assert_eq!(missing.status.code(), Some(2));
    // Columns are matched by the names the fit recorded: reordered columns give the same
    // sources, renamed ones are refused.
    let text = std::fs::read_to_string(&data).unwrap();
    let permuted: String = text
        .lines()
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            format!("{},{},{}\n", c[2], c[0], c[1])
        })
        .collect();
    let reordered = sim.join("reordered.csv");
    std::fs::write(&reordered, permuted).unwrap();
    let r = pdgc(&["encode", s(&out), s(&reordered)]);
    assert!(r.status.success(), "{}", stderr(&r));
    assert_eq!(stdout(&r), stdout(&e), "read by name, not position");
    let renamed = sim.join("renamed.csv");
    std::fs::write(&renamed, text.replacen("x0,x1,x2", "a,b,c", 1)).unwrap();
    let r = pdgc(&["encode", s(&out), s(&renamed)]);
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("the model observes column `x0`, but the header has no such column (it has `a`, `b`, `c`)"), "{}", stderr(&r));
    let none = pdgc(&["sample", s(&out), "0"]);
    assert_eq!(none.status.code(), Some(2));
    assert_eq!(
        stderr(&none),
        "error: the number of draws must be at least 1\n"
    );
}

/// An invertible encoder's decoder is its inverse: the rows `sample` draws, encoded again,
/// give back the sources they were drawn from (to the f32 the CSV holds), with sd 0.
#[test]
fn an_invertible_encoders_samples_encode_back_to_their_sources() {
    let sim = simulate(80);
    let out = sim.join("fit");
    let o = fit(
        "models/flow.pdg",
        s(&sim.join("data.csv")),
        s(&out),
        &["--epochs", "30"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d = pdgc(&["sample", s(&out), "20", "--seed", "3"]);
    assert!(d.status.success(), "{}", stderr(&d));
    let rows: Vec<Vec<f64>> = stdout(&d)
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let observed: String = std::iter::once("x0,x1,x2".to_string())
        .chain(rows.iter().map(|r| format!("{},{},{}", r[0], r[1], r[2])))
        .map(|l| l + "\n")
        .collect();
    let drawn = sim.join("drawn.csv");
    std::fs::write(&drawn, observed).unwrap();
    let e = pdgc(&["encode", s(&out), s(&drawn)]);
    assert!(e.status.success(), "{}", stderr(&e));
    let text = stdout(&e);
    assert!(text.starts_with("z0,z1,z2,z0_sd,z1_sd,z2_sd\n"), "{text}");
    for (line, drawn) in text.lines().skip(1).zip(&rows) {
        let encoded: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        for j in 0..3 {
            let (z, back) = (drawn[3 + j], encoded[j]);
            assert!(
                (z - back).abs() < 1e-4 * (1.0 + z.abs()),
                "{z} encoded back as {back}"
            );
            assert_eq!(encoded[3 + j], 0.0, "a function of the data: sd 0");
        }
    }
}

#[test]
fn half_vae_encodes_new_rows_against_the_frozen_decoder() {
    let sim = simulate(60);
    let data = sim.join("data.csv");
    let out = sim.join("fit");
    let o = fit(
        "models/half_vae.pdg",
        s(&data),
        s(&out),
        &["--epochs", "30"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = pdgc(&["encode", s(&out), s(&data)]);
    assert!(e.status.success(), "{}", stderr(&e));
    let rows: Vec<Vec<f64>> = stdout(&e)
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 60);
    assert!(rows
        .iter()
        .all(|r| r.len() == 6 && r.iter().all(|v| v.is_finite())));
}

/// A failed write is a failed job (exit 1) with one `error:` naming the path.
#[test]
fn a_failed_save_says_error_once_and_names_the_path() {
    let sim = simulate(40);
    // The output's parent is a file, so no folder can be made there.
    let out = sim.join("data.csv").join("fit");
    let o = fit(
        "models/linear.pdg",
        s(&sim.join("data.csv")),
        s(&out),
        &["--epochs", "2"],
    );
    // Found before any work: bad input.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let message = stderr(&o);
    let expected = format!(
        "error: -o `{}` cannot be made: `{}` is a file, not a folder",
        out.display(),
        sim.join("data.csv").display()
    );
    assert!(message.starts_with(&expected), "{message}");
    assert_eq!(message.matches("error:").count(), 1, "{message}");
}

/// Replaces the fitted model's embedded RON header by `edit(header)` in a copy of the file.
fn edited_fit(fit: &Path, edit: impl Fn(&str) -> String) -> Vec<u8> {
    let bytes = std::fs::read(fit.join("model.safetensors")).unwrap();
    let size = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + size]).unwrap();
    let ron = header["__metadata__"]["pdgc"].as_str().unwrap().to_string();
    header["__metadata__"]["pdgc"] = serde_json::Value::String(edit(&ron));
    let mut text = serde_json::to_vec(&header).unwrap();
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + size..]);
    out
}

#[test]
fn an_edited_fitted_model_is_bad_input_not_a_crash() {
    let sim = simulate(40);
    let out = sim.join("fit");
    let o = fit(
        "models/linear.pdg",
        s(&sim.join("data.csv")),
        s(&out),
        &["--epochs", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let cases: [(&str, &str, &str); 7] = [
        ("k0", "k:3", "k:0"),
        ("latent0", "dim:3", "dim:0"),
        ("wide", "dim:3", "dim:1000000000000"),
        (
            "columns",
            "columns:[\"x0\",\"x1\",\"x2\"]",
            "columns:[\"x0\",\"x1\"]",
        ),
        (
            "whitening",
            "matrix:[[",
            "matrix:[[1.0],[0.0],[0.0]],unused:[[",
        ),
        (
            "whitening_1x1",
            "whitening:Some((matrix:[[",
            "whitening:Some((matrix:[[1.0]],unused:[[",
        ),
        ("width", "width:64", "width:1000000000000"),
    ];
    for (name, from, to) in cases {
        let bytes = edited_fit(&out, |ron| {
            assert!(ron.contains(from), "{name}: `{from}` not in {ron}");
            ron.replacen(from, to, 1)
        });
        let file = sim.join(format!("{name}.safetensors"));
        std::fs::write(&file, bytes).unwrap();
        for args in [
            vec!["sample", s(&file), "3"],
            vec!["encode", s(&file), s(&sim.join("data.csv"))],
        ] {
            let o = pdgc(&args);
            assert_eq!(o.status.code(), Some(2), "{name} {args:?}: {}", stderr(&o));
            let message = stderr(&o);
            assert!(
                message.starts_with(&format!("error: {}: ", file.display())),
                "{name}: {message}"
            );
            assert_eq!(message.lines().count(), 1, "{name}: {message}");
        }
    }
}

/// `-o` replaces only an earlier output of the same command (or an empty folder); a file,
/// the current folder, and the folder holding the input are never replaced.
#[test]
fn fit_and_simulate_replace_only_their_own_earlier_output() {
    let sim = simulate(40);
    let data = sim.join("data.csv");
    let note = sim.join("note.txt");
    std::fs::write(&note, "keep me").unwrap();
    let other = sim.join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.md"), "mine").unwrap();
    let refused = [
        (note.clone(), vec![], "is a file; the results are a folder"),
        (sim.to_path_buf(), vec!["--force"], "holds the input"),
        (
            other.clone(),
            vec![],
            "is a folder that holds more than only an earlier pdgc fit",
        ),
        (
            ".".into(),
            vec!["--force"],
            "does not name a folder of its own",
        ),
        (
            "/".into(),
            vec!["--force"],
            "does not name a folder of its own",
        ),
    ];
    for (out, flags, why) in refused {
        let mut args = vec!["--epochs", "2"];
        args.extend(flags);
        let o = fit("models/linear.pdg", s(&data), s(&out), &args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}: {}",
            out.display(),
            stderr(&o)
        );
        let expected = format!("error: -o `{}` {why}", out.display());
        assert!(stderr(&o).starts_with(&expected), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "keep me");
    assert!(
        data.is_file() && sim.join("truth.csv").is_file(),
        "the input is intact"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("notes.md")).unwrap(),
        "mine"
    );
    let o = pdgc(&["simulate", "linear", "-o", s(&other)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // --force replaces another folder; an earlier fit or simulation is replaced anyway.
    let o = fit(
        "models/linear.pdg",
        s(&data),
        s(&other),
        &["--epochs", "2", "--force"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(other.join("run.ron").is_file() && !other.join("notes.md").exists());
    let o = fit("models/linear.pdg", s(&data), s(&other), &["--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = pdgc(&[
        "simulate",
        "linear",
        "--samples",
        "50",
        "--seed",
        "3",
        "-o",
        s(&sim.join("sim2")),
    ]);
    assert!(again.status.success());
    let again = pdgc(&[
        "simulate",
        "linear",
        "--samples",
        "50",
        "-o",
        s(&sim.join("sim2")),
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
}

/// SIGTERM (or SIGINT) during training stops the fit after its epoch: the earlier output
/// stays as it was, no staging folder is left, a checkpoint is written and the message
/// says how to resume; the resumed fit ends byte-identical to one never interrupted.
#[test]
fn an_interrupted_fit_resumes_to_the_same_bytes() {
    let sim = simulate(200);
    let data = sim.join("data.csv");
    let out = sim.join("fit");
    // Long enough to be still training when the signal comes (about 1300 epochs run in
    // the first 0.7 s here).
    let epochs = "6000";
    let o = fit("models/linear.pdg", s(&data), s(&out), &["--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(out.join("sources.csv")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_pdgc"))
        .args(["fit", "models/linear.pdg", s(&data), "-o", s(&out), "-q"])
        .args(["--epochs", epochs])
        .current_dir(root())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let checkpoint = sim.join("fit.checkpoint");
    let message = stderr(&o);
    assert!(
        message.starts_with("error: interrupted after epoch "),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("--resume {}\n", checkpoint.display())),
        "{message}"
    );
    assert_eq!(std::fs::read(out.join("sources.csv")).unwrap(), before);
    let hidden: Vec<_> = std::fs::read_dir(&*sim)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "no staging folders left behind");
    assert!(checkpoint.is_file());

    // A checkpoint is for its own model, flags and data.
    let other = fit(
        "models/nonlinear.pdg",
        s(&data),
        s(&out),
        &["--epochs", epochs, "--resume", s(&checkpoint)],
    );
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(stderr(&other).contains("it was made for another model, or with other flags"));
    let data2 = sim.join("data2.csv");
    std::fs::write(&data2, {
        // One digit of the last row changed (the header stays as it is).
        let mut text = std::fs::read_to_string(&data).unwrap();
        let at = text.rfind('1').unwrap();
        text.replace_range(at..at + 1, "2");
        text
    })
    .unwrap();
    let other = fit(
        "models/linear.pdg",
        s(&data2),
        s(&out),
        &["--epochs", epochs, "--resume", s(&checkpoint)],
    );
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(stderr(&other).contains("it was made on other data"));

    let resumed = fit(
        "models/linear.pdg",
        s(&data),
        s(&out),
        &["--epochs", epochs, "--resume", s(&checkpoint)],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        !checkpoint.exists(),
        "a completed fit's checkpoint is removed"
    );
    let whole = sim.join("whole");
    let o = fit(
        "models/linear.pdg",
        s(&data),
        s(&whole),
        &["--epochs", epochs],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for file in [
        "sources.csv",
        "trace.csv",
        "priors.ron",
        "model.safetensors",
    ] {
        assert_eq!(
            std::fs::read(out.join(file)).unwrap(),
            std::fs::read(whole.join(file)).unwrap(),
            "{file}: resumed = uninterrupted"
        );
    }

    // A user's file where the checkpoint would go is never overwritten.
    std::fs::write(&checkpoint, "mine").unwrap();
    let o = fit("models/linear.pdg", s(&data), s(&out), &["--epochs", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "mine");
}

/// In a one-column file an empty cell is a blank line: it is a missing value, not a row
/// to drop; blank lines at the end are only the end.
#[test]
fn an_empty_cell_of_a_one_column_file_is_a_missing_value() {
    let dir = scratch();
    let model = dir.join("one.pdg");
    std::fs::write(
        &model,
        "observed x[1]\nlatent z[1] ~ gmm(K = 2)\nencoder linear\ndecoder linear\n",
    )
    .unwrap();
    let out = dir.join("fit");
    let o = fit(
        s(&model),
        "tests/data/one_column_empty_cell.csv",
        s(&out),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: tests/data/one_column_empty_cell.csv:4: column `x0` has a missing value (``); expected a number\n"
    );
    let trailing = dir.join("trailing.csv");
    std::fs::write(&trailing, "x0\n1\n2\n4\n5\n\n\n").unwrap();
    let o = fit(s(&model), s(&trailing), s(&out), &["--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
    assert!(run.contains("rows: 4,"), "{run}");
}

/// Data at 1e200 or 1e-300 fits like any other (moments are computed scaled), `sample`
/// writes it back in its own units, and correlations hold at any magnitude.
#[test]
fn data_of_any_magnitude_fits_and_evaluates() {
    let sim = simulate(120);
    // A copy of the CSV `name` with every number multiplied by `scale`.
    let scaled = |name: &str, scale: f64| {
        let text = std::fs::read_to_string(sim.join(name)).unwrap();
        let mut lines = text.lines();
        let mut out = format!("{}\n", lines.next().unwrap());
        for line in lines {
            let row: Vec<String> = line
                .split(',')
                .map(|v| format!("{:e}", v.parse::<f64>().unwrap() * scale))
                .collect();
            out += &format!("{}\n", row.join(","));
        }
        let file = sim.join(format!("{scale:e}-{name}"));
        std::fs::write(&file, out).unwrap();
        file
    };
    for scale in [1e200, 1e-300] {
        let file = scaled("data.csv", scale);
        let out = sim.join(format!("fit-{scale:e}"));
        let o = fit("models/linear.pdg", s(&file), s(&out), &["--epochs", "30"]);
        assert!(o.status.success(), "{scale:e}: {}", stderr(&o));
        let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
        assert!(!run.contains("inf") && !run.contains("NaN"), "{run}");
        let sources = std::fs::read_to_string(out.join("sources.csv")).unwrap();
        let first: Vec<&str> = sources.lines().skip(1).take(2).collect();
        assert_ne!(first[0], first[1], "sources vary by row");
        let d = pdgc(&["sample", s(&out), "3"]);
        assert!(d.status.success(), "{}", stderr(&d));
        let x0: f64 = stdout(&d)
            .lines()
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            x0 != 0.0 && x0.is_finite() && (x0 / scale).abs() < 1e3,
            "{x0}"
        );
    }
    // eval: the truth scaled by 1e200 against itself unscaled.
    let big_truth = scaled("truth.csv", 1e200);
    let e = pdgc(&["eval", s(&big_truth), s(&sim.join("truth.csv"))]);
    assert!(
        stdout(&e).starts_with("MCC (Pearson)  1.0000\n"),
        "{}",
        stdout(&e)
    );
}

/// Requests larger than the machine's memory are refused before anything is allocated
/// (exit 2), naming the flag or the file and the estimate.
#[test]
fn requests_larger_than_memory_are_refused_before_allocating() {
    let sim = simulate(60);
    let o = pdgc(&[
        "simulate",
        "linear",
        "--samples",
        "10000000000",
        "-o",
        s(&sim.join("big")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: --samples 10000000000 needs about "),
        "{}",
        stderr(&o)
    );
    assert!(!sim.join("big").exists());

    let out = sim.join("fit");
    let o = fit(
        "models/linear.pdg",
        s(&sim.join("data.csv")),
        s(&out),
        &["--epochs", "2"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = pdgc(&["sample", s(&out), "1000000000000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: drawing 1000000000000 samples needs about "));
    assert!(stderr(&o).contains("; this machine has about "));

    let model = sim.join("k.pdg");
    std::fs::write(&model, "observed x[3]\nlatent z[3] ~ gmm(K = 60000)\n").unwrap();
    let big = sim.join("rows.csv");
    let mut text = String::from("x0,x1,x2\n");
    for i in 0..20000 {
        text += &format!("{},{},{}\n", i % 7, i % 11, i % 13);
    }
    std::fs::write(&big, text).unwrap();
    let o = fit(s(&model), s(&big), s(&sim.join("k")), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("rows of")
            && stderr(&o).contains("(mostly the prior's number of components) needs about "),
        "{}",
        stderr(&o)
    );
}

/// `encode -o` and `sample -o` make missing parent folders, and an output that cannot be
/// made is refused before any work, naming its path (exit 2).
#[test]
fn encode_and_sample_write_where_asked_or_say_why_not() {
    let sim = simulate(40);
    let data = sim.join("data.csv");
    let out = sim.join("fit");
    let o = fit("models/linear.pdg", s(&data), s(&out), &["--epochs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let nested = sim.join("new/deeper/sources.csv");
    let e = pdgc(&["encode", s(&out), s(&data), "-o", s(&nested)]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert!(nested.is_file());
    let drawn = sim.join("draws/x.csv");
    let d = pdgc(&["sample", s(&out), "4", "-o", s(&drawn)]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert_eq!(std::fs::read_to_string(&drawn).unwrap().lines().count(), 5);
    // The parent is a file: no folder can be made there, which is found before any work.
    let blocked = data.join("x.csv");
    let e = pdgc(&["encode", s(&out), s(&data), "-o", s(&blocked)]);
    assert_eq!(e.status.code(), Some(2), "{}", stderr(&e));
    assert!(
        stderr(&e).starts_with(&format!(
            "error: -o `{}` cannot be made: `{}` is a file",
            blocked.display(),
            data.display()
        )),
        "{}",
        stderr(&e)
    );
}

/// A column the model observes by name must be named once in the header.
#[test]
fn a_column_named_twice_in_the_header_is_ambiguous() {
    let dir = scratch();
    let model = dir.join("named.pdg");
    std::fs::write(&model, "observed x = [x0, x2]\nlatent z[2] ~ gmm(K = 2)\n").unwrap();
    let data = dir.join("dup.csv");
    std::fs::write(&data, "x0,x0,x2\n1,5,3\n2,6,4\n3,8,1\n").unwrap();
    let o = fit(s(&model), s(&data), s(&dir.join("fit")), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!("error: {}:1: the header names column `x0` twice; the model observes it by name, so which one is meant is unclear\n", data.display())
    );
}

#[test]
fn simulate_draws_every_scenario_with_its_options() {
    let dir = scratch();
    for scenario in ["linear", "nonlinear", "moebius", "mlp", "post-nonlinear"] {
        let out = dir.join(scenario);
        let observed = if scenario == "moebius" { "4" } else { "5" };
        let o = pdgc(&[
            "simulate",
            scenario,
            "--samples",
            "60",
            "--sources",
            "4",
            "--observed",
            observed,
            "--noise",
            "0.01",
            "--marginals",
            "uniform,gaussian,laplace,exponential",
            "-o",
            s(&out),
        ]);
        assert!(o.status.success(), "{scenario}: {}", stderr(&o));
        let data = std::fs::read_to_string(out.join("data.csv")).unwrap();
        assert_eq!(
            data.lines().next().unwrap().split(',').count(),
            observed.parse::<usize>().unwrap()
        );
        let truth = std::fs::read_to_string(out.join("truth.csv")).unwrap();
        assert!(truth.starts_with("s0,s1,s2,s3\n"), "{scenario}");
        assert_eq!(
            out.join("mixing.csv").is_file(),
            scenario == "linear",
            "{scenario}"
        );
    }
    // Fewer observations than sources only for linear; Möbius maps R^n to itself.
    let o = pdgc(&[
        "simulate",
        "mlp",
        "--sources",
        "3",
        "--observed",
        "2",
        "-o",
        s(&dir.join("x")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: --observed must be at least --sources (3) for mlp: fewer observations than sources is only simulated for `linear`\n"
    );
    let o = pdgc(&[
        "simulate",
        "linear",
        "--marginals",
        "uniform,laplace",
        "-o",
        s(&dir.join("x")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--marginals names one marginal for every source"),
        "{}",
        stderr(&o)
    );
    let o = pdgc(&[
        "simulate",
        "linear",
        "--sources",
        "3",
        "--observed",
        "2",
        "-o",
        s(&dir.join("under")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The scenario's own marginals repeat over any number of sources.
    let five = dir.join("five");
    let o = pdgc(&[
        "simulate",
        "linear",
        "--sources",
        "5",
        "--samples",
        "20",
        "-o",
        s(&five),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let truth = std::fs::read_to_string(five.join("truth.csv")).unwrap();
    assert!(truth.starts_with("s0,s1,s2,s3,s4\n"), "{truth}");
}

#[test]
fn fastica_is_built_in_and_eval_gives_the_amari_distance() {
    let sim = simulate(1000);
    let sources = sim.join("ica.csv");
    let unmixing = sim.join("W.csv");
    let o = pdgc(&[
        "fastica",
        s(&sim.join("data.csv")),
        "-o",
        s(&sources),
        "--unmixing",
        s(&unmixing),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = pdgc(&[
        "eval",
        s(&sim.join("truth.csv")),
        s(&sources),
        "--json",
        "--mixing",
        s(&sim.join("mixing.csv")),
        "--unmixing",
        s(&unmixing),
    ]);
    assert!(e.status.success(), "{}", stderr(&e));
    let json: serde_json::Value = serde_json::from_str(&stdout(&e)).unwrap();
    assert!(json["mcc"].as_f64().unwrap() > 0.99, "{json}");
    let amari = json["amari"].as_f64().unwrap();
    assert!((0.0..0.05).contains(&amari), "{amari}");
    // A mixing and an unmixing that do not fit each other.
    let e = pdgc(&[
        "eval",
        s(&sim.join("truth.csv")),
        s(&sources),
        "--mixing",
        s(&sim.join("mixing.csv")),
        "--unmixing",
        s(&sim.join("truth.csv")),
    ]);
    assert_eq!(e.status.code(), Some(2));
    assert!(
        stderr(&e).contains("the unmixing must be 3×3"),
        "{}",
        stderr(&e)
    );
}

#[test]
fn compare_reports_fresh_seeds_paired_with_fastica() {
    let dir = scratch();
    let csv = dir.join("runs.csv");
    let args = |json: bool| {
        let mut a = vec![
            "compare",
            "models/linear.pdg",
            "--scenario",
            "linear",
            "--samples",
            "150",
            "--seeds",
            "3",
            "--seed-from",
            "1000",
            "--epochs",
            "10",
            "-q",
            "--csv",
            s(&csv),
        ];
        if json {
            a.push("--json");
        }
        pdgc(&a)
    };
    let o = args(false);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(
        table.contains("against fastica on the same seeds (a tie: MCC within 0.005):"),
        "{table}"
    );
    let row = table.lines().last().unwrap();
    assert!(row.starts_with("linear      3  "), "{row}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with(",error,mcc_minus_baseline,mcc_before_postprocess"));
    let seeds: Vec<&str> = lines.map(|l| l.split(',').nth(1).unwrap()).collect();
    assert_eq!(seeds, ["1000", "1000", "1001", "1001", "1002", "1002"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&args(true))).unwrap();
    let paired = &json["paired"][0];
    assert_eq!(paired["method"], "linear");
    assert_eq!(paired["baseline"], "fastica");
    assert_eq!(paired["pairs"], 3);
    let counted = ["wins", "ties", "losses"].map(|k| paired[k].as_u64().unwrap());
    assert_eq!(counted.iter().sum::<u64>(), 3);
    let (low, mean, high) = (
        paired["ci_low"].as_f64().unwrap(),
        paired["mean_difference"].as_f64().unwrap(),
        paired["ci_high"].as_f64().unwrap(),
    );
    assert!(low <= mean && mean <= high, "{paired}");
}

#[test]
fn compare_fits_every_model_with_every_seed_whatever_the_jobs() {
    let dir = scratch();
    let run = |jobs: &str, csv: &Path| {
        pdgc(&[
            "compare",
            "models/linear.pdg",
            "models/standard_vae.pdg",
            "--scenario",
            "linear",
            "--samples",
            "120",
            "--seeds",
            "2",
            "--epochs",
            "15",
            "--jobs",
            jobs,
            "--json",
            "--csv",
            s(csv),
            "--plot",
            s(&dir.join("mcc.svg")),
            "-q",
        ])
    };
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    let o = run("1", &a);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let methods: Vec<&str> = json["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["linear", "standard_vae", "fastica"]);
    assert_eq!(json["runs"].as_array().unwrap().len(), 6);
    for s in json["summaries"].as_array().unwrap() {
        assert_eq!(s["runs"], 2);
        let mcc = s["mcc"]["mean"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&mcc), "{s}");
    }
    let o = run("2", &b);
    assert!(o.status.success(), "{}", stderr(&o));
    // Every column but the time is the same, whatever runs at once.
    let untimed = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                format!("{}{}", cells[..5].join(","), cells[6..].join(","))
            })
            .collect()
    };
    assert_eq!(untimed(&a), untimed(&b));
    let svg = std::fs::read_to_string(dir.join("mcc.svg")).unwrap();
    roxmltree::Document::parse(svg.trim_start_matches("<!-- pdgc compare -->\n")).unwrap();

    // The table, from given data; a user's file is not replaced by --csv.
    let sim = simulate(100);
    let mine = dir.join("mine.csv");
    std::fs::write(&mine, "my,notes\n").unwrap();
    let args = |csv: &Path| {
        pdgc(&[
            "compare",
            "models/linear.pdg",
            "--data",
            s(&sim.join("data.csv")),
            "--truth",
            s(&sim.join("truth.csv")),
            "--seeds",
            "1",
            "--epochs",
            "5",
            "--csv",
            s(csv),
            "-q",
        ])
    };
    let o = args(&mine);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not an earlier `pdgc compare` output"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my,notes\n");
    let o = args(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(
        table.starts_with("method   runs      MCC mean ± sd"),
        "{table}"
    );
    assert!(
        table.contains("\nlinear      1  ") && table.contains("\nfastica     1  "),
        "{table}"
    );

    // Data a model cannot read is refused before any fit.
    let narrow = dir.join("narrow.csv");
    let text: String = std::fs::read_to_string(sim.join("data.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(&narrow, text).unwrap();
    let o = pdgc(&[
        "compare",
        "models/linear.pdg",
        "--data",
        s(&narrow),
        "--truth",
        s(&sim.join("truth.csv")),
        "--baseline",
        "none",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("error: --data does not suit model `linear`"),
        "{}",
        stderr(&o)
    );
}

/// `train { tol }` stops a fit once the windowed loss is flat, says so, and records the
/// epoch in run.ron; the report shows it. A tolerance of 0.5 is met within the first
/// windows (four windows of 100 are the earliest, epoch 400).
#[test]
fn tol_stops_a_fit_early_and_says_where() {
    let dir = simulate(200);
    let model = dir.join("tol.pdg");
    let text = std::fs::read_to_string(root().join("models/linear.pdg"))
        .unwrap()
        .replace("epochs 4000;", "epochs 3000; tol 0.5;");
    std::fs::write(&model, text).unwrap();
    let out = dir.join("fit");
    let o = pdgc(&["fit", s(&model), s(&dir.join("data.csv")), "-o", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let at: usize = err
        .strip_prefix("stopped at epoch ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        err.contains(" of 3000: the loss's mean over each of the last 4 windows of 100 epochs changed by less than tol 0.5"),
        "{err}"
    );
    assert!((400..3000).contains(&at) && at.is_multiple_of(100), "{at}");
    let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
    assert!(run.contains(&format!("converged_at: Some({at})")), "{run}");
    let trace = std::fs::read_to_string(out.join("trace.csv")).unwrap();
    assert_eq!(trace.lines().count(), at + 1);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains(&format!("{at} of 3000 (stopped")),
        "the report says so"
    );
}

/// A step's rows are split into chunks that run on the thread pool: `--threads 1` and
/// `--threads 2` write the same sources and fitted model, byte for byte.
#[test]
fn a_fit_does_not_depend_on_the_thread_count() {
    let dir = simulate(2100);
    let model = dir.join("nonlinear.pdg");
    let text = std::fs::read_to_string(root().join("models/nonlinear.pdg")).unwrap();
    std::fs::write(&model, text.replace("dense 64", "dense 16")).unwrap();
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("fit{threads}"));
        let o = pdgc(&[
            "fit",
            s(&model),
            s(&dir.join("data.csv")),
            "-o",
            s(&out),
            "--epochs",
            "15",
            "--threads",
            threads,
            "--no-plots",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let read = |f: &str| std::fs::read(out.join(f)).unwrap();
        outputs.push((read("sources.csv"), read("model.safetensors")));
    }
    assert!(outputs[0] == outputs[1], "--threads 1 and 2 differ");
}

/// `train { restarts 3; choose … }`: every restart records both label-free measures, and
/// the kept one is the least dependent (`independence`) or the most agreeing
/// (`agreement`); the written fit is that restart's.
#[test]
fn restarts_chosen_without_labels_keep_what_their_criterion_prefers() {
    let dir = simulate(200);
    let truth = dir.join("truth.csv");
    for (choose, pick_lowest) in [("independence", true), ("agreement", false)] {
        let model = dir.join(format!("{choose}.pdg"));
        let text = std::fs::read_to_string(root().join("models/linear.pdg"))
            .unwrap()
            .replace(
                "epochs 4000;",
                &format!("epochs 20; restarts 3; choose {choose};"),
            );
        std::fs::write(&model, text).unwrap();
        let out = dir.join(choose);
        let o = pdgc(&[
            "fit",
            s(&model),
            s(&dir.join("data.csv")),
            "--truth",
            s(&truth),
            "-o",
            s(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let record: pdgc_run::RunRecord =
            ron::from_str(&std::fs::read_to_string(out.join("run.ron")).unwrap()).unwrap();
        let measure: Vec<f64> = record
            .restarts
            .iter()
            .map(|r| match pick_lowest {
                true => r.dependence.unwrap(),
                false => -r.agreement.unwrap(),
            })
            .collect();
        let best = (0..3)
            .min_by(|&a, &b| measure[a].total_cmp(&measure[b]))
            .unwrap();
        assert_eq!(record.kept_restart, Some(best), "{choose}: {measure:?}");
        assert_eq!(
            record.mcc, record.restarts[best].mcc,
            "the kept model is written"
        );
        let said = match pick_lowest {
            true => "the least dependent sources, mean distance correlation",
            false => "the most agreement with the others, mean MCC",
        };
        assert!(stderr(&o).contains(said), "{}", stderr(&o));
    }
}

/// `postprocess fastica`: the fit records the unmixing and the MCC before it; `encode`
/// applies the recorded unmixing, so the training rows give the fit's own sources.
#[test]
fn postprocess_fastica_is_recorded_and_encode_applies_it() {
    let dir = simulate(300);
    let data = dir.join("data.csv");
    let model = dir.join("post.pdg");
    let text = std::fs::read_to_string(root().join("models/nonlinear.pdg"))
        .unwrap()
        .replace("epochs 4000;", "epochs 60;")
        .replace("beta 0.01", "beta 0.01\npostprocess fastica");
    std::fs::write(&model, text).unwrap();
    let out = dir.join("fit");
    let o = fit(
        s(&model),
        s(&data),
        s(&out),
        &["--truth", s(&dir.join("truth.csv"))],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let record: pdgc_run::RunRecord =
        ron::from_str(&std::fs::read_to_string(out.join("run.ron")).unwrap()).unwrap();
    let unmixing = record.postprocessing.expect("the unmixing is recorded");
    assert_eq!((unmixing.matrix.len(), unmixing.means.len()), (3, 3));
    assert!(record.mcc_before_postprocess.is_some() && record.mcc.is_some());
    let e = pdgc(&["encode", s(&out), s(&data)]);
    assert!(e.status.success(), "{}", stderr(&e));
    assert_eq!(
        stdout(&e),
        std::fs::read_to_string(out.join("sources.csv")).unwrap()
    );
    // FastICA's sources have unit variance; the posterior means did not.
    let sources = pdgc::data::parse_table("sources.csv", &e.stdout, pdgc::data::Wanted::All)
        .unwrap()
        .values;
    let sd = pdgc::matrix::column_moments(&sources)[0].1;
    assert!((sd - 1.0).abs() < 0.01, "{sd}");
    let d = pdgc(&["sample", s(&out), "4"]);
    assert!(d.status.success(), "{}", stderr(&d));
}

/// `train { restarts 3 }`: three fits from seeds 0, 1, 2; the one with the lowest final
/// objective is kept and is what `fit` writes (its MCC is the fit's); run.ron records
/// every restart. The restarts do not depend on how many run at once.
#[test]
fn restarts_keep_the_lowest_objective_whatever_the_threads() {
    let dir = simulate(200);
    let model = dir.join("restarts.pdg");
    let text = std::fs::read_to_string(root().join("models/linear.pdg"))
        .unwrap()
        .replace("epochs 4000;", "epochs 20; restarts 3;");
    std::fs::write(&model, text).unwrap();
    let truth = dir.join("truth.csv");
    let mut records = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.join(format!("fit{threads}"));
        let o = pdgc(&[
            "fit",
            s(&model),
            s(&dir.join("data.csv")),
            "--truth",
            s(&truth),
            "-o",
            s(&out),
            "--threads",
            threads,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("of 3 (seed "), "{err}");
        let run = std::fs::read_to_string(out.join("run.ron")).unwrap();
        let record: pdgc_run::RunRecord = ron::from_str(&run).unwrap();
        assert_eq!(record.restarts.len(), 3);
        let seeds: Vec<u64> = record.restarts.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [0, 1, 2]);
        let objectives: Vec<f64> = record
            .restarts
            .iter()
            .map(|r| r.objective.unwrap())
            .collect();
        let lowest = (0..3)
            .min_by(|&a, &b| objectives[a].total_cmp(&objectives[b]))
            .unwrap();
        assert_eq!(record.kept_restart, Some(lowest));
        assert_eq!(
            record.mcc, record.restarts[lowest].mcc,
            "the kept model is written"
        );
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(
            html.contains(&format!("#{lowest} seed {lowest}")),
            "the report lists them"
        );
        records.push(record.restarts);
    }
    assert_eq!(
        records[0], records[1],
        "--threads 1 and 2 give the same restarts"
    );

    let o = pdgc(&[
        "fit",
        s(&model),
        s(&dir.join("data.csv")),
        "-o",
        s(&dir.join("cp")),
        "--checkpoint-every",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "error: --checkpoint-every cannot be used with `train { restarts 3 }`: a checkpoint holds one fit\n"
    );
}

/// The parts of run.ron this file's tests read.
mod pdgc_run {
    #[derive(serde::Deserialize)]
    pub struct RunRecord {
        pub mcc: Option<f64>,
        #[serde(default)]
        pub mcc_before_postprocess: Option<f64>,
        #[serde(default)]
        pub postprocessing: Option<pdgc::postprocess::Unmixing>,
        pub kept_restart: Option<usize>,
        pub restarts: Vec<pdgc::train::RestartOutcome>,
    }
}
