//! How arguments and results that are not primitives cross the plugin boundary: the compact raw
//! forms of byte buffers and times ([`RawForm`]), and the check that every other type can cross as
//! MessagePack ([`CrossesAsMessagePack`]). The code `#[interface]` generates calls these; the crate
//! documentation's section "What crosses the boundary, and how" has the whole table.
//!
//! The raw forms, all integers little-endian:
//!
//! | type | raw form |
//! |---|---|
//! | `Vec<u8>`, `bytes::Bytes` | the bytes themselves |
//! | `Option<Vec<u8>>`, `Option<&[u8]>` | a presence byte (0 or 1), then the bytes |
//! | `Vec<Vec<u8>>` | the count as a `u64`, then each buffer as a `u64` length and its bytes |
//! | `Duration` | the seconds as a `u64`, then the nanoseconds as a `u32` |
//! | `SystemTime` | the whole seconds since `UNIX_EPOCH` as an `i64` (negative before it), then the nanoseconds after that second as a `u32` |
//!
//! A value is always the whole of its buffer, so a top-level buffer needs no length of its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `bytes` crate's shared buffer, re-exported so that an interface can name it without a
/// dependency of its own (`ecdysis_plugin_api::crossing::Bytes`).
pub use bytes::Bytes;

/// Why bytes that arrived at the boundary are not the raw form of the type expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RawFormError {
    /// The bytes end before the value does.
    #[error("the raw form of `{type_name}` ends early: {needed} more bytes needed, {available} left")]
    Truncated {
        /// The type being read.
        type_name: &'static str,
        /// How many bytes the next part needs.
        needed: u64,
        /// How many bytes are left.
        available: usize,
    },
    /// Bytes are left after the value.
    #[error("the raw form of `{type_name}` is followed by {extra} unexpected bytes")]
    TrailingBytes {
        /// The type read.
        type_name: &'static str,
        /// How many bytes follow it.
        extra: usize,
    },
    /// An `Option`'s presence byte is neither 0 nor 1.
    #[error("the presence byte of an `Option` is {found}, neither 0 nor 1")]
    PresenceByte {
        /// The byte found.
        found: u8,
    },
    /// A nanosecond count is a second or more.
    #[error("the nanoseconds of a `{type_name}` are {nanoseconds}, not below 1,000,000,000")]
    Nanoseconds {
        /// The type read.
        type_name: &'static str,
        /// The count found.
        nanoseconds: u32,
    },
    /// A time this side's `SystemTime` cannot represent.
    #[error("the time {seconds} s and {nanoseconds} ns from the UNIX epoch is out of the range of `SystemTime`")]
    TimeOutOfRange {
        /// Whole seconds from the epoch.
        seconds: i64,
        /// Nanoseconds after them.
        nanoseconds: u32,
    },
}

/// A type that crosses the plugin boundary in a compact raw form instead of MessagePack.
///
/// Implemented for the types the `#[interface]` macro recognises by their spelling (see the crate
/// documentation); the lifetime is that of the bytes read, which only `Option<&'a [u8]>` borrows.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is spelled like a type that crosses the plugin boundary in raw form, but is not one",
    note = "the raw forms are for `Vec<u8>`, `bytes::Bytes`, `Option<Vec<u8>>`, `Option<&[u8]>`, `Vec<Vec<u8>>`, `std::time::Duration` and `std::time::SystemTime`; import your own type under another name so that it crosses as MessagePack"
)]
pub trait RawForm<'a>: Sized {
    /// Appends the raw form of `self` to `out`.
    fn write_raw(&self, out: &mut Vec<u8>);

    /// The raw form of `self`: a slice of `self` when it is its own raw form, else written into
    /// `scratch`.
    fn lend<'s>(&'s self, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        self.write_raw(scratch);
        scratch
    }

    /// Reads a value that is the whole of `bytes`.
    ///
    /// # Errors
    /// When `bytes` are not the raw form of a value of this type.
    fn read_raw(bytes: &'a [u8]) -> Result<Self, RawFormError>;
}

/// The raw form of `value`, as it crosses the boundary.
#[must_use]
pub fn encode_raw<'a, T: RawForm<'a>>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.write_raw(&mut out);
    out
}

/// Reads a value from its raw form, with the message the generated code reports.
///
/// # Errors
/// When `bytes` are not the raw form of a `T`; the message names what was wrong.
pub fn decode_raw<'a, T: RawForm<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    T::read_raw(bytes).map_err(|error| error.to_string())
}

/// The raw form of a value about to be passed as an argument: `value` itself when it is its own raw
/// form, else written into `scratch`.
#[must_use]
pub fn lend_raw<'s, 'a, T: RawForm<'a>>(value: &'s T, scratch: &'s mut Vec<u8>) -> &'s [u8] {
    value.lend(scratch)
}

