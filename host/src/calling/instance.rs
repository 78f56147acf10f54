//! A live plugin instance at the FFI boundary: its lifecycle entry points (create, import, export,
//! prepare, resume, destroy), and the binding of the current instance to its table for a call. One
//! of the host's two files with `unsafe` code (the other is `loading/open.rs`).
//!
//! What makes it sound:
//! - An [`Instance`] holds an `Arc` of its library, so the code it points into stays mapped while
//!   it lives, and it was made by that library's verified entry points.
//! - A keyed instance in a lazy update holds the `Arc` of the [`EntrySource`] whose pointer it was
//!   given as its predecessor's context, until the plugin's `detach_predecessor` has returned
//!   (which waits for every call reaching the predecessor), and detaches before it is destroyed.
//! - A call reaches an instance only through [`CurrentInstance::call`], which requires the
//!   in-flight mark of the calling thread; an update replaces and releases instances only after
//!   it has closed admission and drained every mark (see `call_path.rs`).

use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Duration;

use ecdysis_plugin_api::ffi::{Bound, ByteSink, CallStatus, KeyedEntryPoints, NO_NEXT_TICK, Predecessor, RawSlice, RawStr};
use ecdysis_plugin_api::{CallError, Interface, MigrationOptions};
use parking_lot::Mutex;

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
    /// The predecessor attached to this instance in a lazy update, kept alive while attached.
    predecessor: Mutex<Option<Arc<EntrySource>>>,
}

// SAFETY: plugin instances are `Send + Sync` (the `Plugin` trait requires it), and the library
// handle is Send + Sync.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

