//! The update transaction: stage → quiesce → export → transform → validate → swap, and the
//! [`UpdateReport`] it returns.
//!
//! Until the swap, the running instance is only read (exported), never changed, and calls wait only
//! between quiesce and swap. Any failure reopens admission to the untouched running version.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecdysis_plugin_api::{CallError, MigrationOptions, StateEnvelope};
use ecdysis_protocol::{ErrorChain, Phase, PhaseTiming, RehearsalReport, UpdateKind, UpdateReport};

use crate::calling::instance::Instance;
use crate::calling::module::ModuleCell;
use crate::error::{RehearsalFailure, RehearsalStep, UpdateError};
use crate::loading::{LoadedLibrary, Loader, PluginInfo, StagedLibrary, return_free_memory_to_the_system};
use crate::updating::hook_threads::{HookThreads, Lent};
use crate::updating::lazy::{self, MigrationPace};
use crate::updating::rehearsal::{self, Rehearsal, RehearsalSettings, RehearsedTransfer};
use crate::updating::validate;

/// The host's settings that every transaction follows, and the threads its plugin hooks run on.
#[derive(Clone, Debug)]
pub(crate) struct TransactionSettings {
    /// How long calls may take to drain.
    pub(crate) quiesce_timeout: Duration,
    /// How long each plugin hook may run.
    pub(crate) hook_timeout: Duration,
    /// Whether the state transfer is validated by a round trip: in the rehearsal when there is
    /// one, in the pause otherwise.
    pub(crate) validate: bool,
    /// Whether the round trip is checked again in the pause after a rehearsal checked it.
    pub(crate) revalidate_in_pause: bool,
    /// How long the version before an update stays loaded for a rollback.
    pub(crate) probation: Duration,
    /// Whether and how updates are rehearsed in a child process first.
    pub(crate) rehearsal: RehearsalSettings,
    /// How the background pass of a lazy update moves entries: how many at a time, and how long
    /// it waits between batches, yielding to callers.
    pub(crate) migration_pace: MigrationPace,
    /// The threads plugin hooks run on, kept across transactions.
    pub(crate) hook_threads: Arc<HookThreads>,
}

impl TransactionSettings {
    /// Whether updates are rehearsed: turned on, and possible in this program.
    pub(crate) fn rehearses(&self) -> bool {
        self.rehearsal.enabled && rehearsal::availability().is_ok()
    }
}

impl Default for TransactionSettings {
    fn default() -> Self {
        TransactionSettings {
            quiesce_timeout: Duration::from_millis(500),
            hook_timeout: Duration::from_secs(5),
            validate: true,
            revalidate_in_pause: false,
            probation: Duration::from_secs(300),
            rehearsal: RehearsalSettings::default(),
            migration_pace: MigrationPace::default(),
            hook_threads: Arc::default(),
        }
    }
}

/// Options of one update.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct UpdateOptions {
    pub(crate) allow_downgrade: bool,
    pub(crate) force: bool,
    pub(crate) lazy: bool,
}

impl UpdateOptions {
    /// The defaults: downgrades refused.
    pub fn new() -> Self {
        UpdateOptions::default()
    }

    /// Whether a candidate older than the running version is accepted.
    pub fn allow_downgrade(mut self, allow: bool) -> Self {
        self.allow_downgrade = allow;
        self
    }

    /// Whether migration steps that would lose data (a downgrade to a schema that cannot hold
    /// everything) go ahead and drop it instead of refusing. Off by default.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Whether the state is transferred lazily: the pause only makes the new version, empty, and
    /// swaps; each entry then moves from the old version to the new one when a call first touches
    /// it, and a background pass moves the rest, so that the pause does not grow with the state.
    /// Both versions must keep keyed state (`KeyedState`). Off by default.
    ///
    /// Until the migration has finished (`Host::status` shows how far it is), another update and
    /// a commit are refused; a rollback brings every entry back into the old version.
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    pub(crate) fn migration_options(&self) -> MigrationOptions {
        MigrationOptions::forced(self.force)
    }
}

/// What a transaction replaces the running version with.
pub(crate) enum Candidate<'path> {
    /// A library file, for an update.
    Path(&'path Path),
    /// A library staged and opened in a rehearsal process (to learn its module's name), for an
    /// update.
    Rehearsing(StagedLibrary, Rehearsal),
    /// A library already opened (to learn its module's name), for an update.
    Opened(Arc<LoadedLibrary>),
    /// The previous version's library, already loaded, for a rollback.
    Previous(Arc<LoadedLibrary>),
}

