//! Modules: the registry entry of one loaded module ([`ModuleCell`]) with its current and previous
//! versions, and the typed handle ([`Module`]) through which a program calls it, on a thread
//! ([`Module::call`]) or in a task ([`Module::call_async`], whose future is [`AsyncCall`]).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::Interface;
use parking_lot::Mutex;

use crate::calling::call_path::{Admission, AsyncWaiter, CallSlot, InFlight, thread_slot};
use crate::calling::instance::{CurrentInstance, EntrySource, Instance};
use crate::loading::PluginInfo;

/// The versions of a module the host holds. Generic over the version type only so that its
/// bookkeeping can be tested without libraries.
pub(crate) struct Versions<V = Arc<Instance>> {
    /// The version calls go to.
    pub(crate) current: V,
    /// The version that ran before the last update: kept loaded (not called) until `commit`, the
    /// end of its probation or the next update releases it.
    pub(crate) previous: Option<V>,
    /// When the previous version's probation ends and it is released, if it is still loaded.
    pub(crate) probation_ends: Option<Instant>,
    /// How many updates (and rollbacks) this module went through.
    pub(crate) updates: u64,
    /// Why the last probation failed, when the module was rolled back for it.
    pub(crate) probation_failure: Option<String>,
}

impl<V> Versions<V> {
    fn new(current: V) -> Versions<V> {
        Versions { current, previous: None, probation_ends: None, updates: 0, probation_failure: None }
    }

    /// Makes `next` current. With `probation`, the current version becomes the previous one for
    /// that long; without, it is released too (a rollback). Returns the versions released.
    fn publish(&mut self, next: V, probation: Option<Duration>) -> Vec<V> {
        let old = std::mem::replace(&mut self.current, next);
        self.updates += 1;
        let mut released: Vec<V> = self.previous.take().into_iter().collect();
        match probation {
            Some(probation) => {
                self.previous = Some(old);
                self.probation_ends = Some(Instant::now() + probation);
            }
            None => {
                released.push(old);
                self.probation_ends = None;
            }
        }
        released
    }

    /// Ends probation now: releases the previous version, if any.
    fn end_probation(&mut self) -> Option<V> {
        self.probation_ends = None;
        self.previous.take()
    }

    /// Whether a previous version's probation has ended by `now`.
    fn probation_expired(&self, now: Instant) -> bool {
        self.previous.is_some() && self.probation_ends.is_some_and(|ends| ends <= now)
    }

    /// Releases the previous version if its probation has ended by `now`. Decides on what it sees
    /// now, so an update that published a fresh probation since the caller last looked keeps it.
    fn release_if_expired(&mut self, now: Instant) -> Option<V> {
        if self.probation_expired(now) { self.end_probation() } else { None }
    }
}

/// A lazy migration of a module's state into its current version, under way: the previous
/// version (also `Versions::previous`) keeps the entries not moved yet.
pub(crate) struct MigrationUnderWay {
    /// The previous version's entries, as the current version reaches them.
    pub(crate) source: Arc<EntrySource>,
    /// The version the entries move into.
    pub(crate) successor: Arc<Instance>,
    /// When the swap happened.
    pub(crate) started: Instant,
}

/// One loaded module.
pub(crate) struct ModuleCell {
    pub(crate) name: String,
    pub(crate) admission: Admission,
    /// The instance of `versions.current`, read by the call path without touching the Arc.
    current: CurrentInstance,
    pub(crate) versions: Mutex<Versions>,
    /// Held for the whole of an update, so updates of one module run one at a time.
    pub(crate) transaction: Mutex<()>,
    /// The lazy migration into the current version, while one is under way. Changed only by a
    /// holder of `transaction`.
    pub(crate) migration: Mutex<Option<Arc<MigrationUnderWay>>>,
}

impl ModuleCell {
    pub(crate) fn new(name: String, admission: Admission, instance: Arc<Instance>) -> ModuleCell {
        ModuleCell {
            name,
            admission,
            current: CurrentInstance::new(&instance),
            versions: Mutex::new(Versions::new(instance)),
            transaction: Mutex::new(()),
            migration: Mutex::new(None),
        }
    }

    /// The current version.
    pub(crate) fn current(&self) -> Arc<Instance> {
        Arc::clone(&self.versions.lock().current)
    }

