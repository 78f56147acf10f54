//! Operating: the surfaces through which people and tools drive a running host: the control socket
//! and watch mode. Built on [`crate::Host`]; the host knows nothing of them.

pub mod control;
pub(crate) mod watch;
