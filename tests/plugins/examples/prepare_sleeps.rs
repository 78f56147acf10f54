//! A counter v3.0.0, loaded as the running version, whose `prepare` sleeps for a second and then
//! agrees: an update from it holds the module paused for that second, long enough to see what
//! asynchronous callers and the rest of their runtime do during a pause.

#![forbid(unsafe_code)]

use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect: a slow `prepare`, well within the tests' hook deadline.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn prepare() -> Result<(), PluginError> {
        std::thread::sleep(std::time::Duration::from_secs(1));
        Ok(())
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
