//! [`Clock`]: the time a host hands to its plugins (wall-clock and monotonic), the system's or a
//! manual one that moves only when told, and on which the host schedules plugin ticks.

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

/// The clock a host hands to the plugins it loads, which read it through
/// `ecdysis_plugin_api::clock`, and on which it schedules their ticks. Cheap to clone; clones are
/// the same clock.
///
/// [`Clock::system`] (the default) reads the system's clocks. [`Clock::manual`] moves only when
/// told ([`Clock::advance`], [`Clock::set_wall`]), so that a test can pause time for plugin code
/// and advance it, as `tokio::time::pause` does for a program's own code: advancing wakes the
/// host's ticker, which runs the ticks that became due.
///
/// A host installs its clock into each library copy it loads, and every library copy belongs to
/// one host (each load makes a private copy), so several hosts in one process can each have a
/// clock of their own. A rehearsal process runs the candidate on the system clock: plugin code
/// that the rehearsal runs (initialisers, the transform, the export back) must not depend on a
/// manual clock's time.
#[derive(Clone)]
pub struct Clock {
    shared: Arc<ClockShared>,
}

/// What every clone of a [`Clock`] shares; the context a plugin's reads are given.
pub(crate) struct ClockShared {
    time: Time,
    /// The signals to raise when a manual clock moves.
    watchers: Mutex<Vec<Weak<Signal>>>,
}

enum Time {
    System {
        /// Monotonic time counts from here.
        origin: Instant,
    },
    Manual {
        /// Nanoseconds advanced since the clock was made: the monotonic reading.
        elapsed_nanos: AtomicU64,
        /// The wall time, in signed nanoseconds since the Unix epoch, at monotonic zero.
        wall_at_origin_nanos: AtomicI64,
    },
}

impl Clock {
    /// The system's clocks: `SystemTime::now` for wall-clock time, and a monotonic clock counting
    /// from the moment this was made.
    #[must_use]
    pub fn system() -> Clock {
        Clock::with(Time::System { origin: Instant::now() })
    }

    /// A manual clock whose wall-clock time starts at `start` and whose monotonic time starts at
    /// zero. Neither moves until [`Clock::advance`] moves both.
    #[must_use]
    pub fn manual(start: SystemTime) -> Clock {
        Clock::with(Time::Manual { elapsed_nanos: AtomicU64::new(0), wall_at_origin_nanos: AtomicI64::new(unix_nanos(start)) })
    }

    fn with(time: Time) -> Clock {
        Clock { shared: Arc::new(ClockShared { time, watchers: Mutex::new(Vec::new()) }) }
    }

    /// Whether this is a manual clock.
    #[must_use]
    pub fn is_manual(&self) -> bool {
        matches!(self.shared.time, Time::Manual { .. })
    }

    /// Moves a manual clock's wall-clock and monotonic time forward by `by` together, and wakes the
    /// hosts that use it, which then run the plugin ticks that became due.
    ///
    /// # Panics
    /// When the clock is not manual: the system's time cannot be moved.
    pub fn advance(&self, by: Duration) {
        let Time::Manual { elapsed_nanos, .. } = &self.shared.time else { panic!("only a manual clock can be advanced") };
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = elapsed_nanos.fetch_update(Ordering::AcqRel, Ordering::Acquire, |elapsed| Some(elapsed.saturating_add(by)));
        self.shared.raise_watchers();
    }

    /// Sets a manual clock's wall-clock time to `wall`, forwards or backwards, as an operator
    /// setting the system's time would; monotonic time does not move.
    ///
    /// # Panics
    /// When the clock is not manual.
    pub fn set_wall(&self, wall: SystemTime) {
        let Time::Manual { elapsed_nanos, wall_at_origin_nanos } = &self.shared.time else { panic!("only a manual clock can be set") };
        let elapsed = i64::try_from(elapsed_nanos.load(Ordering::Acquire)).unwrap_or(i64::MAX);
        wall_at_origin_nanos.store(unix_nanos(wall).saturating_sub(elapsed), Ordering::Release);
        self.shared.raise_watchers();
    }

    /// Wall-clock time.
    #[must_use]
    pub fn now(&self) -> SystemTime {
        let nanos = self.shared.wall_unix_nanos();
        let magnitude = Duration::from_nanos(nanos.unsigned_abs());
        if nanos >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
    }

    /// Monotonic time since this clock was made.
    #[must_use]
    pub fn monotonic(&self) -> Duration {
        Duration::from_nanos(self.shared.monotonic_nanos())
    }

    /// The shared clock, as the context of a plugin's reads: valid while any clone lives.
    pub(crate) fn context(&self) -> *const c_void {
        Arc::as_ptr(&self.shared).cast()
    }

