//! The string commands: GET, SET (with NX, XX, GET and the expiry options), SETEX, PSETEX, SETNX,
//! GETSET, GETEX, GETDEL, INCR, INCRBY, DECR, DECRBY, INCRBYFLOAT, MGET, MSET, MSETNX, APPEND,
//! STRLEN, SETRANGE, GETRANGE and SUBSTR. All but the plain writes (SET, SETEX, PSETEX, SETNX,
//! MSET and MSETNX, which replace a value of any type) reply WRONGTYPE on a value that is not a
//! string; MGET replies null for them, as Redis does.

use kv_common::strings::{
    self, ExpiryChoice, ExpiryOption, GetExExpiry, absolute_expiry, absolute_expiry_for, parse_getex_options, parse_set_options,
};
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

/// The string at `key`, if it holds one; `Err(())` after replying WRONGTYPE when it holds another
/// type; `Ok(None)` when the key is missing.
fn live_string<'a>(database: &'a mut Database, key: &[u8], out: &mut Vec<u8>) -> Result<Option<&'a mut Vec<u8>>, ()> {
    match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::String(value)) => Ok(Some(value)),
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => {
            resp::wrong_type(out);
            Err(())
        }
        None => Ok(None),
    }
}

/// `SETEX key seconds value` and `PSETEX key milliseconds value` (`command` is the name in
/// lowercase, `option` its unit): `+OK`, replacing a value of any type, with the given time to
/// live; an amount that is not a positive integer writes nothing and replies Redis's error.
pub(crate) fn set_with_expiry(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &str, option: ExpiryOption) {
    let &[_, key, amount, value] = arguments else {
        return resp::wrong_arity(out, command.as_bytes());
    };
    let Some(expires_at_ms) = absolute_expiry_for(command, option, amount, database.now_ms(), out) else {
        return;
    };
    database.insert(key, Entry { value: Value::String(value.to_vec()), expires_at_ms: Some(expires_at_ms) });
    resp::ok(out);
}

/// `SETNX key value`: 1 after setting the key (without expiry) when it was missing, 0 when it
/// exists, whatever its type.
pub(crate) fn setnx(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, value] = arguments else {
        return resp::wrong_arity(out, b"setnx");
    };
    if database.live(key).is_some() {
        return resp::integer(out, 0);
    }
    database.insert(key, Entry::persistent(Value::String(value.to_vec())));
    resp::integer(out, 1);
}

/// `GETSET key value`: the old value (null when missing) after setting the new one without
/// expiry; WRONGTYPE, writing nothing, when the old value is not a string.
pub(crate) fn getset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, value] = arguments else {
        return resp::wrong_arity(out, b"getset");
    };
    match live_string(database, key, out) {
        Ok(Some(old)) => resp::bulk(out, old),
        Ok(None) => resp::null(out),
        Err(()) => return,
    }
    database.insert(key, Entry::persistent(Value::String(value.to_vec())));
}

/// `GETEX key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|
/// PERSIST]`: the value (null when missing), after setting or removing its time to live as the
/// option says. As in Redis, the options are checked first, then the key, then the expiry's
/// argument; an expiry already in the past deletes the key after replying its value.
pub(crate) fn getex(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"getex");
    };
    let Some(expiry) = parse_getex_options(options) else {
        return resp::syntax_error(out);
    };
    let now_ms = database.now_ms();
    let Some(entry) = database.live(key) else {
        return resp::null(out);
    };
    let Value::String(value) = &entry.value else {
        return resp::wrong_type(out);
    };
    let mut reply = Vec::new();
    match expiry {
        GetExExpiry::Unchanged => {}
        GetExExpiry::Persist => entry.expires_at_ms = None,
        GetExExpiry::Set(option, argument) => match absolute_expiry_for("getex", option, argument, now_ms, out) {
            Some(expires_at_ms) => entry.expires_at_ms = Some(expires_at_ms),
            None => return,
        },
    }
    resp::bulk(&mut reply, value);
    if entry.is_expired_at(now_ms) {
        database.remove(key);
    }
    out.extend_from_slice(&reply);
}

/// `GETDEL key`: the value, deleting the key; null when missing; WRONGTYPE, deleting nothing, when
/// the value is not a string.
pub(crate) fn getdel(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"getdel");
    };
    match live_string(database, key, out) {
        Ok(Some(value)) => resp::bulk(out, value),
        Ok(None) => return resp::null(out),
        Err(()) => return,
    }
    database.remove(key);
}

