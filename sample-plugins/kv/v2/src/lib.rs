//! Version 2 of the `kv` module: a Redis-compatible key-value store of strings with expiry, state
//! schema v2. Takes over state from v1 and can export it back down to v1.
//!
//! The server hands over whole pipelines as command batches; [`KvV2::execute`](Kv::execute) runs
//! them under one lock, so every command is atomic, as in single-threaded Redis. This version's own
//! modules are [`strings`] (GET, SET with its expiry options, INCR, ...) and [`server`] (INFO).
//! What does not depend on the value type comes from `kv_common`: the expiring [`Database`] (here
//! of strings: the entries, and what has expired), the expiry commands (EXPIRE, TTL, PERSIST, ...)
//! in `kv_common::expiry`, the commands on keys (DEL, EXISTS, KEYS, ...) in `kv_common::keyspace`,
//! and the protocol-compatibility commands every version answers alike (PING, ECHO, SELECT,
//! CONFIG, COMMAND, CLIENT) in `kv_common::compat`.

#![forbid(unsafe_code)]

mod server;
mod strings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ecdysis_plugin_api::keyed::{KeyedState, Migration};
use ecdysis_plugin_api::{MapFrom, Plugin, PluginError, StateEncoder};
use kv_common::{compat, execute_batch, expiry, keyspace, lazy};
use kv_interface::schema::{KvStateV1, KvStateV2, StringEntryV1, StringEntryV2};
use kv_interface::{Kv, resp};
use serde::Serialize;
use serde_bytes::{ByteBuf, Bytes};

/// The database of this version: strings with an optional expiry.
pub(crate) type Database = kv_common::database::Database<Vec<u8>>;
/// A string with its expiry.
pub(crate) type Entry = kv_common::database::Entry<Vec<u8>>;

/// The plugin instance: the database behind a `std::sync::Mutex`, locked once per batch, and the
/// slot of a lazy update's previous version.
pub struct KvV2 {
    database: Mutex<Database>,
    migration: Migration<StringEntryV2>,
}

impl KvV2 {
    /// Locks the database. A poisoned lock is taken over: every command leaves the database
    /// consistent before it could panic, and a panic is impossible by construction anyway.
    fn database(&self) -> MutexGuard<'_, Database> {
        self.database.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Kv for KvV2 {
    fn execute(&self, batch: &[u8]) -> Vec<u8> {
        let mut database = self.database();
        database.read_clock();
        execute_batch(batch, |arguments, out| {
            // During a lazy update, the keys the command touches move in first.
            if let Err(error) =
                lazy::move_in_touched_keys(&mut database.entries, &self.migration, arguments, |entry| Ok(import_entry(entry)))
            {
                return resp::error(out, &format!("ERR {}", error.message()));
            }
            database.start_command();
            execute_command(&mut database, arguments, out);
        })
    }

    fn key_count(&self) -> u64 {
        let mut database = self.database();
        let _ = lazy::move_in_everything(&mut database.entries, &self.migration, |entry| Ok(import_entry(entry)));
        database.read_clock();
        database.live_count() as u64
    }
}

/// Runs one command (its name first, then its arguments) and appends its reply to `out`.
pub(crate) fn execute_command(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(name) = arguments.first() else {
        return resp::unknown_command(out, arguments);
    };
    let lowercase_name = kv_common::command::LowercaseName::new(name);
    match lowercase_name.as_bytes() {
        b"ping" => compat::ping(arguments, out),
        b"echo" => compat::echo(arguments, out),
        b"select" => compat::select(arguments, out),
        b"info" => server::info(database, arguments, out),
        b"config" => compat::config(arguments, out),
        b"command" => compat::command(arguments, out),
        b"client" => compat::client(arguments, out),
        b"get" => strings::get(database, arguments, out),
        b"set" => strings::set(database, arguments, out),
        b"incr" => strings::increment(database, arguments, out, b"incr"),
        b"incrby" => strings::increment(database, arguments, out, b"incrby"),
        b"decr" => strings::increment(database, arguments, out, b"decr"),
        b"decrby" => strings::increment(database, arguments, out, b"decrby"),
        b"mget" => strings::mget(database, arguments, out),
        b"mset" => strings::mset(database, arguments, out),
        b"append" => strings::append(database, arguments, out),
        b"strlen" => strings::strlen(database, arguments, out),
        b"expire" => expiry::set_expiry(database, arguments, out, &expiry::EXPIRE),
        b"pexpire" => expiry::set_expiry(database, arguments, out, &expiry::PEXPIRE),
        b"expireat" => expiry::set_expiry(database, arguments, out, &expiry::EXPIREAT),
        b"pexpireat" => expiry::set_expiry(database, arguments, out, &expiry::PEXPIREAT),
        b"ttl" => expiry::report_expiry(database, arguments, out, &expiry::TTL),
        b"pttl" => expiry::report_expiry(database, arguments, out, &expiry::PTTL),
        b"expiretime" => expiry::report_expiry(database, arguments, out, &expiry::EXPIRETIME),
        b"pexpiretime" => expiry::report_expiry(database, arguments, out, &expiry::PEXPIRETIME),
        b"persist" => expiry::persist(database, arguments, out),
        b"del" => keyspace::del(database, arguments, out, b"del"),
        b"unlink" => keyspace::del(database, arguments, out, b"unlink"),
        b"exists" => keyspace::exists(database, arguments, out),
        b"keys" => keyspace::keys(database, arguments, out),
        b"dbsize" => keyspace::dbsize(database, arguments, out),
        b"flushall" | b"flushdb" => keyspace::flush(database, arguments, out),
        _ => resp::unknown_command(out, arguments),
    }
}

/// [`KvStateV2`] borrowed from the database: it encodes exactly as `KvStateV2` does.
#[derive(Serialize)]
struct KvStateV2View<M> {
    entries: M,
}

/// [`StringEntryV2`] borrowed from an entry: it encodes exactly as `StringEntryV2` does.
#[derive(Serialize)]
struct StringEntryV2View<'a> {
    value: &'a Bytes,
    expires_at_ms: Option<u64>,
}

