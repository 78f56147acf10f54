//! [`HostBuilder`]: a host's configuration, and the start of the host with the operator surfaces
//! it asks for (control socket, watch mode). The top floor: it puts the others together.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use ecdysis_protocol::RehearsalStatus;

use crate::clock::Clock;
use crate::error::BuildError;
use crate::host::{Host, ProbationChecks};
use crate::loading::{Loader, make_library_directory, parse_sha256};
use crate::operating::control::{ControlServer, ControlSocket};
use crate::operating::watch::DirectoryWatcher;
use crate::updating::journal::Journal;
use crate::updating::lazy::MigrationPace;
use crate::updating::snapshot::SnapshotStore;
use crate::updating::transaction::TransactionSettings;

/// The host's settings. Build with [`Host::builder`].
#[derive(Clone, Debug, Default)]
pub struct HostConfig {
    settings: TransactionSettings,
    checks: ProbationChecks,
    library_dir: Option<PathBuf>,
    allowed_directories: Vec<PathBuf>,
    pins: Vec<(PathBuf, String)>,
    control_socket: Option<ControlSocket>,
    watch_directory: Option<PathBuf>,
    state_directory: Option<PathBuf>,
    snapshot_interval: Option<Duration>,
    clock: Clock,
}

/// Builds a [`Host`].
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HostBuilder {
    config: HostConfig,
}

impl HostBuilder {
    /// How long an update waits for in-flight calls to drain before it gives up (default 500 ms).
    pub fn quiesce_timeout(mut self, timeout: Duration) -> Self {
        self.config.settings.quiesce_timeout = timeout;
        self
    }

