//! The [`Plugin`] trait that plugin authors implement, and the
//! [`export_plugin!`](crate::export_plugin) macro that exports a plugin's descriptor.

use crate::codec::StateEncoder;
use crate::error::PluginError;
use crate::migrate::Schema;

/// A plugin: one version of a module, with its state.
///
/// The instance is shared by every calling thread (interface methods take `&self`), so the plugin
/// guards its own state. Use `std::sync` locks rather than `parking_lot`: parking_lot parks threads
/// with a thread-local that has a destructor, which keeps the library mapped after unload.
pub trait Plugin: Send + Sync + Sized + 'static {
    /// The state schema this version keeps.
    type State: Schema;

    /// Builds an instance with empty state (the module's first load).
    ///
    /// # Errors
    /// When the plugin cannot start.
    fn create() -> Result<Self, PluginError>;

    /// Takes a snapshot of the state. Must not change the instance: if the update fails, this
    /// instance keeps serving.
    ///
    /// # Errors
    /// When the state cannot be captured.
    fn export_state(&self) -> Result<Self::State, PluginError>;

    /// Encodes the state in [`Plugin::State`]'s schema through `encoder`, for an update, a
    /// snapshot or a validation that wants the state in this version's own schema (an export down
    /// to an older schema goes through [`Plugin::export_state`] and the migration steps). Must not
    /// change the instance.
    ///
    /// The default encodes what [`Plugin::export_state`] returns, a copy of the whole state. A
    /// plugin with a large state overrides it to serialize straight from its own data under its
    /// lock, with a borrowed value that serializes exactly as `Self::State` does (same field names;
    /// [`MapFrom`](crate::codec::MapFrom) for a map of its own): then an export costs one encode and
    /// no copy. A test of the plugin should check that both give the same bytes.
    ///
    /// # Errors
    /// When the state cannot be captured or encoded.
    fn encode_state(&self, encoder: &mut StateEncoder<'_, '_>) -> Result<(), PluginError> {
        encoder.encode(&self.export_state()?)
    }

    /// Builds an instance from state (already migrated to [`Plugin::State`]).
    ///
    /// # Errors
    /// When the state is unacceptable, e.g. it breaks an invariant of this version.
    fn from_state(state: Self::State) -> Result<Self, PluginError>;

    /// Reaches an update point: park the plugin's own threads and finish half-done work. Called
    /// after in-flight calls have drained. The default does nothing.
    ///
    /// # Errors
    /// Refuses the update, e.g. because a protocol exchange is half done.
    fn prepare(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// The instance is live: restart what `prepare` parked (the old instance, when an update was
    /// refused or failed, also when `prepare` returned after the host stopped waiting for it), or
    /// start background work (the new instance: after its state was validated and before the first
    /// call reaches it, while calls still wait). The default does nothing.
    fn resume(&self) {}

    /// Whether the instance is healthy. During probation after an update the host asks the new
    /// version regularly, and rolls it back to the previous version (state carried down) when it
    /// answers with an error, which it records as the reason. The default is always healthy.
    ///
    /// # Errors
    /// When the instance is not healthy; the message says why.
    fn health(&self) -> Result<(), PluginError> {
        Ok(())
    }

    /// Does a bounded piece of background work (an expiry sweep, a timer, a compaction step) and
    /// says when it wants the next tick: `Some(wait)` on the host's clock from now, `None` for no
    /// more ticks. The host calls it on its own thread ("ecdysis-ticks"), never on one of the
    /// plugin's, as it makes a call: to the current version only, never while an update holds the
    /// module paused, and an update waits for a tick in progress as for a call. Every new
    /// instance (the first load, after each update and rollback) is ticked once right away to
    /// learn its schedule. Read time through [`crate::clock`], so that a host's manual clock
    /// drives it. A panic is caught, logged and counted as a panicking call, and the next tick
    /// comes a second later. The default wants no ticks.
    fn tick(&self) -> Option<std::time::Duration> {
        None
    }
}

