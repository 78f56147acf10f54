//! The host's side of the FFI boundary: opening a library and reading its descriptor, calling a
//! plugin's lifecycle entry points, and binding the current instance to its table for a call. All
//! of the host's `unsafe` code is in this file.
//!
//! What makes it sound, in one place:
//! - A library is trusted once the operator asks the host to load it (its initialisers run at
//!   `dlopen`, before anything can be checked). After that, nothing of it is read or called until
//!   its descriptor's magic, ABI version and size match this build's.
//! - A descriptor borrowed from a library never outlives it: [`OpenedLibrary::descriptor`] ties it
//!   to `&self`, and [`OpenedLibrary`] closes the library only when dropped.
//! - An [`Instance`] holds an `Arc` of its library, so the code it points into stays mapped while
//!   it lives.
//! - A call reaches an instance only through [`CurrentInstance::call`], which requires the
//!   in-flight mark of the calling thread; an update replaces and releases instances only after
//!   it has closed admission and drained every mark (see `call_path.rs`).

use std::ffi::c_void;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};

use ecdysis_plugin_api::descriptor::{DESCRIPTOR_SYMBOL, DescriptorHeader};
use ecdysis_plugin_api::ffi::{Bound, ByteSink, CallStatus, LogCallback, PluginDescriptor, RawSlice};
use ecdysis_plugin_api::{CallError, Interface, MigrationOptions};

use crate::call_path::InFlight;
use crate::loader::{LoadedLibrary, PluginInfo};

/// What went wrong while opening a library, before the loader names the path.
pub(crate) enum OpenError {
    /// `dlopen` refused the file.
    Open(libloading::Error),
    /// The library exports no descriptor symbol.
    NoDescriptor,
    /// The descriptor's header is not this build's (magic, ABI version, size).
    Header(DescriptorHeader),
}

/// An open library whose descriptor header matches this build. Closed by [`OpenedLibrary::close`],
/// or when dropped.
pub(crate) struct OpenedLibrary {
    library: Option<libloading::Library>,
    descriptor: NonNull<PluginDescriptor<'static>>,
}

// SAFETY: the descriptor pointer points to immutable static data of the library, which stays
// loaded as long as this value; `libloading::Library` is itself Send and Sync.
unsafe impl Send for OpenedLibrary {}
// SAFETY: as above; nothing is mutated through a shared reference.
unsafe impl Sync for OpenedLibrary {}

impl OpenedLibrary {
    /// Opens the file at `path` and checks its descriptor's header with `header_matches`. Runs no
    /// plugin function (but the library's initialisers, which `dlopen` runs).
    pub(crate) fn open(path: &Path, header_matches: impl FnOnce(&DescriptorHeader) -> bool) -> Result<OpenedLibrary, OpenError> {
        // RTLD_NOW resolves every symbol now, so a missing symbol fails the load, not a later call;
        // RTLD_LOCAL keeps the plugin's symbols out of the global namespace, so two versions of the
        // same plugin never bind to each other.
        let flags = libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL;
        // SAFETY: loading a library runs its initialisers. This is the trust an operator gives a
        // library by asking the host to load it, and is why the control surface is owner-only.
        let library = unsafe { libloading::os::unix::Library::open(Some(path), flags) }.map_err(OpenError::Open)?;
        let library = libloading::Library::from(library);
        // SAFETY: the symbol, if present, is the descriptor static; it is read as an address only.
        let descriptor = match unsafe { library.get::<*const PluginDescriptor<'static>>(DESCRIPTOR_SYMBOL) } {
            Ok(symbol) => *symbol,
            Err(_) => return Err(OpenError::NoDescriptor),
        };
        let descriptor = NonNull::new(descriptor.cast_mut()).ok_or(OpenError::NoDescriptor)?;
        // SAFETY: every ecdysis descriptor of any ABI version starts with the header, whose layout
        // never changes; reading it unaligned assumes nothing of a foreign static's alignment.
        let header = unsafe { descriptor.cast::<DescriptorHeader>().as_ptr().read_unaligned() };
        if !header_matches(&header) {
            return Err(OpenError::Header(header));
        }
        Ok(OpenedLibrary { library: Some(library), descriptor })
    }

    /// The verified descriptor, borrowed for as long as the library is open.
    pub(crate) fn descriptor(&self) -> &PluginDescriptor<'_> {
        // SAFETY: `open` checked that the header is this build's (magic, ABI version, size), so the
        // static is a `PluginDescriptor` of this layout; the library stays open while `self` lives.
        unsafe { self.descriptor.as_ref() }
    }

    /// Hands the plugin the host's log callback.
    pub(crate) fn install_logger(&self, logger: LogCallback) {
        // SAFETY: a verified entry point; the callback is a host function that lives forever.
        unsafe { (self.descriptor().entry_points.install_logger)(logger) }
    }

    /// Closes the library now.
    pub(crate) fn close(mut self) -> Result<(), libloading::Error> {
        self.library.take().map_or(Ok(()), libloading::Library::close)
    }
}

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
}

// SAFETY: plugin instances are `Send + Sync` (the `Plugin` trait requires it), and the library
// handle is Send + Sync.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    fn adopt(library: &Arc<LoadedLibrary>, pointer: *mut c_void) -> Instance {
        Instance { pointer, table: library.opened().descriptor().interface_table, library: Arc::clone(library) }
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
    pub(crate) fn call<I: Interface + ?Sized, R>(&self, _in_flight: &InFlight, body: impl FnOnce(&I::Proxy<'_>) -> R) -> R {
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
        let proxy = I::proxy(unsafe { Bound::new(table, instance.pointer) });
        body(&proxy)
    }
}
