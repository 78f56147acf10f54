//! A counter v3.0.0, loaded as the running version, whose `prepare` returns only after the host's
//! deadline: the update is refused, and the running version must still be resumed once `prepare`
//! returns (`value("__resumed")` counts resumes).

#![forbid(unsafe_code)]

use counter_interface::{Counter, CounterStateV1, CounterStateV2};
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::{Defect, DefectiveCounter};

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn prepare() -> Result<(), PluginError> {
        std::thread::sleep(std::time::Duration::from_millis(800));
        Ok(())
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    version: "3.0.0",
    plugin: DefectiveCounter<ThisDefect>,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
