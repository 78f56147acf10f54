//! Lazy state transfer: the update whose pause only swaps in an empty new version that has the old
//! one as its predecessor, the background pass that moves the entries nobody touches, the end of a
//! migration, and the rollback in the middle of one.
//!
//! Invariants, all kept by holding the module's `transaction` lock for every step here:
//! - A key's entry is in exactly one of the two versions, or (when it failed to migrate) with the
//!   `EntrySource`: the plugin moves an entry in under the lock its calls take, and the predecessor
//!   hands each entry out once.
//! - The previous version stays loaded (it is `Versions::previous`, and the source holds it) until
//!   the last entry has moved; a commit and another update are refused until then.
//! - A rollback puts every entry the new version holds, and every entry that failed, back into the
//!   previous version, which then serves again as it is.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::{CallError, MigrationOptions};
use ecdysis_protocol::{MigrationProgress, Phase, RehearsalReport, UpdateKind, UpdateReport};

use crate::calling::instance::{EntrySource, Instance};
use crate::calling::module::{MigrationUnderWay, ModuleCell};
use crate::error::{SnapshotError, UpdateError};
use crate::loading::LoadedLibrary;
use crate::updating::hook_threads::HookThreads;
use crate::updating::transaction::{ClosedAdmission, Phases, TransactionSettings, TrimWhenDone, resume_after_failure};

/// How the background pass of a lazy migration moves entries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MigrationPace {
    /// Entries per batch.
    pub(crate) batch: u64,
    /// The wait between two batches, during which calls have the module to themselves.
    pub(crate) interval: Duration,
}

impl Default for MigrationPace {
    fn default() -> Self {
        MigrationPace { batch: 1000, interval: Duration::from_millis(1) }
    }
}

/// What a lazy update starts from, once staged (and rehearsed).
pub(super) struct Update<'a> {
    pub(super) running: &'a Arc<Instance>,
    pub(super) candidate: Arc<LoadedLibrary>,
    pub(super) transfer_schema: u32,
    pub(super) migration: MigrationOptions,
    pub(super) rehearsal: Option<RehearsalReport>,
    pub(super) started: Instant,
}

/// Runs the rest of a lazy update: the new instance is made empty and given the running one as its
/// predecessor while calls go on, then the pause only drains calls, prepares the running version
/// and swaps. The caller holds `cell.transaction`, and starts the background pass once this
/// returns (it needs the module's `Arc`).
pub(super) fn update(
    config: &TransactionSettings,
    cell: &ModuleCell,
    update: Update<'_>,
    mut phases: Phases,
) -> Result<UpdateReport, UpdateError> {
    let Update { running, candidate, transfer_schema, migration, rehearsal, started } = update;
    let running_info = running.info().clone();
    let candidate_info = candidate.info().clone();
    let module = running_info.module.clone();
    let deadline = config.hook_timeout;

    // Nothing of this depends on the state, so it happens before the pause.
    let (next, source) = phases.time(Phase::Transform, || -> Result<_, UpdateError> {
        let refused = |source| UpdateError::LazyTransfer { module: module.clone(), candidate: candidate_info.version.clone(), source };
        let library = Arc::clone(&candidate);
        let created = config.hook_threads.with_deadline("create", deadline, move || Instance::create(&library)).ok_or_else(|| {
            UpdateError::HookTimeout { module: module.clone(), version: candidate_info.version.clone(), hook: "create", deadline }
        })?;
        let next = Arc::new(created.map_err(refused)?);
        let source = EntrySource::new(Arc::clone(running), transfer_schema, migration);
        next.attach_predecessor(Arc::clone(&source)).map_err(refused)?;
        Ok((next, source))
    })?;
    drop(candidate);

    // From here calls wait, until `admission` drops.
    let pause_started = Instant::now();
    let admission = ClosedAdmission::close(cell)?;
    let quiesced = phases.time(Phase::Quiesce, || quiesce_and_prepare(config, cell, running));
    if let Err(error) = quiesced {
        drop(next.detach_predecessor());
        drop(admission);
        tracing::warn!(error = %ecdysis_protocol::ErrorChain(&error), "lazy update aborted; the running version keeps serving");
        return Err(error);
    }
    if let Err(error) = next.resume() {
        tracing::warn!(%error, "the new version's resume hook failed");
    }
    let released = phases.time(Phase::Swap, || {
        let released = cell.publish(Arc::clone(&next), Some(config.probation));
        *cell.migration.lock() = Some(Arc::new(MigrationUnderWay { source, successor: next, started: Instant::now() }));
        drop(admission);
        released
    });
    let pause = pause_started.elapsed();
    drop(released);

    let report = UpdateReport {
        kind: UpdateKind::Update,
        module,
        from_version: running_info.version.clone(),
        to_version: candidate_info.version.clone(),
        from_schema: running_info.schema_version,
        to_schema: candidate_info.schema_version,
        transfer_schema,
        phases: phases.0,
        state_bytes: 0,
        pause,
        total: started.elapsed(),
        validated: false,
        rehearsal,
        lazy: true,
    };
    tracing::info!(from = %report.from_version, to = %report.to_version, pause_us = pause.as_micros() as u64, "lazy update swapped; entries move from now on");
    Ok(report)
}

