//! What the kv plugin versions share: the plugin-side helpers whose behaviour does not depend on how
//! a version represents its values (of which `kv-server` uses only [`blocking`] and [`lazy`]'s
//! table of keys).
//!
//! - [`execute_batch`]: running a command batch, one reply per command.
//! - [`command`]: command names, read the way every version dispatches them.
//! - [`compat`]: the protocol-compatibility commands every version answers alike (PING, ECHO,
//!   SELECT, INFO, CONFIG, COMMAND, CLIENT).
//! - [`strings`]: the parts of the string commands that do not depend on the value type.
//! - [`database`]: the expiring database of the versions with expiry (v2 on), generic over the
//!   value a version stores, and [`keyspace`] and [`expiry`]: the commands that work on it
//!   whatever that value is.
//! - [`lazy`]: which keys a command touches, and moving their entries in during a lazy update.
//! - [`blocking`]: which commands block (BLPOP, ...), where their timeout is, and how Redis reads
//!   it; `kv-server` uses it too, with [`lazy::keys_touched`], to make clients wait and wake them.
//! - [`transaction`]: the plugin's half of MULTI/EXEC/WATCH (watched keys, queued commands).
//! - [`glob_match`], [`parse_integer`] and [`parse_cursor`]: Redis's glob patterns, integer
//!   arguments and SCAN cursors.
//!
//! The contract the server and every plugin agree on (the `Kv` interface, the batch encoding, the
//! RESP2 writer, the state schemas) stays in `kv-interface`. What differs between versions (the
//! value type, the commands on it, dispatch, state import and export) stays in each version.

#![forbid(unsafe_code)]

pub mod blocking;
pub mod command;
pub mod compat;
pub mod database;
pub mod expiry;
pub mod keyspace;
pub mod lazy;
pub mod long_double;
pub mod scan;
pub mod strings;
pub mod transaction;

use kv_interface::{decode_batch, resp};

/// Runs the commands of an encoded batch in order, each through `execute_command` (which appends
/// its one reply to the output), and returns the replies. A malformed command gets one error and
/// ends the batch; the commands before it have run.
pub fn execute_batch(batch: &[u8], mut execute_command: impl FnMut(&[&[u8]], &mut Vec<u8>)) -> Vec<u8> {
    let mut replies = Vec::new();
    for command in decode_batch(batch) {
        match command {
            Ok(arguments) => execute_command(&arguments, &mut replies),
            Err(_) => {
                resp::error(&mut replies, "ERR malformed command batch");
                break;
            }
        }
    }
    replies
}