/// Phase timings, each phase in its own `tracing` span.
pub(super) struct Phases(pub(super) Vec<PhaseTiming>);

impl Phases {
    pub(super) fn time<T>(&mut self, phase: Phase, work: impl FnOnce() -> T) -> T {
        let span = match phase {
            Phase::Stage => tracing::info_span!("stage"),
            Phase::Rehearse => tracing::info_span!("rehearse"),
            Phase::Quiesce => tracing::info_span!("quiesce"),
            Phase::Export => tracing::info_span!("export"),
            Phase::Transform => tracing::info_span!("transform"),
            Phase::Validate => tracing::info_span!("validate"),
            Phase::Swap => tracing::info_span!("swap"),
        };
        let started = Instant::now();
        let result = span.in_scope(work);
        let duration = started.elapsed();
        span.in_scope(|| tracing::debug!(duration_us = duration.as_micros() as u64, "phase done"));
        self.0.push(PhaseTiming { phase, duration });
        result
    }
}

/// Admission closed for an update; reopened when dropped, whatever happened.
pub(super) struct ClosedAdmission<'cell>(&'cell ModuleCell);

impl<'cell> ClosedAdmission<'cell> {
    pub(super) fn close(cell: &'cell ModuleCell) -> Result<ClosedAdmission<'cell>, UpdateError> {
        cell.admission.close().map_err(|source| UpdateError::AdmissionFence { module: cell.name.clone(), source })?;
        Ok(ClosedAdmission(cell))
    }
}

impl Drop for ClosedAdmission<'_> {
    fn drop(&mut self) {
        self.0.admission.reopen();
    }
}

/// The schema version the state will cross in, or why there is none.
fn verify(running: &PluginInfo, candidate: &PluginInfo, options: &UpdateOptions, validate: bool) -> Result<u32, UpdateError> {
    let path = candidate.path.clone();
    let module = running.module.clone();
    if candidate.module != running.module {
        return Err(UpdateError::WrongModule { path, found: candidate.module.clone(), expected: module });
    }
    if candidate.interface_id != running.interface_id || candidate.interface_fingerprint != running.interface_fingerprint {
        return Err(UpdateError::InterfaceMismatch {
            path,
            module,
            found_id: candidate.interface_id.clone(),
            found_fingerprint: candidate.interface_fingerprint,
            expected_id: running.interface_id.clone(),
            expected_fingerprint: running.interface_fingerprint,
        });
    }
    if candidate.schema_name != running.schema_name {
        return Err(UpdateError::SchemaMismatch {
            path,
            module,
            found: candidate.schema_name.clone(),
            expected: running.schema_name.clone(),
        });
    }
    if candidate.version < running.version && !options.allow_downgrade {
        return Err(UpdateError::Downgrade { path, module, candidate: candidate.version.clone(), running: running.version.clone() });
    }
    // Upgrades cross in the running schema and migrate up in the candidate; downgrades cross in the
    // candidate's schema, migrated down by the running version (which knows both).
    let transfer_schema = if candidate.can_import(running.schema_version) {
        running.schema_version
    } else if running.can_export(candidate.schema_version) {
        candidate.schema_version
    } else {
        return Err(UpdateError::NoMigrationPath {
            module,
            candidate: candidate.version.clone(),
            from: running.schema_version,
            to: candidate.schema_version,
        });
    };
    if validate && !candidate.can_export(transfer_schema) {
        return Err(UpdateError::NoValidationPath { module, candidate: candidate.version.clone(), to: transfer_schema });
    }
    Ok(transfer_schema)
}

