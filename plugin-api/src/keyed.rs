//! Keyed state, which a plugin opts into for lazy state transfer: its state is a set of entries by
//! key, so that an update can move them one by one, after the new version has started serving.
//!
//! In a lazy update the host pauses calls only to build the new instance empty, hand it the old
//! instance as its *predecessor* and swap: the pause does not grow with the state. Afterwards, each
//! entry moves from the old instance to the new one when a call first touches it (the new version
//! asks its [`Migration`] for the key before it reads or writes it), through the entry migration
//! chain, each entry checked by its own round trip; and a background pass the host drives moves the
//! rest in small batches ([`KeyedState::migrate_entries`]), so every migration finishes. A key is
//! always in exactly one of the two instances, so a rollback in the middle of a migration can bring
//! every entry back.
//!
//! A plugin opts in by implementing [`KeyedState`] and listing its entry migration steps in
//! `export_plugin!` (`entry_migrations: [...]`, the same versions as its state migrations):
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use ecdysis_plugin_api::keyed::{KeyedState, Migration};
//! use ecdysis_plugin_api::{Plugin, PluginError, Schema};
//! use serde::{Deserialize, Serialize};
//!
//! /// The whole state (for eager updates and snapshots) ...
//! #[derive(Serialize, Deserialize)]
//! pub struct StateV1 { values: HashMap<Vec<u8>, EntryV1> }
//! impl Schema for StateV1 { const NAME: &'static str = "store"; const VERSION: u32 = 1; }
//!
//! /// ... and one entry of it, with the same version.
//! #[derive(Serialize, Deserialize)]
//! pub struct EntryV1 { value: Vec<u8> }
//! impl Schema for EntryV1 { const NAME: &'static str = "store-entry"; const VERSION: u32 = 1; }
//!
//! pub struct Store { values: Mutex<HashMap<Vec<u8>, EntryV1>>, migration: Migration<EntryV1> }
//!
//! impl Store {
//!     /// Every call that touches `key` first makes sure the entry has moved in.
//!     pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, PluginError> {
//!         let mut values = self.values.lock().unwrap();
//!         if self.migration.is_under_way() && !values.contains_key(key) {
//!             if let Some(entry) = self.migration.take(key)? {
//!                 values.insert(key.to_vec(), entry);
//!             }
//!         }
//!         Ok(values.get(key).map(|entry| entry.value.clone()))
//!     }
//! }
//!
//! impl KeyedState for Store {
//!     type Entry = EntryV1;
//!     fn migration(&self) -> &Migration<EntryV1> { &self.migration }
//!     fn take_entry(&self, key: &[u8]) -> Option<EntryV1> { self.values.lock().unwrap().remove(key) }
//!     fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV1)> {
//!         let mut values = self.values.lock().unwrap();
//!         let keys: Vec<Vec<u8>> = values.keys().take(limit).cloned().collect();
//!         keys.into_iter().filter_map(|key| values.remove(&key).map(|entry| (key, entry))).collect()
//!     }
//!     fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV1)> {
//!         let values = self.values.lock().unwrap();
//!         values.iter().take(limit).map(|(key, entry)| (key.clone(), EntryV1 { value: entry.value.clone() })).collect()
//!     }
//!     fn put_entries(&self, entries: Vec<(Vec<u8>, EntryV1)>) -> Result<(), PluginError> {
//!         self.values.lock().unwrap().extend(entries);
//!         Ok(())
//!     }
//!     fn entry_count(&self) -> usize { self.values.lock().unwrap().len() }
//!     fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError> {
//!         // Under the lock the calls take, so that no call sees an entry in neither instance.
//!         let mut values = self.values.lock().unwrap();
//!         let (entries, remaining) = self.migration.take_some(limit)?;
//!         values.extend(entries);
//!         Ok(remaining)
//!     }
//! }
//! # impl Plugin for Store {
//! #     type State = StateV1;
//! #     fn create() -> Result<Self, PluginError> {
//! #         Ok(Store { values: Mutex::default(), migration: Migration::new() })
//! #     }
//! #     fn export_state(&self) -> Result<StateV1, PluginError> {
//! #         Ok(StateV1 { values: self.export_entries(usize::MAX).into_iter().collect() })
//! #     }
//! #     fn from_state(state: StateV1) -> Result<Self, PluginError> {
//! #         Ok(Store { values: Mutex::new(state.values), migration: Migration::new() })
//! #     }
//! # }
//! # #[ecdysis_plugin_api::interface]
//! # pub trait Nothing { fn nothing(&self) -> u64; }
//! # impl Nothing for Store { fn nothing(&self) -> u64 { 0 } }
//!
//! ecdysis_plugin_api::export_plugin! {
//!     module: "store",
//!     plugin: Store,
//!     interface: dyn Nothing,
//!     migrations: [],
//!     entry_migrations: [],
//! }
//! # fn main() {}
//! ```
//!
//! What the host does with a keyed plugin, and what a plugin author can rely on:
//! - A new instance in a lazy update is made by [`Plugin::create`] (so it starts empty), then given
//!   its predecessor, before calls reach it. Whatever is not an entry is not transferred lazily.
//! - An entry that fails to migrate (its step returns an error, panics, or does not come back the
//!   same from the round trip) is not lost: it stays with the host, [`Migration::take`] returns the
//!   error for every call that touches it, the migration cannot finish, and a rollback brings it
//!   back. The background pass skips it.
//! - Operations on the whole keyspace (list every key, count them, clear them) should first move
//!   every remaining entry with [`Migration::take_all`]: their cost is then what the migration has
//!   left, once.

