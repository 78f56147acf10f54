//! Writing RESP2 replies.

/// `+text\r\n`.
pub fn simple(out: &mut Vec<u8>, text: &str) {
    out.push(b'+');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `+OK\r\n`.
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n");
}

/// `-message\r\n`; `message` starts with the error code, e.g. `ERR syntax error` or
/// `WRONGTYPE Operation against a key holding the wrong kind of value`.
pub fn error(out: &mut Vec<u8>, message: &str) {
    out.push(b'-');
    // A reply line cannot contain line breaks.
    out.extend(message.bytes().map(|byte| if byte == b'\r' || byte == b'\n' { b' ' } else { byte }));
    out.extend_from_slice(b"\r\n");
}

/// `:n\r\n`.
pub fn integer(out: &mut Vec<u8>, value: i64) {
    out.push(b':');
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `$len\r\nbytes\r\n`.
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// `$-1\r\n`, the null bulk string.
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*-1\r\n`, the null array (e.g. `LPOP key count` on a missing key).
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `*n\r\n`, followed by `n` replies written by the caller.
pub fn array_header(out: &mut Vec<u8>, length: usize) {
    out.push(b'*');
    out.extend_from_slice(length.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `ERR wrong number of arguments for 'name' command`.
pub fn wrong_arity(out: &mut Vec<u8>, command: &[u8]) {
    error(out, &format!("ERR wrong number of arguments for '{}' command", String::from_utf8_lossy(command).to_lowercase()));
}

/// How many bytes of arguments Redis quotes in its unknown-command error.
const QUOTED_ARGUMENTS_LIMIT: usize = 128;

/// Writes Redis 7's unknown-command error: `ERR unknown command 'name', with args beginning with: `
/// followed by the arguments, each quoted and followed by a space, until the quoted text reaches
/// 128 bytes (the argument that crosses the limit is cut). The bytes are written as they came, line
/// breaks aside.
pub fn unknown_command(out: &mut Vec<u8>, arguments: &[&[u8]]) {
    let Some((name, rest)) = arguments.split_first() else {
        return error(out, "ERR empty command");
    };
    let mut quoted = Vec::new();
    for argument in rest {
        if quoted.len() >= QUOTED_ARGUMENTS_LIMIT {
            break;
        }
        let room = QUOTED_ARGUMENTS_LIMIT - quoted.len();
        quoted.push(b'\'');
        quoted.extend_from_slice(argument.get(..room).unwrap_or(argument));
        quoted.extend_from_slice(b"' ");
    }
    let mut message = b"-ERR unknown command '".to_vec();
    message.extend_from_slice(name.get(..QUOTED_ARGUMENTS_LIMIT).unwrap_or(name));
    message.extend_from_slice(b"', with args beginning with: ");
    message.extend_from_slice(&quoted);
    // A reply line cannot contain line breaks.
    out.extend(message.iter().map(|&byte| if byte == b'\r' || byte == b'\n' { b' ' } else { byte }));
    out.extend_from_slice(b"\r\n");
}

/// `:n\r\n` for a length or a count.
pub fn count(out: &mut Vec<u8>, count: usize) {
    integer(out, i64::try_from(count).unwrap_or(i64::MAX));
}

/// `*0\r\n`, the empty array.
pub fn empty_array(out: &mut Vec<u8>) {
    array_header(out, 0);
}

/// `WRONGTYPE Operation against a key holding the wrong kind of value`.
pub fn wrong_type(out: &mut Vec<u8>) {
    error(out, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

/// `ERR value is not an integer or out of range`.
pub fn not_an_integer(out: &mut Vec<u8>) {
    error(out, "ERR value is not an integer or out of range");
}

/// `ERR syntax error`.
pub fn syntax_error(out: &mut Vec<u8>) {
    error(out, "ERR syntax error");
}

/// A double as Redis 7.0 writes it (`%.17g`): `1.1000000000000001`, `16`, `1e+17`, `-0`, and
/// `inf` / `-inf` for the infinities (`nan` is never written: no reply holds one).
#[must_use]
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0");
    }
    // Seventeen significant digits, correctly rounded, and the decimal exponent of the first.
    let scientific = format!("{:.16e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let (first_digit, other_digits) = digits.split_at(1.min(digits.len()));
    if !(-4..17).contains(&exponent) {
        let fraction = other_digits.trim_end_matches('0');
        let point = if fraction.is_empty() { "" } else { "." };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first_digit}{point}{fraction}e{exponent_sign}{:02}", exponent.unsigned_abs());
    }
    let (integer_part, fraction) = match usize::try_from(exponent) {
        Ok(integer_digits) => {
            let (integer_part, fraction) = digits.split_at((integer_digits + 1).min(digits.len()));
            (integer_part.to_owned(), fraction.to_owned())
        }
        Err(_) => ("0".to_owned(), format!("{}{digits}", "0".repeat(exponent.unsigned_abs() as usize - 1))),
    };
    let fraction = fraction.trim_end_matches('0');
    let point = if fraction.is_empty() { "" } else { "." };
    format!("{sign}{integer_part}{point}{fraction}")
}

/// A double as a bulk string, written as [`format_double`] does (`$18\r\n1.1000000000000001\r\n`).
pub fn double(out: &mut Vec<u8>, value: f64) {
    bulk(out, format_double(value).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_written_as_redis_7_0_writes_them() {
        for (value, expected) in [
            (1.1, "1.1000000000000001"),
            (16.0, "16"),
            (0.5, "0.5"),
            (-2.5, "-2.5"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123_456_789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (-1.5e-300, "-1.5000000000000001e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "4.9406564584124654e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_double(value), expected, "{value:?}");
        }
    }
}
