//! The kv state schemas of every version, frozen, and the migration steps between neighbours, each
//! written once:
//!
//! | step | what it does |
//! |---|---|
//! | v1 → v2 | every string gets "no expiry" |
//! | v2 → v1 | refuses while any key has a time to live (v1 cannot expire keys), unless forced: then keys already expired are dropped and the rest lose their time to live |
//! | v2 → v3 | every string becomes a tagged string value |
//! | v3 → v2 | refuses while any list or hash exists (v2 cannot hold them), unless forced: then lists and hashes are dropped |
//! | v3 → v4 | every value keeps its type (v4 adds sets and sorted sets) |
//! | v4 → v3 | refuses while any set or sorted set exists (v3 cannot hold them), unless forced: then sets and sorted sets are dropped |
//!
//! The maps of keys are [`StateMap`]s, which decode without hashing: a migration step moves the
//! entries once, and the only hash table built on an import is the plugin's own.
//!
//! Each version's entry (one key's value, as a lazy update moves it) has a schema of its own,
//! `kv-entry`, with the same version numbers and the same steps, one key at a time.
//!
//! Expiry is an absolute time (milliseconds since the Unix epoch), so a time to live means the same
//! before and after an update. Steps other than forced downgrades never look at the clock, so the
//! round-trip validation of an update cannot be upset by a key expiring meanwhile.

use std::collections::{HashMap, HashSet};

use ecdysis_plugin_api::{Migrate, MigrationOptions, PluginError, Schema, StateMap};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The name of every kv schema version.
pub const SCHEMA_NAME: &str = "kv";

/// v1: strings only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateV1 {
    /// Values by key.
    pub strings: StateMap<ByteBuf, ByteBuf>,
}

impl Schema for KvStateV1 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 1;
}

/// A string with an optional expiry (v2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringEntryV2 {
    /// The value.
    pub value: ByteBuf,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// v2: strings with expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateV2 {
    /// Entries by key.
    pub entries: StateMap<ByteBuf, StringEntryV2>,
}

impl Schema for KvStateV2 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 2;
}

/// A value of v3: strings, lists and hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ValueV3 {
    /// A string.
    String(ByteBuf),
    /// A list, head first.
    List(Vec<ByteBuf>),
    /// A hash: fields and their values.
    Hash(HashMap<ByteBuf, ByteBuf>),
}

/// A key's value with an optional expiry (v3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryV3 {
    /// The value.
    pub value: ValueV3,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// v3: tagged values (strings, lists, hashes) with expiry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvStateV3 {
    /// Entries by key.
    pub entries: StateMap<ByteBuf, EntryV3>,
}

impl Schema for KvStateV3 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 3;
}

/// A value of v4: strings, lists, hashes, sets and sorted sets.
///
/// Not `Eq`: a sorted set's scores are floating point (never NaN: no command stores one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ValueV4 {
    /// A string.
    String(ByteBuf),
    /// A list, head first.
    List(Vec<ByteBuf>),
    /// A hash: fields and their values.
    Hash(HashMap<ByteBuf, ByteBuf>),
    /// A set: its members, encoded in byte order, so that two encodings of one set are the same
    /// bytes (the host's round-trip check compares them).
    Set(#[serde(serialize_with = "serialize_in_byte_order")] HashSet<ByteBuf>),
    /// A sorted set: its members with their scores, in no particular order.
    SortedSet(Vec<(ByteBuf, f64)>),
}

/// Encodes a set's members as a sequence in byte order.
fn serialize_in_byte_order<S: serde::Serializer>(members: &HashSet<ByteBuf>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut sorted: Vec<&ByteBuf> = members.iter().collect();
    sorted.sort_unstable();
    serializer.collect_seq(sorted)
}

/// A key's value with an optional expiry (v4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryV4 {
    /// The value.
    pub value: ValueV4,
    /// When the key expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// v4: tagged values (strings, lists, hashes, sets, sorted sets) with expiry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KvStateV4 {
    /// Entries by key.
    pub entries: StateMap<ByteBuf, EntryV4>,
}

impl Schema for KvStateV4 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 4;
}

