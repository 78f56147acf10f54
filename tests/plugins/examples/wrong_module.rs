//! A correct plugin, but of another module (`gauge`).

#![forbid(unsafe_code)]

use counter_interface::{Counter, CounterStateV1, CounterStateV2};
use ecdysis_test_plugins::{Defect, DefectiveCounter};

/// No defect in behaviour: only the module name is wrong.
pub struct Correct;
impl Defect for Correct {}

ecdysis_plugin_api::export_plugin! {
    module: "gauge",
    version: "3.0.0",
    plugin: DefectiveCounter<Correct>,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
