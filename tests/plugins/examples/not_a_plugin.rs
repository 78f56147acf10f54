//! A real shared library that is not an ecdysis plugin: it exports no descriptor.

// A fixture that must export a symbol by hand (or use one nothing defines), which only unsafe
// code can do.
#![allow(unsafe_code)]

/// Something to export, so the library is not empty.
#[unsafe(no_mangle)]
pub extern "C" fn not_a_plugin_answer() -> u32 {
    42
}
