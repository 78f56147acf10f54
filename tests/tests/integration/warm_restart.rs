//! Snapshots and warm restart in one process: a host on a state directory comes back on the version
//! of its newest snapshot with that snapshot's state; through the library it was given when that
//! version's library copy is gone or changed; and refuses, saying why, a snapshot of another format
//! version, a module whose snapshots are all damaged, and a library that cannot take the state. (A
//! real `kv-server` killed with SIGKILL during updates is in `kv.rs`.)

use std::path::Path;
use std::time::Instant;

use ecdysis_host::{ErrorChain, HistoryEvent, KEPT_PER_MODULE, LoadError, SnapshotError, SnapshotReason};

use super::*;

/// A host keeping its state in `directory`, with short deadlines.
fn host_in(directory: &Path) -> Host {
    Host::builder()
        .quiesce_timeout(Duration::from_millis(300))
        .hook_timeout(Duration::from_millis(1500))
        .state_directory(directory)
        .build()
        .unwrap()
}

/// The snapshot files of `module`, oldest first.
fn snapshot_files(state: &Path, module: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(state.join("snapshots").join(module))
        .map(|entries| entries.map(|entry| entry.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// The library copies in the state directory.
fn library_copies(state: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(state.join("libraries")).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
}

/// The last entry of `host`'s history.
fn last_event(host: &Host) -> HistoryEvent {
    host.history().pop().expect("a history entry").event
}

/// In `state`: loads counter v1 with the usual state, updates to v2, increments once more, and
/// snapshots (during probation). Returns what the snapshot holds; the host is dropped after one more
/// increment, which no snapshot holds.
fn snapshot_at_v2_during_probation(state: &Path) -> Observed {
    let host = host_in(state);
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| {
        counter.increment("apples", 3).unwrap();
        counter.increment("pears", -4).unwrap();
    });
    host.update("counter", sample("counter-v2")).unwrap();
    counter.call(|counter| counter.increment("plums", 1000).unwrap());
    let report = host.snapshot("counter").unwrap();
    assert_eq!((report.version.to_string(), report.schema_version, report.reason), ("2.0.0".to_owned(), 2, SnapshotReason::Requested));
    assert!(report.path.starts_with(state.join("snapshots").join("counter")), "{}", report.path.display());
    let snapshotted = observe(&counter);
    // Written after the snapshot and never snapshotted: a crash or a drop without shutdown loses it.
    counter.call(|counter| counter.increment("lost", 1).unwrap());
    snapshotted
}

#[test]
fn a_host_comes_back_on_its_newest_snapshots_version_with_that_state() {
    let state = tempfile::tempdir().unwrap();
    let snapshotted = snapshot_at_v2_during_probation(state.path());

    // Given v1, the host comes back on v2, the version of the snapshot taken during probation.
    let host = host_in(state.path());
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    assert_eq!(counter.info().version.to_string(), "2.0.0");
    assert_eq!(observe(&counter), snapshotted, "the state is the snapshot's, without the write made after it");
    let HistoryEvent::Restored { version, library, given, snapshot, snapshot_version, snapshot_schema } = last_event(&host) else {
        panic!("the load is recorded as a restart: {:?}", host.history())
    };
    assert_eq!((version.to_string(), snapshot_version.to_string(), snapshot_schema), ("2.0.0".to_owned(), "2.0.0".to_owned(), 2));
    assert_eq!(given, sample("counter-v1"));
    assert!(library.starts_with(state.path().join("libraries")), "it runs from the kept copy: {}", library.display());
    assert_eq!(Some(snapshot), snapshot_files(state.path(), "counter").pop());
    let status = host.status();
    assert_eq!(status[0].last_snapshot.as_ref().map(|snapshot| snapshot.version.to_string()), Some("2.0.0".to_owned()));
    assert_eq!(status[0].previous_version, None, "it comes back committed");

    // A clean shutdown snapshots what changed, and the next host has every write.
    counter.call(|counter| counter.increment("after-restart", 7).unwrap());
    let written = host.shutdown().unwrap();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].reason, SnapshotReason::Shutdown);
    let everything = observe(&counter);
    assert_eq!(host.shutdown().unwrap(), [], "nothing changed since: nothing is written");
    drop((counter, host));
    let host = host_in(state.path());
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    assert_eq!(observe(&counter), everything);
}

