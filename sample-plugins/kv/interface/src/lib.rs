//! The `kv` module's contract, shared by `kv-server` (which embeds the host and speaks RESP2 to
//! clients) and every kv plugin version (which executes commands and holds all data).
//!
//! - [`Kv`]: the interface. The server hands over whole pipelines: a [`CommandBatch`] of argument
//!   vectors in, RESP2 replies out, so one boundary crossing serves many commands.
//! - [`resp`]: writing RESP2 replies.
//! - [`schema`]: the state schemas of every version, frozen, with the migration steps between them.
//! - [`compat`]: the protocol-compatibility commands every version answers alike (PING, ECHO,
//!   SELECT, INFO, CONFIG, COMMAND, CLIENT).
//! - [`expiry`] and [`strings`]: the parts of the expiry and string commands that do not depend on
//!   how a version represents its values.

pub mod command;
pub mod compat;
pub mod expiry;
pub mod resp;
pub mod schema;
pub mod strings;

/// The Redis-like key-value module.
#[ecdysis_plugin_api::interface]
pub trait Kv {
    /// Executes the commands of `batch` (encoded by [`CommandBatch`]) in order and returns their
    /// RESP2 replies, concatenated: one reply per command.
    fn execute(&self, batch: &[u8]) -> Vec<u8>;
    /// The number of keys, not counting keys whose time to live has passed.
    fn key_count(&self) -> u64;
}

/// A batch of commands, each an argument vector, in a flat encoding: for each command a `u32`
/// argument count, then for each argument a `u32` length and its bytes (little endian).
#[derive(Clone, Debug, Default)]
pub struct CommandBatch {
    bytes: Vec<u8>,
    commands: usize,
}

impl CommandBatch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> CommandBatch {
        CommandBatch::default()
    }

    /// Appends a command.
    pub fn push<A: AsRef<[u8]>>(&mut self, arguments: &[A]) {
        self.bytes.extend_from_slice(&(arguments.len() as u32).to_le_bytes());
        for argument in arguments {
            let argument = argument.as_ref();
            self.bytes.extend_from_slice(&(argument.len() as u32).to_le_bytes());
            self.bytes.extend_from_slice(argument);
        }
        self.commands += 1;
    }

    /// How many commands the batch holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.commands
    }

    /// Whether the batch holds no command.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.commands == 0
    }

    /// The encoded batch, for [`Kv::execute`].
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.commands = 0;
    }
}

/// Reads the commands of an encoded batch. Yields `Err` (and stops) at the first malformed one.
#[must_use]
pub fn decode_batch(bytes: &[u8]) -> BatchReader<'_> {
    BatchReader { rest: bytes }
}

/// The iterator of [`decode_batch`].
#[derive(Debug)]
pub struct BatchReader<'a> {
    rest: &'a [u8],
}

/// A batch that does not follow the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedBatch;

impl BatchReader<'_> {
    fn take_u32(&mut self) -> Option<u32> {
        let (head, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(u32::from_le_bytes(*head))
    }
}

impl<'a> Iterator for BatchReader<'a> {
    type Item = Result<Vec<&'a [u8]>, MalformedBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let mut read = || -> Option<Vec<&'a [u8]>> {
            let count = self.take_u32()? as usize;
            let mut arguments = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                let length = self.take_u32()? as usize;
                if self.rest.len() < length {
                    return None;
                }
                let (argument, rest) = self.rest.split_at(length);
                self.rest = rest;
                arguments.push(argument);
            }
            Some(arguments)
        };
        match read() {
            Some(arguments) => Some(Ok(arguments)),
            None => {
                self.rest = &[];
                Some(Err(MalformedBatch))
            }
        }
    }
}

/// Whether `text` matches the Redis glob `pattern` (`*`, `?`, `[abc]`, `[^a-z]`, `\\x`).
#[must_use]
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    fn class(pattern: &[u8], byte: u8) -> Option<(bool, usize)> {
        // `pattern` starts after '['. Returns (matched, length of the class including ']').
        let mut index = 0;
        let negate = pattern.first() == Some(&b'^');
        if negate {
            index += 1;
        }
        let mut matched = false;
        while index < pattern.len() && pattern[index] != b']' {
            if pattern[index] == b'\\' && index + 1 < pattern.len() {
                matched |= pattern[index + 1] == byte;
                index += 2;
            } else if index + 2 < pattern.len() && pattern[index + 1] == b'-' && pattern[index + 2] != b']' {
                let (low, high) = (pattern[index].min(pattern[index + 2]), pattern[index].max(pattern[index + 2]));
                matched |= (low..=high).contains(&byte);
                index += 3;
            } else {
                matched |= pattern[index] == byte;
                index += 1;
            }
        }
        (index < pattern.len()).then_some((matched != negate, index + 1))
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
            Some(b'[') => match class(&pattern[p + 1..], text[t]) {
                Some((true, length)) => Some(length + 1),
                Some((false, _)) => None,
                None => (text[t] == b'[').then_some(1),
            },
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

/// Milliseconds since the Unix epoch, the clock every version measures expiry with.
#[must_use]
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_malformed_ones_stop() {
        let mut batch = CommandBatch::new();
        batch.push(&["SET", "key", "value"]);
        batch.push::<&[u8]>(&[b"PING"]);
        batch.push::<&str>(&[]);
        let decoded: Vec<_> = decode_batch(batch.as_bytes()).collect();
        assert_eq!(decoded, vec![Ok(vec![&b"SET"[..], b"key", b"value"]), Ok(vec![&b"PING"[..]]), Ok(vec![])]);
        let truncated = &batch.as_bytes()[..10];
        assert_eq!(decode_batch(truncated).last(), Some(Err(MalformedBatch)));
    }

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
