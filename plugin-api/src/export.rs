//! The [`Plugin`] trait that plugin authors implement, the lifecycle shims, and the
//! [`export_plugin!`](crate::export_plugin) macro that exports a plugin's descriptor.

use std::ffi::c_void;

use crate::abi::{ByteSink, CallStatus, RawSlice};
use crate::error::{PluginError, guard};
use crate::migrate::{MigrationOptions, MigrationStep, Schema, decode_from_version, encode_to_version};

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

    /// The instance is live: restart what `prepare` parked (old instance, update refused or failed),
    /// or start background work (new instance, after the swap). The default does nothing.
    fn resume(&self) {}
}

/// Lifecycle shims, instantiated by [`export_plugin!`](crate::export_plugin) for one plugin type.
#[doc(hidden)]
pub mod shims {
    use super::*;

    /// # Safety
    /// `out` must be writable.
    pub unsafe extern "C" fn create<P: Plugin>(out: *mut *mut c_void, error: ByteSink<'_>) -> CallStatus {
        guard(error, || {
            let instance = Box::into_raw(Box::new(P::create()?));
            // SAFETY: the caller passes a writable slot for the instance pointer.
            unsafe { out.write(instance.cast()) };
            Ok(())
        })
    }

    /// # Safety
    /// `instance` must come from this plugin's `create` or `import_state` and be alive.
    pub unsafe fn export_state<P: Plugin>(
        steps: &[MigrationStep],
        instance: *const c_void,
        schema_version: u32,
        flags: u32,
        mut out: ByteSink<'_>,
        error: ByteSink<'_>,
    ) -> CallStatus {
        guard(error, || {
            // SAFETY: the caller passes a live instance of `P`.
            let plugin = unsafe { &*(instance as *const P) };
            let state = plugin.export_state()?;
            out.write(&encode_to_version(steps, state, schema_version, &MigrationOptions::from_flags(flags))?);
            Ok(())
        })
    }

    /// # Safety
    /// `state` must be a live byte slice and `out` writable.
    pub unsafe fn import_state<P: Plugin>(
        steps: &[MigrationStep],
        schema_version: u32,
        flags: u32,
        state: RawSlice<u8>,
        out: *mut *mut c_void,
        error: ByteSink<'_>,
    ) -> CallStatus {
        guard(error, || {
            // SAFETY: the caller passes bytes that live for the call.
            let bytes = unsafe { state.as_slice() };
            let state: P::State = decode_from_version(steps, schema_version, bytes, &MigrationOptions::from_flags(flags))?;
            let instance = Box::into_raw(Box::new(P::from_state(state)?));
            // SAFETY: the caller passes a writable slot for the instance pointer.
            unsafe { out.write(instance.cast()) };
            Ok(())
        })
    }

    /// # Safety
    /// `instance` must come from this plugin and be alive.
    pub unsafe extern "C" fn prepare<P: Plugin>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
        guard(error, || {
            // SAFETY: the caller passes a live instance of `P`.
            let plugin = unsafe { &*(instance as *const P) };
            plugin.prepare()?;
            Ok(())
        })
    }

    /// # Safety
    /// `instance` must come from this plugin and be alive.
    pub unsafe extern "C" fn resume<P: Plugin>(instance: *const c_void, error: ByteSink<'_>) -> CallStatus {
        guard(error, || {
            // SAFETY: the caller passes a live instance of `P`.
            let plugin = unsafe { &*(instance as *const P) };
            plugin.resume();
            Ok(())
        })
    }

    /// # Safety
    /// `instance` must come from this plugin, be alive, and not be used again.
    pub unsafe extern "C" fn destroy<P: Plugin>(instance: *mut c_void, error: ByteSink<'_>) -> CallStatus {
        guard(error, || {
            // SAFETY: the caller hands over ownership of a live boxed `P`.
            drop(unsafe { Box::from_raw(instance as *mut P) });
            Ok(())
        })
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

            pub(super) unsafe extern "C" fn export_state(
                instance: *const ::core::ffi::c_void,
                schema_version: u32,
                flags: u32,
                out: private::ByteSink<'_>,
                error: private::ByteSink<'_>,
            ) -> private::CallStatus {
                // SAFETY: the host's contract for this entry point is the shim's contract.
                unsafe { private::shims::export_state::<$plugin>(STEPS, instance, schema_version, flags, out, error) }
            }

            pub(super) unsafe extern "C" fn import_state(
                schema_version: u32,
                flags: u32,
                state: private::RawSlice<u8>,
                out: *mut *mut ::core::ffi::c_void,
                error: private::ByteSink<'_>,
            ) -> private::CallStatus {
                // SAFETY: the host's contract for this entry point is the shim's contract.
                unsafe { private::shims::import_state::<$plugin>(STEPS, schema_version, flags, state, out, error) }
            }
        }

        /// The ecdysis plugin descriptor, read by the host before anything else.
        #[unsafe(no_mangle)]
        pub static ECDYSIS_PLUGIN_DESCRIPTOR: $crate::__private::PluginDescriptor = $crate::__private::PluginDescriptor {
            header: $crate::__private::DescriptorHeader::current(),
            module_name: $crate::__private::RawStr::new($module),
            plugin_version: $crate::__private::RawStr::new($crate::__plugin_version!($($version)?)),
            interface_id: $crate::__private::RawStr::new(<$interface as $crate::__private::Interface>::ID),
            interface_fingerprint: <$interface as $crate::__private::Interface>::FINGERPRINT,
            schema_name: $crate::__private::RawStr::new(<<$plugin as $crate::Plugin>::State as $crate::Schema>::NAME),
            schema_version: <<$plugin as $crate::Plugin>::State as $crate::Schema>::VERSION,
            migrations: $crate::__private::RawSlice::new(&__ecdysis_export::EDGES),
            entry_points: $crate::__private::EntryPoints {
                install_logger: $crate::__private::install_logger,
                create: $crate::__private::shims::create::<$plugin>,
                export_state: __ecdysis_export::export_state,
                import_state: __ecdysis_export::import_state,
                prepare: $crate::__private::shims::prepare::<$plugin>,
                resume: $crate::__private::shims::resume::<$plugin>,
                destroy: $crate::__private::shims::destroy::<$plugin>,
            },
            interface_table: &__ecdysis_export::TABLE as *const _ as *const ::core::ffi::c_void,
        };
    };
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
