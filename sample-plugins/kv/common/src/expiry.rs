//! The expiry commands, which do not depend on how a version stores its values: the commands'
//! units and bases, parsing EXPIRE and its kin with their conditions, the arithmetic of TTL and its
//! kin, and the commands themselves on a [`Database`] of any value type: EXPIRE, PEXPIRE,
//! EXPIREAT, PEXPIREAT (with NX, XX, GT and LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME and PERSIST.

use kv_interface::resp;

use crate::database::Database;
use crate::parse_integer;

/// The unit an expiry command takes or reports its time in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Milliseconds.
    Milliseconds,
}

/// Whether an expiry command takes a time to live (from now) or an absolute Unix time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// A time to live, from now.
    Now,
    /// A Unix time.
    UnixEpoch,
}

/// What a TTL-like command reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// The time left.
    TimeToLive,
    /// The absolute expiry.
    ExpiryTime,
}

/// A command that sets a key's expiry.
#[derive(Clone, Copy, Debug)]
pub struct SetExpiry {
    /// The command's name in lowercase, for error messages.
    pub name: &'static [u8],
    /// Whether the time is from now or from the Unix epoch.
    pub base: Base,
    /// The unit of the time.
    pub unit: Unit,
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`.
pub const EXPIRE: SetExpiry = SetExpiry { name: b"expire", base: Base::Now, unit: Unit::Seconds };
/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`.
pub const PEXPIRE: SetExpiry = SetExpiry { name: b"pexpire", base: Base::Now, unit: Unit::Milliseconds };
/// `EXPIREAT key unix-time-seconds [NX|XX|GT|LT]`.
pub const EXPIREAT: SetExpiry = SetExpiry { name: b"expireat", base: Base::UnixEpoch, unit: Unit::Seconds };
/// `PEXPIREAT key unix-time-milliseconds [NX|XX|GT|LT]`.
pub const PEXPIREAT: SetExpiry = SetExpiry { name: b"pexpireat", base: Base::UnixEpoch, unit: Unit::Milliseconds };

/// The conditions an expiry command may carry.
#[derive(Clone, Copy, Debug, Default)]
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

/// An expiry command whose arguments are valid: the key, the conditions and the new expiry.
#[derive(Clone, Copy, Debug)]
pub struct ExpiryRequest<'a> {
    /// The key whose expiry to set.
    pub key: &'a [u8],
    conditions: ExpiryConditions,
    /// The new expiry, in milliseconds since the Unix epoch (it may be negative).
    when_ms: i64,
    /// The time the command runs at, in milliseconds since the Unix epoch.
    now_ms: i64,
}

impl SetExpiry {
    /// Reads the arguments of the command as Redis 7's `expireGenericCommand` does, running at
    /// `now_ms`. On an error (arity, option, conflicting conditions, not an integer, overflow)
    /// writes it to `out` and returns `None`.
    pub fn parse<'a>(&self, arguments: &[&'a [u8]], now_ms: u64, out: &mut Vec<u8>) -> Option<ExpiryRequest<'a>> {
        let &[_, key, amount, ref options @ ..] = arguments else {
            resp::wrong_arity(out, self.name);
            return None;
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
                resp::error(out, &format!("ERR Unsupported option {}", String::from_utf8_lossy(option)));
                return None;
            }
        }
        if conditions.only_without_expiry && (conditions.only_with_expiry || conditions.only_later || conditions.only_earlier) {
            resp::error(out, "ERR NX and XX, GT or LT options at the same time are not compatible");
            return None;
        }
        if conditions.only_later && conditions.only_earlier {
            resp::error(out, "ERR GT and LT options at the same time are not compatible");
            return None;
        }
        // `parse_integer` accepts only the canonical spelling, as Redis's `string2ll` does.
        let Some(amount) = parse_integer(amount) else {
            resp::not_an_integer(out);
            return None;
        };
        let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let milliseconds = match self.unit {
            Unit::Seconds => amount.checked_mul(1000),
            Unit::Milliseconds => Some(amount),
        };
        let when_ms = milliseconds.and_then(|milliseconds| match self.base {
            Base::Now => milliseconds.checked_add(now_ms),
            Base::UnixEpoch => Some(milliseconds),
        });
        let Some(when_ms) = when_ms else {
            resp::error(out, &format!("ERR invalid expire time in '{}' command", String::from_utf8_lossy(self.name)));
            return None;
        };
        Some(ExpiryRequest { key, conditions, when_ms, now_ms })
    }
}

