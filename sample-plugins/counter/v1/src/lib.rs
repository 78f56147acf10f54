//! Version 1 of the counter sample plugin: named counters in a map, state schema v1.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use counter_interface::{Counter, CounterStateV1, CounterStats};
use ecdysis_plugin_api::{Plugin, PluginError};

/// The counters, guarded by a `std::sync::Mutex` (never parking_lot in a plugin: its thread-local
/// would keep the library mapped after unload).
///
/// `total_increments` is kept apart from the map so that reading it is one atomic load (the trivial
/// call of the call-path benchmark). It changes only while the map's lock is held, so a snapshot
/// taken under the lock is consistent.
pub struct CounterV1 {
    counters: Mutex<BTreeMap<String, i64>>,
    total_increments: AtomicU64,
}

impl CounterV1 {
    fn counters(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, i64>> {
        // A panic while holding the lock cannot leave the map half-updated, so poisoning is ignored.
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Counter for CounterV1 {
    fn increment(&self, key: &str, by: i64) -> i64 {
        let mut counters = self.counters();
        self.total_increments.fetch_add(1, Ordering::Relaxed);
        let value = counters.entry(key.to_owned()).or_insert(0);
        *value += by;
        *value
    }

    fn value(&self, key: &str) -> Option<i64> {
        self.counters().get(key).copied()
    }

    fn stats(&self, key: &str) -> Option<CounterStats> {
        self.value(key).map(|value| CounterStats { value, increments: None })
    }

    fn keys(&self) -> Vec<String> {
        self.counters().keys().cloned().collect()
    }

    fn total_increments(&self) -> u64 {
        self.total_increments.load(Ordering::Relaxed)
    }
}

impl Plugin for CounterV1 {
    type State = CounterStateV1;

    fn create() -> Result<Self, PluginError> {
        Ok(CounterV1 { counters: Mutex::new(BTreeMap::new()), total_increments: AtomicU64::new(0) })
    }

    fn export_state(&self) -> Result<CounterStateV1, PluginError> {
        let counters = self.counters();
        Ok(CounterStateV1 { counters: counters.clone(), total_increments: self.total_increments.load(Ordering::Relaxed) })
    }

    fn from_state(state: CounterStateV1) -> Result<Self, PluginError> {
        ecdysis_plugin_api::info!("counter v1 took over {} counters", state.counters.len());
        Ok(CounterV1 { counters: Mutex::new(state.counters), total_increments: AtomicU64::new(state.total_increments) })
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    plugin: CounterV1,
    interface: dyn Counter,
}
