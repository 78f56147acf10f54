//! The FFI boundary for lifecycle calls: creating, exporting, importing, preparing, resuming and
//! destroying plugin instances, each turned into a safe `Result`.
//!
//! An [`Instance`] owns one plugin instance and a reference to its library, so the library outlives
//! every instance made from it.

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;

use ecdysis_plugin_api::abi::{ByteSink, RawSlice};
use ecdysis_plugin_api::{CallError, MigrationOptions};

use crate::loader::{LoadedLibrary, PluginInfo};

/// A live plugin instance.
pub(crate) struct Instance {
    pointer: *mut c_void,
    /// The interface table, cached here so a call reads one pointer less.
    table: *const c_void,
    library: Arc<LoadedLibrary>,
}

// SAFETY: plugin instances are `Send + Sync` (the `Plugin` trait requires it), and the library
// handle is Send + Sync.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

fn call(body: impl FnOnce(ByteSink<'_>) -> ecdysis_plugin_api::abi::CallStatus) -> Result<(), CallError> {
    let mut error = Vec::new();
    let status = body(ByteSink::for_vec(&mut error));
    CallError::check(status, error)
}

impl Instance {
    /// Creates an instance with empty state.
    pub(crate) fn create(library: &Arc<LoadedLibrary>) -> Result<Instance, CallError> {
        let mut pointer = ptr::null_mut();
        // SAFETY: verified entry point; `pointer` is a writable slot.
        call(|error| unsafe { (library.entry_points().create)(&mut pointer, error) })?;
        Ok(Instance { pointer, table: library.interface_table(), library: Arc::clone(library) })
    }

    /// Creates an instance from state bytes of schema version `schema_version`, migrating with
    /// `options`.
    pub(crate) fn import(
        library: &Arc<LoadedLibrary>,
        schema_version: u32,
        state: &[u8],
        options: MigrationOptions,
    ) -> Result<Instance, CallError> {
        let mut pointer = ptr::null_mut();
        let flags = options.to_flags();
        // SAFETY: verified entry point; `state` lives for the call; `pointer` is writable.
        call(|error| unsafe { (library.entry_points().import_state)(schema_version, flags, RawSlice::new(state), &mut pointer, error) })?;
        Ok(Instance { pointer, table: library.interface_table(), library: Arc::clone(library) })
    }

    /// Exports the state in schema version `schema_version` (migrating down with `options`), copied
    /// into host memory.
    pub(crate) fn export(&self, schema_version: u32, options: MigrationOptions) -> Result<Vec<u8>, CallError> {
        let mut state = Vec::new();
        let flags = options.to_flags();
        // SAFETY: verified entry point; the instance is alive; the sink writes into `state`.
        call(|error| unsafe {
            (self.library.entry_points().export_state)(self.pointer, schema_version, flags, ByteSink::for_vec(&mut state), error)
        })?;
        Ok(state)
    }

    /// Asks the instance to reach an update point.
    pub(crate) fn prepare(&self) -> Result<(), CallError> {
        // SAFETY: verified entry point; the instance is alive.
        call(|error| unsafe { (self.library.entry_points().prepare)(self.pointer, error) })
    }

    /// Tells the instance it is live.
    pub(crate) fn resume(&self) -> Result<(), CallError> {
        // SAFETY: verified entry point; the instance is alive.
        call(|error| unsafe { (self.library.entry_points().resume)(self.pointer, error) })
    }

    /// The raw instance pointer, for the call path.
    pub(crate) fn as_ptr(&self) -> *const c_void {
        self.pointer
    }

    /// The interface table of the instance's library.
    pub(crate) fn interface_table(&self) -> *const c_void {
        self.table
    }

    /// What the library's descriptor says.
    pub(crate) fn info(&self) -> &PluginInfo {
        self.library.info()
    }

    /// The library the instance was made from.
    pub(crate) fn library(&self) -> &Arc<LoadedLibrary> {
        &self.library
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let info = self.library.info();
        // SAFETY: verified entry point; the instance is alive and never used again.
        if let Err(error) = call(|sink| unsafe { (self.library.entry_points().destroy)(self.pointer, sink) }) {
            tracing::error!(module = %info.module, version = %info.version, %error, "dropping a plugin instance failed");
        }
    }
}