use std::marker::PhantomData;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::error::PluginError;
use crate::export::Plugin;
use crate::ffi::PredecessorLink;
use crate::migrate::{MigrationOptions, MigrationStep, Schema, decode, decode_from_version, encode, encode_to_version, find_path};

/// A plugin whose state is a set of entries by key, which a lazy update moves one by one.
///
/// Every method works on the instance's own entries only; the predecessor is reached through
/// [`KeyedState::migration`].
pub trait KeyedState: Plugin {
    /// The schema of one entry. Its versions are the versions of the plugin's state schema, and the
    /// entry migration steps listed in `export_plugin!` connect the same versions as the state's.
    type Entry: Schema;

    /// The slot through which the host attaches the predecessor of a lazy update.
    fn migration(&self) -> &Migration<Self::Entry>;

    /// Removes `key`'s entry and returns it; `None` when there is none.
    fn take_entry(&self, key: &[u8]) -> Option<Self::Entry>;

    /// Removes up to `limit` entries (any of them) and returns them.
    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, Self::Entry)>;

    /// Copies up to `limit` entries (any of them; every entry for `usize::MAX`), without changing
    /// the instance: all of them for a rollback during a migration, a sample for the rehearsal of a
    /// lazy update.
    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, Self::Entry)>;

    /// Inserts `entries`, replacing entries of the same keys (a rollback during a migration puts
    /// back entries whose keys the instance does not hold).
    ///
    /// # Errors
    /// When an entry breaks an invariant of this version; then none may be inserted.
    fn put_entries(&self, entries: Vec<(Vec<u8>, Self::Entry)>) -> Result<(), PluginError>;

    /// How many entries the instance holds.
    fn entry_count(&self) -> usize;

    /// Moves up to `limit` entries from the predecessor into this instance with
    /// [`Migration::take_some`], holding the lock that calls take, and returns how many remain
    /// there. The host's background pass calls it until nothing remains.
    ///
    /// # Errors
    /// When the predecessor fails; entries that fail to migrate are skipped, not errors.
    fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError>;
}

/// Where a keyed instance reaches its predecessor during a lazy migration. Make one with
/// [`Migration::new`] in `create` and `from_state`; the host attaches and detaches the predecessor.
pub struct Migration<E> {
    /// Whether a predecessor is attached: read on every call, so without a lock.
    under_way: AtomicBool,
    link: RwLock<Option<AttachedPredecessor>>,
    _entry: PhantomData<fn() -> E>,
}

