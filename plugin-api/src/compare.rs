//! Structural comparison of two MessagePack documents, which validates a state transfer
//! (time-traveling state transfer): the new version exports its state (or an entry) back in the old
//! schema, and the result must equal what the old version exported. The host compares whole states;
//! a keyed plugin compares each entry it migrates lazily.
//!
//! Equality is structural: maps compare as sets of entries, so two versions that iterate a hash
//! map in different orders still agree. Neither document is decoded when they agree: each is read
//! once, in place, into a 128-bit digest in which a map's entries are combined in no order (the sum
//! of their digests). Only documents whose digests differ are decoded, to name the first difference.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use rmpv::Value;

/// Compares two MessagePack documents. Returns the first difference, described with its path.
///
/// # Errors
/// The first difference, or that a document does not decode.
pub fn compare(running: &[u8], candidate: &[u8]) -> Result<(), String> {
    if running == candidate {
        return Ok(());
    }
    if let (Some(running), Some(candidate)) = (digest(running), digest(candidate))
        && running == candidate
    {
        return Ok(());
    }
    let running = decode(running).map_err(|error| format!("the running version's export does not decode: {error}"))?;
    let candidate = decode(candidate).map_err(|error| format!("the candidate's export does not decode: {error}"))?;
    match first_difference(&running, &candidate, "$") {
        None => Ok(()),
        Some(difference) => Err(difference),
    }
}

/// How deeply documents may nest before the digest gives up (and the documents are decoded).
const MAXIMUM_DEPTH: usize = 512;

/// The digest of the first MessagePack value in `bytes`, equal for documents that [`compare`] finds
/// equal but for hash collisions, maps in any order; `None` when the bytes are not MessagePack (or
/// nest too deeply), for the decoder to say why.
fn digest(bytes: &[u8]) -> Option<u128> {
    digest_value(&mut Reader(bytes), 0)
}

/// Bytes read off the front of a slice.
struct Reader<'bytes>(&'bytes [u8]);

impl<'bytes> Reader<'bytes> {
    fn take(&mut self, length: usize) -> Option<&'bytes [u8]> {
        if length > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(length);
        self.0 = rest;
        Some(taken)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// A big-endian unsigned integer of `width` bytes.
    fn unsigned(&mut self, width: usize) -> Option<u64> {
        Some(self.take(width)?.iter().fold(0, |value, &byte| (value << 8) | u64::from(byte)))
    }

    /// A length of `width` bytes.
    fn length(&mut self, width: usize) -> Option<usize> {
        usize::try_from(self.unsigned(width)?).ok()
    }
}

