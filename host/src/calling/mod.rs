//! Calling: a module's live instances and the path every call takes into the current one (in-flight
//! marks, admission, the swap of the current instance). Built on loading; knows nothing of how an
//! update decides what to swap in.

pub(crate) mod call_path;
#[allow(unsafe_code)]
pub(crate) mod instance;
pub(crate) mod module;
pub(crate) mod ticker;

pub use call_path::MAX_MODULES;
pub use module::Module;
pub use ticker::{TICK_RETRY_AFTER_FAILURE, TickStatus};
