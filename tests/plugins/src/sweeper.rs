//! The `sweeper` fixtures' shared part: a store of keys with a time to live whose expired entries a
//! plugin's `tick` sweeps, reading the host's clock. Its interface, the state schemas of its two
//! versions with the migrations between them, and the plugin both versions (and the one whose tick
//! panics) are made of.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ecdysis_plugin_api::{Migrate, MigrationOptions, Plugin, PluginError, Schema, clock};
use serde::{Deserialize, Serialize};

/// How often a sweeper wants to be ticked, on the host's clock.
pub const SWEEP_EVERY: Duration = Duration::from_millis(10);

/// A store of keys that expire.
#[ecdysis_plugin_api::interface]
pub trait Sweeper {
    /// Stores `value` under `key` until `ttl_ms` milliseconds from now on the host's clock.
    fn set(&self, key: &str, value: &str, ttl_ms: u64);
    /// The value of `key`, if it is stored and not expired.
    fn get(&self, key: &str) -> Option<String>;
    /// How many entries are stored, expired ones that no sweep removed yet included.
    fn stored(&self) -> u64;
    /// How many sweeps this instance made (it starts at zero in every new instance).
    fn sweeps(&self) -> u64;
    /// The plugin's version.
    fn version(&self) -> String;
}

/// Version 1 of the state: key → (value, expiry in milliseconds since the Unix epoch).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweeperStateV1 {
    /// The entries.
    pub entries: BTreeMap<String, (String, u64)>,
}

impl Schema for SweeperStateV1 {
    const NAME: &'static str = "sweeper";
    const VERSION: u32 = 1;
}

/// One entry of version 2 of the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweeperEntryV2 {
    /// The value.
    pub value: String,
    /// When it expires, in milliseconds since the Unix epoch.
    pub expires_at_unix_ms: u64,
}

/// Version 2 of the state: key → a named entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweeperStateV2 {
    /// The entries.
    pub entries: BTreeMap<String, SweeperEntryV2>,
}

impl Schema for SweeperStateV2 {
    const NAME: &'static str = "sweeper";
    const VERSION: u32 = 2;
}

impl Migrate<SweeperStateV2> for SweeperStateV1 {
    fn migrate(self, _options: &MigrationOptions) -> Result<SweeperStateV2, PluginError> {
        let entries =
            self.entries.into_iter().map(|(key, (value, expires_at_unix_ms))| (key, SweeperEntryV2 { value, expires_at_unix_ms }));
        Ok(SweeperStateV2 { entries: entries.collect() })
    }
}

impl Migrate<SweeperStateV1> for SweeperStateV2 {
    fn migrate(self, _options: &MigrationOptions) -> Result<SweeperStateV1, PluginError> {
        let entries = self.entries.into_iter().map(|(key, entry)| (key, (entry.value, entry.expires_at_unix_ms)));
        Ok(SweeperStateV1 { entries: entries.collect() })
    }
}

/// What tells the versions of the sweeper apart: its state schema, its version string, and what
/// its tick does besides sweeping.
pub trait SweeperVersion: Send + Sync + 'static {
    /// The state schema.
    type State: Schema;
    /// The version string `version` returns.
    const VERSION: &'static str;
    /// The entries of a state, as (key, value, expiry in Unix milliseconds).
    fn into_entries(state: Self::State) -> Vec<(String, String, u64)>;
    /// The state of entries.
    fn from_entries(entries: &BTreeMap<String, (String, u64)>) -> Self::State;
    /// Runs at the start of every tick.
    fn before_sweep() {}
    /// Runs at the end of every tick.
    fn after_sweep() {}
    /// Runs in `prepare`.
    fn prepare() -> Result<(), PluginError> {
        Ok(())
    }
    /// Runs in `resume`.
    fn resume() {}
}

/// A sweeper: its entries under one lock, swept by its tick.
pub struct SweeperPlugin<V: SweeperVersion> {
    entries: Mutex<BTreeMap<String, (String, u64)>>,
    sweeps: AtomicU64,
    _version: PhantomData<V>,
}

impl<V: SweeperVersion> SweeperPlugin<V> {
    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, (String, u64)>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with_entries(entries: BTreeMap<String, (String, u64)>) -> Self {
        SweeperPlugin { entries: Mutex::new(entries), sweeps: AtomicU64::new(0), _version: PhantomData }
    }
}

impl<V: SweeperVersion> Sweeper for SweeperPlugin<V> {
    fn set(&self, key: &str, value: &str, ttl_ms: u64) {
        let expires_at = clock::unix_millis().saturating_add(ttl_ms);
        self.entries().insert(key.to_owned(), (value.to_owned(), expires_at));
    }

    fn get(&self, key: &str) -> Option<String> {
        let now = clock::unix_millis();
        self.entries().get(key).filter(|(_, expires_at)| *expires_at > now).map(|(value, _)| value.clone())
    }

    fn stored(&self) -> u64 {
        self.entries().len() as u64
    }

    fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::SeqCst)
    }

    fn version(&self) -> String {
        V::VERSION.to_owned()
    }
}

impl<V: SweeperVersion> Plugin for SweeperPlugin<V> {
    type State = V::State;

    fn create() -> Result<Self, PluginError> {
        Ok(Self::with_entries(BTreeMap::new()))
    }

    fn export_state(&self) -> Result<V::State, PluginError> {
        Ok(V::from_entries(&self.entries()))
    }

    fn from_state(state: V::State) -> Result<Self, PluginError> {
        let entries = V::into_entries(state).into_iter().map(|(key, value, expires_at)| (key, (value, expires_at)));
        Ok(Self::with_entries(entries.collect()))
    }

    fn tick(&self) -> Option<Duration> {
        V::before_sweep();
        let now = clock::unix_millis();
        self.entries().retain(|_, (_, expires_at)| *expires_at > now);
        self.sweeps.fetch_add(1, Ordering::SeqCst);
        V::after_sweep();
        Some(SWEEP_EVERY)
    }

    fn prepare(&self) -> Result<(), PluginError> {
        V::prepare()
    }

    fn resume(&self) {
        V::resume();
    }
}

/// Version 1's schema.
pub struct StateV1;

impl SweeperVersion for StateV1 {
    type State = SweeperStateV1;
    const VERSION: &'static str = "1";

    fn into_entries(state: SweeperStateV1) -> Vec<(String, String, u64)> {
        state.entries.into_iter().map(|(key, (value, expires_at))| (key, value, expires_at)).collect()
    }

    fn from_entries(entries: &BTreeMap<String, (String, u64)>) -> SweeperStateV1 {
        SweeperStateV1 { entries: entries.clone() }
    }
}

/// Version 2's schema.
pub struct StateV2;

impl SweeperVersion for StateV2 {
    type State = SweeperStateV2;
    const VERSION: &'static str = "2";

    fn into_entries(state: SweeperStateV2) -> Vec<(String, String, u64)> {
        state.entries.into_iter().map(|(key, entry)| (key, entry.value, entry.expires_at_unix_ms)).collect()
    }

    fn from_entries(entries: &BTreeMap<String, (String, u64)>) -> SweeperStateV2 {
        let entries = entries
            .iter()
            .map(|(key, (value, expires_at))| (key.clone(), SweeperEntryV2 { value: value.clone(), expires_at_unix_ms: *expires_at }));
        SweeperStateV2 { entries: entries.collect() }
    }
}