/// Runs one update (or rollback) of `cell` to `candidate`. The caller holds `cell.transaction`.
pub(crate) fn update(
    loader: &Loader,
    config: &TransactionSettings,
    cell: &ModuleCell,
    candidate: Candidate<'_>,
    options: &UpdateOptions,
) -> Result<UpdateReport, UpdateError> {
    let kind = match candidate {
        Candidate::Path(_) | Candidate::Rehearsing(..) | Candidate::Opened(_) => UpdateKind::Update,
        Candidate::Previous(_) => UpdateKind::Rollback,
    };
    let span = match &candidate {
        Candidate::Path(path) => tracing::info_span!("ecdysis.update", module = %cell.name, path = %path.display()),
        Candidate::Rehearsing(staged, _) => tracing::info_span!("ecdysis.update", module = %cell.name, path = %staged.path().display()),
        Candidate::Opened(library) => tracing::info_span!("ecdysis.update", module = %cell.name, path = %library.info().path.display()),
        Candidate::Previous(library) => tracing::info_span!("ecdysis.rollback", module = %cell.name, to = %library.info().version),
    };
    let _entered = span.enter();
    // Whatever the outcome, the memory the transaction freed goes back to the system when it ends.
    let _trim = TrimWhenDone;
    let started = Instant::now();
    let mut phases = Phases(Vec::with_capacity(6));
    let running = cell.current();
    let running_info = running.info().clone();
    let module = running_info.module.clone();
    if kind == UpdateKind::Update
        && let Some(migration) = cell.migration()
    {
        let progress = lazy::progress(&migration);
        return Err(UpdateError::MigrationUnderWay {
            module,
            operation: "update",
            version: running_info.version.clone(),
            remaining: progress.remaining,
            failed: progress.failed,
        });
    }
    if options.lazy && !running.is_keyed() {
        return Err(UpdateError::NotKeyed { module, role: "the running version", version: running_info.version.clone() });
    }

    // 1. Stage: nothing of the running version is touched. A library file is opened in a
    // rehearsal process first, so that an initialiser that crashes costs only that process.
    let (candidate, transfer_schema, rehearsal) = phases.time(Phase::Stage, || -> Result<_, UpdateError> {
        let (library, rehearsal) = match candidate {
            Candidate::Path(path) => {
                let staged = loader.stage(path)?;
                let rehearsal = if config.rehearses() {
                    Some(start_rehearsal(staged.private_copy(), staged.path(), "update to", config)?.1)
                } else {
                    None
                };
                (Arc::new(loader.open_staged(staged)?), rehearsal)
            }
            Candidate::Rehearsing(staged, rehearsal) => (Arc::new(loader.open_staged(staged)?), Some(rehearsal)),
            Candidate::Opened(library) => (library, None),
            // The previous version already ran here; what is rehearsed is the state's way down.
            Candidate::Previous(library) => {
                let rehearsal = if config.rehearses() {
                    let path = &library.info().path;
                    match start_rehearsal(library.private_copy(), path, "rollback to", config)? {
                        (Some(_), rehearsal) => Some(rehearsal),
                        (None, _) => {
                            let detail = "it refused the previous version's library, which this host has loaded".to_owned();
                            let failure = RehearsalFailure::Protocol { detail };
                            return Err(UpdateError::Rehearsal {
                                transition: "rollback to",
                                path: path.clone(),
                                step: RehearsalStep::Open,
                                failure,
                            });
                        }
                    }
                } else {
                    None
                };
                (library, rehearsal)
            }
        };
        let transfer_schema = verify(&running_info, library.info(), options, config.validate)?;
        if options.lazy && library.opened().descriptor().hooks.keyed().is_none() {
            return Err(UpdateError::NotKeyed { module: module.clone(), role: "the candidate", version: library.info().version.clone() });
        }
        Ok((library, transfer_schema, rehearsal))
    })?;
    let candidate_info = candidate.info().clone();
    let migration = options.migration_options();

    // 1b. Rehearse: the transform and the round trip run first in the child process, on a snapshot
    // the running version exports while calls are still admitted.
    let rehearsal = match rehearsal {
        None => None,
        Some(rehearsal) => Some(phases.time(Phase::Rehearse, || {
            rehearse(config, rehearsal, &running, &candidate_info, transfer_schema, options, kind == UpdateKind::Rollback)
        })?),
    };

    if options.lazy {
        let lazily = lazy::Update { running: &running, candidate, transfer_schema, migration, rehearsal, started };
        return lazy::update(config, cell, lazily, phases);
    }

    // The hooks of this transaction run back to back on one worker, started now so that its start
    // is not part of the pause; it waits for the go-ahead once calls have drained.
    // A round trip the rehearsal checked is not checked again in the pause, unless asked for.
    let rehearsed_round_trip = rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked);
    let validate_in_pause = config.validate && (!rehearsed_round_trip || config.revalidate_in_pause);
    let hooks = HookWorker::start(
        &config.hook_threads,
        Arc::clone(&running),
        Arc::clone(&candidate),
        transfer_schema,
        migration,
        validate_in_pause,
    );

    // 2. Quiesce: from here calls wait, until `admission` drops.
    let pause_started = Instant::now();
    let admission = ClosedAdmission::close(cell)?;
    phases.time(Phase::Quiesce, || -> Result<(), UpdateError> {
        cell.admission.drain(config.quiesce_timeout).map_err(|in_flight| UpdateError::QuiesceTimeout {
            module: module.clone(),
            waited: config.quiesce_timeout,
            in_flight,
        })?;
        hooks.go();
        match hooks.prepared(config.hook_timeout) {
            // The worker resumes the running version when its `prepare` returns at last.
            None => Err(UpdateError::HookTimeout {
                module: module.clone(),
                version: running_info.version.clone(),
                hook: "prepare",
                deadline: config.hook_timeout,
            }),
            Some(HookStep::Prepared(Err(source))) => {
                resume_after_failure(&running);
                Err(UpdateError::PrepareRefused { module: module.clone(), version: running_info.version.clone(), source })
            }
            Some(HookStep::Prepared(Ok(()))) => Ok(()),
            Some(_) => unreachable!("the hook worker reports prepare first"),
        }
    })?;

    // 3–5. Export, transform, validate. On failure the running version resumes, untouched.
    let transferred = transfer(config, validate_in_pause, &mut phases, &hooks, transfer_schema, &running_info, &candidate_info);
    let (next, state_bytes) = match transferred {
        Ok(transferred) => transferred,
        Err(error) => {
            resume_after_failure(&running);
            drop(admission);
            tracing::warn!(error = %ErrorChain(&error), "update aborted; the running version keeps serving");
            return Err(error);
        }
    };

    // 6. Swap. The new version was resumed by the hook worker before its last report, so the first
    // call admitted finds it live.
    let released = phases.time(Phase::Swap, || {
        let released = match kind {
            UpdateKind::Update => cell.publish(next, Some(config.probation)),
            UpdateKind::Rollback => cell.publish(next, None),
        };
        drop(admission);
        released
    });
    let pause = pause_started.elapsed();
    // After an update, the version before the previous one leaves probation; after a rollback, the
    // version rolled back from goes too. Nothing can reach them any more.
    drop(released);

    let report = UpdateReport {
        kind,
        module,
        from_version: running_info.version.clone(),
        to_version: candidate_info.version.clone(),
        from_schema: running_info.schema_version,
        to_schema: candidate_info.schema_version,
        transfer_schema,
        phases: phases.0,
        state_bytes,
        pause,
        total: started.elapsed(),
        validated: validate_in_pause,
        rehearsal,
        lazy: false,
    };
    tracing::info!(
        from = %report.from_version,
        to = %report.to_version,
        state_bytes,
        pause_us = pause.as_micros() as u64,
        "update committed to probation"
    );
    Ok(report)
}

