//! The parts of the string commands that do not depend on how a version stores its values: SET's
//! options, the arguments of INCR and its kin, integer arithmetic on a stored string, and APPEND's
//! size limit.

use kv_interface::resp;

use crate::parse_integer;

/// The largest string Redis accepts by default (`proto-max-bulk-len`, 512 MiB).
pub const MAXIMUM_STRING_LENGTH: usize = 512 * 1024 * 1024;

/// The condition of a SET: NX (only when the key is missing) or XX (only when it exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    /// NX.
    IfMissing,
    /// XX.
    IfExists,
}

/// How a SET option gives the expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryOption {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChoice<'a> {
    /// Remove it (the default).
    Clear,
    /// Keep it (`KEEPTTL`).
    Keep,
    /// Set it from an option and its argument.
    Set(ExpiryOption, &'a [u8]),
}

/// The options of a SET.
#[derive(Clone, Copy, Debug)]
pub struct SetOptions<'a> {
    /// NX or XX, if given.
    pub condition: Option<SetCondition>,
    /// GET: reply with the old value.
    pub reply_with_old_value: bool,
    /// What happens to the time to live.
    pub expiry: ExpiryChoice<'a>,
}

impl SetOptions<'_> {
    /// Whether the condition prevents the write, given whether the key exists.
    #[must_use]
    pub fn blocks(&self, exists: bool) -> bool {
        match self.condition {
            Some(SetCondition::IfMissing) => exists,
            Some(SetCondition::IfExists) => !exists,
            None => false,
        }
    }
}

/// Parses the options of a SET as Redis 7 does: NX and XX exclude each other, KEEPTTL and the four
/// expiry options exclude each other (the same expiry option may repeat; the last one counts), and
/// an expiry option without its argument is a syntax error. `None` means a syntax error.
#[must_use]
pub fn parse_set_options<'a>(options: &[&'a [u8]]) -> Option<SetOptions<'a>> {
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
/// epoch, with Redis's errors (written to `out`, returning `None`): not an integer, or not
/// positive, or overflowing.
pub fn absolute_expiry(option: ExpiryOption, argument: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Option<u64> {
    // `parse_integer` accepts only the canonical spelling, as Redis's `string2ll` does.
    let Some(amount) = parse_integer(argument) else {
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

/// Reads the arguments of `INCR key`, `DECR key`, `INCRBY key increment` or `DECRBY key
/// decrement` (`command` is the name in lowercase) and returns the key and the amount to add.
/// Decrementing by the smallest `i64` cannot be negated, which Redis 7 reports before looking at
/// the key. On an error, writes it to `out` and returns `None`.
pub fn parse_increment<'a>(command: &[u8], arguments: &[&'a [u8]], out: &mut Vec<u8>) -> Option<(&'a [u8], i64)> {
    let parse = |amount: &[u8], out: &mut Vec<u8>| {
        let parsed = parse_integer(amount);
        if parsed.is_none() {
            resp::not_an_integer(out);
        }
        parsed
    };
    match (command, arguments) {
        (b"incr", &[_, key]) => Some((key, 1)),
        (b"decr", &[_, key]) => Some((key, -1)),
        (b"incrby", &[_, key, increment]) => Some((key, parse(increment, out)?)),
        (b"decrby", &[_, key, decrement]) => {
            let decrement = parse(decrement, out)?;
            let Some(increment) = decrement.checked_neg() else {
                resp::error(out, "ERR decrement would overflow");
                return None;
            };
            Some((key, increment))
        }
        _ => {
            resp::wrong_arity(out, command);
            None
        }
    }
}

/// Adds `increment` to the integer stored in `value`, writing the result back, and replies with
/// it; a value that is not an integer, or an overflow, leaves `value` as it was and replies the
/// error.
pub fn add_to_integer(value: &mut Vec<u8>, increment: i64, out: &mut Vec<u8>) {
    let Some(current) = parse_integer(value) else {
        return resp::not_an_integer(out);
    };
    let Some(updated) = current.checked_add(increment) else {
        return resp::error(out, "ERR increment or decrement would overflow");
    };
    *value = updated.to_string().into_bytes();
    resp::integer(out, updated);
}

/// Appends `suffix` to an existing `value` and replies with the new length, unless the result
/// would exceed [`MAXIMUM_STRING_LENGTH`], which leaves `value` as it was and replies the error.
pub fn append_to(value: &mut Vec<u8>, suffix: &[u8], out: &mut Vec<u8>) {
    if value.len().saturating_add(suffix.len()) > MAXIMUM_STRING_LENGTH {
        return resp::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    value.extend_from_slice(suffix);
    resp::integer(out, i64::try_from(value.len()).unwrap_or(i64::MAX));
}

/// A long double as Redis writes it for INCRBYFLOAT and HINCRBYFLOAT (`%.17Lf`, without the
/// trailing zeros): see [`crate::long_double::format_long_double`], which this is.
pub use crate::long_double::format_long_double;
