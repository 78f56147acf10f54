//! The host's errors: [`LoadError`] when a library is refused, [`UpdateError`] when an update is
//! refused or aborted, [`SnapshotError`] when a snapshot is not written. Every message names what was wrong; none of them leaves a change behind.
//!
//! A message never repeats its cause: the cause is only the `#[source]`, and people see both through
//! [`ErrorChain`](ecdysis_protocol::ErrorChain).

use std::path::PathBuf;
use std::time::Duration;

use ecdysis_plugin_api::CallError;
use ecdysis_protocol::ErrorKind;

/// Why a plugin library was not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The path does not exist.
    #[error("plugin library `{path}` does not exist")]
    NotFound {
        /// The path given.
        path: PathBuf,
    },
    /// The path is a directory.
    #[error("plugin library `{path}` is a directory, not a file")]
    IsADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The file is empty.
    #[error("plugin library `{path}` is an empty file")]
    EmptyFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file is not an ELF shared object.
    #[error("`{path}` is not a shared library: {reason}")]
    NotASharedLibrary {
        /// The path given.
        path: PathBuf,
        /// What the header showed.
        reason: &'static str,
    },
    /// The file is an ELF shared object, but not one this host can open safely: another class,
    /// byte order or machine, or cut short.
    #[error("`{path}` cannot be loaded: {reason}")]
    NotLoadable {
        /// The path given.
        path: PathBuf,
        /// What reading it as an ELF object showed.
        reason: String,
    },
    /// Reading or copying the file failed.
    #[error("could not read `{path}`")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `dlopen` refused the library.
    #[error("could not open shared library `{path}`")]
    Open {
        /// The path given.
        path: PathBuf,
        /// The loader's error.
        #[source]
        source: libloading::Error,
    },
    /// The library exports no descriptor.
    #[error(
        "`{path}` is a shared library but not an ecdysis plugin: it exports no `ECDYSIS_PLUGIN_DESCRIPTOR` (build it with `ecdysis_plugin_api::export_plugin!`)"
    )]
    NotAPlugin {
        /// The path given.
        path: PathBuf,
    },
    /// The descriptor's magic bytes are wrong.
    #[error("`{path}` exports `ECDYSIS_PLUGIN_DESCRIPTOR`, but it does not start with the ecdysis magic bytes")]
    BadMagic {
        /// The path given.
        path: PathBuf,
    },
    /// The plugin was built against another version of the binary contract.
    #[error(
        "`{path}` was built for plugin ABI version {found}, but this host speaks version {expected}; rebuild the plugin against the host's ecdysis-plugin-api"
    )]
    AbiMismatch {
        /// The path given.
        path: PathBuf,
        /// The plugin's ABI version.
        found: u32,
        /// The host's ABI version.
        expected: u32,
    },
    /// The descriptor is malformed (size, UTF-8, version string).
    #[error("`{path}` has a malformed plugin descriptor: {reason}")]
    BadDescriptor {
        /// The path given.
        path: PathBuf,
        /// What is malformed.
        reason: String,
    },
    /// The plugin implements another interface than the one asked for.
    #[error(
        "`{path}` implements interface `{found_id}` (fingerprint {found_fingerprint:016x}), but interface `{expected_id}` (fingerprint {expected_fingerprint:016x}) is required"
    )]
    InterfaceMismatch {
        /// The path given.
        path: PathBuf,
        /// The plugin's interface id.
        found_id: String,
        /// The plugin's interface fingerprint.
        found_fingerprint: u64,
        /// The required interface id.
        expected_id: String,
        /// The required interface fingerprint.
        expected_fingerprint: u64,
    },
    /// The library lies outside the allowed directories.
    #[error("`{path}` is outside the directories plugins may be loaded from ({})", list_paths(allowed))]
    NotAllowed {
        /// The path given.
        path: PathBuf,
        /// The allowed directories.
        allowed: Vec<PathBuf>,
    },
    /// The library's SHA-256 differs from its pin.
    #[error("`{path}` has SHA-256 {found}, but it is pinned to {expected}")]
    HashMismatch {
        /// The path given.
        path: PathBuf,
        /// The pinned digest, hexadecimal.
        expected: String,
        /// The file's digest, hexadecimal.
        found: String,
    },
    /// A module of that name is already loaded; use an update instead.
    #[error("module `{module}` is already loaded; update it instead of loading it again")]
    AlreadyLoaded {
        /// The module's name.
        module: String,
    },
    /// Every module slot of the process is taken.
    #[error("cannot load module `{module}`: at most {max} modules can be loaded in one process")]
    TooManyModules {
        /// The module's name.
        module: String,
        /// The limit.
        max: usize,
    },
    /// The plugin's `create` failed or panicked.
    #[error("module `{module}` {version} could not create its instance")]
    Create {
        /// The module's name.
        module: String,
        /// The plugin's version.
        version: semver::Version,
        /// What the plugin reported.
        #[source]
        source: CallError,
    },
    /// The plugin's `create` did not return in time.
    #[error("module `{module}` {version} did not create its instance within {deadline:?}")]
    CreateTimeout {
        /// The module's name.
        module: String,
        /// The plugin's version.
        version: semver::Version,
        /// The deadline.
        deadline: Duration,
    },
    /// A snapshot file of the module is in another format version than this host reads; it is
    /// left as it is.
    #[error(
        "snapshot `{path}` is in format version {found}, and this host reads version {supported}; move it away (the module then starts from the next snapshot or empty) or use a matching ecdysis"
    )]
    SnapshotFormat {
        /// The snapshot file.
        path: PathBuf,
        /// The format version in the file.
        found: String,
        /// The format version this host reads.
        supported: u32,
    },
    /// The module has snapshots in the state directory, but its state could not be restored from
    /// any of them.
    #[error("cannot restore module `{module}` from snapshot `{snapshot}`: {reason}")]
    Restore {
        /// The module's name.
        module: String,
        /// The snapshot file.
        snapshot: PathBuf,
        /// What stands in the way, and what to do about it.
        reason: String,
        /// The plugin's error, when one refused the state.
        #[source]
        source: Option<CallError>,
    },
}

