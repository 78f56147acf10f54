//! Log forwarding from a plugin to its host.
//!
//! A plugin has its own copy of every static, so a `tracing` subscriber installed by the host is
//! invisible to it, and `tracing`'s thread-local dispatcher state would keep the library mapped after
//! `dlclose`. Instead the host passes a callback at load, and these macros format a message and hand
//! it over; the host turns it into a `tracing` event.

use std::fmt;
use std::sync::OnceLock;

pub use crate::ffi::LogCallback;

/// A log level, as passed through [`LogCallback`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something looks wrong.
    Warn = 2,
    /// Something worth knowing happened.
    Info = 3,
    /// Detail for debugging.
    Debug = 4,
    /// Very fine detail.
    Trace = 5,
}

static LOGGER: OnceLock<LogCallback> = OnceLock::new();

/// Remembers the host's callback, and routes this library's panic messages to it instead of the
/// plugin's own stderr printer. Called once by the descriptor's `install_logger` entry point.
///
/// The panic hook belongs to this library's copy of `std`, so it affects only this plugin. Panics
/// are still caught at the boundary and returned as errors; the hook only decides where the message
/// is logged. The closure captures nothing, so installing it allocates nothing that could outlive
/// the library.
pub(crate) fn install(logger: LogCallback) {
    if LOGGER.set(logger).is_ok() && !std::thread::panicking() {
        std::panic::set_hook(Box::new(|info| log(Level::Error, format_args!("plugin {info}"))));
    }
}

/// Sends a message to the host's log, if the host installed a callback. Use the [`crate::info!`]
/// family of macros instead of calling this directly.
pub fn log(level: Level, arguments: fmt::Arguments<'_>) {
    if let Some(logger) = LOGGER.get() {
        crate::ffi::forward_log(*logger, level as u32, &arguments.to_string());
    }
}

/// Logs at error level through the host.
#[macro_export]
macro_rules! error {
    ($($argument:tt)*) => { $crate::log::log($crate::log::Level::Error, format_args!($($argument)*)) };
}
/// Logs at warn level through the host.
#[macro_export]
macro_rules! warn {
    ($($argument:tt)*) => { $crate::log::log($crate::log::Level::Warn, format_args!($($argument)*)) };
}
/// Logs at info level through the host.
#[macro_export]
macro_rules! info {
    ($($argument:tt)*) => { $crate::log::log($crate::log::Level::Info, format_args!($($argument)*)) };
}
/// Logs at debug level through the host.
#[macro_export]
macro_rules! debug {
    ($($argument:tt)*) => { $crate::log::log($crate::log::Level::Debug, format_args!($($argument)*)) };
}
