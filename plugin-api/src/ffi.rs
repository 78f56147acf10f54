//! The FFI boundary as both sides see it: every type that crosses between a host and a plugin, the
//! plugin's exported descriptor, the shims that enter plugin code, and the typed calls that leave
//! host code. All of the plugin API's `unsafe` code is in this file.
//!
//! Every value that crosses is a primitive (integers, floats, `bool`), one of the `#[repr(C)]` types
//! below, or MessagePack bytes carried by them. No Rust-layout type, no allocation and no vtable
//! crosses the boundary. Borrowed values carry the lifetime of what they borrow ([`RawStr`],
//! [`RawSlice`]), so safe code can only make them from live data; values that arrive from the other
//! side are turned into references only here, by the shims, for the duration of one call.
//!
//! The code that `#[interface]` and `export_plugin!` generate spells out no `unsafe` block: it
//! describes each method ([`Signature`], [`MethodBody`]) and calls the functions of this module.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::{MaybeUninit, offset_of};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::codec::StateEncoder;
use crate::descriptor::{DescriptorHeader, MigrationEdge};
use crate::error::{CallError, ShimFailure, guard};
use crate::export::Plugin;
use crate::keyed::KeyedState;
use crate::migrate::{MigrationOptions, MigrationStep, Schema, decode_from_version, encode_to_version};

// ------------------------------------------------------------------------------------------------
// Borrowed values.

/// A borrowed UTF-8 string passed across the boundary as pointer and length.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawStr<'a> {
    ptr: *const u8,
    len: usize,
    _borrow: PhantomData<&'a str>,
}

// SAFETY: a `RawStr<'a>` is a `&'a str` in another form, and `&str` is `Send + Sync`.
unsafe impl Send for RawStr<'_> {}
// SAFETY: as above.
unsafe impl Sync for RawStr<'_> {}

