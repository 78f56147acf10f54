//! The commands on keys of any kind in a [`Database`] of any value type: DEL (and UNLINK), EXISTS,
//! KEYS, DBSIZE and FLUSHALL (and FLUSHDB, the same here since there is one database).

use kv_interface::resp;

use crate::database::Database;
use crate::glob_match;

/// `DEL key [key ...]` (and `UNLINK`): removes the keys and replies with how many existed (expired
/// keys do not count). A key named twice is removed once.
pub fn del<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8]) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, command);
    }
    let removed = keys.iter().filter(|key| database.remove(key).is_some()).count();
    resp::count(out, removed);
}

/// `EXISTS key [key ...]`: how many of the keys exist and have not expired; a key named twice
/// counts twice.
pub fn exists<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, b"exists");
    }
    resp::count(out, keys.iter().filter(|key| database.live(key).is_some()).count());
}

/// `KEYS pattern`: the keys matching the glob pattern, expired ones left out. Redis gives no order;
/// these come sorted, so that replies are reproducible.
pub fn keys<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, pattern] = arguments else {
        return resp::wrong_arity(out, b"keys");
    };
    let mut matching: Vec<&Vec<u8>> = database.live_entries().map(|(key, _)| key).filter(|key| glob_match(pattern, key)).collect();
    matching.sort_unstable();
    resp::array_header(out, matching.len());
    for key in matching {
        resp::bulk(out, key);
    }
}

/// `DBSIZE`: the number of keys that have not expired.
pub fn dbsize<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_] = arguments else {
        return resp::wrong_arity(out, b"dbsize");
    };
    resp::count(out, database.live_count());
}

/// `FLUSHALL [ASYNC|SYNC]` (and `FLUSHDB`): removes every key. Both modes flush at once.
pub fn flush<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>) {
    match arguments {
        [_] => {}
        [_, mode] if mode.eq_ignore_ascii_case(b"async") || mode.eq_ignore_ascii_case(b"sync") => {}
        // Redis checks the mode itself rather than the arity: too many arguments are a syntax error.
        _ => return resp::syntax_error(out),
    }
    database.entries.clear();
    resp::ok(out);
}
