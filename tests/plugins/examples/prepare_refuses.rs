//! A counter v3.0.0 that is correct, loaded as the running version to check that a refused prepare aborts an update.

#![forbid(unsafe_code)]

use counter_interface::{Counter, CounterStateV1, CounterStateV2};
use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::{Defect, DefectiveCounter};

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn prepare() -> Result<(), PluginError> {
        Err(PluginError::new("a protocol exchange is half done"))
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    version: "3.0.0",
    plugin: DefectiveCounter<ThisDefect>,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