/// Exports a plugin: its descriptor, its interface table and its lifecycle entry points.
///
/// ```text
/// ecdysis_plugin_api::export_plugin! {
///     module: "counter",
///     plugin: CounterV2,
///     interface: dyn Counter,
///     migrations: [CounterStateV1 => CounterStateV2, CounterStateV2 => CounterStateV1],
/// }
/// ```
///
/// A plugin whose state is keyed (it implements [`KeyedState`](crate::KeyedState), so that it can
/// be updated lazily, entry by entry) lists its entry migration steps after the state's:
/// `entry_migrations: [EntryV1 => EntryV2, EntryV2 => EntryV1]` (an empty list for a first version).
///
/// `module` names the module this plugin is a version of; the plugin's version is its crate
/// version unless `version: "x.y.z",` follows `module`. Each `A => B` in `migrations` needs `impl Migrate<B> for A`; upward steps let the plugin
/// take over state from older versions, downward steps let it export state for validation and
/// rollback. Use it once per plugin crate.
#[macro_export]
macro_rules! export_plugin {
    (
        module: $module:literal,
        $(version: $version:literal,)?
        plugin: $plugin:ty,
        interface: $interface:ty
        $(, migrations: [$($from:ty => $to:ty),* $(,)?])?
        $(, entry_migrations: [$($entry_from:ty => $entry_to:ty),* $(,)?])?
        $(,)?
    ) => {
        #[doc(hidden)]
        mod __ecdysis_export {
            use super::*;
            use $crate::__private as private;

            pub(super) const STEPS: &[private::MigrationStep] = &[$($(private::MigrationStep::new::<$from, $to>()),*)?];
            pub(super) static EDGES: [private::MigrationEdge; STEPS.len()] = private::migration_edges(STEPS);
            pub(super) static TABLE: <$interface as private::Interface>::Table =
                <$interface as private::Implementation<$plugin>>::TABLE;
            pub(super) static HOOKS: private::Hooks = private::Hooks {
                prepare: Some(private::ffi::prepare::<$plugin>),
                resume: Some(private::ffi::resume::<$plugin>),
                health: Some(private::ffi::health::<$plugin>),
                keyed: $crate::__keyed_entry_points!($plugin $(; $($entry_from => $entry_to),*)?),
                install_clock: Some(private::ffi::install_clock),
                tick: Some(private::ffi::tick::<$plugin>),
            };

            $crate::__state_entry_points!($plugin, STEPS);
        }

        $crate::__export_descriptor!($crate::__private::PluginDescriptor {
            header: $crate::__private::DescriptorHeader::current(),
            module_name: $crate::__private::RawStr::new($module),
            plugin_version: $crate::__private::RawStr::new($crate::__plugin_version!($($version)?)),
            interface_id: $crate::__private::RawStr::new(<$interface as $crate::__private::Interface>::ID),
            interface_fingerprint: <$interface as $crate::__private::Interface>::FINGERPRINT,
            schema_name: $crate::__private::RawStr::new(<<$plugin as $crate::Plugin>::State as $crate::Schema>::NAME),
            schema_version: <<$plugin as $crate::Plugin>::State as $crate::Schema>::VERSION,
            migrations: $crate::__private::RawSlice::new(&__ecdysis_export::EDGES),
            entry_points: $crate::__private::EntryPoints {
                install_logger: $crate::__private::ffi::install_logger,
                create: $crate::__private::ffi::create::<$plugin>,
                export_state: __ecdysis_export::export_state,
                import_state: __ecdysis_export::import_state,
                destroy: $crate::__private::ffi::destroy::<$plugin>,
            },
            hooks: $crate::__private::HookTable::new(&__ecdysis_export::HOOKS),
            interface_table: &__ecdysis_export::TABLE as *const _ as *const ::core::ffi::c_void,
        });
    };
}

/// The `keyed` hook for `export_plugin!`: `None`, or with `entry_migrations` the keyed entry points
/// of a plugin that implements `KeyedState`.
#[doc(hidden)]
#[macro_export]
macro_rules! __keyed_entry_points {
    ($plugin:ty) => {
        None
    };
    ($plugin:ty; $($from:ty => $to:ty),*) => {{
        struct EntrySteps;
        impl $crate::__private::EntryMigrations for EntrySteps {
            const STEPS: &'static [$crate::__private::MigrationStep] = &[$($crate::__private::MigrationStep::new::<$from, $to>()),*];
        }
        static KEYED: $crate::__private::KeyedEntryPoints = $crate::__private::KeyedEntryPoints::of::<$plugin, EntrySteps>();
        Some(&KEYED)
    }};
}

/// The plugin version for `export_plugin!`: the given literal, or the crate version.
#[doc(hidden)]
#[macro_export]
macro_rules! __plugin_version {
    () => {
        env!("CARGO_PKG_VERSION")
    };
    ($version:literal) => {
        $version
    };
}
