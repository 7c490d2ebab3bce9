//! Independent jobs in parallel, each on its own one-thread rayon pool: a job's numbers
//! then depend on its inputs only, never on how many run at once (dfdx's matrix products
//! follow the pool they run in). `compare`'s fits and `train { restarts }` use it.

use std::sync::{Condvar, Mutex};

/// The threads asked for could not be started (a process or memory limit): nothing ran.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {wanted} threads here: {source}")]
pub struct ThreadsUnavailable {
    pub wanted: usize,
    pub source: std::io::Error,
}

/// A pool of `threads` threads, for one fit's steps ([`crate::backend::Model::run_on`]).
pub fn pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, ThreadsUnavailable> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map(std::sync::Arc::new)
        .map_err(|e| ThreadsUnavailable {
            wanted: threads,
            source: std::io::Error::other(e.to_string()),
        })
}

/// Whether the workers may start taking jobs: unknown until every one has started.
#[derive(Default)]
struct Gate {
    started: usize,
    failure: Option<std::io::Error>,
    open: Option<bool>,
}

fn lock(gate: &Mutex<Gate>) -> std::sync::MutexGuard<'_, Gate> {
    gate.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `job(0)`, …, `job(count − 1)`, `jobs` at a time, and returns the results in that
/// order. `job` is called from several threads. Every worker (a thread and its pool) is
/// started before any job runs: if one cannot be, no job runs and the error says so.
pub fn run<T: Send>(
    count: usize,
    jobs: usize,
    job: impl Fn(usize) -> T + Sync,
) -> Result<Vec<T>, ThreadsUnavailable> {
    let workers = jobs.max(1).min(count.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = Mutex::new((0..count).map(|_| None).collect::<Vec<Option<T>>>());
    let gate = (Mutex::new(Gate::default()), Condvar::new());
    std::thread::scope(|scope| {
        let worker = || {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
            let (state, changed) = &gate;
            let mut g = lock(state);
            g.started += 1;
            if let Err(e) = &pool {
                g.failure
                    .get_or_insert_with(|| std::io::Error::other(e.to_string()));
            }
            changed.notify_all();
            let open = loop {
                match g.open {
                    Some(open) => break open,
                    None => g = changed.wait(g).unwrap_or_else(|e| e.into_inner()),
                }
            };
            drop(g);
            let Ok(pool) = pool.ok().filter(|_| open).ok_or(()) else {
                return;
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= count {
                    break;
                }
                let r = pool.install(|| job(i));
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            }
        };
        let mut spawned = 0;
        for _ in 0..workers {
            match std::thread::Builder::new().spawn_scoped(scope, worker) {
                Ok(_) => spawned += 1,
                Err(e) => {
                    lock(&gate.0).failure.get_or_insert(e);
                    break;
                }
            }
        }
        // Wait for every started worker to have its pool (or not), then let them go on
        // only if all did.
        let (state, changed) = &gate;
        let mut g = lock(state);
        while g.started < spawned {
            g = changed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.open = Some(g.failure.is_none());
        changed.notify_all();
    });
    let mut gate = gate.0.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(source) = gate.failure.take() {
        return Err(ThreadsUnavailable {
            wanted: workers,
            source,
        });
    }
    Ok(results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect())
}
