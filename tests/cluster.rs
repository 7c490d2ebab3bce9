//! `compare --plan` and `--collect` (issue 24) on a real single-node Slurm and with GNU
//! parallel: the collected numbers equal a local `compare`'s, a resubmitted array skips
//! what is done, and a failed run is reported with its message.
//!
//! The Slurm part needs Debian's `slurmctld`, `slurmd`, `slurm-client` and `munge` (and
//! `parallel`), which `.ci/run` installs; it starts its own daemons on ports of its own and
//! stops them. Where they are missing the test fails when `PDGC_SLURM_TEST` is set (as CI
//! sets it) and says it skipped otherwise.

use crate::util::*;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the test can run; panics when it must (`PDGC_SLURM_TEST`) but cannot.
fn slurm_available() -> bool {
    let missing: Vec<&str> = [
        "slurmctld",
        "slurmd",
        "sbatch",
        "sinfo",
        "munged",
        "parallel",
    ]
    .into_iter()
    .filter(|p| !have(p))
    .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("PDGC_SLURM_TEST").is_some() {
        panic!(
            "PDGC_SLURM_TEST is set but {} not installed (apt-get install slurmctld slurmd slurm-client munge parallel)",
            missing.join(", ")
        );
    }
    eprintln!(
        "skipped: {} not installed (set PDGC_SLURM_TEST to make this a failure)",
        missing.join(", ")
    );
    false
}

/// A single-node Slurm cluster in a folder of its own, stopped when dropped.
struct Cluster {
    dir: Scratch,
    conf: PathBuf,
}

impl Cluster {
    fn start() -> Cluster {
        // munge: its key comes with the package; the daemon runs as the munge user.
        let munge_ok = || {
            Command::new("sh")
                .args(["-c", "munge -n | unmunge"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !munge_ok() {
            let started = Command::new("sh")
                .args([
                    "-c",
                    "mkdir -p /run/munge && chown munge:munge /run/munge && su -s /bin/sh munge -c 'munged --force'",
                ])
                .output()
                .expect("starting munged");
            assert!(started.status.success(), "munged: {}", stderr(&started));
            let waited = Instant::now();
            while !munge_ok() {
                assert!(
                    waited.elapsed() < Duration::from_secs(20),
                    "munged did not answer"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let dir = scratch();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir(dir.join(sub)).unwrap();
        }
        let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Ports of this test's own, so that no other Slurm on the machine is disturbed.
        let port = 20000 + (std::process::id() % 20000) as u16;
        let d = dir.display();
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=pdgctest\nSlurmctldHost={host}\nSlurmUser=root\nSlurmdUser=root\n\
                 AuthType=auth/munge\nStateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
                 SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
                 SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
                 SlurmctldPort={port}\nSlurmdPort={}\nProctrackType=proctrack/linuxproc\n\
                 TaskPlugin=task/none\nSelectType=select/cons_tres\n\
                 SelectTypeParameters=CR_Core_Memory\nReturnToService=2\nMpiDefault=none\n\
                 NodeName={host} CPUs={cpus} RealMemory=4000 State=UNKNOWN\n\
                 PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
                port + 1
            ),
        )
        .unwrap();
        let cluster = Cluster { dir, conf };
        for daemon in ["slurmctld", "slurmd"] {
            let o = Command::new(daemon)
                .arg("-f")
                .arg(&cluster.conf)
                .output()
                .expect(daemon);
            assert!(o.status.success(), "{daemon}: {}", stderr(&o));
        }
        let waited = Instant::now();
        loop {
            let o = cluster
                .command("sinfo")
                .args(["-h", "-o", "%t"])
                .output()
                .unwrap();
            if stdout(&o).trim() == "idle" {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "the node did not come up: {}{}\n{}",
                stdout(&o),
                stderr(&o),
                std::fs::read_to_string(cluster.dir.join("log/slurmctld.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        cluster
    }

    /// A Slurm client command talking to this cluster.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("scontrol").arg("shutdown").output();
        for pid in ["slurmctld.pid", "slurmd.pid"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(pid)) {
                let _ = Command::new("kill").arg(text.trim()).output();
            }
        }
    }
}

/// The runs of a `compare --json`, as (method, seed) → (MCC, Spearman MCC, final loss).
fn scores(o: &Output) -> Vec<(String, u64, String)> {
    let value: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let mut runs: Vec<(String, u64, String)> = value["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let numbers = format!("{} {} {}", r["mcc"], r["mcc_spearman"], r["final_loss"]);
            (
                r["method"].as_str().unwrap().to_string(),
                r["seed"].as_u64().unwrap(),
                numbers,
            )
        })
        .collect();
    runs.sort();
    runs
}

#[test]
fn a_plan_runs_on_slurm_and_with_parallel_as_compare_runs_here() {
    if !slurm_available() {
        return;
    }
    let dir = scratch();
    let model = std::fs::read_to_string(root().join("models/linear.pdg")).unwrap();
    std::fs::write(dir.join("a.pdg"), &model).unwrap();
    std::fs::write(dir.join("b.pdg"), model.replace("beta 0.01", "beta 0.1")).unwrap();
    let sweep = [
        "a.pdg",
        "b.pdg",
        "--scenario",
        "linear",
        "--samples",
        "300",
        "--seeds",
        "3",
        "--epochs",
        "20",
    ];
    let local = pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--json", "-q"]].concat(),
    );
    ok(&local);
    let expected = scores(&local);
    assert_eq!(expected.len(), 9);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pdgc"));

    // Slurm: one array, then the same array again (every run is skipped).
    let cluster = Cluster::start();
    ok(&pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--plan", "slurm"]].concat(),
    ));
    let plan = dir.join("slurm");
    let sbatch = || {
        cluster
            .command("sbatch")
            .args(["--wait", "slurm.sbatch"])
            .env("PDGC", &binary)
            .current_dir(&plan)
            .output()
            .unwrap()
    };
    ok(&sbatch());
    let collected = pdgc_in(&dir, &["compare", "--collect", "slurm", "--json"]);
    ok(&collected);
    assert!(stderr(&collected).contains("9 runs: 9 done, 0 running, 0 failed, 0 not started"));
    assert_eq!(
        scores(&collected),
        expected,
        "Slurm's numbers are compare's"
    );
    let before = std::fs::read(plan.join("results/r0/run.ron")).unwrap();
    ok(&sbatch());
    assert_eq!(
        std::fs::read(plan.join("results/r0/run.ron")).unwrap(),
        before,
        "a done run is skipped"
    );
    drop(cluster);

    // GNU parallel, with a run that fails: its first line is reported, and exit 1.
    ok(&pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--plan", "par"]].concat(),
    ));
    let plan = dir.join("par");
    std::fs::write(plan.join("data/seed-1/data.csv"), "x0,x1,x2\n1,2,3\n").unwrap();
    let o = Command::new("sh")
        .args(["-c", "parallel -j 2 < commands"])
        .env("PDGC", &binary)
        .current_dir(&plan)
        .output()
        .unwrap();
    assert!(!o.status.success(), "three runs fail");
    let collected = pdgc_in(&dir, &["compare", "--collect", "par", "--json"]);
    assert_eq!(collected.status.code(), Some(1), "{}", stderr(&collected));
    let text = stderr(&collected);
    assert!(
        text.contains("9 runs: 6 done, 0 running, 3 failed, 0 not started"),
        "{text}"
    );
    assert!(
        text.contains("run 3 (a, seed 1) failed: error: data/seed-1/data.csv: 1 data row"),
        "{text}"
    );
    let good: Vec<_> = expected
        .iter()
        .filter(|(_, seed, _)| *seed != 1)
        .cloned()
        .collect();
    let mut got = scores(&collected);
    got.retain(|(_, _, numbers)| !numbers.starts_with("null"));
    assert_eq!(got, good, "parallel's numbers are compare's");

    // A plan folder whose runs left results is never replaced.
    let o = pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--plan", "par"]].concat(),
    );
    fails_with(&o, 2, "is a plan whose runs have left results");
}

