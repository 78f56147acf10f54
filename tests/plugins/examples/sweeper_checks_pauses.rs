//! A `sweeper` 1.0.2 that checks the host never ticks it while an update holds it paused: its
//! `prepare` refuses the update when a tick is running (an update's drain must have waited for
//! it), and a tick that comes between `prepare` and the next `resume` panics (counted as a failed
//! tick). Each tick takes 30 ms, so that updates meet ticks in progress.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::sweeper::{StateV1, SweeperPlugin, SweeperStateV1, SweeperVersion};

/// Whether a tick is running.
static TICKING: AtomicBool = AtomicBool::new(false);
/// Whether an update prepared this library's instance and nothing resumed one since.
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Version 1, checking the ticks against its update points.
pub struct ChecksPauses;

impl SweeperVersion for ChecksPauses {
    type State = SweeperStateV1;
    const VERSION: &'static str = "1-checks-pauses";

    fn into_entries(state: SweeperStateV1) -> Vec<(String, String, u64)> {
        StateV1::into_entries(state)
    }

    fn from_entries(entries: &BTreeMap<String, (String, u64)>) -> SweeperStateV1 {
        StateV1::from_entries(entries)
    }

    fn before_sweep() {
        TICKING.store(true, Ordering::SeqCst);
        assert!(!PAUSED.load(Ordering::SeqCst), "ticked while an update held the module paused");
        std::thread::sleep(Duration::from_millis(30));
    }

    fn after_sweep() {
        TICKING.store(false, Ordering::SeqCst);
    }

    fn prepare() -> Result<(), PluginError> {
        if TICKING.load(Ordering::SeqCst) {
            return Err(PluginError::new("a tick was still running when the update prepared the module"));
        }
        PAUSED.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn resume() {
        PAUSED.store(false, Ordering::SeqCst);
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "sweeper",
    version: "1.0.2",
    plugin: SweeperPlugin<ChecksPauses>,
    interface: dyn ecdysis_test_plugins::sweeper::Sweeper,
}
