//! A counter plugin (state schema v2) whose behaviour can be broken at chosen points, shared by the
//! defective plugins in `examples/`.

#![forbid(unsafe_code)]

use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use counter_interface::{Counter, CounterStateV2, CounterStats};
use ecdysis_plugin_api::{Plugin, PluginError};

/// Where a defective plugin departs from a correct one. Every hook defaults to correct behaviour.
pub trait Defect: Send + Sync + 'static {
    /// Runs on the state in `from_state`, after migration.
    fn transform(state: CounterStateV2) -> Result<CounterStateV2, PluginError> {
        Ok(state)
    }
    /// Runs in `prepare`.
    fn prepare() -> Result<(), PluginError> {
        Ok(())
    }
    /// Runs at the start of every `increment`.
    fn before_increment(_key: &str) {}
    /// Runs in `resume`, before the instance counts the resume.
    fn resume() {}
    /// The answer of `health`.
    fn health() -> Result<(), PluginError> {
        Ok(())
    }
}

/// The key under which `value` reports how many times the instance was resumed, so that tests can
/// see the lifecycle from outside; it is never stored.
pub const RESUMED_KEY: &str = "__resumed";

/// A correct counter on schema v2, except where `D` says otherwise.
pub struct DefectiveCounter<D: Defect> {
    state: Mutex<CounterStateV2>,
    resumed: AtomicI64,
    _defect: PhantomData<D>,
}

impl<D: Defect> DefectiveCounter<D> {
    fn state(&self) -> std::sync::MutexGuard<'_, CounterStateV2> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<D: Defect> Counter for DefectiveCounter<D> {
    fn increment(&self, key: &str, by: i64) -> i64 {
        D::before_increment(key);
        let mut state = self.state();
        state.total_increments += 1;
        *state.increments.entry(key.to_owned()).or_insert(0) += 1;
        let value = state.values.entry(key.to_owned()).or_insert(0);
        *value += by;
        *value
    }

    fn value(&self, key: &str) -> Option<i64> {
        if key == RESUMED_KEY {
            return Some(self.resumed.load(Ordering::SeqCst));
        }
        self.state().values.get(key).copied()
    }

    fn stats(&self, key: &str) -> Option<CounterStats> {
        let state = self.state();
        Some(CounterStats { value: *state.values.get(key)?, increments: state.increments.get(key).copied() })
    }

    fn keys(&self) -> Vec<String> {
        self.state().values.keys().cloned().collect()
    }

    fn total_increments(&self) -> u64 {
        self.state().total_increments
    }
}

impl<D: Defect> Plugin for DefectiveCounter<D> {
    type State = CounterStateV2;

    fn create() -> Result<Self, PluginError> {
        Ok(DefectiveCounter { state: Mutex::new(CounterStateV2::default()), resumed: AtomicI64::new(0), _defect: PhantomData })
    }

    fn export_state(&self) -> Result<CounterStateV2, PluginError> {
        Ok(self.state().clone())
    }

    fn from_state(state: CounterStateV2) -> Result<Self, PluginError> {
        Ok(DefectiveCounter { state: Mutex::new(D::transform(state)?), resumed: AtomicI64::new(0), _defect: PhantomData })
    }

    fn prepare(&self) -> Result<(), PluginError> {
        D::prepare()
    }

    fn resume(&self) {
        D::resume();
        self.resumed.fetch_add(1, Ordering::SeqCst);
    }

    fn health(&self) -> Result<(), PluginError> {
        D::health()
    }
}

/// Exports `DefectiveCounter<$defect>` as version 3.0.0 of the `counter` module (state schema v2,
/// migrating from and down to v1): what every defective plugin but the ones that get the
/// descriptor itself wrong exports.
#[macro_export]
macro_rules! export_defective_counter {
    ($defect:ty) => {
        ::ecdysis_plugin_api::export_plugin! {
            module: "counter",
            version: "3.0.0",
            plugin: $crate::DefectiveCounter<$defect>,
            interface: dyn ::counter_interface::Counter,
            migrations: [
                ::counter_interface::CounterStateV1 => ::counter_interface::CounterStateV2,
                ::counter_interface::CounterStateV2 => ::counter_interface::CounterStateV1,
            ],
        }
    };
}

/// The `sweeper` fixtures: keys with a time to live, swept by the plugin's tick.
pub mod sweeper;
