//! The history of a host: what was loaded, updated, rolled back, committed and refused, with when.
//! Kept in memory, bounded, newest last; read with `Host::history` or the control socket's
//! `history` command.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::transaction::UpdateReport;

/// How many entries a host keeps; older ones are dropped.
pub const HISTORY_CAPACITY: usize = 1000;

/// One event in a host's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The module.
    pub module: String,
    /// What happened.
    pub event: HistoryEvent,
}

/// What happened to a module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HistoryEvent {
    /// The module was loaded.
    Loaded {
        /// Its version.
        version: semver::Version,
        /// The library.
        path: PathBuf,
    },
    /// An update (or rollback) went through.
    Updated {
        /// Its report.
        report: UpdateReport,
    },
    /// An update or rollback was refused or aborted; the running version kept serving.
    Refused {
        /// What was offered, if a library was.
        path: Option<PathBuf>,
        /// Why.
        message: String,
    },
    /// Probation ended, by `commit` or because its time ran out.
    Committed {
        /// The version released, if one was still loaded.
        released: Option<semver::Version>,
        /// Whether the probation period ran out (rather than an explicit commit).
        expired: bool,
    },
}

/// The bounded history.
#[derive(Default)]
pub(crate) struct Journal {
    entries: Mutex<VecDeque<HistoryEntry>>,
}

impl Journal {
    pub(crate) fn record(&self, module: &str, event: HistoryEvent) {
        let at_unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        let mut entries = self.entries.lock();
        if entries.len() == HISTORY_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(HistoryEntry { at_unix_ms, module: module.to_owned(), event });
    }

    pub(crate) fn entries(&self) -> Vec<HistoryEntry> {
        self.entries.lock().iter().cloned().collect()
    }
}
