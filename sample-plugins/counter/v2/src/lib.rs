//! Version 2 of the counter sample plugin: also counts increments per counter, state schema v2.
//! Takes over state from v1 and can export it back down to v1 (for validation and rollback).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use counter_interface::{Counter, CounterStateV1, CounterStateV2, CounterStats};
use ecdysis_plugin_api::{Plugin, PluginError};

/// One counter.
#[derive(Clone, Copy)]
struct Entry {
    value: i64,
    increments: u64,
}

/// The counters with their increment counts, guarded by a `std::sync::Mutex`; the total is an
/// atomic changed only under the lock, as in v1.
pub struct CounterV2 {
    entries: Mutex<BTreeMap<String, Entry>>,
    total_increments: AtomicU64,
}

impl CounterV2 {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Counter for CounterV2 {
    fn increment(&self, key: &str, by: i64) -> i64 {
        let mut entries = self.entries();
        self.total_increments.fetch_add(1, Ordering::Relaxed);
        let entry = entries.entry(key.to_owned()).or_insert(Entry { value: 0, increments: 0 });
        entry.value += by;
        entry.increments += 1;
        entry.value
    }

    fn value(&self, key: &str) -> Option<i64> {
        self.entries().get(key).map(|entry| entry.value)
    }

    fn stats(&self, key: &str) -> Option<CounterStats> {
        self.entries().get(key).map(|entry| CounterStats { value: entry.value, increments: Some(entry.increments) })
    }

    fn keys(&self) -> Vec<String> {
        self.entries().keys().cloned().collect()
    }

    fn total_increments(&self) -> u64 {
        self.total_increments.load(Ordering::Relaxed)
    }
}

impl Plugin for CounterV2 {
    type State = CounterStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(CounterV2 { entries: Mutex::new(BTreeMap::new()), total_increments: AtomicU64::new(0) })
    }

    fn export_state(&self) -> Result<CounterStateV2, PluginError> {
        let entries = self.entries();
        Ok(CounterStateV2 {
            values: entries.iter().map(|(key, entry)| (key.clone(), entry.value)).collect(),
            total_increments: self.total_increments.load(Ordering::Relaxed),
            increments: entries.iter().map(|(key, entry)| (key.clone(), entry.increments)).collect(),
        })
    }

    fn from_state(state: CounterStateV2) -> Result<Self, PluginError> {
        if state.values.keys().ne(state.increments.keys()) {
            return Err(PluginError::new("counter state v2 is inconsistent: values and increments name different counters"));
        }
        ecdysis_plugin_api::info!("counter v2 took over {} counters", state.values.len());
        let entries = state
            .values
            .into_iter()
            .zip(state.increments.into_values())
            .map(|((key, value), increments)| (key, Entry { value, increments }));
        Ok(CounterV2 { entries: Mutex::new(entries.collect()), total_increments: AtomicU64::new(state.total_increments) })
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "counter",
    plugin: CounterV2,
    interface: dyn Counter,
    migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
}