/// Drains the calls in flight (admission is closed) and asks `instance`, the version serving, to
/// reach an update point; on a refusal it is resumed, on a timeout once its `prepare` returns.
fn quiesce_and_prepare(config: &TransactionSettings, cell: &ModuleCell, instance: &Arc<Instance>) -> Result<(), UpdateError> {
    let (module, version) = (cell.name.clone(), instance.info().version.clone());
    cell.admission.drain(config.quiesce_timeout).map_err(|in_flight| UpdateError::QuiesceTimeout {
        module: module.clone(),
        waited: config.quiesce_timeout,
        in_flight,
    })?;
    match prepare_within(&config.hook_threads, instance, config.hook_timeout) {
        None => Err(UpdateError::HookTimeout { module, version, hook: "prepare", deadline: config.hook_timeout }),
        Some(Err(source)) => {
            resume_after_failure(instance);
            Err(UpdateError::PrepareRefused { module, version, source })
        }
        Some(Ok(())) => Ok(()),
    }
}

/// Runs the running version's `prepare` with a deadline: `None` when it passed (then the version
/// is resumed once `prepare` returns, whenever that is).
fn prepare_within(threads: &HookThreads, instance: &Arc<Instance>, deadline: Duration) -> Option<Result<(), CallError>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let abandoned = Arc::new(AtomicBool::new(false));
    let (preparing, gave_up) = (Arc::clone(instance), Arc::clone(&abandoned));
    let prepared = threads.with_deadline("prepare", deadline, move || {
        let prepared = preparing.prepare();
        // The transaction gave up waiting: the running version keeps serving, so it is live again.
        if gave_up.swap(true, Ordering::AcqRel) && prepared.is_ok() {
            resume_after_failure(&preparing);
        }
        prepared
    });
    if prepared.is_none() && abandoned.swap(true, Ordering::AcqRel) {
        // `prepare` returned just as the deadline passed, and did not resume: resume here.
        resume_after_failure(instance);
    }
    prepared
}

/// How far `migration` has come.
pub(crate) fn progress(migration: &MigrationUnderWay) -> MigrationProgress {
    let source = &migration.source;
    let (failed, first_failure) = source.failures();
    let in_previous = source.remaining_in_previous().unwrap_or_else(|error| {
        tracing::warn!(%error, "the previous version could not count its entries");
        0
    });
    MigrationProgress {
        migrated: source.moved(),
        remaining: in_previous + failed,
        failed,
        first_failure: first_failure.map(|(key, reason)| format!("key `{key}`: {reason}")),
    }
}

/// Starts the background pass of the lazy migration into `cell`'s current version: a thread that
/// moves a batch of entries at a time, each batch under the module's transaction lock (so no update,
/// rollback or snapshot runs meanwhile), waiting between batches so that calls go first, until
/// nothing remains, then ends the migration. It stops by itself when the migration ends otherwise
/// (a rollback) or the module is gone.
/// What a migration that finished did, for the history.
pub(crate) struct Finished {
    pub(crate) version: semver::Version,
    pub(crate) moved: u64,
    pub(crate) elapsed: Duration,
}

