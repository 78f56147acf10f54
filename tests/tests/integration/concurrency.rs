//! Updates while other threads keep calling: no call fails, none is lost or run twice, and none sees
//! a half-built instance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ecdysis_host::UpdateOptions;

use super::*;

const CALLERS: usize = 4;
const KEYS_PER_CALLER: usize = 8;
/// An upper bound on calls per thread, so the test ends even if the updates never finish.
const MAX_CALLS_PER_CALLER: usize = 2_000_000;

#[test]
fn updates_under_load_lose_no_call_and_no_state() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    let before = observe(&counter);
    let stop = Arc::new(AtomicBool::new(false));

    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let counter = counter.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Each thread owns its keys, so it knows exactly what each increment must return.
                let mut expected: BTreeMap<String, i64> = BTreeMap::new();
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) && calls < MAX_CALLS_PER_CALLER {
                    let key = format!("caller-{caller}-key-{}", calls % KEYS_PER_CALLER);
                    let by = (calls % 7) as i64 + 1;
                    let returned = counter.call(|counter| counter.increment(&key, by)).expect("no call fails during updates");
                    let value = expected.entry(key.clone()).or_insert(0);
                    *value += by;
                    assert_eq!(returned, *value, "increment of {key} returned a value that skips or repeats an earlier call");
                    calls += 1;
                }
                (expected, calls as u64)
            })
        })
        .collect();

    // Alternate v1 → v2 → v1 … while the callers run: ten updates, each waiting for some calls.
    let mut reports = Vec::new();
    for round in 0..10 {
        let seen = observe(&counter).total_increments;
        let waiting_since = Instant::now();
        while observe(&counter).total_increments < seen + 200 {
            // A caller that stopped early failed an assertion: stop updating and report it below.
            if callers.iter().any(|caller| caller.is_finished()) || waiting_since.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if callers.iter().any(|caller| caller.is_finished()) {
            break;
        }
        let (target, options) =
            if round % 2 == 0 { ("counter-v2", UpdateOptions::new()) } else { ("counter-v1", UpdateOptions::new().allow_downgrade(true)) };
        reports.push(host.update_with("counter", sample(target), &options).unwrap());
        host.commit("counter").unwrap();
    }
    stop.store(true, Ordering::Relaxed);

    let mut expected = before.values.clone();
    let mut total = before.total_increments;
    for caller in callers {
        let (values, calls) = caller.join().expect("a caller thread failed");
        expected.extend(values);
        total += calls;
    }
    let after = observe(&counter);
    assert_eq!(after.values, expected, "every acknowledged increment is in the final state");
    assert_eq!(after.total_increments, total, "no increment was lost or counted twice");
    assert_eq!(host.status()[0].version.to_string(), "1.0.0");
    assert_eq!(reports.len(), 10);
    assert!(host.released_libraries().iter().all(|release| !release.still_mapped));
}
