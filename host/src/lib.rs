//! Live update of Rust code in a running process: the ecdysis host.
//!
//! A [`Host`] loads plugins (`cdylib`s built with `ecdysis-plugin-api`) as *modules*, routes calls
//! to each module's current version through a typed [`Module`] handle, and updates a module to a
//! new version while other threads keep calling it, carrying its state over. If anything fails the
//! old version keeps serving, untouched.
//!
//! # Example
//!
//! ```no_run
//! use ecdysis_host::Host;
//!
//! // The interface lives in a crate shared by the program and every plugin version.
//! #[ecdysis_plugin_api::interface]
//! pub trait Counter {
//!     fn increment(&self, key: &str, by: i64) -> i64;
//!     fn value(&self, key: &str) -> Option<i64>;
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let host = Host::new()?;
//! let counter = host.load::<dyn Counter>("target/debug/libcounter_v1.so")?;
//! counter.call(|counter| counter.increment("requests", 1))?;
//!
//! // Other threads may keep calling `counter` meanwhile: they wait only during the swap.
//! let report = host.update("counter", "target/debug/libcounter_v2.so")?;
//! println!("{report}");
//! assert_eq!(counter.call(|counter| counter.value("requests"))?, Some(1));
//! host.commit("counter")?; // releases v1
//! # Ok(())
//! # }
//! ```
//!
//! (Build the plugins first: `cargo build -p counter-v1 -p counter-v2`; `cargo xtask demo` does all
//! of it.)
//!
//! # Concepts
//! - **Module**: a named, swappable unit (e.g. `counter`) implementing an *interface*, a trait
//!   marked `#[ecdysis_plugin_api::interface]`. [`Module<dyn Trait>`](Module) calls it, always
//!   inside a closure ([`Module::call`]): the proxy the closure gets cannot leave it, so no call
//!   outlives the version it reached, and an update waits for exactly the calls in flight.
//! - **Async servers**: [`Module::call_async`] is the same call for an async task; during an
//!   update's pause the task waits, not its thread. [`Host::load_async`], [`Host::update_async`],
//!   [`Host::rollback_async`] and [`Host::commit_async`] are the transactions' twins
//!   ([`TransactionFuture`]). No runtime is assumed: they work on tokio's runtimes, and on any other.
//! - **Version**: one plugin library of a module, with a semver version and a state *schema*
//!   version. The descriptor the plugin exports is verified before any of its code runs.
//! - **Update**: a transaction, see [`Phase`]: stage, quiesce, export, transform, validate, swap.
//!   The pause (calls held) spans quiesce to swap. [`UpdateReport`] times each phase.
//! - **Rehearsal**: before the running version is paused, the update is tried in a child process
//!   (this program, re-executed: call [`rehearsal::serve_if_asked`] first in `main`), on a snapshot
//!   of the running state; a candidate that crashes, exits, hangs, fails or loses data there is
//!   refused and costs only the child. See [`HostBuilder::rehearse`].
//! - **Probation**: after an update the previous version stays loaded until [`Host::commit`] or the
//!   next update; then it is dropped and its library unloaded, because no call can reach it.
//! - **Snapshots and warm restart**: with a state directory ([`HostBuilder::state_directory`]), a
//!   module's state is written to disk atomically on request ([`Host::snapshot`]), after commits,
//!   at [`Host::shutdown`] and at an interval; a host started later on that directory loads the
//!   module back on the newest snapshot's version with its state ([`Host::load`]).
//! - **Ticks and time**: a plugin's background work runs in its `tick` hook, which the host calls
//!   on a thread of its own ("ecdysis-ticks") as it makes a call, to the current version, never
//!   while an update holds the module paused ([`Host::tick_status`]). Plugins read time through
//!   the host's [`Clock`] ([`HostBuilder::clock`]), which a test can make manual and advance.
//!
//! This library emits `tracing` spans and events (one span per phase) and never installs a
//! subscriber; plugins' log messages arrive as events with target `ecdysis::plugin`.
//!
//! Errors say what failed and keep their cause as their `source`, never in their message: show one
//! to a person with [`ErrorChain`] (`error: cause: root cause`), as the control socket and the
//! history do.

// Updates are rare and their errors carry versions and paths for the operator; boxing them would
// save nothing that matters.
#![allow(clippy::result_large_err)]
// Unsafe code lives in two files alone, `loading/open.rs` and `calling/instance.rs`, where every
// block says why it is sound.
#![deny(unsafe_code)]

// The floors, bottom to top; each file imports only from its own floor and the ones below it.
mod asynchronous;
mod builder;
mod calling;
mod clock;
mod error;
mod host;
mod loading;
mod operating;
mod updating;

pub use asynchronous::TransactionFuture;
pub use builder::{HostBuilder, HostConfig};
pub use calling::{MAX_MODULES, Module, TICK_RETRY_AFTER_FAILURE, TickStatus};
pub use clock::Clock;
pub use ecdysis_plugin_api::{CallError, Interface};
/// The control protocol (`ecdysis-protocol`), shared with the `ecdysis` tool and `cargo xtask`.
pub use ecdysis_protocol as protocol;
pub use ecdysis_protocol::{
    ErrorChain, HistoryEntry, HistoryEvent, MigrationProgress, ModuleStatus, Phase, PhaseTiming, RehearsalReport, RehearsalStatus,
    SnapshotReason, SnapshotReport, UpdateKind, UpdateReport,
};
pub use error::{BuildError, LoadError, RehearsalFailure, RehearsalStep, SnapshotError, UpdateError};
pub use host::Host;
pub use loading::{LibraryRelease, PluginInfo, RELEASE_LOG_CAPACITY};
pub use operating::control;
pub use operating::control::ControlSocket;
pub use updating::{HISTORY_CAPACITY, KEPT_PER_MODULE, UpdateOptions, rehearsal};

/// Entries for the fuzz targets in `fuzz/`, not part of the API: they may change at any time.
#[doc(hidden)]
pub mod fuzzing {
    /// The read-only ELF check the host runs on a library before any `dlopen` (class, byte order,
    /// machine, loadable segments inside the file, the descriptor exported), on bytes alone.
    ///
    /// # Errors
    /// The refusal's message, as a person would read it.
    pub fn check_library_bytes(bytes: &[u8]) -> Result<(), String> {
        crate::loading::check_library_bytes(bytes)
    }
}
