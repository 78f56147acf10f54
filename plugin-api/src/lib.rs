//! The contract between an ecdysis host and its plugins.
//!
//! A *plugin* is a `cdylib` that implements one version of a *module*. It exports a
//! `#[repr(C)]` [`PluginDescriptor`] (ABI version, module name, plugin version, interface id and
//! fingerprint, state schema and migration graph) and a function table for the module's
//! *interface*. The host verifies the descriptor before it calls anything, routes calls through the
//! table, and moves state between versions as MessagePack.
//!
//! This crate knows nothing about the host: it is the vocabulary both sides share.
//!
//! # Writing a plugin
//!
//! 1. Declare the interface once, in a crate that the host program and every plugin version depend
//!    on:
//!
//! ```
//! #[ecdysis_plugin_api::interface]
//! pub trait Greeter {
//!     /// Greets `name` and returns the greeting.
//!     fn greet(&self, name: &str) -> String;
//!     /// How many greetings were made.
//!     fn greeted(&self) -> u64;
//! }
//! ```
//!
//! 2. In each plugin version, implement the interface and [`Plugin`], give the state a [`Schema`],
//!    and export:
//!
//! ```
//! # #[ecdysis_plugin_api::interface]
//! # pub trait Greeter { fn greet(&self, name: &str) -> String; fn greeted(&self) -> u64; }
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use ecdysis_plugin_api::{Plugin, PluginError, Schema};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! pub struct GreeterState { greeted: u64 }
//! impl Schema for GreeterState {
//!     const NAME: &'static str = "greeter";
//!     const VERSION: u32 = 1;
//! }
//!
//! pub struct GreeterV1 { greeted: AtomicU64 }
//! impl Greeter for GreeterV1 {
//!     fn greet(&self, name: &str) -> String {
//!         self.greeted.fetch_add(1, Ordering::Relaxed);
//!         format!("hello, {name}")
//!     }
//!     fn greeted(&self) -> u64 { self.greeted.load(Ordering::Relaxed) }
//! }
//! impl Plugin for GreeterV1 {
//!     type State = GreeterState;
//!     fn create() -> Result<Self, PluginError> { Ok(GreeterV1 { greeted: AtomicU64::new(0) }) }
//!     fn export_state(&self) -> Result<GreeterState, PluginError> {
//!         Ok(GreeterState { greeted: self.greeted() })
//!     }
//!     fn from_state(state: GreeterState) -> Result<Self, PluginError> {
//!         Ok(GreeterV1 { greeted: AtomicU64::new(state.greeted) })
//!     }
//! }
//!
//! ecdysis_plugin_api::export_plugin! {
//!     module: "greeter",
//!     plugin: GreeterV1,
//!     interface: dyn Greeter,
//! }
//! # fn main() {}
//! ```
//!
//! When the state schema changes, keep the old type, bump [`Schema::VERSION`] on the new one,
//! implement [`Migrate`] in both directions, and list the steps in `migrations: [...]`.
//!
//! # What crosses the boundary, and how
//!
//! `#[interface]` decides how each argument and result crosses from how its type is *spelled*
//! (a macro sees no types, only their names):
//!
//! | type | as an argument | as a result |
//! |---|---|---|
//! | `u8`..`u64`, `i8`..`i64`, `usize`, `isize`, `f32`, `f64`, `bool` | by value | by value |
//! | `&str`, `&[u8]` | pointer and length, not copied | refused (see below) |
//! | `Vec<u8>` | its bytes | its bytes |
//! | `Bytes` | its bytes; copied into a new `Bytes` on arrival | its bytes; copied into a new `Bytes` |
//! | `Option<Vec<u8>>` | a presence byte, then the bytes | a presence byte, then the bytes |
//! | `Option<&[u8]>` | a presence byte, then the bytes, lent to the plugin | refused (see below) |
//! | `Vec<Vec<u8>>` | the count, then each buffer with its length | the same |
//! | `Duration` | seconds and nanoseconds (12 bytes) | the same |
//! | `SystemTime` | seconds from `UNIX_EPOCH`, negative before it, and nanoseconds (12 bytes) | the same |
//! | `&T` for any of the raw forms above, e.g. `&Duration` | as `T` | refused (see below) |
//! | any other `T` or `&T` with serde's `Serialize` and `DeserializeOwned` | MessagePack | MessagePack |
//!
//! The byte buffers and times cross in the raw forms of [`crossing::RawForm`], never as one
//! MessagePack integer per byte. They are recognised by these spellings only: `Vec<u8>` (also
//! `std::vec::Vec<u8>`); `Bytes`, `bytes::Bytes`, `::bytes::Bytes` or a path ending in
//! `crossing::Bytes` ([`crossing::Bytes`] re-exports `bytes::Bytes`); `Option<…>` and `Vec<…>` of
//! those shapes under any path (`std::option::Option<Vec<u8>>`); `Duration` or a path ending in
//! `time::Duration` (`std::time::Duration`, `core::time::Duration`); `SystemTime` or a path ending
//! in `time::SystemTime`. A type alias is not seen through: it crosses as MessagePack. A type of
//! your own named `Duration`, `SystemTime` or `Bytes` is taken for the standard one and refused
//! with a message saying so; import it under another name.
//!
//! Every result is copied into the caller's memory through a [`ffi::ByteSink`], a `Bytes` result
//! too: the plugin that made it may be unloaded while the caller still holds it. Inside a type that
//! crosses as MessagePack, fields are serde's business: a `Vec<u8>` field is an array of integers
//! unless it is marked `#[serde(with = "serde_bytes")]` (crate `serde_bytes`), which makes it one
//! byte string.
//!
//! Changing how a type crosses changes the interface fingerprint: a signature with a raw form reads
//! differently in the fingerprint from the same signature when that type crossed as MessagePack, so
//! a plugin built before is refused at load, not misread. (`Vec<u8>` results crossed as raw bytes
//! already, so interfaces without the other raw forms keep their fingerprints.)
//!
//! What cannot cross is refused at compile time, at the span of the type, with the rule and the way
//! out: "`T` cannot cross the plugin boundary because *reason*; *way out*". Refused are:
//! channels (any type named `Sender`, `Receiver`, `SyncSender`, `UnboundedSender`,
//! `UnboundedReceiver`, `WeakSender` or `WeakUnboundedSender`: std, tokio, crossbeam, flume);
//! references in results (`&T`, `&str`, `&[u8]`, also inside `Option<&str>`); `&mut T`;
//! `impl Trait`; `dyn Trait`, also in `Box`, `Arc` and `Rc`; closures and function pointers; raw
//! pointers; `async fn` and generic methods. A type without serde's traits is refused first with
//! "`T` cannot cross the plugin boundary because it does not implement serde's `Serialize` and
//! `DeserializeOwned`" ([`crossing::CrossesAsMessagePack`]), before serde's own errors.
//!
//! A panic in plugin code is caught inside the plugin and becomes [`CallError::Panicked`]: it never
//! unwinds into the host, which could not catch it (each `cdylib` has its own `std`).
//!
//! # Background work and time
//! A plugin needs no thread of its own for background work (expiry sweeps, timers, compaction):
//! implement [`Plugin::tick`]. The host ticks the current version on a thread of its own, as it
//! makes a call (never while an update holds the module paused; an update waits for a tick in
//! progress), and the tick returns when it wants the next one. After an update or a rollback the
//! new version is ticked right away. No thread of the plugin's own runs, so none keeps a released
//! library mapped (but a tick that touches a thread-local with a destructor keeps its library
//! mapped until the host's ticker thread ends: avoid them in `tick`). A plugin that still starts
//! threads parks them in [`Plugin::prepare`] and restarts them in [`Plugin::resume`]; a library
//! that stays mapped after it was released is reported by name by the host.
//!
//! Read time through [`clock`] ([`clock::now`], [`clock::unix_millis`], [`clock::monotonic`]): it
//! is the host's clock, which a test can make manual, pause and advance; the host schedules ticks
//! on the same clock. Without a host, it is the system's.