pub(crate) fn start_background_pass(cell: &Arc<ModuleCell>, pace: MigrationPace, on_finish: impl Fn(&str, Finished) + Send + 'static) {
    let weak: Weak<ModuleCell> = Arc::downgrade(cell);
    let span = tracing::info_span!("ecdysis.migration", module = %cell.name);
    let started = std::thread::Builder::new().name("ecdysis-migrate".into()).spawn(move || {
        let _entered = span.enter();
        let mut backoff = pace.interval;
        loop {
            std::thread::sleep(backoff);
            let Some(cell) = weak.upgrade() else { return };
            let _one_transaction_at_a_time = cell.transaction.lock();
            let Some(migration) = cell.migration() else { return };
            match migration.successor.migrate_entries(pace.batch) {
                Ok(0) => {
                    if let Some(finished) = finish(&cell, &migration) {
                        on_finish(&cell.name, finished);
                    }
                    return;
                }
                Ok(_) => backoff = pace.interval,
                Err(error) => {
                    // Calls still move the entries they touch; try again later.
                    tracing::error!(%error, "the background pass could not move entries; retrying");
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                }
            }
        }
    });
    if let Err(error) = started {
        tracing::error!(%error, "could not start the background pass of a lazy migration; entries move only when touched");
    }
}

/// Ends `migration` if nothing remains to move: the new version lets go of its predecessor, which
/// stays loaded as the previous version for its probation. Entries that failed to migrate keep the
/// migration open (until a rollback): then `None`. The caller holds `cell.transaction`.
fn finish(cell: &ModuleCell, migration: &Arc<MigrationUnderWay>) -> Option<Finished> {
    let (failed, first_failure) = migration.source.failures();
    if failed > 0 {
        tracing::warn!(
            failed,
            first = ?first_failure,
            "the lazy migration cannot finish: entries failed to migrate; roll back to bring them back"
        );
        return None;
    }
    drop(migration.successor.detach_predecessor());
    *cell.migration.lock() = None;
    let finished = Finished {
        version: migration.successor.info().version.clone(),
        moved: migration.source.moved(),
        elapsed: migration.started.elapsed(),
    };
    tracing::info!(moved = finished.moved, elapsed_ms = finished.elapsed.as_millis() as u64, "lazy migration finished");
    Some(finished)
}

/// Moves every remaining entry now and ends the migration, if one is under way (before a
/// snapshot, which must hold the whole state): what it did, if it ended one. Calls go on
/// meanwhile. The caller holds `cell.transaction`.
///
/// # Errors
/// When entries cannot be moved, or some failed to migrate.
pub(crate) fn finish_now(cell: &ModuleCell) -> Result<Option<Finished>, SnapshotError> {
    let Some(migration) = cell.migration() else { return Ok(None) };
    loop {
        match migration.successor.migrate_entries(65_536) {
            Ok(0) => break,
            Ok(_) => {}
            Err(source) => return Err(SnapshotError::MigrationFailed { module: cell.name.clone(), source }),
        }
    }
    if let Some(finished) = finish(cell, &migration) {
        return Ok(Some(finished));
    }
    let (failed, first_failure) = migration.source.failures();
    let first_failure = first_failure.map_or_else(String::new, |(key, reason)| format!("key `{key}`: {reason}"));
    Err(SnapshotError::MigrationCannotFinish { module: cell.name.clone(), failed, first_failure })
}

