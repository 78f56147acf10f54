//! Opening a library and reading its descriptor: `dlopen`, the descriptor symbol, the header check.
//! Also the two calls into the C library's allocator, `malloc_trim` and `mallopt`. One of the host's two files
//! with `unsafe` code (the other is `calling/instance.rs`).
//!
//! What makes it sound: a library is trusted once the operator asks the host to load it (its
//! initialisers run at `dlopen`, before anything can be checked). After that, nothing of it is read
//! or called until its descriptor's magic, ABI version and size match this build's, and a
//! descriptor borrowed from a library never outlives it: [`OpenedLibrary::descriptor`] ties it to
//! `&self`, and [`OpenedLibrary`] closes the library only when dropped.

use std::ffi::c_void;
use std::path::Path;
use std::ptr::NonNull;

use ecdysis_plugin_api::descriptor::{DESCRIPTOR_SYMBOL, DescriptorHeader};
use ecdysis_plugin_api::ffi::{ClockSource, LogCallback, PluginDescriptor};

use crate::clock::{Clock, ClockShared};

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

    /// Hands the plugin the host's `clock`, if the library offers the hook. What is returned keeps
    /// what the library reads through alive: keep it until the library is closed.
    pub(crate) fn install_clock(&self, clock: &Clock) -> Option<InstalledClock> {
        let install = self.descriptor().hooks.install_clock()?;
        let source =
            Box::new(ClockSource { context: clock.context(), wall_unix_nanos: read_wall_clock, monotonic_nanos: read_monotonic_clock });
        // SAFETY: a verified hook; the source is boxed (its address does not change) and kept, with
        // the clock its context points to, by the `InstalledClock` the caller keeps until the
        // library is closed.
        unsafe { install(&*source) };
        Some(InstalledClock { _source: source, _clock: clock.clone() })
    }

    /// Closes the library now.
    pub(crate) fn close(mut self) -> Result<(), libloading::Error> {
        self.library.take().map_or(Ok(()), libloading::Library::close)
    }
}

/// A clock installed into a library: the source it reads through and the clock behind it, kept
/// alive together for as long as the library is open.
pub(crate) struct InstalledClock {
    _source: Box<ClockSource>,
    _clock: Clock,
}

/// The wall clock a library reads through its installed [`ClockSource`].
///
/// # Safety
/// `context` must be the context of a live [`Clock`] ([`Clock::context`]).
unsafe extern "C" fn read_wall_clock(context: *const c_void) -> i64 {
    // SAFETY: the caller's contract: an `InstalledClock` keeps the clock alive while the library
    // that calls this is open.
    let clock = unsafe { &*context.cast::<ClockShared>() };
    clock.wall_unix_nanos()
}

/// The monotonic clock a library reads through its installed [`ClockSource`].
///
/// # Safety
/// As for [`read_wall_clock`].
unsafe extern "C" fn read_monotonic_clock(context: *const c_void) -> u64 {
    // SAFETY: as in `read_wall_clock`.
    let clock = unsafe { &*context.cast::<ClockShared>() };
    clock.monotonic_nanos()
}

// glibc's `malloc_trim` takes a byte count, dereferences nothing the caller passes, and may be
// called from any thread at any time: declaring it `safe` asserts exactly that.
unsafe extern "C" {
    safe fn malloc_trim(pad: usize) -> std::ffi::c_int;
}

/// Gives the C library's free memory back to the system: glibc's `malloc_trim(0)`, which releases
/// the free pages of every arena. An update frees a whole state's worth of memory (the old
/// instance, the exported bytes), much of it in the arenas of threads that have ended, where glibc
/// would otherwise keep it for good.
pub(crate) fn return_free_memory_to_the_system() {
    malloc_trim(0);
}

// glibc's `mallopt` takes two integers, dereferences nothing, and may be called at any time:
// declaring it `safe` asserts exactly that.
unsafe extern "C" {
    safe fn mallopt(parameter: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
}

/// glibc's `M_MMAP_THRESHOLD`.
const M_MMAP_THRESHOLD: std::ffi::c_int = -3;

/// The size from which glibc gives each allocation pages of its own, as its default is.
const MMAP_THRESHOLD_BYTES: std::ffi::c_int = 128 * 1024;

/// Keeps glibc's threshold for allocations with pages of their own at its default of 128 KiB, once
/// per process, unless the program chose one (`MALLOC_MMAP_THRESHOLD_`). glibc raises it whenever
/// such an allocation is freed; then the large buffers of a state transfer (the exported bytes,
/// each migration step's vector of entries) come from an arena, and a freed one stays resident
/// while the next, larger one is made: at the peak of an update of 100,000 kv keys that was a
/// fifth of the memory. With the threshold fixed, each is unmapped when freed.
pub(crate) fn keep_large_allocations_apart() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() && mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1 {
            tracing::debug!("glibc refused to fix its mmap threshold");
        }
    });
}
