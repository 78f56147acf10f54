//! Version 2 of the counter sample plugin: also counts increments per counter, state schema v2.
//! Takes over state from v1 and can export it back down to v1 (for validation and rollback).

use std::sync::Mutex;

use counter_interface::{Counter, CounterStateV1, CounterStateV2, CounterStats};
use ecdysis_plugin_api::{Plugin, PluginError};

/// The counters and their increment counts, guarded by one `std::sync::Mutex`.
pub struct CounterV2 {
    state: Mutex<CounterStateV2>,
}

impl CounterV2 {
    fn state(&self) -> std::sync::MutexGuard<'_, CounterStateV2> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Counter for CounterV2 {
    fn increment(&self, key: &str, by: i64) -> i64 {
        let mut state = self.state();
        state.total_increments += 1;
        *state.increments.entry(key.to_owned()).or_insert(0) += 1;
        let value = state.values.entry(key.to_owned()).or_insert(0);
        *value += by;
        *value
    }

    fn value(&self, key: &str) -> Option<i64> {
        self.state().values.get(key).copied()
    }

    fn stats(&self, key: &str) -> Option<CounterStats> {
        let state = self.state();
        let value = *state.values.get(key)?;
        Some(CounterStats { value, increments: Some(state.increments.get(key).copied().unwrap_or(0)) })
    }

    fn keys(&self) -> Vec<String> {
        self.state().values.keys().cloned().collect()
    }

    fn total_increments(&self) -> u64 {
        self.state().total_increments
    }
}

impl Plugin for CounterV2 {
    type State = CounterStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(CounterV2 { state: Mutex::new(CounterStateV2::default()) })
    }

    fn export_state(&self) -> Result<CounterStateV2, PluginError> {
        Ok(self.state().clone())
    }

    fn from_state(state: CounterStateV2) -> Result<Self, PluginError> {
        if state.values.keys().ne(state.increments.keys()) {
            return Err(PluginError::new("counter state v2 is inconsistent: values and increments name different counters"));
        }
        ecdysis_plugin_api::info!("counter v2 took over {} counters", state.values.len());
        Ok(CounterV2 { state: Mutex::new(state) })
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    plugin: CounterV2,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
