//! The data the host's replies carry: the report of an update, the status of a module, the
//! history. The host builds these values; they are defined here, with their serde forms, so that
//! the host and its clients cannot disagree on them.
//!
//! The structs are not `#[non_exhaustive]`: the host, another crate, builds them field by field,
//! and a new field is a change of the protocol anyway.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Serialises durations as whole microseconds.
mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_micros() as u64)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_micros)
    }
}

/// Whether a transaction was an update or a rollback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// To a new library; the version before stays loaded for probation.
    Update,
    /// Back to the previous version; the version rolled back from is released at once.
    Rollback,
}

/// A phase of the update transaction. (Not `#[non_exhaustive]`: the host, which runs them, matches
/// on every phase.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Copy, open and verify the candidate library.
    Stage,
    /// Try the update in a child process first: open the candidate there, send it a snapshot of
    /// the running state, run the transform and the round trip. Calls are admitted meanwhile.
    Rehearse,
    /// Stop admitting calls, drain in-flight calls, ask the running version to prepare.
    Quiesce,
    /// The running version exports its state.
    Export,
    /// The candidate builds its instance from that state.
    Transform,
    /// The candidate exports its state back; it must equal the running version's export.
    Validate,
    /// Publish the candidate and admit calls again.
    Swap,
}

impl Phase {
    /// The phase's name, lowercase.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Stage => "stage",
            Phase::Rehearse => "rehearse",
            Phase::Quiesce => "quiesce",
            Phase::Export => "export",
            Phase::Transform => "transform",
            Phase::Validate => "validate",
            Phase::Swap => "swap",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How long one phase took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseTiming {
    /// The phase.
    pub phase: Phase,
    /// Its duration.
    #[serde(rename = "micros", with = "micros")]
    pub duration: Duration,
}

/// What a successful update did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateReport {
    /// Update or rollback.
    pub kind: UpdateKind,
    /// The module.
    pub module: String,
    /// The version that ran before.
    pub from_version: semver::Version,
    /// The version that runs now.
    pub to_version: semver::Version,
    /// The schema version of the state before.
    pub from_schema: u32,
    /// The schema version of the state now.
    pub to_schema: u32,
    /// The schema version the state crossed in (the old one for upgrades, the new one for
    /// downgrades, which use the running version's downward migration).
    pub transfer_schema: u32,
    /// Each phase with its duration, in order.
    pub phases: Vec<PhaseTiming>,
    /// The size of the exported state, in bytes.
    pub state_bytes: usize,
    /// How long calls were held: from admission closed to admission reopened.
    #[serde(rename = "pause_micros", with = "micros")]
    pub pause: Duration,
    /// The whole transaction.
    #[serde(rename = "total_micros", with = "micros")]
    pub total: Duration,
    /// Whether the round-trip validation ran inside the pause.
    pub validated: bool,
    /// The rehearsal in a child process, when there was one.
    #[serde(default)]
    pub rehearsal: Option<RehearsalReport>,
    /// Whether the state is transferred lazily: then the pause moved no state, and the entries
    /// move afterwards (see `ModuleStatus::migration`).
    #[serde(default)]
    pub lazy: bool,
}

/// What the rehearsal of an update in a child process measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RehearsalReport {
    /// How long the running version's export of the snapshot took. Calls keep being admitted; the
    /// export holds only the plugin's own locks, for this long.
    #[serde(rename = "snapshot_export_micros", with = "micros")]
    pub snapshot_export: Duration,
    /// The whole rehearsal, from starting the child process to its last report.
    #[serde(rename = "total_micros", with = "micros")]
    pub total: Duration,
    /// Whether the child checked the round trip (the candidate exported the state back and it
    /// equalled the snapshot).
    pub round_trip_checked: bool,
}

impl UpdateReport {
    /// The duration of `phase`, if it ran.
    #[must_use]
    pub fn phase(&self, phase: Phase) -> Option<Duration> {
        self.phases.iter().find(|timing| timing.phase == phase).map(|timing| timing.duration)
    }
}

