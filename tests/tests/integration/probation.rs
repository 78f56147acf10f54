//! Probation with checks: a new version that reports itself unhealthy, fails the embedder's check,
//! or panics in more calls than the budget is rolled back to the previous version automatically,
//! with its state carried down; the reason is in the history and in `status`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ecdysis_host::{HistoryEvent, HostBuilder, UpdateKind};

use super::*;

/// A host that checks versions on probation every 50 ms.
fn checking_host() -> HostBuilder {
    Host::builder().probation_checks_every(Duration::from_millis(50))
}

/// Waits (at most ten seconds) until `module` runs `version`.
#[track_caller]
fn wait_for_version(host: &Host, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.status()[0].version.to_string() != version {
        assert!(Instant::now() < deadline, "the module never went back to {version}: {:?}", host.status());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that the last two history entries are the failed probation of 3.0.0 for `reason` and the
/// rollback to 2.0.0, and that `status` shows the reason.
#[track_caller]
fn check_rolled_back_for(host: &Host, reason: &str) {
    // The rollback's swap comes before its history entry and the status's reason: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.status()[0].probation_failure.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let history = host.history();
    let [.., failed, rolled_back] = &history[..] else { panic!("too short a history: {history:?}") };
    match &failed.event {
        HistoryEvent::ProbationFailed { version, reason: recorded } => {
            assert_eq!(version.to_string(), "3.0.0");
            assert!(recorded.contains(reason), "`{recorded}` should contain `{reason}`");
        }
        other => panic!("expected the failed probation, found {other:?}"),
    }
    match &rolled_back.event {
        HistoryEvent::Updated { report } => {
            assert_eq!((report.kind, report.to_version.to_string().as_str()), (UpdateKind::Rollback, "2.0.0"));
        }
        other => panic!("expected the rollback, found {other:?}"),
    }
    let failure = host.status()[0].probation_failure.clone().expect("status says why");
    assert!(failure.contains(reason), "`{failure}` should contain `{reason}`");
}

#[test]
fn a_version_whose_health_hook_fails_is_rolled_back_with_its_state() {
    let host = checking_host().build().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    host.update("counter", defective("health_fails")).unwrap();
    // Writes made while the new version served are carried down by the rollback.
    counter.call(|counter| counter.increment("made-on-3.0.0", 1)).unwrap();
    wait_for_version(&host, "2.0.0");
    check_rolled_back_for(&host, "its health check failed: the cache is corrupt");
    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3));
    assert_eq!(counter.call(|counter| counter.value("made-on-3.0.0")).unwrap(), Some(1));
    assert_eq!(host.status()[0].previous_version, None, "nothing is left to roll back to");
}

#[test]
fn a_version_that_panics_in_more_calls_than_the_budget_is_rolled_back() {
    let host = checking_host().panic_budget(2).build().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    host.update("counter", defective("call_panics")).unwrap();
    for _ in 0..2 {
        counter.call(|counter| counter.increment("panic", 1)).unwrap_err();
    }
    // Within the budget: several rounds of checks later, it still serves.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.status()[0].version.to_string(), "3.0.0", "two panics are within a budget of two");
    counter.call(|counter| counter.increment("panic", 1)).unwrap_err();
    wait_for_version(&host, "2.0.0");
    check_rolled_back_for(&host, "3 calls panicked in it during probation, more than the budget of 2");
    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3));
}

#[test]
fn the_embedders_check_can_fail_a_probation_and_a_committed_version_is_not_checked() {
    let unhealthy = Arc::new(AtomicBool::new(false));
    let checked = Arc::clone(&unhealthy);
    let host = checking_host()
        .health_check(move |module| if checked.load(Ordering::SeqCst) { Err(format!("{module} answers too slowly")) } else { Ok(()) })
        .build()
        .unwrap();
    let _counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
    host.update_with("counter", sample("counter-v1"), &ecdysis_host::UpdateOptions::new().allow_downgrade(true)).unwrap();
    host.commit("counter").unwrap();
    // Once committed, nothing is on probation: a failing check changes nothing.
    unhealthy.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.status()[0].version.to_string(), "1.0.0");
    unhealthy.store(false, Ordering::SeqCst);
    host.update("counter", defective("call_panics")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(host.status()[0].version.to_string(), "3.0.0", "a healthy version stays");
    unhealthy.store(true, Ordering::SeqCst);
    wait_for_version(&host, "1.0.0");
    let failure = host.status()[0].probation_failure.clone().unwrap();
    assert!(failure.contains("the host's health check failed: counter answers too slowly"), "{failure}");
}