impl Instance {
    fn adopt(library: &Arc<LoadedLibrary>, pointer: *mut c_void) -> Instance {
        Instance {
            pointer,
            table: library.opened().descriptor().interface_table,
            library: Arc::clone(library),
            panics: AtomicU64::new(0),
            predecessor: Mutex::new(None),
        }
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

    /// Ticks the instance: a bounded piece of its background work. Returns when it wants the next
    /// tick (`None`: no more ticks). A plugin that does not offer the hook wants none. A tick that
    /// panicked is counted as a panicking call.
    pub(crate) fn tick(&self) -> Result<Option<Duration>, CallError> {
        let Some(tick) = self.library.opened().descriptor().hooks.tick() else { return Ok(None) };
        let mut next_tick_nanos = NO_NEXT_TICK;
        // SAFETY: a verified hook of this instance's library; the instance is alive; the slot is a
        // writable local.
        let result = check(|error| unsafe { tick(self.pointer, &mut next_tick_nanos, error) });
        if let Err(CallError::Panicked { .. }) = &result {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
        result?;
        Ok((next_tick_nanos != NO_NEXT_TICK).then(|| Duration::from_nanos(next_tick_nanos)))
    }

    /// The keyed entry points of the instance's library, if it offers them.
    fn keyed(&self) -> Result<&KeyedEntryPoints, CallError> {
        self.library.opened().descriptor().hooks.keyed().ok_or_else(|| CallError::Failed {
            message: format!(
                "{} {} does not keep keyed state (it does not implement `KeyedState`)",
                self.info().module,
                self.info().version
            ),
        })
    }

    /// Whether the instance keeps keyed state, so that it can be updated lazily.
    pub(crate) fn is_keyed(&self) -> bool {
        self.library.opened().descriptor().hooks.keyed().is_some()
    }

    /// Removes `key`'s entry and returns it encoded in `schema_version`, if there is one.
    fn take_entry(&self, key: &[u8], schema_version: u32, options: MigrationOptions) -> Result<Option<Vec<u8>>, CallError> {
        let keyed = self.keyed()?;
        let mut entry = Vec::new();
        // SAFETY: a verified entry point of this instance's library; the instance is alive; the key
        // and the sinks live for the call.
        check(|error| unsafe {
            (keyed.take_entry)(self.pointer, RawSlice::new(key), schema_version, options.to_flags(), ByteSink::for_vec(&mut entry), error)
        })?;
        Ok((!entry.is_empty()).then_some(entry))
    }

    /// Removes up to `limit` entries and returns them as a batch in `schema_version`.
    fn take_entries(&self, limit: u64, schema_version: u32, options: MigrationOptions) -> Result<Vec<u8>, CallError> {
        let keyed = self.keyed()?;
        let mut batch = Vec::new();
        // SAFETY: as in `take_entry`.
        check(|error| unsafe {
            (keyed.take_entries)(self.pointer, limit, schema_version, options.to_flags(), ByteSink::for_vec(&mut batch), error)
        })?;
        Ok(batch)
    }

    /// Copies up to `limit` entries (every one for `u64::MAX`) as a batch in `schema_version`.
    pub(crate) fn export_entries(&self, limit: u64, schema_version: u32, options: MigrationOptions) -> Result<Vec<u8>, CallError> {
        let keyed = self.keyed()?;
        let mut batch = Vec::new();
        // SAFETY: as in `take_entry`.
        check(|error| unsafe {
            (keyed.export_entries)(self.pointer, limit, schema_version, options.to_flags(), ByteSink::for_vec(&mut batch), error)
        })?;
        Ok(batch)
    }

    /// Inserts a batch of entries encoded in `schema_version`: all of them, or none.
    pub(crate) fn put_entries(&self, schema_version: u32, options: MigrationOptions, batch: &[u8]) -> Result<(), CallError> {
        let keyed = self.keyed()?;
        // SAFETY: as in `take_entry`.
        check(|error| unsafe { (keyed.put_entries)(self.pointer, schema_version, options.to_flags(), RawSlice::new(batch), error) })
    }

    /// How many entries the instance holds.
    pub(crate) fn entry_count(&self) -> Result<u64, CallError> {
        let keyed = self.keyed()?;
        let mut count = 0;
        // SAFETY: as in `take_entry`; `count` is a writable local.
        check(|error| unsafe { (keyed.entry_count)(self.pointer, &mut count, error) })?;
        Ok(count)
    }

    /// Makes `source` the predecessor this instance takes entries from, after the plugin checked
    /// that it can migrate them. The instance keeps `source` alive until it is detached.
    pub(crate) fn attach_predecessor(&self, source: Arc<EntrySource>) -> Result<(), CallError> {
        let keyed = self.keyed()?;
        let mut attached = self.predecessor.lock();
        let predecessor = Predecessor {
            context: Arc::as_ptr(&source).cast(),
            schema_version: source.schema_version,
            flags: source.options.to_flags(),
            take_entry: source_take_entry,
            take_entries: source_take_entries,
            give_back: source_give_back,
        };
        // The source is kept before the plugin can use it, and dropped only after it detached.
        *attached = Some(source);
        // SAFETY: a verified entry point; the instance is alive; the context is the `EntrySource` kept
        // in `self.predecessor` until `detach_predecessor` has returned, and its functions are
        // thread-safe.
        let result = check(|error| unsafe { (keyed.attach_predecessor)(self.pointer, predecessor, error) });
        if result.is_err() {
            *attached = None;
        }
        result
    }

    /// Detaches the predecessor, once no call of the instance is reaching it; returns it.
    pub(crate) fn detach_predecessor(&self) -> Option<Arc<EntrySource>> {
        let mut attached = self.predecessor.lock();
        attached.as_ref()?;
        let keyed = self.keyed().ok()?;
        // SAFETY: a verified entry point; the instance is alive.
        if let Err(error) = check(|error| unsafe { (keyed.detach_predecessor)(self.pointer, error) }) {
            // The plugin API's own shim cannot fail; a plugin that fails here may still reach the
            // predecessor, so the source is kept alive for as long as the instance lives.
            tracing::error!(%error, "detaching the predecessor of a lazy update failed; it stays loaded");
            return None;
        }
        attached.take()
    }

    /// Moves up to `limit` entries from the attached predecessor; returns how many remain there.
    pub(crate) fn migrate_entries(&self, limit: u64) -> Result<u64, CallError> {
        let keyed = self.keyed()?;
        let mut remaining = 0;
        // SAFETY: as in `take_entry`; `remaining` is a writable local.
        check(|error| unsafe { (keyed.migrate_entries)(self.pointer, limit, &mut remaining, error) })?;
        Ok(remaining)
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
        // The plugin lets go of its predecessor before it is destroyed.
        drop(self.detach_predecessor());
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

/// An entry that a successor could not migrate, kept by the host.
struct FailedEntry {
    entry: Vec<u8>,
    reason: String,
}

/// The previous version of a lazy update as its successor reaches it: the host's side of the
/// `Predecessor` it hands the successor. It counts what moved and keeps the entries that failed to
/// migrate, so that nothing is lost and a rollback can put them back.
pub(crate) struct EntrySource {
    previous: Arc<Instance>,
    schema_version: u32,
    options: MigrationOptions,
    moved: AtomicU64,
    failed: Mutex<std::collections::HashMap<Vec<u8>, FailedEntry>>,
}

impl EntrySource {
    /// The entries of `previous`, handed out in `schema_version` (migrated with `options`).
    pub(crate) fn new(previous: Arc<Instance>, schema_version: u32, options: MigrationOptions) -> Arc<EntrySource> {
        Arc::new(EntrySource { previous, schema_version, options, moved: AtomicU64::new(0), failed: Mutex::default() })
    }

    /// The previous version.
    pub(crate) fn previous(&self) -> &Arc<Instance> {
        &self.previous
    }

    /// The schema version entries cross in.
    pub(crate) fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// How many entries have moved to the successor.
    pub(crate) fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// How many entries the previous version still holds.
    pub(crate) fn remaining_in_previous(&self) -> Result<u64, CallError> {
        self.previous.entry_count()
    }

    /// How many entries failed to migrate, and the first of them: its key and why.
    pub(crate) fn failures(&self) -> (u64, Option<(String, String)>) {
        let failed = self.failed.lock();
        let first = failed.iter().next().map(|(key, entry)| (String::from_utf8_lossy(key).into_owned(), entry.reason.clone()));
        (failed.len() as u64, first)
    }

    /// Takes the entries that failed to migrate (key, entry in the transfer schema), for a rollback.
    pub(crate) fn take_failed(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.failed.lock().drain().map(|(key, entry)| (key, entry.entry)).collect()
    }

    /// Puts back entries taken by [`EntrySource::take_failed`] (a rollback that did not happen).
    pub(crate) fn restore_failed(&self, entries: Vec<(Vec<u8>, Vec<u8>)>, reason: &str) {
        let mut failed = self.failed.lock();
        for (key, entry) in entries {
            failed.insert(key, FailedEntry { entry, reason: reason.to_owned() });
        }
    }

    fn take_entry(&self, key: &[u8]) -> Result<Option<Vec<u8>>, CallError> {
        // An entry that failed before is handed out again: its migration fails again, and the call
        // that touched it says why.
        if let Some(failed) = self.failed.lock().remove(key) {
            self.moved.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(failed.entry));
        }
        let entry = self.previous.take_entry(key, self.schema_version, self.options)?;
        if entry.is_some() {
            self.moved.fetch_add(1, Ordering::Relaxed);
        }
        Ok(entry)
    }

    fn take_entries(&self, limit: u64) -> Result<(Vec<u8>, u64), CallError> {
        let batch = self.previous.take_entries(limit, self.schema_version, self.options)?;
        self.moved.fetch_add(batch_length(&batch), Ordering::Relaxed);
        Ok((batch, self.previous.entry_count()?))
    }

    fn give_back(&self, key: &[u8], entry: &[u8], reason: &str) {
        self.moved.fetch_sub(1, Ordering::Relaxed);
        tracing::warn!(key = %String::from_utf8_lossy(key), reason, "an entry could not be migrated; it is kept for a rollback");
        self.failed.lock().insert(key.to_vec(), FailedEntry { entry: entry.to_vec(), reason: reason.to_owned() });
    }
}

/// The number of items of a MessagePack array (a batch of entries); 0 when `batch` is not one.
pub(crate) fn batch_length(batch: &[u8]) -> u64 {
    match batch {
        [marker @ 0x90..=0x9f, ..] => u64::from(marker & 0x0f),
        [0xdc, high, low, ..] => u64::from(u16::from_be_bytes([*high, *low])),
        [0xdd, a, b, c, d, ..] => u64::from(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => 0,
    }
}

/// Runs one of the source's functions for a plugin: a panic of the host's own code must not unwind
/// into the plugin, so it becomes an error.
fn serve_plugin(mut error: ByteSink<'_>, body: impl FnOnce() -> Result<(), CallError>) -> CallStatus {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => CallStatus::OK,
        Ok(Err(failure)) => {
            error.write(failure.to_string().as_bytes());
            CallStatus::FAILED
        }
        Err(_) => {
            error.write(b"the host panicked while handing out entries");
            CallStatus::FAILED
        }
    }
}

/// The predecessor's `take_entry`, for a plugin.
///
/// # Safety
/// `context` must be the `EntrySource` an instance keeps while its predecessor is attached.
unsafe extern "C" fn source_take_entry(
    context: *const c_void,
    key: RawSlice<'_, u8>,
    mut out: ByteSink<'_>,
    error: ByteSink<'_>,
) -> CallStatus {
    // SAFETY: the caller's contract: the source lives while the predecessor is attached.
    let source = unsafe { &*context.cast::<EntrySource>() };
    serve_plugin(error, || {
        if let Some(entry) = source.take_entry(key.as_slice())? {
            out.write(&entry);
        }
        Ok(())
    })
}

/// The predecessor's `take_entries`, for a plugin.
///
/// # Safety
/// As for `source_take_entry`; `remaining` must be writable.
unsafe extern "C" fn source_take_entries(
    context: *const c_void,
    limit: u64,
    mut out: ByteSink<'_>,
    remaining: *mut u64,
    error: ByteSink<'_>,
) -> CallStatus {
    // SAFETY: the caller's contract: the source lives while the predecessor is attached.
    let source = unsafe { &*context.cast::<EntrySource>() };
    serve_plugin(error, || {
        let (batch, left) = source.take_entries(limit)?;
        out.write(&batch);
        // SAFETY: the caller passes a writable slot.
        unsafe { remaining.write(left) };
        Ok(())
    })
}

/// The predecessor's `give_back`, for a plugin.
///
/// # Safety
/// As for `source_take_entry`.
unsafe extern "C" fn source_give_back(context: *const c_void, key: RawSlice<'_, u8>, entry: RawSlice<'_, u8>, reason: RawStr<'_>) {
    // SAFETY: the caller's contract: the source lives while the predecessor is attached.
    let source = unsafe { &*context.cast::<EntrySource>() };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        source.give_back(key.as_slice(), entry.as_slice(), &String::from_utf8_lossy(reason.as_bytes()));
    }));
}