    /// Makes `next` the current version. With `probation`, the current version becomes the
    /// previous one for that long; without, it is released too (a rollback). Returns the versions
    /// released, to be dropped once admission is open again.
    ///
    /// Call only while admission is closed and drained: then no call holds a pointer to any version.
    pub(crate) fn publish(&self, next: Arc<Instance>, probation: Option<Duration>) -> Vec<Arc<Instance>> {
        let mut versions = self.versions.lock();
        self.current.publish(&next);
        versions.publish(next, probation)
    }

    /// Makes the previous version current again, as it is (a rollback during a lazy migration,
    /// which moved the entries back into it); returns the version rolled back from, to be dropped
    /// once admission is open again. `None` when there is no previous version.
    ///
    /// Call only while admission is closed and drained.
    pub(crate) fn reinstate_previous(&self) -> Option<Arc<Instance>> {
        let mut versions = self.versions.lock();
        let previous = versions.previous.take()?;
        self.current.publish(&previous);
        versions.probation_ends = None;
        versions.updates += 1;
        Some(std::mem::replace(&mut versions.current, previous))
    }

    /// The lazy migration under way, if any.
    pub(crate) fn migration(&self) -> Option<Arc<MigrationUnderWay>> {
        self.migration.lock().clone()
    }

    /// Ends probation: releases the previous version, if any. The caller holds `transaction`.
    pub(crate) fn end_probation(&self) -> Option<Arc<Instance>> {
        self.versions.lock().end_probation()
    }

    /// Whether the previous version's probation has ended by `now`.
    pub(crate) fn probation_expired(&self, now: Instant) -> bool {
        self.versions.lock().probation_expired(now)
    }

    /// Releases the previous version if its probation has ended by `now`, judged under the lock.
    /// The caller holds `transaction`.
    pub(crate) fn release_if_expired(&self, now: Instant) -> Option<Arc<Instance>> {
        self.versions.lock().release_if_expired(now)
    }
}

/// A typed handle to a loaded module implementing interface `I` (e.g. `Module<dyn Counter>`).
///
/// Calls always go to the module's current version. Handles are cheap to clone and can be shared
/// between threads; an update swaps the version under every handle at once.
pub struct Module<I: Interface + ?Sized> {
    cell: Arc<ModuleCell>,
    _interface: PhantomData<fn() -> *const I>,
}

impl<I: Interface + ?Sized> Clone for Module<I> {
    fn clone(&self) -> Self {
        Module { cell: Arc::clone(&self.cell), _interface: PhantomData }
    }
}

impl<I: Interface + ?Sized> std::fmt::Debug for Module<I> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Module").field("name", &self.cell.name).field("interface", &I::ID).finish()
    }
}

impl<I: Interface + ?Sized> Module<I> {
    /// Wraps a cell whose versions implement `I` (checked by the caller).
    pub(crate) fn from_cell(cell: Arc<ModuleCell>) -> Module<I> {
        Module { cell, _interface: PhantomData }
    }