/// Rolls back during a lazy migration: in the pause, the new version's entries (migrated back
/// down) and those that failed to migrate go back into the previous version, which then serves
/// again, as it is. If anything fails, the new version keeps serving and the migration goes on.
/// The caller holds `cell.transaction`.
pub(crate) fn roll_back(
    config: &TransactionSettings,
    cell: &ModuleCell,
    migration: &Arc<MigrationUnderWay>,
    options: MigrationOptions,
) -> Result<UpdateReport, UpdateError> {
    let _trim = TrimWhenDone;
    let started = Instant::now();
    let mut phases = Phases(Vec::with_capacity(4));
    let successor = &migration.successor;
    let previous = Arc::clone(migration.source.previous());
    let (from, to) = (successor.info().clone(), previous.info().clone());
    let module = cell.name.clone();
    let schema = migration.source.schema_version();
    let failed = |step, source| UpdateError::RollbackDuringMigration { module: module.clone(), step, source };

    let pause_started = Instant::now();
    let admission = ClosedAdmission::close(cell)?;
    phases.time(Phase::Quiesce, || quiesce_and_prepare(config, cell, successor))?;
    let moved_back = phases.time(Phase::Export, || {
        successor.export_entries(u64::MAX, schema, options).map_err(|source| failed("exporting the new version's entries", source))
    });
    let entries = match moved_back {
        Ok(entries) => entries,
        Err(error) => {
            resume_after_failure(successor);
            return Err(error);
        }
    };
    let failures = migration.source.take_failed();
    let batch = join_batch(&entries, &failures);
    let state_bytes = batch.len();
    drop(entries);
    let put = phases.time(Phase::Transform, || previous.put_entries(schema, options, &batch));
    if let Err(source) = put {
        migration.source.restore_failed(failures, "it failed to migrate, and a rollback could not bring it back");
        resume_after_failure(successor);
        return Err(failed("putting the entries back into the previous version", source));
    }
    drop(batch);
    let released = phases.time(Phase::Swap, || {
        drop(successor.detach_predecessor());
        if let Err(error) = previous.resume() {
            tracing::warn!(%error, "the previous version's resume hook failed");
        }
        let released = cell.reinstate_previous();
        *cell.migration.lock() = None;
        drop(admission);
        released
    });
    let pause = pause_started.elapsed();
    drop(released);
    let report = UpdateReport {
        kind: UpdateKind::Rollback,
        module,
        from_version: from.version.clone(),
        to_version: to.version.clone(),
        from_schema: from.schema_version,
        to_schema: to.schema_version,
        transfer_schema: schema,
        phases: phases.0,
        state_bytes,
        pause,
        total: started.elapsed(),
        validated: false,
        rehearsal: None,
        lazy: true,
    };
    tracing::info!(from = %report.from_version, to = %report.to_version, pause_us = pause.as_micros() as u64, "rolled back during a lazy migration; every entry is back");
    Ok(report)
}

/// One batch of entries (a MessagePack array of `[key, entry]` byte-string pairs) from `batch` and
/// the `extra` pairs.
fn join_batch(batch: &[u8], extra: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let (length, header) = match batch {
        [marker @ 0x90..=0x9f, ..] => (u64::from(marker & 0x0f), 1),
        [0xdc, high, low, ..] => (u64::from(u16::from_be_bytes([*high, *low])), 3),
        [0xdd, a, b, c, d, ..] => (u64::from(u32::from_be_bytes([*a, *b, *c, *d])), 5),
        _ => (0, batch.len()),
    };
    let mut joined = Vec::with_capacity(batch.len() + extra.iter().map(|(key, entry)| key.len() + entry.len() + 12).sum::<usize>() + 5);
    let total = length + extra.len() as u64;
    match total {
        0..=15 => joined.push(0x90 | total as u8),
        16..=0xffff => {
            joined.push(0xdc);
            joined.extend_from_slice(&(total as u16).to_be_bytes());
        }
        _ => {
            joined.push(0xdd);
            joined.extend_from_slice(&(total as u32).to_be_bytes());
        }
    }
    joined.extend_from_slice(&batch[header.min(batch.len())..]);
    for (key, entry) in extra {
        joined.push(0x92);
        write_binary(&mut joined, key);
        write_binary(&mut joined, entry);
    }
    joined
}

/// Appends `bytes` as a MessagePack binary.
fn write_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        length @ 0..=0xff => out.extend_from_slice(&[0xc4, length as u8]),
        length @ 0x100..=0xffff => {
            out.push(0xc5);
            out.extend_from_slice(&(length as u16).to_be_bytes());
        }
        length => {
            out.push(0xc6);
            out.extend_from_slice(&(length as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::join_batch;

    #[test]
    fn a_batch_joined_with_extra_entries_is_one_array() {
        // An empty array, and one with one pair, joined with one and with twenty pairs.
        assert_eq!(join_batch(&[0x90], &[(b"k".to_vec(), vec![0xc0])]), [0x91, 0x92, 0xc4, 1, b'k', 0xc4, 1, 0xc0]);
        let one = [0x91, 0x92, 0xc4, 1, b'a', 0xc4, 1, 0x01];
        let extra: Vec<(Vec<u8>, Vec<u8>)> = (0..20).map(|index| (vec![index], vec![index])).collect();
        let joined = join_batch(&one, &extra);
        assert_eq!(&joined[..3], &[0xdc, 0, 21]);
        assert_eq!(&joined[3..10], &one[1..]);
        assert_eq!(joined.len(), 3 + 7 + 20 * 7);
    }
}
