//! Lazy state transfer in one process: kv versions loaded into a host, filled through the `Kv`
//! interface, updated lazily, and read back key by key, with the background pass either running
//! at its default pace or held back (an interval of an hour) so that the test decides what moves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ecdysis_host::{Host, MigrationProgress, Module, UpdateOptions};
use kv_interface::{CommandBatch, Kv, resp};

use super::{defective, sample};

/// A background pass that makes no batch during a test: only calls move entries.
const HELD_BACK: Option<(u64, Duration)> = Some((10, Duration::from_secs(3600)));

/// The values a test expects, by key; `None` for a key that must not exist.
type Expected = BTreeMap<String, Option<String>>;

/// A host with kv v1 loaded and `keys` keys `key:NNNNNN` → `value:N` written, with the background
/// pass at `pace` (the default when `None`).
fn kv_host(keys: usize, pace: Option<(u64, Duration)>, state_directory: Option<&std::path::Path>) -> (Host, Module<dyn Kv>, Expected) {
    let mut builder = Host::builder().quiesce_timeout(Duration::from_secs(2)).hook_timeout(Duration::from_secs(10));
    if let Some((batch, interval)) = pace {
        builder = builder.lazy_migration_pace(batch, interval);
    }
    if let Some(directory) = state_directory {
        builder = builder.state_directory(directory);
    }
    let host = builder.build().unwrap();
    let kv = host.load::<dyn Kv>(sample("kv-v1")).unwrap();
    let mut expected = Expected::new();
    for chunk in (0..keys).collect::<Vec<_>>().chunks(1000) {
        let mut batch = CommandBatch::new();
        for index in chunk {
            let (key, value) = (format!("key:{index:06}"), format!("value:{index}"));
            batch.push(&["SET", &key, &value]);
            expected.insert(key, Some(value));
        }
        kv.call(|kv| kv.execute(batch.as_bytes())).unwrap();
    }
    (host, kv, expected)
}

/// The replies to `commands`, as text.
fn run(kv: &Module<dyn Kv>, commands: &[&[&str]]) -> String {
    let mut batch = CommandBatch::new();
    for command in commands {
        batch.push(command);
    }
    String::from_utf8_lossy(&kv.call(|kv| kv.execute(batch.as_bytes())).unwrap()).into_owned()
}

/// Checks every expected key with one GET each.
#[track_caller]
fn check(kv: &Module<dyn Kv>, expected: &Expected) {
    let mut batch = CommandBatch::new();
    let mut replies = Vec::new();
    for (key, value) in expected {
        batch.push(&["GET", key]);
        match value {
            Some(value) => resp::bulk(&mut replies, value.as_bytes()),
            None => resp::null(&mut replies),
        }
    }
    let got = kv.call(|kv| kv.execute(batch.as_bytes())).unwrap();
    if got != replies {
        let (got, wanted) = (String::from_utf8_lossy(&got), String::from_utf8_lossy(&replies));
        let first = got.split("\r\n").zip(wanted.split("\r\n")).find(|(got, wanted)| got != wanted);
        panic!("the values differ from what was written; first difference (got, wanted): {first:?}");
    }
}

fn migration(host: &Host) -> Option<MigrationProgress> {
    host.status().into_iter().find(|module| module.name == "kv").unwrap().migration
}

fn version(host: &Host) -> String {
    host.status().into_iter().find(|module| module.name == "kv").unwrap().version.to_string()
}

