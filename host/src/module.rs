//! Modules: the registry entry of one loaded module ([`ModuleCell`]) with its current and previous
//! versions, and the typed handle ([`Module`]) through which a program calls it.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::Interface;
use parking_lot::Mutex;

use crate::call_path::{Admission, InFlight};
use crate::instance::Instance;
use crate::loader::PluginInfo;

/// The versions of a module the host holds.
pub(crate) struct Versions {
    /// The version calls go to.
    pub(crate) current: Arc<Instance>,
    /// The version that ran before the last update: kept loaded (not called) until `commit` or the
    /// next update releases it.
    pub(crate) previous: Option<Arc<Instance>>,
    /// When the previous version's probation ends and it is released, if it is still loaded.
    pub(crate) probation_ends: Option<Instant>,
    /// How many updates (and rollbacks) this module went through.
    pub(crate) updates: u64,
}

/// One loaded module.
pub(crate) struct ModuleCell {
    pub(crate) name: String,
    pub(crate) admission: Admission,
    /// `Arc::as_ptr` of `versions.current`, read by the call path without touching the Arc.
    current: AtomicPtr<Instance>,
    pub(crate) versions: Mutex<Versions>,
    /// Held for the whole of an update, so updates of one module run one at a time.
    pub(crate) transaction: Mutex<()>,
}

impl ModuleCell {
    pub(crate) fn new(name: String, admission: Admission, instance: Arc<Instance>) -> ModuleCell {
        ModuleCell {
            name,
            admission,
            current: AtomicPtr::new(Arc::as_ptr(&instance).cast_mut()),
            versions: Mutex::new(Versions { current: instance, previous: None, probation_ends: None, updates: 0 }),
            transaction: Mutex::new(()),
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
        self.current.store(Arc::as_ptr(&next).cast_mut(), Ordering::Release);
        let old = std::mem::replace(&mut versions.current, next);
        versions.updates += 1;
        let mut released: Vec<Arc<Instance>> = versions.previous.take().into_iter().collect();
        match probation {
            Some(probation) => {
                versions.previous = Some(old);
                versions.probation_ends = Some(Instant::now() + probation);
            }
            None => {
                released.push(old);
                versions.probation_ends = None;
            }
        }
        released
    }

    /// Ends probation: releases the previous version, if any. The caller holds `transaction`.
    pub(crate) fn end_probation(&self) -> Option<Arc<Instance>> {
        let mut versions = self.versions.lock();
        versions.probation_ends = None;
        versions.previous.take()
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

    /// Enters the module: returns a guard that dereferences to the interface's proxy, through which
    /// every call goes to the version that was current when the guard was made. While an update is
    /// swapping versions this waits (bounded by the update's deadlines).
    ///
    /// Keep guards short: an update waits for every guard of its module to drop.
    #[must_use = "the guard is how calls are made; dropping it at once makes no call"]
    #[inline]
    pub fn enter(&self) -> CallGuard<'_, I> {
        let in_flight = self.cell.admission.enter();
        let instance = self.cell.current.load(Ordering::Acquire);
        // SAFETY: `in_flight` marks this thread inside the module, so no update can pass quiescence
        // and release the version until the guard drops; `current` always points to the Arc held in
        // `versions.current`, or to the previous one, which stays alive at least until the next
        // update, which must first drain this call. The table was verified to be `I::Table` when the
        // module was loaded and for every version since (interface id and fingerprint).
        let proxy = unsafe {
            let instance = &*instance;
            I::proxy(&*(instance.interface_table() as *const I::Table), instance.as_ptr())
        };
        CallGuard { proxy, _in_flight: in_flight, _not_send: PhantomData }
    }

    /// Runs `calls` inside the module: `module.call(|counter| counter.increment("a", 1))`.
    pub fn call<R>(&self, calls: impl FnOnce(&I::Proxy<'_>) -> R) -> R {
        let guard = self.enter();
        calls(&guard)
    }
}

/// A thread's presence inside a module. Dereferences to the interface's proxy. Not `Send`: the
/// in-flight mark belongs to the thread that made it.
pub struct CallGuard<'module, I: Interface + ?Sized> {
    proxy: I::Proxy<'module>,
    _in_flight: InFlight,
    _not_send: PhantomData<*const ()>,
}

impl<'module, I: Interface + ?Sized> std::ops::Deref for CallGuard<'module, I> {
    type Target = I::Proxy<'module>;

    fn deref(&self) -> &Self::Target {
        &self.proxy
    }
}
