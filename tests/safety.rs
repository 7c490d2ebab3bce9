//! Nothing is ever lost (issue 20), through the real binary: an interrupt keeps the
//! training, every output appears whole or not at all (SIGKILL at many points), no command
//! replaces one of its inputs or a user's file, and every refusal is one golden message
//! with its exit code (`tests/golden/refusals.txt`; `BLESS=1` rewrites it).

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `pdgc` with `args` in `dir`, its output captured.
fn spawn_in(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pdgc"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting pdgc")
}

fn signal(child: &Child, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, signal);
}

/// A folder holding `model.pdg` (the linear model, 30 epochs), `data.csv` and `truth.csv`
/// (`pdgc simulate linear`, 300 rows) and `fit/`, a fit of them.
fn workspace() -> Scratch {
    let dir = scratch();
    let model = std::fs::read_to_string(root().join("models/linear.pdg"))
        .unwrap()
        .replace("epochs 4000", "epochs 30");
    std::fs::write(dir.join("model.pdg"), model).unwrap();
    ok(&pdgc_in(
        &dir,
        &["simulate", "linear", "--samples", "300", "-o", "sim"],
    ));
    for f in ["data.csv", "truth.csv"] {
        std::fs::rename(dir.join("sim").join(f), dir.join(f)).unwrap();
    }
    std::fs::remove_dir_all(dir.join("sim")).unwrap();
    ok(&pdgc_in(
        &dir,
        &[
            "fit",
            "model.pdg",
            "data.csv",
            "-o",
            "fit",
            "--quiet",
            "--no-plots",
        ],
    ));
    dir
}