/// Why a snapshot of a module's state was not written. The module keeps serving either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The host has no state directory to write snapshots to.
    #[error("this host has no state directory to write snapshots to (see `HostBuilder::state_directory`)")]
    NoStateDirectory,
    /// No module of that name is loaded.
    #[error("no module named `{module}` is loaded")]
    NoSuchModule {
        /// The name asked for.
        module: String,
    },
    /// The running version could not export its state.
    #[error("{module} {version} could not export its state for a snapshot")]
    Export {
        /// The module's name.
        module: String,
        /// The running version.
        version: semver::Version,
        /// The plugin's error.
        #[source]
        source: CallError,
    },
    /// The running version's export did not return in time.
    #[error("{module} {version} did not export its state for a snapshot within {deadline:?}")]
    ExportTimeout {
        /// The module's name.
        module: String,
        /// The running version.
        version: semver::Version,
        /// The deadline.
        deadline: Duration,
    },
    /// A lazy migration could not be finished first, because entries failed to migrate.
    #[error(
        "{module} cannot be snapshotted: its lazy migration cannot finish, {failed} entries failed to migrate (the first: {first_failure}); roll back to bring them back"
    )]
    MigrationCannotFinish {
        /// The module's name.
        module: String,
        /// Entries that failed to migrate.
        failed: u64,
        /// The first of them and why.
        first_failure: String,
    },
    /// A lazy migration could not be finished first: the plugin failed to move entries.
    #[error("{module} cannot be snapshotted: its lazy migration could not be finished first")]
    MigrationFailed {
        /// The module's name.
        module: String,
        /// The plugin's error.
        #[source]
        source: CallError,
    },
    /// Writing the snapshot or the copy of its library failed; no partial file is left under a
    /// snapshot's name.
    #[error("could not write `{path}`")]
    Write {
        /// The file or directory being written.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<&SnapshotError> for ErrorKind {
    fn from(error: &SnapshotError) -> Self {
        match error {
            SnapshotError::NoSuchModule { .. } => ErrorKind::NoSuchModule,
            SnapshotError::ExportTimeout { .. } => ErrorKind::Timeout,
            SnapshotError::Export { .. } | SnapshotError::Write { .. } | SnapshotError::MigrationFailed { .. } => ErrorKind::Aborted,
            SnapshotError::NoStateDirectory | SnapshotError::MigrationCannotFinish { .. } => ErrorKind::Refused,
        }
    }
}

