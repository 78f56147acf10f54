//! Version 1.0.0 of the `sweeper` module: keys with a time to live, whose tick sweeps the expired
//! ones on the host's clock (state schema v1).

#![forbid(unsafe_code)]

use ecdysis_test_plugins::sweeper::{StateV1, SweeperPlugin};

ecdysis_plugin_api::export_plugin! {
    module: "sweeper",
    version: "1.0.0",
    plugin: SweeperPlugin<StateV1>,
    interface: dyn ecdysis_test_plugins::sweeper::Sweeper,
}