/// Starts a rehearsal process for the library copy at `private_copy` (named `shown_as` in errors,
/// for the `transition` they describe) and waits until it has opened it: its descriptor, or `None`
/// when the child refused the library (the host's own open says why).
///
/// # Errors
/// When the child could not be started, died or hung while opening the library.
pub(crate) fn start_rehearsal(
    private_copy: &Path,
    shown_as: &Path,
    transition: &'static str,
    config: &TransactionSettings,
) -> Result<(Option<PluginInfo>, Rehearsal), UpdateError> {
    let failed = |step, failure| UpdateError::Rehearsal { transition, path: shown_as.to_owned(), step, failure };
    let mut rehearsal =
        Rehearsal::start(private_copy, &config.rehearsal, config.hook_timeout).map_err(|failure| failed(RehearsalStep::Start, failure))?;
    let info = rehearsal.opened().map_err(|failure| failed(RehearsalStep::Open, failure))?;
    Ok((info, rehearsal))
}

/// Takes a snapshot of the running state without pausing (the running version's own export, under
/// its own locks) and has the rehearsal process transform it and check the round trip. For a
/// downgrade or a rollback the snapshot is in the running schema, and the child migrates it down
/// with a copy of the running version first: that migration is the code of the version being left.
/// For a lazy update, every entry moves from a copy of the running version into the candidate
/// instead, each checked by its own round trip.
fn rehearse(
    config: &TransactionSettings,
    mut rehearsal: Rehearsal,
    running: &Arc<Instance>,
    candidate: &PluginInfo,
    transfer_schema: u32,
    options: &UpdateOptions,
    is_rollback: bool,
) -> Result<RehearsalReport, UpdateError> {
    let migration = options.migration_options();
    let transition = if is_rollback { "rollback to" } else { "update to" };
    let failed = |step, failure| UpdateError::Rehearsal { transition, path: candidate.path.clone(), step, failure };
    let running_schema = running.info().schema_version;
    let exporting = Arc::clone(running);
    let export_started = Instant::now();
    // A lazy update is rehearsed on a sample of the entries, so that the rehearsal does not hold
    // the plugin's locks for as long as the whole state takes to export.
    let lazy = options.lazy;
    let export = move || {
        if lazy {
            exporting.export_entries(rehearsal::LAZY_REHEARSAL_SAMPLE, running_schema, migration)
        } else {
            exporting.export(running_schema, migration)
        }
    };
    let snapshot = match config.hook_threads.with_deadline("snapshot", config.hook_timeout, export) {
        None => {
            let message = format!("the running version did not export the snapshot within {:?}", config.hook_timeout);
            return Err(failed(RehearsalStep::Snapshot, RehearsalFailure::Snapshot { message }));
        }
        Some(Err(error)) => {
            let message = format!("the running version could not export the snapshot: {error}");
            return Err(failed(RehearsalStep::Snapshot, RehearsalFailure::Snapshot { message }));
        }
        Some(Ok(payload)) => StateEnvelope::new(running.info().schema_name.clone(), running_schema, payload),
    };
    let snapshot_export = export_started.elapsed();
    // Validation turned off in the host's settings is off in the rehearsal too.
    let round_trip_checked = config.validate && candidate.can_export(transfer_schema);
    let lazy_from = options.lazy.then(|| running.library().private_copy());
    let transfer = RehearsedTransfer {
        migrate_down_with: (transfer_schema != running_schema && !options.lazy).then(|| running.library().private_copy()),
        transfer_schema,
        options: migration,
        compare: round_trip_checked && !options.lazy,
        lazy_from,
    };
    let mut step = RehearsalStep::Transform;
    rehearsal.transfer(&snapshot, &transfer, &mut step).map_err(|failure| failed(step, failure))?;
    let report = RehearsalReport { snapshot_export, total: rehearsal.elapsed(), round_trip_checked };
    tracing::debug!(
        snapshot_export_us = snapshot_export.as_micros() as u64,
        total_us = report.total.as_micros() as u64,
        "rehearsal passed"
    );
    Ok(report)
}