/// Every refusal of issue 20, each with its exit code and message, compared with the golden
/// file. Each case runs in a fresh copy of the workspace (made by `setup`).
#[test]
fn every_refusal_is_one_golden_message_with_its_exit_code() {
    type Setup = fn(&Path);
    let nothing: Setup = |_| {};
    let cases: Vec<(&str, Setup, Vec<&str>)> = vec![
        // 3: a command never replaces its own input.
        (
            "encode over its data",
            nothing,
            vec!["encode", "fit", "data.csv", "-o", "data.csv"],
        ),
        (
            "encode over the fit's sources",
            nothing,
            vec!["encode", "fit", "data.csv", "-o", "fit/sources.csv"],
        ),
        (
            "encode into a link of its data",
            |d| std::os::unix::fs::symlink("data.csv", d.join("link.csv")).unwrap(),
            vec!["encode", "fit", "data.csv", "-o", "link.csv"],
        ),
        (
            "encode over its data by another name",
            |d| std::fs::hard_link(d.join("data.csv"), d.join("same.csv")).unwrap(),
            vec!["encode", "fit", "same.csv", "-o", "data.csv"],
        ),
        (
            "sample over the fitted model",
            nothing,
            vec!["sample", "fit", "5", "-o", "fit/model.safetensors"],
        ),
        (
            "fastica over its data",
            nothing,
            vec!["fastica", "data.csv", "-o", "data.csv"],
        ),
        (
            "fastica's unmixing over its data",
            nothing,
            vec!["fastica", "data.csv", "--unmixing", "./data.csv"],
        ),
        (
            "fastica's two outputs one file",
            nothing,
            vec!["fastica", "data.csv", "-o", "w.csv", "--unmixing", "w.csv"],
        ),
        (
            "report over the fit's trace",
            nothing,
            vec!["report", "fit", "-o", "fit/trace.csv"],
        ),
        (
            "compare's csv over a model",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--csv",
                "model.pdg",
            ],
        ),
        // 4: fit replaces only a folder holding exactly an earlier fit.
        (
            "fit over a folder with a garbage run.ron",
            |d| {
                std::fs::create_dir_all(d.join("mine/mydata")).unwrap();
                std::fs::write(d.join("mine/run.ron"), "garbage").unwrap();
                std::fs::write(d.join("mine/notes.txt"), "mine").unwrap();
            },
            vec!["fit", "model.pdg", "data.csv", "-o", "mine"],
        ),
        (
            "fit over a fit with the user's notes",
            |d| std::fs::write(d.join("fit/notes.txt"), "mine").unwrap(),
            vec!["fit", "model.pdg", "data.csv", "-o", "fit"],
        ),
        (
            "fit over a fit whose plots hold the user's file",
            |d| {
                std::fs::create_dir_all(d.join("fit/plots")).unwrap();
                std::fs::write(d.join("fit/plots/notes.txt"), "mine").unwrap();
            },
            vec!["fit", "model.pdg", "data.csv", "-o", "fit"],
        ),
        // 5: two outputs of one command are never one file.
        (
            "compare's csv and plot one file",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--csv",
                "x",
                "--plot",
                "./x",
            ],
        ),
        // 6 and 11: data FastICA cannot whiten.
        (
            "fastica on three rows",
            nothing,
            vec!["fastica", "../data/three_rows.csv"],
        ),
        (
            "fastica on a constant column",
            nothing,
            vec!["fastica", "../data/constant_column.csv"],
        ),
        (
            "fastica on dependent columns",
            |d| {
                std::fs::write(
                    d.join("dep.csv"),
                    "a,b,c\n1,2,3\n2,1,3\n0,5,5\n4,4,8\n3,0,3\n",
                )
                .unwrap()
            },
            vec!["fastica", "dep.csv"],
        ),
        (
            "compare on three rows",
            |d| {
                std::fs::copy(d.join("../data/three_rows.csv"), d.join("t.csv"))
                    .map(|_| ())
                    .unwrap()
            },
            vec![
                "compare",
                "model.pdg",
                "--data",
                "../data/three_rows.csv",
                "--truth",
                "t.csv",
                "--baseline",
                "fastica",
            ],
        ),
        (
            "compare on three simulated rows",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--scenario",
                "linear",
                "--samples",
                "3",
            ],
        ),
        // 10: numbers with finite ranges.
        (
            "fit with a learning rate of 1e30",
            nothing,
            vec!["fit", "model.pdg", "data.csv", "--lr", "1e30", "-o", "new"],
        ),
        (
            "check of beta 1e308",
            |d| {
                std::fs::write(
                    d.join("big.pdg"),
                    "observed x[3]\nlatent z[3] ~ gmm(K = 2)\nbeta 1e308\n",
                )
                .unwrap()
            },
            vec!["check", "big.pdg"],
        ),
        // 17: a bad -o is found before any work.
        (
            "fit into a dangling link",
            |d| std::os::unix::fs::symlink("nowhere/at/all", d.join("dangling")).unwrap(),
            vec!["fit", "model.pdg", "data.csv", "-o", "dangling"],
        ),
        (
            "fit into fit/.",
            nothing,
            vec!["fit", "model.pdg", "data.csv", "-o", "fit/."],
        ),
        (
            "sample into a folder name",
            nothing,
            vec!["sample", "fit", "5", "-o", "newdir/"],
        ),
        (
            "sample under a file",
            nothing,
            vec!["sample", "fit", "5", "-o", "data.csv/x.csv"],
        ),
        (
            "encode into a folder",
            nothing,
            vec!["encode", "fit", "data.csv", "-o", "fit"],
        ),
        // 18: messages name the flag that was given.
        (
            "compare's csv over a user's file",
            |d| std::fs::write(d.join("mine.csv"), "a,b\n1,2\n").unwrap(),
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--csv",
                "mine.csv",
            ],
        ),
        (
            "compare's plot over a user's file",
            |d| std::fs::write(d.join("mine.svg"), "<svg/>").unwrap(),
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--plot",
                "mine.svg",
            ],
        ),
        (
            "report over plots holding a user's file",
            |d| {
                std::fs::create_dir_all(d.join("fit/plots")).unwrap();
                std::fs::write(d.join("fit/plots/notes.txt"), "mine").unwrap();
            },
            vec!["report", "fit"],
        ),
        (
            "compare of a model the scenario does not suit",
            |d| {
                std::fs::write(
                    d.join("five.pdg"),
                    "observed x[5]\nlatent z[5] ~ gmm(K = 2)\n",
                )
                .unwrap()
            },
            vec![
                "compare",
                "five.pdg",
                "--scenario",
                "linear",
                "--samples",
                "50",
            ],
        ),
        // 20: a flag that does not apply is an error, not silence.
        (
            "eval of only _sd columns",
            |d| std::fs::write(d.join("sd.csv"), "z0_sd,z1_sd\n1,2\n3,4\n5,7\n").unwrap(),
            vec!["eval", "sd.csv", "sd.csv"],
        ),
        (
            "eval of an all-zero unmixing",
            |d| {
                std::fs::write(d.join("a.csv"), "s0,s1\n1,0\n0,1\n").unwrap();
                std::fs::write(d.join("w.csv"), "x0,x1\n0,0\n0,0\n").unwrap();
                std::fs::write(d.join("s.csv"), "s0,s1\n1,2\n2,1\n3,5\n").unwrap();
            },
            vec![
                "eval",
                "s.csv",
                "s.csv",
                "--mixing",
                "a.csv",
                "--unmixing",
                "w.csv",
            ],
        ),
        (
            "compare with a scenario and a truth",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--scenario",
                "linear",
                "--truth",
                "truth.csv",
            ],
        ),
        (
            "simulate linear with layers",
            nothing,
            vec!["simulate", "linear", "--layers", "7", "-o", "new"],
        ),
        (
            "resume with a truth the checkpoint lacks",
            |d| interrupted_fit(d, &[]),
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "-o",
                "new",
                "--epochs",
                "100000",
                "--resume",
                "new.checkpoint",
                "--truth",
                "truth.csv",
            ],
        ),
        (
            "resume without the checkpoint's truth",
            |d| interrupted_fit(d, &["--truth", "truth.csv"]),
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "-o",
                "new",
                "--epochs",
                "100000",
                "--resume",
                "new.checkpoint",
            ],
        ),
        (
            "resume with a truth and other epochs",
            |d| interrupted_fit(d, &["--truth", "truth.csv"]),
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "-o",
                "new",
                "--epochs",
                "200000",
                "--resume",
                "new.checkpoint",
                "--truth",
                "truth.csv",
            ],
        ),
        (
            "resume from a missing checkpoint",
            nothing,
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "-o",
                "new",
                "--resume",
                "new.checkpoint",
            ],
        ),
        // Found by a second adversarial pass.
        (
            "fit with epochs past any memory",
            nothing,
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "--epochs",
                "18446744073709551615",
                "-o",
                "new",
            ],
        ),
        (
            "check of epochs past any memory",
            |d| {
                std::fs::write(
                    d.join("long.pdg"),
                    "observed x[3]\nlatent z[3] ~ gmm(K = 2)\ntrain { epochs 1000000000000 }\n",
                )
                .unwrap()
            },
            vec!["check", "long.pdg"],
        ),
        (
            "fastica on values too large to square",
            |d| std::fs::write(d.join("huge.csv"), "a,b\n1e308,2\n-1e308,3\n5,-1\n2,1\n").unwrap(),
            vec!["fastica", "huge.csv"],
        ),
        (
            "fit on a header naming a column twice",
            |d| {
                std::fs::write(
                    d.join("dup.csv"),
                    "x0,x0,x2\n1,2,3\n4,5,6\n7,8,9.5\n2,1,0\n",
                )
                .unwrap()
            },
            vec!["fit", "model.pdg", "dup.csv", "-o", "new"],
        ),
        (
            "compare with samples but no scenario",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--samples",
                "100",
            ],
        ),
        (
            "fit with plot rows and no plots",
            nothing,
            vec![
                "fit",
                "model.pdg",
                "data.csv",
                "--no-plots",
                "--plot-rows",
                "10",
                "-o",
                "new",
            ],
        ),
        (
            "compare of a model the data does not suit",
            |d| {
                std::fs::write(
                    d.join("five.pdg"),
                    "observed x[5]\nlatent z[5] ~ gmm(K = 2)\n",
                )
                .unwrap()
            },
            vec![
                "compare",
                "five.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
            ],
        ),
        (
            "fit whose checkpoint name is taken",
            |d| std::fs::write(d.join("ck.checkpoint"), "k").unwrap(),
            vec!["fit", "model.pdg", "data.csv", "-o", "ck"],
        ),
        (
            "report of a cut sources.csv",
            |d| {
                let text = std::fs::read_to_string(d.join("fit/sources.csv")).unwrap();
                let cut: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
                std::fs::write(d.join("fit/sources.csv"), cut).unwrap();
            },
            vec!["report", "fit"],
        ),
        (
            "check of an endless model file",
            nothing,
            vec!["check", "/dev/zero"],
        ),
        (
            "plan into a plan that has results",
            |d| {
                let o = pdgc_in(
                    d,
                    &[
                        "compare",
                        "model.pdg",
                        "--data",
                        "data.csv",
                        "--truth",
                        "truth.csv",
                        "--seeds",
                        "1",
                        "--plan",
                        "p",
                    ],
                );
                assert!(o.status.success());
                std::fs::create_dir_all(d.join("p/results/r0")).unwrap();
            },
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--plan",
                "p",
            ],
        ),
        (
            "collect of a folder that is no plan",
            nothing,
            vec!["compare", "--collect", "fit"],
        ),
        (
            "plan with a time that is no Slurm value",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--plan",
                "p",
                "--time",
                "1:00\nrm -rf /",
            ],
        ),
        (
            "plan with jobs",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--plan",
                "p",
                "--jobs",
                "4",
            ],
        ),
        (
            "plan with a time of zero",
            nothing,
            vec![
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--plan",
                "p",
                "--time",
                "00:00:00",
            ],
        ),
        (
            "collect into its plan",
            |d| {
                let o = pdgc_in(
                    d,
                    &[
                        "compare",
                        "model.pdg",
                        "--data",
                        "data.csv",
                        "--truth",
                        "truth.csv",
                        "--seeds",
                        "1",
                        "--plan",
                        "p",
                    ],
                );
                assert!(o.status.success());
            },
            vec!["compare", "--collect", "p", "--csv", "p/results/r1.csv"],
        ),
        (
            "collect with seeds",
            nothing,
            vec!["compare", "--collect", "p", "--seeds", "3"],
        ),
    ];
    let golden_path = root().join("tests/golden/refusals.txt");
    let mut found = String::new();
    let base = workspace();
    let data = root().join("tests/data");
    for (name, setup, args) in &cases {
        // Each case in its own copy, beside a copy of tests/data.
        let outer = scratch();
        let dir = outer.join("work");
        copy_folder(&base, &dir);
        copy_folder(&data, &outer.join("data"));
        setup(&dir);
        let before = listing(&outer);
        let o = pdgc_in(&dir, args);
        let code = o
            .status
            .code()
            .map_or("signal".to_string(), |c| c.to_string());
        found += &format!(
            "## {name}\n$ pdgc {}\nexit {code}\n{}\n",
            args.join(" "),
            without_machine_memory(&stderr(&o))
        );
        assert_ne!(o.status.code(), Some(0), "{name}: refused");
        assert_ne!(o.status.code(), Some(101), "{name}: no panic");
        // A refusal touches nothing (the checkpoint case made its own files in setup).
        assert_eq!(listing(&outer), before, "{name}: nothing was written");
    }
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden_path, &found).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    assert_eq!(
        found, golden,
        "tests/golden/refusals.txt (BLESS=1 rewrites it)"
    );
    assert!(cases.len() >= 50);
}

