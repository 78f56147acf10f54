//! The call path: per-thread in-flight slots and per-module admission.
//!
//! Every thread that calls into modules owns one cache-line-padded slot holding a bit per module it
//! is inside of. A call sets its module's bit (a store to the thread's own line), checks the module's
//! gate, and clears the bit when it returns. An update closes the gate, then waits until no slot
//! holds the module's bit. Either the call sees the gate closed and backs off, or the update sees
//! the call's bit and waits. The normal call path writes no cache line shared with another thread.
//!
//! The fence between a call's store to its slot and its load of the gate is *asymmetric*: calls
//! pay only a compiler fence, and the rare update pays a `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! system call, which makes every running thread of the process execute a full memory barrier (the
//! technique of liburcu and folly's `asymmetricHeavyBarrier`). A sequentially consistent store costs
//! about 6.5 ns on the machines this was measured on; the compiler fence costs nothing. Where the
//! kernel does not offer `membarrier` when the first module is made (before Linux 4.14, or filtered
//! by seccomp), both sides use sequentially consistent accesses for the life of the process: every
//! gate then carries [`SYMMETRIC`], which sends every call down the slow path, where it stores its
//! mark and reads the gate again sequentially consistently. Where `membarrier` stops working later (a
//! seccomp filter installed after the first load), closing admission fails: the update is refused
//! and the module keeps serving.
//!
//! The fast path of a call is therefore: one load relative to the thread pointer (the slot), a load
//! and a store of the thread's own slot, one load of the gate that must be [`OPEN`], and at the end
//! one store to the slot. Everything else (the thread's first call, which leases its slot; a closed
//! gate; the symmetric fence; a call from a thread-local's destructor) is out of line.
//!
//! A mark is taken and cleared only by [`Admission::enter`] (or [`Admission::try_enter`]) and the drop
//! of the [`InFlight`] it returns, and only the call path in `module.rs` holds one, for the length of
//! a closure: marks on one thread nest strictly, so each drop restores exactly the bits that were set
//! before it.
//!
//! An asynchronous call does not wait on the thread: when [`Admission::try_enter`] finds admission
//! closed, it registers its task's [`Waker`] with [`Admission::wait_for_reopening`], which checks the
//! gate again under the admission's lock, so that a reopening (which opens the gate and takes every
//! waker under the same lock) either is seen by that check or wakes that waker.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering, compiler_fence, fence};
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustix::thread::{MembarrierCommand, membarrier};

/// The most modules one process can have loaded at once: one bit each in a slot.
pub const MAX_MODULES: usize = 64;

/// One thread's in-flight marks, alone on its cache lines.
#[repr(align(128))]
pub(crate) struct Slot {
    modules: AtomicU64,
    leased: AtomicBool,
}

/// All slots ever made; slots are leaked and reused, so there are as many as the most threads that
/// ever called into modules at once.
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// The bits handed to live modules.
static MODULE_BITS: Mutex<u64> = Mutex::new(0);

struct SlotLease(&'static Slot);

impl SlotLease {
    fn acquire() -> SlotLease {
        let mut slots = SLOTS.lock();
        if let Some(slot) = slots.iter().find(|slot| !slot.leased.swap(true, Ordering::AcqRel)) {
            return SlotLease(slot);
        }
        let slot: &'static Slot = Box::leak(Box::new(Slot { modules: AtomicU64::new(0), leased: AtomicBool::new(true) }));
        slots.push(slot);
        SlotLease(slot)
    }
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        self.0.modules.store(0, Ordering::Release);
        self.0.leased.store(false, Ordering::Release);
    }
}

/// The lease of this thread's slot, made by the thread's first call; its destructor takes the slot
/// out of [`THREAD_SLOT`] before it gives the slot back.
struct ThreadLease(SlotLease);

impl Drop for ThreadLease {
    fn drop(&mut self) {
        THREAD_SLOT.set(None);
    }
}

thread_local! {
    /// This thread's slot while its lease lives; `None` before the thread's first call and after
    /// the lease's destructor ran. Constant-initialised and without a destructor, so reading it is
    /// one load relative to the thread pointer, with no initialisation check, and it can be read in
    /// any thread-local's destructor.
    static THREAD_SLOT: Cell<Option<&'static Slot>> = const { Cell::new(None) };
    static THREAD_LEASE: ThreadLease = ThreadLease(SlotLease::acquire());
}