/// Gives the memory a transaction (or a snapshot) freed back to the system when dropped, on every
/// path out of it.
pub(crate) struct TrimWhenDone;

impl Drop for TrimWhenDone {
    fn drop(&mut self) {
        return_free_memory_to_the_system();
    }
}

pub(super) fn resume_after_failure(running: &Instance) {
    if let Err(error) = running.resume() {
        tracing::error!(%error, "the running version's resume hook failed after an aborted update");
    }
}

/// What the hook worker reports, in this order, stopping after the first failure.
enum HookStep {
    /// The running version's `prepare` returned.
    Prepared(Result<(), CallError>),
    /// The running version exported its state.
    Exported(Result<Arc<StateEnvelope>, CallError>),
    /// The candidate built its instance from that state (and, without validation, was resumed).
    Transformed(Result<Arc<Instance>, CallError>),
    /// The candidate exported its state back, and it was compared with the running version's
    /// export: the first difference, if any (when there was none, the candidate was resumed).
    Validated(Result<Result<(), String>, CallError>),
}

/// Where the running version's `prepare` stands, decided once by whichever side gets there first:
/// the worker when `prepare` returns, or the transaction when its deadline passes.
mod prepare_outcome {
    /// `prepare` is running and the transaction is waiting.
    pub(super) const PENDING: u8 = 0;
    /// `prepare` returned in time; the transaction goes on.
    pub(super) const RETURNED: u8 = 1;
    /// The transaction gave up; the worker resumes the running version when `prepare` returns.
    pub(super) const ABANDONED: u8 = 2;
}