/// Entries by key, as they move.
pub type Entries<E> = Vec<(Vec<u8>, E)>;

/// An attached predecessor and how its entries become this version's.
pub(crate) struct AttachedPredecessor {
    pub(crate) link: PredecessorLink,
    pub(crate) steps: &'static [MigrationStep],
}

impl<E> Default for Migration<E> {
    fn default() -> Self {
        Migration::new()
    }
}

impl<E> std::fmt::Debug for Migration<E> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Migration").field("under_way", &self.is_under_way()).finish()
    }
}

/// How one entry crosses in a batch: its key and its own encoding.
#[derive(Serialize, Deserialize)]
pub(crate) struct EncodedEntry(pub(crate) ByteBuf, pub(crate) ByteBuf);

impl<E> Migration<E> {
    /// A slot with no predecessor.
    #[must_use]
    pub const fn new() -> Migration<E> {
        Migration { under_way: AtomicBool::new(false), link: RwLock::new(None), _entry: PhantomData }
    }

    /// Whether a lazy migration into this instance is under way (a predecessor is attached). A
    /// cheap check for every call.
    #[inline]
    #[must_use]
    pub fn is_under_way(&self) -> bool {
        self.under_way.load(Ordering::Acquire)
    }
}

impl<E: Schema> Migration<E> {
    /// Moves `key`'s entry from the predecessor, migrated to this version: `None` when there is no
    /// migration under way or the predecessor has no such entry. Call it before a call reads or
    /// writes `key`, only when this instance does not hold `key`, and hold the lock under which
    /// the caller then inserts the entry, so that no other call sees the key in neither instance.
    ///
    /// # Errors
    /// When the entry does not migrate (its step fails or panics, or the round trip does not give
    /// it back); the entry then stays with the host, and every call that touches it gets this
    /// error until a rollback.
    pub fn take(&self, key: &[u8]) -> Result<Option<E>, PluginError> {
        if !self.is_under_way() {
            return Ok(None);
        }
        let attached = self.link.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(attached) = attached.as_ref() else {
            return Ok(None);
        };
        let Some(bytes) = attached.link.take_entry(key).map_err(PluginError::new)? else {
            return Ok(None);
        };
        match migrate_entry::<E>(attached, &bytes) {
            Ok(entry) => Ok(Some(entry)),
            Err(reason) => {
                attached.link.give_back(key, &bytes, &reason);
                Err(PluginError::new(format!("the entry of key `{}` could not be migrated to this version: {reason}", printable(key))))
            }
        }
    }

    /// Moves up to `limit` entries from the predecessor, migrated to this version, and says how
    /// many remain there (not counting those that failed to migrate). Entries that fail to migrate stay
    /// with the host and are left out. Hold the lock under which the caller inserts them.
    ///
    /// # Errors
    /// When the predecessor cannot hand out entries.
    pub fn take_some(&self, limit: usize) -> Result<(Entries<E>, u64), PluginError> {
        let attached = self.link.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(attached) = attached.as_ref() else {
            return Ok((Vec::new(), 0));
        };
        let (bytes, remaining) = attached.link.take_entries(limit as u64).map_err(PluginError::new)?;
        let batch: Vec<EncodedEntry> =
            decode(&bytes).map_err(|error| PluginError::new(format!("a batch of entries does not decode: {error}")))?;
        let mut entries = Vec::with_capacity(batch.len());
        for EncodedEntry(key, entry) in batch {
            match migrate_entry::<E>(attached, &entry) {
                Ok(migrated) => entries.push((key.into_vec(), migrated)),
                Err(reason) => attached.link.give_back(&key, &entry, &reason),
            }
        }
        Ok((entries, remaining))
    }

    /// Moves every entry that remains in the predecessor (for operations on the whole keyspace).
    /// Entries that fail to migrate stay with the host.
    ///
    /// # Errors
    /// When the predecessor cannot hand out entries.
    pub fn take_all(&self) -> Result<Vec<(Vec<u8>, E)>, PluginError> {
        let mut all = Vec::new();
        while self.is_under_way() {
            let (entries, remaining) = self.take_some(4096)?;
            all.extend(entries);
            if remaining == 0 {
                break;
            }
        }
        Ok(all)
    }

