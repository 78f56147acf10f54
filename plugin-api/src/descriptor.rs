//! The `#[repr(C)]` descriptor that every plugin exports, and the entry points it lists.
//!
//! A host reads the [`DescriptorHeader`] first (magic and ABI version), and only when both match
//! reads the rest of the [`PluginDescriptor`] and calls any plugin function. Changing the layout of
//! anything in this file means bumping [`ABI_VERSION`].

use std::ffi::c_void;

use crate::abi::{ByteSink, CallStatus, RawSlice, RawStr};
use crate::log::LogCallback;

/// The version of the binary contract in this file. A host refuses plugins of any other version.
pub const ABI_VERSION: u32 = 1;

/// The name of the exported descriptor symbol, NUL-terminated for `dlsym`.
pub const DESCRIPTOR_SYMBOL: &[u8] = b"ECDYSIS_PLUGIN_DESCRIPTOR\0";

/// The first bytes of every descriptor.
pub const MAGIC: [u8; 8] = *b"ECDYSIS\0";

/// The part of the descriptor whose layout never changes between ABI versions.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DescriptorHeader {
    /// Always [`MAGIC`].
    pub magic: [u8; 8],
    /// The [`ABI_VERSION`] the plugin was built against.
    pub abi_version: u32,
    /// `size_of::<PluginDescriptor>()` in the plugin's build.
    pub descriptor_size: u32,
}

impl DescriptorHeader {
    /// The header of a plugin built against this crate.
    #[must_use]
    pub const fn current() -> DescriptorHeader {
        DescriptorHeader { magic: MAGIC, abi_version: ABI_VERSION, descriptor_size: size_of::<PluginDescriptor>() as u32 }
    }
}

/// An edge of the plugin's migration graph: it can turn state of schema version `from` into `to`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MigrationEdge {
    /// The version read.
    pub from: u32,
    /// The version produced.
    pub to: u32,
}

/// What a plugin exports under [`DESCRIPTOR_SYMBOL`]. Built by `export_plugin!`.
#[repr(C)]
pub struct PluginDescriptor {
    /// Magic and ABI version, read before anything else.
    pub header: DescriptorHeader,
    /// The name of the module this plugin implements (e.g. `counter`).
    pub module_name: RawStr,
    /// The plugin's own version, semver (the crate version).
    pub plugin_version: RawStr,
    /// The id of the interface whose table `interface_table` points to.
    pub interface_id: RawStr,
    /// A fingerprint of every signature of that interface.
    pub interface_fingerprint: u64,
    /// The name of the plugin's state schema.
    pub schema_name: RawStr,
    /// The version of the plugin's state schema.
    pub schema_version: u32,
    /// Every migration step the plugin can run.
    pub migrations: RawSlice<MigrationEdge>,
    /// Lifecycle entry points.
    pub entry_points: EntryPoints,
    /// The interface's function table (a `static` in the plugin).
    pub interface_table: *const c_void,
}

// SAFETY: a descriptor is immutable static data; its pointers point to other immutable statics.
unsafe impl Sync for PluginDescriptor {}

/// The lifecycle functions of a plugin. Each catches panics and reports them as a status.
#[repr(C)]
pub struct EntryPoints {
    /// Gives the plugin the host's log callback. Called once, right after verification.
    pub install_logger: unsafe extern "C" fn(logger: LogCallback),
    /// Builds a fresh instance with empty state and writes its pointer to `out`.
    pub create: unsafe extern "C" fn(out: *mut *mut c_void, error: ByteSink<'_>) -> CallStatus,
    /// Writes the instance's state, encoded in `schema_version` (migrating down with the
    /// `MigrationOptions` flags `flags`), to `out`. Does not modify the instance.
    pub export_state: unsafe extern "C" fn(
        instance: *const c_void,
        schema_version: u32,
        flags: u32,
        out: ByteSink<'_>,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Builds an instance from state encoded in `schema_version` (migrating it up with the
    /// `MigrationOptions` flags `flags`) and writes its pointer to `out`.
    pub import_state: unsafe extern "C" fn(
        schema_version: u32,
        flags: u32,
        state: RawSlice<u8>,
        out: *mut *mut c_void,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Asks the instance to reach an update point (park its own threads). An error refuses.
    pub prepare: unsafe extern "C" fn(instance: *const c_void, error: ByteSink<'_>) -> CallStatus,
    /// Tells the instance it is live: after a refused or failed update for the old instance, after
    /// the swap for the new one.
    pub resume: unsafe extern "C" fn(instance: *const c_void, error: ByteSink<'_>) -> CallStatus,
    /// Drops the instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void, error: ByteSink<'_>) -> CallStatus,
}

/// Collects the migration edges of `steps` into an array, at compile time.
#[doc(hidden)]
#[must_use]
pub const fn migration_edges<const N: usize>(steps: &[crate::migrate::MigrationStep]) -> [MigrationEdge; N] {
    let mut edges = [MigrationEdge { from: 0, to: 0 }; N];
    let mut index = 0;
    while index < N {
        edges[index] = MigrationEdge { from: steps[index].from, to: steps[index].to };
        index += 1;
    }
    edges
}