impl<'a> RawStr<'a> {
    /// Borrows `text` for `'a` (a call, or `'static` in a descriptor).
    #[must_use]
    pub const fn new(text: &'a str) -> RawStr<'a> {
        RawStr { ptr: text.as_ptr(), len: text.len(), _borrow: PhantomData }
    }

    /// The string's bytes. A host reading a descriptor it does not trust yet checks them as UTF-8
    /// itself rather than calling [`RawStr::as_str`].
    #[must_use]
    pub fn as_bytes(self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: a `RawStr<'a>` is made by `new` from a `&'a str`, or arrives through a shim that
        // received it from a caller who made it so; the bytes live and stay unchanged for `'a`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The string.
    #[must_use]
    pub fn as_str(self) -> &'a str {
        // SAFETY: as in `as_bytes`; the bytes came from a `&str`, so they are UTF-8.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }
}

/// A borrowed slice passed across the boundary as pointer and length.
#[repr(C)]
#[derive(Debug)]
pub struct RawSlice<'a, T> {
    ptr: *const T,
    len: usize,
    _borrow: PhantomData<&'a [T]>,
}

impl<T> Clone for RawSlice<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for RawSlice<'_, T> {}

// SAFETY: a `RawSlice<'a, T>` is a `&'a [T]` in another form, which is `Send + Sync` for `T: Sync`.
unsafe impl<T: Sync> Send for RawSlice<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for RawSlice<'_, T> {}

impl<'a, T> RawSlice<'a, T> {
    /// Borrows `items` for `'a` (a call, or `'static` in a descriptor).
    #[must_use]
    pub const fn new(items: &'a [T]) -> RawSlice<'a, T> {
        RawSlice { ptr: items.as_ptr(), len: items.len(), _borrow: PhantomData }
    }

    /// The slice.
    #[must_use]
    pub fn as_slice(self) -> &'a [T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: as for `RawStr::as_bytes`: made from a live `&'a [T]`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A writer owned by the caller into which the callee copies bytes.
///
/// This is how results, exported state and error messages leave a plugin: the bytes are copied
/// into memory the host allocated, by a function of the host, so no plugin allocation outlives the
/// call that made it.
#[repr(C)]
pub struct ByteSink<'a> {
    context: *mut c_void,
    write: unsafe extern "C" fn(context: *mut c_void, ptr: *const u8, len: usize),
    _target: PhantomData<&'a mut Vec<u8>>,
}

impl<'a> ByteSink<'a> {
    /// A sink that appends to `buffer`.
    #[must_use]
    #[inline]
    pub fn for_vec(buffer: &'a mut Vec<u8>) -> ByteSink<'a> {
        unsafe extern "C" fn append(context: *mut c_void, ptr: *const u8, len: usize) {
            // SAFETY: `context` is the `&mut Vec<u8>` given to `for_vec`, borrowed for the sink's
            // lifetime.
            let buffer = unsafe { &mut *(context as *mut Vec<u8>) };
            // SAFETY: `write` passes a live byte range.
            buffer.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) });
        }
        ByteSink { context: buffer as *mut Vec<u8> as *mut c_void, write: append, _target: PhantomData }
    }

    /// Copies `bytes` into the sink's buffer.
    pub fn write(&mut self, bytes: &[u8]) {
        // SAFETY: `context` and `write` were paired by `for_vec` (here or in the caller's copy of
        // this crate, for a sink that crossed the boundary); `bytes` is a live slice.
        unsafe { (self.write)(self.context, bytes.as_ptr(), bytes.len()) }
    }
}

/// The outcome of one call across the boundary. A transparent integer, never a Rust enum, so that
/// an unexpected value from a foreign library is an error rather than undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallStatus(pub u32);

impl CallStatus {
    /// The call returned normally and wrote its result.
    pub const OK: CallStatus = CallStatus(0);
    /// The plugin panicked; the error sink holds the panic message.
    pub const PANICKED: CallStatus = CallStatus(1);
    /// The plugin returned an error; the error sink holds its message.
    pub const FAILED: CallStatus = CallStatus(2);
    /// Arguments or state could not be decoded; the error sink holds the decoder's message.
    pub const DECODE_FAILED: CallStatus = CallStatus(3);
}

// ------------------------------------------------------------------------------------------------
// The descriptor.

/// What a plugin exports under [`DESCRIPTOR_SYMBOL`](crate::DESCRIPTOR_SYMBOL). Built by
/// `export_plugin!`; `'a` is `'static` in the plugin and the library's lifetime in a host.
#[repr(C)]
pub struct PluginDescriptor<'a> {
    /// Magic and ABI version, read before anything else.
    pub header: DescriptorHeader,
    /// The name of the module this plugin implements (e.g. `counter`).
    pub module_name: RawStr<'a>,
    /// The plugin's own version, semver (the crate version).
    pub plugin_version: RawStr<'a>,
    /// The id of the interface whose table `interface_table` points to.
    pub interface_id: RawStr<'a>,
    /// A fingerprint of every signature of that interface.
    pub interface_fingerprint: u64,
    /// The name of the plugin's state schema.
    pub schema_name: RawStr<'a>,
    /// The version of the plugin's state schema.
    pub schema_version: u32,
    /// Every migration step the plugin can run.
    pub migrations: RawSlice<'a, MigrationEdge>,
    /// The lifecycle entry points every plugin has.
    pub entry_points: EntryPoints,
    /// The optional hooks the plugin offers, in a table that grows without an ABI change.
    pub hooks: HookTable<'a>,
    /// The interface's function table (a `static` in the plugin).
    pub interface_table: *const c_void,
}

// SAFETY: a descriptor is immutable static data; its pointers point to other immutable statics.
unsafe impl Sync for PluginDescriptor<'_> {}

/// The host's log callback: a level (see [`crate::log::Level`]) and a message borrowed for the call.
pub type LogCallback = unsafe extern "C" fn(level: u32, message: RawStr<'_>);

/// The lifecycle functions every plugin exports. Each catches panics and reports them as a status.
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
        state: RawSlice<'_, u8>,
        out: *mut *mut c_void,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Drops the instance.
    pub destroy: unsafe extern "C" fn(instance: *mut c_void, error: ByteSink<'_>) -> CallStatus,
}

/// A hook that takes an instance and reports success or an error.
pub type InstanceHook = unsafe extern "C" fn(instance: *const c_void, error: ByteSink<'_>) -> CallStatus;

/// The optional hooks of a plugin, designed to grow: new hooks are appended at the end, and a
/// reader takes only the entries that lie within the `size` the plugin's build recorded, so an
/// older plugin simply does not offer a newer hook, and an older host ignores hooks it does not
/// know. A `None` entry means "not offered": the host then does what the hook's documentation
/// says it does without it. Never reorder, remove or retype an entry; that would need a new
/// [`ABI_VERSION`](crate::ABI_VERSION).
///
/// To add a hook: append a field `pub name: Option<T>`, where `T` is an `extern "C"` function
/// pointer or a reference to a `#[repr(C)]` table of them (so that `None` is a null pointer), add
/// an accessor to [`HookTable`] that reads it with `entry::<T>(offset_of!(Hooks, name))`, fill it
/// in `export_plugin!`, and say in its documentation what the host does when it is not offered.
#[repr(C)]
pub struct Hooks {
    /// Asks the instance to reach an update point (park its own threads). An error refuses the
    /// update. Not offered: the instance is always at an update point once calls have drained.
    pub prepare: Option<InstanceHook>,
    /// Tells the instance it is live: after a refused or failed update for the old instance, after
    /// the swap for the new one. Not offered: nothing to restart.
    pub resume: Option<InstanceHook>,
    /// Asks the instance whether it is healthy; an error says why not. The host asks during
    /// probation and rolls back a new version that is not. Not offered: healthy.
    pub health: Option<InstanceHook>,
    /// The entry points of a keyed plugin, through which a lazy update moves its state entry by
    /// entry (see [`crate::keyed`]). Not offered: the plugin is updated eagerly only.
    pub keyed: Option<&'static KeyedEntryPoints>,
    /// Gives the library the host's clock, which [`crate::clock`] reads from then on. Called once
    /// per library copy, right after the logger is installed. Not offered: the host hands over no
    /// clock (the plugin was built before clocks were), and nothing in it reads one.
    pub install_clock: Option<InstallClockHook>,
    /// Does a bounded piece of the instance's background work ([`Plugin::tick`]) and writes when
    /// it wants the next tick, in nanoseconds of the host's monotonic clock from now, or
    /// [`NO_NEXT_TICK`]. Not offered: the instance is never ticked.
    pub tick: Option<TickHook>,
}

/// The host's clock as a plugin library reads it: a context and two functions of the host. The
/// host keeps it at a fixed address, and it and its context alive, for as long as the library it
/// was installed into is loaded.
#[repr(C)]
pub struct ClockSource {
    /// The host's clock, passed back to both functions.
    pub context: *const c_void,
    /// Wall-clock time: signed nanoseconds since the Unix epoch.
    pub wall_unix_nanos: unsafe extern "C" fn(context: *const c_void) -> i64,
    /// Monotonic time: nanoseconds since an origin the host fixed, never going back.
    pub monotonic_nanos: unsafe extern "C" fn(context: *const c_void) -> u64,
}

// SAFETY: a `ClockSource` is immutable once made, and the host's functions may be called from any
// thread (their context is the host's `Send + Sync` clock).
unsafe impl Send for ClockSource {}
// SAFETY: as above.
unsafe impl Sync for ClockSource {}

/// The `install_clock` hook: the library keeps `clock` and reads time through it from then on.
pub type InstallClockHook = unsafe extern "C" fn(clock: *const ClockSource);

/// The `tick` hook: ticks the instance and writes to `next_tick_nanos` when it wants the next tick.
pub type TickHook = unsafe extern "C" fn(instance: *const c_void, next_tick_nanos: *mut u64, error: ByteSink<'_>) -> CallStatus;

/// What a tick writes when the instance wants no more ticks.
pub const NO_NEXT_TICK: u64 = u64::MAX;

/// A plugin's [`Hooks`] as it exports them: where they are and how large its build made them.
#[repr(C)]
pub struct HookTable<'a> {
    /// `size_of::<Hooks>()` in the plugin's build.
    size: usize,
    hooks: *const Hooks,
    _borrow: PhantomData<&'a Hooks>,
}

impl<'a> HookTable<'a> {
    /// The table of `hooks`, as this build of the crate lays it out.
    #[must_use]
    pub const fn new(hooks: &'a Hooks) -> HookTable<'a> {
        HookTable { size: size_of::<Hooks>(), hooks, _borrow: PhantomData }
    }

    /// How many bytes of [`Hooks`] the plugin's build has: entries beyond are not offered.
    #[must_use]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The entry of type `Option<T>` at byte `offset` of [`Hooks`], if the plugin's table is long
    /// enough to hold it.
    ///
    /// Every accessor passes the offset and type of its own field (`offset_of!(Hooks, field)`), so
    /// the read matches the layout both sides were built with up to `size`.
    fn entry<T: Copy>(&self, offset: usize) -> Option<T> {
        if offset + size_of::<Option<T>>() > self.size {
            return None;
        }
        // SAFETY: a `HookTable<'a>` is made by `new` from a `&'a Hooks` whose build recorded `size`
        // bytes, and the entry lies within them.
        let entry = unsafe { self.hooks.cast::<u8>().add(offset) };
        // SAFETY: the entry at this offset is an `Option<T>` (the accessor's own field, at an
        // offset that never changes), alive for `'a`.
        unsafe { entry.cast::<Option<T>>().read() }
    }

    /// The `prepare` hook, if offered.
    #[must_use]
    pub fn prepare(&self) -> Option<InstanceHook> {
        self.entry::<InstanceHook>(offset_of!(Hooks, prepare))
    }

    /// The `resume` hook, if offered.
    #[must_use]
    pub fn resume(&self) -> Option<InstanceHook> {
        self.entry::<InstanceHook>(offset_of!(Hooks, resume))
    }

    /// The `health` hook, if offered.
    #[must_use]
    pub fn health(&self) -> Option<InstanceHook> {
        self.entry::<InstanceHook>(offset_of!(Hooks, health))
    }

    /// The keyed entry points, if offered.
    #[must_use]
    pub fn keyed(&self) -> Option<&'a KeyedEntryPoints> {
        self.entry::<&'a KeyedEntryPoints>(offset_of!(Hooks, keyed))
    }

    /// The `install_clock` hook, if offered.
    #[must_use]
    pub fn install_clock(&self) -> Option<InstallClockHook> {
        self.entry::<InstallClockHook>(offset_of!(Hooks, install_clock))
    }

    /// The `tick` hook, if offered.
    #[must_use]
    pub fn tick(&self) -> Option<TickHook> {
        self.entry::<TickHook>(offset_of!(Hooks, tick))
    }
}

// ------------------------------------------------------------------------------------------------
// Interfaces and their methods.

/// A module interface, implemented by `#[interface]` for `dyn YourTrait`.
///
/// # Safety
/// `Table` must be `#[repr(C)]` and made only of [`Method`]s whose signatures are covered by
/// `FINGERPRINT`. Only the `#[interface]` macro implements this trait (through
/// `__implement_interface!`).
pub unsafe trait Interface: 'static {
    /// The `#[repr(C)]` function table a plugin exports.
    type Table: Sync + 'static;
    /// The typed caller a host uses for the duration of one call.
    type Proxy<'call>;
    /// The interface id. A host refuses a plugin whose id differs.
    const ID: &'static str;
    /// A fingerprint of every method signature. A host refuses a plugin whose fingerprint differs.
    const FINGERPRINT: u64;

    /// Makes the proxy that calls the instance and table of `bound`.
    fn proxy(bound: Bound<'_, Self::Table>) -> Self::Proxy<'_>;
}

/// The function table of interface `Self` for the plugin type `P`, implemented by `#[interface]`.
///
/// # Safety
/// `TABLE` must hold only methods made by [`Method::implemented_by::<P>`](Method::implemented_by).
pub unsafe trait Implementation<P>: Interface {
    /// The table, placed in a `static` by `export_plugin!`.
    const TABLE: Self::Table;
}

/// Implements [`Interface`] and [`Implementation`] for an interface trait; used by `#[interface]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __implement_interface {
    (
        trait: $trait_name:ident,
        table: $table:ident,
        proxy: $proxy:ident,
        id: $id:expr,
        canonical: $canonical:expr,
        methods: [$($method:ident: $signature:ty),* $(,)?] $(,)?
    ) => {
        // SAFETY: `#[interface]` generated the table from the trait's signatures, one `Method` per
        // method, and the fingerprint covers every one of them.
        unsafe impl $crate::__private::Interface for dyn $trait_name {
            type Table = $table;
            type Proxy<'call> = $proxy<'call>;
            const ID: &'static str = $id;
            const FINGERPRINT: u64 = $crate::__private::fnv1a64($canonical.as_bytes());

            fn proxy(bound: $crate::__private::Bound<'_, $table>) -> $proxy<'_> {
                $proxy { bound }
            }
        }

        // SAFETY: every entry is the shim of its own method, instantiated for `P`.
        unsafe impl<P: $trait_name> $crate::__private::Implementation<P> for dyn $trait_name {
            const TABLE: $table = $table { $($method: $crate::__private::Method::<$signature>::implemented_by::<P>(),)* };
        }
    };
}

/// What one interface method passes and returns; `#[interface]` describes each method with an
/// uninhabited type implementing this.
pub trait Signature: 'static {
    /// The `#[repr(C)]` record of the arguments as they cross: primitives, [`RawStr`],
    /// [`RawSlice`] (MessagePack bytes among them).
    type Arguments<'call>;
    /// How the result crosses.
    type Output: Output;
}

/// The plugin side of a method: decodes the arguments, calls the plugin and encodes the result.
pub trait MethodBody<P>: Signature {
    /// Runs the method on `plugin`.
    ///
    /// # Errors
    /// When an argument cannot be decoded or the result encoded.
    fn run(plugin: &P, arguments: &Self::Arguments<'_>) -> Result<Self::Output, ShimFailure>;
}

mod sealed {
    pub trait Sealed {}
}

/// How a method's result crosses: primitives by value into the caller's slot, `()` not at all,
/// [`OutputBytes`] copied into the caller's buffer through a [`ByteSink`]. Implemented only here.
pub trait Output: sealed::Sealed + Sized + 'static {
    /// Runs `call` with a pointer to a fresh result slot; the value, when `call` returns
    /// [`CallStatus::OK`].
    ///
    /// # Safety
    /// `call` may return [`CallStatus::OK`] only after it had [`Output::deliver`] write a value of
    /// this type through the pointer.
    #[doc(hidden)]
    unsafe fn receive(call: impl FnOnce(*mut c_void) -> CallStatus) -> (CallStatus, Option<Self>);