/// The plugin hooks of one transaction, run back to back on one of the host's hook threads.
///
/// Each hook has its own deadline, enforced by the transaction thread as it waits for the next
/// report; a hook that misses it is abandoned with its thread, which keeps the libraries it uses
/// alive, and later transactions get another thread. Running the hooks on one thread that never
/// waits for the transaction thread keeps thread hand-offs out of the pause: on a loaded machine
/// each costs a scheduler time slice. When no deadline was missed, the thread goes back to the
/// host's idle threads when the worker is dropped.
struct HookWorker<'threads> {
    go: std::sync::mpsc::SyncSender<()>,
    steps: std::sync::mpsc::Receiver<HookStep>,
    prepare: Arc<std::sync::atomic::AtomicU8>,
    /// The thread, while no hook has missed its deadline.
    thread: std::cell::Cell<Option<Lent<'threads>>>,
}

impl<'threads> HookWorker<'threads> {
    /// Starts the worker on one of `threads`; it runs nothing until [`HookWorker::go`].
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    fn start(
        threads: &'threads HookThreads,
        running: Arc<Instance>,
        candidate: Arc<LoadedLibrary>,
        transfer_schema: u32,
        migration: MigrationOptions,
        validate: bool,
    ) -> HookWorker<'threads> {
        let (go, go_ahead) = std::sync::mpsc::sync_channel::<()>(1);
        let (report, steps) = std::sync::mpsc::sync_channel::<HookStep>(4);
        let prepare = Arc::new(std::sync::atomic::AtomicU8::new(prepare_outcome::PENDING));
        let prepare_outcome = Arc::clone(&prepare);
        let span = tracing::Span::current();
        let thread = threads.run(move || {
            let _entered = span.enter();
            // The transaction gives up before the hooks when calls do not drain.
            if go_ahead.recv().is_err() {
                return;
            }
            // Every reference the hooks hold is dropped before the last report, so that when the
            // transaction goes on, nothing here keeps a version or library alive.
            if let Some(last) = run_hooks(running, candidate, transfer_schema, migration, validate, &prepare_outcome, &report) {
                let _ = report.send(last);
            }
        });
        HookWorker { go, steps, prepare, thread: std::cell::Cell::new(Some(thread)) }
    }

    /// Lets the worker run the hooks.
    fn go(&self) {
        let _ = self.go.send(());
    }

    /// The next report, or `None` when `deadline` passes first (the thread is then abandoned).
    fn next(&self, deadline: Duration) -> Option<HookStep> {
        let step = self.steps.recv_timeout(deadline).ok();
        if step.is_none() {
            self.thread.take();
        }
        step
    }

    /// The report of `prepare`, or `None` when `deadline` passes first; then the worker resumes
    /// the running version once `prepare` returns, and runs no other hook.
    fn prepared(&self, deadline: Duration) -> Option<HookStep> {
        use std::sync::atomic::Ordering;
        if let Some(step) = self.next(deadline) {
            return Some(step);
        }
        match self.prepare.compare_exchange(prepare_outcome::PENDING, prepare_outcome::ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => None,
            // `prepare` returned just as the deadline passed: its report is on its way.
            Err(_) => self.steps.recv().ok(),
        }
    }
}

impl Drop for HookWorker<'_> {
    fn drop(&mut self) {
        // No hook missed its deadline, so the job has returned or returns without running plugin
        // code (it stops after its first failure, and once `go` is dropped, right after this, when
        // it never got the go-ahead): its thread can take the next one.
        if let Some(thread) = self.thread.take() {
            thread.give_back();
        }
    }
}

