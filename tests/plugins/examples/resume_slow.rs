//! A counter v3.0.0, updated to, whose `resume` takes a while before it counts the resume: no call
//! may reach it before its `resume` has returned (`value("__resumed")` counts resumes).

#![forbid(unsafe_code)]

use counter_interface::{Counter, CounterStateV1, CounterStateV2};
use ecdysis_test_plugins::{Defect, DefectiveCounter};

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn resume() {
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    version: "3.0.0",
    plugin: DefectiveCounter<ThisDefect>,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
