//! A counter v3.0.0, loaded as the running version, whose `prepare` returns only after the host's
//! deadline: the update is refused, and the running version must still be resumed once `prepare`
//! returns (`value("__resumed")` counts resumes).

#![forbid(unsafe_code)]

use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn prepare() -> Result<(), PluginError> {
        std::thread::sleep(std::time::Duration::from_millis(800));
        Ok(())
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
