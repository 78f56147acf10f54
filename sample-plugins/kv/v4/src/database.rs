//! The values of version 4: strings, lists, hashes, sets and sorted sets. They live in
//! `kv_common`'s expiring database, which expires them lazily when a command touches them and
//! sweeps in full every so often.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::sorted_set::SortedSet;

/// A value: a string, a list, a hash, a set or a sorted set. A list, hash, set or sorted set is
/// never empty: the command that empties it deletes the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A string.
    String(Vec<u8>),
    /// A list, head first.
    List(VecDeque<Vec<u8>>),
    /// A hash: fields and their values.
    Hash(HashMap<Vec<u8>, Vec<u8>>),
    /// A set of members.
    Set(HashSet<Vec<u8>>),
    /// A sorted set: members with their scores.
    SortedSet(SortedSet),
}

impl Value {
    /// The name TYPE reports.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::SortedSet(_) => "zset",
        }
    }
}

/// The database of this version: values of every type, with an optional expiry.
pub(crate) type Database = kv_common::database::Database<Value>;
/// A value with its expiry.
pub(crate) type Entry = kv_common::database::Entry<Value>;
