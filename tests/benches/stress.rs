//! The lifecycle under stress: six threads call two modules, nesting calls into each other and into
//! themselves, while another thread runs 30,000 transactions on them (updates, rollbacks and
//! commits, interleaved). At the end every increment must be counted exactly once, every returned
//! value must have been the next one, and every released library must have left the address space.
//! Run with `cargo xtask bench stress [UPDATES]` (release build); it takes about a minute.
//!
//! This is a long test rather than a measurement, so it lives with the benchmarks, outside
//! `cargo test`: it prints what it did and exits non-zero on the first broken guarantee.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use counter_interface::Counter;
use ecdysis_host::{Host, UpdateOptions};
use ecdysis_tests::{Profile, plugins};
use kv_interface::Kv;

const CALLERS: usize = 6;
const KEYS_PER_CALLER: usize = 8;

fn main() {
    let updates: u64 = std::env::args()
        .skip(1)
        .find(|argument| !argument.starts_with('-'))
        .map(|argument| argument.parse().expect("the argument is the number of transactions"))
        .unwrap_or(30_000);
    let plugins = plugins(Profile::Release);
    let host = Host::builder().quiesce_timeout(Duration::from_secs(5)).probation(Duration::from_secs(3600)).build().expect("a host");
    let counter = host.load::<dyn Counter>(plugins.sample("counter-v1")).expect("counter-v1 loads");
    let kv = host.load::<dyn Kv>(plugins.sample("kv-v1")).expect("kv-v1 loads");
    let stop = Arc::new(AtomicBool::new(false));
    let calls_made = Arc::new(AtomicU64::new(0));
    let started = Instant::now();

    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (counter, kv, stop, calls_made) = (counter.clone(), kv.clone(), Arc::clone(&stop), Arc::clone(&calls_made));
            std::thread::spawn(move || {
                let mut expected: BTreeMap<String, i64> = BTreeMap::new();
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("caller-{caller}-key-{}", calls % KEYS_PER_CALLER as u64);
                    // Every fourth call nests a call into the other module, every fourth into the
                    // same module, and every fourth is made from inside a call of the other module.
                    let returned = match calls % 4 {
                        0 => counter.call(|proxy| {
                            kv.call(|kv| kv.key_count()).expect("a nested call into kv succeeds");
                            proxy.increment(&key, 1)
                        }),
                        1 => counter.call(|proxy| {
                            counter.call(|inner| inner.value(&key)).expect("a nested call into the same module succeeds");
                            proxy.increment(&key, 1)
                        }),
                        2 => kv.call(|kv| {
                            kv.key_count().expect("kv answers");
                            counter.call(|proxy| proxy.increment(&key, 1))
                        }),
                        _ => counter.call(|proxy| proxy.increment(&key, 1)),
                    }
                    .expect("no call fails");
                    let value = expected.entry(key.clone()).or_insert(0);
                    *value += 1;
                    assert_eq!(returned, *value, "increment of {key} skipped or repeated an earlier call");
                    calls += 1;
                    calls_made.fetch_add(1, Ordering::Relaxed);
                }
                (expected, calls)
            })
        })
        .collect();

    let downgrade = UpdateOptions::new().allow_downgrade(true);
    let (mut committed, mut rolled_back, mut updated, mut kv_updates) = (0u64, 0u64, 0u64, 0u64);
    let mut longest_pause = Duration::ZERO;
    for transaction in 0..updates {
        if callers.iter().any(|caller| caller.is_finished()) {
            break;
        }
        let version = host.status().into_iter().find(|module| module.name == "counter").expect("counter is loaded").version;
        let report = match transaction % 5 {
            // Roll back the last update (or update, when there is nothing to roll back).
            1 if host.status().iter().any(|module| module.name == "counter" && module.previous_version.is_some()) => {
                rolled_back += 1;
                host.rollback("counter")
            }
            3 => {
                committed += 1;
                host.commit("counter").expect("commit succeeds");
                continue;
            }
            4 if transaction % 50 == 4 => {
                kv_updates += 1;
                let target = if kv_updates % 2 == 1 { "kv-v2" } else { "kv-v1" };
                host.update_with("kv", plugins.sample(target), &UpdateOptions::new().allow_downgrade(true).force(true))
            }
            _ => {
                updated += 1;
                let target = if version.major == 1 { "counter-v2" } else { "counter-v1" };
                host.update_with("counter", plugins.sample(target), &downgrade)
            }
        };
        let report = report.unwrap_or_else(|error| panic!("transaction {transaction} failed: {error}"));
        longest_pause = longest_pause.max(report.pause);
        if transaction % 1000 == 999 {
            println!(
                "{} transactions, {} calls so far, {:.1} s",
                transaction + 1,
                calls_made.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);

    let mut expected = BTreeMap::new();
    let mut total_calls = 0;
    for caller in callers {
        let (values, calls) = caller.join().expect("a caller thread failed");
        expected.extend(values);
        total_calls += calls;
    }
    let (values, total_increments) = counter.call(|proxy| {
        let keys = proxy.keys().expect("keys");
        let values: BTreeMap<String, i64> =
            keys.into_iter().map(|key| (key.clone(), proxy.value(&key).expect("value").expect("a listed key has a value"))).collect();
        (values, proxy.total_increments().expect("total"))
    });
    assert_eq!(values, expected, "every acknowledged increment is in the final state");
    assert_eq!(total_increments, total_calls, "no increment was lost or counted twice");
    let released = host.released_libraries();
    assert!(released.iter().all(|release| !release.still_mapped), "a released library stayed mapped");
    println!(
        "stress: {} transactions ({updated} counter updates, {rolled_back} rollbacks, {committed} commits, {kv_updates} kv updates) \
         in {:.1} s while {CALLERS} threads made {total_calls} calls (a third of them nested); longest pause {:.3} ms; \
         every increment counted once, every released library unmapped",
        updated + rolled_back + committed + kv_updates,
        started.elapsed().as_secs_f64(),
        longest_pause.as_secs_f64() * 1e3
    );
}
