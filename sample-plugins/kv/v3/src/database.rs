//! The database of version 3: strings, lists and hashes with an optional absolute expiry, expired
//! lazily when a command touches them and swept in full every so often.

use std::collections::{HashMap, VecDeque};

/// The fewest commands between two full sweeps of expired keys.
const SWEEP_INTERVAL_MINIMUM: usize = 1024;

/// A value: a string, a list or a hash. A list or a hash is never empty: the command that empties
/// it deletes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A string.
    String(Vec<u8>),
    /// A list, head first.
    List(VecDeque<Vec<u8>>),
    /// A hash: fields and their values.
    Hash(HashMap<Vec<u8>, Vec<u8>>),
}

impl Value {
    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
        }
    }
}

/// A value with its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The value.
    pub(crate) value: Value,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub(crate) expires_at_ms: Option<u64>,
}

impl Entry {
    /// A value without expiry.
    pub(crate) fn persistent(value: Value) -> Entry {
        Entry { value, expires_at_ms: None }
    }

    /// Whether the key has expired at `now_ms`. As in Redis, a key is still alive during the
    /// millisecond it expires at.
    pub(crate) fn is_expired_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|expires_at_ms| expires_at_ms < now_ms)
    }
}

/// All data of the store, and the clock that decides what has expired.
pub(crate) struct Database {
    /// Entries by key, including expired ones not yet removed: go through [`Database::live`] and
    /// [`Database::live_entries`], which hide them.
    pub(crate) entries: HashMap<Vec<u8>, Entry>,
    /// Reads the time in milliseconds since the Unix epoch; tests replace it with a fixed clock.
    pub(crate) clock: fn() -> u64,
    /// The time the current command runs at, read once per command as Redis does.
    now_ms: u64,
    /// Commands since the last full sweep of expired keys.
    commands_since_sweep: usize,
}

impl Database {
    /// A database holding `entries`, expired ones included (expiry is data: they are removed when
    /// touched or swept, not on import).
    pub(crate) fn with_entries(entries: HashMap<Vec<u8>, Entry>) -> Database {
        Database { entries, clock: kv_interface::now_unix_ms, now_ms: 0, commands_since_sweep: 0 }
    }

    /// Reads the clock for the next command. After as many commands as there are keys (at least
    /// [`SWEEP_INTERVAL_MINIMUM`]) it also removes every expired key, so that keys nobody touches
    /// again do not stay in memory, at an amortised constant cost per command.
    pub(crate) fn start_command(&mut self) {
        self.now_ms = (self.clock)();
        self.commands_since_sweep += 1;
        if self.commands_since_sweep >= self.entries.len().max(SWEEP_INTERVAL_MINIMUM) {
            let now_ms = self.now_ms;
            self.entries.retain(|_, entry| !entry.is_expired_at(now_ms));
            self.commands_since_sweep = 0;
        }
    }

    /// Reads the clock outside a command (for `key_count`).
    pub(crate) fn read_clock(&mut self) {
        self.now_ms = (self.clock)();
    }

    /// The time the current command runs at, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The entry of `key` if it exists and has not expired; an expired entry is removed.
    pub(crate) fn live(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now_ms = self.now_ms;
        if self.entries.get(key).is_some_and(|entry| entry.is_expired_at(now_ms)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Removes `key`; returns its entry if it had not expired.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let now_ms = self.now_ms;
        self.entries.remove(key).filter(|entry| !entry.is_expired_at(now_ms))
    }

    /// Stores `entry` at `key`, replacing whatever was there. An entry whose expiry has already
    /// passed is not stored: the key is removed instead.
    pub(crate) fn insert(&mut self, key: &[u8], entry: Entry) {
        if entry.is_expired_at(self.now_ms) {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.to_vec(), entry);
        }
    }

    /// Every key that has not expired, with its entry.
    pub(crate) fn live_entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry)> {
        let now_ms = self.now_ms;
        self.entries.iter().filter(move |(_, entry)| !entry.is_expired_at(now_ms))
    }

    /// The number of keys that have not expired.
    pub(crate) fn live_count(&self) -> usize {
        self.live_entries().count()
    }
}
