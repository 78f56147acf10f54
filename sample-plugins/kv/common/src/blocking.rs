//! The blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX): which
//! commands block, where each names its timeout, and how Redis 7.0 reads a timeout.
//!
//! A kv version answers a blocking command as one non-blocking attempt: the element when there is
//! one, otherwise a null, as Redis runs them inside MULTI/EXEC (a null array, or a null bulk string
//! for BLMOVE and BRPOPLPUSH). `kv-server` makes the client wait, outside the plugin, and asks this
//! module which commands block and how long their timeout is; this is the one list of their names.
//! At a timeout, Redis (and `kv-server`) replies a null array to every one of them.

use kv_interface::resp;

use crate::long_double::{Parsed, parse_long_double};

/// The names of the blocking commands, in lowercase.
pub const BLOCKING_COMMAND_NAMES: [&[u8]; 7] = [b"blpop", b"brpop", b"blmove", b"brpoplpush", b"blmpop", b"bzpopmin", b"bzpopmax"];

/// Whether `name` (in any case) names a blocking command.
#[must_use]
pub fn is_blocking_command(name: &[u8]) -> bool {
    BLOCKING_COMMAND_NAMES.iter().any(|blocking_name| name.eq_ignore_ascii_case(blocking_name))
}

/// The timeout argument of a blocking command (its name first, then its arguments): the first
/// argument of BLMPOP, the last of the others. `None` when the command does not block or has no
/// argument at that place.
#[must_use]
pub fn timeout_argument<A: AsRef<[u8]>>(arguments: &[A]) -> Option<&[u8]> {
    let name = arguments.first()?.as_ref();
    if !is_blocking_command(name) {
        return None;
    }
    let timeout = if name.eq_ignore_ascii_case(b"blmpop") { arguments.get(1)? } else { arguments.get(1..)?.last()? };
    Some(timeout.as_ref())
}

/// The keys a blocking command waits on (its name first, then its arguments): every key of BLPOP,
/// BRPOP, BLMPOP, BZPOPMIN and BZPOPMAX, the source of BLMOVE and BRPOPLPUSH (a push to their
/// destination serves nobody). Empty for a command that does not block.
#[must_use]
pub fn keys_waited_on<'a>(arguments: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let Some(name) = arguments.first().filter(|name| is_blocking_command(name)) else {
        return Vec::new();
    };
    let mut keys = match crate::lazy::keys_touched(arguments) {
        crate::lazy::KeysTouched::Listed(keys) => keys,
        crate::lazy::KeysTouched::All => Vec::new(),
    };
    if name.eq_ignore_ascii_case(b"blmove") || name.eq_ignore_ascii_case(b"brpoplpush") {
        keys.truncate(1);
    }
    keys
}

/// Why a timeout argument is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutError {
    /// It is not a float (`ERR timeout is not a float or out of range`).
    NotAFloat,
    /// It is negative, or too large for Redis's milliseconds (`ERR timeout is negative`).
    Negative,
}

impl TimeoutError {
    /// The error Redis replies, without the leading `-`.
    #[must_use]
    pub fn message(self) -> &'static str {
        match self {
            TimeoutError::NotAFloat => "ERR timeout is not a float or out of range",
            TimeoutError::Negative => "ERR timeout is negative",
        }
    }
}

/// The keys of a command shaped `NAME key [key ...] timeout` (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX),
/// once its arity and its timeout are checked as Redis checks them; otherwise writes Redis's error
/// to `out` and returns `None`.
pub fn keys_before_timeout<'a, 'b>(arguments: &'b [&'a [u8]], command: &[u8], out: &mut Vec<u8>) -> Option<&'b [&'a [u8]]> {
    let [_, keys @ .., timeout] = arguments else {
        resp::wrong_arity(out, command);
        return None;
    };
    if keys.is_empty() {
        resp::wrong_arity(out, command);
        return None;
    }
    if let Err(error) = parse_timeout_milliseconds(timeout) {
        resp::error(out, error.message());
        return None;
    }
    Some(keys)
}

