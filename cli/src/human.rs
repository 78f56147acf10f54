//! The human-readable forms of the host's replies: the status table, the history lines, the
//! commit line and the snapshot lines. (Update reports print through their own `Display` implementation.)

use std::fmt::Write as _;

use ecdysis_protocol::{HistoryEntry, HistoryEvent, ModuleStatus, UpdateKind};

use crate::calendar::format_utc_timestamp;

/// The status table: a header and one row per module, columns separated by two spaces, or
/// `no modules loaded`. Ends with a newline.
#[must_use]
pub fn status_table(modules: &[ModuleStatus]) -> String {
    if modules.is_empty() {
        return "no modules loaded\n".to_owned();
    }
    let header = ["MODULE", "VERSION", "SCHEMA", "PREVIOUS", "UPDATES", "IN FLIGHT", "LIBRARY"].map(str::to_owned);
    let rows: Vec<[String; 7]> = modules
        .iter()
        .map(|module| {
            [
                module.name.clone(),
                module.version.to_string(),
                format!("v{}", module.schema_version),
                previous_version_cell(module),
                module.updates.to_string(),
                module.in_flight.to_string(),
                module.path.display().to_string(),
            ]
        })
        .collect();
    let mut column_widths = [0_usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in column_widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut table = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(column_widths).enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            // The last column is not padded, so that lines carry no trailing spaces.
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        table.push_str(line.trim_end());
        table.push('\n');
    }
    // What a row cannot say: why a probation failed, and which released libraries stay mapped.
    for module in modules {
        if let Some(reason) = &module.probation_failure {
            let _ = writeln!(table, "{}: rolled back after a failed probation: {}", module.name, single_line(reason));
        }
        for library in &module.libraries_still_mapped {
            let _ = writeln!(table, "{}: still mapped: {library}", module.name);
        }
        if let Some(migration) = &module.migration {
            let _ =
                write!(table, "{}: migrating lazily: {} entries moved, {} remaining", module.name, migration.migrated, migration.remaining);
            if migration.failed > 0 {
                let first = migration.first_failure.as_deref().map(single_line).unwrap_or_default();
                let _ = write!(table, ", {} failed to migrate (roll back to bring them back; the first: {first})", migration.failed);
            }
            table.push('\n');
        }
        if let Some(snapshot) = &module.last_snapshot {
            let _ = writeln!(
                table,
                "{}: last snapshot {} {}, {} bytes ({}): {}",
                module.name,
                format_utc_timestamp(snapshot.taken_at_unix_ms),
                snapshot.version,
                snapshot.state_bytes,
                snapshot.reason.as_str(),
                snapshot.path.display()
            );
        }
    }
    // Rehearsal is the host's setting, the same for every module.
    if let Some(rehearsal) = modules.iter().find_map(|module| module.rehearsal.as_ref()) {
        let _ = writeln!(table, "rehearsal: {rehearsal}");
    }
    table
}

/// The previous version and the probation time left, e.g. `1.0.0 (4m 59s left)`, or `-`.
fn previous_version_cell(module: &ModuleStatus) -> String {
    match (&module.previous_version, module.probation_remaining_ms) {
        (None, _) => "-".to_owned(),
        (Some(version), None) => version.to_string(),
        (Some(version), Some(remaining_milliseconds)) => format!("{version} ({} left)", format_remaining(remaining_milliseconds)),
    }
}

/// A short human duration: `42.5s`, `4m 59s`, `2h 05m`.
#[must_use]
pub fn format_remaining(milliseconds: u64) -> String {
    let seconds = milliseconds / 1000;
    if seconds >= 3600 {
        format!("{}h {:02}m", seconds / 3600, (seconds % 3600) / 60)
    } else if seconds >= 60 {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}.{}s", seconds, (milliseconds % 1000) / 100)
    }
}

