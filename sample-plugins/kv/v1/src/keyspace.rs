//! The commands on keys of any kind: DEL (and UNLINK), EXISTS, KEYS, DBSIZE and FLUSHALL (and
//! FLUSHDB, the same here since there is one database).

use kv_common::glob_match;
use kv_interface::resp;

use crate::Database;

/// `DEL key [key ...]` (and `UNLINK`): removes the keys and replies with how many existed. A key
/// named twice is removed once.
pub(crate) fn del(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8]) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, command);
    }
    let removed = keys.iter().filter(|key| database.strings.remove(**key).is_some()).count();
    resp::count(out, removed);
}

/// `EXISTS key [key ...]`: how many of the keys exist; a key named twice counts twice.
pub(crate) fn exists(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, b"exists");
    }
    resp::count(out, keys.iter().filter(|key| database.strings.contains_key(**key)).count());
}

/// `KEYS pattern`: the keys matching the glob pattern. Redis gives no order; these come sorted, so
/// that replies are reproducible.
pub(crate) fn keys(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, pattern] = arguments else {
        return resp::wrong_arity(out, b"keys");
    };
    let mut matching: Vec<&Vec<u8>> = database.strings.keys().filter(|key| glob_match(pattern, key)).collect();
    matching.sort_unstable();
    resp::array_header(out, matching.len());
    for key in matching {
        resp::bulk(out, key);
    }
}

/// `DBSIZE`: the number of keys.
pub(crate) fn dbsize(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_] = arguments else {
        return resp::wrong_arity(out, b"dbsize");
    };
    resp::count(out, database.strings.len());
}

/// `FLUSHALL [ASYNC|SYNC]` (and `FLUSHDB`): removes every key. Both modes flush at once.
pub(crate) fn flush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    match arguments {
        [_] => {}
        [_, mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {}
        // Redis checks the mode itself rather than the arity: too many arguments are a syntax error.
        _ => return resp::syntax_error(out),
    }
    database.strings.clear();
    resp::ok(out);
}
