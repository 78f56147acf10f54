//! Operating a host through its API: rollback as a transaction, probation and its end, commit,
//! and the history of all of it.

use std::time::{Duration, Instant};

use counter_interface::CounterStats;
use ecdysis_host::{HistoryEvent, Host, UpdateError, UpdateKind};

use super::*;

#[test]
fn rollback_carries_the_state_back_through_the_down_migration() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    host.update("counter", sample("counter-v2")).unwrap();
    // State made on v2 must survive the way back.
    counter.call(|counter| counter.increment("made-on-v2", 7)).unwrap();
    let before = observe(&counter);

    let report = host.rollback("counter").unwrap();

    assert_eq!(report.kind, UpdateKind::Rollback);
    assert_eq!(
        (report.from_version.to_string(), report.to_version.to_string(), report.transfer_schema),
        ("2.0.0".into(), "1.0.0".into(), 1)
    );
    assert!(report.validated);
    assert!(report.to_string().starts_with("rolled back counter 2.0.0 → 1.0.0"), "{report}");
    assert_eq!(observe(&counter), before);
    assert_eq!(counter.call(|counter| counter.stats("made-on-v2")).unwrap(), Some(CounterStats { value: 7, increments: None }));
    let status = &host.status()[0];
    assert_eq!((status.version.to_string(), status.previous_version.clone(), status.updates), ("1.0.0".into(), None, 2));
    let released = host.released_libraries();
    assert_eq!(released.iter().map(|release| release.version.to_string()).collect::<Vec<_>>(), ["2.0.0"], "v2 is released at once");
    assert!(!released[0].still_mapped);
}

#[test]
fn rollback_without_a_previous_version_is_refused_and_changes_nothing() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    let before = observe(&counter);
    let error = host.rollback("counter").unwrap_err();
    assert!(matches!(error, UpdateError::NothingToRollBack { .. }), "{error:?}");
    assert_eq!(error.to_string(), "module `counter` has no previous version to roll back to (none was updated since the last commit)");

    host.update("counter", sample("counter-v2")).unwrap();
    host.commit("counter").unwrap();
    assert!(matches!(host.rollback("counter").unwrap_err(), UpdateError::NothingToRollBack { .. }), "commit ends the chance to roll back");
    assert_eq!(observe(&counter), before);
    assert_eq!(host.status()[0].version.to_string(), "2.0.0");
}

#[test]
fn probation_ends_by_itself_and_releases_the_previous_version() {
    let host = Host::builder().probation(Duration::from_millis(300)).build().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| counter.increment("a", 1)).unwrap();
    host.update("counter", sample("counter-v2")).unwrap();
    let status = &host.status()[0];
    assert_eq!(status.previous_version.as_ref().map(ToString::to_string), Some("1.0.0".into()));
    assert!(status.probation_remaining_ms.is_some_and(|remaining| remaining <= 300));

    let started = Instant::now();
    while host.status()[0].previous_version.is_some() {
        assert!(started.elapsed() < Duration::from_secs(20), "probation never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(host.status()[0].probation_remaining_ms, None);
    // The library is unloaded when its last reference goes, which a hook thread of the host may
    // drop a moment after the probation keeper let go of the version.
    let unmapped = || host.released_libraries().iter().any(|release| release.version.to_string() == "1.0.0" && !release.still_mapped);
    let started = Instant::now();
    while !unmapped() {
        assert!(started.elapsed() < Duration::from_secs(10), "1.0.0 was not unloaded and unmapped: {:?}", host.released_libraries());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(host.history().iter().any(
        |entry| matches!(&entry.event, HistoryEvent::Committed { expired: true, released: Some(version) } if version.to_string() == "1.0.0")
    ));
    assert_eq!(counter.call(|counter| counter.value("a")).unwrap(), Some(1));
}

#[test]
fn history_records_every_operation_in_order() {
    let (host, _counter) = loaded_with_state(sample("counter-v1"));
    host.update("counter", sample("counter-v2")).unwrap();
    host.update("counter", sample("counter-v1")).unwrap_err();
    host.rollback("counter").unwrap();
    host.commit("counter").unwrap();

    let summary: Vec<String> = host
        .history()
        .iter()
        .map(|entry| match &entry.event {
            HistoryEvent::Loaded { version, .. } => format!("{} loaded {version}", entry.module),
            HistoryEvent::Updated { report } => {
                format!("{} {:?} {} → {}", entry.module, report.kind, report.from_version, report.to_version)
            }
            HistoryEvent::Refused { message, .. } => format!("{} refused: {}", entry.module, message.split(';').next().unwrap_or_default()),
            HistoryEvent::Committed { released, expired } => format!("{} committed {released:?} expired={expired}", entry.module),
            other => format!("{other:?}"),
        })
        .collect();
    let library = sample("counter-v1");
    assert_eq!(
        summary,
        [
            "counter loaded 1.0.0".to_owned(),
            "counter Update 1.0.0 → 2.0.0".to_owned(),
            format!("counter refused: `{}` is counter 1.0.0, older than the running 2.0.0", library.display()),
            "counter Rollback 2.0.0 → 1.0.0".to_owned(),
            "counter committed None expired=false".to_owned(),
        ]
    );
    let times: Vec<u64> = host.history().iter().map(|entry| entry.at_unix_ms).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "oldest first");
}
