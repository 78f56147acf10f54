//! The floor of the call-cost comparison: counter-v1's exported `total_increments`, called through a
//! plain function pointer, as `tests/benches/call_path.rs` does. Calling a plugin's exported function
//! by hand is only possible with unsafe code, which this module alone is allowed.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::path::Path;

use counter_interface::{__ecdysis_Counter_total_increments_arguments as TotalIncrementsArguments, CounterTable};
use ecdysis_plugin_api::ffi::{ByteSink, CallStatus};
use ecdysis_plugin_api::{DESCRIPTOR_SYMBOL, PluginDescriptor};

/// `counter-v1` opened without the host: its table and one instance, called by plain pointers.
pub struct Direct {
    _library: libloading::Library,
    table: *const CounterTable,
    instance: *const c_void,
}

// SAFETY: the instance is `Sync` (plugins are `Send + Sync`) and the table is immutable static data
// of a library that this value keeps loaded.
unsafe impl Send for Direct {}
// SAFETY: as above.
unsafe impl Sync for Direct {}

impl Direct {
    /// Opens the counter-v1 library at `path` and creates one instance.
    pub fn open(path: &Path) -> Result<Direct, String> {
        // SAFETY: a sample plugin built by this project; its initialisers are Rust's own.
        let library = unsafe { libloading::Library::new(path) }.map_err(|error| format!("could not open {}: {error}", path.display()))?;
        // SAFETY: the descriptor symbol of an ecdysis plugin of this ABI, which the host's tests
        // verify.
        let descriptor = unsafe { library.get::<*const PluginDescriptor<'static>>(DESCRIPTOR_SYMBOL) }
            .map_err(|error| format!("{} has no descriptor: {error}", path.display()))?;
        let descriptor: *const PluginDescriptor<'static> = *descriptor;
        // SAFETY: the descriptor is static data of the library, which stays loaded.
        let descriptor = unsafe { &*descriptor };
        let mut instance = std::ptr::null_mut();
        let mut error = Vec::new();
        // SAFETY: the descriptor's `create` entry point with a writable slot.
        let status = unsafe { (descriptor.entry_points.create)(&mut instance, ByteSink::for_vec(&mut error)) };
        if status != CallStatus::OK {
            return Err(format!("counter-v1's create failed: {}", String::from_utf8_lossy(&error)));
        }
        // The table of a verified counter plugin is a `CounterTable`.
        let table = descriptor.interface_table as *const CounterTable;
        Ok(Direct { _library: library, table, instance })
    }

    /// Calls `total_increments` `calls` times through a plain function pointer; returns the sum of
    /// the results, so that no call can be optimised away.
    pub fn call_many(&self, calls: u64) -> u64 {
        // SAFETY: the table stays loaded while `self` lives.
        let function = unsafe { (*self.table).total_increments.as_raw() };
        let mut sum = 0u64;
        for _ in 0..calls {
            let arguments = TotalIncrementsArguments { __call: PhantomData };
            let mut out = MaybeUninit::<u64>::uninit();
            let mut error = Vec::new();
            // SAFETY: table and instance belong together and stay loaded while `self` lives; the
            // argument record and the result slot are those of `total_increments`.
            let status =
                unsafe { function(self.instance, (&raw const arguments).cast(), out.as_mut_ptr().cast(), ByteSink::for_vec(&mut error)) };
            assert_eq!(status, CallStatus::OK);
            // SAFETY: status OK means the plugin wrote the result.
            sum = sum.wrapping_add(std::hint::black_box(unsafe { out.assume_init() }));
        }
        sum
    }
}