#[test]
fn commits_snapshot_the_state_and_only_the_newest_few_snapshots_and_their_libraries_are_kept() {
    let state = tempfile::tempdir().unwrap();
    let (host, counter) = {
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        (host, counter)
    };
    counter.call(|counter| counter.increment("apples", 1).unwrap());
    host.snapshot("counter").unwrap();
    assert_eq!(library_copies(state.path()).len(), 1, "the v1 library is kept with its snapshot");
    host.update("counter", sample("counter-v2")).unwrap();
    host.commit("counter").unwrap();
    let HistoryEvent::Snapshotted { version, reason, .. } = last_event(&host) else { panic!("a commit snapshots: {:?}", host.history()) };
    assert_eq!((version.to_string(), reason), ("2.0.0".to_owned(), SnapshotReason::Commit));
    assert_eq!(library_copies(state.path()).len(), 2, "v1's snapshot is still kept, and so is its library");
    host.commit("counter").unwrap();
    assert!(matches!(last_event(&host), HistoryEvent::Committed { .. }), "a commit that changed nothing writes no snapshot");
    for _ in 0..KEPT_PER_MODULE {
        counter.call(|counter| counter.increment("apples", 1).unwrap());
        host.snapshot("counter").unwrap();
    }
    let files = snapshot_files(state.path(), "counter");
    assert_eq!(files.len(), KEPT_PER_MODULE, "{files:?}");
    assert!(files[0].ends_with(format!("{:020}.snapshot", 6 - KEPT_PER_MODULE)), "the newest are kept: {files:?}");
    assert_eq!(library_copies(state.path()).len(), 1, "v1's library went with its last snapshot");
    assert!(Host::new().unwrap().snapshot("counter").is_err_and(|error| matches!(error, SnapshotError::NoStateDirectory)));
}

#[test]
fn a_snapshot_of_another_format_version_is_refused_and_left_as_it_is() {
    let state = tempfile::tempdir().unwrap();
    snapshot_at_v2_during_probation(state.path());
    let newest = snapshot_files(state.path(), "counter").pop().unwrap();
    let mut bytes = std::fs::read(&newest).unwrap();
    assert!(bytes.starts_with(b"ecdysis snapshot 1\n"));
    bytes[17] = b'2';
    std::fs::write(&newest, &bytes).unwrap();
    let host = host_in(state.path());
    let error = host.load::<dyn Counter>(sample("counter-v1")).unwrap_err();
    assert!(matches!(error, LoadError::SnapshotFormat { .. }), "{error:?}");
    let message = ErrorChain(&error).to_string();
    assert!(message.contains("is in format version 2, and this host reads version 1"), "{message}");
    assert!(message.contains(&newest.display().to_string()), "it names the file: {message}");
    assert_eq!(std::fs::read(&newest).unwrap(), bytes, "the file is left as it was");
    assert!(host.status().is_empty(), "nothing was loaded");
}

#[test]
fn a_damaged_snapshot_is_skipped_for_the_next_newest_and_a_module_whose_snapshots_are_all_damaged_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let older = {
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        counter.call(|counter| counter.increment("apples", 1).unwrap());
        host.snapshot("counter").unwrap();
        let older = observe(&counter);
        counter.call(|counter| counter.increment("apples", 1).unwrap());
        host.snapshot("counter").unwrap();
        older
    };
    let files = snapshot_files(state.path(), "counter");
    assert_eq!(files.len(), 2);
    // A byte of the newest snapshot's state changes on disk.
    let mut bytes = std::fs::read(&files[1]).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&files[1], &bytes).unwrap();
    {
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        assert_eq!(observe(&counter), older, "the next-newest snapshot is used");
        let HistoryEvent::Restored { snapshot, .. } = last_event(&host) else { panic!("a restart") };
        assert_eq!(snapshot, files[0]);
    }
    // Cut short too, the older one: nothing is left to come back from.
    let older_bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &older_bytes[..older_bytes.len() / 2]).unwrap();
    let host = host_in(state.path());
    let error = host.load::<dyn Counter>(sample("counter-v1")).unwrap_err();
    let message = ErrorChain(&error).to_string();
    assert!(matches!(error, LoadError::Restore { .. }), "{error:?}");
    assert!(message.contains("every snapshot of the module is damaged"), "{message}");
    assert!(message.contains("payload is damaged") && message.contains("cut short"), "each damage is named: {message}");
    assert!(message.contains("move") && message.contains("away to start the module empty"), "it says what to do: {message}");
}

