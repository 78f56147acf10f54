//! The host's clock as plugin code reads it: wall-clock time ([`now`], [`unix_millis`]) and
//! monotonic time ([`monotonic`]).
//!
//! The host installs its clock into each library it loads (the `install_clock` hook), so that a
//! plugin sees the time its host decides: the system's, or a manual clock a test pauses and
//! advances (`ecdysis_host::Clock::manual`). Read time through these functions rather than
//! `SystemTime::now` and `Instant::now` in code whose behaviour depends on it (expiry, timers,
//! schedules). Without a host (a plugin's own unit tests, or a host built before clocks were) they
//! read the system's clocks.
//!
//! Each reading is one atomic load of the installed clock and one call of a host function.
//!
//! Monotonic time counts from an origin the host fixes when its clock is made, so use only
//! differences between readings of one process. It is not state: a value kept in a plugin's
//! state means nothing to another process (a warm restart, a rehearsal), so keep deadlines that
//! are state in wall-clock time.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::ffi::{host_monotonic_nanos, host_wall_unix_nanos};

/// Wall-clock time: the host's, or the system's without a host.
#[must_use]
pub fn now() -> SystemTime {
    match host_wall_unix_nanos() {
        Some(nanos) => system_time_from_unix_nanos(nanos),
        None => SystemTime::now(),
    }
}

/// Wall-clock time in whole milliseconds since the Unix epoch (0 before it).
#[must_use]
pub fn unix_millis() -> u64 {
    now().duration_since(UNIX_EPOCH).map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// Monotonic time since an origin the host fixed (without a host, the first reading in this
/// library): it never goes back, and with a manual host clock it moves only when the host's
/// clock is advanced. Use differences between readings.
#[must_use]
pub fn monotonic() -> Duration {
    match host_monotonic_nanos() {
        Some(nanos) => Duration::from_nanos(nanos),
        None => {
            static ORIGIN: OnceLock<Instant> = OnceLock::new();
            ORIGIN.get_or_init(Instant::now).elapsed()
        }
    }
}

/// The time `nanos` signed nanoseconds from the Unix epoch.
pub(crate) fn system_time_from_unix_nanos(nanos: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}
