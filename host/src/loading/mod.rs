//! Loading: from a file on disk to a verified library whose descriptor the host has read. The
//! bottom floor of the host: it knows nothing of modules, calls or updates.

mod elf;
mod library;
#[allow(unsafe_code)]
mod open;

pub use library::{LibraryRelease, PluginInfo, RELEASE_LOG_CAPACITY};
pub(crate) use library::{LoadedLibrary, Loader, STILL_MAPPED_REASON, StagedLibrary, hex, make_library_directory, parse_sha256};
pub(crate) use open::{keep_large_allocations_apart, return_free_memory_to_the_system};

/// The ELF check the loader runs before `dlopen`, on bytes alone, for the fuzz target (through
/// [`crate::fuzzing`]): refused with the message a person would read, or accepted.
pub(crate) fn check_library_bytes(bytes: &[u8]) -> Result<(), String> {
    elf::check_loadable(std::path::Path::new("fuzz-input.so"), bytes).map_err(|error| error.to_string())
}
