//! The call path: per-thread in-flight slots and per-module admission.
//!
//! Every thread that calls into modules owns one cache-line-padded slot holding a bit per module it
//! is inside of. A call sets its module's bit (a store to the thread's own line), checks the module's
//! `updating` flag, and clears the bit when it returns. An update sets `updating`, then waits until
//! no slot holds the module's bit. Both sides use sequentially consistent accesses, so either the
//! call sees `updating` and backs off, or the update sees the call's bit and waits. The normal call
//! path writes no cache line shared with another thread.
//!
//! The fence between a call's store to its slot and its load of `updating` is *asymmetric*: calls
//! pay only a compiler fence, and the rare update pays a `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
//! system call, which makes every running thread of the process execute a full memory barrier (the
//! technique of liburcu and folly's `asymmetricHeavyBarrier`). A sequentially consistent store costs
//! about 6.5 ns on the machines this was measured on; the compiler fence costs nothing. Where the
//! kernel does not offer `membarrier` when the first module is made (before Linux 4.14, or filtered
//! by seccomp), both sides use sequentially consistent accesses for the life of the process. Where
//! it stops working later (a seccomp filter installed after the first load), closing admission
//! fails: the update is refused and the module keeps serving.
//!
//! A mark is taken and cleared only by [`Admission::enter`] and the drop of the [`InFlight`] it
//! returns, and only the call path in `module.rs` holds one, for the length of a closure: marks on
//! one thread nest strictly, so each drop restores exactly the bits that were set before it.

use std::marker::PhantomData;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, compiler_fence, fence};
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

thread_local! {
    static THREAD_SLOT: SlotLease = SlotLease::acquire();
}

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
    updating: AtomicBool,
    reopened: parking_lot::Condvar,
    lock: Mutex<()>,
}

/// This thread's mark inside a module; restores the thread's marks of before on drop. Not `Send`:
/// the mark belongs to the thread that made it.
pub(crate) struct InFlight {
    slot: &'static Slot,
    outer: u64,
    /// A slot leased for this call alone, when the thread's own is gone (see [`Admission::enter`]).
    _lease: Option<SlotLease>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.slot.modules.store(self.outer, Ordering::Release);
    }
}

impl Admission {
    pub(crate) fn new(bit: ModuleBit) -> Admission {
        decide_fence();
        Admission { bit, updating: AtomicBool::new(false), reopened: parking_lot::Condvar::new(), lock: Mutex::new(()) }
    }

    /// Marks this thread as inside the module, waiting while an update holds admission closed.
    /// While the returned mark lives, no update of this module can pass quiescence.
    #[inline]
    pub(crate) fn enter(&self) -> InFlight {
        // A call from a thread-local's destructor may find this thread's slot destroyed already;
        // it then marks a slot leased for this call alone. (Such a call nested in another call of
        // the same module cannot see the outer mark, and waits for an update like any other.)
        let (slot, lease) = match THREAD_SLOT.try_with(|lease| lease.0) {
            Ok(slot) => (slot, None),
            Err(_) => Self::lease_for_one_call(),
        };
        let outer = slot.modules.load(Ordering::Relaxed);
        let asymmetric = ASYMMETRIC_FENCE.load(Ordering::Relaxed);
        loop {
            let updating = if asymmetric {
                slot.modules.store(outer | self.bit.0, Ordering::Relaxed);
                // The updater's membarrier turns this into a full fence whenever it matters.
                compiler_fence(Ordering::SeqCst);
                self.updating.load(Ordering::Acquire)
            } else {
                slot.modules.store(outer | self.bit.0, Ordering::SeqCst);
                self.updating.load(Ordering::SeqCst)
            };
            // A nested call into a module this thread is already inside cannot be waited for: the
            // outer call keeps any update from passing quiescence anyway.
            if outer & self.bit.0 != 0 || !updating {
                return InFlight { slot, outer, _lease: lease, _not_send: PhantomData };
            }
            slot.modules.store(outer, Ordering::Release);
            self.wait_while_updating();
        }
    }

    #[cold]
    fn lease_for_one_call() -> (&'static Slot, Option<SlotLease>) {
        let lease = SlotLease::acquire();
        (lease.0, Some(lease))
    }

    #[cold]
    fn wait_while_updating(&self) {
        let mut guard = self.lock.lock();
        while self.updating.load(Ordering::SeqCst) {
            self.reopened.wait(&mut guard);
        }
    }

    /// Stops admitting calls. New calls wait until [`Admission::reopen`]; calls that entered before
    /// are visible to [`Admission::drain`] when this returns `Ok`.
    ///
    /// # Errors
    /// When the memory barrier that makes callers' marks visible fails; admission is then open
    /// again, as before.
    pub(crate) fn close(&self) -> std::io::Result<()> {
        let _guard = self.lock.lock();
        self.updating.store(true, Ordering::SeqCst);
        if let Err(error) = heavy_barrier() {
            self.updating.store(false, Ordering::SeqCst);
            self.reopened.notify_all();
            return Err(error);
        }
        Ok(())
    }

    /// Admits calls again and wakes the waiting ones.
    pub(crate) fn reopen(&self) {
        let _guard = self.lock.lock();
        self.updating.store(false, Ordering::SeqCst);
        self.reopened.notify_all();
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
