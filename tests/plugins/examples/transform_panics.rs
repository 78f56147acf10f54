//! A counter v3.0.0 whose transform panics.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(_state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        panic!("transform panicked on purpose")
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
