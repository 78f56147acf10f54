//! The [`Host`]: the registry of loaded modules and the operations on them (load, update,
//! rollback, commit, status, history), and the probation keeper. Built on loading, calling and
//! updating; the operator surfaces (control socket, watch mode) and the builder sit above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::Interface;
use ecdysis_protocol::{
    ErrorChain, HistoryEntry, HistoryEvent, ModuleStatus, RehearsalStatus, SnapshotReason, SnapshotReport, UpdateKind, UpdateReport,
};
use parking_lot::Mutex;

use crate::calling::call_path::{Admission, MAX_MODULES, ModuleBit};
use crate::calling::instance::Instance;
use crate::calling::module::{Module, ModuleCell};
use crate::calling::ticker::{TickStatus, Ticker};
use crate::clock::Clock;
use crate::error::{LoadError, RehearsalFailure, RehearsalStep, SnapshotError, UpdateError};
use crate::loading::{LibraryRelease, Loader, STILL_MAPPED_REASON, keep_large_allocations_apart};
use crate::updating::journal::Journal;
use crate::updating::snapshot::{Restored, SnapshotStore};
use crate::updating::transaction::{self, Candidate, TransactionSettings, UpdateOptions};
use crate::updating::{lazy, rehearsal};

/// What a version on probation must pass, checked by the probation keeper; when it fails, the
/// module is rolled back to the previous version automatically.
#[derive(Clone)]
pub(crate) struct ProbationChecks {
    /// How often the checks run.
    pub(crate) interval: Duration,
    /// How many calls may panic in a version on probation before it is rolled back; `None`: any
    /// number.
    pub(crate) panic_budget: Option<u64>,
    /// The embedder's own check, given the module's name.
    pub(crate) check: Option<Arc<HealthCheck>>,
}

/// An embedder's health check: given a module's name, `Err` with a reason when it is not healthy.
pub(crate) type HealthCheck = dyn Fn(&str) -> Result<(), String> + Send + Sync;

impl Default for ProbationChecks {
    fn default() -> Self {
        ProbationChecks { interval: Duration::from_secs(1), panic_budget: None, check: None }
    }
}

impl std::fmt::Debug for ProbationChecks {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ProbationChecks")
            .field("interval", &self.interval)
            .field("panic_budget", &self.panic_budget)
            .field("check", &self.check.as_ref().map(|_| "a function"))
            .finish()
    }
}

pub(crate) struct HostInner {
    settings: TransactionSettings,
    checks: ProbationChecks,
    modules: Mutex<BTreeMap<String, Arc<ModuleCell>>>,
    loader: Loader,
    journal: Journal,
    /// What runs on the host's behalf (the control socket, the directory watcher), type-erased so
    /// that the host knows nothing of them; each stops when dropped, with the host.
    operators: Mutex<Vec<Box<dyn Send>>>,
    /// Where the control socket listens, once one was started.
    control_socket_path: OnceLock<PathBuf>,
    /// The snapshots of module state, with a state directory.
    snapshots: Option<SnapshotStore>,
    /// The clock plugins read and ticks are scheduled on.
    clock: Clock,
    /// Drives the modules' `tick` hooks; stops when the host is dropped.
    ticker: Ticker,
}

/// A reference to a host that does not keep it alive, held by the threads that work on its behalf.
#[derive(Clone)]
pub(crate) struct WeakHost(Weak<HostInner>);

impl WeakHost {
    /// The host, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Host> {
        self.0.upgrade().map(|inner| Host { inner })
    }

    /// Whether the host was dropped.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

/// Releases previous versions whose probation ran out, and checks the versions on probation,
/// until the host is dropped.
fn spawn_probation_keeper(host: WeakHost, interval: Duration) {
    let spawned = std::thread::Builder::new().name("ecdysis-probation".into()).spawn(move || {
        let mut last_checked = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(200).min(interval));
            let Some(host) = host.upgrade() else { return };
            host.release_expired_probations();
            if last_checked.elapsed() >= interval {
                host.check_probations();
                last_checked = Instant::now();
            }
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the probation thread; previous versions are released only by commit");
    }
}

