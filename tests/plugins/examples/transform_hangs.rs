//! A counter v3.0.0 whose transform does not return within any sensible deadline (it gives up after ten minutes, so a test process never hangs on it).

#![forbid(unsafe_code)]

use counter_interface::CounterStateV2;
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        for _ in 0..6_000 {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(state)
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