    /// Writes the value into the slot `slot`, which `receive` on the other side made.
    ///
    /// # Safety
    /// `slot` must be the pointer `receive` passed for this same `Output` type.
    #[doc(hidden)]
    unsafe fn deliver(self, slot: *mut c_void);
}

macro_rules! primitive_outputs {
    ($($primitive:ty),*) => {$(
        impl sealed::Sealed for $primitive {}
        impl Output for $primitive {
            #[inline]
            unsafe fn receive(call: impl FnOnce(*mut c_void) -> CallStatus) -> (CallStatus, Option<Self>) {
                let mut slot = MaybeUninit::<$primitive>::uninit();
                let status = call(slot.as_mut_ptr().cast());
                // SAFETY: status OK means `deliver` wrote a value into the slot (the caller's
                // contract).
                let value = (status == CallStatus::OK).then(|| unsafe { slot.assume_init() });
                (status, value)
            }

            #[inline]
            unsafe fn deliver(self, slot: *mut c_void) {
                // SAFETY: the caller passes the slot `receive` made for this type.
                unsafe { slot.cast::<$primitive>().write(self) }
            }
        }
    )*};
}
primitive_outputs!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

// A `bool` crosses as a byte, so that a foreign library's stray value is `true`, never undefined
// behaviour.
impl sealed::Sealed for bool {}
impl Output for bool {
    #[inline]
    unsafe fn receive(call: impl FnOnce(*mut c_void) -> CallStatus) -> (CallStatus, Option<Self>) {
        // SAFETY: the caller's contract is the one `u8` needs.
        let (status, byte) = unsafe { u8::receive(call) };
        (status, byte.map(|byte| byte != 0))
    }

