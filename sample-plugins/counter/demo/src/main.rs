//! A small program that embeds the ecdysis host: it loads the counter module at v1, serves calls
//! from worker threads, updates the module to v2 while they keep calling, checks that no call failed
//! and no increment was lost, commits, and prints the update report.
//!
//! Usage: `counter-demo <libcounter_v1.so> <libcounter_v2.so> [--seconds N]`; `cargo xtask demo`
//! builds the plugins and runs it.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use counter_interface::Counter;
use ecdysis_host::{ErrorChain, Host, Module};

const WORKERS: usize = 4;

fn main() -> ExitCode {
    // First: lets the host rehearse each update in a child process (this program, re-executed).
    ecdysis_host::rehearsal::serve_if_asked();
    // Binaries install the subscriber; the host library only emits events.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("counter-demo: {:#}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let usage = "usage: counter-demo <libcounter_v1.so> <libcounter_v2.so> [--seconds N]";
    let v1 = arguments.next().ok_or(usage)?;
    let v2 = arguments.next().ok_or(usage)?;
    let seconds: f64 = match (arguments.next().as_deref(), arguments.next()) {
        (Some("--seconds"), Some(value)) => value.parse()?,
        (None, _) => 1.0,
        _ => return Err(usage.into()),
    };
    let phase = Duration::from_secs_f64(seconds);

    let host = Host::new()?;
    let counter: Module<dyn Counter> = host.load(&v1)?;
    println!("loaded {} {} from {v1}", counter.name(), counter.info().version);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (counter, stop) = (counter.clone(), Arc::clone(&stop));
            std::thread::spawn(move || serve(worker, &counter, &stop))
        })
        .collect();

    std::thread::sleep(phase);
    let before = counter.call(|counter| counter.total_increments())?;
    println!("serving: {before} increments so far from {WORKERS} threads; updating to v2 while they keep calling…");
    let report = host.update("counter", &v2)?;
    println!("{report}");
    std::thread::sleep(phase);
    stop.store(true, Ordering::Relaxed);

    let mut acknowledged: BTreeMap<String, i64> = BTreeMap::new();
    let mut failed_calls = 0;
    let mut calls = 0;
    for worker in workers {
        let served = worker.join().map_err(|_| "a worker thread panicked")?;
        acknowledged.extend(served.expected);
        failed_calls += served.failures;
        calls += served.calls;
    }
    let state: BTreeMap<String, i64> = counter.call(|counter| -> Result<_, ecdysis_host::CallError> {
        counter.keys()?.into_iter().map(|key| Ok((key.clone(), counter.value(&key)?.unwrap_or(0)))).collect()
    })?;
    let total = counter.call(|counter| counter.total_increments())?;
    let stats = counter.call(|counter| counter.stats("worker-0-key-0"))?;
    let released = host.commit("counter")?;
    let unmapped = host.released_libraries().iter().all(|release| !release.still_mapped);

    println!("after the update: {total} increments in all, {} calls made", calls);
    println!("  counters equal to every acknowledged increment: {}", state == acknowledged);
    println!("  failed calls: {failed_calls}");
    println!("  v2 tracks increments per counter: worker-0-key-0 = {stats:?}");
    println!(
        "committed: released {} (library unmapped: {unmapped}); running {}",
        released.map_or_else(|| "nothing".to_owned(), |version| version.to_string()),
        counter.info().version
    );
    if state != acknowledged || failed_calls > 0 || total != calls || !unmapped {
        return Err("the live update lost or changed state".into());
    }
    Ok(())
}

/// What one worker did.
struct Served {
    /// The last value each of its counters returned.
    expected: BTreeMap<String, i64>,
    /// Calls that returned an error.
    failures: u64,
    /// Calls that succeeded.
    calls: u64,
}

/// One worker: increments its own counters until told to stop.
fn serve(worker: usize, counter: &Module<dyn Counter>, stop: &AtomicBool) -> Served {
    let mut served = Served { expected: BTreeMap::new(), failures: 0, calls: 0 };
    let started = Instant::now();
    // Bounded: stops when told, or after a minute whatever happens.
    while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
        let key = format!("worker-{worker}-key-{}", served.calls % 4);
        match counter.call(|counter| counter.increment(&key, 1)) {
            Ok(value) => {
                served.expected.insert(key, value);
                served.calls += 1;
            }
            Err(_) => served.failures += 1,
        }
    }
    served
}