impl fmt::Display for UpdateReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            formatter,
            "{} {} {} → {} (state schema v{} → v{}, {} bytes{})",
            match self.kind {
                UpdateKind::Update => "updated",
                UpdateKind::Rollback => "rolled back",
            },
            self.module,
            self.from_version,
            self.to_version,
            self.from_schema,
            self.to_schema,
            self.state_bytes,
            match (self.lazy, self.validated, self.rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked)) {
                (true, _, _) => ", lazily: each entry moves and is validated when first touched or by the background pass",
                (false, true, _) => ", validated",
                (false, false, true) => ", validated in the rehearsal",
                (false, false, false) => ", not validated",
            }
        )?;
        if let Some(rehearsal) = &self.rehearsal {
            writeln!(
                formatter,
                "  rehearsed in a child process first: {:.3} ms, of which the snapshot export held the plugin's locks {:.3} ms (calls admitted)",
                rehearsal.total.as_secs_f64() * 1e3,
                rehearsal.snapshot_export.as_secs_f64() * 1e3
            )?;
        }
        for timing in &self.phases {
            writeln!(formatter, "  {:<10} {:>10.3} ms", timing.phase.as_str(), timing.duration.as_secs_f64() * 1e3)?;
        }
        writeln!(formatter, "  {:<10} {:>10.3} ms (calls held)", "pause", self.pause.as_secs_f64() * 1e3)?;
        write!(formatter, "  {:<10} {:>10.3} ms", "total", self.total.as_secs_f64() * 1e3)
    }
}

/// A loaded module, as the host's `status` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    /// The module's name.
    pub name: String,
    /// The version serving calls.
    pub version: semver::Version,
    /// Its state schema version.
    pub schema_version: u32,
    /// The library it was loaded from.
    pub path: PathBuf,
    /// The version that ran before the last update, still loaded for a rollback until probation
    /// ends.
    pub previous_version: Option<semver::Version>,
    /// Milliseconds until probation ends and the previous version is released.
    pub probation_remaining_ms: Option<u64>,
    /// How many updates and rollbacks the module went through.
    pub updates: u64,
    /// Calls inside the module right now.
    pub in_flight: usize,
    /// Why the module was last rolled back automatically at the end of a failed probation (a
    /// failing health check, too many panicking calls), if it was.
    #[serde(default)]
    pub probation_failure: Option<String>,
    /// Released versions of the module whose library is still mapped, each with why.
    #[serde(default)]
    pub libraries_still_mapped: Vec<String>,
    /// Whether the host rehearses this module's updates in a child process (`None` from a host
    /// that predates rehearsals).
    #[serde(default)]
    pub rehearsal: Option<RehearsalStatus>,
    /// The newest snapshot of the module's state this host wrote or restored from, if any (only
    /// with a state directory).
    #[serde(default)]
    pub last_snapshot: Option<SnapshotReport>,
    /// The lazy migration of the module's state into its current version, while one is under way.
    #[serde(default)]
    pub migration: Option<MigrationProgress>,
}

/// How far a lazy migration has come: entries move from the previous version to the current one
/// when first touched, and in a background pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationProgress {
    /// Entries moved to the current version so far.
    pub migrated: u64,
    /// Entries still in the previous version, those that failed to migrate included.
    pub remaining: u64,
    /// Entries that failed to migrate: they stay with the host, calls that touch them fail, and
    /// the migration cannot finish until a rollback brings them back.
    #[serde(default)]
    pub failed: u64,
    /// The first entry that failed, and why.
    #[serde(default)]
    pub first_failure: Option<String>,
}

/// Whether a host rehearses updates in a child process before it pauses the running version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RehearsalStatus {
    /// Every update from a library file is rehearsed first.
    On,
    /// Rehearsals were turned off in the host's configuration.
    Off,
    /// Rehearsals are on in the configuration, but this program cannot run them; updates go ahead
    /// without.
    Unavailable {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for RehearsalStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RehearsalStatus::On => formatter.write_str("on: each update is tried in a child process before the running version is paused"),
            RehearsalStatus::Off => {
                formatter.write_str("off: turned off in the host's configuration; a candidate that crashes takes the host down")
            }
            RehearsalStatus::Unavailable { reason } => {
                write!(formatter, "unavailable: {reason}; a candidate that crashes takes the host down")
            }
        }
    }
}