    #[inline]
    unsafe fn deliver(self, slot: *mut c_void) {
        // SAFETY: the caller passes the slot `receive` made: a `u8`'s.
        unsafe { u8::from(self).deliver(slot) }
    }
}

impl sealed::Sealed for () {}
impl Output for () {
    #[inline]
    unsafe fn receive(call: impl FnOnce(*mut c_void) -> CallStatus) -> (CallStatus, Option<Self>) {
        let status = call(std::ptr::null_mut());
        (status, (status == CallStatus::OK).then_some(()))
    }

    #[inline]
    unsafe fn deliver(self, _slot: *mut c_void) {}
}

/// A result that crosses as bytes: a `Vec<u8>` as it is, any other serde type as MessagePack.
#[derive(Debug)]
pub struct OutputBytes(pub Vec<u8>);

impl sealed::Sealed for OutputBytes {}
impl Output for OutputBytes {
    #[inline]
    unsafe fn receive(call: impl FnOnce(*mut c_void) -> CallStatus) -> (CallStatus, Option<Self>) {
        let mut bytes = Vec::new();
        let mut sink = ByteSink::for_vec(&mut bytes);
        let status = call((&raw mut sink).cast());
        (status, (status == CallStatus::OK).then_some(OutputBytes(bytes)))
    }

    #[inline]
    unsafe fn deliver(self, slot: *mut c_void) {
        // SAFETY: the caller passes the slot `receive` made for this type: a live `ByteSink`.
        unsafe { (*slot.cast::<ByteSink<'_>>()).write(&self.0) }
    }
}

/// The exported function behind every [`Method`]: the instance, a pointer to the method's argument
/// record, a pointer to its result slot (see [`Output`]), and the error sink.
pub type RawMethod =
    unsafe extern "C" fn(instance: *const c_void, arguments: *const c_void, output: *mut c_void, error: ByteSink<'_>) -> CallStatus;

/// One entry of an interface's function table: the plugin's shim for method `M`.
#[repr(transparent)]
pub struct Method<M: Signature> {
    raw: RawMethod,
    _signature: PhantomData<fn() -> M>,
}

impl<M: Signature> Method<M> {
    /// The shim of method `M` for the plugin type `P`.
    #[must_use]
    pub const fn implemented_by<P>() -> Method<M>
    where
        M: MethodBody<P>,
    {
        Method { raw: method_shim::<P, M>, _signature: PhantomData }
    }

    /// The exported function itself, for a baseline that calls it without a host (the call-path
    /// benchmark); calling it is `unsafe`, with the contract [`Bound::new`] states.
    #[must_use]
    pub fn as_raw(&self) -> RawMethod {
        self.raw
    }
}

/// The exported shim of method `M` on plugin type `P`.
///
/// # Safety
/// `instance` must be a live `P` made by this plugin, `arguments` a live `M::Arguments` and `output`
/// the slot `M::Output::receive` made.
unsafe extern "C" fn method_shim<P, M: MethodBody<P>>(
    instance: *const c_void,
    arguments: *const c_void,
    output: *mut c_void,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, move || {
        // SAFETY: the host passes an instance this plugin made (a `P`, alive for the call).
        let plugin = unsafe { &*(instance as *const P) };
        // SAFETY: the host passes the argument record its proxy made for `M`, alive for the call.
        let arguments = unsafe { &*(arguments as *const M::Arguments<'_>) };
        let value = M::run(plugin, arguments)?;
        // SAFETY: the host passes the slot that `M::Output::receive` made.
        unsafe { value.deliver(output) };
        Ok(())
    })
}

/// An instance bound to the table of the plugin that made it, for the duration of one call. The
/// only way a host reaches plugin code through an interface.
pub struct Bound<'call, T> {
    table: &'call T,
    instance: *const c_void,
    panics: &'call AtomicU64,
}

impl<'call, T> Bound<'call, T> {
    /// Binds `instance` to `table`; every call that panics adds one to `panics`.
    ///
    /// # Safety
    /// `table` must be the interface table that a plugin exported (its `Implementation::TABLE`) and
    /// `instance` an instance that the same plugin made and has not destroyed; both must stay alive
    /// for `'call`.
    #[must_use]
    pub unsafe fn new(table: &'call T, instance: *const c_void, panics: &'call AtomicU64) -> Bound<'call, T> {
        Bound { table, instance, panics }
    }

    /// Calls the method that `select` picks from the table.
    ///
    /// # Errors
    /// When the plugin panics or returns an error status.
    ///
    /// # Panics
    /// When `select` returns a method that is not an entry of this table.
    #[inline]
    pub fn call<M: Signature>(
        &self,
        select: impl FnOnce(&'call T) -> &'call Method<M>,
        arguments: &M::Arguments<'_>,
    ) -> Result<M::Output, CallError> {
        let method = select(self.table);
        // The method's offset in the table, wrapping to a huge value for a method before it. (Written
        // as a difference, so that it folds to a constant when `select` picks a field.)
        let offset = std::ptr::from_ref(method).addr().wrapping_sub(std::ptr::from_ref(self.table).addr());
        assert!(
            size_of::<Method<M>>() <= size_of::<T>() && offset <= size_of::<T>() - size_of::<Method<M>>(),
            "a method was called through a table it does not belong to"
        );
        let mut error = Vec::new();
        let call = |output| {
            // SAFETY: `method` is an entry of the plugin's table (checked above), made by
            // `Method::implemented_by::<P>` for the `P` that made `instance` (`Bound::new`'s
            // contract); the argument record is `M`'s and lives for the call; `receive` made the
            // output slot for `M::Output`.
            unsafe { (method.raw)(self.instance, std::ptr::from_ref(arguments).cast(), output, ByteSink::for_vec(&mut error)) }
        };
        // SAFETY: the shim returns OK only after it delivered the method's output (`method_shim`).
        let (status, value) = unsafe { M::Output::receive(call) };
        match value {
            Some(value) if status == CallStatus::OK => Ok(value),
            _ => Err(Self::failure(self.panics, status, error)),
        }
    }

    /// The error of a call that returned `status` with the message `error`; a panic adds one to
    /// `panics`. (It takes the counter rather than `self`, so that the fast path need not keep the
    /// `Bound` in memory for it.)
    #[cold]
    #[inline(never)]
    fn failure(panics: &AtomicU64, status: CallStatus, error: Vec<u8>) -> CallError {
        if status == CallStatus::PANICKED {
            panics.fetch_add(1, Ordering::Relaxed);
        }
        match CallError::check(status, error) {
            Err(error) => error,
            // `receive` gives a value whenever the status is OK; this is only what a broken
            // `Output` would reach.
            Ok(()) => CallError::UnknownStatus { status: status.0 },
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Lifecycle shims, instantiated by `export_plugin!` for one plugin type.

/// The plugin behind an instance pointer.
///
/// # Safety
/// `instance` must come from this plugin's `create` or `import_state` and be alive for `'a`.
unsafe fn plugin<'a, P>(instance: *const c_void) -> &'a P {
    // SAFETY: the caller's contract.
    unsafe { &*(instance as *const P) }
}

/// Moves a new instance to the host.
///
/// # Safety
/// `out` must be writable.
unsafe fn hand_over<P>(plugin: P, out: *mut *mut c_void) {
    let instance = Box::into_raw(Box::new(plugin));
    // SAFETY: the caller passes a writable slot for the instance pointer.
    unsafe { out.write(instance.cast()) };
}

/// The `create` entry point of plugin type `P`.
///
/// # Safety
/// `out` must be writable.
pub unsafe extern "C" fn create<P: Plugin>(out: *mut *mut c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        let plugin = P::create()?;
        // SAFETY: the caller's contract.
        unsafe { hand_over(plugin, out) };
        Ok(())
    })
}

/// The body of the `export_state` entry point of plugin type `P` with migration steps `steps`.
///
/// # Safety
/// `instance` must come from this plugin's `create` or `import_state` and be alive.
pub unsafe fn export_state<P: Plugin>(
    steps: &[MigrationStep],
    instance: *const c_void,
    schema_version: u32,
    flags: u32,
    mut out: ByteSink<'_>,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let plugin = unsafe { plugin::<P>(instance) };
        if schema_version == <P::State as Schema>::VERSION {
            // The plugin's own schema: encoded straight from its state, through a small buffer
            // into the host's sink, so that neither a copy of the state nor of its encoding is made.
            let mut encoder = StateEncoder::new(&mut out);
            plugin.encode_state(&mut encoder)?;
            return encoder.finish();
        }
        let state = plugin.export_state()?;
        out.write(&encode_to_version(steps, state, schema_version, &MigrationOptions::from_flags(flags))?);
        Ok(())
    })
}

/// The body of the `import_state` entry point of plugin type `P` with migration steps `steps`.
///
/// # Safety
/// `out` must be writable.
pub unsafe fn import_state<P: Plugin>(
    steps: &[MigrationStep],
    schema_version: u32,
    flags: u32,
    state: RawSlice<'_, u8>,
    out: *mut *mut c_void,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        let state: P::State = decode_from_version(steps, schema_version, state.as_slice(), &MigrationOptions::from_flags(flags))?;
        let plugin = P::from_state(state)?;
        // SAFETY: the caller's contract.
        unsafe { hand_over(plugin, out) };
        Ok(())
    })
}

/// The `prepare` hook of plugin type `P`.
///
/// # Safety
/// `instance` must come from this plugin and be alive.
pub unsafe extern "C" fn prepare<P: Plugin>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.prepare()?;
        Ok(())
    })
}

