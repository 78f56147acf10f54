//! A plugin for module `counter` whose interface has the same id (`Counter`) but other signatures:
//! `increment` takes and returns `i32`. Its fingerprint differs, so a host must refuse it.

#![forbid(unsafe_code)]

use std::sync::Mutex;

use counter_interface::{CounterStateV1, CounterStateV2};
use ecdysis_plugin_api::{Plugin, PluginError};

/// An older, narrower counter interface.
#[ecdysis_plugin_api::interface]
pub trait Counter {
    /// Adds `by` to counter `key`.
    fn increment(&self, key: &str, by: i32) -> i32;
}

/// A counter with the narrower interface.
pub struct NarrowCounter {
    state: Mutex<CounterStateV2>,
}

impl Counter for NarrowCounter {
    fn increment(&self, key: &str, by: i32) -> i32 {
        let mut state = self.state.lock().unwrap();
        let value = state.values.entry(key.to_owned()).or_insert(0);
        *value += i64::from(by);
        *value as i32
    }
}

impl Plugin for NarrowCounter {
    type State = CounterStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(NarrowCounter { state: Mutex::new(CounterStateV2::default()) })
    }

    fn export_state(&self) -> Result<CounterStateV2, PluginError> {
        Ok(self.state.lock().unwrap().clone())
    }

    fn from_state(state: CounterStateV2) -> Result<Self, PluginError> {
        Ok(NarrowCounter { state: Mutex::new(state) })
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    version: "3.0.0",
    plugin: NarrowCounter,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
