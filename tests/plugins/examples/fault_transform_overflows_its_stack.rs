//! Faulty: a counter v3.0.0 whose transform recurses without end and overflows its stack. Without a
//! rehearsal in a child process, this takes the host process down.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

/// Recurses until the stack runs out; the array keeps every frame large and alive.
#[allow(unconditional_recursion)] // The recursion without end is the fault.
fn deeper(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    deeper(depth + 1).wrapping_add(frame[depth as usize % 64])
}

impl Defect for ThisDefect {
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        std::hint::black_box(deeper(0));
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