/// Hashes `value` with two fixed keys, into 128 bits.
fn hash128(value: impl Hash) -> u128 {
    let mut low = DefaultHasher::new();
    let mut high = DefaultHasher::new();
    0_u8.hash(&mut low);
    1_u8.hash(&mut high);
    value.hash(&mut low);
    value.hash(&mut high);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

/// The kinds of value a digest tells apart, as the decoder does.
#[derive(Hash)]
enum Scalar<'bytes> {
    Nil,
    Boolean(bool),
    Integer(i128),
    F32(u32),
    F64(u64),
    String(&'bytes [u8]),
    Binary(&'bytes [u8]),
    Extension(i8, &'bytes [u8]),
}

fn digest_value(reader: &mut Reader<'_>, depth: usize) -> Option<u128> {
    if depth > MAXIMUM_DEPTH {
        return None;
    }
    let marker = reader.byte()?;
    let scalar = match marker {
        0x00..=0x7f => Scalar::Integer(i128::from(marker)),
        0xe0..=0xff => Scalar::Integer(i128::from(marker as i8)),
        0x80..=0x8f => return digest_map(reader, usize::from(marker & 0x0f), depth),
        0x90..=0x9f => return digest_array(reader, usize::from(marker & 0x0f), depth),
        0xa0..=0xbf => Scalar::String(reader.take(usize::from(marker & 0x1f))?),
        0xc0 => Scalar::Nil,
        0xc2 => Scalar::Boolean(false),
        0xc3 => Scalar::Boolean(true),
        0xc4..=0xc6 => {
            let length = reader.length(1 << (marker - 0xc4))?;
            Scalar::Binary(reader.take(length)?)
        }
        0xc7..=0xc9 => {
            let length = reader.length(1 << (marker - 0xc7))?;
            let kind = reader.byte()? as i8;
            Scalar::Extension(kind, reader.take(length)?)
        }
        0xca => Scalar::F32(u32::try_from(reader.unsigned(4)?).ok()?),
        0xcb => Scalar::F64(reader.unsigned(8)?),
        0xcc..=0xcf => Scalar::Integer(i128::from(reader.unsigned(1 << (marker - 0xcc))?)),
        0xd0..=0xd3 => {
            let width = 1 << (marker - 0xd0);
            let unsigned = reader.unsigned(width)?;
            // Sign-extends the `width`-byte two's complement value.
            let shift = 64 - 8 * width as u32;
            Scalar::Integer(i128::from(((unsigned << shift) as i64) >> shift))
        }
        0xd4..=0xd8 => {
            let kind = reader.byte()? as i8;
            Scalar::Extension(kind, reader.take(1 << (marker - 0xd4))?)
        }
        0xd9..=0xdb => {
            let length = reader.length(1 << (marker - 0xd9))?;
            Scalar::String(reader.take(length)?)
        }
        0xdc | 0xdd => {
            let length = reader.length(if marker == 0xdc { 2 } else { 4 })?;
            return digest_array(reader, length, depth);
        }
        0xde | 0xdf => {
            let length = reader.length(if marker == 0xde { 2 } else { 4 })?;
            return digest_map(reader, length, depth);
        }
        0xc1 => return None,
    };
    Some(hash128(scalar))
}

fn digest_array(reader: &mut Reader<'_>, length: usize, depth: usize) -> Option<u128> {
    let mut items = Vec::with_capacity(length.min(reader.0.len()));
    for _ in 0..length {
        items.push(digest_value(reader, depth + 1)?);
    }
    Some(hash128(("array", items)))
}

fn digest_map(reader: &mut Reader<'_>, length: usize, depth: usize) -> Option<u128> {
    // Entries combine by a sum, in which their order does not count.
    let mut sum: u128 = 0;
    for _ in 0..length {
        let key = digest_value(reader, depth + 1)?;
        let value = digest_value(reader, depth + 1)?;
        sum = sum.wrapping_add(hash128((key, value)));
    }
    Some(hash128(("map", length, sum)))
}

fn decode(mut bytes: &[u8]) -> Result<Value, rmpv::decode::Error> {
    let value = rmpv::decode::read_value(&mut bytes)?;
    Ok(value)
}

fn first_difference(running: &Value, candidate: &Value, path: &str) -> Option<String> {
    match (running, candidate) {
        (Value::Map(running), Value::Map(candidate)) => {
            // Entries are matched by their encoded keys, in linear time: exported states are maps
            // of tens of thousands of keys, which a pairwise search would compare quadratically.
            let candidate_by_key: HashMap<Vec<u8>, &Value> = candidate.iter().map(|(key, value)| (encode_key(key), value)).collect();
            let mut running_keys = HashSet::with_capacity(running.len());
            for (key, running_value) in running {
                let encoded = encode_key(key);
                let entry_path = || format!("{path}.{}", describe_key(key));
                match candidate_by_key.get(&encoded) {
                    None => {
                        return Some(format!(
                            "at `{}`: the running version has {}, the candidate has nothing",
                            entry_path(),
                            describe(running_value)
                        ));
                    }
                    Some(candidate_value) => {
                        if running_value != *candidate_value
                            && let Some(difference) = first_difference(running_value, candidate_value, &entry_path())
                        {
                            return Some(difference);
                        }
                    }
                }
                running_keys.insert(encoded);
            }
            candidate.iter().find(|(key, _)| !running_keys.contains(&encode_key(key))).map(|(key, value)| {
                format!("at `{path}.{}`: the running version has nothing, the candidate has {}", describe_key(key), describe(value))
            })
        }
        (Value::Array(running), Value::Array(candidate)) => {
            if running.len() != candidate.len() {
                return Some(format!("at `{path}`: the running version has {} items, the candidate {}", running.len(), candidate.len()));
            }
            running
                .iter()
                .zip(candidate)
                .enumerate()
                .find_map(|(index, (running, candidate))| first_difference(running, candidate, &format!("{path}[{index}]")))
        }
        (running, candidate) if running == candidate => None,
        (running, candidate) => {
            Some(format!("at `{path}`: the running version has {}, the candidate has {}", describe(running), describe(candidate)))
        }
    }
}

/// A map key's MessagePack encoding, by which equal keys are found.
fn encode_key(key: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a vector cannot fail.
    let _ = rmpv::encode::write_value(&mut bytes, key);
    bytes
}

fn describe_key(key: &Value) -> String {
    match key {
        Value::String(text) => text.as_str().map(str::to_owned).unwrap_or_else(|| key.to_string()),
        other => other.to_string(),
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 { format!("{}…", &text[..text.floor_char_boundary(80)]) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).unwrap();
        bytes
    }

    fn map(entries: &[(&str, i64)]) -> Value {
        Value::Map(entries.iter().map(|(key, value)| (Value::from(*key), Value::from(*value))).collect())
    }

    #[track_caller]
    fn check(running: Value, candidate: Value, expected: Result<(), &str>) {
        assert_eq!(compare(&encode(&running), &encode(&candidate)), expected.map_err(str::to_owned));
    }

    #[test]
    fn digests_agree_on_equal_documents_in_any_order_and_tell_kinds_apart() {
        let digest_of = |value: &Value| digest(&encode(value)).expect("a digest");
        let nested = |entries: &[(&str, i64)]| Value::Array(vec![map(entries), Value::Binary(vec![1, 2]), Value::from(-300), Value::Nil]);
        assert_eq!(digest_of(&nested(&[("a", 1), ("b", 2)])), digest_of(&nested(&[("b", 2), ("a", 1)])));
        assert_ne!(digest_of(&nested(&[("a", 1), ("b", 2)])), digest_of(&nested(&[("a", 2), ("b", 1)])));
        assert_ne!(digest_of(&Value::from("ab")), digest_of(&Value::Binary(b"ab".to_vec())));
        assert_ne!(digest_of(&Value::Array(vec![1.into(), 2.into()])), digest_of(&Value::Array(vec![2.into(), 1.into()])));
        // The same integer in different widths is the same integer, as the decoder sees it.
        assert_eq!(digest(&[0xcd, 0x00, 0x05]), digest(&[0x05]));
        assert_eq!(digest(&[0xd1, 0xff, 0xfe]), digest(&[0xfe]));
        assert_eq!(digest(&[0xdc, 0x00]), None, "cut short");
    }

    #[test]
    fn differences_are_found_and_named() {
        check(map(&[("a", 1), ("b", 2)]), map(&[("b", 2), ("a", 1)]), Ok(()));
        check(map(&[("a", 1)]), map(&[("a", 2)]), Err("at `$.a`: the running version has 1, the candidate has 2"));
        check(map(&[("a", 1), ("b", 2)]), map(&[("a", 1)]), Err("at `$.b`: the running version has 2, the candidate has nothing"));
        check(map(&[("a", 1)]), map(&[("a", 1), ("c", 3)]), Err("at `$.c`: the running version has nothing, the candidate has 3"));
        check(Value::Array(vec![1.into()]), Value::Array(vec![]), Err("at `$`: the running version has 1 items, the candidate 0"));
    }
}
