//! The counter sample's module interface and its state schemas, shared by the program that embeds
//! the host and by every counter plugin version.
//!
//! The schemas of all versions live here, frozen, together with the migration steps between
//! neighbouring versions, so each step is written once and every later version reuses it.

#![forbid(unsafe_code)]

use ecdysis_plugin_api::{Migrate, MigrationOptions, PluginError, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Statistics about one counter.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CounterStats {
    /// The counter's value.
    pub value: i64,
    /// How many increments the counter received since it was created or migrated; `None` when the
    /// running version does not track it (v1).
    pub increments: Option<u64>,
}

/// A set of named counters.
#[ecdysis_plugin_api::interface]
pub trait Counter {
    /// Adds `by` to the counter `key` (created at zero) and returns its new value.
    fn increment(&self, key: &str, by: i64) -> i64;
    /// The value of counter `key`, if it exists.
    fn value(&self, key: &str) -> Option<i64>;
    /// Statistics about counter `key`, if it exists.
    fn stats(&self, key: &str) -> Option<CounterStats>;
    /// The names of all counters, sorted.
    fn keys(&self) -> Vec<String>;
    /// How many increments were made in total, over all versions.
    fn total_increments(&self) -> u64;
}

/// The name of the counter's state schema.
pub const SCHEMA_NAME: &str = "counter";

/// Counter state, schema version 1.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterStateV1 {
    /// Counter values by name.
    pub counters: BTreeMap<String, i64>,
    /// Increments made in total.
    pub total_increments: u64,
}

impl Schema for CounterStateV1 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 1;
}

/// Counter state, schema version 2: `counters` is renamed to `values`, and the number of increments
/// per counter is added.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct CounterStateV2 {
    /// Counter values by name (was `counters` in v1).
    pub values: BTreeMap<String, i64>,
    /// Increments made in total.
    pub total_increments: u64,
    /// Increments per counter since it was created or migrated from v1 (new in v2).
    pub increments: BTreeMap<String, u64>,
}

impl Schema for CounterStateV2 {
    const NAME: &'static str = SCHEMA_NAME;
    const VERSION: u32 = 2;
}

impl Migrate<CounterStateV2> for CounterStateV1 {
    /// Renames `counters` to `values` and starts every per-counter increment count at zero: v1 did
    /// not record them.
    fn migrate(self, _options: &MigrationOptions) -> Result<CounterStateV2, PluginError> {
        let increments = self.counters.keys().map(|key| (key.clone(), 0)).collect();
        Ok(CounterStateV2 { values: self.counters, total_increments: self.total_increments, increments })
    }
}

impl Migrate<CounterStateV1> for CounterStateV2 {
    /// Renames `values` back to `counters` and drops the per-counter increment counts, which v1
    /// cannot hold.
    fn migrate(self, _options: &MigrationOptions) -> Result<CounterStateV1, PluginError> {
        Ok(CounterStateV1 { counters: self.values, total_increments: self.total_increments })
    }
}