    /// The module's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.cell.name
    }

    /// What the current version's descriptor says.
    #[must_use]
    pub fn info(&self) -> PluginInfo {
        self.cell.current().info().clone()
    }

    /// Calls the module: runs `calls` with a proxy to its current version, through which every
    /// method call goes to that version: `module.call(|counter| counter.increment("a", 1))`.
    ///
    /// While an update is swapping versions this waits (bounded by the update's deadlines); while
    /// `calls` runs, no update of this module can pass quiescence, so keep it short. The proxy
    /// cannot leave the closure, so no call can outlive the version it reached, and calls into
    /// several modules nest only as closures do, each ending before the one around it.
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // The proxy is borrowed for the call only; keeping it does not compile.
    /// let kept = counter.call(|proxy| proxy);
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // Nor does moving it out through a variable the closure captures.
    /// let mut kept = None;
    /// counter.call(|proxy| kept = Some(proxy));
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // Nor holding it across an `.await`: the future would outlive the call.
    /// let later = counter.call(|proxy| async move { proxy.value() });
    /// # }
    /// ```
    ///
    /// ```
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # fn keep(counter: &ecdysis_host::Module<dyn Counter>) -> Result<u64, ecdysis_host::CallError> {
    /// // What a call returns is the caller's: a value, copied out of the plugin.
    /// let value = counter.call(|proxy| proxy.value())?;
    /// # Ok(value) }
    /// ```
    #[inline]
    pub fn call<R>(&self, calls: impl FnOnce(&I::Proxy<'_>) -> R) -> R {
        let Some(slot) = thread_slot() else { return self.call_in_leased_slot(calls) };
        let cell = &*self.cell;
        let in_flight = cell.admission.enter(slot);
        cell.current.call::<I, R>(&in_flight, calls)
    }

    /// [`Module::call`] from a thread-local's destructor that runs after this thread's slot was
    /// given back: the call marks a slot leased for it alone.
    #[cold]
    #[inline(never)]
    fn call_in_leased_slot<R>(&self, calls: impl FnOnce(&I::Proxy<'_>) -> R) -> R {
        let lease = CallSlot::lease();
        let in_flight = self.cell.admission.enter(lease.slot());
        self.cell.current.call::<I, R>(&in_flight, calls)
    }

    /// Calls the module from an asynchronous task: [`Module::call`] that waits for an update's pause
    /// without blocking the thread. `module.call_async(|counter| counter.increment("a", 1)).await`.
    ///
    /// The future does nothing until polled. While the module admits calls, its first poll makes
    /// the call at once, as [`Module::call`] would, at about the same cost: it allocates nothing and
    /// registers nothing. While an update holds the module paused, the poll registers the task's
    /// waker with the module and returns [`Poll::Pending`]; the end of the pause (the swap, or the
    /// update's failure) wakes it, and the call is made at its next poll, on the version then
    /// current. The thread meanwhile runs other tasks. No executor is assumed: it works on any
    /// runtime (tokio's multi-thread and current-thread runtimes alike) and with none, as a
    /// thread would, through `block_on`.
    ///
    /// `calls` runs synchronously within one poll, and no update can pass quiescence while it runs,
    /// so keep it short. The call is made within that poll and never spans two: the proxy cannot leave
    /// the closure, so no call can be held open across an `.await`, and none can outlive the version
    /// it reached. Dropping the future before the call was made (a timeout, a `select!`, a
    /// disconnected client) withdraws it: nothing was called, and the calls that still wait are woken
    /// as before. A call from inside another call of the same module on the same thread (a
    /// `block_on` inside [`Module::call`]'s closure) does not wait, as with [`Module::call`].
    ///
    /// The future is `Send` when `calls` is (what it returns is made within the poll, so it need
    /// not be), and it borrows the handle: clone the handle into the task to spawn it.
    ///
    /// # Panics
    /// When polled again after it completed (a future must not be), or when `calls` panics (the
    /// panic unwinds out of the poll; a panic inside the plugin does not: it is a
    /// [`CallError::Panicked`](crate::CallError::Panicked) returned by the method).
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # async fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // The proxy is borrowed for the call only; keeping it past the `.await` does not compile.
    /// let kept = counter.call_async(|proxy| proxy).await;
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # async fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // Nor returning a future that holds it: the call would stay open across the `.await`.
    /// let later = counter.call_async(|proxy| async move { proxy.value() }).await;
    /// let value = later.await;
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # async fn keep(counter: &ecdysis_host::Module<dyn Counter>, other: impl std::future::Future<Output = ()>) {
    /// // Nor awaiting inside the call: the closure is not async, so the call is one poll long.
    /// let value = counter.call_async(|proxy| { other.await; proxy.value() }).await;
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # async fn keep(counter: &ecdysis_host::Module<dyn Counter>) {
    /// // Nor moving it out through a variable the closure captures.
    /// let mut kept = None;
    /// counter.call_async(|proxy| kept = Some(proxy)).await;
    /// # }
    /// ```
    ///
    /// ```
    /// # #[ecdysis_plugin_api::interface] pub trait Counter { fn value(&self) -> u64; }
    /// # async fn keep(counter: &ecdysis_host::Module<dyn Counter>) -> Result<u64, ecdysis_host::CallError> {
    /// // What a call returns is the caller's: a value, copied out of the plugin.
    /// let value = counter.call_async(|proxy| proxy.value()).await?;
    /// # Ok(value) }
    /// # fn spawnable(counter: ecdysis_host::Module<dyn Counter>) -> impl std::future::Future<Output = ()> + Send + 'static {
    /// // A task that owns its handle can be spawned on a multi-thread runtime.
    /// async move { let _ = counter.call_async(|proxy| proxy.value()).await; }
    /// # }
    /// ```
    #[inline]
    #[must_use = "the call is made only when the future is awaited"]
    pub fn call_async<R>(&self, calls: impl FnOnce(&I::Proxy<'_>) -> R) -> impl Future<Output = R> {
        AsyncCall { module: self, calls: Some(calls), waiter: None }
    }
}

/// The future of [`Module::call_async`]: the call not made yet, and its place among the calls that
/// wait for the module to reopen, if it waits.
struct AsyncCall<'module, I: Interface + ?Sized, F> {
    module: &'module Module<I>,
    /// The calls to make; taken when they are made.
    calls: Option<F>,
    /// Where the call waits, while an update holds the module paused.
    waiter: Option<AsyncWaiter>,
}

// The closure is never pinned: it is moved out and called within one poll.
impl<I: Interface + ?Sized, F> Unpin for AsyncCall<'_, I, F> {}

impl<I: Interface + ?Sized, R, F: FnOnce(&I::Proxy<'_>) -> R> Future for AsyncCall<'_, I, F> {
    type Output = R;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        // The fast path, as `Module::call`'s: this thread's slot, the module open, the call made.
        if this.waiter.is_none()
            && let Some(slot) = thread_slot()
            && let Some(in_flight) = this.module.cell.admission.try_enter(slot)
        {
            return Poll::Ready(this.call(&in_flight));
        }
        this.poll_slowly(context)
    }
}

impl<I: Interface + ?Sized, R, F: FnOnce(&I::Proxy<'_>) -> R> AsyncCall<'_, I, F> {
    /// Makes the call, this thread's mark `in_flight` held.
    #[inline(always)]
    fn call(&mut self, in_flight: &InFlight<'_>) -> R {
        let Some(calls) = self.calls.take() else { polled_after_completion() };
        self.module.cell.current.call::<I, R>(in_flight, calls)
    }

    /// The rest of a poll when the fast path did not call: the module is paused, this call waited
    /// already, or this thread's slot is gone (a poll from a thread-local's destructor, which
    /// leases a slot for this poll alone). Registers the task's waker while the module is paused.
    #[cold]
    #[inline(never)]
    fn poll_slowly(&mut self, context: &mut Context<'_>) -> Poll<R> {
        let lease;
        let slot = match thread_slot() {
            Some(slot) => slot,
            None => {
                lease = CallSlot::lease();
                lease.slot()
            }
        };
        let admission = &self.module.cell.admission;
        loop {
            if let Some(in_flight) = admission.try_enter(slot) {
                let result = self.call(&in_flight);
                drop(in_flight);
                // After the call, so that the call is not held up by the admission's lock.
                self.withdraw();
                return Poll::Ready(result);
            }
            if admission.wait_for_reopening(&mut self.waiter, context.waker()) {
                return Poll::Pending;
            }
        }
    }
}

/// What polling a completed [`AsyncCall`] does.
#[cold]
#[inline(never)]
fn polled_after_completion() -> ! {
    panic!("an asynchronous call was polled after it completed")
}

impl<I: Interface + ?Sized, F> AsyncCall<'_, I, F> {
    /// Gives up the call's place among the waiters, if it has one.
    #[inline]
    fn withdraw(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.module.cell.admission.withdraw(waiter);
        }
    }
}