/// Snapshots every module each `interval`, until the host is dropped.
fn spawn_snapshot_keeper(host: WeakHost, interval: Duration) {
    let spawned = std::thread::Builder::new().name("ecdysis-snapshots".into()).spawn(move || {
        let mut last_taken = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(200).min(interval));
            if last_taken.elapsed() < interval {
                if host.is_gone() {
                    return;
                }
                continue;
            }
            let Some(host) = host.upgrade() else { return };
            host.snapshot_on_interval();
            last_taken = Instant::now();
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the snapshot thread; modules are snapshotted only on request, commit and shutdown");
    }
}

/// Loads plugins as modules and updates them live. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Host")
            .field("settings", &self.inner.settings)
            .field("modules", &self.inner.modules.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Host {
    /// A host with `settings` that loads with `loader` and records its history in `journal`; its
    /// probation keeper runs until it is dropped. Operators are attached by the builder.
    pub(crate) fn start(
        settings: TransactionSettings,
        checks: ProbationChecks,
        loader: Loader,
        journal: Journal,
        snapshots: Option<SnapshotStore>,
        clock: Clock,
    ) -> Host {
        // The large buffers of a state transfer go back to the system as soon as they are freed.
        keep_large_allocations_apart();
        let interval = checks.interval;
        let snapshot_interval = snapshots.as_ref().and_then(|snapshots| snapshots.interval);
        let inner = Arc::new(HostInner {
            settings,
            checks,
            modules: Mutex::new(BTreeMap::new()),
            loader,
            journal,
            operators: Mutex::new(Vec::new()),
            control_socket_path: OnceLock::new(),
            snapshots,
            ticker: Ticker::start(clock.clone()),
            clock,
        });
        spawn_probation_keeper(WeakHost(Arc::downgrade(&inner)), interval);
        if let Some(snapshot_interval) = snapshot_interval {
            spawn_snapshot_keeper(WeakHost(Arc::downgrade(&inner)), snapshot_interval);
        }
        Host { inner }
    }

    /// A reference to this host that does not keep it alive.
    pub(crate) fn downgrade(&self) -> WeakHost {
        WeakHost(Arc::downgrade(&self.inner))
    }

    /// Keeps `operator` running until the host is dropped.
    pub(crate) fn attach_operator(&self, operator: Box<dyn Send>) {
        self.inner.operators.lock().push(operator);
    }

    /// Records where the control socket listens.
    pub(crate) fn set_control_socket_path(&self, path: PathBuf) {
        let _ = self.inner.control_socket_path.set(path);
    }

    fn cell(&self, module: &str) -> Result<Arc<ModuleCell>, UpdateError> {
        self.inner.modules.lock().get(module).cloned().ok_or_else(|| UpdateError::NoSuchModule { module: module.to_owned() })
    }

    /// Loads the plugin at `path` as a new module implementing `I`, creates its instance with empty
    /// state, and returns a handle to it.
    ///
    /// With a state directory that holds snapshots of the module, this is a warm restart: the
    /// module comes back on the version of its newest readable snapshot, from the state directory's
    /// copy of that version's library (verified by its SHA-256), with that snapshot's state. When
    /// that copy is gone or changed, the library at `path` takes the state as an update would
    /// (same schema, a migration path, a validated round trip). The history records `Restored`,
    /// naming the snapshot, instead of `Loaded`.
    ///
    /// # Errors
    /// When the file is not a plugin of this ABI, lies outside the allowed directories or differs
    /// from its pin, implements another interface than `I`, a module of the same name is loaded, or
    /// the plugin fails to create its instance. With snapshots of the module: when one is in
    /// another format version, all of them are damaged, or neither the snapshot's library nor the
    /// one at `path` can take the state ([`LoadError::SnapshotFormat`], [`LoadError::Restore`]).
    pub fn load<I: Interface + ?Sized>(&self, path: impl AsRef<Path>) -> Result<Module<I>, LoadError> {
        let path = path.as_ref();
        let span = tracing::info_span!("ecdysis.load", path = %path.display());
        let _entered = span.enter();
        let library = Arc::new(self.inner.loader.open(path)?);
        let info = library.info().clone();
        if info.interface_id != I::ID || info.interface_fingerprint != I::FINGERPRINT {
            return Err(LoadError::InterfaceMismatch {
                path: path.to_owned(),
                found_id: info.interface_id,
                found_fingerprint: info.interface_fingerprint,
                expected_id: I::ID.to_owned(),
                expected_fingerprint: I::FINGERPRINT,
            });
        }
        if self.inner.modules.lock().contains_key(&info.module) {
            return Err(LoadError::AlreadyLoaded { module: info.module });
        }
        let bit = ModuleBit::allocate().ok_or_else(|| LoadError::TooManyModules { module: info.module.clone(), max: MAX_MODULES })?;
        let restored = match &self.inner.snapshots {
            Some(snapshots) => snapshots.restore(&self.inner.loader, &self.inner.settings, &library)?,
            None => None,
        };
        let (instance, event) = match restored {
            Some(Restored { instance, event }) => (instance, event),
            None => {
                let deadline = self.inner.settings.hook_timeout;
                let creating = Arc::clone(&library);
                let instance = match self.inner.settings.hook_threads.with_deadline("create", deadline, move || Instance::create(&creating))
                {
                    None => return Err(LoadError::CreateTimeout { module: info.module, version: info.version, deadline }),
                    Some(Err(source)) => return Err(LoadError::Create { module: info.module, version: info.version, source }),
                    Some(Ok(instance)) => Arc::new(instance),
                };
                (instance, HistoryEvent::Loaded { version: info.version.clone(), path: path.to_owned() })
            }
        };
        drop(library);
        let info = instance.info().clone();
        if let Err(error) = instance.resume() {
            tracing::warn!(module = %info.module, %error, "the resume hook failed after create");
        }
        let cell = Arc::new(ModuleCell::new(info.module.clone(), Admission::new(bit), instance));
        let mut modules = self.inner.modules.lock();
        if modules.contains_key(&info.module) {
            return Err(LoadError::AlreadyLoaded { module: info.module });
        }
        modules.insert(info.module.clone(), Arc::clone(&cell));
        drop(modules);
        self.inner.ticker.watch(&cell);
        tracing::info!(module = %info.module, version = %info.version, path = %info.path.display(), "module loaded");
        self.inner.journal.record(&info.module, event);
        Ok(Module::from_cell(cell))
    }

    /// Updates `module` to the plugin at `path`, carrying its state over, with default options
    /// (downgrades refused).
    ///
    /// # Errors
    /// See [`Host::update_with`].
    pub fn update(&self, module: &str, path: impl AsRef<Path>) -> Result<UpdateReport, UpdateError> {
        self.update_with(module, path, &UpdateOptions::new())
    }

    /// Updates `module` to the plugin at `path`: stage, quiesce, export, transform, validate, swap.
    /// The version that ran before stays loaded for the probation period, ready for
    /// [`Host::rollback`], until [`Host::commit`], the end of probation, or the next update.
    ///
    /// # Errors
    /// When the candidate is refused (not a plugin, other ABI, module, interface or schema, outside
    /// the allowed directories or not matching its pin, an older version without `allow_downgrade`,
    /// no migration path) or the transaction aborts (calls did not drain, a hook refused, failed,
    /// panicked or timed out, validation found a difference). In every case the running version
    /// keeps serving with its state untouched.
    pub fn update_with(&self, module: &str, path: impl AsRef<Path>, options: &UpdateOptions) -> Result<UpdateReport, UpdateError> {
        let path = path.as_ref();
        let result = self.cell(module).and_then(|cell| {
            let _one_transaction_at_a_time = cell.transaction.lock();
            let result = transaction::update(&self.inner.loader, &self.inner.settings, &cell, Candidate::Path(path), options);
            self.after_update(&cell, &result);
            result
        });
        self.record_outcome(module, Some(path), &result);
        result
    }

    /// Updates the module that the plugin at `path` declares (its descriptor names the module).
    ///
    /// # Errors
    /// As [`Host::update_with`]; also when the library cannot be opened, or no module of its name is
    /// loaded.
    pub fn update_from_library(&self, path: impl AsRef<Path>, options: &UpdateOptions) -> Result<UpdateReport, UpdateError> {
        let path = path.as_ref();
        let refused = |error: UpdateError| {
            let message = ErrorChain(&error).to_string();
            self.inner.journal.record("?", HistoryEvent::Refused { path: Some(path.to_owned()), message });
            error
        };
        // With rehearsals, the library's module is learnt from the rehearsal process, so that the
        // library's initialisers run there before they run here.
        let (module, candidate) = if self.inner.settings.rehearses() {
            {
                let staged = self.inner.loader.stage(path).map_err(|error| refused(UpdateError::Load(error)))?;
                let (info, rehearsal) =
                    transaction::start_rehearsal(staged.private_copy(), staged.path(), "update to", &self.inner.settings)
                        .map_err(refused)?;
                match info {
                    Some(info) => (info.module, Candidate::Rehearsing(staged, rehearsal)),
                    // The child refused it; the host's own open, safe now, says why.
                    None => {
                        drop(rehearsal);
                        let error = self.inner.loader.open_staged(staged).err().map_or_else(
                            || UpdateError::Rehearsal {
                                transition: "update to",
                                path: path.to_owned(),
                                step: RehearsalStep::Open,
                                failure: RehearsalFailure::Protocol { detail: "it refused a library the host accepts".into() },
                            },
                            UpdateError::Load,
                        );
                        return Err(refused(error));
                    }
                }
            }
        } else {
            let library = Arc::new(self.inner.loader.open(path).map_err(|error| refused(UpdateError::Load(error)))?);
            (library.info().module.clone(), Candidate::Opened(library))
        };
        let result = self.cell(&module).and_then(|cell| {
            let _one_transaction_at_a_time = cell.transaction.lock();
            let result = transaction::update(&self.inner.loader, &self.inner.settings, &cell, candidate, options);
            self.after_update(&cell, &result);
            result
        });
        self.record_outcome(&module, Some(path), &result);
        result
    }

    /// Starts the background pass of a lazy update that went through.
    fn after_update(&self, cell: &Arc<ModuleCell>, result: &Result<UpdateReport, UpdateError>) {
        if result.as_ref().is_ok_and(|report| report.lazy && report.kind == UpdateKind::Update) {
            let host = self.downgrade();
            lazy::start_background_pass(cell, self.inner.settings.migration_pace, move |module, finished| {
                if let Some(host) = host.upgrade() {
                    host.record_migration_finished(module, finished);
                }
            });
        }
    }

    /// Records in the history that a lazy migration finished.
    fn record_migration_finished(&self, module: &str, finished: lazy::Finished) {
        let elapsed_ms = finished.elapsed.as_millis() as u64;
        self.inner.journal.record(module, HistoryEvent::MigrationFinished { version: finished.version, moved: finished.moved, elapsed_ms });
    }

    /// Whether this host rehearses updates in a child process, and if it cannot, why.
    #[must_use]
    pub fn rehearsal_status(&self) -> RehearsalStatus {
        if !self.inner.settings.rehearsal.enabled {
            return RehearsalStatus::Off;
        }
        match rehearsal::availability() {
            Ok(()) => RehearsalStatus::On,
            Err(reason) => RehearsalStatus::Unavailable { reason: reason.to_owned() },
        }
    }

    /// Takes `module` back to the version that ran before its last update, carrying the state back
    /// through the current version's downward migration. A full transaction: verified, validated,
    /// refusable and reported like an update. The version rolled back from is released.
    ///
    /// # Errors
    /// When no previous version is loaded (never updated, or committed since), or the transaction
    /// aborts; then the current version keeps serving.
    pub fn rollback(&self, module: &str) -> Result<UpdateReport, UpdateError> {
        self.rollback_with(module, &UpdateOptions::new())
    }

    /// [`Host::rollback`], with `options.force` passed to the migration steps (downgrades are
    /// always allowed: going back is the point).
    ///
    /// # Errors
    /// As [`Host::rollback`].
    pub fn rollback_with(&self, module: &str, options: &UpdateOptions) -> Result<UpdateReport, UpdateError> {
        let result = self.cell(module).and_then(|cell| {
            let _one_transaction_at_a_time = cell.transaction.lock();
            self.roll_back_locked(&cell, options)
        });
        self.record_outcome(module, None, &result);
        result
    }

    /// Rolls `cell` back to its previous version. The caller holds `cell.transaction` and records
    /// the outcome.
    fn roll_back_locked(&self, cell: &ModuleCell, options: &UpdateOptions) -> Result<UpdateReport, UpdateError> {
        let options = options.clone().allow_downgrade(true).lazy(false);
        if let Some(migration) = cell.migration() {
            return lazy::roll_back(&self.inner.settings, cell, &migration, options.migration_options());
        }
        let previous = cell.versions.lock().previous.as_ref().map(|previous| Arc::clone(previous.library()));
        let previous = previous.ok_or_else(|| UpdateError::NothingToRollBack { module: cell.name.clone() })?;
        transaction::update(&self.inner.loader, &self.inner.settings, cell, Candidate::Previous(previous), &options)
    }

    fn record_outcome(&self, module: &str, path: Option<&Path>, result: &Result<UpdateReport, UpdateError>) {
        // Every transaction ends here: a new current version is ticked right away.
        self.inner.ticker.wake();
        let event = match result {
            Ok(report) => HistoryEvent::Updated { report: report.clone() },
            Err(error) => HistoryEvent::Refused { path: path.map(Path::to_owned), message: ErrorChain(error).to_string() },
        };
        self.inner.journal.record(module, event);
    }

    /// Ends the probation of `module`'s last update: releases the version that ran before it.
    /// Returns the released version, if there was one.
    ///
    /// # Errors
    /// When no such module is loaded.
    pub fn commit(&self, module: &str) -> Result<Option<semver::Version>, UpdateError> {
        let cell = self.cell(module)?;
        let _no_transaction_meanwhile = cell.transaction.lock();
        if let Some(migration) = cell.migration() {
            let progress = lazy::progress(&migration);
            return Err(UpdateError::MigrationUnderWay {
                module: module.to_owned(),
                operation: "commit",
                version: migration.successor.info().version.clone(),
                remaining: progress.remaining,
                failed: progress.failed,
            });
        }
        let released = cell.end_probation();
        let version = released.as_ref().map(|instance| instance.info().version.clone());
        drop(released);
        self.inner.journal.record(module, HistoryEvent::Committed { released: version.clone(), expired: false });
        self.snapshot_logging_failure(&cell, SnapshotReason::Commit);
        Ok(version)
    }

    fn release_expired_probations(&self) {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        let now = Instant::now();
        for cell in cells {
            if !cell.probation_expired(now) {
                continue;
            }
            // A transaction in progress decides for itself; look again next time. An update may
            // have published a fresh probation since the look above, so the decision is made again
            // under the lock.
            let Some(_no_transaction_meanwhile) = cell.transaction.try_lock() else { continue };
            // The previous version holds entries until a lazy migration has finished; its probation
            // ends at the first look after that.
            if cell.migration().is_some() {
                continue;
            }
            if let Some(released) = cell.release_if_expired(now) {
                let version = released.info().version.clone();
                drop(released);
                tracing::info!(module = %cell.name, %version, "probation ended; previous version released");
                self.inner.journal.record(&cell.name, HistoryEvent::Committed { released: Some(version), expired: true });
                self.snapshot_logging_failure(&cell, SnapshotReason::ProbationEnded);
            }
        }
    }

    /// Checks every version on probation (its panicking calls against the budget, its health
    /// hook, the embedder's check) and rolls back the ones that fail.
    fn check_probations(&self) {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        for cell in cells {
            let current = {
                let versions = cell.versions.lock();
                if versions.previous.is_none() {
                    continue;
                }
                Arc::clone(&versions.current)
            };
            if let Some(reason) = self.probation_failure(&cell.name, &current) {
                self.roll_back_failed_probation(&cell, &current, reason);
            }
        }
    }

    /// Why the version `current` of `module` fails its probation, if it does.
    fn probation_failure(&self, module: &str, current: &Arc<Instance>) -> Option<String> {
        let checks = &self.inner.checks;
        if let Some(budget) = checks.panic_budget {
            let panicked = current.panicked_calls();
            if panicked > budget {
                return Some(format!("{panicked} calls panicked in it during probation, more than the budget of {budget}"));
            }
        }
        let deadline = self.inner.settings.hook_timeout;
        let instance = Arc::clone(current);
        match self.inner.settings.hook_threads.with_deadline("health", deadline, move || instance.health()) {
            None => return Some(format!("its health check did not answer within {deadline:?}")),
            Some(Err(error)) => return Some(format!("its health check failed: {}", ErrorChain(&error))),
            Some(Ok(())) => {}
        }
        if let Some(check) = &checks.check
            && let Err(reason) = check(module)
        {
            return Some(format!("the host's health check failed: {reason}"));
        }
        None
    }

    /// Rolls `cell` back from `failed`, unless an update, rollback or commit came first.
    fn roll_back_failed_probation(&self, cell: &ModuleCell, failed: &Arc<Instance>, reason: String) {
        let _one_transaction_at_a_time = cell.transaction.lock();
        {
            let versions = cell.versions.lock();
            if !Arc::ptr_eq(&versions.current, failed) || versions.previous.is_none() {
                return;
            }
        }
        let version = failed.info().version.clone();
        tracing::warn!(module = %cell.name, %version, %reason, "version on probation failed its checks; rolling back");
        self.inner.journal.record(&cell.name, HistoryEvent::ProbationFailed { version, reason: reason.clone() });
        let result = self.roll_back_locked(cell, &UpdateOptions::new());
        if result.is_ok() {
            cell.versions.lock().probation_failure = Some(reason);
        }
        self.record_outcome(&cell.name, None, &result);
    }

    /// The loaded modules.
    #[must_use]
    pub fn status(&self) -> Vec<ModuleStatus> {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        let now = Instant::now();
        let still_mapped: Vec<LibraryRelease> =
            self.inner.loader.releases.lock().iter().filter(|release| release.is_still_mapped()).cloned().collect();
        let rehearsal = self.rehearsal_status();
        cells
            .iter()
            .map(|cell| {
                let versions = cell.versions.lock();
                let info = versions.current.info();
                ModuleStatus {
                    name: cell.name.clone(),
                    version: info.version.clone(),
                    schema_version: info.schema_version,
                    path: info.path.clone(),
                    previous_version: versions.previous.as_ref().map(|previous| previous.info().version.clone()),
                    probation_remaining_ms: versions.probation_ends.map(|ends| ends.saturating_duration_since(now).as_millis() as u64),
                    updates: versions.updates,
                    in_flight: cell.admission.in_flight(),
                    probation_failure: versions.probation_failure.clone(),
                    libraries_still_mapped: still_mapped
                        .iter()
                        .filter(|release| release.module == cell.name)
                        .map(|release| format!("{} ({}): {STILL_MAPPED_REASON}", release.path.display(), release.version))
                        .collect(),
                    rehearsal: Some(rehearsal.clone()),
                    last_snapshot: self.inner.snapshots.as_ref().and_then(|snapshots| snapshots.last(&cell.name)),
                    migration: cell.migration().map(|migration| lazy::progress(&migration)),
                }
            })
            .collect()
    }

    /// What happened so far, oldest first (at most [`crate::HISTORY_CAPACITY`] entries).
    #[must_use]
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.inner.journal.entries()
    }

    /// The libraries this host unloaded most recently (at most [`crate::RELEASE_LOG_CAPACITY`],
    /// oldest first), with whether each was still mapped afterwards.
    #[must_use]
    pub fn released_libraries(&self) -> Vec<LibraryRelease> {
        self.inner.loader.releases.lock().iter().cloned().collect()
    }

    /// The clock this host hands to its plugins and schedules their ticks on (see
    /// [`HostBuilder::clock`](crate::HostBuilder::clock)): advance it, when it is manual, to move
    /// time for plugin code.
    #[must_use]
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    /// What the ticker did for `module` (see `Plugin::tick` in the plugin API): how many ticks,
    /// how many failed, whether the current version was ticked yet, and when it wants the next.
    /// `None` when no such module is loaded.
    #[must_use]
    pub fn tick_status(&self, module: &str) -> Option<TickStatus> {
        self.inner.ticker.status(module)
    }

    /// Where the control socket listens, if it was turned on.
    #[must_use]
    pub fn control_socket_path(&self) -> Option<PathBuf> {
        self.inner.control_socket_path.get().cloned()
    }

    /// Writes a snapshot of `module`'s state to the state directory: the running version's own
    /// export, taken while calls go on (no update runs meanwhile), written atomically with the
    /// version and the SHA-256 of the library it belongs to (a copy of which is kept beside it).
    /// The newest few snapshots of each module are kept. A host started later on the same state
    /// directory comes back from the newest (see [`Host::load`]).
    ///
    /// # Errors
    /// When the host has no state directory, no such module is loaded, the export fails or misses
    /// the hook deadline, or a file cannot be written. The module keeps serving either way.
    pub fn snapshot(&self, module: &str) -> Result<SnapshotReport, SnapshotError> {
        if self.inner.snapshots.is_none() {
            return Err(SnapshotError::NoStateDirectory);
        }
        let cell =
            self.inner.modules.lock().get(module).cloned().ok_or_else(|| SnapshotError::NoSuchModule { module: module.to_owned() })?;
        let _no_transaction_meanwhile = cell.transaction.lock();
        let written = self.snapshot_locked(&cell, SnapshotReason::Requested, false)?;
        Ok(written.expect("a snapshot that may not be skipped is written"))
    }

    /// Writes a snapshot of every loaded module, as [`Host::snapshot`] does.
    ///
    /// # Errors
    /// The first failure; the modules before it were snapshotted, those after it were not.
    pub fn snapshot_all(&self) -> Result<Vec<SnapshotReport>, SnapshotError> {
        self.snapshot_every_module(SnapshotReason::Requested, false)
    }

    /// A clean shutdown: writes a snapshot of every module whose state changed since its newest
    /// snapshot, so that a host started later on the same state directory comes back with every
    /// write made until now. Without a state directory there is nothing to do. The host keeps
    /// working afterwards; call this last, once calls have stopped, then drop the host.
    ///
    /// Dropping a host without it loses, as a crash would, the writes since the newest snapshot.
    ///
    /// # Errors
    /// The first failure to write a snapshot; the modules after it were not snapshotted.
    pub fn shutdown(&self) -> Result<Vec<SnapshotReport>, SnapshotError> {
        if self.inner.snapshots.is_none() {
            return Ok(Vec::new());
        }
        self.snapshot_every_module(SnapshotReason::Shutdown, true)
    }

    fn snapshot_every_module(&self, reason: SnapshotReason, skip_if_unchanged: bool) -> Result<Vec<SnapshotReport>, SnapshotError> {
        if self.inner.snapshots.is_none() {
            return Err(SnapshotError::NoStateDirectory);
        }
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        let mut written = Vec::new();
        for cell in cells {
            let _no_transaction_meanwhile = cell.transaction.lock();
            written.extend(self.snapshot_locked(&cell, reason, skip_if_unchanged)?);
        }
        Ok(written)
    }

    /// Snapshots every module whose state changed, skipping those in a transaction (they are
    /// snapshotted next time).
    fn snapshot_on_interval(&self) {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        for cell in cells {
            let Some(_no_transaction_meanwhile) = cell.transaction.try_lock() else { continue };
            if let Err(error) = self.snapshot_locked(&cell, SnapshotReason::Interval, true) {
                tracing::warn!(module = %cell.name, error = %ErrorChain(&error), "periodic snapshot failed; the module keeps serving");
            }
        }
    }

    /// Snapshots `cell` after a commit, when its state changed; a failure is logged, since the
    /// commit itself went through. The caller holds `cell.transaction`.
    fn snapshot_logging_failure(&self, cell: &ModuleCell, reason: SnapshotReason) {
        if self.inner.snapshots.is_none() {
            return;
        }
        if let Err(error) = self.snapshot_locked(cell, reason, true) {
            tracing::warn!(module = %cell.name, error = %ErrorChain(&error), "snapshot after the commit failed; the module keeps serving");
        }
    }

    /// Snapshots `cell` and records it in the history (unless it is a periodic one). The caller
    /// holds `cell.transaction`.
    fn snapshot_locked(
        &self,
        cell: &ModuleCell,
        reason: SnapshotReason,
        skip_if_unchanged: bool,
    ) -> Result<Option<SnapshotReport>, SnapshotError> {
        let snapshots = self.inner.snapshots.as_ref().ok_or(SnapshotError::NoStateDirectory)?;
        // A snapshot holds the whole state: a lazy migration under way is finished first.
        if let Some(finished) = lazy::finish_now(cell)? {
            self.record_migration_finished(&cell.name, finished);
        }
        let written = snapshots.take(&cell.current(), &self.inner.settings, reason, skip_if_unchanged)?;
        // Periodic snapshots are routine: recorded in the history, they would crowd out what
        // happened. `status` shows the newest.
        if let Some(report) = written.as_ref().filter(|_| reason != SnapshotReason::Interval) {
            self.inner.journal.record(
                &cell.name,
                HistoryEvent::Snapshotted {
                    version: report.version.clone(),
                    schema_version: report.schema_version,
                    bytes: report.state_bytes,
                    path: report.path.clone(),
                    reason,
                },
            );
        }
        Ok(written)
    }
}
