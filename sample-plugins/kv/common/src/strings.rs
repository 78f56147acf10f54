//! The parts of the string commands that do not depend on how a version stores its values: SET's
//! options, the arguments of INCR and its kin, integer arithmetic on a stored string, and APPEND's
//! size limit.

use kv_interface::resp;

use crate::long_double::{Parsed, parse_long_double};
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
        let expiry_option = expiry_option_named(option);
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

/// The expiry option `option` names (EX, PX, EXAT or PXAT, in any ASCII case), if any.
#[must_use]
pub fn expiry_option_named(option: &[u8]) -> Option<ExpiryOption> {
    if option.eq_ignore_ascii_case(b"ex") {
        Some(ExpiryOption::Seconds)
    } else if option.eq_ignore_ascii_case(b"px") {
        Some(ExpiryOption::Milliseconds)
    } else if option.eq_ignore_ascii_case(b"exat") {
        Some(ExpiryOption::UnixSeconds)
    } else if option.eq_ignore_ascii_case(b"pxat") {
        Some(ExpiryOption::UnixMilliseconds)
    } else {
        None
    }
}

/// What a GETEX does with the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetExExpiry<'a> {
    /// Leave it (no option).
    Unchanged,
    /// Remove it (`PERSIST`).
    Persist,
    /// Set it from an option and its argument.
    Set(ExpiryOption, &'a [u8]),
}

/// Parses the options of a GETEX as Redis 7 does: at most one kind of EX, PX, EXAT, PXAT and
/// PERSIST (the same one may repeat; the last one counts). `None` means a syntax error.
#[must_use]
pub fn parse_getex_options<'a>(options: &[&'a [u8]]) -> Option<GetExExpiry<'a>> {
    let mut parsed = GetExExpiry::Unchanged;
    let mut index = 0;
    while let Some(&option) = options.get(index) {
        if option.eq_ignore_ascii_case(b"persist") && matches!(parsed, GetExExpiry::Unchanged | GetExExpiry::Persist) {
            parsed = GetExExpiry::Persist;
        } else if let (Some(expiry_option), Some(&argument)) = (expiry_option_named(option), options.get(index + 1)) {
            match parsed {
                GetExExpiry::Unchanged => {}
                GetExExpiry::Set(previous, _) if previous == expiry_option => {}
                GetExExpiry::Set(..) | GetExExpiry::Persist => return None,
            }
            parsed = GetExExpiry::Set(expiry_option, argument);
            index += 1;
        } else {
            return None;
        }
        index += 1;
    }
    Some(parsed)
}