/// The history, one line per entry, oldest first: UTC time, module, what happened. Ends with a
/// newline, or is `no history yet` when there are no entries.
#[must_use]
pub fn history_lines(entries: &[HistoryEntry]) -> String {
    if entries.is_empty() {
        return "no history yet\n".to_owned();
    }
    let module_width = entries.iter().map(|entry| entry.module.chars().count()).max().unwrap_or(0);
    let mut lines = String::new();
    for entry in entries {
        let _ = writeln!(
            lines,
            "{}  {:<module_width$}  {}",
            format_utc_timestamp(entry.at_unix_ms),
            entry.module,
            describe_event(&entry.event)
        );
    }
    lines
}

/// One event in a few words, on one line.
#[must_use]
pub fn describe_event(event: &HistoryEvent) -> String {
    match event {
        HistoryEvent::Loaded { version, path } => format!("loaded {version} from {}", path.display()),
        HistoryEvent::Updated { report } => {
            let verb = match report.kind {
                UpdateKind::Update => "updated",
                UpdateKind::Rollback => "rolled back",
            };
            format!("{verb} {} → {} (pause {:.3} ms)", report.from_version, report.to_version, report.pause.as_secs_f64() * 1e3)
        }
        HistoryEvent::Refused { message, .. } => format!("refused: {}", single_line(message)),
        HistoryEvent::ProbationFailed { version, reason } => format!("{version} failed its probation: {}", single_line(reason)),
        HistoryEvent::Committed { released, expired } => {
            let cause = if *expired { "probation ended" } else { "committed" };
            match released {
                Some(version) => format!("{cause}, released {version}"),
                None => format!("{cause}, nothing to release"),
            }
        }
        HistoryEvent::Snapshotted { version, schema_version, bytes, path, reason } => {
            format!("snapshot of {version} (schema v{schema_version}, {bytes} bytes, {}) written to {}", reason.as_str(), path.display())
        }
        HistoryEvent::Restored { version, library, snapshot, snapshot_version, snapshot_schema, .. } => {
            let from = if snapshot_version == version {
                String::new()
            } else {
                format!(" (taken by {snapshot_version}, schema v{snapshot_schema}, migrated)")
            };
            format!("restored {version} from {}{from}, library {}", snapshot.display(), library.display())
        }
        HistoryEvent::MigrationFinished { version, moved, elapsed_ms } => {
            format!("lazy migration into {version} finished: {moved} entries moved in {}", format_remaining(*elapsed_ms))
        }
        // The host may know kinds of events this tool does not yet.
        other => format!("{other:?}"),
    }
}

/// What `commit` did, e.g. `committed counter: released 1.0.0`.
#[must_use]
pub fn commit_line(module: &str, released: Option<&impl std::fmt::Display>) -> String {
    match released {
        Some(version) => format!("committed {module}: released {version}"),
        None => format!("committed {module}: nothing to release"),
    }
}