impl<I: Interface + ?Sized, F> Drop for AsyncCall<'_, I, F> {
    #[inline]
    fn drop(&mut self) {
        self.withdraw();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::Versions;

    /// The probation keeper sees an expired probation, and before it takes the transaction lock an
    /// update publishes a fresh one: the keeper must leave the fresh one alone.
    #[test]
    fn an_update_between_the_keepers_look_and_its_lock_keeps_its_probation() {
        let mut versions = Versions::new("v1");
        versions.publish("v2", Some(Duration::ZERO));
        let now = Instant::now();
        assert!(versions.probation_expired(now), "v1's probation has ended");
        // An update slips in: v2 becomes the previous version, on a fresh probation.
        let released = versions.publish("v3", Some(Duration::from_secs(300)));
        assert_eq!(released, ["v1"]);
        // The keeper goes on, with what it saw before.
        assert_eq!(versions.release_if_expired(now), None, "the fresh probation of v2 must not be cut short");
        assert_eq!(versions.previous, Some("v2"));
        assert_eq!(versions.release_if_expired(now + Duration::from_secs(301)), Some("v2"), "it ends when its time is up");
    }

    #[test]
    fn a_rollback_releases_both_versions_and_ends_probation() {
        let mut versions = Versions::new("v1");
        versions.publish("v2", Some(Duration::from_secs(300)));
        assert_eq!(versions.publish("v1'", None), ["v1", "v2"]);
        assert_eq!((versions.previous, versions.probation_ends, versions.updates), (None, None, 2));
    }
}