/// The `resume` hook of plugin type `P`.
///
/// # Safety
/// `instance` must come from this plugin and be alive.
pub unsafe extern "C" fn resume<P: Plugin>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.resume();
        Ok(())
    })
}

/// The `health` hook of plugin type `P`.
///
/// # Safety
/// `instance` must come from this plugin and be alive.
pub unsafe extern "C" fn health<P: Plugin>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.health()?;
        Ok(())
    })
}

/// The `tick` hook of plugin type `P`: [`Plugin::tick`], its answer written to `next_tick_nanos`
/// ([`NO_NEXT_TICK`] for none; a wait too long for 64 bits of nanoseconds, 584 years, is taken as
/// none).
///
/// # Safety
/// `instance` must come from this plugin and be alive; `next_tick_nanos` must be writable.
pub unsafe extern "C" fn tick<P: Plugin>(instance: *const c_void, next_tick_nanos: *mut u64, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let next = unsafe { plugin::<P>(instance) }.tick();
        let nanos = next.and_then(|wait| u64::try_from(wait.as_nanos()).ok()).unwrap_or(NO_NEXT_TICK);
        // SAFETY: the caller passes a writable slot.
        unsafe { next_tick_nanos.write(nanos) };
        Ok(())
    })
}

/// The `destroy` entry point of plugin type `P`.
///
/// # Safety
/// `instance` must come from this plugin, be alive, and not be used again.
pub unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller hands over ownership of a live boxed `P`.
        drop(unsafe { Box::from_raw(instance as *mut P) });
        Ok(())
    })
}

// ------------------------------------------------------------------------------------------------
// Keyed state: the entry points of lazy state transfer, and the predecessor a host hands a new
// instance.

