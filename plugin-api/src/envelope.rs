//! The state envelope: a plugin's exported state with the schema it is encoded in, and its byte
//! encoding for files and pipes ([`StateEnvelope::to_bytes`], [`StateEnvelope::from_bytes`]).
//!
//! The encoding is the line `ecdysis envelope 1\n` (format and format version), then the schema
//! name's length (`u32`, little-endian) and UTF-8 bytes, the schema version (`u32`), the payload's
//! FNV-1a 64 (`u64`), the payload's length (`u64`) and the payload. Reading checks every length, the
//! fingerprint and that nothing follows; anything else is refused with an [`EnvelopeError`] that
//! names what was wrong.

/// Exported state, as the host holds it between export and transform: MessagePack bytes tagged with
/// their schema and a fingerprint of the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEnvelope {
    /// The schema's name.
    pub schema_name: String,
    /// The schema version the payload is encoded in.
    pub schema_version: u32,
    /// FNV-1a 64 of `payload`, to detect corruption between export and import.
    pub fingerprint: u64,
    /// The MessagePack encoding of the state.
    pub payload: Vec<u8>,
}

impl StateEnvelope {
    /// Wraps `payload`, computing its fingerprint.
    #[must_use]
    pub fn new(schema_name: impl Into<String>, schema_version: u32, payload: Vec<u8>) -> StateEnvelope {
        StateEnvelope { schema_name: schema_name.into(), schema_version, fingerprint: fnv1a64(&payload), payload }
    }

    /// Whether the payload still matches its fingerprint.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        fnv1a64(&self.payload) == self.fingerprint
    }
}

/// FNV-1a, 64 bits: a small, stable, `const` hash used for interface fingerprints and envelopes.
#[must_use]
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

/// The first line of an encoded envelope, up to the format version.
const ENCODING_PREFIX: &[u8] = b"ecdysis envelope ";
/// The envelope encoding this crate reads and writes.
pub const ENCODING_VERSION: u32 = 1;

/// Why bytes are not an encoded [`StateEnvelope`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes do not start with the envelope header line.
    #[error("not a state envelope (no `ecdysis envelope` header)")]
    NotAnEnvelope,
    /// The header names an encoding version this build cannot read.
    #[error("state envelope encoding version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the header.
        found: String,
        /// The version this build reads.
        supported: u32,
    },
    /// The bytes end before a field that must follow.
    #[error("state envelope cut short: {field} needs {needed} more bytes, {available} are left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes it needs.
        needed: u64,
        /// How many are left.
        available: usize,
    },
    /// The schema name is not UTF-8.
    #[error("state envelope's schema name is not UTF-8")]
    SchemaNameNotUtf8,
    /// The payload does not match its fingerprint.
    #[error("state envelope's payload is damaged: fingerprint {found:#018x}, expected {expected:#018x}")]
    Damaged {
        /// The fingerprint of the payload read.
        found: u64,
        /// The fingerprint the envelope records.
        expected: u64,
    },
    /// Bytes follow the payload.
    #[error("{extra} unexpected bytes after the state envelope's payload")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

