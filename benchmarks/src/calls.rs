//! Call cost and update cycles in this process: a trivial call (counter's `total_increments`, one
//! relaxed atomic load in the plugin) through a `Module` handle, through a plain function pointer
//! (the floor), and through hot-lib-reloader's generated function, at one and two threads; the time
//! hot-lib-reloader takes to reload its library; and resident memory over many update-and-rollback
//! cycles of counter v1 ↔ v2.

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use counter_interface::Counter;
use ecdysis_host::{Host, Module};

use crate::direct::Direct;
use crate::hot;
use crate::stats::Spread;

/// The ways a trivial call is made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CallPath {
    Direct,
    Module,
    HotLib,
}

impl CallPath {
    pub const ALL: [CallPath; 3] = [CallPath::Direct, CallPath::Module, CallPath::HotLib];

    pub fn name(self) -> &'static str {
        match self {
            CallPath::Direct => "plain function pointer (floor)",
            CallPath::Module => "ecdysis `Module` handle",
            CallPath::HotLib => "hot-lib-reloader function",
        }
    }
}

/// The nanoseconds per call of one path at one thread count, one value per repetition.
pub struct CallCost {
    pub path: CallPath,
    pub threads: usize,
    pub nanoseconds: Vec<f64>,
}

impl CallCost {
    pub fn spread(&self) -> Spread {
        Spread::of(&self.nanoseconds)
    }
}

/// What the three call paths need: counter-v1 opened by hand and through a host, and the hot
/// module's library.
pub struct Callers {
    direct: Direct,
    // The host must outlive the module handle.
    module: Module<dyn Counter>,
    _host: Host,
}

impl Callers {
    pub fn new(counter_v1: &Path) -> Result<Callers, String> {
        let direct = Direct::open(counter_v1)?;
        let host = Host::builder().rehearse(false).build().map_err(|error| format!("could not start a host: {error}"))?;
        let module = host.load::<dyn Counter>(counter_v1).map_err(|error| format!("could not load counter-v1: {error}"))?;
        // The first hot-lib-reloader call loads its library and starts its watcher.
        std::hint::black_box(hot::library::total_increments());
        Ok(Callers { direct, module, _host: host })
    }

    /// Makes `calls` calls through `path`; returns the sum of the results.
    fn call_many(&self, path: CallPath, calls: u64) -> u64 {
        match path {
            CallPath::Direct => self.direct.call_many(calls),
            CallPath::Module => {
                let mut sum = 0u64;
                for _ in 0..calls {
                    let value = self.module.call(|counter| counter.total_increments()).expect("the call succeeds");
                    sum = sum.wrapping_add(std::hint::black_box(value));
                }
                sum
            }
            CallPath::HotLib => {
                let mut sum = 0u64;
                for _ in 0..calls {
                    sum = sum.wrapping_add(std::hint::black_box(hot::library::total_increments()));
                }
                sum
            }
        }
    }
}

/// Measures every path at 1 and 2 threads, `repetitions` times each (the paths interleaved, so
/// that a slow moment of the machine is shared among them), `calls` calls per thread each time.
pub fn measure_call_costs(callers: &Arc<Callers>, repetitions: usize, calls: u64) -> Vec<CallCost> {
    let mut costs: Vec<CallCost> = Vec::new();
    for threads in [1, 2] {
        for path in CallPath::ALL {
            costs.push(CallCost { path, threads, nanoseconds: Vec::with_capacity(repetitions) });
        }
    }
    // A warm-up round, not counted.
    for path in CallPath::ALL {
        callers.call_many(path, calls / 10);
    }
    for _ in 0..repetitions {
        for cost in &mut costs {
            cost.nanoseconds.push(nanoseconds_per_call(callers, cost.path, cost.threads, calls));
        }
    }
    costs
}

/// `threads` threads, started together, each making `calls` calls; the mean over the threads of
/// each thread's time per call.
fn nanoseconds_per_call(callers: &Arc<Callers>, path: CallPath, threads: usize, calls: u64) -> f64 {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let callers = Arc::clone(callers);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                std::hint::black_box(callers.call_many(path, calls));
                started.elapsed().as_nanos() as f64 / calls as f64
            })
        })
        .collect();
    let per_thread: Vec<f64> = handles.into_iter().map(|handle| handle.join().expect("a calling thread panicked")).collect();
    per_thread.iter().sum::<f64>() / per_thread.len() as f64
}