/// Leaves `new.checkpoint` in `dir`: a fit into `new` (100 000 epochs, with `flags`)
/// interrupted once its first checkpoint is written.
fn interrupted_fit(dir: &Path, flags: &[&str]) {
    let mut args = vec![
        "fit",
        "model.pdg",
        "data.csv",
        "-o",
        "new",
        "--epochs",
        "100000",
        "--checkpoint-every",
        "10",
    ];
    args.extend(flags);
    let mut child = spawn_in(dir, &args);
    let checkpoint = dir.join("new.checkpoint");
    while !checkpoint.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, rustix::process::Signal::INT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

/// `text` with the memory this machine has replaced by `…`: the golden text is the same on
/// any machine.
fn without_machine_memory(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("this machine has about ") {
            Some(at) => format!("{}this machine has about …", &line[..at]),
            None => line.to_string(),
        })
        .map(|line| line + "\n")
        .collect()
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_folder(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every path under `dir` with its size and contents' hash, sorted: what a command changed.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, u64)> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                all.push((path, 0, 0));
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                all.push((path, meta.len(), hash(&bytes)));
            }
        }
    }
    all.sort();
    all
}

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The files of a fit folder that do not hold timings, as bytes.
fn fit_bytes(dir: &Path) -> Vec<Vec<u8>> {
    [
        "sources.csv",
        "trace.csv",
        "priors.ron",
        "model.safetensors",
    ]
    .iter()
    .map(|f| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
    .collect()
}

/// Names in `dir` that start with a dot: temporaries, staging folders.
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// The resume command a fit printed, as words, without the leading `pdgc`.
fn resume_words(stderr: &str) -> Vec<String> {
    let line = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("resume with: "))
        .unwrap_or_else(|| panic!("no resume line in {stderr}"));
    let words = shlex::split(line).expect("a line the shell reads");
    assert_eq!(words[0], "pdgc");
    words[1..].to_vec()
}