/// Whether `text` matches the Redis glob `pattern` (`*`, `?`, `[abc]`, `[^a-z]`, `\\x`).
#[must_use]
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    /// Matches `byte` against a class; `pattern` starts after its '['. Returns whether it matched
    /// and the length of the class after the '[' (its ']' included). As in Redis, `\\x` is `x`,
    /// `a-z` is a range (whichever end is lower, and `a-]` too), and a class without its ']' runs
    /// to the end of the pattern.
    fn class(pattern: &[u8], byte: u8) -> (bool, usize) {
        let negate = pattern.first() == Some(&b'^');
        let mut index = usize::from(negate);
        let mut matched = false;
        loop {
            match pattern.get(index..).unwrap_or_default() {
                [] => break,
                [b'\\', escaped, ..] => {
                    matched |= *escaped == byte;
                    index += 2;
                }
                [b']', ..] => {
                    index += 1;
                    break;
                }
                [first, b'-', last, ..] => {
                    matched |= (*first.min(last)..=*first.max(last)).contains(&byte);
                    index += 3;
                }
                [single, ..] => {
                    matched |= *single == byte;
                    index += 1;
                }
            }
        }
        (matched != negate, index)
    }
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(b'?') => Some(1),
            Some(b'[') => {
                let (matched, length) = class(&pattern[p + 1..], text[t]);
                matched.then_some(length + 1)
            }
            Some(b'\\') if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(2),
            Some(&byte) => (byte == text[t]).then_some(1),
            None => None,
        };
        match step {
            Some(length) => {
                p += length;
                t += 1;
            }
            None => match backtrack {
                Some((star, position)) => {
                    p = star + 1;
                    t = position + 1;
                    backtrack = Some((star, position + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// Parses a Redis integer argument as Redis does: an `i64` in canonical decimal (no spaces, no `+`,
/// no leading zeros, no `-0`).
#[must_use]
pub fn parse_integer(argument: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(argument).ok()?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let canonical = match digits.as_bytes() {
        [] => false,
        [b'0'] => !text.starts_with('-'),
        [first, ..] => (b'1'..=b'9').contains(first),
    };
    if !canonical || text.len() > 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads a SCAN cursor as Redis does (C's `strtoul`): decimal digits after an optional sign, a
/// negative number wrapping around; `None` for anything else, or beyond `u64`. The empty string
/// is cursor 0, as in Redis.
#[must_use]
pub fn parse_cursor(argument: &[u8]) -> Option<u64> {
    let (negative, digits) = match argument {
        [] => return Some(0),
        [b'-', digits @ ..] => (true, digits),
        [b'+', digits @ ..] => (false, digits),
        digits => (false, digits),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().try_fold(0_u64, |value, &digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))?;
    Some(if negative { value.wrapping_neg() } else { value })
}

/// The positions `start` to `stop`, both included, of a sequence of `length` elements, clamped as
/// Redis clamps the indexes of LRANGE, LTRIM and ZRANGE (negative ones count from the end, -1 being
/// the last); `None` when they select nothing.
#[must_use]
pub fn clamp_index_range(start: i64, stop: i64, length: usize) -> Option<(usize, usize)> {
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    let start = if start < 0 { start.saturating_add(length).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(length) } else { stop.min(length - 1) };
    if start > stop || start >= length {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(stop).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_redis_does() {
        let check = |pattern: &str, text: &str, expected: bool| {
            assert_eq!(glob_match(pattern.as_bytes(), text.as_bytes()), expected, "{pattern} ~ {text}")
        };
        check("*", "anything", true);
        check("key:*", "key:1", true);
        check("key:*", "other", false);
        check("h?llo", "hello", true);
        check("h?llo", "hllo", false);
        check("h[ae]llo", "hallo", true);
        check("h[^e]llo", "hello", false);
        check("h[a-c]llo", "hbllo", true);
        check("a*b*c", "axxbyyc", true);
        check("a*b*c", "axxbyy", false);
        check("\\*", "*", true);
        // A class without its ']' runs to the end of the pattern, and `a-]` is a range, as in Redis.
        check("h[", "h[", false);
        check("h[ab", "ha", true);
        check("h[ab", "hb", true);
        check("[^", "x", true);
        check("[a-]", "_", true);
        check("[a-]", "b", false);
    }

    #[test]
    fn cursors_parse_as_strtoul_does() {
        for (cursor, expected) in [
            (&b"0"[..], Some(0)),
            (b"", Some(0)),
            (b"17", Some(17)),
            (b"+1", Some(1)),
            (b"01", Some(1)),
            (b"-1", Some(u64::MAX)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"1.0", None),
            (b"0x1", None),
            (b"-", None),
            (b" 1", None),
        ] {
            assert_eq!(parse_cursor(cursor), expected, "{}", String::from_utf8_lossy(cursor));
        }
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_integer(b"-42"), Some(-42));
        assert_eq!(parse_integer(b"+1"), None);
        assert_eq!(parse_integer(b" 1"), None);
        assert_eq!(parse_integer(b"9223372036854775808"), None);
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b"007"), None);
        assert_eq!(parse_integer(b"-0"), None);
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for rejected in [&b""[..], b"-", b"-0", b"007", b"+1", b" 1", b"1 ", b"1.5", b"9223372036854775808", b"\xff"] {
            assert_eq!(parse_integer(rejected), None, "{}", String::from_utf8_lossy(rejected));
        }
    }
}
