//! The `kv` module's contract, shared by `kv-server` (which embeds the host and speaks RESP2 to
//! clients) and every kv plugin version (which executes commands and holds all data).
//!
//! - [`Kv`]: the interface. The server hands over whole pipelines: a [`CommandBatch`] of argument
//!   vectors in, RESP2 replies out, so one boundary crossing serves many commands.
//! - [`resp`]: writing RESP2 replies (the plugins' replies, and the server's own errors).
//! - [`schema`]: the state schemas of every version, frozen, with the migration steps between them.
//! - [`now_unix_ms`]: the clock expiry is measured with, by the versions and by the migrations.
//!
//! What the plugin versions share but the server does not need (command helpers, the
//! compatibility commands, the expiry database) is in `kv-common`; the conformance tests are in
//! `kv-conformance`.

#![forbid(unsafe_code)]

pub mod resp;
pub mod schema;

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

/// Milliseconds since the Unix epoch, the clock every version measures expiry with: the host's
/// clock ([`ecdysis_plugin_api::clock`]), so that a host with a manual clock moves expiry as it
/// moves time; the system's when no host installed one.
#[must_use]
pub fn now_unix_ms() -> u64 {
    ecdysis_plugin_api::clock::unix_millis()
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
}
