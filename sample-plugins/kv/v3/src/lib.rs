//! Version 3 of the `kv` module: a Redis-compatible key-value store of strings, lists and hashes with
//! expiry, state schema v3. Takes over state from v1 (through v2) and v2, and can export it back
//! down to v2 and v1.
//!
//! The server hands over whole pipelines as command batches; [`KvV3::execute`](Kv::execute) runs
//! them under one lock, so every command is atomic, as in single-threaded Redis. The modules split
//! the commands by family: [`strings`] (GET, SET with its expiry options, INCR, ...), [`lists`]
//! (LPUSH, LPOP, LRANGE, ...), [`hashes`] (HSET, HGET, HGETALL, ...), [`keyspace`] (TYPE, and
//! DEL, EXISTS, KEYS, ... from `kv_common`) and [`server`] (INFO). [`database`] defines the values
//! (string, list or hash) held in `kv_common`'s expiring database, which decides what has expired.
//! What does not depend on the value type comes from `kv_common`: the expiry commands (EXPIRE,
//! TTL, PERSIST, ...) in `kv_common::expiry`, and the protocol-compatibility commands every
//! version answers alike (PING, ECHO, SELECT, CONFIG, COMMAND, CLIENT) in `kv_common::compat`.

#![forbid(unsafe_code)]

mod database;
mod hashes;
mod keyspace;
mod lists;
mod server;
mod strings;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use ecdysis_plugin_api::keyed::{KeyedState, Migration};
use ecdysis_plugin_api::{MapFrom, Plugin, PluginError, StateEncoder};
use kv_common::{compat, execute_batch, expiry, lazy};
use kv_interface::schema::{EntryV3, KvStateV1, KvStateV2, KvStateV3, StringEntryV1, StringEntryV2, ValueV3};
use kv_interface::{Kv, resp};
use serde::Serialize;
use serde_bytes::{ByteBuf, Bytes};

use crate::database::{Database, Entry, Value};

/// The plugin instance: the database behind a `std::sync::Mutex`, locked once per batch, and the
/// slot of a lazy update's previous version.
pub struct KvV3 {
    database: Mutex<Database>,
    migration: Migration<EntryV3>,
}

impl KvV3 {
    /// Locks the database. A poisoned lock is taken over: every command leaves the database
    /// consistent before it could panic, and a panic is impossible by construction anyway.
    fn database(&self) -> MutexGuard<'_, Database> {
        self.database.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Kv for KvV3 {
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
        b"lpush" => lists::lpush(database, arguments, out),
        b"rpush" => lists::rpush(database, arguments, out),
        b"lpop" => lists::lpop(database, arguments, out),
        b"rpop" => lists::rpop(database, arguments, out),
        b"lrange" => lists::lrange(database, arguments, out),
        b"llen" => lists::llen(database, arguments, out),
        b"hset" => hashes::hset(database, arguments, out),
        b"hget" => hashes::hget(database, arguments, out),
        b"hdel" => hashes::hdel(database, arguments, out),
        b"hgetall" => hashes::hgetall(database, arguments, out),
        b"hlen" => hashes::hlen(database, arguments, out),
        b"type" => keyspace::type_of(database, arguments, out),
        b"del" => keyspace::del(database, arguments, out, b"del"),
        b"unlink" => keyspace::del(database, arguments, out, b"unlink"),
        b"exists" => keyspace::exists(database, arguments, out),
        b"keys" => keyspace::keys(database, arguments, out),
        b"dbsize" => keyspace::dbsize(database, arguments, out),
        b"flushall" | b"flushdb" => keyspace::flush(database, arguments, out),
        _ => resp::unknown_command(out, arguments),
    }
}

impl Plugin for KvV3 {
    type State = KvStateV3;

    fn create() -> Result<Self, PluginError> {
        Ok(KvV3 { database: Mutex::new(Database::with_entries(Default::default())), migration: Migration::new() })
    }

    fn export_state(&self) -> Result<KvStateV3, PluginError> {
        // Expired entries are exported too: expiry is data, and the importer decides.
        let database = self.database();
        let entries = database
            .entries
            .iter()
            .map(|(key, entry)| {
                let exported = EntryV3 { value: export_value(&entry.value), expires_at_ms: entry.expires_at_ms };
                (ByteBuf::from(key.clone()), exported)
            })
            .collect();
        Ok(KvStateV3 { entries })
    }

    fn encode_state(&self, encoder: &mut StateEncoder<'_, '_>) -> Result<(), PluginError> {
        // Straight from the entries under the lock, encoded exactly as `KvStateV3`: no copy.
        let database = self.database();
        let entries = &database.entries;
        encoder.encode(&KvStateV3View {
            entries: MapFrom::new(entries.len(), || {
                entries.iter().map(|(key, entry)| {
                    (Bytes::new(key), EntryV3View { value: ValueV3View::of(&entry.value), expires_at_ms: entry.expires_at_ms })
                })
            }),
        })
    }

