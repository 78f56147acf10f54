//! The ticker: the thread ("ecdysis-ticks", one per host) that drives the `tick` hook of each
//! module's current version, on the host's [`Clock`].
//!
//! A tick is made as a call is: it enters the module's admission, so an update's drain waits for a
//! tick in progress, and it is made only while no transaction holds the module (the ticker takes
//! the module's transaction lock without waiting, marks itself in flight, and lets the lock go
//! before it ticks). So no tick runs while an update holds the module paused, and the ticker never
//! waits on a closed gate: a module in a transaction is skipped and tried again shortly. Every
//! new current version (the first load, each update and rollback; told apart by the module's count
//! of updates) is ticked right away to learn its schedule, and then whenever the time it asked for
//! has come on the host's clock; a manual clock wakes the ticker when it is advanced. Between ticks
//! the ticker holds no reference to any version, or even to a module, so it keeps no library
//! loaded; it stops when its host is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ecdysis_plugin_api::CallError;
use ecdysis_protocol::ErrorChain;
use parking_lot::Mutex;

use crate::calling::call_path::{CallSlot, Slot};
use crate::calling::module::ModuleCell;
use crate::clock::{Clock, Signal};

/// When a module in a transaction is tried again, in real time.
const BUSY_RETRY: Duration = Duration::from_millis(10);