/// Turns the argument of SET's expiry option into an absolute expiry, as
/// [`absolute_expiry_for`] does for the command `set`.
pub fn absolute_expiry(option: ExpiryOption, argument: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Option<u64> {
    absolute_expiry_for("set", option, argument, now_ms, out)
}

/// Turns the argument of an expiry option of `command` (SET, SETEX, PSETEX, GETEX, in lowercase)
/// into an absolute expiry in milliseconds since the Unix epoch, with Redis's errors (written to
/// `out`, returning `None`): not an integer, or not positive, or overflowing.
pub fn absolute_expiry_for(command: &str, option: ExpiryOption, argument: &[u8], now_ms: u64, out: &mut Vec<u8>) -> Option<u64> {
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
        resp::error(out, &format!("ERR invalid expire time in '{command}' command"));
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
/// The bytes of `value` from `start` to `end` (both included, negative counting from the end), as
/// GETRANGE and SUBSTR reply them in Redis 7.0: empty when both are negative and `start` is after
/// `end`, when the range is empty, or when `value` is.
#[must_use]
pub fn byte_range(value: &[u8], start: i64, end: i64) -> &[u8] {
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let length = i64::try_from(value.len()).unwrap_or(i64::MAX);
    let resolve = |index: i64| if index < 0 { length.saturating_add(index).max(0) } else { index };
    let (start, end) = (resolve(start), resolve(end).min(length - 1));
    if start > end || length == 0 {
        return &[];
    }
    let (Ok(start), Ok(end)) = (usize::try_from(start), usize::try_from(end)) else {
        return &[];
    };
    value.get(start..=end).unwrap_or_default()
}

/// Reads the offset of `SETRANGE key offset value`: Redis's errors (written to `out`, returning
/// `None`) for an offset that is not an integer, or is negative.
pub fn parse_offset(argument: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let Some(offset) = parse_integer(argument) else {
        resp::not_an_integer(out);
        return None;
    };
    let Ok(offset) = usize::try_from(offset) else {
        resp::error(out, "ERR offset is out of range");
        return None;
    };
    Some(offset)
}

/// Whether a string of `offset + length` bytes would exceed [`MAXIMUM_STRING_LENGTH`]; if so,
/// writes Redis's error to `out`.
pub fn refuses_length(offset: usize, length: usize, out: &mut Vec<u8>) -> bool {
    let refused = offset.saturating_add(length) > MAXIMUM_STRING_LENGTH;
    if refused {
        resp::error(out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    refused
}

/// Overwrites `value` with `replacement` from `offset` on, padding with zero bytes where `value`
/// is shorter than `offset`, and replies with the new length (SETRANGE). The caller has checked
/// the size with [`refuses_length`].
pub fn overwrite_range(value: &mut Vec<u8>, offset: usize, replacement: &[u8], out: &mut Vec<u8>) {
    let end = offset + replacement.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(replacement);
    resp::count(out, value.len());
}

/// Adds the float `increment` (as the client wrote it) to the float stored in `value`
/// (INCRBYFLOAT), writing the result back, and replies with it as a bulk string. As Redis does, it
/// reads both as a long double (`strtold`: infinities accepted, NaN refused), adds them with one
/// rounding and writes the sum with `%.17Lf`, trailing zeros trimmed ([`crate::long_double`]), so
/// that `0.1 + 0.2` is `0.3` and every digit agrees with Redis. A value that is not a float, or a
/// sum that is not finite, leaves `value` as it was and replies the error.
pub fn add_to_float(value: &mut Vec<u8>, increment: &[u8], out: &mut Vec<u8>) {
    let (Some(current), Some(increment)) = (parse_long_double(value), parse_long_double(increment)) else {
        return resp::error(out, "ERR value is not a valid float");
    };
    let sum = match (current, increment) {
        (Parsed::Finite(current), Parsed::Finite(increment)) => current.checked_add(increment),
        _ => None,
    };
    let Some(sum) = sum else {
        return resp::error(out, "ERR increment would produce NaN or Infinity");
    };
    *value = format_long_double(sum).into_bytes();
    resp::bulk(out, value);
}

/// The options of `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LcsOptions {
    /// LEN: reply with the length only.
    pub length_only: bool,
    /// IDX: reply with the matching ranges.
    pub ranges: bool,
    /// MINMATCHLEN: the shortest range IDX lists (0 lists all).
    pub minimum_match_length: u64,
    /// WITHMATCHLEN: each range comes with its length.
    pub with_match_length: bool,
}

/// Parses LCS's options as Redis 7.0 does (a negative MINMATCHLEN counts as 0; LEN with IDX is an
/// error). On an error, writes it to `out` and returns `None`.
pub fn parse_lcs_options(options: &[&[u8]], out: &mut Vec<u8>) -> Option<LcsOptions> {
    let mut parsed = LcsOptions::default();
    let mut options = options.iter();
    while let Some(option) = options.next() {
        if option.eq_ignore_ascii_case(b"idx") {
            parsed.ranges = true;
        } else if option.eq_ignore_ascii_case(b"len") {
            parsed.length_only = true;
        } else if option.eq_ignore_ascii_case(b"withmatchlen") {
            parsed.with_match_length = true;
        } else if option.eq_ignore_ascii_case(b"minmatchlen")
            && let Some(length) = options.next()
        {
            let Some(length) = parse_integer(length) else {
                resp::not_an_integer(out);
                return None;
            };
            parsed.minimum_match_length = u64::try_from(length).unwrap_or(0);
        } else {
            resp::syntax_error(out);
            return None;
        }
    }
    if parsed.ranges && parsed.length_only {
        resp::error(out, "ERR If you want both the length and indexes, please just use IDX.");
        return None;
    }
    Some(parsed)
}

/// Replies to LCS on the strings `first` and `second` (a missing key is the empty string) as Redis
/// 7.0 does: the longest common subsequence, its length (LEN), or its matching ranges walked from
/// the end (IDX), with the table Redis builds and its limit on the table's size.
pub fn longest_common_subsequence(first: &[u8], second: &[u8], options: LcsOptions, out: &mut Vec<u8>) {
    let (first_length, second_length) = (first.len(), second.len());
    let width = second_length + 1;
    let cells = (first_length + 1).checked_mul(width);
    if cells.is_none_or(|cells| cells.saturating_mul(4) > MAXIMUM_STRING_LENGTH) {
        return resp::error(out, "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    // `table[i * width + j]` is the length of the LCS of `first[..i]` and `second[..j]`.
    let mut table = vec![0_u32; cells.unwrap_or_default()];
    for i in 1..=first_length {
        for j in 1..=second_length {
            table[i * width + j] = if first[i - 1] == second[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let length = table[first_length * width + second_length];
    if options.length_only && !options.ranges {
        return resp::integer(out, i64::from(length));
    }
    let mut subsequence = vec![0_u8; length as usize];
    let mut ranges = Vec::new();
    let mut range_count = 0;
    // No range is open while `first_start == first_length`, as in Redis.
    let (mut first_start, mut first_end, mut second_start, mut second_end) = (first_length, 0, 0, 0);
    let (mut i, mut j, mut remaining) = (first_length, second_length, length as usize);
    while i > 0 && j > 0 {
        let mut emit_range = false;
        if first[i - 1] == second[j - 1] {
            subsequence[remaining - 1] = first[i - 1];
            if first_start == first_length {
                (first_start, first_end, second_start, second_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if first_start == i && second_start == j {
                first_start -= 1;
                second_start -= 1;
            } else {
                emit_range = true;
            }
            if first_start == 0 || second_start == 0 {
                emit_range = true;
            }
            remaining -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit_range |= first_start != first_length;
        }
        if emit_range {
            let match_length = first_end - first_start + 1;
            if options.minimum_match_length == 0 || match_length as u64 >= options.minimum_match_length {
                resp::array_header(&mut ranges, if options.with_match_length { 3 } else { 2 });
                for (start, end) in [(first_start, first_end), (second_start, second_end)] {
                    resp::array_header(&mut ranges, 2);
                    resp::count(&mut ranges, start);
                    resp::count(&mut ranges, end);
                }
                if options.with_match_length {
                    resp::count(&mut ranges, match_length);
                }
                range_count += 1;
            }
            first_start = first_length;
        }
    }
    if options.ranges {
        resp::array_header(out, 4);
        resp::bulk(out, b"matches");
        resp::array_header(out, range_count);
        out.extend_from_slice(&ranges);
        resp::bulk(out, b"len");
        resp::integer(out, i64::from(length));
    } else {
        resp::bulk(out, &subsequence);
    }
}

#[cfg(test)]
mod tests {
    use super::{add_to_float, byte_range};

    #[test]
    fn float_increments_add_in_a_long_double_as_redis_does() {
        for (first, second, expected) in [
            ("0.1", "0.2", "0.3"),
            ("0", "3.0e3", "3000"),
            ("0.1", "1e-17", "0.10000000000000001"),
            ("0.1", "1e-20", "0.1"),
            ("1", "-1", "0"),
            ("-0.5", "0.25", "-0.25"),
            ("0", ".5", "0.5"),
            ("0", "5.", "5"),
            ("0", "+1E+5", "100000"),
            ("0", "-4e-18", "0"),
            ("0", "1e20", "100000000000000000000"),
            ("0", "5.0e-324", "0"),
            ("3000", "1.5e-5", "3000.0000150000000001"),
            ("0", "inf", "-ERR increment would produce NaN or Infinity"),
            ("inf", "1", "-ERR increment would produce NaN or Infinity"),
            ("x", "1", "-ERR value is not a valid float"),
            ("0", "nan", "-ERR value is not a valid float"),
        ] {
            let (mut value, mut reply) = (first.as_bytes().to_vec(), Vec::new());
            add_to_float(&mut value, second.as_bytes(), &mut reply);
            let expected_reply =
                if expected.starts_with("-ERR") { format!("{expected}\r\n") } else { format!("${}\r\n{expected}\r\n", expected.len()) };
            assert_eq!(String::from_utf8_lossy(&reply), expected_reply, "{first} + {second}");
            let expected_value = if expected.starts_with("-ERR") { first } else { expected };
            assert_eq!(String::from_utf8_lossy(&value), expected_value, "{first} + {second} leaves the value");
        }
    }

    #[test]
    fn byte_ranges_follow_redis_7_0() {
        assert_eq!(byte_range(b"hello", 0, -1), b"hello");
        assert_eq!(byte_range(b"hello", -3, -1), b"llo");
        assert_eq!(byte_range(b"hello", -1, -3), b"");
        assert_eq!(byte_range(b"hello", 3, 100), b"lo");
        assert_eq!(byte_range(b"", 0, -1), b"");
        assert_eq!(byte_range(b"hello", i64::MIN, i64::MAX), b"hello");
    }
}
