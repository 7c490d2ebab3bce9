//! Independent jobs in parallel, each on its own one-thread rayon pool: a job's numbers
//! then depend on its inputs only, never on how many run at once (dfdx's matrix products
//! follow the pool they run in). `compare`'s fits and `train { restarts }` use it.

/// Runs `job(0)`, …, `job(count − 1)`, `jobs` at a time, and returns the results in that
/// order. `job` is called from several threads.
pub fn run<T: Send>(count: usize, jobs: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new((0..count).map(|_| None).collect::<Vec<Option<T>>>());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(count.max(1)) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .expect("a one-thread pool");
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    let r = pool.install(|| job(i));
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