impl Migrate<KvStateV2> for KvStateV1 {
    fn migrate(self, _options: &MigrationOptions) -> Result<KvStateV2, PluginError> {
        let entries = self.strings.into_iter().map(|(key, value)| (key, StringEntryV2 { value, expires_at_ms: None })).collect();
        Ok(KvStateV2 { entries })
    }
}

impl Migrate<KvStateV1> for KvStateV2 {
    fn migrate(self, options: &MigrationOptions) -> Result<KvStateV1, PluginError> {
        let with_expiry = self.entries.values().filter(|entry| entry.expires_at_ms.is_some()).count();
        if with_expiry > 0 && !options.force {
            return Err(PluginError::new(format!(
                "{with_expiry} key(s) have a time to live, which kv v1 cannot hold; remove it (PERSIST) or force the downgrade to make them persistent"
            )));
        }
        let now = crate::now_unix_ms();
        let strings = self
            .entries
            .into_iter()
            .filter(|(_, entry)| entry.expires_at_ms.is_none_or(|expires_at| expires_at > now))
            .map(|(key, entry)| (key, entry.value))
            .collect();
        Ok(KvStateV1 { strings })
    }
}

impl Migrate<KvStateV3> for KvStateV2 {
    fn migrate(self, _options: &MigrationOptions) -> Result<KvStateV3, PluginError> {
        let entries = self
            .entries
            .into_iter()
            .map(|(key, entry)| (key, EntryV3 { value: ValueV3::String(entry.value), expires_at_ms: entry.expires_at_ms }))
            .collect();
        Ok(KvStateV3 { entries })
    }
}

impl Migrate<KvStateV2> for KvStateV3 {
    fn migrate(self, options: &MigrationOptions) -> Result<KvStateV2, PluginError> {
        let (lists, hashes) = self.entries.values().fold((0, 0), |(lists, hashes), entry| match entry.value {
            ValueV3::String(_) => (lists, hashes),
            ValueV3::List(_) => (lists + 1, hashes),
            ValueV3::Hash(_) => (lists, hashes + 1),
        });
        if lists + hashes > 0 && !options.force {
            return Err(PluginError::new(format!(
                "{lists} list(s) and {hashes} hash(es) exist, which kv v2 cannot hold; delete them or force the downgrade to drop them"
            )));
        }
        let entries = self
            .entries
            .into_iter()
            .filter_map(|(key, entry)| match entry.value {
                ValueV3::String(value) => Some((key, StringEntryV2 { value, expires_at_ms: entry.expires_at_ms })),
                ValueV3::List(_) | ValueV3::Hash(_) => None,
            })
            .collect();
        Ok(KvStateV2 { entries })
    }
}

impl Migrate<KvStateV4> for KvStateV3 {
    fn migrate(self, _options: &MigrationOptions) -> Result<KvStateV4, PluginError> {
        let entries = self.entries.into_iter().map(|(key, entry)| (key, EntryV4::from(entry))).collect();
        Ok(KvStateV4 { entries })
    }
}

impl Migrate<KvStateV3> for KvStateV4 {
    fn migrate(self, options: &MigrationOptions) -> Result<KvStateV3, PluginError> {
        let (sets, sorted_sets) = self.entries.values().fold((0, 0), |(sets, sorted_sets), entry| match entry.value {
            ValueV4::Set(_) => (sets + 1, sorted_sets),
            ValueV4::SortedSet(_) => (sets, sorted_sets + 1),
            ValueV4::String(_) | ValueV4::List(_) | ValueV4::Hash(_) => (sets, sorted_sets),
        });
        if sets + sorted_sets > 0 && !options.force {
            return Err(PluginError::new(format!(
                "{sets} set(s) and {sorted_sets} sorted set(s) exist, which kv v3 cannot hold; delete them or force the downgrade to drop them"
            )));
        }
        let entries = self.entries.into_iter().filter_map(|(key, entry)| Some((key, EntryV3::try_from(entry).ok()?))).collect();
        Ok(KvStateV3 { entries })
    }
}

