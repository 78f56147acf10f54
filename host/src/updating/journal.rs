//! The history of a host: what was loaded, updated, rolled back, committed and refused, with when.
//! Kept in memory, bounded, newest last; read with `Host::history` or the control socket's
//! `history` command.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use ecdysis_protocol::{HistoryEntry, HistoryEvent};
use parking_lot::Mutex;

/// How many entries a host keeps; older ones are dropped.
pub const HISTORY_CAPACITY: usize = 1000;

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
