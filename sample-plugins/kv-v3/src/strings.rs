//! The string commands: GET, SET (with NX, XX, GET and the expiry options), INCR, INCRBY, DECR,
//! DECRBY, MGET, MSET, APPEND and STRLEN. All but SET and MSET (which replace a value of any type)
//! reply WRONGTYPE on a list or a hash; MGET replies null for them, as Redis does.

use kv_interface::resp;

use crate::arguments::{MAXIMUM_STRING_LENGTH, count, parse_redis_integer};
use crate::database::{Database, Entry, Value};

/// `GET key`: the value, or null when the key is missing or has expired.
pub(crate) fn get(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"get");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::String(value)) => resp::bulk(out, value),
        Some(Value::List(_) | Value::Hash(_)) => resp::wrong_type(out),
        None => resp::null(out),
    }
}

/// The condition of a SET: NX (only when the key is missing) or XX (only when it exists).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetCondition {
    IfMissing,
    IfExists,
}

/// How a SET option gives the expiry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryOption {
    /// `EX seconds`, from now.
    Seconds,
    /// `PX milliseconds`, from now.
    Milliseconds,
    /// `EXAT unix-time-seconds`.
    UnixSeconds,
    /// `PXAT unix-time-milliseconds`.
    UnixMilliseconds,
}

/// What a SET does with the key's time to live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryChoice<'a> {
    /// Remove it (the default).
    Clear,
    /// Keep it (`KEEPTTL`).
    Keep,
    /// Set it from an option and its argument.
    Set(ExpiryOption, &'a [u8]),
}

/// The options of a SET.
struct SetOptions<'a> {
    condition: Option<SetCondition>,
    reply_with_old_value: bool,
    expiry: ExpiryChoice<'a>,
}

/// Parses the options of a SET as Redis 7 does: NX and XX exclude each other, KEEPTTL and the four
/// expiry options exclude each other (the same expiry option may repeat; the last one counts), and
/// an expiry option without its argument is a syntax error.
fn parse_set_options<'a>(options: &[&'a [u8]]) -> Option<SetOptions<'a>> {
    let mut parsed = SetOptions { condition: None, reply_with_old_value: false, expiry: ExpiryChoice::Clear };
    let mut index = 0;
    while let Some(&option) = options.get(index) {
        let next = options.get(index + 1).copied();
        let expiry_option = if option.eq_ignore_ascii_case(b"ex") {
            Some(ExpiryOption::Seconds)
        } else if option.eq_ignore_ascii_case(b"px") {
            Some(ExpiryOption::Milliseconds)
        } else if option.eq_ignore_ascii_case(b"exat") {
            Some(ExpiryOption::UnixSeconds)
        } else if option.eq_ignore_ascii_case(b"pxat") {
            Some(ExpiryOption::UnixMilliseconds)
        } else {
            None
        };
        if option.eq_ignore_ascii_case(b"nx") && parsed.condition != Some(SetCondition::IfExists) {
            parsed.condition = Some(SetCondition::IfMissing);
        } else if option.eq_ignore_ascii_case(b"xx") && parsed.condition != Some(SetCondition::IfMissing) {
            parsed.condition = Some(SetCondition::IfExists);
        } else if option.eq_ignore_ascii_case(b"get") {
            parsed.reply_with_old_value = true;
        } else if option.eq_ignore_ascii_case(b"keepttl") && matches!(parsed.expiry, ExpiryChoice::Clear | ExpiryChoice::Keep) {
            parsed.expiry = ExpiryChoice::Keep;
        } else if let (Some(expiry_option), Some(argument)) = (expiry_option, next) {
            match parsed.expiry {
                ExpiryChoice::Clear => {}
                ExpiryChoice::Set(previous, _) if previous == expiry_option => {}
                ExpiryChoice::Set(..) | ExpiryChoice::Keep => return None,
            }
            parsed.expiry = ExpiryChoice::Set(expiry_option, argument);
            index += 1;
        } else {
            return None;
        }
        index += 1;
    }
    Some(parsed)
}