impl Plugin for KvV2 {
    type State = KvStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(KvV2 { database: Mutex::new(Database::with_entries(Default::default())), migration: Migration::new() })
    }

    fn export_state(&self) -> Result<KvStateV2, PluginError> {
        // Expired entries are exported too: expiry is data, and the importer decides.
        let database = self.database();
        let entries = database
            .entries
            .iter()
            .map(|(key, entry)| {
                let exported = StringEntryV2 { value: ByteBuf::from(entry.value.clone()), expires_at_ms: entry.expires_at_ms };
                (ByteBuf::from(key.clone()), exported)
            })
            .collect();
        Ok(KvStateV2 { entries })
    }

    fn encode_state(&self, encoder: &mut StateEncoder<'_, '_>) -> Result<(), PluginError> {
        // Straight from the entries under the lock, encoded exactly as `KvStateV2`: no copy.
        let database = self.database();
        let entries = &database.entries;
        encoder.encode(&KvStateV2View {
            entries: MapFrom::new(entries.len(), || {
                entries.iter().map(|(key, entry)| {
                    (Bytes::new(key), StringEntryV2View { value: Bytes::new(&entry.value), expires_at_ms: entry.expires_at_ms })
                })
            }),
        })
    }

    fn from_state(state: KvStateV2) -> Result<Self, PluginError> {
        let with_expiry = state.entries.values().filter(|entry| entry.expires_at_ms.is_some()).count();
        ecdysis_plugin_api::info!("kv v2 took over {} keys, {with_expiry} of them with a time to live", state.entries.len());
        // The keys and values move into a table sized once.
        let mut entries = HashMap::with_capacity(state.entries.len());
        entries.extend(
            state
                .entries
                .into_iter()
                .map(|(key, entry)| (key.into_vec(), Entry { value: entry.value.into_vec(), expires_at_ms: entry.expires_at_ms })),
        );
        Ok(KvV2 { database: Mutex::new(Database::with_entries(entries)), migration: Migration::new() })
    }

    /// Sweeps every expired key, once every [`kv_common::database::SWEEP_EVERY`] on the host's
    /// clock: with no thread of the plugin's own, nothing keeps a replaced version's library mapped.
    fn tick(&self) -> Option<std::time::Duration> {
        self.database().sweep();
        Some(kv_common::database::SWEEP_EVERY)
    }
}

impl KeyedState for KvV2 {
    type Entry = StringEntryV2;

    fn migration(&self) -> &Migration<StringEntryV2> {
        &self.migration
    }

    fn take_entry(&self, key: &[u8]) -> Option<StringEntryV2> {
        self.database().entries.remove(key).map(export_entry)
    }

    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, StringEntryV2)> {
        lazy::take_entries(&mut self.database().entries, limit).into_iter().map(|(key, entry)| (key, export_entry(entry))).collect()
    }

    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, StringEntryV2)> {
        let database = self.database();
        database.entries.iter().take(limit).map(|(key, entry)| (key.clone(), export_entry(entry.clone()))).collect()
    }

    fn put_entries(&self, entries: Vec<(Vec<u8>, StringEntryV2)>) -> Result<(), PluginError> {
        self.database().entries.extend(entries.into_iter().map(|(key, entry)| (key, import_entry(entry))));
        Ok(())
    }

    fn entry_count(&self) -> usize {
        self.database().entries.len()
    }

    fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError> {
        lazy::move_in_some(&mut self.database().entries, &self.migration, limit, |entry| Ok(import_entry(entry)))
    }
}

/// An entry in the entry schema's form.
fn export_entry(entry: Entry) -> StringEntryV2 {
    StringEntryV2 { value: ByteBuf::from(entry.value), expires_at_ms: entry.expires_at_ms }
}

/// An entry of the entry schema in this version's form.
fn import_entry(entry: StringEntryV2) -> Entry {
    Entry { value: entry.value.into_vec(), expires_at_ms: entry.expires_at_ms }
}

ecdysis_plugin_api::export_plugin! {
    module: "kv",
    plugin: KvV2,
    interface: dyn Kv,
    migrations: [KvStateV1 => KvStateV2, KvStateV2 => KvStateV1],
    entry_migrations: [StringEntryV1 => StringEntryV2, StringEntryV2 => StringEntryV1],
}
