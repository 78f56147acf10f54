//! Updates that succeed: v1 → v2 with every item of state checked, the report, probation and
//! commit, unloading, and an explicit downgrade.

use counter_interface::CounterStats;
use ecdysis_host::{Phase, UpdateOptions};

use super::*;

#[test]
fn update_v1_to_v2_carries_every_item_of_state_over() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    // Enough counters that the state is more than a toy.
    counter.call(|counter| {
        for index in 0..1000 {
            counter.increment(&format!("key-{index:04}"), index).unwrap();
        }
    });
    let before = observe(&counter);

    let report = host.update("counter", sample("counter-v2")).unwrap();

    assert_eq!(observe(&counter), before, "every counter and the total survive the update");
    assert_eq!((report.from_version.to_string(), report.to_version.to_string()), ("1.0.0".into(), "2.0.0".into()));
    assert_eq!((report.from_schema, report.to_schema, report.transfer_schema), (1, 2, 1));
    assert!(report.validated);
    let phases: Vec<Phase> = report.phases.iter().map(|timing| timing.phase).collect();
    assert_eq!(phases, [Phase::Stage, Phase::Quiesce, Phase::Export, Phase::Transform, Phase::Validate, Phase::Swap]);
    assert!(report.state_bytes > 1000 * "key-0000".len(), "the report counts the state's bytes: {}", report.state_bytes);
    assert!(report.pause <= report.total);
    assert!(report.to_string().contains("updated counter 1.0.0 → 2.0.0 (state schema v1 → v2"));

    // The new version's behaviour: it counts increments per key from the migration on.
    counter.call(|counter| {
        assert_eq!(counter.stats("apples").unwrap(), Some(CounterStats { value: 3, increments: Some(0) }));
        assert_eq!(counter.increment("apples", 10).unwrap(), 13);
        assert_eq!(counter.stats("apples").unwrap(), Some(CounterStats { value: 13, increments: Some(1) }));
    });
    let status = &host.status()[0];
    assert_eq!(
        (status.version.to_string(), status.previous_version.as_ref().map(ToString::to_string), status.updates),
        ("2.0.0".into(), Some("1.0.0".into()), 1)
    );
}

#[test]
fn commit_releases_the_previous_version_and_unmaps_its_library() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    host.update("counter", sample("counter-v2")).unwrap();
    assert!(host.released_libraries().is_empty(), "v1 stays loaded during probation");

    assert_eq!(host.commit("counter").unwrap().map(|version| version.to_string()), Some("1.0.0".into()));
    let released = host.released_libraries();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].version.to_string(), "1.0.0");
    assert!(!released[0].still_mapped, "v1's library left the address space");
    assert_eq!(host.commit("counter").unwrap(), None, "nothing is left to release");
    assert_eq!(counter.call(|counter| counter.value("plums")).unwrap(), Some(1000));
}

#[test]
fn an_older_version_is_accepted_with_an_explicit_downgrade_and_the_state_comes_back_down() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    host.update("counter", sample("counter-v2")).unwrap();
    counter.call(|counter| counter.increment("apples", 1)).unwrap();
    let before = observe(&counter);

    let report = host.update_with("counter", sample("counter-v1"), &UpdateOptions::new().allow_downgrade(true)).unwrap();

    assert_eq!((report.to_version.to_string(), report.transfer_schema), ("1.0.0".into(), 1));
    assert_eq!(observe(&counter), before);
    assert_eq!(counter.call(|counter| counter.stats("apples")).unwrap(), Some(CounterStats { value: 4, increments: None }));
}

#[test]
fn the_same_version_rebuilt_can_be_loaded_again_and_every_unload_unmaps() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    let before = observe(&counter);
    for _ in 0..5 {
        host.update("counter", sample("counter-v1")).unwrap();
    }
    host.commit("counter").unwrap();
    assert_eq!(observe(&counter), before);
    let released = host.released_libraries();
    assert_eq!(released.len(), 5);
    assert!(released.iter().all(|release| !release.still_mapped), "{released:?}");
}
