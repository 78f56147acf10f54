//! The state envelope: a plugin's exported state with the schema it is encoded in.

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
