//! The peer: hot-lib-reloader's generated module for the benchmark's small library
//! (`hot-lib/src/lib.rs`), loaded from a directory the report chooses at run time, and watched
//! there with a short debounce. Every call through it takes hot-lib-reloader's read lock and looks
//! the symbol up, as its users' calls do.
//!
//! hot-lib-reloader's macro expands to `static mut` items and unsafe blocks (its generated code,
//! not ours), which only this module allows.

#![allow(unsafe_code, static_mut_refs)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The directory the hot module loads `libhot_bench_lib.so` from; set once, before the first call.
static DIRECTORY: OnceLock<PathBuf> = OnceLock::new();

/// Chooses the directory the hot module loads from (only the first choice counts).
pub fn set_directory(directory: PathBuf) {
    let _ = DIRECTORY.set(directory);
}

/// The directory set by [`set_directory`].
pub fn directory() -> PathBuf {
    DIRECTORY.get().cloned().unwrap_or_default()
}

#[hot_lib_reloader::hot_module(dylib = "hot_bench_lib", lib_dir = crate::hot::directory(), file_watch_debounce = 10)]
pub mod library {
    hot_functions_from_file!("hot-lib/src/lib.rs");

    /// Events about reloads: about to reload, reloaded.
    #[lib_change_subscription]
    pub fn subscribe() -> hot_lib_reloader::LibReloadObserver {}

    /// How many times the library was reloaded.
    #[lib_version]
    pub fn version() -> usize {}
}
