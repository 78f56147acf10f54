//! Fuzzes the read-only ELF check the host runs on a library before any `dlopen`: whatever the
//! file holds, it is accepted or refused with a message, never with a panic or a read outside the
//! bytes, and only a file with the ELF magic is ever accepted.

#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match ecdysis_host::fuzzing::check_library_bytes(bytes) {
        Ok(()) => assert!(bytes.starts_with(b"\x7fELF"), "only an ELF file is accepted"),
        Err(message) => assert!(!message.is_empty(), "a refusal says why"),
    }
});
