//! Benchmark of the call path: a trivial plugin call (`total_increments`, one relaxed atomic load in
//! the plugin) through a `Module` handle, against the same plugin function called through a plain
//! function pointer, at one and two threads. Run with `cargo xtask bench call-path`.
//!
//! Both sides call the same release build of `counter-v1`: the difference is what the handle adds
//! (in-flight mark, admission check, version lookup, status check).

// The baseline calls the plugin's exported function by hand, which only unsafe code can do.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::LazyLock;

use counter_interface::{__ecdysis_Counter_total_increments_arguments as TotalIncrementsArguments, Counter, CounterTable};
use ecdysis_host::{Host, Module};
use ecdysis_plugin_api::ffi::{ByteSink, CallStatus};
use ecdysis_plugin_api::{DESCRIPTOR_SYMBOL, PluginDescriptor};
use ecdysis_tests::{Profile, plugins};

fn main() {
    divan::main();
}

/// `counter-v1` opened without the host: its table and one instance, called by plain pointers.
struct Direct {
    _library: libloading::Library,
    table: *const CounterTable,
    instance: *const c_void,
}

// SAFETY: the instance is `Sync` (plugins are `Send + Sync`) and the table is immutable static data
// of a library that this value keeps loaded.
unsafe impl Send for Direct {}
// SAFETY: as above.
unsafe impl Sync for Direct {}

static DIRECT: LazyLock<Direct> = LazyLock::new(|| {
    let path = plugins(Profile::Release).sample("counter-v1");
    // SAFETY: a sample plugin built by this workspace; its initialisers are Rust's own.
    let library = unsafe { libloading::Library::new(&path) }.expect("counter-v1 opens");
    // SAFETY: the descriptor symbol of an ecdysis plugin of this ABI, which the host's tests verify.
    let descriptor: *const PluginDescriptor<'static> =
        unsafe { *library.get::<*const PluginDescriptor<'static>>(DESCRIPTOR_SYMBOL).expect("a descriptor") };
    // SAFETY: the descriptor is static data of the library, which stays loaded.
    let descriptor = unsafe { &*descriptor };
    let mut instance = std::ptr::null_mut();
    let mut error = Vec::new();
    // SAFETY: the descriptor's `create` entry point with a writable slot.
    let status = unsafe { (descriptor.entry_points.create)(&mut instance, ByteSink::for_vec(&mut error)) };
    assert_eq!(status, CallStatus::OK);
    // The table of a verified counter plugin is a `CounterTable`.
    let table = descriptor.interface_table as *const CounterTable;
    Direct { _library: library, table, instance }
});

static HANDLE: LazyLock<(Host, Module<dyn Counter>)> = LazyLock::new(|| {
    let host = Host::new().expect("a host");
    let counter = host.load::<dyn Counter>(plugins(Profile::Release).sample("counter-v1")).expect("counter-v1 loads");
    (host, counter)
});

/// The floor: the plugin's exported function, called through a plain function pointer.
#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 20_000)]
fn plain_function_pointer(bencher: divan::Bencher<'_, '_>) {
    let direct = &*DIRECT;
    // SAFETY: the table stays loaded for the whole benchmark.
    let function = unsafe { (*direct.table).total_increments.as_raw() };
    bencher.bench(|| {
        let arguments = TotalIncrementsArguments { __call: PhantomData };
        let mut out = MaybeUninit::<u64>::uninit();
        let mut error = Vec::new();
        // SAFETY: table and instance belong together and stay loaded for the whole benchmark; the
        // argument record and the result slot are those of `total_increments`.
        let status =
            unsafe { function(direct.instance, (&raw const arguments).cast(), out.as_mut_ptr().cast(), ByteSink::for_vec(&mut error)) };
        assert_eq!(status, CallStatus::OK);
        // SAFETY: status OK means the plugin wrote the result.
        unsafe { out.assume_init() }
    });
}

/// The same function through a `Module` handle: `module.call(|counter| counter.total_increments())`.
#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 20_000)]
fn module_handle(bencher: divan::Bencher<'_, '_>) {
    let counter = &HANDLE.1;
    bencher.bench(|| counter.call(|counter| counter.total_increments()).expect("the call succeeds"));
}

/// Entering and leaving the module without calling a method: the cost of the in-flight mark alone.
#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 20_000)]
fn enter_and_leave(bencher: divan::Bencher<'_, '_>) {
    let counter = &HANDLE.1;
    bencher.bench(|| {
        counter.call(|proxy| {
            divan::black_box(proxy);
        })
    });
}

/// Method calls inside one long module call: the cost of the proxy alone.
#[divan::bench(threads = [1, 2], sample_count = 200, sample_size = 20_000)]
fn calls_inside_one_module_call(bencher: divan::Bencher<'_, '_>) {
    HANDLE.1.call(|counter| bencher.bench_local(|| counter.total_increments().expect("the call succeeds")));
}