/// Reads the parts of a raw form in order.
struct Reader<'a> {
    bytes: &'a [u8],
    type_name: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], type_name: &'static str) -> Reader<'a> {
        Reader { bytes, type_name }
    }

    fn take(&mut self, count: u64) -> Result<&'a [u8], RawFormError> {
        let truncated = RawFormError::Truncated { type_name: self.type_name, needed: count, available: self.bytes.len() };
        let count = usize::try_from(count).map_err(|_| truncated.clone())?;
        if count > self.bytes.len() {
            return Err(truncated);
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RawFormError> {
        let taken = self.take(N as u64)?;
        Ok(taken.try_into().expect("`take` returns exactly the count asked for"))
    }

    fn u64(&mut self) -> Result<u64, RawFormError> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Result<i64, RawFormError> {
        self.array().map(i64::from_le_bytes)
    }

    fn nanoseconds(&mut self) -> Result<u32, RawFormError> {
        let nanoseconds = self.array().map(u32::from_le_bytes)?;
        if nanoseconds >= NANOSECONDS_PER_SECOND {
            return Err(RawFormError::Nanoseconds { type_name: self.type_name, nanoseconds });
        }
        Ok(nanoseconds)
    }

    fn presence(&mut self) -> Result<bool, RawFormError> {
        match self.array::<1>()? {
            [0] => Ok(false),
            [1] => Ok(true),
            [found] => Err(RawFormError::PresenceByte { found }),
        }
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    fn finish(self) -> Result<(), RawFormError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(RawFormError::TrailingBytes { type_name: self.type_name, extra: self.bytes.len() }) }
    }
}

const NANOSECONDS_PER_SECOND: u32 = 1_000_000_000;

impl RawForm<'_> for Vec<u8> {
    fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn lend<'s>(&'s self, _scratch: &'s mut Vec<u8>) -> &'s [u8] {
        self
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        Ok(bytes.to_vec())
    }
}

/// A `Bytes` is copied on arrival: what the other side lent is valid only for the call, and a
/// plugin's memory may be unloaded after it.
impl RawForm<'_> for Bytes {
    fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }

    fn lend<'s>(&'s self, _scratch: &'s mut Vec<u8>) -> &'s [u8] {
        self
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        Ok(Bytes::copy_from_slice(bytes))
    }
}

impl RawForm<'_> for Option<Vec<u8>> {
    fn write_raw(&self, out: &mut Vec<u8>) {
        self.as_deref().write_raw(out);
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        Option::<&[u8]>::read_raw(bytes).map(|bytes| bytes.map(<[u8]>::to_vec))
    }
}

impl<'a> RawForm<'a> for Option<&'a [u8]> {
    fn write_raw(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(bytes) => {
                out.reserve(1 + bytes.len());
                out.push(1);
                out.extend_from_slice(bytes);
            }
        }
    }

    fn read_raw(bytes: &'a [u8]) -> Result<Self, RawFormError> {
        let mut reader = Reader::new(bytes, "Option<&[u8]>");
        if reader.presence()? {
            Ok(Some(reader.rest()))
        } else {
            reader.finish()?;
            Ok(None)
        }
    }
}

impl RawForm<'_> for Vec<Vec<u8>> {
    fn write_raw(&self, out: &mut Vec<u8>) {
        out.reserve(8 + self.iter().map(|item| 8 + item.len()).sum::<usize>());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        for item in self {
            out.extend_from_slice(&(item.len() as u64).to_le_bytes());
            out.extend_from_slice(item);
        }
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        let mut reader = Reader::new(bytes, "Vec<Vec<u8>>");
        let count = reader.u64()?;
        // Every item takes at least its 8-byte length, so a count beyond that is caught below
        // instead of reserving memory for it.
        let mut items = Vec::with_capacity(usize::try_from(count).unwrap_or(usize::MAX).min(reader.bytes.len() / 8));
        for _ in 0..count {
            let length = reader.u64()?;
            items.push(reader.take(length)?.to_vec());
        }
        reader.finish()?;
        Ok(items)
    }
}

impl RawForm<'_> for Duration {
    fn write_raw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.as_secs().to_le_bytes());
        out.extend_from_slice(&self.subsec_nanos().to_le_bytes());
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        let mut reader = Reader::new(bytes, "Duration");
        let duration = Duration::new(reader.u64()?, reader.nanoseconds()?);
        reader.finish()?;
        Ok(duration)
    }
}