/// SIGINT at moments spread over a fit (reading, training, writing): every time the fit
/// exits 130 with a checkpoint and a resume line, or has finished; resuming ends with the
/// bytes of a fit never interrupted.
#[test]
fn an_interrupt_at_any_moment_keeps_the_training() {
    let dir = workspace();
    let args = [
        "fit",
        "model.pdg",
        "data.csv",
        "-o",
        "out",
        "--epochs",
        "200",
        "--truth",
        "truth.csv",
    ];
    let started = Instant::now();
    ok(&pdgc_in(&dir, &args));
    let duration = started.elapsed();
    let reference = fit_bytes(&dir.join("out"));
    std::fs::remove_dir_all(dir.join("out")).unwrap();
    let (mut stopped, mut finished) = (0, 0);
    for i in 1..=20 {
        let mut child = spawn_in(&dir, &args);
        std::thread::sleep(duration.mul_f64(i as f64 / 20.0));
        signal(&child, rustix::process::Signal::INT);
        let status = child.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
        match status.code() {
            Some(0) => finished += 1,
            // The signal came while the finished fit was being put in place: it is there.
            Some(130) if text.contains("the fit had finished") => {
                finished += 1;
                assert_eq!(fit_bytes(&dir.join("out")), reference, "{i}: the whole fit");
            }
            Some(130) => {
                stopped += 1;
                assert!(text.contains("resume with: "), "{i}: {text}");
                assert!(!dir.join("out").exists(), "{i}: nothing swapped in");
                let words = resume_words(&text);
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                let o = pdgc_in(&dir, &words);
                ok(&o);
                assert_eq!(fit_bytes(&dir.join("out")), reference, "{i}: resumed bytes");
                assert!(
                    !dir.join("out.checkpoint").exists(),
                    "{i}: checkpoint removed"
                );
            }
            other => panic!("{i}: exit {other:?}: {text}"),
        }
        assert!(
            hidden(&dir).is_empty(),
            "{i}: temporaries left: {:?}",
            hidden(&dir)
        );
        let _ = std::fs::remove_dir_all(dir.join("out"));
    }
    assert!(
        stopped >= 5,
        "{stopped} of 20 interrupts stopped the fit ({finished} finished)"
    );
}

