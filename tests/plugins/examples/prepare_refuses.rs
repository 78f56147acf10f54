//! A counter v3.0.0 that is correct, loaded as the running version to check that a refused prepare aborts an update.

#![forbid(unsafe_code)]

use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn prepare() -> Result<(), PluginError> {
        Err(PluginError::new("a protocol exchange is half done"))
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
