//! The commands on keys of any kind: TYPE, the one that depends on this version's values, and
//! DEL (and UNLINK), EXISTS, KEYS, DBSIZE and FLUSHALL (and FLUSHDB), which do not and come from
//! `kv_common::keyspace`.

pub(crate) use kv_common::keyspace::{dbsize, del, exists, flush, keys};
use kv_interface::resp;

use crate::database::Database;

/// `TYPE key`: `+string`, `+list`, `+hash`, `+set`, `+zset`, or `+none` when the key is missing.
pub(crate) fn type_of(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"type");
    };
    resp::simple(out, database.live(key).map_or("none", |entry| entry.value.type_name()));
}