/// The resume line is quoted for the shell, whatever the output's name holds, and pastes
/// back exactly (a name that is not UTF-8 too).
#[test]
fn the_resume_line_runs_pdgc_and_nothing_else() {
    use std::os::unix::ffi::OsStrExt;
    let dir = workspace();
    let odd = std::ffi::OsStr::from_bytes(b"a;b$(touch pwned) \xff'x");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pdgc"))
        .args(["fit", "model.pdg", "data.csv", "--epochs", "100000", "-o"])
        .arg(odd)
        .current_dir(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training runs (the first checkpoint-free epochs), then interrupt.
    std::thread::sleep(Duration::from_millis(700));
    signal(&child, rustix::process::Signal::INT);
    let status = child.wait().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut text).unwrap();
    assert_eq!(status.code(), Some(130), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("resume with: "))
        .unwrap();
    // The shell reads it back to the same words: the output's name, byte for byte.
    let o = Command::new("bash")
        .args(["-c", &format!("printf '%s\\0' {line}")])
        .current_dir(&dir)
        .output()
        .unwrap();
    let words: Vec<&[u8]> = o.stdout.split(|&b| b == 0).collect();
    let mut checkpoint = odd.as_bytes().to_vec();
    checkpoint.extend_from_slice(b".checkpoint");
    assert!(words.contains(&odd.as_bytes()), "{line}");
    assert!(words.contains(&checkpoint.as_slice()), "{line}");
    assert!(!dir.join("pwned").exists(), "nothing ran");
}

/// SIGKILL at 60 moments of a fit, from reading the data to swapping in the output: the
/// earlier output folder is there, whole, or the new one is, whole; what a killed run
/// leaves is cleared by the next run; a checkpoint, when there is one, resumes to the bytes
/// of a fit never interrupted.
#[test]
fn a_fit_killed_at_any_moment_leaves_an_output_whole() {
    let dir = workspace();
    let args = [
        "fit",
        "model.pdg",
        "data.csv",
        "-o",
        "out",
        "--epochs",
        "120",
        "--seed",
        "7",
        "--checkpoint-every",
        "10",
        "--quiet",
    ];
    // The earlier output: a fit with another seed.
    let earlier_args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "7" { "8" } else { a })
        .collect();
    ok(&pdgc_in(&dir, &earlier_args));
    let earlier = fit_bytes(&dir.join("out"));
    let new_dir = dir.join("reference");
    let mut reference_args = args.to_vec();
    reference_args[4] = "reference";
    let started = Instant::now();
    ok(&pdgc_in(&dir, &reference_args));
    let duration = started.elapsed();
    let reference = fit_bytes(&new_dir);
    assert_ne!(earlier, reference);
    let (mut kept, mut replaced, mut resumed) = (0, 0, 0);
    let points = 60;
    for i in 0..points {
        let mut child = spawn_in(&dir, &args);
        if i % 3 == 2 {
            // A third of the kills in the write phase, whatever the machine's load: from
            // the moment the staging folder appears, 0 to 38 ms into the writes.
            wait_for_staging(&dir, &mut child);
            std::thread::sleep(Duration::from_millis(2 * (i / 3) as u64));
        } else {
            // The others spread over the whole run.
            std::thread::sleep(duration.mul_f64(1.1 * i as f64 / points as f64));
        }
        let _ = child.kill();
        let _ = child.wait();
        let now = fit_bytes(&dir.join("out"));
        if now == earlier {
            kept += 1;
        } else {
            assert_eq!(now, reference, "kill {i}: a whole new output");
            replaced += 1;
        }
        // A checkpoint left by the killed run resumes to the same bytes.
        let checkpoint = dir.join("out.checkpoint");
        if checkpoint.exists() && now == earlier {
            let mut again = args.to_vec();
            again.extend(["--resume", "out.checkpoint"]);
            ok(&pdgc_in(&dir, &again));
            assert_eq!(fit_bytes(&dir.join("out")), reference, "kill {i}: resumed");
            resumed += 1;
        }
        // Put the earlier output back for the next kill.
        let _ = std::fs::remove_file(&checkpoint);
        ok(&pdgc_in(&dir, &earlier_args));
        assert_eq!(fit_bytes(&dir.join("out")), earlier);
        // That run cleared whatever the killed one left.
        assert!(hidden(&dir).is_empty(), "kill {i}: left {:?}", hidden(&dir));
    }
    eprintln!("{points} kills: {kept} kept the earlier output, {replaced} found the new one, {resumed} resumed from a checkpoint");
    assert!(kept > 0 && resumed > 0);
}