/// Waits (at most a minute) until `done` holds of the migration.
#[track_caller]
fn wait_for(host: &Host, what: &str, done: impl Fn(Option<&MigrationProgress>) -> bool) {
    let started = Instant::now();
    while !done(migration(host).as_ref()) {
        assert!(started.elapsed() < Duration::from_secs(60), "{what} did not happen within a minute: {:?}", migration(host));
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lazily() -> UpdateOptions {
    UpdateOptions::new().lazy(true)
}

#[test]
fn a_lazy_update_moves_no_state_in_the_pause_and_the_migration_finishes_by_itself() {
    let (host, kv, expected) = kv_host(3000, None, None);
    let report = host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
    assert!(report.lazy && report.state_bytes == 0, "{report}");
    assert!(
        report.phases.iter().all(|timing| !matches!(timing.phase, ecdysis_host::protocol::Phase::Export)),
        "nothing is exported: {report}"
    );
    assert_eq!(version(&host), "2.0.0");
    // Every value is right at once: the keys read first move first.
    check(&kv, &expected);
    wait_for(&host, "the end of the migration", |migration| migration.is_none());
    check(&kv, &expected);
    assert_eq!(run(&kv, &[&["DBSIZE"]]), ":3000\r\n");
    // The history says so.
    let finished = host.history().into_iter().rev().find_map(|entry| match entry.event {
        ecdysis_host::HistoryEvent::MigrationFinished { version, moved, .. } => Some((version.to_string(), moved)),
        _ => None,
    });
    assert_eq!(finished, Some(("2.0.0".to_owned(), 3000)));

    // And on to v3, lazily again, through the entry chain v2 → v3.
    host.update_with("kv", sample("kv-v3"), &lazily()).unwrap();
    wait_for(&host, "the end of the second migration", |migration| migration.is_none());
    check(&kv, &expected);
    assert_eq!(run(&kv, &[&["TYPE", "key:000007"]]), "+string\r\n");
    // Once the migration is over, the previous version can be committed.
    assert_eq!(host.commit("kv").unwrap().map(|version| version.to_string()).as_deref(), Some("2.0.0"));
}

#[test]
fn entries_touched_during_a_migration_move_first_and_nothing_comes_back_from_the_old_version() {
    let (host, kv, mut expected) = kv_host(100, HELD_BACK, None);
    host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
    assert_eq!(migration(&host), Some(MigrationProgress { migrated: 0, remaining: 100, failed: 0, first_failure: None }));

    // A read, an overwrite and a delete of entries not moved yet, and a new key.
    assert_eq!(run(&kv, &[&["GET", "key:000001"]]), "$7\r\nvalue:1\r\n");
    assert_eq!(run(&kv, &[&["SET", "key:000002", "overwritten"]]), "+OK\r\n");
    assert_eq!(run(&kv, &[&["DEL", "key:000003"]]), ":1\r\n");
    assert_eq!(run(&kv, &[&["SET", "fresh", "new"]]), "+OK\r\n");
    let progress = migration(&host).unwrap();
    assert_eq!((progress.migrated, progress.remaining), (3, 97), "{progress:?}");
    expected.insert("key:000002".into(), Some("overwritten".into()));
    expected.insert("key:000003".into(), None);
    expected.insert("fresh".into(), Some("new".into()));

    // An update and a commit wait for the migration; the module keeps serving.
    let refused = host.update_with("kv", sample("kv-v3"), &UpdateOptions::new()).unwrap_err().to_string();
    assert!(refused.contains("still migrating lazily into version 2.0.0 (97 entries remain, 0 failed"), "{refused}");
    let refused = host.commit("kv").unwrap_err().to_string();
    assert!(refused.starts_with("cannot commit module `kv` while its state is still migrating"), "{refused}");

    // Operations on the whole keyspace see every key: they move the rest first.
    assert_eq!(run(&kv, &[&["DBSIZE"]]), ":100\r\n");
    assert_eq!(migration(&host).unwrap().remaining, 0);
    check(&kv, &expected);
    // The deleted key did not come back from the old version.
    assert_eq!(run(&kv, &[&["EXISTS", "key:000003"]]), ":0\r\n");

    // A rollback now brings all of it back into v1, as it is on v2.
    let report = host.rollback("kv").unwrap();
    assert!(report.lazy, "{report}");
    assert_eq!((version(&host), migration(&host)), ("1.0.0".to_owned(), None));
    check(&kv, &expected);
}

#[test]
fn a_rollback_in_the_middle_of_a_migration_loses_nothing() {
    let (host, kv, mut expected) = kv_host(5000, HELD_BACK, None);
    host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
    // A third of the keys touched on v2: read, overwritten, deleted; and new keys.
    for index in (0..5000).step_by(3) {
        let key = format!("key:{index:06}");
        match index % 4 {
            0 => assert!(run(&kv, &[&["GET", &key]]).starts_with('$')),
            1 => {
                run(&kv, &[&["SET", &key, "changed on v2"]]);
                expected.insert(key, Some("changed on v2".into()));
            }
            2 => {
                run(&kv, &[&["DEL", &key]]);
                expected.insert(key, None);
            }
            _ => {
                let fresh = format!("fresh:{index}");
                run(&kv, &[&["SET", &fresh, "made on v2"]]);
                expected.insert(fresh, Some("made on v2".into()));
            }
        }
    }
    let progress = migration(&host).unwrap();
    assert!(progress.migrated > 1000 && progress.remaining > 3000, "{progress:?}");

    let report = host.rollback("kv").unwrap();
    assert_eq!(report.to_version.to_string(), "1.0.0");
    let status = host.status().into_iter().next().unwrap();
    assert_eq!((status.version.to_string(), status.previous_version, status.migration), ("1.0.0".to_owned(), None, None));
    check(&kv, &expected);

    // And v1 serves on: a key deleted on v2 stays deleted, a new key stays.
    assert_eq!(run(&kv, &[&["DBSIZE"]]), format!(":{}\r\n", expected.values().filter(|value| value.is_some()).count()));
}

#[test]
fn a_rollback_that_cannot_bring_an_entry_back_is_refused_and_changes_nothing() {
    let (host, kv, expected) = kv_host(50, HELD_BACK, None);
    host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
    // A time to live, which v1 cannot hold.
    assert_eq!(run(&kv, &[&["EXPIRE", "key:000004", "1000"]]), ":1\r\n");
    let refused = ecdysis_host::protocol::ErrorChain(&host.rollback("kv").unwrap_err()).to_string();
    assert!(refused.contains("during its lazy migration failed while exporting the new version's entries"), "{refused}");
    assert!(refused.contains("time to live"), "{refused}");
    assert_eq!(version(&host), "2.0.0");
    assert_eq!(migration(&host).unwrap().remaining, 49, "the migration goes on");
    check(&kv, &expected);
    assert_eq!(run(&kv, &[&["TTL", "key:000004"]]), ":1000\r\n");

    // Forced, the key goes back without its time to live.
    host.rollback_with("kv", &UpdateOptions::new().force(true)).unwrap();
    assert_eq!(version(&host), "1.0.0");
    check(&kv, &expected);
}

#[test]
fn an_entry_that_fails_to_migrate_stays_with_the_host_and_a_rollback_brings_it_back() {
    let (host, kv, mut expected) = kv_host(200, None, None);
    run(&kv, &[&["SET", "bad:error", "poison"], &["SET", "bad:panic", "panic"]]);
    expected.insert("bad:error".into(), Some("poison".into()));
    expected.insert("bad:panic".into(), Some("panic".into()));
    host.update_with("kv", defective("kv_entry_fails"), &lazily()).unwrap();

    // A call that touches a failing entry gets an error naming it; the entry is not lost.
    let reply = run(&kv, &[&["GET", "bad:error"]]);
    assert_eq!(
        reply,
        "-ERR the entry of key `bad:error` could not be migrated to this version: migration v1 → v2 failed: the value `poison` cannot be migrated\r\n"
    );
    let reply = run(&kv, &[&["GET", "bad:panic"]]);
    assert!(reply.contains("its migration panicked: the migration of the value `panic` panicked"), "{reply}");
    // Touched again, it fails again, the same way.
    assert_eq!(run(&kv, &[&["GET", "bad:panic"]]), reply);

    // The background pass moves everything else, and the migration stays open.
    wait_for(&host, "every other entry moved", |migration| migration.is_some_and(|migration| migration.remaining == migration.failed));
    let progress = migration(&host).unwrap();
    assert_eq!((progress.migrated, progress.remaining, progress.failed), (200, 2, 2), "{progress:?}");
    assert!(progress.first_failure.unwrap().starts_with("key `bad:"));
    std::thread::sleep(Duration::from_millis(50));
    assert!(migration(&host).is_some(), "a migration with failed entries does not end");
    assert_eq!(run(&kv, &[&["GET", "key:000199"]]), "$9\r\nvalue:199\r\n");

    // A rollback brings back every entry, the failed ones included.
    host.rollback("kv").unwrap();
    assert_eq!((version(&host), migration(&host)), ("1.0.0".to_owned(), None));
    check(&kv, &expected);
}

#[test]
fn a_snapshot_during_a_migration_finishes_it_first() {
    let directory = tempfile::tempdir().unwrap();
    let (host, kv, mut expected) = kv_host(500, HELD_BACK, Some(directory.path()));
    host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
    run(&kv, &[&["SET", "key:000010", "changed"]]);
    expected.insert("key:000010".into(), Some("changed".into()));
    let report = host.snapshot("kv").unwrap();
    assert_eq!(report.version.to_string(), "2.0.0");
    assert_eq!(migration(&host), None, "the snapshot finished the migration");
    check(&kv, &expected);
    host.shutdown().unwrap();
    drop((kv, host));

    // A host started on the same directory comes back with every entry.
    let host = Host::builder().state_directory(directory.path()).build().unwrap();
    let kv = host.load::<dyn Kv>(sample("kv-v2")).unwrap();
    check(&kv, &expected);
}

#[test]
fn a_lazy_update_needs_keyed_state_on_both_sides() {
    let (host, counter) = super::loaded_with_state(sample("counter-v1"));
    let before = super::observe(&counter);
    let refused = host.update_with("counter", sample("counter-v2"), &lazily()).unwrap_err().to_string();
    assert_eq!(
        refused,
        "module `counter` cannot be updated lazily: the running version 1.0.0 does not keep keyed state (it does not implement `KeyedState`); update it eagerly"
    );
    assert_eq!(super::observe(&counter), before);
}

/// How many lazy update-and-rollback cycles the flat-resources scenario runs.
const LAZY_CYCLES: usize = 300;

#[test]
fn lazy_update_cycles_leave_no_descriptor_temporary_file_or_mapping_behind() {
    if !super::soundness::scenario_in_child_process("lazy::lazy_update_cycles_leave_no_descriptor_temporary_file_or_mapping_behind") {
        return;
    }
    let (host, kv, expected) = kv_host(50, None, None);
    // Every other cycle rolls back in the middle of the migration, the others once it has finished.
    let cycle = |index: usize| {
        host.update_with("kv", sample("kv-v2"), &lazily()).unwrap();
        if index % 2 == 1 {
            wait_for(&host, "the end of the migration", |migration| migration.is_none());
        }
        host.rollback("kv").unwrap();
    };
    cycle(0);
    cycle(1);
    let this_process = std::process::id();
    let library_directory = super::library_directory_of(this_process);
    let descriptors_before = super::open_file_descriptors(this_process);
    for index in 0..LAZY_CYCLES {
        cycle(index);
    }
    check(&kv, &expected);
    // The threads of the last cycle may still be ending.
    let deadline = Instant::now() + Duration::from_secs(10);
    while super::open_file_descriptors(this_process) > descriptors_before {
        assert!(
            Instant::now() < deadline,
            "{} descriptors open after {LAZY_CYCLES} cycles, {descriptors_before} before",
            super::open_file_descriptors(this_process)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let files: Vec<_> = std::fs::read_dir(&library_directory).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "only the running version's private copy is left: {files:?}");
    let mapped = super::mapped_under(this_process, &library_directory);
    assert_eq!(mapped.len(), 1, "only the running version's library is mapped: {mapped:?}");
}