/// Why a snapshot of a module's state was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotReason {
    /// Asked for: `Host::snapshot`, or `ecdysis snapshot`.
    Requested,
    /// A version was committed explicitly.
    Commit,
    /// A probation period ran out, which commits the version on probation.
    ProbationEnded,
    /// The host's snapshot interval came round.
    Interval,
    /// The host was shut down cleanly.
    Shutdown,
}

impl SnapshotReason {
    /// The reason in a few words.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotReason::Requested => "requested",
            SnapshotReason::Commit => "commit",
            SnapshotReason::ProbationEnded => "probation ended",
            SnapshotReason::Interval => "interval",
            SnapshotReason::Shutdown => "shutdown",
        }
    }
}

/// A snapshot of one module's state on disk: what it holds and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotReport {
    /// The module.
    pub module: String,
    /// The version whose state it holds.
    pub version: semver::Version,
    /// The schema version the state is encoded in (that version's own).
    pub schema_version: u32,
    /// The size of the exported state, in bytes.
    pub state_bytes: u64,
    /// The snapshot file.
    pub path: PathBuf,
    /// The SHA-256 of the library that exported it, hexadecimal; a copy is kept in the state
    /// directory under this name.
    pub library_sha256: String,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub taken_at_unix_ms: u64,
    /// Why it was taken.
    pub reason: SnapshotReason,
}

impl fmt::Display for SnapshotReport {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "snapshot of {} {} (state schema v{}, {} bytes, {}) written to {}",
            self.module,
            self.version,
            self.schema_version,
            self.state_bytes,
            self.reason.as_str(),
            self.path.display()
        )
    }
}

/// One event in a host's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// The module.
    pub module: String,
    /// What happened.
    pub event: HistoryEvent,
}

/// What happened to a module.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HistoryEvent {
    /// The module was loaded.
    Loaded {
        /// Its version.
        version: semver::Version,
        /// The library.
        path: PathBuf,
    },
    /// An update (or rollback) went through.
    Updated {
        /// Its report.
        report: UpdateReport,
    },
    /// An update or rollback was refused or aborted; the running version kept serving.
    Refused {
        /// What was offered, if a library was.
        path: Option<PathBuf>,
        /// Why.
        message: String,
    },
    /// A version on probation failed its checks (its health hook, the host's check, or more
    /// panicking calls than the budget); the host rolls it back, which the next entry records.
    ProbationFailed {
        /// The version that failed.
        version: semver::Version,
        /// Why.
        reason: String,
    },
    /// Probation ended, by `commit` or because its time ran out.
    Committed {
        /// The version released, if one was still loaded.
        released: Option<semver::Version>,
        /// Whether the probation period ran out (rather than an explicit commit).
        expired: bool,
    },
    /// The module's state was written to a snapshot file in the state directory. Periodic
    /// snapshots are not recorded (they would crowd out the rest); `status` shows the newest.
    Snapshotted {
        /// The version whose state it holds.
        version: semver::Version,
        /// The schema version of the state.
        schema_version: u32,
        /// The size of the state, in bytes.
        bytes: u64,
        /// The snapshot file.
        path: PathBuf,
        /// Why it was taken.
        reason: SnapshotReason,
    },
    /// The module was loaded with the state of a snapshot (a warm restart) rather than empty.
    Restored {
        /// The version that runs now.
        version: semver::Version,
        /// The library it runs from: the state directory's copy of the snapshot's library, or the
        /// library given to the load when that copy was gone or changed.
        library: PathBuf,
        /// The library given to the load.
        given: PathBuf,
        /// The snapshot file the state came from.
        snapshot: PathBuf,
        /// The version that wrote the snapshot.
        snapshot_version: semver::Version,
        /// The schema version of the snapshot's state (migrated when it differs from the running
        /// version's).
        snapshot_schema: u32,
    },
    /// The lazy migration into a version finished: every entry moved, by calls or the background
    /// pass. (A migration rolled back is recorded as the rollback.)
    MigrationFinished {
        /// The version the entries moved into.
        version: semver::Version,
        /// How many entries moved.
        moved: u64,
        /// How long the migration took since the swap, in milliseconds.
        elapsed_ms: u64,
    },
}
