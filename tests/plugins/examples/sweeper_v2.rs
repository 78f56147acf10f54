//! Version 2.0.0 of the `sweeper` module: as version 1, on state schema v2 (each entry a named
//! record), migrating from v1 and back down to it.

#![forbid(unsafe_code)]

use ecdysis_test_plugins::sweeper::{StateV2, SweeperPlugin, SweeperStateV1, SweeperStateV2};

ecdysis_plugin_api::export_plugin! {
    module: "sweeper",
    version: "2.0.0",
    plugin: SweeperPlugin<StateV2>,
    interface: dyn ecdysis_test_plugins::sweeper::Sweeper,
    migrations: [SweeperStateV1 => SweeperStateV2, SweeperStateV2 => SweeperStateV1],
}