    /// Attaches a predecessor, after checking that its entries can be migrated here and back.
    pub(crate) fn attach(&self, link: PredecessorLink, steps: &'static [MigrationStep]) -> Result<(), PluginError> {
        let from = link.schema_version();
        if find_path(steps, from, E::VERSION).is_none() || find_path(steps, E::VERSION, from).is_none() {
            return Err(PluginError::new(format!(
                "entries of schema `{}` v{from} cannot be migrated to v{} and back: no entry migration steps lead there (list them in `entry_migrations`)",
                E::NAME,
                E::VERSION
            )));
        }
        *self.link.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(AttachedPredecessor { link, steps });
        self.under_way.store(true, Ordering::Release);
        Ok(())
    }

    /// Detaches the predecessor, once every call that is reaching it has returned.
    pub(crate) fn detach(&self) {
        self.under_way.store(false, Ordering::Release);
        *self.link.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// Migrates one entry, encoded in the predecessor's schema version, to `E`, and checks it by its
/// own round trip: migrated back down, it must equal what came. Panics of the steps are caught.
fn migrate_entry<E: Schema>(attached: &AttachedPredecessor, bytes: &[u8]) -> Result<E, String> {
    let from = attached.link.schema_version();
    let options = MigrationOptions::from_flags(attached.link.flags());
    let steps = attached.steps;
    let migrated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<(E, Vec<u8>), String> {
        let entry: E = decode_from_version(steps, from, bytes, &options).map_err(|failure| failure.to_string())?;
        if from == E::VERSION {
            return Ok((entry, Vec::new()));
        }
        let encoded = encode(&entry)?;
        let entry_again: E = decode(&encoded)?;
        let back = encode_to_version(steps, entry_again, from, &MigrationOptions::default()).map_err(|failure| failure.to_string())?;
        Ok((entry, back))
    }));
    match migrated {
        Err(panic) => Err(format!("its migration panicked: {}", crate::error::panic_message(panic.as_ref()))),
        Ok(Err(reason)) => Err(reason),
        Ok(Ok((entry, back))) => {
            if from != E::VERSION {
                crate::compare::compare(bytes, &back)
                    .map_err(|difference| format!("its round trip does not give it back: {difference}"))?;
            }
            Ok(entry)
        }
    }
}

/// A key as it can be shown in a message.
fn printable(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    if text.len() > 60 { format!("{}…", &text[..text.floor_char_boundary(60)]) } else { text.into_owned() }
}

/// Encodes entries of version `E::VERSION` for a batch, migrated down to `version`.
pub(crate) fn encode_batch<E: Schema>(
    steps: &[MigrationStep],
    entries: Vec<(Vec<u8>, E)>,
    version: u32,
    options: &MigrationOptions,
) -> Result<Vec<u8>, crate::error::ShimFailure> {
    let mut batch = Vec::with_capacity(entries.len());
    for (key, entry) in entries {
        let bytes = encode_to_version(steps, entry, version, options)?;
        batch.push(EncodedEntry(ByteBuf::from(key), ByteBuf::from(bytes)));
    }
    encode(&batch).map_err(crate::error::ShimFailure::Codec)
}

/// Decodes a batch of entries of `version`, migrated up (or down) to `E`.
pub(crate) fn decode_batch<E: Schema>(
    steps: &[MigrationStep],
    bytes: &[u8],
    version: u32,
    options: &MigrationOptions,
) -> Result<Vec<(Vec<u8>, E)>, crate::error::ShimFailure> {
    let batch: Vec<EncodedEntry> = decode(bytes).map_err(crate::error::ShimFailure::Codec)?;
    let mut entries = Vec::with_capacity(batch.len());
    for EncodedEntry(key, entry) in batch {
        entries.push((key.into_vec(), decode_from_version(steps, version, &entry, options)?));
    }
    Ok(entries)
}
