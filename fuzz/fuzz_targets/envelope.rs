//! Fuzzes the state envelope's reader, `StateEnvelope::from_bytes`: whatever the bytes, it returns
//! an envelope or a named refusal and never panics, and an envelope it accepts encodes back to
//! exactly the bytes it was read from.

#![no_main]
#![forbid(unsafe_code)]

use ecdysis_plugin_api::StateEnvelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(envelope) = StateEnvelope::from_bytes(bytes) {
        assert!(envelope.is_intact(), "an accepted envelope matches its fingerprint");
        assert_eq!(envelope.to_bytes(), bytes, "an accepted envelope encodes back to the bytes it was read from");
    }
});