/// A run stopped by a signal (Slurm's time limit, scancel) is reported failed with its
/// message and resumes from its checkpoint when run again; one killed outright is reported
/// failed too (its process is gone); either way the finished sweep has compare's numbers.
#[test]
fn a_stopped_or_killed_run_is_reported_and_runs_again() {
    let dir = scratch();
    // Seconds long (so that it can be stopped half-way), and still short.
    let model = std::fs::read_to_string(root().join("models/nonlinear.pdg")).unwrap();
    std::fs::write(
        dir.join("a.pdg"),
        model.replace("epochs 4000", "epochs 6000"),
    )
    .unwrap();
    let sweep = [
        "a.pdg",
        "--scenario",
        "linear",
        "--samples",
        "300",
        "--seeds",
        "1",
        "--baseline",
        "none",
    ];
    ok(&pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--plan", "p"]].concat(),
    ));
    let plan = dir.join("p");
    let binary = env!("CARGO_BIN_EXE_pdgc");
    for signal in ["TERM", "KILL"] {
        // The run in a process group of its own, as Slurm runs a task.
        let mut child = Command::new("setsid")
            .args(["sh", "run.sh", "0"])
            .env("PDGC", binary)
            .current_dir(&plan)
            .spawn()
            .unwrap();
        let waited = Instant::now();
        while !plan.join("status/0.running").exists()
            || waited.elapsed() < Duration::from_millis(700)
        {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{signal}: run.sh ended early"
            );
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "{signal}: run.sh never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let group = format!("-{}", child.id());
        let o = Command::new("kill")
            .args([&format!("-{signal}"), "--", &group])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let _ = child.wait();
        let collected = pdgc_in(&dir, &["compare", "--collect", "p"]);
        assert_eq!(
            collected.status.code(),
            Some(1),
            "{signal}: {}",
            stderr(&collected)
        );
        let text = stderr(&collected);
        assert!(
            text.contains("1 runs: 0 done, 0 running, 1 failed"),
            "{signal}: {text}"
        );
        let expected = match signal {
            "TERM" => "run 0 (a, seed 0) failed: error: interrupted after epoch ",
            _ => "run 0 (a, seed 0) failed: ",
        };
        assert!(text.contains(expected), "{signal}: {text}");
    }
    // Run again (from the checkpoint the stopped run left): done, with compare's numbers.
    let o = Command::new("sh")
        .args(["run.sh", "0"])
        .env("PDGC", binary)
        .current_dir(&plan)
        .output()
        .unwrap();
    ok(&o);
    let collected = pdgc_in(&dir, &["compare", "--collect", "p", "--json"]);
    ok(&collected);
    let local = pdgc_in(
        &dir,
        &[&["compare"][..], &sweep, &["--json", "-q"]].concat(),
    );
    assert_eq!(scores(&collected), scores(&local));
}
