//! The [`Host`]: its configuration, the registry of loaded modules, and the operations on them
//! (load, update, rollback, commit, status, history).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::Interface;
use ecdysis_protocol::{ErrorChain, HistoryEntry, HistoryEvent, ModuleStatus, UpdateReport};
use parking_lot::Mutex;

use crate::call_path::{Admission, MAX_MODULES, ModuleBit};
use crate::control::{ControlServer, ControlSocket};
use crate::error::{BuildError, LoadError, UpdateError};
use crate::ffi::Instance;
use crate::journal::Journal;
use crate::loader::{LibraryRelease, Loader, parse_sha256};
use crate::module::{Module, ModuleCell};
use crate::transaction::{self, Candidate, with_deadline};
use crate::watch::DirectoryWatcher;

/// The host's settings. Build with [`Host::builder`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    pub(crate) quiesce_timeout: Duration,
    pub(crate) hook_timeout: Duration,
    pub(crate) validate: bool,
    pub(crate) probation: Duration,
    library_dir: Option<PathBuf>,
    allowed_directories: Vec<PathBuf>,
    pins: Vec<(PathBuf, String)>,
    control_socket: Option<ControlSocket>,
    watch_directory: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            quiesce_timeout: Duration::from_millis(500),
            hook_timeout: Duration::from_secs(5),
            validate: true,
            probation: Duration::from_secs(300),
            library_dir: None,
            allowed_directories: Vec::new(),
            pins: Vec::new(),
            control_socket: None,
            watch_directory: None,
        }
    }
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
        self.config.quiesce_timeout = timeout;
        self
    }

    /// How long each plugin hook of an update (`prepare`, export, transform, validation export) and
    /// a module's first `create` may run (default 5 s). Calls wait during an update, so this bounds
    /// the worst pause.
    pub fn hook_timeout(mut self, timeout: Duration) -> Self {
        self.config.hook_timeout = timeout;
        self
    }

    /// Whether updates validate the state transfer by a round trip (default on).
    pub fn validate(mut self, validate: bool) -> Self {
        self.config.validate = validate;
        self
    }

    /// How long the previous version stays loaded after an update, ready for a rollback, before it
    /// is released (default 5 minutes). `commit` ends probation early.
    pub fn probation(mut self, probation: Duration) -> Self {
        self.config.probation = probation;
        self
    }

    /// Where private copies of libraries go (default: a new directory under the system's temporary
    /// directory, removed when the host is dropped).
    pub fn library_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.library_dir = Some(directory.into());
        self
    }

    /// Allows loading libraries from `directory` (after resolving symlinks). Once any directory is
    /// allowed, libraries anywhere else are refused.
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

    /// Builds the host, and starts its control socket and directory watcher if they were asked
    /// for.
    ///
    /// # Errors
    /// When the directory for private copies cannot be made, an allowed directory or a pinned
    /// library cannot be resolved, a pin is not a SHA-256 digest, the control socket cannot be set
    /// up safely, or the directory to watch does not exist or cannot be watched.
    pub fn build(self) -> Result<Host, BuildError> {
        let config = self.config;
        let mut builder = tempfile::Builder::new();
        builder.prefix("ecdysis-libraries-");
        let library_dir = match &config.library_dir {
            Some(parent) => std::fs::create_dir_all(parent).and_then(|()| builder.tempdir_in(parent)),
            None => builder.tempdir(),
        }
        .map_err(BuildError::LibraryDirectory)?;
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
        let control_socket = config.control_socket.clone();
        let watch_directory = config.watch_directory.clone();
        let inner = Arc::new(HostInner {
            config,
            modules: Mutex::new(BTreeMap::new()),
            loader: Loader { library_dir, releases: Arc::new(Mutex::new(std::collections::VecDeque::new())), allowed_directories, pins },
            journal: Journal::default(),
            control: Mutex::new(None),
            watcher: Mutex::new(None),
        });
        spawn_probation_keeper(Arc::downgrade(&inner));
        if let Some(socket) = control_socket {
            let server = ControlServer::start(&socket, Arc::downgrade(&inner))?;
            *inner.control.lock() = Some(server);
        }
        if let Some(directory) = watch_directory {
            let watcher = DirectoryWatcher::start(&directory, Arc::downgrade(&inner))?;
            *inner.watcher.lock() = Some(watcher);
        }
        Ok(Host { inner })
    }
}

/// Options of one update.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct UpdateOptions {
    pub(crate) allow_downgrade: bool,
    pub(crate) force: bool,
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

    pub(crate) fn migration_options(&self) -> ecdysis_plugin_api::MigrationOptions {
        ecdysis_plugin_api::MigrationOptions::forced(self.force)
    }
}

pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    modules: Mutex<BTreeMap<String, Arc<ModuleCell>>>,
    pub(crate) loader: Loader,
    journal: Journal,
    control: Mutex<Option<ControlServer>>,
    /// The directory watcher of watch mode; dropping it stops it.
    watcher: Mutex<Option<DirectoryWatcher>>,
}

/// Releases previous versions whose probation ran out, until the host is dropped.
fn spawn_probation_keeper(host: Weak<HostInner>) {
    let spawned = std::thread::Builder::new().name("ecdysis-probation".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            let Some(host) = host.upgrade() else { return };
            Host { inner: host }.release_expired_probations();
        }
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the probation thread; previous versions are released only by commit");
    }
}

/// Loads plugins as modules and updates them live. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Host {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Host")
            .field("config", &self.inner.config)
            .field("modules", &self.inner.modules.lock().keys().collect::<Vec<_>>())
            .finish()
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

    fn cell(&self, module: &str) -> Result<Arc<ModuleCell>, UpdateError> {
        self.inner.modules.lock().get(module).cloned().ok_or_else(|| UpdateError::NoSuchModule { module: module.to_owned() })
    }

    /// Loads the plugin at `path` as a new module implementing `I`, creates its instance with empty
    /// state, and returns a handle to it.
    ///
    /// # Errors
    /// When the file is not a plugin of this ABI, lies outside the allowed directories or differs
    /// from its pin, implements another interface than `I`, a module of the same name is loaded, or
    /// the plugin fails to create its instance.
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
        let deadline = self.inner.config.hook_timeout;
        let creating = Arc::clone(&library);
        let instance = match with_deadline("create", deadline, move || Instance::create(&creating)) {
            None => return Err(LoadError::CreateTimeout { module: info.module, version: info.version, deadline }),
            Some(Err(source)) => return Err(LoadError::Create { module: info.module, version: info.version, source }),
            Some(Ok(instance)) => Arc::new(instance),
        };
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
        tracing::info!(module = %info.module, version = %info.version, path = %path.display(), "module loaded");
        self.inner.journal.record(&info.module, HistoryEvent::Loaded { version: info.version, path: path.to_owned() });
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
            transaction::update(&self.inner, &cell, Candidate::Path(path), options)
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
        let library = match self.inner.loader.open(path) {
            Ok(library) => Arc::new(library),
            Err(error) => {
                let error = UpdateError::Load(error);
                let message = ErrorChain(&error).to_string();
                self.inner.journal.record("?", HistoryEvent::Refused { path: Some(path.to_owned()), message });
                return Err(error);
            }
        };
        let module = library.info().module.clone();
        let result = self.cell(&module).and_then(|cell| {
            let _one_transaction_at_a_time = cell.transaction.lock();
            transaction::update(&self.inner, &cell, Candidate::Opened(library), options)
        });
        self.record_outcome(&module, Some(path), &result);
        result
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
        let options = options.clone().allow_downgrade(true);
        let result = self.cell(module).and_then(|cell| {
            let _one_transaction_at_a_time = cell.transaction.lock();
            let previous = cell.versions.lock().previous.as_ref().map(|previous| Arc::clone(previous.library()));
            let previous = previous.ok_or_else(|| UpdateError::NothingToRollBack { module: module.to_owned() })?;
            transaction::update(&self.inner, &cell, Candidate::Previous(previous), &options)
        });
        self.record_outcome(module, None, &result);
        result
    }

    fn record_outcome(&self, module: &str, path: Option<&Path>, result: &Result<UpdateReport, UpdateError>) {
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
        let released = cell.end_probation();
        let version = released.as_ref().map(|instance| instance.info().version.clone());
        drop(released);
        self.inner.journal.record(module, HistoryEvent::Committed { released: version.clone(), expired: false });
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
            if let Some(released) = cell.release_if_expired(now) {
                let version = released.info().version.clone();
                drop(released);
                tracing::info!(module = %cell.name, %version, "probation ended; previous version released");
                self.inner.journal.record(&cell.name, HistoryEvent::Committed { released: Some(version), expired: true });
            }
        }
    }

    /// The loaded modules.
    #[must_use]
    pub fn status(&self) -> Vec<ModuleStatus> {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
        let now = Instant::now();
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

    /// Where the control socket listens, if it was turned on.
    #[must_use]
    pub fn control_socket_path(&self) -> Option<PathBuf> {
        self.inner.control.lock().as_ref().map(|server| server.path().to_owned())
    }
}