/// Waits until the fit in `dir` has begun to write its output (its staging folder
/// exists), or has ended.
fn wait_for_staging(dir: &Path, child: &mut Child) {
    let started = Instant::now();
    while !hidden(dir).iter().any(|n| n.ends_with("staging")) {
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(30) {
            return;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// SIGKILL at 30 moments each of `encode -o` over a user's file and of `simulate -o` over
/// an earlier simulation: the file or folder is the old one or the new one, whole, and the
/// next run clears what a killed one left.
#[test]
fn encode_and_simulate_killed_at_any_moment_leave_whole_files() {
    let dir = workspace();
    // Enough rows that writing takes a while.
    ok(&pdgc_in(
        &dir,
        &["simulate", "linear", "--samples", "100000", "-o", "big"],
    ));
    let encode = ["encode", "fit", "big/data.csv", "-o", "enc.csv"];
    let simulate = [
        "simulate",
        "linear",
        "--samples",
        "100000",
        "--seed",
        "5",
        "-o",
        "sim",
    ];
    type MakeOld = fn(&Path);
    let cases: [(&[&str], &str, MakeOld); 2] = [
        (&encode, "enc.csv", |d| {
            std::fs::write(d.join("enc.csv"), "x\n1\n").unwrap()
        }),
        (&simulate, "sim", |d| {
            ok(&pdgc_in(
                d,
                &["simulate", "linear", "--samples", "50", "-o", "sim"],
            ))
        }),
    ];
    for (args, target, make_old) in cases {
        let path = dir.join(target);
        let started = Instant::now();
        ok(&pdgc_in(&dir, args));
        let duration = started.elapsed();
        let new = listing_or_file(&path);
        make_old(&dir);
        let old = listing_or_file(&path);
        assert_ne!(old, new);
        for i in 0..30 {
            let mut child = spawn_in(&dir, args);
            std::thread::sleep(duration.mul_f64(1.1 * i as f64 / 30.0));
            let _ = child.kill();
            let _ = child.wait();
            let now = listing_or_file(&path);
            assert!(
                now == old || now == new,
                "{target}, kill {i}: the old or the new, whole"
            );
            ok(&pdgc_in(&dir, args));
            assert!(
                hidden(&dir).is_empty(),
                "{target}, kill {i}: left {:?}",
                hidden(&dir)
            );
            make_old(&dir);
        }
    }
}

/// What a path holds: a folder's listing (relative names), or a file's size and hash.
fn listing_or_file(path: &Path) -> Vec<(PathBuf, u64, u64)> {
    match path.is_dir() {
        true => listing(path)
            .into_iter()
            .map(|(p, l, h)| (p.strip_prefix(path).unwrap().to_path_buf(), l, h))
            .collect(),
        false => std::fs::read(path)
            .map(|b| vec![(PathBuf::new(), b.len() as u64, hash(&b))])
            .unwrap_or_default(),
    }
}

/// `compare` gives every method a label of its own (a model file named like the baseline,
/// a file given twice), and every row counts its own runs; a model's restarts for seed k
/// and seed k + 1 are different fits.
#[test]
fn compare_keeps_methods_and_seeds_apart() {
    let dir = workspace();
    let model = std::fs::read_to_string(dir.join("model.pdg")).unwrap();
    std::fs::write(dir.join("fastica.pdg"), &model).unwrap();
    std::fs::create_dir(dir.join("other")).unwrap();
    std::fs::write(dir.join("other/model.pdg"), &model).unwrap();
    std::fs::write(
        dir.join("restarts.pdg"),
        model.replace("seed 0 }", "seed 0; restarts 2 }"),
    )
    .unwrap();
    let o = pdgc_in(
        &dir,
        &[
            "compare",
            "fastica.pdg",
            "model.pdg",
            "model.pdg",
            "restarts.pdg",
            "other/model.pdg",
            "--data",
            "data.csv",
            "--truth",
            "truth.csv",
            "--seeds",
            "2",
            "--epochs",
            "5",
            "--csv",
            "runs.csv",
            "-q",
        ],
    );
    ok(&o);
    let table = stdout(&o);
    let labels = [
        "fastica.pdg",
        "model.pdg",
        "model.pdg (2)",
        "restarts",
        "other/model.pdg",
        "fastica",
    ];
    for label in labels {
        let row = table
            .lines()
            .find(|l| l.split("  ").next() == Some(label))
            .unwrap_or_else(|| panic!("no row `{label}` in\n{table}"));
        assert!(
            row.contains("   2 "),
            "{label} counts its own 2 runs: {row}"
        );
    }
    let runs = std::fs::read_to_string(dir.join("runs.csv")).unwrap();
    let losses: Vec<&str> = runs
        .lines()
        .filter(|l| l.starts_with("restarts,"))
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    assert_eq!(losses.len(), 2);
    assert_ne!(losses[0], losses[1], "seed 0's restarts are not seed 1's");
}

/// A fit interrupted and resumed with more epochs writes the trace (and every other file)
/// of a fit that ran those epochs at once.
#[test]
fn a_resume_with_more_epochs_writes_the_same_trace() {
    let dir = workspace();
    interrupted_fit(&dir, &[]);
    let mut args = vec![
        "fit",
        "model.pdg",
        "data.csv",
        "-o",
        "new",
        "--epochs",
        "250",
    ];
    ok(&pdgc_in(
        &dir,
        &[&args[..], &["--resume", "new.checkpoint"]].concat(),
    ));
    args[4] = "once";
    ok(&pdgc_in(&dir, &args));
    assert_eq!(fit_bytes(&dir.join("new")), fit_bytes(&dir.join("once")));
}

/// `report` of a fit made with a relative --truth, run from another folder, finds the
/// truth (the fit recorded it absolute) and draws the recovery.
#[test]
fn report_finds_the_truth_from_any_folder() {
    let dir = workspace();
    ok(&pdgc_in(
        &dir,
        &[
            "fit",
            "model.pdg",
            "data.csv",
            "-o",
            "t",
            "--truth",
            "truth.csv",
            "--quiet",
        ],
    ));
    std::fs::remove_dir_all(dir.join("t/plots")).unwrap();
    let elsewhere = scratch();
    let o = pdgc_in(&elsewhere, &["report", s(&dir.join("t"))]);
    ok(&o);
    assert!(!stderr(&o).contains("gone"), "{}", stderr(&o));
    assert!(dir.join("t/plots/recovery.svg").is_file());
    // Gone, it is named as the path that was tried.
    std::fs::rename(dir.join("truth.csv"), dir.join("moved.csv")).unwrap();
    let o = pdgc_in(&elsewhere, &["report", s(&dir.join("t"))]);
    ok(&o);
    let tried = dir
        .join("truth.csv")
        .canonicalize()
        .unwrap_or(dir.join("truth.csv"));
    assert!(
        stderr(&o).contains(&format!("`{}` is gone", tried.display())),
        "{}",
        stderr(&o)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// Threads that cannot be started are refused, naming the flag (exit 2), never a panic;
/// so is a fit that needs more memory than the process's own limit (ulimit -v) allows.
#[test]
fn limits_of_the_process_are_refusals_naming_the_flag() {
    let dir = workspace();
    let limited = |limit: &str, args: &[&str]| {
        Command::new("prlimit")
            .arg(format!("--as={limit}"))
            .arg(env!("CARGO_BIN_EXE_pdgc"))
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("prlimit (util-linux)")
    };
    for limit in ["3000000000", "4000000000", "6000000000"] {
        let o = limited(
            limit,
            &[
                "fit",
                "model.pdg",
                "data.csv",
                "-o",
                "t",
                "--threads",
                "1000",
                "--epochs",
                "2",
            ],
        );
        fails_with(&o, 2, "error: --threads 1000: ");
        let o = limited(
            limit,
            &[
                "compare",
                "model.pdg",
                "--data",
                "data.csv",
                "--truth",
                "truth.csv",
                "--seeds",
                "400",
                "--jobs",
                "400",
                "--epochs",
                "1",
                "--baseline",
                "none",
            ],
        );
        fails_with(&o, 2, "error: ");
        assert!(stderr(&o).contains("--jobs 400"), "{}", stderr(&o));
    }
    ok(&pdgc_in(
        &dir,
        &["simulate", "linear", "--samples", "200000", "-o", "big"],
    ));
    let nonlinear = root().join("models/nonlinear.pdg");
    let o = limited(
        "1500000000",
        &[
            "fit",
            s(&nonlinear),
            "big/data.csv",
            "-o",
            "t",
            "--epochs",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("; this process may use (its ulimit -v) about "),
        "{}",
        stderr(&o)
    );
}

/// As a user whose process count is limited (`ulimit -u 30`, which root ignores, so the
/// test drops to `nobody`): threads that cannot start are refusals naming the flag.
#[test]
fn a_process_limit_is_a_refusal_naming_the_flag() {
    if !rustix::process::getuid().is_root() {
        eprintln!("skipped: needs root to run as nobody");
        return;
    }
    let dir = workspace();
    let open = |p: &Path, mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        open(&entry.unwrap().path(), 0o777);
    }
    open(&dir, 0o777);
    std::fs::copy(env!("CARGO_BIN_EXE_pdgc"), dir.join("pdgc")).unwrap();
    open(&dir.join("pdgc"), 0o755);
    let as_nobody = |command: &str| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "bash",
                "-c",
            ])
            .arg(format!("ulimit -u 30; ./pdgc {command}"))
            .current_dir(&dir)
            .output()
            .expect("setpriv (util-linux)")
    };
    let o = as_nobody("fit model.pdg data.csv -o f --threads 64 --epochs 2 --quiet");
    fails_with(&o, 2, "error: --threads 64: cannot start");
    let o = as_nobody(
        "compare model.pdg --data data.csv --truth truth.csv --jobs 64 --seeds 64 --epochs 1 -q",
    );
    fails_with(&o, 2, "error: --jobs 64: cannot start");
}

/// On a full disk (a 256 KiB tmpfs) every output fails with exit 1, naming the file, and
/// leaves the user's earlier file or fit as it was, with no temporary behind.
#[test]
fn a_full_disk_fails_and_keeps_earlier_files() {
    if !rustix::process::getuid().is_root() {
        eprintln!("skipped: mounting a small file system needs root");
        return;
    }
    let dir = workspace();
    let disk = dir.join("disk");
    std::fs::create_dir(&disk).unwrap();
    let mount = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&disk)
        .output()
        .expect("mount");
    assert!(mount.status.success(), "mount: {}", stderr(&mount));
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&disk);
    // An earlier fit without its report, then a user's file filling what is left.
    ok(&pdgc_in(
        &dir,
        &[
            "fit",
            "model.pdg",
            "data.csv",
            "-o",
            "disk/fit",
            "--quiet",
            "--no-plots",
        ],
    ));
    let filler: String = (0..60_000).map(|i| format!("{}\n", i % 10)).collect();
    std::fs::write(disk.join("mine.csv"), &filler[..filler.len().min(120_000)]).unwrap();
    let _ = std::fs::write(disk.join("fill"), vec![b'x'; 256 << 10]);
    let before = listing(&disk);
    let cases: [&[&str]; 6] = [
        &["encode", "fit", "data.csv", "-o", "disk/mine.csv"],
        &["sample", "fit", "5000", "-o", "disk/mine.csv"],
        &["fastica", "data.csv", "--unmixing", "disk/mine.csv"],
        &["report", "fit", "-o", "disk/page.html"],
        &["simulate", "linear", "--samples", "5000", "-o", "disk/sim"],
        &["fit", "model.pdg", "data.csv", "-o", "disk/fit", "--quiet"],
    ];
    for args in cases {
        let o = pdgc_in(&dir, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("error: cannot write `disk/")
                && stderr(&o).contains("No space left on device"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(
            listing(&disk),
            before,
            "{args:?}: the disk holds what it held"
        );
    }
}

/// An output file gets what the umask leaves of 0666 (not a temporary's 0600), and a file it
/// replaces keeps its mode.
#[test]
fn outputs_get_the_modes_a_user_expects() {
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace();
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    let o = Command::new("sh")
        .args([
            "-c",
            &format!(
                "umask 022; {} fastica data.csv -o new.csv",
                env!("CARGO_BIN_EXE_pdgc")
            ),
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(mode("new.csv"), 0o644);
    std::fs::write(dir.join("mine.csv"), "old").unwrap();
    std::fs::set_permissions(dir.join("mine.csv"), std::fs::Permissions::from_mode(0o664)).unwrap();
    ok(&pdgc_in(&dir, &["fastica", "data.csv", "-o", "mine.csv"]));
    assert_eq!(mode("mine.csv"), 0o664);
    ok(&pdgc_in(&dir, &["report", "fit"]));
    assert_eq!(
        mode("fit/report.html"),
        mode("fit/run.ron"),
        "the page is like the fit's other files"
    );
}
