//! The database of the versions with expiry: values of a version's type `V` with an optional
//! absolute expiry, expired lazily when a command touches them and swept in full every so often
//! (after as many commands as there are keys, and on every tick the host drives).
//! Version 2 stores strings (`Database<Vec<u8>>`), version 3 strings, lists and hashes; nothing
//! here looks at a value.

use std::collections::HashMap;

/// How often the host ticks a version with expiry, which sweeps every expired key.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The fewest commands between two full sweeps of expired keys.
const SWEEP_INTERVAL_MINIMUM: usize = 1024;

/// A value with its expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<V> {
    /// The value.
    pub value: V,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

impl<V> Entry<V> {
    /// A value without expiry.
    pub fn persistent(value: V) -> Entry<V> {
        Entry { value, expires_at_ms: None }
    }

    /// Whether the key has expired at `now_ms`. As in Redis, a key is still alive during the
    /// millisecond it expires at.
    #[must_use]
    pub fn is_expired_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|expires_at_ms| expires_at_ms < now_ms)
    }
}

/// All data of the store, and the clock that decides what has expired.
pub struct Database<V> {
    /// Entries by key, including expired ones not yet removed: go through [`Database::live`] and
    /// [`Database::live_entries`], which hide them.
    pub entries: HashMap<Vec<u8>, Entry<V>>,
    /// Reads the time in milliseconds since the Unix epoch; tests replace it with a fixed clock.
    pub clock: fn() -> u64,
    /// The time the current command runs at, read once per batch.
    now_ms: u64,
    /// Commands since the last full sweep of expired keys.
    commands_since_sweep: usize,
    /// The keys clients watch for their transactions, as Redis keeps them with each database.
    pub watches: crate::transaction::Watches,
}

impl<V> Database<V> {
    /// A database holding `entries`, expired ones included (expiry is data: they are removed when
    /// touched or swept, not on import).
    #[must_use]
    pub fn with_entries(entries: HashMap<Vec<u8>, Entry<V>>) -> Database<V> {
        Database { entries, clock: kv_interface::now_unix_ms, now_ms: 0, commands_since_sweep: 0, watches: Default::default() }
    }

    /// Counts the next command, which runs at the time read last ([`Database::read_clock`], once
    /// per batch, as Redis reads it once per turn of its event loop). After as many commands as
    /// there are keys (at least [`SWEEP_INTERVAL_MINIMUM`]) it also removes every expired key, so
    /// that keys nobody touches again do not stay in memory, at an amortised constant cost per
    /// command.
    pub fn start_command(&mut self) {
        self.commands_since_sweep += 1;
        if self.commands_since_sweep >= self.entries.len().max(SWEEP_INTERVAL_MINIMUM) {
            self.remove_expired();
        }
    }

    /// Reads the clock and removes every expired key; returns how many it removed. The versions'
    /// `tick` calls it, so that the keys of a server nobody sends commands to expire too.
    pub fn sweep(&mut self) -> usize {
        self.read_clock();
        self.remove_expired()
    }

    /// Removes every key expired at the time read last; returns how many.
    fn remove_expired(&mut self) -> usize {
        let (now_ms, before) = (self.now_ms, self.entries.len());
        self.entries.retain(|_, entry| !entry.is_expired_at(now_ms));
        self.commands_since_sweep = 0;
        before - self.entries.len()
    }

    /// Reads the clock: before a batch of commands, and outside a command (for `key_count`).
    pub fn read_clock(&mut self) {
        self.now_ms = (self.clock)();
    }

    /// The time the current command runs at, in milliseconds since the Unix epoch.
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The entry of `key` if it exists and has not expired; an expired entry is removed.
    pub fn live(&mut self, key: &[u8]) -> Option<&mut Entry<V>> {
        let now_ms = self.now_ms;
        if self.entries.get(key).is_some_and(|entry| entry.is_expired_at(now_ms)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Removes `key`; returns its entry if it had not expired.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry<V>> {
        let now_ms = self.now_ms;
        self.entries.remove(key).filter(|entry| !entry.is_expired_at(now_ms))
    }

    /// Stores `entry` at `key`, replacing whatever was there. An entry whose expiry has already
    /// passed is not stored: the key is removed instead.
    pub fn insert(&mut self, key: &[u8], entry: Entry<V>) {
        if entry.is_expired_at(self.now_ms) {
            self.entries.remove(key);
        } else {
            self.entries.insert(key.to_vec(), entry);
        }
    }

    /// Every key that has not expired, with its entry.
    pub fn live_entries(&self) -> impl Iterator<Item = (&Vec<u8>, &Entry<V>)> {
        let now_ms = self.now_ms;
        self.entries.iter().filter(move |(_, entry)| !entry.is_expired_at(now_ms))
    }

    /// The number of keys that have not expired.
    #[must_use]
    pub fn live_count(&self) -> usize {
        self.live_entries().count()
    }

    /// The key counts INFO's keyspace section reports: keys that have not expired, and how many of
    /// them have a time to live.
    #[must_use]
    pub fn keyspace_counts(&self) -> (usize, usize) {
        self.live_entries()
            .fold((0, 0), |(keys, with_expiry), (_, entry)| (keys + 1, with_expiry + usize::from(entry.expires_at_ms.is_some())))
    }
}
