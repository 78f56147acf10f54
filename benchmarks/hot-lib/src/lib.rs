//! The library hot-lib-reloader loads in the benchmark report: one trivial exported function, as
//! hot-lib-reloader expects them (`#[unsafe(no_mangle)] pub fn`, read from this file by its
//! `hot_functions_from_file!`).

#![deny(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

static TOTAL_INCREMENTS: AtomicU64 = AtomicU64::new(0);

/// The total of increments: one relaxed atomic load, like counter's `total_increments`.
// hot-lib-reloader finds functions by their unmangled symbol name, which only `no_mangle` gives;
// the name is unique to this library, so it cannot clash with another symbol.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub fn total_increments() -> u64 {
    TOTAL_INCREMENTS.load(Ordering::Relaxed)
}
