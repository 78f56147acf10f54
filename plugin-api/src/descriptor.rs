//! The `#[repr(C)]` descriptor that every plugin exports, and the entry points it lists.
//!
//! A host reads the [`DescriptorHeader`] first (magic and ABI version), and only when both match
//! reads the rest of the [`PluginDescriptor`] and calls any plugin function. Changing the layout of
//! anything in this file or of the descriptor (in [`crate::ffi`]) means bumping [`ABI_VERSION`];
//! new optional hooks are appended to [`Hooks`] instead, without a new version.

pub use crate::ffi::{EntryPoints, HookTable, Hooks, PluginDescriptor};

/// The version of the binary contract in this file. A host refuses plugins of any other version.
pub const ABI_VERSION: u32 = 2;

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
    /// `size_of::<PluginDescriptor<'_>>()` in the plugin's build.
    pub descriptor_size: u32,
}

impl DescriptorHeader {
    /// The header of a plugin built against this crate.
    #[must_use]
    pub const fn current() -> DescriptorHeader {
        DescriptorHeader { magic: MAGIC, abi_version: ABI_VERSION, descriptor_size: size_of::<PluginDescriptor<'_>>() as u32 }
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
