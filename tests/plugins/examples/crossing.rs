//! A plugin that echoes every type that crosses the boundary in raw form (`Echo`), for the
//! integration test of how each type crosses.

#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime};

use ecdysis_plugin_api::crossing::Bytes;
use ecdysis_plugin_api::{Plugin, PluginError, Schema};

#[path = "crossing_interface/mod.rs"]
mod crossing_interface;
use crossing_interface::Echo;

/// The fixture keeps no state.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct EchoState {}

impl Schema for EchoState {
    const NAME: &'static str = "echo";
    const VERSION: u32 = 1;
}

/// Gives back what it is given.
pub struct Echoer;

impl Echo for Echoer {
    fn echo_bytes(&self, bytes: Bytes) -> Bytes {
        bytes
    }
    fn echo_vector(&self, bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }
    fn maybe(&self, value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        value
    }
    fn maybe_slice(&self, value: Option<&[u8]>) -> usize {
        value.map_or(usize::MAX, <[u8]>::len)
    }
    fn maybe_slice_copied(&self, value: Option<&[u8]>) -> Option<Vec<u8>> {
        value.map(<[u8]>::to_vec)
    }
    fn chunks(&self, chunks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        chunks
    }
    fn wait(&self, duration: Duration) -> Duration {
        duration
    }
    fn wait_borrowed(&self, duration: &Duration) -> Duration {
        *duration
    }
    fn at(&self, time: SystemTime) -> SystemTime {
        time
    }
    fn at_borrowed(&self, time: &SystemTime) -> SystemTime {
        *time
    }
}

impl Plugin for Echoer {
    type State = EchoState;
    fn create() -> Result<Self, PluginError> {
        Ok(Echoer)
    }
    fn export_state(&self) -> Result<EchoState, PluginError> {
        Ok(EchoState {})
    }
    fn from_state(_state: EchoState) -> Result<Self, PluginError> {
        Ok(Echoer)
    }
}

ecdysis_plugin_api::export_plugin! {
    module: "echo",
    version: "1.0.0",
    plugin: Echoer,
    interface: dyn Echo,
}
