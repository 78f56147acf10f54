//! A counter v3.0.0 whose transform returns an error.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(_state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        Err(PluginError::new("refusing the state on purpose"))
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
