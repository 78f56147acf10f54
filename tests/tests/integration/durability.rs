//! What a host keeps on disk with a state directory: its journal survives the host, a torn last
//! record is discarded, a foreign file is refused, one host uses a directory at a time, and the file
//! is compacted rather than growing without bound.

use ecdysis_host::{BuildError, HISTORY_CAPACITY, HistoryEvent, Host};

use super::*;

/// A host keeping its state in `directory`.
fn host_in(directory: &std::path::Path) -> Result<Host, BuildError> {
    Host::builder().state_directory(directory).build()
}

/// The kinds of a host's history entries, oldest first.
fn kinds(host: &Host) -> Vec<&'static str> {
    host.history()
        .iter()
        .map(|entry| match entry.event {
            HistoryEvent::Loaded { .. } => "loaded",
            HistoryEvent::Updated { .. } => "updated",
            HistoryEvent::Refused { .. } => "refused",
            HistoryEvent::Committed { .. } => "committed",
            HistoryEvent::Snapshotted { .. } => "snapshotted",
            _ => "other",
        })
        .collect()
}

/// A host in `directory` that loads v1, updates to v2, is refused a missing library, rolls back,
/// updates again and commits (which snapshots the state); returns its history.
fn write_some_history(directory: &std::path::Path) -> Vec<ecdysis_host::HistoryEntry> {
    let host = host_in(directory).unwrap();
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    host.update("counter", sample("counter-v2")).unwrap();
    host.update("counter", directory.join("libmissing.so")).unwrap_err();
    host.rollback("counter").unwrap();
    host.update("counter", sample("counter-v2")).unwrap();
    host.commit("counter").unwrap();
    assert_eq!(kinds(&host), ["loaded", "updated", "refused", "updated", "updated", "committed", "snapshotted"]);
    host.history()
}

#[test]
fn the_history_survives_the_host() {
    let state = tempfile::tempdir().unwrap();
    let written = write_some_history(state.path());
    let host = host_in(state.path()).unwrap();
    assert_eq!(host.history(), written, "a new host reads back every entry, as it was");
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let history = host.history();
    assert_eq!((history.len(), &history[..written.len()]), (written.len() + 1, &written[..]), "and appends after them");
}

#[test]
fn a_torn_last_record_is_discarded_and_the_journal_goes_on() {
    let state = tempfile::tempdir().unwrap();
    let written = write_some_history(state.path());
    let journal = state.path().join("journal");
    let whole = std::fs::read(&journal).unwrap();
    // A crash in the middle of an append: a record's length and checksum, and half its payload.
    let mut torn = whole.clone();
    torn.extend_from_slice(&100u32.to_le_bytes());
    torn.extend_from_slice(&7u64.to_le_bytes());
    torn.extend_from_slice(b"{\"at_unix_ms\": 1, \"mod");
    std::fs::write(&journal, &torn).unwrap();
    let host = host_in(state.path()).unwrap();
    assert_eq!(host.history(), written, "the whole records are read; the torn one is not");
    assert_eq!(std::fs::read(&journal).unwrap(), whole, "the torn record is cut off the file");
    host.commit("counter").unwrap_err();
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    drop(host);
    let host = host_in(state.path()).unwrap();
    assert_eq!(host.history().len(), written.len() + 1, "appending went on after the repair");

    // A record whose bytes changed (its checksum no longer matches) ends what is read, too.
    drop(host);
    let mut damaged = std::fs::read(&journal).unwrap();
    let last = damaged.len() - 3;
    damaged[last] ^= 0xff;
    std::fs::write(&journal, &damaged).unwrap();
    let host = host_in(state.path()).unwrap();
    assert_eq!(host.history(), written, "the damaged last record is discarded");
}

#[test]
fn a_journal_of_another_format_or_no_journal_at_all_is_refused() {
    let check = |content: &[u8], expected: &str| {
        let state = tempfile::tempdir().unwrap();
        std::fs::write(state.path().join("journal"), content).unwrap();
        let error = host_in(state.path()).unwrap_err();
        assert!(matches!(error, BuildError::StateDirectory { .. }), "{error:?}");
        let message = ecdysis_host::ErrorChain(&error).to_string();
        assert!(message.contains(expected), "`{message}` should contain `{expected}`");
        assert_eq!(std::fs::read(state.path().join("journal")).unwrap(), content, "the file is left as it was");
    };
    check(b"ecdysis journal 2\nwhatever comes in version 2", "is in format version 2, and this host reads version 1");
    check(b"{\"not\": \"a journal\"}\n", "is not an ecdysis journal (it starts with `{\"not\": \"a journal\"}`)");
}

#[test]
fn a_state_directory_is_used_by_one_host_at_a_time() {
    let state = tempfile::tempdir().unwrap();
    let first = host_in(state.path()).unwrap();
    let error = host_in(state.path()).unwrap_err();
    assert!(ecdysis_host::ErrorChain(&error).to_string().contains("another host is using it"), "{error}");
    drop(first);
    // The host's own threads hold it for moments at a time (the probation keeper looks at it five
    // times a second), so the last reference may go on one of them a moment after this drop.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match host_in(state.path()) {
            Ok(_) => break,
            Err(error) => assert!(std::time::Instant::now() < deadline, "once the first host is gone, the directory is free: {error}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_journal_is_compacted_to_the_newest_entries() {
    let state = tempfile::tempdir().unwrap();
    let host = host_in(state.path()).unwrap();
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    // Commits with nothing on probation are recorded too: the cheapest entry to make.
    let entries = 2 * HISTORY_CAPACITY + 10;
    for _ in 1..entries {
        host.commit("counter").unwrap();
    }
    assert_eq!(host.history().len(), HISTORY_CAPACITY);
    let newest = host.history();
    drop(host);
    let journal = std::fs::read(state.path().join("journal")).unwrap();
    let whole_file_bound = 2 * HISTORY_CAPACITY * 200;
    assert!(journal.len() < whole_file_bound, "the file was compacted: {} bytes", journal.len());
    let host = host_in(state.path()).unwrap();
    assert_eq!(host.history(), newest, "the newest entries are kept, in order");
}
