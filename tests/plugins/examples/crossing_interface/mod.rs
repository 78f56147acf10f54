//! The interface of the `crossing` fixture, one method per type that crosses the boundary in raw
//! form; the fixture and the integration test include this same file, so both sides agree on it.

// The full paths are spellings the macro must recognise, written out on purpose.
#![allow(unused_qualifications)]

use std::time::{Duration, SystemTime};

use ecdysis_plugin_api::crossing::Bytes;

/// Gives back what it was given, so that a test sees each type cross both ways.
#[ecdysis_plugin_api::interface]
pub trait Echo {
    /// `bytes` back.
    fn echo_bytes(&self, bytes: Bytes) -> Bytes;
    /// `bytes` back, as a `Vec<u8>` argument and result.
    fn echo_vector(&self, bytes: Vec<u8>) -> Vec<u8>;
    /// `value` back.
    fn maybe(&self, value: Option<Vec<u8>>) -> Option<Vec<u8>>;
    /// The length of `value`, or `usize::MAX` when it is `None`.
    fn maybe_slice(&self, value: Option<&[u8]>) -> usize;
    /// `value` as an `Option<Vec<u8>>`, so that a test can check what arrived.
    fn maybe_slice_copied(&self, value: Option<&[u8]>) -> Option<Vec<u8>>;
    /// `chunks` back.
    fn chunks(&self, chunks: Vec<Vec<u8>>) -> Vec<Vec<u8>>;
    /// `duration` back.
    fn wait(&self, duration: Duration) -> Duration;
    /// `duration` back, taken by reference.
    fn wait_borrowed(&self, duration: &std::time::Duration) -> core::time::Duration;
    /// `time` back.
    fn at(&self, time: SystemTime) -> SystemTime;
    /// `time` back, taken by reference.
    fn at_borrowed(&self, time: &std::time::SystemTime) -> std::time::SystemTime;
}