/// Runs the hooks in order, reporting each but the last through `report`, and returns the last
/// report (`None` when the transaction stopped listening). Owns the instances and libraries it
/// uses, so they are released when it returns.
fn run_hooks(
    running: Arc<Instance>,
    candidate: Arc<LoadedLibrary>,
    transfer_schema: u32,
    migration: MigrationOptions,
    validate: bool,
    prepare: &std::sync::atomic::AtomicU8,
    report: &std::sync::mpsc::SyncSender<HookStep>,
) -> Option<HookStep> {
    use std::sync::atomic::Ordering;
    let prepared = running.prepare();
    if prepare.compare_exchange(prepare_outcome::PENDING, prepare_outcome::RETURNED, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // The transaction gave up waiting: the running version keeps serving, so it is live again.
        tracing::warn!("prepare returned after its deadline; resuming the running version");
        if let Err(error) = running.resume() {
            tracing::error!(%error, "the running version's resume hook failed after a late prepare");
        }
        return None;
    }
    if prepared.is_err() {
        return Some(HookStep::Prepared(prepared));
    }
    report.send(HookStep::Prepared(prepared)).ok()?;
    let envelope = match running.export(transfer_schema, migration) {
        Ok(payload) => Arc::new(StateEnvelope::new(running.info().schema_name.clone(), transfer_schema, payload)),
        Err(error) => return Some(HookStep::Exported(Err(error))),
    };
    drop(running);
    report.send(HookStep::Exported(Ok(Arc::clone(&envelope)))).ok()?;
    debug_assert!(envelope.is_intact());
    let instance = match Instance::import(&candidate, envelope.schema_version, &envelope.payload, migration) {
        Ok(instance) => Arc::new(instance),
        Err(error) => return Some(HookStep::Transformed(Err(error))),
    };
    drop(candidate);
    if !validate {
        resume_candidate(&instance);
        return Some(HookStep::Transformed(Ok(instance)));
    }
    report.send(HookStep::Transformed(Ok(Arc::clone(&instance)))).ok()?;
    // The comparison runs here, on the worker, so that the candidate is resumed only once it is
    // known to hold the same state, with no hand-off between threads inside the pause.
    let compared = instance.export(transfer_schema, migration).map(|round_trip| validate::compare(&envelope.payload, &round_trip));
    if matches!(compared, Ok(Ok(()))) {
        resume_candidate(&instance);
    }
    drop((instance, envelope));
    Some(HookStep::Validated(compared))
}

/// Tells a candidate it is about to go live: it runs before the swap, while calls still wait, so
/// the first call admitted to it finds it running.
fn resume_candidate(instance: &Instance) {
    if let Err(error) = instance.resume() {
        tracing::warn!(%error, "the new version's resume hook failed");
    }
}

fn transfer(
    config: &TransactionSettings,
    validate_in_pause: bool,
    phases: &mut Phases,
    hooks: &HookWorker<'_>,
    transfer_schema: u32,
    running_info: &PluginInfo,
    candidate_info: &PluginInfo,
) -> Result<(Arc<Instance>, usize), UpdateError> {
    let module = running_info.module.clone();
    let deadline = config.hook_timeout;
    let timeout = |version: &semver::Version, hook: &'static str| UpdateError::HookTimeout {
        module: module.clone(),
        version: version.clone(),
        hook,
        deadline,
    };

    let envelope = phases.time(Phase::Export, || match hooks.next(deadline) {
        None => Err(timeout(&running_info.version, "export")),
        Some(HookStep::Exported(Err(source))) => {
            Err(UpdateError::Export { module: module.clone(), version: running_info.version.clone(), source })
        }
        Some(HookStep::Exported(Ok(envelope))) => Ok(envelope),
        Some(_) => unreachable!("the hook worker reports export second"),
    })?;

    let next = phases.time(Phase::Transform, || match hooks.next(deadline) {
        None => Err(timeout(&candidate_info.version, "transform")),
        Some(HookStep::Transformed(Err(source))) => {
            Err(UpdateError::Transform { module: module.clone(), candidate: candidate_info.version.clone(), from: transfer_schema, source })
        }
        Some(HookStep::Transformed(Ok(instance))) => Ok(instance),
        Some(_) => unreachable!("the hook worker reports the transform third"),
    })?;

    if validate_in_pause {
        phases.time(Phase::Validate, || {
            let compared = match hooks.next(deadline) {
                None => return Err(timeout(&candidate_info.version, "validate")),
                Some(HookStep::Validated(Err(source))) => {
                    return Err(UpdateError::ValidationExport {
                        module: module.clone(),
                        candidate: candidate_info.version.clone(),
                        schema: transfer_schema,
                        source,
                    });
                }
                Some(HookStep::Validated(Ok(compared))) => compared,
                Some(_) => unreachable!("the hook worker reports validation last"),
            };
            compared.map_err(|difference| UpdateError::ValidationMismatch {
                module: module.clone(),
                candidate: candidate_info.version.clone(),
                running: running_info.version.clone(),
                schema: transfer_schema,
                difference,
            })
        })?;
    }
    Ok((next, envelope.payload.len()))
}
