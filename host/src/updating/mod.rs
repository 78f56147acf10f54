//! Updating: the transaction that moves a module from one version to another (stage, quiesce,
//! export, transform, validate, swap), the round-trip comparison, the history of what happened, and
//! the snapshots of module state that a warm restart comes back from.
//! Built on calling and loading; knows nothing of the host's registry or of operator surfaces.

pub(crate) mod hook_threads;
pub(crate) mod journal;
pub(crate) mod lazy;
pub mod rehearsal;
pub(crate) mod snapshot;
pub(crate) mod transaction;
mod validate;

pub use journal::HISTORY_CAPACITY;
pub use snapshot::KEPT_PER_MODULE;
pub use transaction::UpdateOptions;