// Unsafe code lives in `ffi` alone, where every block says why it is sound.
#![deny(unsafe_code)]

pub mod clock;
pub mod codec;
pub mod compare;
pub mod crossing;
pub mod descriptor;
pub mod envelope;
pub mod error;
pub mod export;
#[allow(unsafe_code)]
pub mod ffi;
pub mod keyed;
pub mod log;
pub mod migrate;

pub use codec::{MapFrom, StateEncoder, StateMap};
pub use descriptor::{ABI_VERSION, DESCRIPTOR_SYMBOL, PluginDescriptor};
pub use ecdysis_plugin_api_macros::interface;
pub use envelope::{EnvelopeError, StateEnvelope};
pub use error::{CallError, PluginError};
pub use export::Plugin;
pub use ffi::{Implementation, Interface};
pub use keyed::{KeyedState, Migration};
pub use migrate::{Migrate, MigrationOptions, MigrationStep, Schema, assert_round_trip, round_trip};

/// What the generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::descriptor::{DescriptorHeader, MigrationEdge, migration_edges};
    pub use crate::envelope::fnv1a64;
    pub use crate::error::{CallError, ShimFailure};
    pub use crate::ffi::{
        self, Bound, EntryMigrations, EntryPoints, HookTable, Hooks, Implementation, Interface, KeyedEntryPoints, Method, MethodBody,
        OutputBytes, PluginDescriptor, RawSlice, RawStr, Signature,
    };
    pub use crate::migrate::{MigrationStep, decode, encode};
}
