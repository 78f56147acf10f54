//! A counter v3.0.0, updated to, that serves correctly but reports itself unhealthy: the host must
//! roll it back during probation.

#![forbid(unsafe_code)]

use ecdysis_plugin_api::PluginError;
use ecdysis_test_plugins::Defect;

/// The defect.
pub struct ThisDefect;

impl Defect for ThisDefect {
    fn health() -> Result<(), PluginError> {
        Err(PluginError::new("the cache is corrupt"))
    }
}

ecdysis_test_plugins::export_defective_counter!(ThisDefect);
