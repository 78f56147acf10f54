//! Faulty: a counter v3.0.0 whose transform calls `abort()`. Without a rehearsal in a child
//! process, this takes the host process down.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(_state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        std::process::abort()
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
