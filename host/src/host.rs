//! The [`Host`]: its configuration, the registry of loaded modules, and the operations on them
//! (load, update, commit, status).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ecdysis_plugin_api::Interface;
use parking_lot::Mutex;

use crate::call_path::{Admission, MAX_MODULES, ModuleBit};
use crate::error::{LoadError, UpdateError};
use crate::instance::Instance;
use crate::loader::{LibraryRelease, LoadedLibrary, ReleaseLog};
use crate::module::{Module, ModuleCell};
use crate::transaction::{self, UpdateReport, with_deadline};

/// The host's settings. Build with [`Host::builder`].
#[derive(Clone, Debug)]
pub struct HostConfig {
    pub(crate) quiesce_timeout: Duration,
    pub(crate) hook_timeout: Duration,
    pub(crate) validate: bool,
    pub(crate) library_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig { quiesce_timeout: Duration::from_millis(500), hook_timeout: Duration::from_secs(5), validate: true, library_dir: None }
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

    /// Where private copies of libraries go (default: a new directory under the system's temporary
    /// directory, removed when the host is dropped).
    pub fn library_dir(mut self, directory: impl Into<PathBuf>) -> Self {
        self.config.library_dir = Some(directory.into());
        self
    }

    /// Builds the host.
    ///
    /// # Errors
    /// When the directory for private library copies cannot be created.
    pub fn build(self) -> std::io::Result<Host> {
        let builder = {
            let mut builder = tempfile::Builder::new();
            builder.prefix("ecdysis-libraries-");
            builder
        };
        let library_dir = match &self.config.library_dir {
            Some(parent) => {
                std::fs::create_dir_all(parent)?;
                builder.tempdir_in(parent)?
            }
            None => builder.tempdir()?,
        };
        Ok(Host {
            inner: Arc::new(HostInner {
                config: self.config,
                modules: Mutex::new(BTreeMap::new()),
                library_dir,
                releases: Arc::new(Mutex::new(Vec::new())),
            }),
        })
    }
}

/// Options of one update.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct UpdateOptions {
    pub(crate) allow_downgrade: bool,
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
}

/// A loaded module as [`Host::status`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleStatus {
    /// The module's name.
    pub name: String,
    /// The version serving calls.
    pub version: semver::Version,
    /// Its state schema version.
    pub schema_version: u32,
    /// The library it was loaded from.
    pub path: PathBuf,
    /// The version that ran before the last update, still loaded until commit.
    pub previous_version: Option<semver::Version>,
    /// How many updates the module went through.
    pub updates: u64,
    /// Calls inside the module right now.
    pub in_flight: usize,
}

pub(crate) struct HostInner {
    pub(crate) config: HostConfig,
    modules: Mutex<BTreeMap<String, Arc<ModuleCell>>>,
    library_dir: tempfile::TempDir,
    pub(crate) releases: ReleaseLog,
}

impl HostInner {
    pub(crate) fn library_dir(&self) -> &Path {
        self.library_dir.path()
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

    /// A host with the default settings.
    ///
    /// # Errors
    /// When the directory for private library copies cannot be created.
    pub fn new() -> std::io::Result<Host> {
        Host::builder().build()
    }

    fn cell(&self, module: &str) -> Result<Arc<ModuleCell>, UpdateError> {
        self.inner.modules.lock().get(module).cloned().ok_or_else(|| UpdateError::NoSuchModule { module: module.to_owned() })
    }

    /// Loads the plugin at `path` as a new module implementing `I`, creates its instance with empty
    /// state, and returns a handle to it.
    ///
    /// # Errors
    /// When the file is not a plugin of this ABI, implements another interface than `I`, a module of
    /// the same name is loaded, or the plugin fails to create its instance.
    pub fn load<I: Interface + ?Sized>(&self, path: impl AsRef<Path>) -> Result<Module<I>, LoadError> {
        let path = path.as_ref();
        let span = tracing::info_span!("ecdysis.load", path = %path.display());
        let _entered = span.enter();
        let library = Arc::new(LoadedLibrary::open(path, self.inner.library_dir(), Arc::clone(&self.inner.releases))?);
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
        tracing::info!(module = %info.module, version = %info.version, path = %path.display(), "module loaded");
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
    /// The version that ran before stays loaded until [`Host::commit`] or the next update.
    ///
    /// # Errors
    /// When the candidate is refused (not a plugin, other ABI, module, interface or schema, an older
    /// version without `allow_downgrade`, no migration path) or the transaction aborts (calls did
    /// not drain, a hook refused, failed, panicked or timed out, validation found a difference). In
    /// every case the running version keeps serving with its state untouched.
    pub fn update_with(&self, module: &str, path: impl AsRef<Path>, options: &UpdateOptions) -> Result<UpdateReport, UpdateError> {
        let cell = self.cell(module)?;
        transaction::update(&self.inner, &cell, path.as_ref(), options)
    }

    /// Ends the probation of `module`'s last update: releases the version that ran before it.
    /// Returns the released version, if there was one.
    ///
    /// # Errors
    /// When no such module is loaded.
    pub fn commit(&self, module: &str) -> Result<Option<semver::Version>, UpdateError> {
        let cell = self.cell(module)?;
        let _no_update_meanwhile = cell.transaction.lock();
        let released = cell.versions.lock().previous.take();
        let version = released.as_ref().map(|instance| instance.info().version.clone());
        drop(released);
        Ok(version)
    }

    /// The loaded modules.
    #[must_use]
    pub fn status(&self) -> Vec<ModuleStatus> {
        let cells: Vec<Arc<ModuleCell>> = self.inner.modules.lock().values().cloned().collect();
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
                    updates: versions.updates,
                    in_flight: cell.admission.in_flight(),
                }
            })
            .collect()
    }

    /// Every library this host unloaded so far, with whether it was still mapped afterwards.
    #[must_use]
    pub fn released_libraries(&self) -> Vec<LibraryRelease> {
        self.inner.releases.lock().clone()
    }
}