/// The entry points of a keyed plugin (see [`crate::keyed`]). Entries cross one by one as their own
/// MessagePack encoding, and in batches as a MessagePack array of `[key, entry]` byte-string pairs.
#[repr(C)]
pub struct KeyedEntryPoints {
    /// Removes the entry of `key` and writes it, encoded in `schema_version` (migrated down with
    /// the flags `flags` when older), to `out`; writes nothing when there is none. An entry that
    /// cannot be migrated down stays.
    pub take_entry: unsafe extern "C" fn(
        instance: *const c_void,
        key: RawSlice<'_, u8>,
        schema_version: u32,
        flags: u32,
        out: ByteSink<'_>,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Removes up to `limit` entries and writes them as a batch in `schema_version`.
    pub take_entries: unsafe extern "C" fn(
        instance: *const c_void,
        limit: u64,
        schema_version: u32,
        flags: u32,
        out: ByteSink<'_>,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Writes up to `limit` entries (every one for `u64::MAX`) as a batch in `schema_version`,
    /// without changing the instance.
    pub export_entries: unsafe extern "C" fn(
        instance: *const c_void,
        limit: u64,
        schema_version: u32,
        flags: u32,
        out: ByteSink<'_>,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Inserts a batch of entries encoded in `schema_version`; all of them, or none.
    pub put_entries: unsafe extern "C" fn(
        instance: *const c_void,
        schema_version: u32,
        flags: u32,
        entries: RawSlice<'_, u8>,
        error: ByteSink<'_>,
    ) -> CallStatus,
    /// Writes how many entries the instance holds to `count`.
    pub entry_count: unsafe extern "C" fn(instance: *const c_void, count: *mut u64, error: ByteSink<'_>) -> CallStatus,
    /// Attaches the predecessor the instance takes entries from, after checking it can migrate them.
    pub attach_predecessor: unsafe extern "C" fn(instance: *const c_void, predecessor: Predecessor, error: ByteSink<'_>) -> CallStatus,
    /// Detaches the predecessor; returns once no call of the instance is reaching it.
    pub detach_predecessor: unsafe extern "C" fn(instance: *const c_void, error: ByteSink<'_>) -> CallStatus,
    /// Moves up to `limit` entries from the predecessor and writes how many remain there to
    /// `remaining`.
    pub migrate_entries: unsafe extern "C" fn(instance: *const c_void, limit: u64, remaining: *mut u64, error: ByteSink<'_>) -> CallStatus,
}

/// The entry migration steps of a keyed plugin, listed in `export_plugin!`.
pub trait EntryMigrations {
    /// The steps.
    const STEPS: &'static [MigrationStep];
}

impl KeyedEntryPoints {
    /// The entry points of plugin type `P` with entry migration steps `S`.
    #[must_use]
    pub const fn of<P: KeyedState, S: EntryMigrations>() -> KeyedEntryPoints {
        KeyedEntryPoints {
            take_entry: keyed_take_entry::<P, S>,
            take_entries: keyed_take_entries::<P, S>,
            export_entries: keyed_export_entries::<P, S>,
            put_entries: keyed_put_entries::<P, S>,
            entry_count: keyed_entry_count::<P>,
            attach_predecessor: keyed_attach_predecessor::<P, S>,
            detach_predecessor: keyed_detach_predecessor::<P>,
            migrate_entries: keyed_migrate_entries::<P>,
        }
    }
}

/// What a host hands a new keyed instance in a lazy update: the old instance's entries, through
/// the host's functions. Entries come encoded in `schema_version`.
///
/// The host keeps `context` valid, and the functions callable from any thread, until
/// `detach_predecessor` has returned.
#[repr(C)]
pub struct Predecessor {
    /// The host's context for the functions below.
    pub context: *const c_void,
    /// The schema version entries come in.
    pub schema_version: u32,
    /// The `MigrationOptions` flags of the update.
    pub flags: u32,
    /// Removes the entry of `key` from the predecessor and writes its encoding to `out`; writes
    /// nothing when there is none.
    pub take_entry:
        unsafe extern "C" fn(context: *const c_void, key: RawSlice<'_, u8>, out: ByteSink<'_>, error: ByteSink<'_>) -> CallStatus,
    /// Removes up to `limit` entries and writes them as a batch to `out`, and how many remain (not
    /// counting those given back) to `remaining`.
    pub take_entries:
        unsafe extern "C" fn(context: *const c_void, limit: u64, out: ByteSink<'_>, remaining: *mut u64, error: ByteSink<'_>) -> CallStatus,
    /// Gives back an entry (as it came) that could not be migrated, with the reason: the host keeps
    /// it, hands it out again when its key is taken, and puts it back in a rollback.
    pub give_back: unsafe extern "C" fn(context: *const c_void, key: RawSlice<'_, u8>, entry: RawSlice<'_, u8>, reason: RawStr<'_>),
}

/// A [`Predecessor`] as a keyed instance holds it: safe to call for as long as it is attached.
pub(crate) struct PredecessorLink(Predecessor);

// SAFETY: the host promises that the context stays valid and the functions callable from any thread
// until the predecessor is detached, and `Migration::detach` drops the link only once no call holds
// it.
unsafe impl Send for PredecessorLink {}
// SAFETY: as above.
unsafe impl Sync for PredecessorLink {}

impl PredecessorLink {
    /// The schema version entries come in.
    pub(crate) fn schema_version(&self) -> u32 {
        self.0.schema_version
    }

    /// The update's migration flags.
    pub(crate) fn flags(&self) -> u32 {
        self.0.flags
    }

    /// Removes and returns the encoding of `key`'s entry, if any.
    pub(crate) fn take_entry(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let (mut out, mut error) = (Vec::new(), Vec::new());
        // SAFETY: the host's function with its own context, valid while the link is attached; the
        // key and sinks live for the call.
        let status =
            unsafe { (self.0.take_entry)(self.0.context, RawSlice::new(key), ByteSink::for_vec(&mut out), ByteSink::for_vec(&mut error)) };
        if status != CallStatus::OK {
            return Err(format!("the previous version could not hand out the entry: {}", String::from_utf8_lossy(&error)));
        }
        Ok((!out.is_empty()).then_some(out))
    }

    /// Removes up to `limit` entries; returns their batch and how many remain.
    pub(crate) fn take_entries(&self, limit: u64) -> Result<(Vec<u8>, u64), String> {
        let (mut out, mut error, mut remaining) = (Vec::new(), Vec::new(), 0_u64);
        // SAFETY: as in `take_entry`; `remaining` is a writable local.
        let status = unsafe {
            (self.0.take_entries)(self.0.context, limit, ByteSink::for_vec(&mut out), &mut remaining, ByteSink::for_vec(&mut error))
        };
        if status != CallStatus::OK {
            return Err(format!("the previous version could not hand out entries: {}", String::from_utf8_lossy(&error)));
        }
        Ok((out, remaining))
    }

    /// Gives back an entry that could not be migrated.
    pub(crate) fn give_back(&self, key: &[u8], entry: &[u8], reason: &str) {
        // SAFETY: as in `take_entry`.
        unsafe { (self.0.give_back)(self.0.context, RawSlice::new(key), RawSlice::new(entry), RawStr::new(reason)) }
    }
}

/// Encodes `entry` in `version`; an entry that cannot be migrated down is put back and the failure
/// returned.
fn encode_entry_or_put_back<P: KeyedState>(
    plugin: &P,
    steps: &[MigrationStep],
    key: Vec<u8>,
    entry: P::Entry,
    version: u32,
    options: &MigrationOptions,
) -> Result<Vec<u8>, ShimFailure> {
    let own = crate::migrate::encode(&entry).map_err(ShimFailure::Codec)?;
    if version == <P::Entry as Schema>::VERSION {
        return Ok(own);
    }
    let decoded: P::Entry = crate::migrate::decode(&own).map_err(ShimFailure::Codec)?;
    encode_to_version(steps, decoded, version, options).map_err(|failure| {
        if let Ok(entry) = crate::migrate::decode::<P::Entry>(&own) {
            let _ = plugin.put_entries(vec![(key, entry)]);
        }
        failure.into()
    })
}

/// The `take_entry` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`.
unsafe extern "C" fn keyed_take_entry<P: KeyedState, S: EntryMigrations>(
    instance: *const c_void,
    key: RawSlice<'_, u8>,
    schema_version: u32,
    flags: u32,
    mut out: ByteSink<'_>,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let plugin = unsafe { plugin::<P>(instance) };
        if let Some(entry) = plugin.take_entry(key.as_slice()) {
            let options = MigrationOptions::from_flags(flags);
            out.write(&encode_entry_or_put_back(plugin, S::STEPS, key.as_slice().to_vec(), entry, schema_version, &options)?);
        }
        Ok(())
    })
}

/// The `take_entries` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`.
unsafe extern "C" fn keyed_take_entries<P: KeyedState, S: EntryMigrations>(
    instance: *const c_void,
    limit: u64,
    schema_version: u32,
    flags: u32,
    mut out: ByteSink<'_>,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let plugin = unsafe { plugin::<P>(instance) };
        let options = MigrationOptions::from_flags(flags);
        let taken = plugin.take_entries(usize::try_from(limit).unwrap_or(usize::MAX));
        let mut batch = Vec::with_capacity(taken.len());
        let mut failure = None;
        for (key, entry) in taken {
            match encode_entry_or_put_back(plugin, S::STEPS, key.clone(), entry, schema_version, &options) {
                Ok(bytes) => batch.push(crate::keyed::EncodedEntry(key.into(), bytes.into())),
                Err(error) => failure = Some(error),
            }
        }
        // Entries that cannot be migrated down were put back; the rest go, so that nothing is lost.
        if batch.is_empty()
            && let Some(failure) = failure
        {
            return Err(failure);
        }
        out.write(&crate::migrate::encode(&batch).map_err(ShimFailure::Codec)?);
        Ok(())
    })
}

/// The `export_entries` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`.
unsafe extern "C" fn keyed_export_entries<P: KeyedState, S: EntryMigrations>(
    instance: *const c_void,
    limit: u64,
    schema_version: u32,
    flags: u32,
    mut out: ByteSink<'_>,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let entries = unsafe { plugin::<P>(instance) }.export_entries(usize::try_from(limit).unwrap_or(usize::MAX));
        out.write(&crate::keyed::encode_batch(S::STEPS, entries, schema_version, &MigrationOptions::from_flags(flags))?);
        Ok(())
    })
}

/// The `put_entries` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`.
unsafe extern "C" fn keyed_put_entries<P: KeyedState, S: EntryMigrations>(
    instance: *const c_void,
    schema_version: u32,
    flags: u32,
    entries: RawSlice<'_, u8>,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        let entries = crate::keyed::decode_batch(S::STEPS, entries.as_slice(), schema_version, &MigrationOptions::from_flags(flags))?;
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.put_entries(entries)?;
        Ok(())
    })
}

/// The `entry_count` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`; `count` must be writable.
unsafe extern "C" fn keyed_entry_count<P: KeyedState>(instance: *const c_void, count: *mut u64, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let entries = unsafe { plugin::<P>(instance) }.entry_count() as u64;
        // SAFETY: the caller passes a writable slot.
        unsafe { count.write(entries) };
        Ok(())
    })
}