/// `INCRBYFLOAT key increment`: adds a float to the float stored at `key` (a missing key counts as
/// 0, and is created without expiry) and replies with the result as a bulk string. The key keeps
/// its time to live.
pub(crate) fn incrbyfloat(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, increment] = arguments else {
        return resp::wrong_arity(out, b"incrbyfloat");
    };
    // As in Redis, the type is checked before the increment is read.
    if live_string(database, key, out).is_err() {
        return;
    }
    if kv_common::long_double::parse_long_double(increment).is_none() {
        return resp::error(out, "ERR value is not a valid float");
    }
    match live_string(database, key, out) {
        Ok(Some(value)) => strings::add_to_float(value, increment, out),
        Ok(None) => {
            let mut value = b"0".to_vec();
            let mut reply = Vec::new();
            strings::add_to_float(&mut value, increment, &mut reply);
            // Only an infinite increment fails on 0, and then nothing is written.
            if reply.first() == Some(&b'$') {
                database.insert(key, Entry::persistent(Value::String(value)));
            }
            out.extend_from_slice(&reply);
        }
        Err(()) => {}
    }
}

/// `MSETNX key value [key value ...]`: 1 after setting every pair without expiry when none of the
/// keys exists, 0 (setting nothing) when any does; an odd count of arguments is a wrong arity.
pub(crate) fn msetnx(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let pairs = arguments.get(1..).unwrap_or_default();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::wrong_arity(out, b"msetnx");
    }
    if pairs.iter().step_by(2).any(|key| database.live(key).is_some()) {
        return resp::integer(out, 0);
    }
    for pair in pairs.chunks_exact(2) {
        if let &[key, value] = pair {
            database.insert(key, Entry::persistent(Value::String(value.to_vec())));
        }
    }
    resp::integer(out, 1);
}

/// `SETRANGE key offset value`: overwrites the string from `offset` on (padding with zero bytes)
/// and replies with its new length; a missing key is created (without expiry) unless `value` is
/// empty. The key keeps its time to live.
pub(crate) fn setrange(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, offset, replacement] = arguments else {
        return resp::wrong_arity(out, b"setrange");
    };
    let Some(offset) = strings::parse_offset(offset, out) else {
        return;
    };
    match live_string(database, key, out) {
        Ok(Some(value)) if replacement.is_empty() => resp::count(out, value.len()),
        Ok(Some(value)) => {
            if !strings::refuses_length(offset, replacement.len(), out) {
                strings::overwrite_range(value, offset, replacement, out);
            }
        }
        Ok(None) if replacement.is_empty() => resp::count(out, 0),
        Ok(None) => {
            if !strings::refuses_length(offset, replacement.len(), out) {
                let mut value = Vec::new();
                strings::overwrite_range(&mut value, offset, replacement, out);
                database.insert(key, Entry::persistent(Value::String(value)));
            }
        }
        Err(()) => {}
    }
}

/// `GETRANGE key start end` and its old name `SUBSTR` (`command` in lowercase): the bytes from
/// `start` to `end`, both included, negative counting from the end; empty when the key is missing.
pub(crate) fn getrange(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8]) {
    let &[_, key, start, end] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let (Some(start), Some(end)) = (kv_common::parse_integer(start), kv_common::parse_integer(end)) else {
        return resp::not_an_integer(out);
    };
    match live_string(database, key, out) {
        Ok(Some(value)) => resp::bulk(out, strings::byte_range(value, start, end)),
        Ok(None) => resp::bulk(out, b""),
        Err(()) => {}
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common subsequence of
/// two strings, as `kv_common::strings::longest_common_subsequence` replies it; a missing key is the
/// empty string, and a key of another type is Redis's error (checked before the options).
pub(crate) fn lcs(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, first_key, second_key, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"lcs");
    };
    let mut string_at = |key: &[u8]| match database.live(key).map(|entry| &entry.value) {
        Some(Value::String(value)) => Some(value.clone()),
        Some(Value::List(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => None,
        None => Some(Vec::new()),
    };
    let (Some(first), Some(second)) = (string_at(first_key), string_at(second_key)) else {
        return resp::error(out, "ERR The specified keys must contain string values");
    };
    let Some(options) = strings::parse_lcs_options(options, out) else {
        return;
    };
    strings::longest_common_subsequence(&first, &second, options, out);
}