/// The slot this thread's calls mark, or `None` when a thread-local's destructor calls after this
/// thread's lease was destroyed: such a call leases a [`CallSlot`] for itself.
#[inline(always)]
pub(crate) fn thread_slot() -> Option<&'static Slot> {
    match THREAD_SLOT.get() {
        Some(slot) => Some(slot),
        None => lease_thread_slot(),
    }
}

/// Leases this thread's slot on its first call.
#[cold]
#[inline(never)]
fn lease_thread_slot() -> Option<&'static Slot> {
    let slot = THREAD_LEASE.try_with(|lease| lease.0.0).ok()?;
    THREAD_SLOT.set(Some(slot));
    Some(slot)
}

/// A slot leased for one call alone, by a call made after its thread's own lease was destroyed (see
/// [`thread_slot`]). (Such a call nested in another call of the same module cannot see the outer
/// mark, and waits for an update like any other.)
pub(crate) struct CallSlot(SlotLease);

impl CallSlot {
    #[cold]
    pub(crate) fn lease() -> CallSlot {
        CallSlot(SlotLease::acquire())
    }

    /// The slot, for as long as the lease lives.
    pub(crate) fn slot(&self) -> &Slot {
        self.0.0
    }
}

/// What calls find in [`Admission::gate`] while the module admits them with the asymmetric fence:
/// any other value sends a call to the slow path.
const OPEN: u8 = 0;
/// Set while an update holds admission closed.
const CLOSED: u8 = 1;
/// Set for the life of the process when calls use sequentially consistent accesses instead of the
/// asymmetric fence.
const SYMMETRIC: u8 = 2;

/// Whether calls use the asymmetric fence. Decided once, before the first module exists, and never
/// changed, so every call sees the value the updater uses.
static ASYMMETRIC_FENCE: AtomicBool = AtomicBool::new(false);
static FENCE_DECIDED: Once = Once::new();

/// Registers the process for expedited private membarriers, if the kernel allows it.
fn decide_fence() {
    FENCE_DECIDED.call_once(|| {
        let registered = membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok();
        if !registered {
            tracing::debug!("membarrier is not available; calls use sequentially consistent fences");
        }
        ASYMMETRIC_FENCE.store(registered, Ordering::Release);
    });
}

/// The updater's side of the asymmetric fence: after it, every store a caller made before its
/// compiler fence is visible, or that caller's following load sees what the updater stored before.
///
/// # Errors
/// When the `membarrier` system call fails although registering for it succeeded (a seccomp
/// filter installed since): then callers' marks may not be visible yet.
fn heavy_barrier() -> std::io::Result<()> {
    if ASYMMETRIC_FENCE.load(Ordering::Acquire) {
        membarrier(MembarrierCommand::PrivateExpedited)?;
    } else {
        fence(Ordering::SeqCst);
    }
    Ok(())
}

/// A module's bit in every slot. Freed when dropped.
pub(crate) struct ModuleBit(u64);

impl ModuleBit {
    /// Takes a free bit, or `None` when [`MAX_MODULES`] are live.
    pub(crate) fn allocate() -> Option<ModuleBit> {
        let mut taken = MODULE_BITS.lock();
        let free = (!*taken).trailing_zeros();
        if free as usize >= MAX_MODULES {
            return None;
        }
        *taken |= 1 << free;
        Some(ModuleBit(1 << free))
    }
}

impl Drop for ModuleBit {
    fn drop(&mut self) {
        *MODULE_BITS.lock() &= !self.0;
    }
}

/// The admission state of one module.
pub(crate) struct Admission {
    bit: ModuleBit,
    /// [`OPEN`], or [`CLOSED`] and [`SYMMETRIC`] as they hold: the one byte a call checks. Next to
    /// `bit`, so a call reads both from one cache line.
    gate: AtomicU8,
    /// [`SYMMETRIC`] if calls use sequentially consistent accesses, else 0: the part of `gate` an
    /// update leaves alone.
    mode: u8,
    reopened: parking_lot::Condvar,
    /// The admission's lock: the gate is closed and opened under it, threads wait on `reopened`
    /// with it, and it holds the wakers of the asynchronous calls waiting for the reopening.
    lock: Mutex<AsyncWaiters>,
}

/// The wakers of the asynchronous calls that wait for admission to reopen, each under the number
/// its call was given when it registered.
#[derive(Default)]
struct AsyncWaiters {
    next: u64,
    wakers: BTreeMap<u64, Waker>,
}

impl AsyncWaiters {
    /// Takes every waker, to be woken once the lock is released.
    fn take(&mut self) -> BTreeMap<u64, Waker> {
        std::mem::take(&mut self.wakers)
    }
}