/// Every v3 value is a v4 value of the same type.
impl From<EntryV3> for EntryV4 {
    fn from(entry: EntryV3) -> EntryV4 {
        let value = match entry.value {
            ValueV3::String(bytes) => ValueV4::String(bytes),
            ValueV3::List(list) => ValueV4::List(list),
            ValueV3::Hash(hash) => ValueV4::Hash(hash),
        };
        EntryV4 { value, expires_at_ms: entry.expires_at_ms }
    }
}

/// A v4 value that v3 can hold (not a set or sorted set) as a v3 value; the error names the type.
impl TryFrom<EntryV4> for EntryV3 {
    type Error = &'static str;

    fn try_from(entry: EntryV4) -> Result<EntryV3, &'static str> {
        let value = match entry.value {
            ValueV4::String(bytes) => ValueV3::String(bytes),
            ValueV4::List(list) => ValueV3::List(list),
            ValueV4::Hash(hash) => ValueV3::Hash(hash),
            ValueV4::Set(_) => return Err("set"),
            ValueV4::SortedSet(_) => return Err("sorted set"),
        };
        Ok(EntryV3 { value, expires_at_ms: entry.expires_at_ms })
    }
}

/// The name of every kv entry schema version: one key's entry, as a lazy update moves it.
pub const ENTRY_SCHEMA_NAME: &str = "kv-entry";

/// An entry of v1: a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StringEntryV1 {
    /// The value.
    pub value: ByteBuf,
}

impl Schema for StringEntryV1 {
    const NAME: &'static str = ENTRY_SCHEMA_NAME;
    const VERSION: u32 = 1;
}

impl Schema for StringEntryV2 {
    const NAME: &'static str = ENTRY_SCHEMA_NAME;
    const VERSION: u32 = 2;
}

impl Schema for EntryV3 {
    const NAME: &'static str = ENTRY_SCHEMA_NAME;
    const VERSION: u32 = 3;
}

impl Schema for EntryV4 {
    const NAME: &'static str = ENTRY_SCHEMA_NAME;
    const VERSION: u32 = 4;
}

impl Migrate<StringEntryV2> for StringEntryV1 {
    fn migrate(self, _options: &MigrationOptions) -> Result<StringEntryV2, PluginError> {
        Ok(StringEntryV2 { value: self.value, expires_at_ms: None })
    }
}

/// Like the state's step, except that a forced step keeps an entry that has expired meanwhile (an
/// entry cannot be dropped on its own; kv v1 then holds it without expiry).
impl Migrate<StringEntryV1> for StringEntryV2 {
    fn migrate(self, options: &MigrationOptions) -> Result<StringEntryV1, PluginError> {
        if self.expires_at_ms.is_some() && !options.force {
            return Err(PluginError::new(
                "the key has a time to live, which kv v1 cannot hold; remove it (PERSIST) or force the downgrade",
            ));
        }
        Ok(StringEntryV1 { value: self.value })
    }
}

impl Migrate<EntryV3> for StringEntryV2 {
    fn migrate(self, _options: &MigrationOptions) -> Result<EntryV3, PluginError> {
        Ok(EntryV3 { value: ValueV3::String(self.value), expires_at_ms: self.expires_at_ms })
    }
}

/// Refuses lists and hashes even when forced: an entry cannot be dropped on its own.
impl Migrate<StringEntryV2> for EntryV3 {
    fn migrate(self, _options: &MigrationOptions) -> Result<StringEntryV2, PluginError> {
        match self.value {
            ValueV3::String(value) => Ok(StringEntryV2 { value, expires_at_ms: self.expires_at_ms }),
            ValueV3::List(_) => Err(PluginError::new("the key holds a list, which kv v2 cannot hold; delete it first")),
            ValueV3::Hash(_) => Err(PluginError::new("the key holds a hash, which kv v2 cannot hold; delete it first")),
        }
    }
}

impl Migrate<EntryV4> for EntryV3 {
    fn migrate(self, _options: &MigrationOptions) -> Result<EntryV4, PluginError> {
        Ok(EntryV4::from(self))
    }
}

