//! The values of version 3: strings, lists and hashes. They live in `kv_common`'s expiring
//! database, which expires them lazily when a command touches them and sweeps in full every so
//! often.

use std::collections::{HashMap, VecDeque};

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

/// The database of this version: values of every type, with an optional expiry.
pub(crate) type Database = kv_common::database::Database<Value>;
/// A value with its expiry.
pub(crate) type Entry = kv_common::database::Entry<Value>;
