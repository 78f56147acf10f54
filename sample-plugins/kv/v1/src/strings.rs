//! The string commands: GET, SET, INCR, INCRBY, DECR, DECRBY, MGET, MSET, APPEND and STRLEN.

use kv_common::strings::{self, MAXIMUM_STRING_LENGTH};
use kv_interface::resp;

use crate::Database;

/// `GET key`: the value, or null when the key is missing.
pub(crate) fn get(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"get");
    };
    match database.strings.get(key) {
        Some(value) => resp::bulk(out, value),
        None => resp::null(out),
    }
}

/// The condition of a SET: NX (only when the key is missing) or XX (only when it exists).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetCondition {
    IfMissing,
    IfExists,
}

/// `SET key value [NX|XX]`: `+OK`, or null when the condition prevents the write. Version 1 has no
/// expiry, so every other option (EX, PX, KEEPTTL, GET, ...) is a syntax error.
pub(crate) fn set(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, value, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"set");
    };
    let mut condition = None;
    for option in options {
        // Repeating NX or XX is allowed, combining them is not, as in Redis.
        if option.eq_ignore_ascii_case(b"nx") && condition != Some(SetCondition::IfExists) {
            condition = Some(SetCondition::IfMissing);
        } else if option.eq_ignore_ascii_case(b"xx") && condition != Some(SetCondition::IfMissing) {
            condition = Some(SetCondition::IfExists);
        } else {
            return resp::syntax_error(out);
        }
    }
    let exists = database.strings.contains_key(key);
    match (condition, exists) {
        (Some(SetCondition::IfMissing), true) | (Some(SetCondition::IfExists), false) => resp::null(out),
        _ => {
            database.strings.insert(key.to_vec(), value.to_vec());
            resp::ok(out);
        }
    }
}

/// `INCR key`, `DECR key`, `INCRBY key increment` and `DECRBY key decrement`; `command` is the
/// name in lowercase.
pub(crate) fn increment(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8]) {
    if let Some((key, increment)) = strings::parse_increment(command, arguments, out) {
        increment_by(database, key, increment, out);
    }
}

/// Adds `increment` to the integer stored at `key` (a missing key counts as 0) and replies with
/// the result.
fn increment_by(database: &mut Database, key: &[u8], increment: i64, out: &mut Vec<u8>) {
    let current = match database.strings.get(key) {
        None => 0,
        Some(value) => match kv_common::parse_integer(value) {
            Some(current) => current,
            None => return resp::not_an_integer(out),
        },
    };
    let Some(updated) = current.checked_add(increment) else {
        return resp::error(out, "ERR increment or decrement would overflow");
    };
    database.strings.insert(key.to_vec(), updated.to_string().into_bytes());
    resp::integer(out, updated);
}

/// `MGET key [key ...]`: an array with each value, null for missing keys.
pub(crate) fn mget(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, b"mget");
    }
    resp::array_header(out, keys.len());
    for key in keys {
        match database.strings.get(*key) {
            Some(value) => resp::bulk(out, value),
            None => resp::null(out),
        }
    }
}

/// `MSET key value [key value ...]`: sets every pair; an odd count of arguments is a wrong arity.
pub(crate) fn mset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let pairs = arguments.get(1..).unwrap_or_default();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::wrong_arity(out, b"mset");
    }
    for pair in pairs.chunks_exact(2) {
        if let &[key, value] = pair {
            database.strings.insert(key.to_vec(), value.to_vec());
        }
    }
    resp::ok(out);
}

/// `APPEND key suffix`: appends (creating the key when missing) and replies with the new length.
pub(crate) fn append(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, suffix] = arguments else {
        return resp::wrong_arity(out, b"append");
    };
    let current_length = database.strings.get(key).map_or(0, Vec::len);
    if current_length.saturating_add(suffix.len()) > MAXIMUM_STRING_LENGTH {
        return resp::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    if let Some(value) = database.strings.get_mut(key) {
        value.extend_from_slice(suffix);
        return resp::count(out, value.len());
    }
    database.strings.insert(key.to_vec(), suffix.to_vec());
    resp::count(out, suffix.len());
}

/// `STRLEN key`: the length of the value, 0 when the key is missing.
pub(crate) fn strlen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"strlen");
    };
    resp::count(out, database.strings.get(key).map_or(0, Vec::len));
}