/// When a tick that failed or panicked is followed by the next, on the host's clock.
pub const TICK_RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What the ticker did for one module, from [`Host::tick_status`](crate::Host::tick_status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickStatus {
    /// Ticks made into the module's versions since it was loaded, failed ones included.
    pub ticks: u64,
    /// How many of them failed or panicked.
    pub failed: u64,
    /// Whether the current version was ticked yet (every new version is, right away).
    pub current_version_ticked: bool,
    /// How long until the current version's next tick, on the host's clock: `None` when it wants
    /// no more ticks or was not ticked yet.
    pub next_tick_in: Option<Duration>,
}

/// A host's ticker. Dropping it stops the thread.
pub(crate) struct Ticker {
    shared: Arc<TickerShared>,
}

struct TickerShared {
    clock: Clock,
    /// Raised by the clock when it moves, by [`Ticker::wake`] and by the drop of the ticker.
    signal: Arc<Signal>,
    state: Mutex<TickerState>,
}

#[derive(Default)]
struct TickerState {
    modules: BTreeMap<String, Ticked>,
    stopped: bool,
}

/// The ticker's record of one module.
struct Ticked {
    cell: Weak<ModuleCell>,
    /// The module's count of updates when its current version was last ticked: a different count
    /// means a new version, to be ticked right away.
    ticked_generation: Option<u64>,
    /// When the current version wants its next tick, in monotonic time of the host's clock.
    next_due: Option<Duration>,
    ticks: u64,
    failed: u64,
}

impl Ticker {
    /// Starts the ticker of a host whose clock is `clock`.
    pub(crate) fn start(clock: Clock) -> Ticker {
        let signal = Arc::new(Signal::default());
        clock.watch(&signal);
        let shared = Arc::new(TickerShared { clock, signal, state: Mutex::new(TickerState::default()) });
        let running = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name("ecdysis-ticks".into()).spawn(move || running.run());
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the ticker thread; plugins' tick hooks will not run");
        }
        Ticker { shared }
    }

    /// Ticks `cell`'s versions from now on, starting right away.
    pub(crate) fn watch(&self, cell: &Arc<ModuleCell>) {
        let ticked = Ticked { cell: Arc::downgrade(cell), ticked_generation: None, next_due: None, ticks: 0, failed: 0 };
        self.shared.state.lock().modules.insert(cell.name.clone(), ticked);
        self.shared.signal.raise();
    }

    /// Looks again at every module now: after a transaction, which may have made a new version
    /// current, to be ticked right away.
    pub(crate) fn wake(&self) {
        self.shared.signal.raise();
    }

    /// What the ticker did for `module`, if it ticks it.
    pub(crate) fn status(&self, module: &str) -> Option<TickStatus> {
        let state = self.shared.state.lock();
        let ticked = state.modules.get(module)?;
        let generation = ticked.cell.upgrade().map(|cell| cell.versions.lock().updates);
        let current_version_ticked = generation.is_some() && ticked.ticked_generation == generation;
        let now = self.shared.clock.monotonic();
        Some(TickStatus {
            ticks: ticked.ticks,
            failed: ticked.failed,
            current_version_ticked,
            next_tick_in: ticked.next_due.filter(|_| current_version_ticked).map(|due| due.saturating_sub(now)),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.state.lock().stopped = true;
        self.shared.signal.raise();
    }
}

impl TickerShared {
    /// The ticker thread: ticks what is due, then waits for the next tick to come due, the clock
    /// to move, or a wake.
    fn run(&self) {
        // A slot of its own for the thread's life, which this thread's ticks mark.
        let lease = CallSlot::lease();
        loop {
            let due = {
                let mut state = self.state.lock();
                if state.stopped {
                    return;
                }
                state.modules.retain(|_, ticked| ticked.cell.strong_count() > 0);
                let now = self.clock.monotonic();
                state
                    .modules
                    .values()
                    .filter_map(|ticked| {
                        let cell = ticked.cell.upgrade()?;
                        let generation = cell.versions.lock().updates;
                        let is_due = ticked.ticked_generation != Some(generation) || ticked.next_due.is_some_and(|due| due <= now);
                        is_due.then_some(cell)
                    })
                    .collect::<Vec<_>>()
            };
            let mut busy = false;
            for cell in due {
                match tick_once(&cell, lease.slot()) {
                    None => busy = true,
                    Some((generation, result)) => self.record(&cell.name, generation, result),
                }
            }
            let next_due = self.state.lock().modules.values().filter_map(|ticked| ticked.next_due).min();
            let mut timeout = next_due.and_then(|due| self.clock.real_time_until(due));
            if busy {
                timeout = Some(timeout.map_or(BUSY_RETRY, |timeout| timeout.min(BUSY_RETRY)));
            }
            self.signal.wait(timeout);
        }
    }

    /// Records the outcome of a tick of `module`'s version of generation `generation`.
    fn record(&self, module: &str, generation: u64, result: Result<Option<Duration>, CallError>) {
        let now = self.clock.monotonic();
        let mut state = self.state.lock();
        let Some(ticked) = state.modules.get_mut(module) else { return };
        ticked.ticked_generation = Some(generation);
        ticked.ticks += 1;
        ticked.next_due = match result {
            Ok(next) => next.map(|wait| now.saturating_add(wait)),
            Err(error) => {
                ticked.failed += 1;
                tracing::warn!(
                    module,
                    error = %ErrorChain(&error),
                    retry_in = ?TICK_RETRY_AFTER_FAILURE,
                    "a tick failed; the module keeps serving"
                );
                Some(now.saturating_add(TICK_RETRY_AFTER_FAILURE))
            }
        };
    }
}

/// Ticks `cell`'s current version, marked in flight in `slot`, unless a transaction holds the
/// module (then `None`: try again shortly). Returns the module's count of updates of the version
/// ticked, and what the tick answered.
fn tick_once(cell: &ModuleCell, slot: &Slot) -> Option<(u64, Result<Option<Duration>, CallError>)> {
    // No transaction can close admission while this is held, so entering does not wait.
    let no_transaction = cell.transaction.try_lock()?;
    let (instance, generation) = {
        let versions = cell.versions.lock();
        (Arc::clone(&versions.current), versions.updates)
    };
    let in_flight = cell.admission.enter(slot);
    drop(no_transaction);
    let span = tracing::debug_span!("ecdysis.tick", module = %cell.name, version = %instance.info().version);
    let result = span.in_scope(|| instance.tick());
    // The version is let go of before the mark: once an update's drain has seen the mark gone, the
    // ticker holds nothing of it.
    drop(instance);
    drop(in_flight);
    Some((generation, result))
}