    /// How long each plugin hook of an update (`prepare`, export, transform, validation export) and
    /// a module's first `create` may run (default 5 s). Calls wait during an update, so this bounds
    /// the worst pause.
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.config.settings.hook_timeout = timeout;
        self
    }

    /// Whether updates validate the state transfer by a round trip (default on): the candidate
    /// exports the state it took over back into the schema it crossed in, and it must equal what
    /// the running version exported. The round trip runs in the rehearsal when there is one (see
    /// [`HostBuilder::rehearse`]), and inside the pause otherwise.
    pub fn validate(mut self, validate: bool) -> Self {
        self.config.settings.validate = validate;
        self
    }

    /// Whether the round trip is checked again inside the pause after the rehearsal checked it on
    /// a snapshot (default off). The check in the pause compares the state as it is at the swap,
    /// and so also catches a transform whose result depends on something other than the state,
    /// at the price of a pause about twice as long.
    pub fn revalidate_in_pause(mut self, revalidate: bool) -> Self {
        self.config.settings.revalidate_in_pause = revalidate;
        self
    }

    /// How the background pass of a lazy update moves the entries nobody touches: `batch` entries
    /// at a time (each batch holds the plugin's own lock, as a call does), then a wait of
    /// `interval`, during which calls have the module to themselves. The default, 1,000 entries
    /// and 1 ms, moves a million small entries in a few seconds.
    ///
    /// # Panics
    /// When `batch` is 0.
    pub fn lazy_migration_pace(mut self, batch: u64, interval: Duration) -> Self {
        assert!(batch > 0, "a lazy migration must move at least one entry per batch");
        self.config.settings.migration_pace = MigrationPace { batch, interval };
        self
    }

    /// How long the previous version stays loaded after an update, ready for a rollback, before it
    /// is released (default 5 minutes). `commit` ends probation early.
    pub fn probation(mut self, probation: Duration) -> Self {
        self.config.settings.probation = probation;
        self
    }

    /// Where private copies of libraries go (default: a new directory under the system's temporary
    /// directory, removed when the host is dropped). A host that was killed cannot remove its
    /// directory; the next host started with the same setting removes it (directories of this
    /// user whose process is gone).
    pub fn library_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.library_dir = Some(directory.into());
        self
    }

    /// Allows loading libraries from `directory` (after resolving symlinks). Once any directory is
    /// allowed, libraries anywhere else are refused (but for the state directory's own copies of
    /// snapshotted libraries, see [`HostBuilder::state_directory`]).
    pub fn allow_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.allowed_directories.push(directory.into());
        self
    }

    /// Pins the library at `path` to a SHA-256 digest (64 hexadecimal digits): a file at that path
    /// with any other content is refused.
    pub fn pin_library(mut self, path: impl Into<PathBuf>, sha256: impl Into<String>) -> Self {
        self.config.pins.push((path.into(), sha256.into()));
        self
    }

    /// Serves the control socket (see [`ControlSocket`]) for the `ecdysis` command-line tool.
    pub fn control_socket(mut self, socket: ControlSocket) -> Self {
        self.config.control_socket = Some(socket);
        self
    }

    /// Watch mode, for development: watches `directory` (not its subdirectories) and, whenever a
    /// `*.so` file in it is created or changed, updates the module that library declares, as
    /// [`Host::update_from_library`] does with default options. Point it at `target/debug` and a
    /// `cargo build` of a plugin updates the running program.
    ///
    /// Changes are debounced (300 ms) and a library is loaded only once its size has stopped
    /// changing, so a half-written file is not read. A library whose content did not change since
    /// it was last seen (or since the host was built, for files already there) is not loaded again.
    /// Outcomes are logged with `tracing`: an update at info level, a refusal (the running version
    /// keeps serving) as a warning, and a library of a module that is not loaded at debug level.
    /// The watcher never keeps the host alive, and stops when the host is dropped.
    pub fn watch_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.watch_directory = Some(directory.into());
        self
    }

    /// How often a version on probation is checked (default every second): its health hook, the
    /// check given to [`HostBuilder::health_check`], and its panicking calls against
    /// [`HostBuilder::panic_budget`]. A version that fails is rolled back to the previous one
    /// automatically, state carried down, and the reason is recorded in the history and shown by
    /// `status`.
    pub fn probation_checks_every(mut self, interval: Duration) -> Self {
        self.config.checks.interval = interval;
        self
    }

    /// How many calls may panic in a version on probation before it is rolled back (default: no
    /// limit).
    pub fn panic_budget(mut self, calls: u64) -> Self {
        self.config.checks.panic_budget = Some(calls);
        self
    }

    /// The embedder's own check of a version on probation, given the module's name: `Err` with a
    /// reason rolls the module back to the previous version.
    pub fn health_check(mut self, check: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) -> Self {
        self.config.checks.check = Some(Arc::new(check));
        self
    }

    /// Whether updates from a library file are rehearsed in a child process before the running
    /// version is paused (default on). A rehearsal opens the candidate in a fresh process (the
    /// program re-executed; its `main` must call [`crate::rehearsal::serve_if_asked`] first), gives
    /// it a snapshot of the running state, runs the transform and the round trip there, and refuses
    /// the update when the candidate crashes, exits, hangs past the hook deadline, fails or loses
    /// data, without ever pausing the running version. A program that cannot rehearse says so when
    /// the host is built (a warning) and in `status`, and updates without.
    pub fn rehearse(mut self, rehearse: bool) -> Self {
        self.config.settings.rehearsal.enabled = rehearse;
        self
    }

    /// How much address space a rehearsal process may use beyond four times the size of the state
    /// it is given (default [`crate::rehearsal::DEFAULT_MEMORY_ALLOWANCE`], 1 GiB). A candidate that
    /// allocates more fails its rehearsal instead of exhausting the host's memory.
    pub fn rehearsal_memory_allowance(mut self, bytes: u64) -> Self {
        self.config.settings.rehearsal.memory_allowance = bytes;
        self
    }

    /// Keeps the host's durable state in `directory` (created if missing): the journal of every
    /// load, update, rollback, refusal and commit, appended and `fsync`'d as each happens, which a
    /// host started later on the same directory reads back (`Host::history`, `ecdysis history`);
    /// and snapshots of the modules' state, written on request ([`Host::snapshot`]), after every
    /// commit (explicit or at the end of probation) that changed the state, at a clean
    /// [`Host::shutdown`], and every [`HostBuilder::snapshot_interval`]. A host started later on
    /// the same directory loads a module back from its newest snapshot ([`Host::load`]). One host
    /// at a time may use a directory.
    ///
    /// The directory is trusted as much as the plugin directories: a warm restart loads the copies
    /// of snapshotted libraries kept there (verified by the SHA-256 their snapshots name) without
    /// [`HostBuilder::allow_directory`] and pins. Keep it owned by the host's user and writable by
    /// nobody else.
    pub fn state_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.state_directory = Some(directory.into());
        self
    }

    /// With a state directory, snapshots every module whose state changed every `interval` (by
    /// default only on request, after commits and at shutdown). A crash or SIGKILL loses the writes
    /// since the newest snapshot, so this bounds what it loses by time. Without a state directory
    /// it does nothing.
    pub fn snapshot_interval(mut self, interval: Duration) -> Self {
        self.config.snapshot_interval = Some(interval);
        self
    }

    /// The clock the host hands to the plugins it loads (`ecdysis_plugin_api::clock` reads it) and
    /// schedules their ticks on (default [`Clock::system`]). With [`Clock::manual`], time stands
    /// still for plugin code until the test that holds the clock advances it, which also runs the
    /// ticks that became due. The clock is installed into each library as it is loaded; a
    /// rehearsal process runs on the system's clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self
    }

    /// Builds the host, and starts its control socket and directory watcher if they were asked
    /// for.
    ///
    /// # Errors
    /// When the directory for private copies cannot be made, an allowed directory or a pinned
    /// library cannot be resolved, a pin is not a SHA-256 digest, the control socket cannot be set
    /// up safely, the directory to watch does not exist or cannot be watched, or the state directory
    /// cannot be used (see [`HostBuilder::state_directory`]).
    pub fn build(self) -> Result<Host, BuildError> {
        let config = self.config;
        let library_dir = make_library_directory(config.library_dir.as_deref()).map_err(BuildError::LibraryDirectory)?;
        let allowed_directories = config
            .allowed_directories
            .iter()
            .map(|directory| directory.canonicalize().map_err(|source| BuildError::AllowedDirectory { path: directory.clone(), source }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pins = HashMap::new();
        for (path, digest) in &config.pins {
            let canonical = path.canonicalize().map_err(|error| BuildError::Pin { path: path.clone(), reason: error.to_string() })?;
            let digest = parse_sha256(digest)
                .ok_or_else(|| BuildError::Pin { path: path.clone(), reason: format!("`{digest}` is not 64 hexadecimal digits") })?;
            pins.insert(canonical, digest);
        }
        let loader = Loader {
            library_dir,
            releases: Arc::new(Mutex::new(std::collections::VecDeque::new())),
            allowed_directories,
            pins,
            clock: config.clock.clone(),
        };
        let journal = match &config.state_directory {
            Some(directory) => Journal::open(directory)?,
            None => Journal::in_memory(),
        };
        // Opened after the journal, which holds the directory's lock.
        let snapshots = match &config.state_directory {
            Some(directory) => Some(SnapshotStore::open(directory, config.snapshot_interval)?),
            None => {
                if config.snapshot_interval.is_some() {
                    tracing::warn!("a snapshot interval was set without a state directory; no snapshots are written");
                }
                None
            }
        };
        let host = Host::start(config.settings, config.checks, loader, journal, snapshots, config.clock);
        if let RehearsalStatus::Unavailable { reason } = host.rehearsal_status() {
            tracing::warn!("updates will not be rehearsed in a child process: {reason}; a candidate that crashes takes this process down");
        }
        if let Some(socket) = &config.control_socket {
            let server = ControlServer::start(socket, host.downgrade())?;
            host.set_control_socket_path(server.path().to_owned());
            host.attach_operator(Box::new(server));
        }
        if let Some(directory) = &config.watch_directory {
            let watcher = DirectoryWatcher::start(directory, host.downgrade())?;
            host.attach_operator(Box::new(watcher));
        }
        Ok(host)
    }
}

impl Host {
    /// A builder with the default settings.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// A host with the default settings (no control socket).
    ///
    /// # Errors
    /// When the directory for private library copies cannot be created.
    pub fn new() -> Result<Host, BuildError> {
        Host::builder().build()
    }
}
