//! The RESP2 request parser: it reads client commands, in multibulk form
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline form (`GET k\r\n`), from the front of a
//! connection's input buffer, with the limits Redis applies.
//!
//! The parser remembers how far it got inside a command that has not fully arrived (the arguments
//! read so far, the length of the bulk string being read, how much of a line was searched), so each
//! byte of input is examined about once, however slowly a large command arrives.

use std::fmt;

/// The longest bulk string a client may send, as Redis's default `proto-max-bulk-len`: 512 MB.
pub const MAX_BULK_LENGTH: usize = 512 * 1024 * 1024;

/// The most elements a multibulk command may have, as in Redis: 1,048,576.
pub const MAX_MULTIBULK_ELEMENTS: usize = 1024 * 1024;

/// The longest inline command, and the longest `*N` or `$N` header line, as Redis's
/// `PROTO_INLINE_MAX_SIZE`: 64 KB.
pub const MAX_LINE_LENGTH: usize = 64 * 1024;

/// The most bytes of arguments one command may carry, as Redis's default `client-query-buffer-limit`:
/// 1 GB.
pub const MAX_COMMAND_BYTES: usize = 1024 * 1024 * 1024;

/// What is wrong with a client's input. The connection answers `-ERR Protocol error: <this>` and
/// closes, as Redis does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline command longer than [`MAX_LINE_LENGTH`].
    TooBigInlineRequest,
    /// A `*N` line longer than [`MAX_LINE_LENGTH`].
    TooBigMultibulkCountString,
    /// A `$N` line longer than [`MAX_LINE_LENGTH`].
    TooBigBulkCountString,
    /// A `*N` whose `N` is not an integer or is larger than [`MAX_MULTIBULK_ELEMENTS`].
    InvalidMultibulkLength,
    /// A `$N` whose `N` is not an integer, is negative or is larger than [`MAX_BULK_LENGTH`].
    InvalidBulkLength,
    /// An element of a multibulk command that does not start with `$`; holds the byte found.
    ExpectedDollar(u8),
    /// A bulk string's data not followed by `\r\n`.
    BulkNotTerminated,
    /// A command whose arguments add up to more than [`MAX_COMMAND_BYTES`].
    CommandTooLarge,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::TooBigInlineRequest => formatter.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCountString => formatter.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCountString => formatter.write_str("too big bulk count string"),
            ProtocolError::InvalidMultibulkLength => formatter.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => formatter.write_str("invalid bulk length"),
            ProtocolError::ExpectedDollar(found) => write!(formatter, "expected '$', got '{}'", found.escape_ascii()),
            ProtocolError::BulkNotTerminated => formatter.write_str("bulk string not followed by CRLF"),
            ProtocolError::CommandTooLarge => write!(formatter, "command larger than {MAX_COMMAND_BYTES} bytes"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What one call of [`RequestParser::parse`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command: its arguments, the command's name first. Never empty: empty commands
    /// (`*0\r\n`, blank lines) are skipped, as Redis skips them.
    Command(Vec<Vec<u8>>),
    /// The input ends before the next command is complete; parse again when more has arrived.
    Incomplete,
}

/// A multibulk command that has begun to arrive.
#[derive(Debug)]
struct MultibulkInProgress {
    /// How many arguments the `*N` header announced.
    announced_arguments: usize,
    /// The arguments read so far.
    arguments: Vec<Vec<u8>>,
    /// The length from the `$N` header of the bulk string being read, once that header was read.
    bulk_length: Option<usize>,
    /// The bytes of arguments read so far, to enforce [`MAX_COMMAND_BYTES`].
    argument_bytes: usize,
}

/// Parses the commands of one connection. Feed it the connection's unconsumed input each time more
/// arrives; it keeps what it learnt about a command that is not complete yet.
#[derive(Debug, Default)]
pub struct RequestParser {
    multibulk: Option<MultibulkInProgress>,
    /// How many bytes at the front of the unconsumed input were already searched for the end of a
    /// line without finding it, so that a long line arriving slowly is searched only once.
    line_bytes_searched: usize,
}

impl RequestParser {
    /// A parser at the start of a connection.
    #[must_use]
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Whether the parser holds part of a command (a header or some arguments) that it consumed from
    /// earlier input.
    #[cfg(test)]
    #[must_use]
    pub fn is_inside_a_command(&self) -> bool {
        self.multibulk.is_some()
    }

    /// Parses the next command at the front of `input`, the connection's unconsumed input.
    ///
    /// Returns what it found and how many bytes at the front of `input` it consumed. The caller must
    /// drop exactly those bytes before the next call, whatever was found: on [`Parsed::Incomplete`]
    /// the parser has kept what it consumed (complete headers and arguments).
    ///
    /// # Errors
    /// A [`ProtocolError`] when the input breaks the protocol or its limits; the connection cannot
    /// be read further.
    pub fn parse(&mut self, input: &[u8]) -> Result<(Parsed, usize), ProtocolError> {
        let mut position = 0;
        loop {
            if self.multibulk.is_some() {
                return self.continue_multibulk(input, position);
            }
            let rest = &input[position..];
            let Some(&first_byte) = rest.first() else {
                return Ok((Parsed::Incomplete, position));
            };
            if first_byte == b'*' {
                let Some((line, line_length)) =
                    self.find_line(rest, ProtocolError::TooBigMultibulkCountString, ProtocolError::InvalidMultibulkLength)?
                else {
                    return Ok((Parsed::Incomplete, position));
                };
                let announced = parse_strict_integer(&line[1..]).ok_or(ProtocolError::InvalidMultibulkLength)?;
                if announced > MAX_MULTIBULK_ELEMENTS as i64 {
                    return Err(ProtocolError::InvalidMultibulkLength);
                }
                position += line_length;
                // A multibulk of zero or fewer elements is an empty command, which Redis skips.
                if let Ok(announced_arguments @ 1..) = usize::try_from(announced) {
                    self.multibulk = Some(MultibulkInProgress {
                        announced_arguments,
                        // The announced count is the client's word; memory grows with what arrives.
                        arguments: Vec::with_capacity(announced_arguments.min(1024)),
                        bulk_length: None,
                        argument_bytes: 0,
                    });
                }
            } else {
                let Some(newline) = self.find_byte(rest, b'\n') else {
                    if rest.len() > MAX_LINE_LENGTH {
                        return Err(ProtocolError::TooBigInlineRequest);
                    }
                    return Ok((Parsed::Incomplete, position));
                };
                if newline > MAX_LINE_LENGTH {
                    return Err(ProtocolError::TooBigInlineRequest);
                }
                let line = rest[..newline].strip_suffix(b"\r").unwrap_or(&rest[..newline]);
                position += newline + 1;
                let arguments: Vec<Vec<u8>> =
                    line.split(u8::is_ascii_whitespace).filter(|word| !word.is_empty()).map(<[u8]>::to_vec).collect();
                if !arguments.is_empty() {
                    return Ok((Parsed::Command(arguments), position));
                }
            }
        }
    }

    /// Reads the bulk strings of the multibulk command in progress from `input[position..]`.
    fn continue_multibulk(&mut self, input: &[u8], mut position: usize) -> Result<(Parsed, usize), ProtocolError> {
        loop {
            let Some(multibulk) = self.multibulk.as_ref() else {
                return Ok((Parsed::Incomplete, position));
            };
            if multibulk.arguments.len() == multibulk.announced_arguments {
                let arguments = self.multibulk.take().map(|multibulk| multibulk.arguments).unwrap_or_default();
                return Ok((Parsed::Command(arguments), position));
            }
            let bulk_length = match multibulk.bulk_length {
                Some(bulk_length) => bulk_length,
                None => {
                    let rest = &input[position..];
                    let Some(&first_byte) = rest.first() else {
                        return Ok((Parsed::Incomplete, position));
                    };
                    if first_byte != b'$' {
                        return Err(ProtocolError::ExpectedDollar(first_byte));
                    }
                    let Some((line, line_length)) =
                        self.find_line(rest, ProtocolError::TooBigBulkCountString, ProtocolError::InvalidBulkLength)?
                    else {
                        return Ok((Parsed::Incomplete, position));
                    };
                    let bulk_length = parse_strict_integer(&line[1..])
                        .and_then(|length| usize::try_from(length).ok())
                        .filter(|&length| length <= MAX_BULK_LENGTH)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    position += line_length;
                    if let Some(multibulk) = self.multibulk.as_mut() {
                        multibulk.argument_bytes += bulk_length;
                        if multibulk.argument_bytes > MAX_COMMAND_BYTES {
                            return Err(ProtocolError::CommandTooLarge);
                        }
                        multibulk.bulk_length = Some(bulk_length);
                    }
                    bulk_length
                }
            };
            let rest = &input[position..];
            if rest.len() < bulk_length + 2 {
                return Ok((Parsed::Incomplete, position));
            }
            if &rest[bulk_length..bulk_length + 2] != b"\r\n" {
                return Err(ProtocolError::BulkNotTerminated);
            }
            if let Some(multibulk) = self.multibulk.as_mut() {
                multibulk.arguments.push(rest[..bulk_length].to_vec());
                multibulk.bulk_length = None;
            }
            position += bulk_length + 2;
        }
    }

    /// Finds a header line (`*N\r\n` or `$N\r\n`) at the front of `rest`: returns the line without
    /// its `\r\n` and its length with it, or `None` when the line has not fully arrived. A line longer
    /// than [`MAX_LINE_LENGTH`] is the error `too_long`; one ended by a bare `\n` is `malformed`.
    fn find_line<'input>(
        &mut self,
        rest: &'input [u8],
        too_long: ProtocolError,
        malformed: ProtocolError,
    ) -> Result<Option<(&'input [u8], usize)>, ProtocolError> {
        match self.find_byte(rest, b'\n') {
            Some(newline) if newline > MAX_LINE_LENGTH => Err(too_long),
            Some(newline) => match rest[..newline].strip_suffix(b"\r") {
                Some(line) => Ok(Some((line, newline + 1))),
                None => Err(malformed),
            },
            None if rest.len() > MAX_LINE_LENGTH => Err(too_long),
            None => Ok(None),
        }
    }

    /// The index of the first `byte` in `rest`, resuming the search where the previous unsuccessful
    /// search of the same line stopped.
    fn find_byte(&mut self, rest: &[u8], byte: u8) -> Option<usize> {
        let already_searched = self.line_bytes_searched.min(rest.len());
        match rest[already_searched..].iter().position(|&candidate| candidate == byte) {
            Some(offset) => {
                self.line_bytes_searched = 0;
                Some(already_searched + offset)
            }
            None => {
                self.line_bytes_searched = rest.len();
                None
            }
        }
    }
}