impl StateEnvelope {
    /// The envelope's byte encoding (see the [module documentation](self)).
    ///
    /// # Panics
    /// When the schema name is longer than 4 GiB.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = format!("ecdysis envelope {ENCODING_VERSION}\n");
        let name = self.schema_name.as_bytes();
        let mut bytes = Vec::with_capacity(header.len() + 4 + name.len() + 4 + 8 + 8 + self.payload.len());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&u32::try_from(name.len()).expect("a schema name is shorter than 4 GiB").to_le_bytes());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&self.schema_version.to_le_bytes());
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        bytes.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&self.payload);
        bytes
    }

    /// Reads an envelope written by [`StateEnvelope::to_bytes`], checking its payload against its
    /// fingerprint.
    ///
    /// # Errors
    /// When the bytes are not an envelope, are of another encoding version, are cut short, carry a
    /// schema name that is not UTF-8, a payload that does not match its fingerprint, or bytes after
    /// the payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<StateEnvelope, EnvelopeError> {
        let rest = bytes.strip_prefix(ENCODING_PREFIX).ok_or(EnvelopeError::NotAnEnvelope)?;
        let line_end = rest.iter().take(16).position(|&byte| byte == b'\n').ok_or(EnvelopeError::NotAnEnvelope)?;
        let version = &rest[..line_end];
        if version != ENCODING_VERSION.to_string().as_bytes() {
            return Err(EnvelopeError::UnsupportedVersion {
                found: String::from_utf8_lossy(version).into_owned(),
                supported: ENCODING_VERSION,
            });
        }
        let mut reader = FieldReader(&rest[line_end + 1..]);
        let name_length = u32::from_le_bytes(reader.take_array("the schema name's length")?);
        let name = reader.take("the schema name", u64::from(name_length))?;
        let schema_name = std::str::from_utf8(name).map_err(|_| EnvelopeError::SchemaNameNotUtf8)?.to_owned();
        let schema_version = u32::from_le_bytes(reader.take_array("the schema version")?);
        let fingerprint = u64::from_le_bytes(reader.take_array("the fingerprint")?);
        let payload_length = u64::from_le_bytes(reader.take_array("the payload's length")?);
        let payload = reader.take("the payload", payload_length)?.to_vec();
        if !reader.0.is_empty() {
            return Err(EnvelopeError::TrailingBytes { extra: reader.0.len() });
        }
        let envelope = StateEnvelope { schema_name, schema_version, fingerprint, payload };
        if !envelope.is_intact() {
            return Err(EnvelopeError::Damaged { found: fnv1a64(&envelope.payload), expected: fingerprint });
        }
        Ok(envelope)
    }
}

/// Reads fields off the front of a byte slice.
struct FieldReader<'bytes>(&'bytes [u8]);

impl<'bytes> FieldReader<'bytes> {
    fn take(&mut self, field: &'static str, length: u64) -> Result<&'bytes [u8], EnvelopeError> {
        let truncated = EnvelopeError::Truncated { field, needed: length, available: self.0.len() };
        let length = usize::try_from(length).map_err(|_| truncated.clone())?;
        if length > self.0.len() {
            return Err(truncated);
        }
        let (field_bytes, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(field_bytes)
    }

    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EnvelopeError> {
        Ok(self.take(field, N as u64)?.try_into().expect("`take` returns exactly the length asked for"))
    }
}

#[cfg(test)]
mod tests {
    use super::{EnvelopeError, StateEnvelope};

    #[test]
    fn an_envelope_reads_back_as_written() {
        let envelope = StateEnvelope::new("kv", 3, vec![0x81, 0xa1, b'k', 0x01]);
        assert_eq!(StateEnvelope::from_bytes(&envelope.to_bytes()), Ok(envelope));
    }

    #[test]
    fn damaged_envelopes_are_refused_by_name() {
        let bytes = StateEnvelope::new("kv", 3, vec![1, 2, 3, 4]).to_bytes();
        let check = |bytes: &[u8], expected: &str| {
            let error = StateEnvelope::from_bytes(bytes).expect_err("damaged bytes are refused");
            assert!(error.to_string().contains(expected), "`{error}` should mention `{expected}`");
        };
        check(b"", "not a state envelope");
        check(b"ecdysis envelope 2\n", "encoding version 2 is not supported");
        check(&bytes[..bytes.len() - 1], "the payload needs 4 more bytes, 3 are left");
        check(&bytes[..30], "cut short");
        let mut flipped = bytes.clone();
        *flipped.last_mut().expect("a payload") ^= 1;
        check(&flipped, "payload is damaged");
        let mut longer = bytes.clone();
        longer.push(0);
        check(&longer, "1 unexpected bytes");
        assert!(matches!(StateEnvelope::from_bytes(&bytes[..25]), Err(EnvelopeError::Truncated { .. })));
    }
}
