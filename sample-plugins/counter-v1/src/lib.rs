//! Version 1 of the counter sample plugin: named counters in a map, state schema v1.

use std::collections::BTreeMap;
use std::sync::Mutex;

use counter_interface::{Counter, CounterStateV1, CounterStats};
use ecdysis_plugin_api::{Plugin, PluginError};

/// The counters, guarded by one `std::sync::Mutex` (never parking_lot in a plugin: its thread-local
/// would keep the library mapped after unload).
pub struct CounterV1 {
    state: Mutex<CounterStateV1>,
}

impl CounterV1 {
    fn state(&self) -> std::sync::MutexGuard<'_, CounterStateV1> {
        // A panic while holding the lock cannot leave the map half-updated, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Counter for CounterV1 {
    fn increment(&self, key: &str, by: i64) -> i64 {
        let mut state = self.state();
        state.total_increments += 1;
        let value = state.counters.entry(key.to_owned()).or_insert(0);
        *value += by;
        *value
    }

    fn value(&self, key: &str) -> Option<i64> {
        self.state().counters.get(key).copied()
    }

    fn stats(&self, key: &str) -> Option<CounterStats> {
        self.value(key).map(|value| CounterStats { value, increments: None })
    }

    fn keys(&self) -> Vec<String> {
        self.state().counters.keys().cloned().collect()
    }

    fn total_increments(&self) -> u64 {
        self.state().total_increments
    }
}

impl Plugin for CounterV1 {
    type State = CounterStateV1;

    fn create() -> Result<Self, PluginError> {
        Ok(CounterV1 { state: Mutex::new(CounterStateV1 { counters: BTreeMap::new(), total_increments: 0 }) })
    }

    fn export_state(&self) -> Result<CounterStateV1, PluginError> {
        Ok(self.state().clone())
    }

    fn from_state(state: CounterStateV1) -> Result<Self, PluginError> {
        ecdysis_plugin_api::info!("counter v1 took over {} counters", state.counters.len());
        Ok(CounterV1 { state: Mutex::new(state) })
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    plugin: CounterV1,
    interface: dyn Counter,
}