/// Parses an integer as Redis's `string2ll` does: an optional `-`, then digits without leading
/// zeros (but `0` itself), nothing else, within `i64`.
fn parse_strict_integer(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let well_formed = match digits {
        [] => false,
        [b'0'] => text.len() == 1,
        [first, ..] => (b'1'..=b'9').contains(first) && digits.iter().all(u8::is_ascii_digit),
    };
    if !well_formed {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How a connection's input ends, after the commands it held.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum End {
        /// Every byte belonged to a complete command.
        Complete,
        /// The input stops inside a command, which waits for more.
        Partial,
        /// The input breaks the protocol; the connection would answer
        /// `-ERR Protocol error: <this>` and close.
        Error(&'static str),
    }

    /// Feeds `input` to a parser the way a connection does (parse every complete command, drop the
    /// consumed bytes, read more) in pieces of several sizes (all at once, one byte at a time, and
    /// in between), and checks that every way yields exactly `expected_commands`, then ends as
    /// `expected_end` says.
    #[track_caller]
    fn check(input: &[u8], expected_commands: &[&[&str]], expected_end: End) {
        let expected_commands: Vec<Vec<Vec<u8>>> =
            expected_commands.iter().map(|command| command.iter().map(|argument| argument.as_bytes().to_vec()).collect()).collect();
        let mut piece_sizes = vec![input.len().max(1), 2, 3, 7, 1000];
        // Byte by byte costs a parse call per byte; keep it for inputs of reasonable size.
        if input.len() <= 100_000 {
            piece_sizes.push(1);
        }
        for piece_size in piece_sizes {
            let mut parser = RequestParser::new();
            let mut unconsumed: Vec<u8> = Vec::new();
            let mut commands = Vec::new();
            let mut end = None;
            'reading: for piece in input.chunks(piece_size) {
                unconsumed.extend_from_slice(piece);
                loop {
                    match parser.parse(&unconsumed) {
                        Ok((Parsed::Command(arguments), consumed)) => {
                            commands.push(arguments);
                            unconsumed.drain(..consumed);
                        }
                        Ok((Parsed::Incomplete, consumed)) => {
                            unconsumed.drain(..consumed);
                            break;
                        }
                        Err(error) => {
                            end = Some(End::Error(error.to_string().leak()));
                            break 'reading;
                        }
                    }
                }
            }
            let end = end.unwrap_or(if unconsumed.is_empty() && !parser.is_inside_a_command() { End::Complete } else { End::Partial });
            let shown = |commands: &[Vec<Vec<u8>>]| -> Vec<Vec<String>> {
                commands.iter().map(|command| command.iter().map(|argument| argument.escape_ascii().to_string()).collect()).collect()
            };
            assert_eq!(shown(&commands), shown(&expected_commands), "commands, fed in pieces of {piece_size} bytes");
            assert_eq!(end, expected_end, "end, fed in pieces of {piece_size} bytes");
        }
    }

    #[test]
    fn complete_commands() {
        check(b"*1\r\n$4\r\nPING\r\n", &[&["PING"]], End::Complete);
        check(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", &[&["SET", "key", "value"]], End::Complete);
        check(b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", &[&["GET", ""]], End::Complete);
        // Bulk strings are binary: line breaks and zero bytes inside them are data.
        check(b"*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\0b\n\r\n", &[&["ECHO", "a\r\n\0b\n"]], End::Complete);
        let large_value = "v".repeat(200_000);
        let large = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{large_value}\r\n", large_value.len());
        check(large.as_bytes(), &[&["SET", "k", &large_value]], End::Complete);
        // Empty multibulks are skipped, as Redis does.
        check(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", &[&["PING"]], End::Complete);
    }

    #[test]
    fn partial_commands_wait_for_the_rest() {
        check(b"", &[], End::Complete);
        check(b"*", &[], End::Partial);
        check(b"*2\r", &[], End::Partial);
        check(b"*2\r\n", &[], End::Partial);
        check(b"*2\r\n$3\r\nGET\r\n", &[], End::Partial);
        check(b"*2\r\n$3\r\nGET\r\n$3\r\nke", &[], End::Partial);
        check(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r", &[], End::Partial);
        check(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI", &[&["PING"]], End::Partial);
        check(b"PING", &[], End::Partial);
        check(b"GET key\r", &[], End::Partial);
    }

    #[test]
    fn pipelined_commands_come_out_in_order() {
        check(
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
            &[&["SET", "a", "1"], &["INCR", "a"], &["GET", "a"]],
            End::Complete,
        );
        // Inline and multibulk commands may be mixed on one connection.
        check(b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nDBSIZE\n", &[&["PING"], &["ECHO", "hi"], &["DBSIZE"]], End::Complete);
        let thousand_commands: Vec<u8> =
            (0..1000).flat_map(|index| format!("*2\r\n$4\r\nINCR\r\n$1\r\n{}\r\n", index % 10).into_bytes()).collect();
        let keys: Vec<String> = (0..1000).map(|index| (index % 10).to_string()).collect();
        let expected: Vec<[&str; 2]> = keys.iter().map(|key| ["INCR", key.as_str()]).collect();
        let expected: Vec<&[&str]> = expected.iter().map(|command| &command[..]).collect();
        check(&thousand_commands, &expected, End::Complete);
    }

    #[test]
    fn inline_commands_split_on_whitespace() {
        check(b"PING\r\n", &[&["PING"]], End::Complete);
        check(b"PING\n", &[&["PING"]], End::Complete);
        check(b"  SET \t key   value \r\n", &[&["SET", "key", "value"]], End::Complete);
        // Blank lines are skipped, as Redis does.
        check(b"\r\n\n   \r\nGET k\r\n", &[&["GET", "k"]], End::Complete);
        let longest = format!("ECHO {}\r\n", "x".repeat(MAX_LINE_LENGTH - 6));
        check(longest.as_bytes(), &[&["ECHO", &"x".repeat(MAX_LINE_LENGTH - 6)]], End::Complete);
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        check(b"*x\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*1x\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*01\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*1048577\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*99999999999999999999\r\n", &[], End::Error("invalid multibulk length"));
        check(b"*1\r\n$-1\r\n", &[], End::Error("invalid bulk length"));
        check(b"*1\r\n$abc\r\n", &[], End::Error("invalid bulk length"));
        check(b"*1\r\n$536870913\r\n", &[], End::Error("invalid bulk length"));
        check(b"*1\r\n:4\r\n", &[], End::Error("expected '$', got ':'"));
        check(b"*2\r\n$4\r\nECHO\r\n\x01", &[], End::Error("expected '$', got '\\x01'"));
        check(b"*1\r\n$4\r\nPINGxx", &[], End::Error("bulk string not followed by CRLF"));
        // A bare "\n" does not end a header line.
        check(b"*1\n$4\r\nPING\r\n", &[], End::Error("invalid multibulk length"));
        // Commands before the error were complete and come out; nothing after it does.
        check(b"PING\r\n*1\r\n$4\r\nPING\r\n*z\r\nPING\r\n", &[&["PING"], &["PING"]], End::Error("invalid multibulk length"));
        let long_inline = "x".repeat(MAX_LINE_LENGTH + 1);
        check(long_inline.as_bytes(), &[], End::Error("too big inline request"));
        check(format!("{long_inline}\r\n").as_bytes(), &[], End::Error("too big inline request"));
        let long_count = format!("*{}", "1".repeat(MAX_LINE_LENGTH + 1));
        check(long_count.as_bytes(), &[], End::Error("too big mbulk count string"));
        let long_length = format!("*1\r\n${}", "1".repeat(MAX_LINE_LENGTH + 1));
        check(long_length.as_bytes(), &[], End::Error("too big bulk count string"));
        check(b"*1\r\n$4\nPING\r\n", &[], End::Error("invalid bulk length"));
        // A third bulk string of the maximum size, after two that arrived, is more than one command
        // may carry; the limit is checked on its header, before its data is awaited.
        let mut parser = RequestParser {
            multibulk: Some(MultibulkInProgress {
                announced_arguments: 3,
                arguments: vec![Vec::new(), Vec::new()],
                bulk_length: None,
                argument_bytes: 2 * MAX_BULK_LENGTH,
            }),
            line_bytes_searched: 0,
        };
        assert_eq!(parser.parse(format!("${MAX_BULK_LENGTH}\r\n").as_bytes()), Err(ProtocolError::CommandTooLarge));
    }

    #[test]
    fn integers_parse_as_redis_does() {
        assert_eq!(parse_strict_integer(b"0"), Some(0));
        assert_eq!(parse_strict_integer(b"-12"), Some(-12));
        assert_eq!(parse_strict_integer(b"1048576"), Some(1_048_576));
        for malformed in [&b""[..], b"-", b"-0", b"007", b"+1", b" 1", b"1 ", b"1e3", b"9223372036854775808"] {
            assert_eq!(parse_strict_integer(malformed), None, "{}", malformed.escape_ascii());
        }
    }
}