/// The state directory's copy of the library at `library` (same size).
fn kept_copy_of(state: &Path, library: &Path) -> PathBuf {
    let size = std::fs::metadata(library).unwrap().len();
    let copies = library_copies(state);
    copies.into_iter().find(|copy| copy.metadata().unwrap().len() == size).expect("a copy of the library")
}

#[test]
fn a_library_gone_gives_way_to_the_library_given_when_it_can_take_the_state_and_is_refused_when_not() {
    let state = tempfile::tempdir().unwrap();
    let snapshotted = snapshot_at_v2_during_probation(state.path());
    let kept = kept_copy_of(state.path(), &sample("counter-v2"));
    std::fs::remove_file(&kept).unwrap();
    let host = host_in(state.path());
    // v1 cannot read schema v2: refused, with both reasons.
    let error = host.load::<dyn Counter>(sample("counter-v1")).unwrap_err();
    let message = ErrorChain(&error).to_string();
    assert!(matches!(error, LoadError::Restore { .. }), "{error:?}");
    assert!(message.contains(&format!("its library copy `{}` is gone", kept.display())), "{message}");
    assert!(message.contains("has no migration path from the snapshot's schema v2"), "{message}");
    assert!(message.contains("start with a library that can read it, or move the snapshot away"), "{message}");
    // A library that reads schema v2 but fails to take the state: refused, with the plugin's reason.
    let error = host.load::<dyn Counter>(defective("transform_fails")).unwrap_err();
    let message = ErrorChain(&error).to_string();
    assert!(message.contains("could not take the state") && message.contains("refusing the state on purpose"), "{message}");
    assert_causes_not_repeated(&error);
    assert!(host.status().is_empty(), "nothing was loaded");
    // v2 reads it: the module comes back from the library given.
    let counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
    assert_eq!(observe(&counter), snapshotted);
    let HistoryEvent::Restored { library, .. } = last_event(&host) else { panic!("a restart: {:?}", host.history()) };
    assert_eq!(library, sample("counter-v2"), "it runs from the library given");
}

#[test]
fn a_library_changed_gives_way_to_the_library_given_through_the_migration_chain_and_is_refused_when_it_cannot_take_the_state() {
    // A snapshot of v1; its library copy then holds v2's bytes.
    let state = tempfile::tempdir().unwrap();
    let at_v1 = {
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        counter.call(|counter| {
            counter.increment("apples", 5).unwrap();
            counter.increment("pears", -1).unwrap();
        });
        host.snapshot("counter").unwrap();
        observe(&counter)
    };
    let kept = library_copies(state.path()).pop().unwrap();
    std::fs::copy(sample("counter-v2"), &kept).unwrap();
    {
        // v2, given, takes v1's state through its migration, validated by the round trip.
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v2")).unwrap();
        assert_eq!(counter.info().version.to_string(), "2.0.0");
        assert_eq!(observe(&counter), at_v1, "migrated from schema v1");
        let HistoryEvent::Restored { version, snapshot_version, snapshot_schema, library, .. } = last_event(&host) else {
            panic!("a restart: {:?}", host.history())
        };
        assert_eq!((version.to_string(), snapshot_version.to_string(), snapshot_schema), ("2.0.0".to_owned(), "1.0.0".to_owned(), 1));
        assert_eq!(library, sample("counter-v2"));
    }

    // A snapshot of v2 whose library copy gained a few bytes; v1, given, cannot read schema v2.
    let state = tempfile::tempdir().unwrap();
    snapshot_at_v2_during_probation(state.path());
    let kept = kept_copy_of(state.path(), &sample("counter-v2"));
    let mut altered = std::fs::read(&kept).unwrap();
    altered.extend_from_slice(b"changed");
    std::fs::write(&kept, &altered).unwrap();
    let host = host_in(state.path());
    let error = host.load::<dyn Counter>(sample("counter-v1")).unwrap_err();
    let message = ErrorChain(&error).to_string();
    assert!(matches!(error, LoadError::Restore { .. }), "{error:?}");
    assert!(message.contains(&format!("its library copy `{}` was changed (its SHA-256 is now", kept.display())), "{message}");
    assert!(message.contains("has no migration path from the snapshot's schema v2"), "{message}");
    assert_eq!(std::fs::read(&kept).unwrap(), altered, "nothing in the state directory was touched");
}