/// `text` with every line break replaced, so that it prints as one line.
#[must_use]
pub fn single_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module status as the host sends it.
    fn module_status(json: serde_json::Value) -> ModuleStatus {
        serde_json::from_value(json).expect("a valid module status")
    }

    #[test]
    fn the_status_table_aligns_its_columns() {
        let modules = [
            module_status(serde_json::json!({
                "name": "counter", "version": "2.0.0", "schema_version": 2, "path": "/plugins/libcounter_v2.so",
                "previous_version": "1.0.0", "probation_remaining_ms": 299_400, "updates": 1, "in_flight": 0
            })),
            module_status(serde_json::json!({
                "name": "kv", "version": "0.3.1", "schema_version": 1, "path": "/plugins/libkv.so",
                "previous_version": null, "probation_remaining_ms": null, "updates": 0, "in_flight": 12
            })),
        ];
        let expected = "\
MODULE   VERSION  SCHEMA  PREVIOUS             UPDATES  IN FLIGHT  LIBRARY
counter  2.0.0    v2      1.0.0 (4m 59s left)  1        0          /plugins/libcounter_v2.so
kv       0.3.1    v1      -                    0        12         /plugins/libkv.so
";
        assert_eq!(status_table(&modules), expected);
        assert_eq!(status_table(&[]), "no modules loaded\n");
    }

    #[test]
    fn remaining_times_read_naturally() {
        for (milliseconds, expected) in [(0, "0.0s"), (42_560, "42.5s"), (60_000, "1m 00s"), (299_999, "4m 59s"), (7_500_000, "2h 05m")] {
            assert_eq!(format_remaining(milliseconds), expected);
        }
    }

    #[test]
    fn every_event_is_summarised_on_one_line() {
        let entries: Vec<HistoryEntry> = serde_json::from_value(serde_json::json!([
            { "at_unix_ms": 1_700_000_000_000_u64, "module": "counter",
              "event": { "kind": "loaded", "version": "1.0.0", "path": "/plugins/libcounter_v1.so" } },
            { "at_unix_ms": 1_700_000_001_000_u64, "module": "counter",
              "event": { "kind": "updated", "report": {
                  "kind": "update", "module": "counter", "from_version": "1.0.0", "to_version": "2.0.0",
                  "from_schema": 1, "to_schema": 2, "transfer_schema": 1, "phases": [], "state_bytes": 40,
                  "pause_micros": 412, "total_micros": 2000, "validated": true } } },
            { "at_unix_ms": 1_700_000_002_000_u64, "module": "?",
              "event": { "kind": "refused", "path": "/nowhere.so", "message": "plugin library `/nowhere.so` does not exist\nreally" } },
            { "at_unix_ms": 1_700_000_003_000_u64, "module": "counter",
              "event": { "kind": "committed", "released": "1.0.0", "expired": false } },
            { "at_unix_ms": 1_700_000_004_000_u64, "module": "counter",
              "event": { "kind": "committed", "released": null, "expired": true } },
            { "at_unix_ms": 1_700_000_005_000_u64, "module": "counter",
              "event": { "kind": "snapshotted", "version": "2.0.0", "schema_version": 2, "bytes": 40,
                         "path": "/state/snapshots/counter/00000000000000000001.snapshot", "reason": "commit" } },
            { "at_unix_ms": 1_700_000_006_000_u64, "module": "counter",
              "event": { "kind": "restored", "version": "2.0.0", "library": "/state/libraries/ab.so",
                         "given": "/plugins/libcounter_v1.so", "snapshot": "/state/snapshots/counter/00000000000000000001.snapshot",
                         "snapshot_version": "2.0.0", "snapshot_schema": 2 } },
        ]))
        .expect("valid history entries");
        let expected = "\
2023-11-14 22:13:20  counter  loaded 1.0.0 from /plugins/libcounter_v1.so
2023-11-14 22:13:21  counter  updated 1.0.0 → 2.0.0 (pause 0.412 ms)
2023-11-14 22:13:22  ?        refused: plugin library `/nowhere.so` does not exist really
2023-11-14 22:13:23  counter  committed, released 1.0.0
2023-11-14 22:13:24  counter  probation ended, nothing to release
2023-11-14 22:13:25  counter  snapshot of 2.0.0 (schema v2, 40 bytes, commit) written to /state/snapshots/counter/00000000000000000001.snapshot
2023-11-14 22:13:26  counter  restored 2.0.0 from /state/snapshots/counter/00000000000000000001.snapshot, library /state/libraries/ab.so
";
        assert_eq!(history_lines(&entries), expected);
        assert_eq!(history_lines(&[]), "no history yet\n");
    }

    #[test]
    fn commit_lines_say_what_was_released() {
        assert_eq!(commit_line("counter", Some(&"1.0.0")), "committed counter: released 1.0.0");
        assert_eq!(commit_line("counter", None::<&String>), "committed counter: nothing to release");
    }
}
