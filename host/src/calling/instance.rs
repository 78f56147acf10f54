//! A live plugin instance at the FFI boundary: its lifecycle entry points (create, import, export,
//! prepare, resume, destroy), and the binding of the current instance to its table for a call. One
//! of the host's two files with `unsafe` code (the other is `loading/open.rs`).
//!
//! What makes it sound:
//! - An [`Instance`] holds an `Arc` of its library, so the code it points into stays mapped while
//!   it lives, and it was made by that library's verified entry points.
//! - A call reaches an instance only through [`CurrentInstance::call`], which requires the
//!   in-flight mark of the calling thread; an update replaces and releases instances only after
//!   it has closed admission and drained every mark (see `call_path.rs`).

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use ecdysis_plugin_api::ffi::{Bound, ByteSink, CallStatus, RawSlice};
use ecdysis_plugin_api::{CallError, Interface, MigrationOptions};

use crate::calling::call_path::InFlight;
use crate::loading::{LoadedLibrary, PluginInfo};

/// Turns a call's status and error bytes into a result.
fn check(body: impl FnOnce(ByteSink<'_>) -> CallStatus) -> Result<(), CallError> {
    let mut error = Vec::new();
    let status = body(ByteSink::for_vec(&mut error));
    CallError::check(status, error)
}

/// A live plugin instance, made by its library's `create` or `import_state`.
pub(crate) struct Instance {
    pointer: *mut c_void,
    /// The interface table, cached here so a call reads one pointer less.
    table: *const c_void,
    library: Arc<LoadedLibrary>,
    /// How many calls into this instance panicked (written only when one does).
    panics: AtomicU64,
}

// SAFETY: plugin instances are `Send + Sync` (the `Plugin` trait requires it), and the library
// handle is Send + Sync.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    fn adopt(library: &Arc<LoadedLibrary>, pointer: *mut c_void) -> Instance {
        Instance { pointer, table: library.opened().descriptor().interface_table, library: Arc::clone(library), panics: AtomicU64::new(0) }
    }

    /// Creates an instance with empty state.
    pub(crate) fn create(library: &Arc<LoadedLibrary>) -> Result<Instance, CallError> {
        let mut pointer = ptr::null_mut();
        let entry_points = &library.opened().descriptor().entry_points;
        // SAFETY: a verified entry point; `pointer` is a writable slot.
        check(|error| unsafe { (entry_points.create)(&mut pointer, error) })?;
        Ok(Instance::adopt(library, pointer))
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
        let entry_points = &library.opened().descriptor().entry_points;
        // SAFETY: a verified entry point; `state` lives for the call; `pointer` is writable.
        check(|error| unsafe { (entry_points.import_state)(schema_version, flags, RawSlice::new(state), &mut pointer, error) })?;
        Ok(Instance::adopt(library, pointer))
    }

    /// Exports the state in schema version `schema_version` (migrating down with `options`), copied
    /// into host memory.
    pub(crate) fn export(&self, schema_version: u32, options: MigrationOptions) -> Result<Vec<u8>, CallError> {
        let mut state = Vec::new();
        let flags = options.to_flags();
        let entry_points = &self.library.opened().descriptor().entry_points;
        // SAFETY: a verified entry point; the instance is alive; the sink writes into `state`.
        check(|error| unsafe { (entry_points.export_state)(self.pointer, schema_version, flags, ByteSink::for_vec(&mut state), error) })?;
        Ok(state)
    }

    /// Asks the instance to reach an update point. A plugin that does not offer the hook is always
    /// at one.
    pub(crate) fn prepare(&self) -> Result<(), CallError> {
        let Some(prepare) = self.library.opened().descriptor().hooks.prepare() else { return Ok(()) };
        // SAFETY: a verified hook of this instance's library; the instance is alive.
        check(|error| unsafe { prepare(self.pointer, error) })
    }

    /// Tells the instance it is live. A plugin that does not offer the hook has nothing to restart.
    pub(crate) fn resume(&self) -> Result<(), CallError> {
        let Some(resume) = self.library.opened().descriptor().hooks.resume() else { return Ok(()) };
        // SAFETY: a verified hook of this instance's library; the instance is alive.
        check(|error| unsafe { resume(self.pointer, error) })
    }

    /// Asks the instance whether it is healthy. A plugin that does not offer the hook is.
    pub(crate) fn health(&self) -> Result<(), CallError> {
        let Some(health) = self.library.opened().descriptor().hooks.health() else { return Ok(()) };
        // SAFETY: a verified hook of this instance's library; the instance is alive.
        check(|error| unsafe { health(self.pointer, error) })
    }

    /// How many calls into the instance panicked since it was made.
    pub(crate) fn panicked_calls(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// What the instance's library's descriptor says.
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
        let entry_points = &self.library.opened().descriptor().entry_points;
        // SAFETY: a verified entry point; the instance is alive and never used again.
        if let Err(error) = check(|sink| unsafe { (entry_points.destroy)(self.pointer, sink) }) {
            tracing::error!(module = %info.module, version = %info.version, %error, "dropping a plugin instance failed");
        }
    }
}

/// The instance calls of one module go to: a pointer the call path reads without touching the
/// `Arc` that owns the instance.
///
/// The module's registry entry keeps the `Arc` of every instance this has pointed to since the last
/// drain: the current one, and the one before until the next update (which drains first) releases
/// it. [`CurrentInstance::publish`] is called only while admission is closed and drained.
pub(crate) struct CurrentInstance {
    pointer: AtomicPtr<Instance>,
}

impl CurrentInstance {
    /// Points to `instance`, which the caller keeps alive.
    pub(crate) fn new(instance: &Arc<Instance>) -> CurrentInstance {
        CurrentInstance { pointer: AtomicPtr::new(Arc::as_ptr(instance).cast_mut()) }
    }

    /// Points to `instance` from now on. Call only while admission is closed and drained, keeping
    /// the `Arc` of the instance pointed to before until the next drain.
    pub(crate) fn publish(&self, instance: &Arc<Instance>) {
        self.pointer.store(Arc::as_ptr(instance).cast_mut(), Ordering::Release);
    }

    /// Runs `body` with a proxy to the current instance, for as long as this thread's in-flight
    /// mark `_in_flight` lives.
    #[inline]
    pub(crate) fn call<I: Interface + ?Sized, R>(&self, _in_flight: &InFlight<'_>, body: impl FnOnce(&I::Proxy<'_>) -> R) -> R {
        // SAFETY: the caller holds this thread's in-flight mark in the module for the whole of this
        // function, so no update can pass quiescence, publish another instance and release this one
        // until `body` has returned; the pointer is to an instance whose `Arc` the module keeps (see
        // the type's documentation).
        let instance = unsafe { &*self.pointer.load(Ordering::Acquire) };
        // SAFETY: the table was verified to be an `I::Table` when the module was loaded and for every
        // version since (interface id and fingerprint); it is static data of the instance's library,
        // which the instance keeps loaded.
        let table = unsafe { &*instance.table.cast::<I::Table>() };
        // SAFETY: the instance was made by the library that exported the table, and both live until
        // `body` returns (above). The proxy's lifetime is that of this call: `body` cannot keep it.
        let proxy = I::proxy(unsafe { Bound::new(table, instance.pointer, &instance.panics) });
        body(&proxy)
    }
}
