//! The string commands: GET, SET (with NX, XX, GET and the expiry options), INCR, INCRBY, DECR,
//! DECRBY, MGET, MSET, APPEND and STRLEN. All but SET and MSET (which replace a value of any type)
//! reply WRONGTYPE on a list or a hash; MGET replies null for them, as Redis does.

use kv_common::strings::{self, ExpiryChoice, absolute_expiry, parse_set_options};
use kv_interface::resp;

use crate::database::{Database, Entry, Value};

/// `GET key`: the value, or null when the key is missing or has expired.
pub(crate) fn get(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"get");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::String(value)) => resp::bulk(out, value),
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => resp::wrong_type(out),
        None => resp::null(out),
    }
}

/// `SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT
/// unix-time-milliseconds|KEEPTTL]`: `+OK`, or null when the condition prevents the write; with
/// GET, the old value (or null) whether or not the write happens, and WRONGTYPE (writing nothing)
/// when the old value is a list or a hash. Without KEEPTTL, the key loses its time to live; an
/// expiry already in the past leaves the key missing.
pub(crate) fn set(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, value, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"set");
    };
    let Some(options) = parse_set_options(options) else {
        return resp::syntax_error(out);
    };
    let new_expiry = match options.expiry {
        ExpiryChoice::Set(option, argument) => match absolute_expiry(option, argument, database.now_ms(), out) {
            Some(expires_at_ms) => Some(expires_at_ms),
            None => return,
        },
        ExpiryChoice::Clear | ExpiryChoice::Keep => None,
    };
    let existing = database.live(key);
    if options.reply_with_old_value {
        match existing.as_ref().map(|entry| &entry.value) {
            Some(Value::String(value)) => resp::bulk(out, value),
            Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
            None => resp::null(out),
        }
    }
    if options.blocks(existing.is_some()) {
        if !options.reply_with_old_value {
            resp::null(out);
        }
        return;
    }
    let expires_at_ms = match options.expiry {
        ExpiryChoice::Keep => existing.and_then(|entry| entry.expires_at_ms),
        ExpiryChoice::Clear | ExpiryChoice::Set(..) => new_expiry,
    };
    database.insert(key, Entry { value: Value::String(value.to_vec()), expires_at_ms });
    if !options.reply_with_old_value {
        resp::ok(out);
    }
}

/// `INCR key`, `DECR key`, `INCRBY key increment` and `DECRBY key decrement`; `command` is the
/// name in lowercase.
pub(crate) fn increment(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8]) {
    if let Some((key, increment)) = strings::parse_increment(command, arguments, out) {
        increment_by(database, key, increment, out);
    }
}

/// Adds `increment` to the integer stored at `key` (a missing key counts as 0, and is created
/// without expiry) and replies with the result. The key keeps its time to live.
fn increment_by(database: &mut Database, key: &[u8], increment: i64, out: &mut Vec<u8>) {
    let value = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::String(value)) => value,
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => {
            database.insert(key, Entry::persistent(Value::String(increment.to_string().into_bytes())));
            return resp::integer(out, increment);
        }
    };
    strings::add_to_integer(value, increment, out);
}

/// `MGET key [key ...]`: an array with each value, null for missing and expired keys and for keys
/// that hold a list or a hash.
pub(crate) fn mget(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, b"mget");
    }
    resp::array_header(out, keys.len());
    for key in keys {
        match database.live(key).map(|entry| &entry.value) {
            Some(Value::String(value)) => resp::bulk(out, value),
            Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) | None => resp::null(out),
        }
    }
}

/// `MSET key value [key value ...]`: sets every pair without expiry, replacing values of any type;
/// an odd count of arguments is a wrong arity.
pub(crate) fn mset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let pairs = arguments.get(1..).unwrap_or_default();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::wrong_arity(out, b"mset");
    }
    for pair in pairs.chunks_exact(2) {
        if let &[key, value] = pair {
            database.insert(key, Entry::persistent(Value::String(value.to_vec())));
        }
    }
    resp::ok(out);
}

/// `APPEND key suffix`: appends (creating the key when missing) and replies with the new length.
/// The key keeps its time to live.
pub(crate) fn append(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, suffix] = arguments else {
        return resp::wrong_arity(out, b"append");
    };
    let value = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::String(value)) => value,
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => {
            database.insert(key, Entry::persistent(Value::String(suffix.to_vec())));
            return resp::count(out, suffix.len());
        }
    };
    strings::append_to(value, suffix, out);
}

/// `STRLEN key`: the length of the value, 0 when the key is missing.
pub(crate) fn strlen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"strlen");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::String(value)) => resp::count(out, value.len()),
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => resp::wrong_type(out),
        None => resp::count(out, 0),
    }
}
