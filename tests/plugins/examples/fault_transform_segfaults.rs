//! Faulty: a counter v3.0.0 whose transform writes through a null pointer (SIGSEGV). Without a
//! rehearsal in a child process, this takes the host process down.

// A fixture whose whole point is a fault that only unsafe code can make.
#![allow(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        let nowhere = std::hint::black_box(std::ptr::null_mut::<u64>());
        // SAFETY: none: this is the fault the fixture exists to make.
        unsafe { nowhere.write_volatile(state.total_increments) };
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