/// Why an update was refused or aborted. In every case the running version keeps serving with its
/// state untouched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// No module of that name is loaded.
    #[error("no module named `{module}` is loaded")]
    NoSuchModule {
        /// The name asked for.
        module: String,
    },
    /// The candidate library was refused by the loader.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The candidate is a plugin for another module.
    #[error("`{path}` is a plugin for module `{found}`, not for `{expected}`")]
    WrongModule {
        /// The candidate's path.
        path: PathBuf,
        /// The candidate's module name.
        found: String,
        /// The running module's name.
        expected: String,
    },
    /// The candidate implements another interface, or another version of it.
    #[error(
        "`{path}` implements interface `{found_id}` (fingerprint {found_fingerprint:016x}), but module `{module}` runs interface `{expected_id}` (fingerprint {expected_fingerprint:016x})"
    )]
    InterfaceMismatch {
        /// The candidate's path.
        path: PathBuf,
        /// The module's name.
        module: String,
        /// The candidate's interface id.
        found_id: String,
        /// The candidate's fingerprint.
        found_fingerprint: u64,
        /// The running interface id.
        expected_id: String,
        /// The running fingerprint.
        expected_fingerprint: u64,
    },
    /// The candidate keeps another state schema.
    #[error("`{path}` keeps state schema `{found}`, but module `{module}` keeps `{expected}`")]
    SchemaMismatch {
        /// The candidate's path.
        path: PathBuf,
        /// The module's name.
        module: String,
        /// The candidate's schema name.
        found: String,
        /// The running schema name.
        expected: String,
    },
    /// The candidate is older than the running version and downgrades were not allowed.
    #[error("`{path}` is {module} {candidate}, older than the running {running}; allow a downgrade explicitly to go back")]
    Downgrade {
        /// The candidate's path.
        path: PathBuf,
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The running version.
        running: semver::Version,
    },
    /// The candidate cannot read the running version's state schema.
    #[error("{module} {candidate} cannot take over state of schema v{from}: it has no migration path from v{from} to v{to}")]
    NoMigrationPath {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The running schema version.
        from: u32,
        /// The candidate's schema version.
        to: u32,
    },
    /// Validation is on, but the candidate cannot export state in the running schema.
    #[error(
        "cannot validate the update: {module} {candidate} cannot export its state down to schema v{to}; add a downward migration step or turn validation off"
    )]
    NoValidationPath {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The running schema version.
        to: u32,
    },
    /// A lazy update was asked for, but a version involved does not keep keyed state.
    #[error(
        "module `{module}` cannot be updated lazily: {role} {version} does not keep keyed state (it does not implement `KeyedState`); update it eagerly"
    )]
    NotKeyed {
        /// The module's name.
        module: String,
        /// Which version: "the running version" or "the candidate".
        role: &'static str,
        /// Its version.
        version: semver::Version,
    },
    /// An update or a commit was asked for while a lazy migration is still under way.
    #[error(
        "cannot {operation} module `{module}` while its state is still migrating lazily into version {version} ({remaining} entries remain, {failed} failed to migrate): wait until `ecdysis status` shows no migration, or roll back"
    )]
    MigrationUnderWay {
        /// The module's name.
        module: String,
        /// What was refused: "update" or "commit".
        operation: &'static str,
        /// The version the entries move into.
        version: semver::Version,
        /// Entries still in the previous version.
        remaining: u64,
        /// Entries that failed to migrate.
        failed: u64,
    },
    /// The new version of a lazy update could not be made ready to take the state over.
    #[error("version {candidate} of module `{module}` cannot take over the state lazily")]
    LazyTransfer {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// What the plugin said.
        #[source]
        source: CallError,
    },
    /// A rollback during a lazy migration could not bring the entries back.
    #[error("the rollback of module `{module}` during its lazy migration failed while {step}")]
    RollbackDuringMigration {
        /// The module's name.
        module: String,
        /// What it was doing.
        step: &'static str,
        /// What the plugin said.
        #[source]
        source: CallError,
    },
    /// A rollback was asked for, but no previous version is loaded.
    #[error("module `{module}` has no previous version to roll back to (none was updated since the last commit)")]
    NothingToRollBack {
        /// The module's name.
        module: String,
    },
    /// In-flight calls did not drain in time.
    #[error("module `{module}` did not quiesce within {waited:?}: {in_flight} call(s) were still in flight")]
    QuiesceTimeout {
        /// The module's name.
        module: String,
        /// How long the host waited.
        waited: Duration,
        /// Calls still in flight at the deadline.
        in_flight: usize,
    },
    /// The update's rehearsal in a child process failed: the candidate crashed, exited, hung,
    /// failed or lost data there, and the running version was never paused.
    #[error("the {transition} `{}` was refused: its rehearsal in a child process failed {step}", path.display())]
    Rehearsal {
        /// `update to` or `rollback to`.
        transition: &'static str,
        /// The candidate library.
        path: PathBuf,
        /// The step the rehearsal was in.
        step: RehearsalStep,
        /// What happened.
        #[source]
        failure: RehearsalFailure,
    },
    /// A plugin hook did not return in time (`prepare`, `export`, `transform`, `validate`).
    #[error("{module} {version} did not finish `{hook}` within {deadline:?}; the update was abandoned")]
    HookTimeout {
        /// The module's name.
        module: String,
        /// The version whose hook hung.
        version: semver::Version,
        /// The hook.
        hook: &'static str,
        /// The deadline.
        deadline: Duration,
    },
    /// The running version refused to reach an update point.
    #[error("{module} {version} refused to prepare for the update")]
    PrepareRefused {
        /// The module's name.
        module: String,
        /// The running version.
        version: semver::Version,
        /// The plugin's reason.
        #[source]
        source: CallError,
    },
    /// The running version could not export its state.
    #[error("{module} {version} could not export its state")]
    Export {
        /// The module's name.
        module: String,
        /// The running version.
        version: semver::Version,
        /// The plugin's error.
        #[source]
        source: CallError,
    },
    /// The candidate's transform failed or panicked.
    #[error("{module} {candidate} could not take over the state of schema v{from}")]
    Transform {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The schema version of the state.
        from: u32,
        /// The plugin's error (a panic is `CallError::Panicked`).
        #[source]
        source: CallError,
    },
    /// The candidate could not export its new state back down for validation.
    #[error("validation failed: {module} {candidate} could not export its state back to schema v{schema}")]
    ValidationExport {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The running schema version.
        schema: u32,
        /// The plugin's error.
        #[source]
        source: CallError,
    },
    /// The round trip did not give back the running version's state.
    #[error(
        "validation failed: {module} {candidate} exported its state back to schema v{schema} differently than {running} exported it: {difference}"
    )]
    ValidationMismatch {
        /// The module's name.
        module: String,
        /// The candidate's version.
        candidate: semver::Version,
        /// The running version.
        running: semver::Version,
        /// The running schema version.
        schema: u32,
        /// The first difference found.
        difference: String,
    },
    /// Admission to the module could not be closed: the memory barrier that makes every caller
    /// visible to the update failed.
    #[error(
        "could not pause module `{module}` for the update: the memory barrier that makes its callers visible failed (is the `membarrier` system call filtered by a seccomp policy?); it keeps serving"
    )]
    AdmissionFence {
        /// The module's name.
        module: String,
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<&UpdateError> for ErrorKind {
    fn from(error: &UpdateError) -> Self {
        match error {
            UpdateError::NoSuchModule { .. } | UpdateError::NothingToRollBack { .. } => ErrorKind::NoSuchModule,
            UpdateError::QuiesceTimeout { .. } | UpdateError::HookTimeout { .. } => ErrorKind::Timeout,
            UpdateError::PrepareRefused { .. }
            | UpdateError::Export { .. }
            | UpdateError::Transform { .. }
            | UpdateError::ValidationExport { .. }
            | UpdateError::ValidationMismatch { .. }
            | UpdateError::Rehearsal { .. }
            | UpdateError::LazyTransfer { .. }
            | UpdateError::RollbackDuringMigration { .. } => ErrorKind::Aborted,
            _ => ErrorKind::Refused,
        }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|path| format!("`{}`", path.display())).collect::<Vec<_>>().join(", ")
}

/// Why a host could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The directory for private library copies could not be made.
    #[error("could not create a directory for private library copies")]
    LibraryDirectory(#[source] std::io::Error),
    /// An allowed directory does not exist or cannot be resolved.
    #[error("allowed plugin directory `{path}` cannot be resolved")]
    AllowedDirectory {
        /// The directory given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A pinned library does not exist, or its digest is not 64 hexadecimal digits.
    #[error("pin for `{path}` is invalid: {reason}")]
    Pin {
        /// The library given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The control socket could not be set up.
    #[error("could not set up the control socket at `{path}`: {reason}")]
    ControlSocket {
        /// The socket's path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The state directory cannot be used: it cannot be made or read, another host uses it, or its
    /// journal is of another format.
    #[error("cannot use state directory `{path}`: {reason}")]
    StateDirectory {
        /// The directory given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// The system's error, when there is one.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The directory given to `HostBuilder::watch_directory` cannot be watched.
    #[error("could not watch `{path}` for plugin libraries: {reason}")]
    Watch {
        /// The directory given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The step a rehearsal was in when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RehearsalStep {
    /// Starting the child process.
    Start,
    /// Opening the candidate library (its initialisers run).
    Open,
    /// Taking a snapshot of the running state, in the host.
    Snapshot,
    /// The running version's migration of the snapshot down to the candidate's older schema (a
    /// downgrade or a rollback), run in the child on a copy of the running version.
    MigrateDown,
    /// The candidate's transform of the snapshot.
    Transform,
    /// The candidate's export of its state back, and the comparison.
    RoundTrip,
    /// For a lazy update: every entry moved from a copy of the running version into the candidate,
    /// each through the entry migrations and its own round trip.
    MigrateEntries,
}

impl std::fmt::Display for RehearsalStep {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            RehearsalStep::Start => "while starting the rehearsal process",
            RehearsalStep::Open => "while opening the library (its initialisers run there)",
            RehearsalStep::Snapshot => "while taking the snapshot of the running state",
            RehearsalStep::MigrateDown => "during the running version's migration down to the older schema",
            RehearsalStep::Transform => "during the transform",
            RehearsalStep::RoundTrip => "during the round trip",
            RehearsalStep::MigrateEntries => "during the lazy migration of every entry",
        })
    }
}

/// What went wrong in a rehearsal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RehearsalFailure {
    /// The child process could not be started.
    #[error("the rehearsal process could not be started")]
    Spawn(#[source] std::io::Error),
    /// The child was killed by a signal.
    #[error("the rehearsal process was killed by signal {signal} ({name}){}", last_words(.stderr))]
    Killed {
        /// The signal's number.
        signal: i32,
        /// The signal's name.
        name: &'static str,
        /// The last line the child wrote to its standard error.
        stderr: Option<String>,
    },
    /// The child exited before it reported.
    #[error("the rehearsal process exited with status {code}{}", last_words(.stderr))]
    Exited {
        /// Its exit status.
        code: i32,
        /// The last line the child wrote to its standard error.
        stderr: Option<String>,
    },
    /// The child did not report within the deadline; it was killed.
    #[error("the rehearsal process did not report within {deadline:?} and was killed")]
    TimedOut {
        /// The deadline.
        deadline: Duration,
    },
    /// The candidate reported an error or a panic.
    #[error("{message}")]
    Plugin {
        /// What the candidate reported.
        message: String,
    },
    /// The candidate's state, exported back, differs from the snapshot.
    #[error("the state exported back differs from the snapshot: {difference}")]
    Mismatch {
        /// The first difference.
        difference: String,
    },
    /// The snapshot could not be taken in the host.
    #[error("{message}")]
    Snapshot {
        /// Why.
        message: String,
    },
    /// The child said something the host does not understand, or the pipe broke.
    #[error("the conversation with the rehearsal process broke: {detail}")]
    Protocol {
        /// What went wrong.
        detail: String,
    },
}

fn last_words(stderr: &Option<String>) -> String {
    stderr.as_ref().map(|line| format!("; its last words: `{line}`")).unwrap_or_default()
}
