//! The traits that tie a module interface (a trait marked `#[interface]`) to its function table,
//! its host-side proxy and its plugin-side implementation.

use std::ffi::c_void;

/// A module interface, implemented by `#[interface]` for `dyn YourTrait`.
///
/// # Safety
/// `Table` must be `#[repr(C)]` and made only of `extern "C"` function pointers whose signatures
/// are covered by `FINGERPRINT`, and `proxy` must call only through those pointers. Only the
/// `#[interface]` macro should implement this trait.
pub unsafe trait Interface: 'static {
    /// The `#[repr(C)]` function table a plugin exports.
    type Table: Sync + 'static;
    /// The typed caller a host uses, borrowing the table for one call guard.
    type Proxy<'call>;
    /// The interface id. A host refuses a plugin whose id differs.
    const ID: &'static str;
    /// A fingerprint of every method signature. A host refuses a plugin whose fingerprint differs.
    const FINGERPRINT: u64;

    /// Makes a proxy that calls `instance` through `table`.
    ///
    /// # Safety
    /// `table` must be the table a plugin exported for this interface and `instance` an instance
    /// that the same plugin created and has not destroyed, and both must stay alive and unswapped
    /// for as long as the proxy is used.
    unsafe fn proxy<'call>(table: &'call Self::Table, instance: *const c_void) -> Self::Proxy<'call>;
}

/// The function table of interface `Self` for the plugin type `P`, implemented by `#[interface]`.
///
/// # Safety
/// `TABLE` must point only to shims that cast the instance pointer to `P`.
pub unsafe trait Implementation<P>: Interface {
    /// The table, placed in a `static` by `export_plugin!`.
    const TABLE: Self::Table;
}