impl ExpiryRequest<'_> {
    /// Whether the conditions refuse the change, given the key's current expiry (in milliseconds
    /// since the Unix epoch, `None` without expiry); the command then replies `:0`.
    #[must_use]
    pub fn refuses(&self, current_expires_at_ms: Option<u64>) -> bool {
        let current_ms = current_expires_at_ms.map(|expires_at_ms| i64::try_from(expires_at_ms).unwrap_or(i64::MAX));
        let conditions = self.conditions;
        (conditions.only_without_expiry && current_ms.is_some())
            || (conditions.only_with_expiry && current_ms.is_none())
            || (conditions.only_later && current_ms.is_none_or(|current_ms| self.when_ms <= current_ms))
            || (conditions.only_earlier && current_ms.is_some_and(|current_ms| self.when_ms >= current_ms))
    }

    /// The new expiry, or `None` when it is at or before now: then the key is deleted.
    #[must_use]
    pub fn expires_at_ms(&self) -> Option<u64> {
        (self.when_ms > self.now_ms).then_some(self.when_ms.unsigned_abs())
    }
}

/// A command that reports a key's expiry.
#[derive(Clone, Copy, Debug)]
pub struct ReportExpiry {
    /// The command's name in lowercase, for error messages.
    pub name: &'static [u8],
    /// Whether it reports the time left or the absolute expiry.
    pub report: Report,
    /// The unit it reports in.
    pub unit: Unit,
}

/// `TTL key`: seconds left (rounded), -1 without expiry, -2 when missing.
pub const TTL: ReportExpiry = ReportExpiry { name: b"ttl", report: Report::TimeToLive, unit: Unit::Seconds };
/// `PTTL key`: milliseconds left, -1 without expiry, -2 when missing.
pub const PTTL: ReportExpiry = ReportExpiry { name: b"pttl", report: Report::TimeToLive, unit: Unit::Milliseconds };
/// `EXPIRETIME key`: the expiry as a Unix time in seconds, -1 without expiry, -2 when missing.
pub const EXPIRETIME: ReportExpiry = ReportExpiry { name: b"expiretime", report: Report::ExpiryTime, unit: Unit::Seconds };
/// `PEXPIRETIME key`: the expiry as a Unix time in milliseconds, -1 without expiry, -2 when missing.
pub const PEXPIRETIME: ReportExpiry = ReportExpiry { name: b"pexpiretime", report: Report::ExpiryTime, unit: Unit::Milliseconds };

impl ReportExpiry {
    /// The key the command asks about; on a wrong arity, writes the error and returns `None`.
    pub fn parse<'a>(&self, arguments: &[&'a [u8]], out: &mut Vec<u8>) -> Option<&'a [u8]> {
        let &[_, key] = arguments else {
            resp::wrong_arity(out, self.name);
            return None;
        };
        Some(key)
    }

    /// Replies for a key that expires at `expires_at_ms`, as Redis's `ttlGenericCommand` does at
    /// `now_ms`: seconds are rounded to the nearest.
    pub fn reply(&self, expires_at_ms: u64, now_ms: u64, out: &mut Vec<u8>) {
        let milliseconds = match self.report {
            Report::TimeToLive => expires_at_ms.saturating_sub(now_ms),
            Report::ExpiryTime => expires_at_ms,
        };
        let milliseconds = i64::try_from(milliseconds).unwrap_or(i64::MAX);
        match self.unit {
            Unit::Milliseconds => resp::integer(out, milliseconds),
            Unit::Seconds => resp::integer(out, milliseconds.saturating_add(500) / 1000),
        }
    }
}

/// Sets a key's expiry as Redis 7's `expireGenericCommand` does: `:1` when set, `:0` when the key is
/// missing or a condition is not met. An expiry at or before now deletes the key (and replies `:1`).
pub fn set_expiry<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>, command: &SetExpiry) {
    let Some(request) = command.parse(arguments, database.now_ms(), out) else {
        return;
    };
    let Some(entry) = database.live(request.key) else {
        return resp::integer(out, 0);
    };
    if request.refuses(entry.expires_at_ms) {
        return resp::integer(out, 0);
    }
    match request.expires_at_ms() {
        Some(expires_at_ms) => entry.expires_at_ms = Some(expires_at_ms),
        None => {
            database.remove(request.key);
        }
    }
    resp::integer(out, 1);
}

/// Reports a key's expiry: -2 when the key is missing, -1 when it has no expiry.
pub fn report_expiry<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>, command: &ReportExpiry) {
    let Some(key) = command.parse(arguments, out) else {
        return;
    };
    let now_ms = database.now_ms();
    let Some(entry) = database.live(key) else {
        return resp::integer(out, -2);
    };
    let Some(expires_at_ms) = entry.expires_at_ms else {
        return resp::integer(out, -1);
    };
    command.reply(expires_at_ms, now_ms, out);
}

/// `PERSIST key`: removes the expiry; `:1` if there was one, `:0` otherwise or when missing.
pub fn persist<V>(database: &mut Database<V>, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"persist");
    };
    let removed = database.live(key).and_then(|entry| entry.expires_at_ms.take()).is_some();
    resp::integer(out, i64::from(removed));
}