    fn from_state(state: KvStateV3) -> Result<Self, PluginError> {
        let (mut lists, mut hashes, mut with_expiry) = (0, 0, 0);
        for entry in state.entries.values() {
            match entry.value {
                ValueV3::String(_) => {}
                ValueV3::List(_) => lists += 1,
                ValueV3::Hash(_) => hashes += 1,
            }
            with_expiry += usize::from(entry.expires_at_ms.is_some());
        }
        ecdysis_plugin_api::info!(
            "kv v3 took over {} keys ({lists} lists, {hashes} hashes), {with_expiry} of them with a time to live",
            state.entries.len()
        );
        // The keys and values move into a table sized once.
        let mut entries = HashMap::with_capacity(state.entries.len());
        entries.extend(
            state
                .entries
                .into_iter()
                .map(|(key, entry)| (key.into_vec(), Entry { value: import_value(entry.value), expires_at_ms: entry.expires_at_ms })),
        );
        Ok(KvV3 { database: Mutex::new(Database::with_entries(entries)), migration: Migration::new() })
    }

    /// Sweeps every expired key, once every [`kv_common::database::SWEEP_EVERY`] on the host's
    /// clock: with no thread of the plugin's own, nothing keeps a replaced version's library mapped.
    fn tick(&self) -> Option<std::time::Duration> {
        self.database().sweep();
        Some(kv_common::database::SWEEP_EVERY)
    }
}

/// [`KvStateV3`] borrowed from the database: it encodes exactly as `KvStateV3` does.
#[derive(Serialize)]
struct KvStateV3View<M> {
    entries: M,
}

/// [`EntryV3`] borrowed from an entry: it encodes exactly as `EntryV3` does.
#[derive(Serialize)]
struct EntryV3View<'a> {
    value: ValueV3View<'a>,
    expires_at_ms: Option<u64>,
}

/// [`ValueV3`] borrowed from a value: it encodes exactly as `ValueV3` does.
#[derive(Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
enum ValueV3View<'a> {
    String(&'a Bytes),
    List(ListView<'a>),
    Hash(HashView<'a>),
}

impl<'a> ValueV3View<'a> {
    fn of(value: &'a Value) -> ValueV3View<'a> {
        match value {
            Value::String(bytes) => ValueV3View::String(Bytes::new(bytes)),
            Value::List(list) => ValueV3View::List(ListView(list)),
            Value::Hash(hash) => ValueV3View::Hash(HashView(hash)),
        }
    }
}

/// A list's elements as the schema's sequence of byte strings.
struct ListView<'a>(&'a VecDeque<Vec<u8>>);

impl Serialize for ListView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|element| Bytes::new(element)))
    }
}

/// A hash's fields as the schema's map of byte strings.
struct HashView<'a>(&'a HashMap<Vec<u8>, Vec<u8>>);

impl Serialize for HashView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(field, value)| (Bytes::new(field), Bytes::new(value))))
    }
}

/// A value in the state schema's form.
fn export_value(value: &Value) -> ValueV3 {
    match value {
        Value::String(bytes) => ValueV3::String(ByteBuf::from(bytes.clone())),
        Value::List(list) => ValueV3::List(list.iter().map(|element| ByteBuf::from(element.clone())).collect()),
        Value::Hash(hash) => {
            ValueV3::Hash(hash.iter().map(|(field, value)| (ByteBuf::from(field.clone()), ByteBuf::from(value.clone()))).collect())
        }
    }
}

/// A value of the state schema in this version's form.
fn import_value(value: ValueV3) -> Value {
    match value {
        ValueV3::String(bytes) => Value::String(bytes.into_vec()),
        ValueV3::List(list) => Value::List(list.into_iter().map(ByteBuf::into_vec).collect()),
        ValueV3::Hash(hash) => Value::Hash(hash.into_iter().map(|(field, value)| (field.into_vec(), value.into_vec())).collect()),
    }
}

impl KeyedState for KvV3 {
    type Entry = EntryV3;

    fn migration(&self) -> &Migration<EntryV3> {
        &self.migration
    }

    fn take_entry(&self, key: &[u8]) -> Option<EntryV3> {
        self.database().entries.remove(key).map(|entry| export_entry(&entry))
    }

    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV3)> {
        lazy::take_entries(&mut self.database().entries, limit).into_iter().map(|(key, entry)| (key, export_entry(&entry))).collect()
    }

    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV3)> {
        self.database().entries.iter().take(limit).map(|(key, entry)| (key.clone(), export_entry(entry))).collect()
    }

    fn put_entries(&self, entries: Vec<(Vec<u8>, EntryV3)>) -> Result<(), PluginError> {
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
fn export_entry(entry: &Entry) -> EntryV3 {
    EntryV3 { value: export_value(&entry.value), expires_at_ms: entry.expires_at_ms }
}

/// An entry of the entry schema in this version's form.
fn import_entry(entry: EntryV3) -> Entry {
    Entry { value: import_value(entry.value), expires_at_ms: entry.expires_at_ms }
}

ecdysis_plugin_api::export_plugin! {
    module: "kv",
    plugin: KvV3,
    interface: dyn Kv,
    migrations: [KvStateV1 => KvStateV2, KvStateV2 => KvStateV3, KvStateV3 => KvStateV2, KvStateV2 => KvStateV1],
    entry_migrations: [StringEntryV1 => StringEntryV2, StringEntryV2 => EntryV3, EntryV3 => StringEntryV2, StringEntryV2 => StringEntryV1],
}
