//! Loading: from a file on disk to a verified library whose descriptor the host has read. The
//! bottom floor of the host: it knows nothing of modules, calls or updates.

mod elf;
mod library;
#[allow(unsafe_code)]
mod open;

pub use library::{LibraryRelease, PluginInfo, RELEASE_LOG_CAPACITY};
pub(crate) use library::{LoadedLibrary, Loader, STILL_MAPPED_REASON, StagedLibrary, hex, parse_sha256};
