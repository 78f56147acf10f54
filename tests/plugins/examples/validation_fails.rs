//! A counter v3.0.0 whose transform silently loses the first counter, so the round trip differs.

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(mut state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        if let Some((key, _)) = state.values.pop_first() {
            state.increments.remove(&key);
        }
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