/// Refuses sets and sorted sets even when forced: an entry cannot be dropped on its own.
impl Migrate<EntryV3> for EntryV4 {
    fn migrate(self, _options: &MigrationOptions) -> Result<EntryV3, PluginError> {
        EntryV3::try_from(self)
            .map_err(|kind| PluginError::new(format!("the key holds a {kind}, which kv v3 cannot hold; delete it first")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> ByteBuf {
        ByteBuf::from(text.as_bytes().to_vec())
    }

    /// A v3 state with a value of every v3 type, one of them expiring.
    fn v3_with_everything() -> KvStateV3 {
        let entry = |value, expires_at_ms| EntryV3 { value, expires_at_ms };
        KvStateV3 {
            entries: StateMap::from([
                (bytes("a"), entry(ValueV3::String(bytes("1")), None)),
                (bytes("l"), entry(ValueV3::List(vec![bytes("x"), bytes("y")]), Some(9))),
                (bytes("h"), entry(ValueV3::Hash(HashMap::from([(bytes("f"), bytes("v"))])), None)),
            ]),
        }
    }

    #[test]
    fn up_and_down_keep_what_fits_and_refuse_what_does_not() {
        let v1 = KvStateV1 { strings: StateMap::from([(bytes("a"), bytes("1"))]) };
        let v2: KvStateV2 = v1.clone().migrate(&MigrationOptions::default()).unwrap();
        let v3: KvStateV3 = v2.clone().migrate(&MigrationOptions::default()).unwrap();
        assert_eq!(v3.entries[&bytes("a")], EntryV3 { value: ValueV3::String(bytes("1")), expires_at_ms: None });
        let back: KvStateV2 = v3.clone().migrate(&MigrationOptions::default()).unwrap();
        assert_eq!(back, v2);
        assert_eq!(Migrate::<KvStateV1>::migrate(back, &MigrationOptions::default()).unwrap(), v1);

        let mut with_list = v3;
        with_list.entries.push(bytes("l"), EntryV3 { value: ValueV3::List(vec![bytes("x")]), expires_at_ms: None });
        let error = Migrate::<KvStateV2>::migrate(with_list.clone(), &MigrationOptions::default()).unwrap_err();
        assert_eq!(
            error.message(),
            "1 list(s) and 0 hash(es) exist, which kv v2 cannot hold; delete them or force the downgrade to drop them"
        );
        let forced: KvStateV2 = with_list.migrate(&MigrationOptions::forced(true)).unwrap();
        assert_eq!(forced.entries.len(), 1);

        let v4: KvStateV4 = v3_with_everything().migrate(&MigrationOptions::default()).unwrap();
        assert_eq!(Migrate::<KvStateV3>::migrate(v4.clone(), &MigrationOptions::default()).unwrap(), v3_with_everything());
        let mut with_sets = v4;
        with_sets.entries.push(bytes("s"), EntryV4 { value: ValueV4::Set(HashSet::from([bytes("m")])), expires_at_ms: None });
        with_sets.entries.push(bytes("z"), EntryV4 { value: ValueV4::SortedSet(vec![(bytes("m"), 1.5)]), expires_at_ms: Some(7) });
        let error = Migrate::<KvStateV3>::migrate(with_sets.clone(), &MigrationOptions::default()).unwrap_err();
        assert_eq!(
            error.message(),
            "1 set(s) and 1 sorted set(s) exist, which kv v3 cannot hold; delete them or force the downgrade to drop them"
        );
        assert_eq!(Migrate::<KvStateV3>::migrate(with_sets, &MigrationOptions::forced(true)).unwrap(), v3_with_everything());
        let set_entry = EntryV4 { value: ValueV4::Set(HashSet::from([bytes("m")])), expires_at_ms: None };
        assert_eq!(
            Migrate::<EntryV3>::migrate(set_entry, &MigrationOptions::forced(true)).unwrap_err().message(),
            "the key holds a set, which kv v3 cannot hold; delete it first"
        );

        let mut with_ttl = v2;
        with_ttl.entries.get_mut(&bytes("a")).unwrap().expires_at_ms = Some(u64::MAX);
        assert!(
            Migrate::<KvStateV1>::migrate(with_ttl.clone(), &MigrationOptions::default()).unwrap_err().message().contains("time to live")
        );
        assert_eq!(Migrate::<KvStateV1>::migrate(with_ttl, &MigrationOptions::forced(true)).unwrap(), v1);
    }
}