/// Turns the argument of an expiry option into an absolute expiry in milliseconds since the Unix
/// epoch, with Redis's errors: not an integer, or not positive, or overflowing.
fn absolute_expiry(option: ExpiryOption, argument: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Option<u64> {
    let Some(amount) = parse_redis_integer(argument) else {
        resp::not_an_integer(out);
        return None;
    };
    let compute_absolute = || -> Option<u64> {
        if amount <= 0 {
            return None;
        }
        let milliseconds = match option {
            ExpiryOption::Seconds | ExpiryOption::UnixSeconds => amount.checked_mul(1000)?,
            ExpiryOption::Milliseconds | ExpiryOption::UnixMilliseconds => amount,
        };
        let absolute = match option {
            ExpiryOption::Seconds | ExpiryOption::Milliseconds => milliseconds.checked_add(i64::try_from(now_ms).ok()?)?,
            ExpiryOption::UnixSeconds | ExpiryOption::UnixMilliseconds => milliseconds,
        };
        u64::try_from(absolute).ok()
    };
    let absolute = compute_absolute();
    if absolute.is_none() {
        resp::error(out, "ERR invalid expire time in 'set' command");
    }
    absolute
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
            Some(Value::List(_) | Value::Hash(_)) => return resp::wrong_type(out),
            None => resp::null(out),
        }
    }
    let blocked = match options.condition {
        Some(SetCondition::IfMissing) => existing.is_some(),
        Some(SetCondition::IfExists) => existing.is_none(),
        None => false,
    };
    if blocked {
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

/// `INCR key`.
pub(crate) fn incr(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"incr");
    };
    increment_by(database, key, 1, out);
}

/// `DECR key`.
pub(crate) fn decr(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"decr");
    };
    increment_by(database, key, -1, out);
}

/// `INCRBY key increment`.
pub(crate) fn incrby(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, increment] = arguments else {
        return resp::wrong_arity(out, b"incrby");
    };
    let Some(increment) = parse_redis_integer(increment) else {
        return resp::not_an_integer(out);
    };
    increment_by(database, key, increment, out);
}

/// `DECRBY key decrement`. Decrementing by the smallest `i64` cannot be negated, which Redis 7
/// reports before looking at the key.
pub(crate) fn decrby(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, decrement] = arguments else {
        return resp::wrong_arity(out, b"decrby");
    };
    let Some(decrement) = parse_redis_integer(decrement) else {
        return resp::not_an_integer(out);
    };
    let Some(increment) = decrement.checked_neg() else {
        return resp::error(out, "ERR decrement would overflow");
    };
    increment_by(database, key, increment, out);
}

/// Adds `increment` to the integer stored at `key` (a missing key counts as 0, and is created
/// without expiry) and replies with the result. The key keeps its time to live.
fn increment_by(database: &mut Database, key: &[u8], increment: i64, out: &mut Vec<u8>) {
    let value = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::String(value)) => value,
        Some(Value::List(_) | Value::Hash(_)) => return resp::wrong_type(out),
        None => {
            database.insert(key, Entry::persistent(Value::String(increment.to_string().into_bytes())));
            return resp::integer(out, increment);
        }
    };
    let Some(current) = parse_redis_integer(value) else {
        return resp::not_an_integer(out);
    };
    let Some(updated) = current.checked_add(increment) else {
        return resp::error(out, "ERR increment or decrement would overflow");
    };
    *value = updated.to_string().into_bytes();
    resp::integer(out, updated);
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
            Some(Value::List(_) | Value::Hash(_)) | None => resp::null(out),
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
        Some(Value::List(_) | Value::Hash(_)) => return resp::wrong_type(out),
        None => {
            database.insert(key, Entry::persistent(Value::String(suffix.to_vec())));
            return count(out, suffix.len());
        }
    };
    if value.len().saturating_add(suffix.len()) > MAXIMUM_STRING_LENGTH {
        return resp::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    value.extend_from_slice(suffix);
    count(out, value.len());
}

/// `STRLEN key`: the length of the value, 0 when the key is missing.
pub(crate) fn strlen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"strlen");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::String(value)) => count(out, value.len()),
        Some(Value::List(_) | Value::Hash(_)) => resp::wrong_type(out),
        None => count(out, 0),
    }
}
