//! Faulty: a counter v3.0.0 whose transform asks for more memory than any machine has; the
//! allocation fails and Rust aborts. Without a rehearsal in a child process (with a memory limit),
//! this takes the host process down.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        let everything: Vec<u8> = Vec::with_capacity(std::hint::black_box(1 << 60));
        std::hint::black_box(&everything);
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