/// Waits (bounded, so that a host that never writes it fails) until `host`'s history records a
/// snapshot for `reason`.
#[track_caller]
fn wait_for_snapshot(host: &Host, reason: SnapshotReason) {
    let started = Instant::now();
    while !host.history().iter().any(|entry| matches!(entry.event, HistoryEvent::Snapshotted { reason: found, .. } if found == reason)) {
        assert!(started.elapsed() < Duration::from_secs(60), "no snapshot for {reason:?}: {:?}", host.history());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_end_of_probation_and_an_interval_snapshot_the_state_without_being_asked() {
    let state = tempfile::tempdir().unwrap();
    // The end of probation commits, and snapshots the state it commits.
    let at_commit = {
        let host = Host::builder()
            .state_directory(state.path())
            .probation(Duration::from_millis(100))
            .probation_checks_every(Duration::from_millis(50))
            .build()
            .unwrap();
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        counter.call(|counter| counter.increment("apples", 2).unwrap());
        host.update("counter", sample("counter-v2")).unwrap();
        counter.call(|counter| counter.increment("pears", 3).unwrap());
        wait_for_snapshot(&host, SnapshotReason::ProbationEnded);
        observe(&counter)
    };
    // Every interval snapshots what changed, and nothing when nothing did.
    let everything = {
        let host = Host::builder().state_directory(state.path()).snapshot_interval(Duration::from_millis(50)).build().unwrap();
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        assert_eq!(observe(&counter), at_commit);
        counter.call(|counter| counter.increment("plums", 4).unwrap());
        let newest = |host: &Host| host.status()[0].last_snapshot.clone().expect("a snapshot");
        let started = Instant::now();
        while newest(&host).reason != SnapshotReason::Interval {
            assert!(started.elapsed() < Duration::from_secs(60), "no periodic snapshot: {:?}", host.status());
            std::thread::sleep(Duration::from_millis(20));
        }
        let settled = newest(&host);
        let history_length = host.history().len();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(newest(&host), settled, "an unchanged state is not snapshotted again");
        assert_eq!(host.history().len(), history_length, "periodic snapshots are not recorded in the history");
        observe(&counter)
    };
    // Dropped without a shutdown, as a crash would: the snapshots taken unasked hold every write.
    let host = host_in(state.path());
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    assert_eq!(counter.info().version.to_string(), "2.0.0");
    assert_eq!(observe(&counter), everything);
}

#[test]
fn a_damaged_library_copy_is_replaced_by_the_next_snapshot_of_its_version() {
    let state = tempfile::tempdir().unwrap();
    let written = {
        let host = host_in(state.path());
        let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
        counter.call(|counter| counter.increment("apples", 1).unwrap());
        host.snapshot("counter").unwrap();
        observe(&counter)
    };
    let kept = kept_copy_of(state.path(), &sample("counter-v1"));
    let mut damaged = std::fs::read(&kept).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    std::fs::write(&kept, &damaged).unwrap();
    let host = host_in(state.path());
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    assert_eq!(observe(&counter), written, "the library given (the same version) took the state");
    host.snapshot("counter").unwrap();
    assert_eq!(std::fs::read(&kept).unwrap(), std::fs::read(sample("counter-v1")).unwrap(), "the copy is whole again");
}