    /// Raises `signal` whenever this clock moves, for as long as `signal` lives.
    pub(crate) fn watch(&self, signal: &Arc<Signal>) {
        let mut watchers = self.shared.watchers.lock();
        watchers.retain(|watcher| watcher.strong_count() > 0);
        watchers.push(Arc::downgrade(signal));
    }

    /// How long in real time until monotonic time `due` (zero if it has come), or `None` when
    /// only [`Clock::advance`] can bring it (a manual clock).
    pub(crate) fn real_time_until(&self, due: Duration) -> Option<Duration> {
        let now = self.monotonic();
        if due <= now {
            return Some(Duration::ZERO);
        }
        match self.shared.time {
            Time::System { .. } => Some(due - now),
            Time::Manual { .. } => None,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Clock")
            .field("manual", &self.is_manual())
            .field("now", &self.now())
            .field("monotonic", &self.monotonic())
            .finish()
    }
}

impl ClockShared {
    /// Wall-clock time in signed nanoseconds since the Unix epoch.
    pub(crate) fn wall_unix_nanos(&self) -> i64 {
        match &self.time {
            Time::System { .. } => unix_nanos(SystemTime::now()),
            Time::Manual { elapsed_nanos, wall_at_origin_nanos } => {
                let elapsed = i64::try_from(elapsed_nanos.load(Ordering::Acquire)).unwrap_or(i64::MAX);
                wall_at_origin_nanos.load(Ordering::Acquire).saturating_add(elapsed)
            }
        }
    }

    /// Monotonic time in nanoseconds since the clock was made.
    pub(crate) fn monotonic_nanos(&self) -> u64 {
        match &self.time {
            Time::System { origin } => u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Time::Manual { elapsed_nanos, .. } => elapsed_nanos.load(Ordering::Acquire),
        }
    }

    fn raise_watchers(&self) {
        let watchers: Vec<Arc<Signal>> = self.watchers.lock().iter().filter_map(Weak::upgrade).collect();
        for watcher in watchers {
            watcher.raise();
        }
    }
}

/// `time` in signed nanoseconds since the Unix epoch, saturated to what 64 bits hold.
fn unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |nanos| -nanos),
    }
}

/// A flag a thread waits on and others raise: a raise that comes before the wait is not lost.
#[derive(Default)]
pub(crate) struct Signal {
    raised: Mutex<bool>,
    condvar: Condvar,
}

impl Signal {
    /// Raises the flag and wakes the waiter.
    pub(crate) fn raise(&self) {
        *self.raised.lock() = true;
        self.condvar.notify_all();
    }

    /// Waits until the flag is raised, at most `timeout` (forever for `None`), and lowers it.
    pub(crate) fn wait(&self, timeout: Option<Duration>) {
        let mut raised = self.raised.lock();
        if !*raised {
            match timeout {
                Some(timeout) => {
                    let _ = self.condvar.wait_for(&mut raised, timeout);
                }
                None => self.condvar.wait(&mut raised),
            }
        }
        *raised = false;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::Clock;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_both_readings_together() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::manual(start);
        let copy = clock.clone();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!((clock.now(), clock.monotonic()), (start, Duration::ZERO), "real time does not move it");
        copy.advance(Duration::from_millis(1500));
        assert_eq!((clock.now(), clock.monotonic()), (start + Duration::from_millis(1500), Duration::from_millis(1500)));
        clock.set_wall(start - Duration::from_secs(10));
        assert_eq!((clock.now(), clock.monotonic()), (start - Duration::from_secs(10), Duration::from_millis(1500)), "monotonic stays");
        clock.advance(Duration::from_secs(1));
        assert_eq!((clock.now(), clock.monotonic()), (start - Duration::from_secs(9), Duration::from_millis(2500)));
        assert_eq!(clock.real_time_until(Duration::from_secs(3)), None, "a manual clock's future comes only when advanced");
        assert_eq!(clock.real_time_until(Duration::from_secs(2)), Some(Duration::ZERO));
    }

    #[test]
    fn the_system_clock_reads_the_systems_time() {
        let clock = Clock::system();
        let (before, read, after) = (SystemTime::now(), clock.now(), SystemTime::now());
        assert!(before <= read && read <= after);
        let first = clock.monotonic();
        assert!(clock.monotonic() >= first);
        assert!(clock.real_time_until(first + Duration::from_secs(3600)).is_some_and(|wait| wait <= Duration::from_secs(3600)));
        let before_epoch = Clock::manual(UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(before_epoch.now(), UNIX_EPOCH - Duration::from_secs(5));
    }
}