impl RawForm<'_> for SystemTime {
    fn write_raw(&self, out: &mut Vec<u8>) {
        // Whole seconds rounded down and the nanoseconds after them, so that a time before the
        // epoch is a negative second count and a positive fraction, as in a `timespec`.
        let (seconds, nanoseconds) = match self.duration_since(UNIX_EPOCH) {
            Ok(after) => (i128::from(after.as_secs()), after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                match before.subsec_nanos() {
                    0 => (-i128::from(before.as_secs()), 0),
                    nanoseconds => (-i128::from(before.as_secs()) - 1, NANOSECONDS_PER_SECOND - nanoseconds),
                }
            }
        };
        // A `SystemTime` beyond ±2^63 seconds exists on no platform Rust supports; saturate rather
        // than wrap if one ever does.
        let seconds = i64::try_from(seconds).unwrap_or(if seconds < 0 { i64::MIN } else { i64::MAX });
        out.extend_from_slice(&seconds.to_le_bytes());
        out.extend_from_slice(&nanoseconds.to_le_bytes());
    }

    fn read_raw(bytes: &[u8]) -> Result<Self, RawFormError> {
        let mut reader = Reader::new(bytes, "SystemTime");
        let (seconds, nanoseconds) = (reader.i64()?, reader.nanoseconds()?);
        reader.finish()?;
        let whole_seconds = Duration::from_secs(seconds.unsigned_abs());
        let at_second = if seconds >= 0 { UNIX_EPOCH.checked_add(whole_seconds) } else { UNIX_EPOCH.checked_sub(whole_seconds) };
        at_second
            .and_then(|time| time.checked_add(Duration::from_nanos(u64::from(nanoseconds))))
            .ok_or(RawFormError::TimeOutOfRange { seconds, nanoseconds })
    }
}

/// A type that crosses the plugin boundary as MessagePack: any type with serde's `Serialize` and
/// `DeserializeOwned`. The generated code asserts it for every such argument and result, so that a
/// type without them is refused with this message first, instead of serde's errors alone.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the plugin boundary because it does not implement serde's `Serialize` and `DeserializeOwned`",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or pass it as bytes"
)]
pub trait CrossesAsMessagePack {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> CrossesAsMessagePack for T {}

/// Compiles only when `T` can cross as MessagePack; the generated code calls it once per such type.
#[doc(hidden)]
pub const fn assert_crosses_as_message_pack<T: CrossesAsMessagePack + ?Sized>() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `value`, checks the length of its raw form, and reads it back.
    #[track_caller]
    fn check<T: for<'a> RawForm<'a> + PartialEq + std::fmt::Debug>(value: T, expected_length: usize) {
        let encoded = encode_raw(&value);
        assert_eq!(encoded.len(), expected_length, "raw form of {value:?}");
        let mut scratch = Vec::new();
        assert_eq!(lend_raw(&value, &mut scratch), &encoded[..], "lent form of {value:?}");
        assert_eq!(T::read_raw(&encoded).unwrap(), value);
    }

    #[test]
    fn every_raw_form_reads_back_what_was_written() {
        check(Vec::<u8>::new(), 0);
        check(vec![1u8, 2, 3], 3);
        check(Bytes::from_static(b"abc"), 3);
        check(None::<Vec<u8>>, 1);
        check(Some(Vec::<u8>::new()), 1);
        check(Some(vec![0u8; 1000]), 1001);
        check(Vec::<Vec<u8>>::new(), 8);
        check(vec![vec![], vec![7u8; 5]], 8 + 8 + 8 + 5);
        check(Duration::ZERO, 12);
        check(Duration::MAX, 12);
        check(UNIX_EPOCH, 12);
        check(UNIX_EPOCH - Duration::new(1, 1), 12);
        check(UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 100), 12);
        check(UNIX_EPOCH + Duration::new(1_700_000_000, 999_999_999), 12);
        let borrowed: Option<&[u8]> = Some(b"xyz");
        let encoded = encode_raw(&borrowed);
        assert_eq!(Option::<&[u8]>::read_raw(&encoded).unwrap(), borrowed);
    }

    #[test]
    fn damaged_raw_forms_are_refused_with_what_was_wrong() {
        let message = |result: Result<(), RawFormError>| result.unwrap_err().to_string();
        assert_eq!(message(Duration::read_raw(&[0; 11]).map(drop)), "the raw form of `Duration` ends early: 4 more bytes needed, 3 left");
        assert_eq!(message(Duration::read_raw(&[0; 13]).map(drop)), "the raw form of `Duration` is followed by 1 unexpected bytes");
        let mut too_many_nanoseconds = vec![0; 8];
        too_many_nanoseconds.extend_from_slice(&NANOSECONDS_PER_SECOND.to_le_bytes());
        assert_eq!(
            message(SystemTime::read_raw(&too_many_nanoseconds).map(drop)),
            "the nanoseconds of a `SystemTime` are 1000000000, not below 1,000,000,000"
        );
        assert_eq!(message(Option::<Vec<u8>>::read_raw(&[2]).map(drop)), "the presence byte of an `Option` is 2, neither 0 nor 1");
        assert_eq!(
            message(Option::<Vec<u8>>::read_raw(&[]).map(drop)),
            "the raw form of `Option<&[u8]>` ends early: 1 more bytes needed, 0 left"
        );
        let mut huge_count = u64::MAX.to_le_bytes().to_vec();
        huge_count.extend_from_slice(&[0; 8]);
        assert_eq!(
            message(Vec::<Vec<u8>>::read_raw(&huge_count).map(drop)),
            "the raw form of `Vec<Vec<u8>>` ends early: 8 more bytes needed, 0 left"
        );
    }
}