/// The `attach_predecessor` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`; `predecessor` must keep the host's promise.
unsafe extern "C" fn keyed_attach_predecessor<P: KeyedState, S: EntryMigrations>(
    instance: *const c_void,
    predecessor: Predecessor,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.migration().attach(PredecessorLink(predecessor), S::STEPS)?;
        Ok(())
    })
}

/// The `detach_predecessor` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`.
unsafe extern "C" fn keyed_detach_predecessor<P: KeyedState>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        unsafe { plugin::<P>(instance) }.migration().detach();
        Ok(())
    })
}

/// The `migrate_entries` entry point of keyed plugin type `P`.
///
/// # Safety
/// `instance` must be a live instance of `P`; `remaining` must be writable.
unsafe extern "C" fn keyed_migrate_entries<P: KeyedState>(
    instance: *const c_void,
    limit: u64,
    remaining: *mut u64,
    error: ByteSink<'_>,
) -> CallStatus {
    guard(error, || {
        // SAFETY: the caller passes a live instance of `P`.
        let left = unsafe { plugin::<P>(instance) }.migrate_entries(usize::try_from(limit).unwrap_or(usize::MAX))?;
        // SAFETY: the caller passes a writable slot.
        unsafe { remaining.write(left) };
        Ok(())
    })
}

/// Defines the `export_state` and `import_state` entry points of a plugin over its migration
/// steps; used by `export_plugin!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __state_entry_points {
    ($plugin:ty, $steps:expr) => {
        /// The plugin's `export_state` entry point.
        ///
        /// # Safety
        /// As for `ecdysis_plugin_api::ffi::export_state`.
        pub(super) unsafe extern "C" fn export_state(
            instance: *const ::core::ffi::c_void,
            schema_version: u32,
            flags: u32,
            out: $crate::ffi::ByteSink<'_>,
            error: $crate::ffi::ByteSink<'_>,
        ) -> $crate::ffi::CallStatus {
            // SAFETY: the host's contract for this entry point is the shim's contract.
            unsafe { $crate::ffi::export_state::<$plugin>($steps, instance, schema_version, flags, out, error) }
        }

        /// The plugin's `import_state` entry point.
        ///
        /// # Safety
        /// As for `ecdysis_plugin_api::ffi::import_state`.
        pub(super) unsafe extern "C" fn import_state(
            schema_version: u32,
            flags: u32,
            state: $crate::ffi::RawSlice<'_, u8>,
            out: *mut *mut ::core::ffi::c_void,
            error: $crate::ffi::ByteSink<'_>,
        ) -> $crate::ffi::CallStatus {
            // SAFETY: the host's contract for this entry point is the shim's contract.
            unsafe { $crate::ffi::import_state::<$plugin>($steps, schema_version, flags, state, out, error) }
        }
    };
}

/// Exports `descriptor` under the descriptor symbol; used by `export_plugin!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_descriptor {
    ($descriptor:expr) => {
        /// The ecdysis plugin descriptor, read by the host before anything else.
        // SAFETY: the symbol name is the crate's own and exported once per plugin library.
        #[unsafe(no_mangle)]
        pub static ECDYSIS_PLUGIN_DESCRIPTOR: $crate::ffi::PluginDescriptor<'static> = $descriptor;
    };
}

// ------------------------------------------------------------------------------------------------
// Logging.

