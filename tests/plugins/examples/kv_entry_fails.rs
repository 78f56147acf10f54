//! Defect: a kv version (2.0.1) whose migration of single entries from v1 fails for some values: it
//! returns an error for the value `poison` and panics for the value `panic`. Everything else is a
//! small keyed kv store of strings (GET, SET, DEL, MGET, DBSIZE, KEYS), so that a lazy update to it
//! can show what happens to an entry that cannot be migrated.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ecdysis_plugin_api::keyed::{KeyedState, Migration};
use ecdysis_plugin_api::{Migrate, MigrationOptions, Plugin, PluginError, Schema};
use kv_common::{execute_batch, glob_match, lazy};
use kv_interface::schema::{ENTRY_SCHEMA_NAME, KvStateV1, KvStateV2, StringEntryV1, StringEntryV2};
use kv_interface::{Kv, resp};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The v2 entry, with this fixture's own migration from v1.
#[derive(Serialize, Deserialize)]
pub struct PickyEntryV2(StringEntryV2);

impl Schema for PickyEntryV2 {
    const NAME: &'static str = ENTRY_SCHEMA_NAME;
    const VERSION: u32 = 2;
}

impl Migrate<PickyEntryV2> for StringEntryV1 {
    fn migrate(self, _options: &MigrationOptions) -> Result<PickyEntryV2, PluginError> {
        match self.value.as_slice() {
            b"poison" => Err(PluginError::new("the value `poison` cannot be migrated")),
            b"panic" => panic!("the migration of the value `panic` panicked"),
            _ => Ok(PickyEntryV2(StringEntryV2 { value: self.value, expires_at_ms: None })),
        }
    }
}

impl Migrate<StringEntryV1> for PickyEntryV2 {
    fn migrate(self, _options: &MigrationOptions) -> Result<StringEntryV1, PluginError> {
        Ok(StringEntryV1 { value: self.0.value })
    }
}

pub struct KvEntryFails {
    strings: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    migration: Migration<PickyEntryV2>,
}

impl KvEntryFails {
    fn strings(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Vec<u8>>> {
        self.strings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn bulk_or_null(out: &mut Vec<u8>, value: Option<&Vec<u8>>) {
    match value {
        Some(value) => resp::bulk(out, value),
        None => resp::null(out),
    }
}

fn import(entry: PickyEntryV2) -> Vec<u8> {
    entry.0.value.into_vec()
}

impl Kv for KvEntryFails {
    fn execute(&self, batch: &[u8]) -> Vec<u8> {
        let mut strings = self.strings();
        execute_batch(batch, |arguments, out| {
            if let Err(error) = lazy::move_in_touched_keys(&mut strings, &self.migration, arguments, |entry| Ok(import(entry))) {
                return resp::error(out, &format!("ERR {}", error.message()));
            }
            let name = arguments[0].to_ascii_lowercase();
            match (name.as_slice(), &arguments[1..]) {
                (b"get", [key]) => bulk_or_null(out, strings.get(*key)),
                (b"set", [key, value]) => {
                    strings.insert(key.to_vec(), value.to_vec());
                    resp::simple(out, "OK");
                }
                (b"del", keys) => resp::integer(out, keys.iter().filter(|key| strings.remove(**key).is_some()).count() as i64),
                (b"mget", keys) => {
                    resp::array_header(out, keys.len());
                    for key in keys {
                        bulk_or_null(out, strings.get(*key));
                    }
                }
                (b"dbsize", []) => resp::integer(out, strings.len() as i64),
                (b"keys", [pattern]) => {
                    let keys: Vec<&Vec<u8>> = strings.keys().filter(|key| glob_match(pattern, key)).collect();
                    resp::array_header(out, keys.len());
                    for key in keys {
                        resp::bulk(out, key);
                    }
                }
                _ => resp::unknown_command(out, arguments),
            }
        })
    }

    fn key_count(&self) -> u64 {
        let mut strings = self.strings();
        let _ = lazy::move_in_everything(&mut strings, &self.migration, |entry| Ok(import(entry)));
        strings.len() as u64
    }
}

impl Plugin for KvEntryFails {
    type State = KvStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(KvEntryFails { strings: Mutex::default(), migration: Migration::new() })
    }

    fn export_state(&self) -> Result<KvStateV2, PluginError> {
        let entries = self
            .strings()
            .iter()
            .map(|(key, value)| (ByteBuf::from(key.clone()), StringEntryV2 { value: ByteBuf::from(value.clone()), expires_at_ms: None }))
            .collect();
        Ok(KvStateV2 { entries })
    }

    fn from_state(state: KvStateV2) -> Result<Self, PluginError> {
        let strings = state.entries.into_iter().map(|(key, entry)| (key.into_vec(), entry.value.into_vec())).collect();
        Ok(KvEntryFails { strings: Mutex::new(strings), migration: Migration::new() })
    }
}

impl KeyedState for KvEntryFails {
    type Entry = PickyEntryV2;

    fn migration(&self) -> &Migration<PickyEntryV2> {
        &self.migration
    }

    fn take_entry(&self, key: &[u8]) -> Option<PickyEntryV2> {
        self.strings().remove(key).map(export)
    }

    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, PickyEntryV2)> {
        lazy::take_entries(&mut self.strings(), limit).into_iter().map(|(key, value)| (key, export(value))).collect()
    }

    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, PickyEntryV2)> {
        self.strings().iter().take(limit).map(|(key, value)| (key.clone(), export(value.clone()))).collect()
    }

    fn put_entries(&self, entries: Vec<(Vec<u8>, PickyEntryV2)>) -> Result<(), PluginError> {
        self.strings().extend(entries.into_iter().map(|(key, entry)| (key, import(entry))));
        Ok(())
    }

    fn entry_count(&self) -> usize {
        self.strings().len()
    }

    fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError> {
        lazy::move_in_some(&mut self.strings(), &self.migration, limit, |entry| Ok(import(entry)))
    }
}

fn export(value: Vec<u8>) -> PickyEntryV2 {
    PickyEntryV2(StringEntryV2 { value: ByteBuf::from(value), expires_at_ms: None })
}

ecdysis_plugin_api::export_plugin! {
    module: "kv",
    version: "2.0.1",
    plugin: KvEntryFails,
    interface: dyn Kv,
    migrations: [KvStateV1 => KvStateV2, KvStateV2 => KvStateV1],
    entry_migrations: [StringEntryV1 => PickyEntryV2, PickyEntryV2 => StringEntryV1],
}
