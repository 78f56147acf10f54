//! The expiry commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT and LT), TTL, PTTL,
//! EXPIRETIME, PEXPIRETIME and PERSIST.

use kv_interface::resp;

use crate::arguments::parse_redis_integer;
use crate::database::Database;

/// The unit an expiry command takes its time in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Seconds,
    Milliseconds,
}

/// Whether an expiry command takes a time to live (from now) or an absolute Unix time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Now,
    UnixEpoch,
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`.
pub(crate) fn expire(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    set_expiry(database, arguments, out, b"expire", Base::Now, Unit::Seconds);
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`.
pub(crate) fn pexpire(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    set_expiry(database, arguments, out, b"pexpire", Base::Now, Unit::Milliseconds);
}

/// `EXPIREAT key unix-time-seconds [NX|XX|GT|LT]`.
pub(crate) fn expireat(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    set_expiry(database, arguments, out, b"expireat", Base::UnixEpoch, Unit::Seconds);
}

/// `PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]`.
pub(crate) fn pexpireat(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    set_expiry(database, arguments, out, b"pexpireat", Base::UnixEpoch, Unit::Milliseconds);
}

/// The conditions an expiry command may carry.
#[derive(Default)]
struct ExpiryConditions {
    /// NX: only when the key has no expiry.
    only_without_expiry: bool,
    /// XX: only when the key has an expiry.
    only_with_expiry: bool,
    /// GT: only when the new expiry is later than the current one (no expiry counts as infinite).
    only_later: bool,
    /// LT: only when the new expiry is earlier than the current one.
    only_earlier: bool,
}

/// Sets a key's expiry as Redis 7's `expireGenericCommand` does: `:1` when set, `:0` when the key is
/// missing or a condition is not met. An expiry at or before now deletes the key (and replies `:1`).
fn set_expiry(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], base: Base, unit: Unit) {
    let &[_, key, amount, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let mut conditions = ExpiryConditions::default();
    for option in options {
        if option.eq_ignore_ascii_case(b"nx") {
            conditions.only_without_expiry = true;
        } else if option.eq_ignore_ascii_case(b"xx") {
            conditions.only_with_expiry = true;
        } else if option.eq_ignore_ascii_case(b"gt") {
            conditions.only_later = true;
        } else if option.eq_ignore_ascii_case(b"lt") {
            conditions.only_earlier = true;
        } else {
            return resp::error(out, &format!("ERR Unsupported option {}", String::from_utf8_lossy(option)));
        }
    }
    if conditions.only_without_expiry && (conditions.only_with_expiry || conditions.only_later || conditions.only_earlier) {
        return resp::error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if conditions.only_later && conditions.only_earlier {
        return resp::error(out, "ERR GT and LT options at the same time are not compatible");
    }
    let Some(amount) = parse_redis_integer(amount) else {
        return resp::not_an_integer(out);
    };
    let now_ms = i64::try_from(database.now_ms()).unwrap_or(i64::MAX);
    let milliseconds = match unit {
        Unit::Seconds => amount.checked_mul(1000),
        Unit::Milliseconds => Some(amount),
    };
    let when_ms = milliseconds.and_then(|milliseconds| match base {
        Base::Now => milliseconds.checked_add(now_ms),
        Base::UnixEpoch => Some(milliseconds),
    });
    let Some(when_ms) = when_ms else {
        return resp::error(out, &format!("ERR invalid expire time in '{}' command", String::from_utf8_lossy(command)));
    };
    let Some(entry) = database.live(key) else {
        return resp::integer(out, 0);
    };
    let current_ms = entry.expires_at_ms.map(|expires_at_ms| i64::try_from(expires_at_ms).unwrap_or(i64::MAX));
    let refused = (conditions.only_without_expiry && current_ms.is_some())
        || (conditions.only_with_expiry && current_ms.is_none())
        || (conditions.only_later && current_ms.is_none_or(|current_ms| when_ms <= current_ms))
        || (conditions.only_earlier && current_ms.is_some_and(|current_ms| when_ms >= current_ms));
    if refused {
        return resp::integer(out, 0);
    }
    if when_ms <= now_ms {
        database.remove(key);
    } else {
        entry.expires_at_ms = Some(when_ms.unsigned_abs());
    }
    resp::integer(out, 1);
}

/// What a TTL-like command reports.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Report {
    /// The time left.
    TimeToLive,
    /// The absolute expiry.
    ExpiryTime,
}

/// `TTL key`: seconds left (rounded), -1 without expiry, -2 when missing.
pub(crate) fn ttl(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    report_expiry(database, arguments, out, b"ttl", Report::TimeToLive, Unit::Seconds);
}

/// `PTTL key`: milliseconds left, -1 without expiry, -2 when missing.
pub(crate) fn pttl(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    report_expiry(database, arguments, out, b"pttl", Report::TimeToLive, Unit::Milliseconds);
}

/// `EXPIRETIME key`: the expiry as a Unix time in seconds, -1 without expiry, -2 when missing.
pub(crate) fn expiretime(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    report_expiry(database, arguments, out, b"expiretime", Report::ExpiryTime, Unit::Seconds);
}

/// `PEXPIRETIME key`: the expiry as a Unix time in milliseconds, -1 without expiry, -2 when missing.
pub(crate) fn pexpiretime(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    report_expiry(database, arguments, out, b"pexpiretime", Report::ExpiryTime, Unit::Milliseconds);
}

/// Reports a key's expiry as Redis's `ttlGenericCommand` does, seconds rounded to the nearest.
fn report_expiry(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], report: Report, unit: Unit) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let now_ms = database.now_ms();
    let Some(entry) = database.live(key) else {
        return resp::integer(out, -2);
    };
    let Some(expires_at_ms) = entry.expires_at_ms else {
        return resp::integer(out, -1);
    };
    let milliseconds = match report {
        Report::TimeToLive => expires_at_ms.saturating_sub(now_ms),
        Report::ExpiryTime => expires_at_ms,
    };
    let milliseconds = i64::try_from(milliseconds).unwrap_or(i64::MAX);
    match unit {
        Unit::Milliseconds => resp::integer(out, milliseconds),
        Unit::Seconds => resp::integer(out, milliseconds.saturating_add(500) / 1000),
    }
}

/// `PERSIST key`: removes the expiry; `:1` if there was one, `:0` otherwise or when missing.
pub(crate) fn persist(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"persist");
    };
    let removed = database.live(key).and_then(|entry| entry.expires_at_ms.take()).is_some();
    resp::integer(out, i64::from(removed));
}