/// Reads a timeout in seconds as Redis 7.0 does (`getTimeoutFromObjectOrReply`): a long double,
/// times 1000 and rounded up to whole milliseconds. Returns the milliseconds, 0 meaning forever (as
/// from `0`, or `-0.0001`, which rounds up to 0). Like Redis on x86-64, an infinity or a number of
/// milliseconds beyond `i64` converts to `i64::MIN`, and is therefore called negative.
///
/// # Errors
/// [`TimeoutError`], as Redis words it.
pub fn parse_timeout_milliseconds(argument: &[u8]) -> Result<u64, TimeoutError> {
    match parse_long_double(argument) {
        None => Err(TimeoutError::NotAFloat),
        Some(Parsed::Infinite) => Err(TimeoutError::Negative),
        Some(Parsed::Finite(seconds)) => {
            seconds.thousandfold_ceiling().and_then(|milliseconds| u64::try_from(milliseconds).ok()).ok_or(TimeoutError::Negative)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_commands_name_their_timeout() {
        assert_eq!(timeout_argument(&["BLPOP", "a", "b", "0.5"]), Some(&b"0.5"[..]));
        assert_eq!(timeout_argument(&["bzpopmax", "z", "1"]), Some(&b"1"[..]));
        assert_eq!(timeout_argument(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "2"]), Some(&b"2"[..]));
        assert_eq!(timeout_argument(&["blmpop", "3", "1", "a", "LEFT"]), Some(&b"3"[..]));
        assert_eq!(timeout_argument(&["BLPOP"]), None);
        assert_eq!(timeout_argument(&["blmpop"]), None);
        assert_eq!(timeout_argument(&["LPOP", "a", "1"]), None);
        let waited_on = |command: &str| -> Vec<String> {
            let arguments: Vec<&[u8]> = command.split(' ').map(str::as_bytes).collect();
            keys_waited_on(&arguments).into_iter().map(|key| String::from_utf8_lossy(key).into_owned()).collect()
        };
        assert_eq!(waited_on("BLPOP a b 0"), ["a", "b"]);
        assert_eq!(waited_on("blmove source destination LEFT LEFT 0"), ["source"]);
        assert_eq!(waited_on("BRPOPLPUSH source destination 0"), ["source"]);
        assert_eq!(waited_on("blmpop 0 2 a b LEFT"), ["a", "b"]);
        assert_eq!(waited_on("LPOP a"), Vec::<String>::new());
        assert!(is_blocking_command(b"BrPopLPush"));
        assert!(!is_blocking_command(b"rpoplpush"));
    }

    #[test]
    fn timeouts_read_as_redis_7_0_reads_them() {
        assert_eq!(parse_timeout_milliseconds(b"0"), Ok(0));
        assert_eq!(parse_timeout_milliseconds(b"0.2"), Ok(200));
        assert_eq!(parse_timeout_milliseconds(b"0.0001"), Ok(1));
        assert_eq!(parse_timeout_milliseconds(b"-0.0001"), Ok(0));
        assert_eq!(parse_timeout_milliseconds(b"0x10"), Ok(16_000));
        assert_eq!(parse_timeout_milliseconds(b"-1"), Err(TimeoutError::Negative));
        assert_eq!(parse_timeout_milliseconds(b"inf"), Err(TimeoutError::Negative));
        assert_eq!(parse_timeout_milliseconds(b"1e30"), Err(TimeoutError::Negative));
        assert_eq!(parse_timeout_milliseconds(b"nan"), Err(TimeoutError::NotAFloat));
        assert_eq!(parse_timeout_milliseconds(b" 1"), Err(TimeoutError::NotAFloat));
        assert_eq!(parse_timeout_milliseconds(b""), Err(TimeoutError::NotAFloat));
    }
}