/// Hands `message` to the host's callback.
pub(crate) fn forward_log(logger: LogCallback, level: u32, message: &str) {
    // SAFETY: the host promised, when it installed the callback, that it stays callable while the
    // library is loaded; the message lives for the call.
    unsafe { logger(level, RawStr::new(message)) }
}

/// Entry point used by the descriptor: remembers the host's callback, which the
/// [`info!`](crate::info) family of macros then log through, and routes this library's panic
/// messages to it.
///
/// # Safety
/// `logger` must stay callable for as long as this library is loaded.
pub unsafe extern "C" fn install_logger(logger: LogCallback) {
    crate::log::install(logger);
}

// ------------------------------------------------------------------------------------------------
// The host's clock.

/// The clock the host installed into this library, or null.
static HOST_CLOCK: AtomicPtr<ClockSource> = AtomicPtr::new(std::ptr::null_mut());

/// Entry point used by the descriptor: remembers the host's clock, which [`crate::clock`] reads
/// from then on. A null `clock` forgets it (the clock functions fall back to the system's).
///
/// # Safety
/// `clock`, its context and its functions must stay valid for as long as this library is loaded
/// (or until another clock is installed).
pub unsafe extern "C" fn install_clock(clock: *const ClockSource) {
    HOST_CLOCK.store(clock.cast_mut(), Ordering::Release);
}

/// The installed clock, if the host installed one.
fn host_clock() -> Option<&'static ClockSource> {
    let clock = HOST_CLOCK.load(Ordering::Acquire);
    // SAFETY: a non-null pointer was installed by the host, which promised that it stays valid
    // while this library is loaded; this code runs only while it is.
    (!clock.is_null()).then(|| unsafe { &*clock })
}

/// The host's wall clock, in signed nanoseconds since the Unix epoch, if the host installed one.
pub(crate) fn host_wall_unix_nanos() -> Option<i64> {
    let clock = host_clock()?;
    // SAFETY: the host's function, called with its own context (see `install_clock`).
    Some(unsafe { (clock.wall_unix_nanos)(clock.context) })
}

/// The host's monotonic clock, in nanoseconds since the host's origin, if the host installed one.
pub(crate) fn host_monotonic_nanos() -> Option<u64> {
    let clock = host_clock()?;
    // SAFETY: as in `host_wall_unix_nanos`.
    Some(unsafe { (clock.monotonic_nanos)(clock.context) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bool_crosses_as_a_byte_and_a_stray_byte_reads_as_true() {
        for (byte, expected) in [(0u8, false), (1, true), (2, true), (255, true)] {
            let write = |slot: *mut c_void| {
                // SAFETY: `bool::receive` passes the slot of a `u8`.
                unsafe { slot.cast::<u8>().write(byte) };
                CallStatus::OK
            };
            // SAFETY: the closure writes the slot before it returns OK.
            let (status, value) = unsafe { bool::receive(write) };
            assert_eq!((status, value), (CallStatus::OK, Some(expected)), "byte {byte}");
        }
    }

    unsafe extern "C" fn hook_that_does_nothing(_instance: *const c_void, _error: ByteSink<'_>) -> CallStatus {
        CallStatus::OK
    }

    #[test]
    fn a_hook_beyond_the_size_a_plugin_recorded_is_not_offered() {
        let hooks = Hooks {
            prepare: Some(hook_that_does_nothing),
            resume: Some(hook_that_does_nothing),
            health: Some(hook_that_does_nothing),
            keyed: None,
            install_clock: None,
            tick: None,
        };
        let entry = size_of::<Option<InstanceHook>>();
        // What a plugin built when `Hooks` had fewer entries exports: the same fields, fewer bytes.
        // (Version 2 of the ABI shipped with two entries; `health` was appended after them.)
        for (size, prepare, resume, health) in
            [(0, false, false, false), (entry, true, false, false), (2 * entry, true, true, false), (3 * entry, true, true, true)]
        {
            let table = HookTable { size, hooks: &hooks, _borrow: PhantomData };
            assert_eq!(
                (table.prepare().is_some(), table.resume().is_some(), table.health().is_some()),
                (prepare, resume, health),
                "{size} bytes of hooks"
            );
        }
        let current = HookTable::new(&hooks);
        assert_eq!(current.size(), size_of::<Hooks>());
        let not_offered = Hooks { prepare: None, resume: None, health: None, keyed: None, install_clock: None, tick: None };
        assert!(HookTable::new(&not_offered).prepare().is_none(), "a `None` entry is not offered either");
    }

    /// The host's clock in the test below: a fixed wall time and monotonic reading.
    unsafe extern "C" fn fixed_wall_clock(_context: *const c_void) -> i64 {
        1_700_000_000_123_000_000
    }

    unsafe extern "C" fn fixed_monotonic_clock(_context: *const c_void) -> u64 {
        42_000_000_000
    }

    /// One test, since the clock is global to the library: without a host the clock functions read
    /// the system's clocks; with one installed, the host's; and forgotten, the system's again.
    #[test]
    fn the_clock_is_the_systems_until_a_host_installs_its_own() {
        use std::time::{Duration, SystemTime, UNIX_EPOCH};

        use crate::clock;

        let close_to_system_time = || {
            let (before, read, after) = (SystemTime::now(), clock::now(), SystemTime::now());
            before <= read && read <= after
        };
        assert!(close_to_system_time(), "without a host, `now` is the system's time");
        let system_millis = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(clock::unix_millis().abs_diff(system_millis) < 60_000, "without a host, `unix_millis` is the system's");
        let first = clock::monotonic();
        assert!(clock::monotonic() >= first, "the fallback monotonic clock never goes back");

        static FIXED: ClockSource =
            ClockSource { context: std::ptr::null(), wall_unix_nanos: fixed_wall_clock, monotonic_nanos: fixed_monotonic_clock };
        // SAFETY: `FIXED` is a static; it is forgotten again below.
        unsafe { install_clock(&FIXED) };
        let installed = (clock::now(), clock::unix_millis(), clock::monotonic());
        // SAFETY: null forgets the clock.
        unsafe { install_clock(std::ptr::null()) };
        assert_eq!(
            installed,
            (UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_000_000), 1_700_000_000_123, Duration::from_secs(42)),
            "with a host's clock installed, every reading is the host's"
        );
        assert!(close_to_system_time(), "once it is forgotten, the system's time again");
        assert_eq!(clock::system_time_from_unix_nanos(-1_500_000_000), UNIX_EPOCH - Duration::from_millis(1500));
    }

    #[test]
    fn a_failed_call_delivers_no_value() {
        // SAFETY: the closure returns a failure, so nothing is read from the slot.
        let (status, value) = unsafe { u64::receive(|_| CallStatus::FAILED) };
        assert_eq!((status, value), (CallStatus::FAILED, None));
    }
}
