//! Errors on both sides of the boundary: [`PluginError`] is what plugin code returns, [`CallError`]
//! is what a caller sees when a call into a plugin does not return normally.

use crate::ffi::{ByteSink, CallStatus};

/// An error returned by plugin code (a refused `prepare`, a failed migration, a failed export).
///
/// It is a message, because it has to cross the boundary as bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    message: String,
}

impl PluginError {
    /// An error with the given message. Messages are lowercase sentences without a final period.
    #[must_use]
    pub fn new(message: impl Into<String>) -> PluginError {
        PluginError { message: message.into() }
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for PluginError {
    fn from(message: String) -> Self {
        PluginError { message }
    }
}

impl From<&str> for PluginError {
    fn from(message: &str) -> Self {
        PluginError { message: message.to_owned() }
    }
}

/// Why a call into a plugin did not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The plugin code panicked. The panic was caught inside the plugin and did not unwind into the
    /// caller.
    #[error("plugin panicked: {message}")]
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The plugin code returned an error.
    #[error("{message}")]
    Failed {
        /// The plugin's message.
        message: String,
    },
    /// Arguments, a result or state bytes could not be encoded or decoded.
    #[error("could not decode or encode a value at the plugin boundary: {message}")]
    Codec {
        /// The codec's message.
        message: String,
    },
    /// The plugin returned a status this version of the API does not know.
    #[error("plugin returned unknown call status {status}")]
    UnknownStatus {
        /// The raw status.
        status: u32,
    },
}

impl CallError {
    /// Turns a call's status and the bytes of its error sink into a result.
    ///
    /// # Errors
    /// Every status but [`CallStatus::OK`] becomes the matching [`CallError`].
    #[inline]
    pub fn check(status: CallStatus, error_bytes: Vec<u8>) -> Result<(), CallError> {
        if status == CallStatus::OK {
            return Ok(());
        }
        CallError::from_failure(status, error_bytes)
    }

    #[cold]
    fn from_failure(status: CallStatus, error_bytes: Vec<u8>) -> Result<(), CallError> {
        let message = || String::from_utf8_lossy(&error_bytes).into_owned();
        match status {
            CallStatus::OK => Ok(()),
            CallStatus::PANICKED => Err(CallError::Panicked { message: message() }),
            CallStatus::FAILED => Err(CallError::Failed { message: message() }),
            CallStatus::DECODE_FAILED => Err(CallError::Codec { message: message() }),
            CallStatus(status) => Err(CallError::UnknownStatus { status }),
        }
    }
}

/// The failure of plugin code inside a shim, before it is turned into a status.
#[doc(hidden)]
pub enum ShimFailure {
    /// The plugin returned an error with this message.
    Failed(String),
    /// An argument could not be decoded or a result encoded.
    Codec(String),
}

impl From<PluginError> for ShimFailure {
    fn from(error: PluginError) -> Self {
        ShimFailure::Failed(error.message)
    }
}

/// The message of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Runs plugin code inside a shim: catches panics and errors and reports them through `error` as a
/// status. This is the only way plugin code is entered from an exported function.
#[doc(hidden)]
pub fn guard(mut error: ByteSink<'_>, body: impl FnOnce() -> Result<(), ShimFailure>) -> CallStatus {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => CallStatus::OK,
        Ok(Err(ShimFailure::Failed(message))) => {
            error.write(message.as_bytes());
            CallStatus::FAILED
        }
        Ok(Err(ShimFailure::Codec(message))) => {
            error.write(message.as_bytes());
            CallStatus::DECODE_FAILED
        }
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Dropping the payload could itself panic; forget it rather than risk unwinding out.
            std::mem::forget(payload);
            error.write(message.as_bytes());
            CallStatus::PANICKED
        }
    }
}