/// Wakes the tasks of asynchronous calls whose wakers a reopening took.
fn wake_all(wakers: BTreeMap<u64, Waker>) {
    for waker in wakers.into_values() {
        waker.wake();
    }
}

/// An asynchronous call's place among the waiters of one admission: the number it registered under.
/// The call withdraws it ([`Admission::withdraw`]) when it ends or is dropped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AsyncWaiter(u64);

/// This thread's mark inside a module; restores the thread's marks of before on drop. Not `Send`:
/// the mark belongs to the thread that made it.
pub(crate) struct InFlight<'slot> {
    slot: &'slot Slot,
    outer: u64,
    _not_send: PhantomData<*const ()>,
}

impl Drop for InFlight<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.slot.modules.store(self.outer, Ordering::Release);
    }
}

impl Admission {
    pub(crate) fn new(bit: ModuleBit) -> Admission {
        decide_fence();
        let mode = if ASYMMETRIC_FENCE.load(Ordering::Acquire) { OPEN } else { SYMMETRIC };
        Admission { bit, gate: AtomicU8::new(mode), mode, reopened: parking_lot::Condvar::new(), lock: Mutex::new(AsyncWaiters::default()) }
    }

    /// Marks this thread as inside the module in `slot` (this thread's, from [`thread_slot`], or
    /// one it leased for this call), waiting while an update holds admission closed. While the
    /// returned mark lives, no update of this module can pass quiescence.
    #[inline(always)]
    pub(crate) fn enter<'slot>(&self, slot: &'slot Slot) -> InFlight<'slot> {
        let outer = slot.modules.load(Ordering::Relaxed);
        slot.modules.store(outer | self.bit.0, Ordering::Relaxed);
        // The updater's membarrier turns this into a full fence whenever it matters.
        compiler_fence(Ordering::SeqCst);
        if self.gate.load(Ordering::Acquire) != OPEN {
            self.enter_slowly(slot, outer);
        }
        InFlight { slot, outer, _not_send: PhantomData }
    }

    /// The rest of [`Admission::enter`] when the gate is not [`OPEN`]: without the asymmetric fence,
    /// the mark stored again and the gate read again sequentially consistently; while an update
    /// holds admission closed, the wait. Returns with this thread's mark in `slot`.
    #[cold]
    #[inline(never)]
    fn enter_slowly(&self, slot: &Slot, outer: u64) {
        while !self.admitted_slowly(slot, outer) {
            self.wait_while_updating();
        }
    }

    /// Marks this thread as inside the module in `slot`, as [`Admission::enter`] does, if admission
    /// is open or this thread is already inside the module; `None`, with the marks in `slot` as they
    /// were, while an update holds admission closed. Never waits.
    #[inline(always)]
    pub(crate) fn try_enter<'slot>(&self, slot: &'slot Slot) -> Option<InFlight<'slot>> {
        let outer = slot.modules.load(Ordering::Relaxed);
        slot.modules.store(outer | self.bit.0, Ordering::Relaxed);
        // As in `enter`.
        compiler_fence(Ordering::SeqCst);
        if self.gate.load(Ordering::Acquire) != OPEN && !self.admitted_slowly(slot, outer) {
            return None;
        }
        Some(InFlight { slot, outer, _not_send: PhantomData })
    }

    /// One look of the slow path: stores this thread's mark in `slot` (sequentially consistently
    /// without the asymmetric fence) and reads the gate again. Returns whether the call is admitted:
    /// with the mark in place if so, with the marks of before (`outer`) if not.
    #[cold]
    #[inline(never)]
    fn admitted_slowly(&self, slot: &Slot, outer: u64) -> bool {
        let gate = if self.mode == SYMMETRIC {
            slot.modules.store(outer | self.bit.0, Ordering::SeqCst);
            self.gate.load(Ordering::SeqCst)
        } else {
            slot.modules.store(outer | self.bit.0, Ordering::Relaxed);
            compiler_fence(Ordering::SeqCst);
            self.gate.load(Ordering::Acquire)
        };
        // A nested call into a module this thread is already inside cannot be waited for: the
        // outer call keeps any update from passing quiescence anyway.
        if outer & self.bit.0 != 0 || gate & CLOSED == 0 {
            return true;
        }
        slot.modules.store(outer, Ordering::Release);
        false
    }

    #[cold]
    fn wait_while_updating(&self) {
        let mut guard = self.lock.lock();
        while self.gate.load(Ordering::SeqCst) & CLOSED != 0 {
            self.reopened.wait(&mut guard);
        }
    }

    /// For an asynchronous call that [`Admission::try_enter`] turned away: while admission is still
    /// closed, registers `waker` to be woken when it reopens (in `waiter`'s place if the call has
    /// one still registered, else in a new one written to `waiter`) and returns `true`; returns
    /// `false` if admission has reopened meanwhile, and the call should try again at once. The gate
    /// is read under the lock a reopening holds, so no reopening is missed.
    #[cold]
    #[inline(never)]
    pub(crate) fn wait_for_reopening(&self, waiter: &mut Option<AsyncWaiter>, waker: &Waker) -> bool {
        let mut waiters = self.lock.lock();
        if self.gate.load(Ordering::SeqCst) & CLOSED == 0 {
            return false;
        }
        if let Some(AsyncWaiter(number)) = waiter
            && let Some(registered) = waiters.wakers.get_mut(number)
        {
            // Polled again while waiting: keep the place, with the newest waker.
            registered.clone_from(waker);
            return true;
        }
        let number = waiters.next;
        waiters.next += 1;
        waiters.wakers.insert(number, waker.clone());
        *waiter = Some(AsyncWaiter(number));
        true
    }

    /// Takes an asynchronous call's waker out of the waiters, if a reopening has not taken it
    /// already: the call ended, or its future was dropped. Other waiters keep their places.
    #[cold]
    #[inline(never)]
    pub(crate) fn withdraw(&self, waiter: AsyncWaiter) {
        let removed = self.lock.lock().wakers.remove(&waiter.0);
        // Dropped outside the lock: a waker's drop may run its executor's code.
        drop(removed);
    }

    /// How many asynchronous calls wait for admission to reopen.
    #[cfg(test)]
    fn async_waiters(&self) -> usize {
        self.lock.lock().wakers.len()
    }

    /// Stops admitting calls. New calls wait until [`Admission::reopen`]; calls that entered before
    /// are visible to [`Admission::drain`] when this returns `Ok`.
    ///
    /// # Errors
    /// When the memory barrier that makes callers' marks visible fails; admission is then open
    /// again, as before.
    pub(crate) fn close(&self) -> std::io::Result<()> {
        let mut waiters = self.lock.lock();
        self.gate.store(self.mode | CLOSED, Ordering::SeqCst);
        if let Err(error) = heavy_barrier() {
            self.gate.store(self.mode, Ordering::SeqCst);
            self.reopened.notify_all();
            let wakers = waiters.take();
            drop(waiters);
            wake_all(wakers);
            return Err(error);
        }
        Ok(())
    }

    /// Admits calls again and wakes the waiting ones, threads and asynchronous calls alike.
    pub(crate) fn reopen(&self) {
        let mut waiters = self.lock.lock();
        self.gate.store(self.mode, Ordering::SeqCst);
        self.reopened.notify_all();
        let wakers = waiters.take();
        drop(waiters);
        // Woken outside the lock: a waker may run its executor's code, which may call again.
        wake_all(wakers);
    }

    /// How many threads are inside the module now.
    pub(crate) fn in_flight(&self) -> usize {
        SLOTS.lock().iter().filter(|slot| slot.modules.load(Ordering::SeqCst) & self.bit.0 != 0).count()
    }

    /// Waits until no call is inside the module, up to `deadline`. Returns the number still in flight
    /// at the deadline as the error.
    pub(crate) fn drain(&self, deadline: Duration) -> Result<(), usize> {
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            let in_flight = self.in_flight();
            if in_flight == 0 {
                return Ok(());
            }
            if started.elapsed() >= deadline {
                return Err(in_flight);
            }
            // Most calls are short: spin briefly, then yield, then sleep in small steps.
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 256 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use super::{ASYMMETRIC_FENCE, Admission, CLOSED, ModuleBit, OPEN, SYMMETRIC, thread_slot};

    /// An admission with the fence `mode` (`OPEN` for the asymmetric fence, `SYMMETRIC` without),
    /// whatever the process decided.
    fn admission(mode: u8) -> Admission {
        let mut admission = Admission::new(ModuleBit::allocate().expect("a free module bit"));
        admission.mode = mode;
        admission.gate.store(mode, Ordering::SeqCst);
        admission
    }

    /// What both fences must do: a call that entered is seen by the drain; a call made while
    /// admission is closed waits for the reopening; a nested call does not wait.
    fn admission_holds_with(mode: u8) {
        let admission = Arc::new(admission(mode));
        let slot = thread_slot().expect("this thread's slot");
        {
            let _outer = admission.enter(slot);
            assert_eq!(admission.in_flight(), 1);
            admission.close().expect("admission closes");
            assert_eq!(admission.drain(Duration::from_millis(10)), Err(1), "the drain sees the call in flight");
            // A call nested in one of the same module is admitted although admission is closed.
            let nested = admission.enter(slot);
            drop(nested);
            assert_eq!(admission.in_flight(), 1, "the nested call's end keeps the outer mark");
        }
        assert_eq!(admission.drain(Duration::from_millis(10)), Ok(()), "the drain ends with the call");

        let entered = Arc::new(AtomicBool::new(false));
        let caller = std::thread::spawn({
            let (admission, entered) = (Arc::clone(&admission), Arc::clone(&entered));
            move || {
                let _in_flight = admission.enter(thread_slot().expect("the caller's slot"));
                entered.store(true, Ordering::SeqCst);
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!entered.load(Ordering::SeqCst), "a call waits while admission is closed");
        assert_eq!(admission.in_flight(), 0, "a waiting call holds no mark");
        admission.reopen();
        caller.join().expect("the caller returns");
        assert!(entered.load(Ordering::SeqCst), "the call is admitted once admission reopens");
        assert_eq!(admission.gate.load(Ordering::SeqCst), mode);
        assert_eq!(admission.in_flight(), 0);
    }

    #[test]
    fn admission_holds_with_the_asymmetric_fence() {
        // Without membarrier, closing admission would not fence the callers' marks.
        if ASYMMETRIC_FENCE.load(Ordering::Acquire) {
            admission_holds_with(OPEN);
        }
    }

    #[test]
    fn admission_holds_with_sequentially_consistent_accesses() {
        admission_holds_with(SYMMETRIC);
    }

    /// A waker that counts its wake-ups.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_asynchronous_call_waits_without_a_mark_and_is_woken_by_the_reopening() {
        for mode in [OPEN, SYMMETRIC] {
            if mode == OPEN && !ASYMMETRIC_FENCE.load(Ordering::Acquire) {
                continue;
            }
            let admission = admission(mode);
            let slot = thread_slot().expect("this thread's slot");
            let counting = Arc::new(Counting(AtomicUsize::new(0)));
            let waker = Waker::from(Arc::clone(&counting));
            admission.close().expect("admission closes");
            assert!(admission.try_enter(slot).is_none(), "admission is closed");
            assert_eq!(admission.in_flight(), 0, "a call turned away holds no mark");

            let mut waiter = None;
            assert!(admission.wait_for_reopening(&mut waiter, &waker), "the call waits while admission is closed");
            assert!(admission.wait_for_reopening(&mut waiter, &waker), "polled again, it keeps waiting");
            assert_eq!(admission.async_waiters(), 1, "in the same place");
            let mut given_up = None;
            assert!(admission.wait_for_reopening(&mut given_up, &waker));
            admission.withdraw(given_up.expect("a place"));
            assert_eq!(admission.async_waiters(), 1, "a withdrawn call leaves the others waiting");

            admission.reopen();
            assert_eq!(counting.0.load(Ordering::SeqCst), 1, "the reopening woke the waiting call, and only it");
            assert_eq!(admission.async_waiters(), 0);
            assert!(!admission.wait_for_reopening(&mut waiter, &waker), "once reopened, a call does not wait");
            drop(admission.try_enter(slot).expect("admission is open"));
            // A withdrawal after the reopening took the waker changes nothing.
            admission.withdraw(waiter.expect("a place"));
            assert_eq!(admission.in_flight(), 0);
        }
    }

    #[test]
    fn an_asynchronous_call_nested_in_a_call_of_the_same_module_is_admitted_while_closed() {
        let admission = admission(SYMMETRIC);
        let slot = thread_slot().expect("this thread's slot");
        let outer = admission.enter(slot);
        admission.close().expect("admission closes");
        let nested = admission.try_enter(slot).expect("a nested call is admitted");
        drop(nested);
        assert_eq!(admission.in_flight(), 1, "the nested call's end keeps the outer mark");
        drop(outer);
        admission.reopen();
    }

    #[test]
    fn a_closed_gate_keeps_the_fence_mode() {
        let admission = admission(SYMMETRIC);
        admission.close().expect("admission closes");
        assert_eq!(admission.gate.load(Ordering::SeqCst), SYMMETRIC | CLOSED);
        admission.reopen();
        assert_eq!(admission.gate.load(Ordering::SeqCst), SYMMETRIC);
    }
}
