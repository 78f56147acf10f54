//! Version 1 of the `kv` module: a Redis-compatible key-value store of strings, state schema v1.
//!
//! The server hands over whole pipelines as command batches; [`KvV1::execute`](Kv::execute) runs
//! them under one lock, so every command is atomic, as in single-threaded Redis. The modules split
//! the commands by family: [`strings`] (GET, SET, INCR, ...), [`keyspace`] (DEL, EXISTS, KEYS, ...)
//! and [`server`] (INFO). The protocol-compatibility commands every version answers alike (PING,
//! ECHO, SELECT, CONFIG, COMMAND, CLIENT) are in `kv_common::compat`.

#![forbid(unsafe_code)]

mod keyspace;
mod server;
mod strings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ecdysis_plugin_api::keyed::{KeyedState, Migration};
use ecdysis_plugin_api::{MapFrom, Plugin, PluginError, StateEncoder};
use kv_common::{compat, execute_batch, lazy};
use kv_interface::schema::{KvStateV1, StringEntryV1};
use kv_interface::{Kv, resp};
use serde::Serialize;
use serde_bytes::{ByteBuf, Bytes};

/// All data of the store: values by key.
#[derive(Debug, Default)]
pub(crate) struct Database {
    /// Values by key.
    pub(crate) strings: HashMap<Vec<u8>, Vec<u8>>,
}

/// The plugin instance: the database behind a `std::sync::Mutex`, locked once per batch.
pub struct KvV1 {
    database: Mutex<Database>,
    /// The slot of a lazy update's previous version (a downgrade or a rollback to v1).
    migration: Migration<StringEntryV1>,
}

impl KvV1 {
    /// Locks the database. A poisoned lock is taken over: every command leaves the database
    /// consistent before it could panic, and a panic is impossible by construction anyway.
    fn database(&self) -> MutexGuard<'_, Database> {
        self.database.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Kv for KvV1 {
    fn execute(&self, batch: &[u8]) -> Vec<u8> {
        let mut database = self.database();
        execute_batch(batch, |arguments, out| {
            // During a lazy update, the keys the command touches move in first.
            if let Err(error) =
                lazy::move_in_touched_keys(&mut database.strings, &self.migration, arguments, |entry| Ok(import_entry(entry)))
            {
                return resp::error(out, &format!("ERR {}", error.message()));
            }
            execute_command(&mut database, arguments, out);
        })
    }

    fn key_count(&self) -> u64 {
        let mut database = self.database();
        let _ = lazy::move_in_everything(&mut database.strings, &self.migration, |entry| Ok(import_entry(entry)));
        database.strings.len() as u64
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
        b"del" => keyspace::del(database, arguments, out, b"del"),
        b"unlink" => keyspace::del(database, arguments, out, b"unlink"),
        b"exists" => keyspace::exists(database, arguments, out),
        b"keys" => keyspace::keys(database, arguments, out),
        b"dbsize" => keyspace::dbsize(database, arguments, out),
        b"flushall" | b"flushdb" => keyspace::flush(database, arguments, out),
        _ => resp::unknown_command(out, arguments),
    }
}

/// [`KvStateV1`] borrowed from the database: it encodes exactly as `KvStateV1` does.
#[derive(Serialize)]
struct KvStateV1View<M> {
    strings: M,
}

impl Plugin for KvV1 {
    type State = KvStateV1;

    fn create() -> Result<Self, PluginError> {
        Ok(KvV1 { database: Mutex::new(Database::default()), migration: Migration::new() })
    }

    fn export_state(&self) -> Result<KvStateV1, PluginError> {
        let database = self.database();
        let strings = database.strings.iter().map(|(key, value)| (ByteBuf::from(key.clone()), ByteBuf::from(value.clone()))).collect();
        Ok(KvStateV1 { strings })
    }

    fn encode_state(&self, encoder: &mut StateEncoder<'_, '_>) -> Result<(), PluginError> {
        // Straight from the map under the lock, encoded exactly as `KvStateV1`: no copy.
        let database = self.database();
        let strings = &database.strings;
        encoder.encode(&KvStateV1View {
            strings: MapFrom::new(strings.len(), || strings.iter().map(|(key, value)| (Bytes::new(key), Bytes::new(value)))),
        })
    }

    fn from_state(state: KvStateV1) -> Result<Self, PluginError> {
        ecdysis_plugin_api::info!("kv v1 took over {} keys", state.strings.len());
        // The keys and values move into a table sized once.
        let mut strings = HashMap::with_capacity(state.strings.len());
        strings.extend(state.strings.into_iter().map(|(key, value)| (key.into_vec(), value.into_vec())));
        Ok(KvV1 { database: Mutex::new(Database { strings }), migration: Migration::new() })
    }
}

impl KeyedState for KvV1 {
    type Entry = StringEntryV1;

    fn migration(&self) -> &Migration<StringEntryV1> {
        &self.migration
    }

    fn take_entry(&self, key: &[u8]) -> Option<StringEntryV1> {
        self.database().strings.remove(key).map(export_entry)
    }

    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, StringEntryV1)> {
        lazy::take_entries(&mut self.database().strings, limit).into_iter().map(|(key, value)| (key, export_entry(value))).collect()
    }

    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, StringEntryV1)> {
        self.database().strings.iter().take(limit).map(|(key, value)| (key.clone(), export_entry(value.clone()))).collect()
    }

    fn put_entries(&self, entries: Vec<(Vec<u8>, StringEntryV1)>) -> Result<(), PluginError> {
        self.database().strings.extend(entries.into_iter().map(|(key, entry)| (key, import_entry(entry))));
        Ok(())
    }

    fn entry_count(&self) -> usize {
        self.database().strings.len()
    }

    fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError> {
        lazy::move_in_some(&mut self.database().strings, &self.migration, limit, |entry| Ok(import_entry(entry)))
    }
}

/// A value in the entry schema's form.
fn export_entry(value: Vec<u8>) -> StringEntryV1 {
    StringEntryV1 { value: ByteBuf::from(value) }
}

/// An entry of the entry schema in this version's form.
fn import_entry(entry: StringEntryV1) -> Vec<u8> {
    entry.value.into_vec()
}

ecdysis_plugin_api::export_plugin! {
    module: "kv",
    plugin: KvV1,
    interface: dyn Kv,
    migrations: [],
    entry_migrations: [],
}
