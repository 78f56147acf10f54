//! Helpers that read arguments and write replies the way Redis does, shared by every command family.

use kv_interface::resp;

/// The longest command name this version knows, in bytes; longer names are unknown commands.
const LONGEST_COMMAND_NAME: usize = 16;

/// A command name in ASCII lowercase, held on the stack so that dispatch allocates nothing.
pub(crate) struct LowercaseName {
    buffer: [u8; LONGEST_COMMAND_NAME],
    length: usize,
}

impl LowercaseName {
    /// Lowercases `name`. A name longer than any command becomes the empty name, which no command
    /// has, so it is reported as unknown.
    pub(crate) fn new(name: &[u8]) -> LowercaseName {
        let mut buffer = [0; LONGEST_COMMAND_NAME];
        let Some(prefix) = buffer.get_mut(..name.len()) else {
            return LowercaseName { buffer, length: 0 };
        };
        prefix.copy_from_slice(name);
        prefix.make_ascii_lowercase();
        LowercaseName { buffer, length: name.len() }
    }

    /// The lowercase name.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buffer.get(..self.length).unwrap_or_default()
    }
}

/// Writes a length or a count as an integer reply.
pub(crate) fn count(out: &mut Vec<u8>, count: usize) {
    resp::integer(out, i64::try_from(count).unwrap_or(i64::MAX));
}

/// Writes an empty array, `*0\r\n`.
pub(crate) fn empty_array(out: &mut Vec<u8>) {
    resp::array_header(out, 0);
}

/// Writes the null array, `*-1\r\n`, RESP2's reply for "no elements" where an array was asked for
/// (`kv_interface::resp` has no writer for it).
pub(crate) fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// How many bytes of arguments Redis quotes in its unknown-command error.
const QUOTED_ARGUMENTS_LIMIT: usize = 128;

/// Writes Redis 7's unknown-command error: `ERR unknown command 'name', with args beginning with: `
/// followed by the arguments, each quoted and followed by a space, until the quoted text reaches
/// 128 bytes (the argument that crosses the limit is cut). The bytes are written as they came, line
/// breaks aside.
///
/// `kv_interface::resp::unknown_command` quotes the first 16 arguments whatever their length, and
/// passes them through a lossy UTF-8 conversion; Redis limits by length instead.
pub(crate) fn unknown_command(out: &mut Vec<u8>, arguments: &[&[u8]]) {
    let Some((name, rest)) = arguments.split_first() else {
        return resp::error(out, "ERR empty command");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_as_redis_parses_them() {
        assert_eq!(kv_interface::parse_integer(b"0"), Some(0));
        assert_eq!(kv_interface::parse_integer(b"-12"), Some(-12));
        assert_eq!(kv_interface::parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(kv_interface::parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        for rejected in [&b""[..], b"-", b"-0", b"007", b"+1", b" 1", b"1 ", b"1.5", b"9223372036854775808", b"\xff"] {
            assert_eq!(kv_interface::parse_integer(rejected), None, "{}", String::from_utf8_lossy(rejected));
        }
    }

    #[test]
    fn names_are_lowercased_and_overlong_names_become_empty() {
        assert_eq!(LowercaseName::new(b"GeT").as_bytes(), b"get");
        assert_eq!(LowercaseName::new(b"").as_bytes(), b"");
        assert_eq!(LowercaseName::new(&[b'A'; 17]).as_bytes(), b"");
    }
}