/// What reloading hot-lib-reloader's library took, one value per reload.
pub struct HotReloads {
    /// From the library file rewritten to the new library loaded (file watcher, debounce, reload).
    pub end_to_end_milliseconds: Vec<f64>,
    /// From hot-lib-reloader's "about to reload" event to its "reloaded" event: the reload itself
    /// (take the lock, close, copy, open).
    pub reload_milliseconds: Vec<f64>,
}

/// Rewrites the hot module's library `count` times (alternately the original and the original with
/// one byte appended, so that its hash changes and the watcher reloads it) and times each reload.
pub fn measure_hot_reloads(original: &[u8], count: usize) -> Result<HotReloads, String> {
    let watched = hot::directory().join("libhot_bench_lib.so");
    let observer = hot::library::subscribe();
    let mut reloads = HotReloads { end_to_end_milliseconds: Vec::new(), reload_milliseconds: Vec::new() };
    let mut changed = original.to_vec();
    changed.push(0);
    for index in 0..count {
        let version_before = hot::library::version();
        let bytes = if index % 2 == 0 { &changed } else { original };
        let written = Instant::now();
        std::fs::write(&watched, bytes).map_err(|error| format!("could not rewrite {}: {error}", watched.display()))?;
        let block = observer
            .wait_for_about_to_reload_timeout(Duration::from_secs(10))
            .ok_or("hot-lib-reloader did not notice the rewritten library within 10 s")?;
        let about_to_reload = Instant::now();
        drop(block);
        if !observer.wait_for_reload_timeout(Duration::from_secs(10)) {
            return Err("hot-lib-reloader did not reload within 10 s".to_owned());
        }
        let reloaded = Instant::now();
        if hot::library::version() <= version_before {
            return Err("hot-lib-reloader said it reloaded, but its version did not change".to_owned());
        }
        std::hint::black_box(hot::library::total_increments());
        reloads.end_to_end_milliseconds.push((reloaded - written).as_secs_f64() * 1e3);
        reloads.reload_milliseconds.push((reloaded - about_to_reload).as_secs_f64() * 1e3);
        // Lets the watcher settle before the next rewrite.
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(reloads)
}

/// Resident memory over update-and-rollback cycles of counter v1 ↔ v2 in this process.
pub struct CounterCycles {
    pub cycles: usize,
    pub resident_before: u64,
    pub resident_after: u64,
    /// `(cycles done, resident bytes)`, sampled along the way.
    pub samples: Vec<(usize, u64)>,
    pub elapsed: Duration,
    /// The median pause of the updates, in milliseconds.
    pub median_pause_milliseconds: f64,
}

/// Runs `cycles` update-and-rollback cycles of counter v1 ↔ v2 (without rehearsals, which run in
/// child processes and would only make the run longer) and reads this process's `VmRSS` before and
/// after. One cycle runs first, so that what the host makes once is in the baseline.
pub fn measure_counter_cycles(counter_v1: &Path, counter_v2: &Path, cycles: usize) -> Result<CounterCycles, String> {
    let host = Host::builder().rehearse(false).build().map_err(|error| format!("could not start a host: {error}"))?;
    let counter = host.load::<dyn Counter>(counter_v1).map_err(|error| format!("could not load counter-v1: {error}"))?;
    counter.call(|counter| counter.increment("apples", 3)).map_err(|error| format!("increment failed: {error}"))?;
    let mut pauses = Vec::with_capacity(cycles);
    let mut cycle = || -> Result<(), String> {
        let report = host.update("counter", counter_v2).map_err(|error| format!("update to counter-v2 failed: {error}"))?;
        pauses.push(report.pause.as_secs_f64() * 1e3);
        host.rollback("counter").map_err(|error| format!("rollback to counter-v1 failed: {error}"))?;
        Ok(())
    };
    cycle()?;
    let pid = std::process::id();
    let resident_before = crate::machine::resident_bytes(pid).unwrap_or(0);
    let started = Instant::now();
    let sample_every = (cycles / 50).max(1);
    let mut samples = vec![(0, resident_before)];
    for done in 1..=cycles {
        cycle()?;
        if done % sample_every == 0 || done == cycles {
            samples.push((done, crate::machine::resident_bytes(pid).unwrap_or(0)));
        }
    }
    let elapsed = started.elapsed();
    let value = counter.call(|counter| counter.value("apples")).map_err(|error| format!("value failed: {error}"))?;
    if value != Some(3) {
        return Err(format!("the counter's state did not survive the cycles: apples = {value:?}"));
    }
    let resident_after = crate::machine::resident_bytes(pid).unwrap_or(0);
    Ok(CounterCycles { cycles, resident_before, resident_after, samples, elapsed, median_pause_milliseconds: Spread::of(&pauses).median })
}
