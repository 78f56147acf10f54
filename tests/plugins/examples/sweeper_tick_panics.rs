//! Defect: a `sweeper` 1.0.1 whose every tick panics before it sweeps. The host must log and count
//! the panic, keep serving the module, and tick it again later.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use ecdysis_test_plugins::sweeper::{StateV1, SweeperPlugin, SweeperStateV1, SweeperVersion};

/// Version 1, but for its tick.
pub struct TickPanics;

impl SweeperVersion for TickPanics {
    type State = SweeperStateV1;
    const VERSION: &'static str = "1-tick-panics";

    fn into_entries(state: SweeperStateV1) -> Vec<(String, String, u64)> {
        StateV1::into_entries(state)
    }

    fn from_entries(entries: &BTreeMap<String, (String, u64)>) -> SweeperStateV1 {
        StateV1::from_entries(entries)
    }

    fn before_sweep() {
        panic!("the tick panicked on purpose");
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "sweeper",
    version: "1.0.1",
    plugin: SweeperPlugin<TickPanics>,
    interface: dyn ecdysis_test_plugins::sweeper::Sweeper,
}
