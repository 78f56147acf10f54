//! Loading a plugin library: checks on the file, a private copy, `dlopen`, and verification of the
//! exported descriptor before any plugin code is called; and unloading, with a check that the
//! library really left the address space.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ecdysis_plugin_api::ABI_VERSION;
use ecdysis_plugin_api::descriptor::{MAGIC, PluginDescriptor};
use ecdysis_plugin_api::ffi::RawStr;
use ecdysis_plugin_api::migrate::find_route;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::LoadError;
use crate::loading::elf;
use crate::loading::open::{InstalledClock, OpenError, OpenedLibrary};

/// What a plugin's descriptor says about it, copied into host memory.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginInfo {
    /// The module the plugin implements.
    pub module: String,
    /// The plugin's version.
    pub version: semver::Version,
    /// The interface id.
    pub interface_id: String,
    /// The interface fingerprint.
    pub interface_fingerprint: u64,
    /// The state schema's name.
    pub schema_name: String,
    /// The state schema's version.
    pub schema_version: u32,
    /// The migration steps the plugin can run, as `(from, to)` schema versions.
    pub migrations: Vec<(u32, u32)>,
    /// The path the library was loaded from (not the private copy).
    pub path: PathBuf,
}

impl PluginInfo {
    /// Whether this plugin can take over state of schema version `version`.
    #[must_use]
    pub fn can_import(&self, version: u32) -> bool {
        find_route(&self.migrations, version, self.schema_version).is_some()
    }

    /// Whether this plugin can export its state in schema version `version`.
    #[must_use]
    pub fn can_export(&self, version: u32) -> bool {
        find_route(&self.migrations, self.schema_version, version).is_some()
    }

    /// The older schema versions this plugin can take state from.
    #[must_use]
    pub fn imports_from(&self) -> Vec<u32> {
        self.versions_where(|version| version < self.schema_version && self.can_import(version))
    }

    /// The older schema versions this plugin can export its state down to.
    #[must_use]
    pub fn exports_down_to(&self) -> Vec<u32> {
        self.versions_where(|version| version < self.schema_version && self.can_export(version))
    }

    fn versions_where(&self, keep: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut versions: Vec<u32> = self.migrations.iter().flat_map(|&(from, to)| [from, to]).filter(|&version| keep(version)).collect();
        versions.sort_unstable();
        versions.dedup();
        versions
    }
}

/// The outcome of unloading one library, kept by the host for status and tests.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LibraryRelease {
    /// The module.
    pub module: String,
    /// The plugin version.
    pub version: semver::Version,
    /// The path it was loaded from.
    pub path: PathBuf,
    /// Whether the library was still mapped after `dlclose`: some thread-local destructor or other
    /// reference keeps it alive until that thread exits.
    pub still_mapped: bool,
    /// The private copy that was opened, by which the process's memory map names the library.
    #[serde(skip)]
    private_copy: PathBuf,
}

/// Why a released library stays mapped, as far as the host can tell.
pub(crate) const STILL_MAPPED_REASON: &str = "a thread that touched one of its thread-locals with a destructor is still alive, so the C library keeps it mapped until that thread has exited and another library is unloaded";

impl LibraryRelease {
    /// Whether the library is still in this process's memory map now.
    pub(crate) fn is_still_mapped(&self) -> bool {
        self.still_mapped && is_mapped(&self.private_copy)
    }
}

/// How many releases a host remembers: the most recent ones.
pub const RELEASE_LOG_CAPACITY: usize = 256;

/// The most recent releases, oldest first, at most [`RELEASE_LOG_CAPACITY`].
pub(crate) type ReleaseLog = Arc<Mutex<VecDeque<LibraryRelease>>>;

/// Where and under which rules a host loads libraries.
pub(crate) struct Loader {
    /// Private copies of libraries go here.
    pub(crate) library_dir: tempfile::TempDir,
    /// Where unloads are recorded.
    pub(crate) releases: ReleaseLog,
    /// If not empty, libraries must lie (after resolving symlinks) under one of these directories.
    pub(crate) allowed_directories: Vec<PathBuf>,
    /// SHA-256 pins by canonical library path.
    pub(crate) pins: HashMap<PathBuf, [u8; 32]>,
    /// The clock installed into every library opened.
    pub(crate) clock: Clock,
}

impl Loader {
    /// A loader without an allow-list or pins, copying into a new directory under `directory`: the
    /// one a rehearsal process uses for a library its parent already checked, in a directory its
    /// parent removes once the rehearsal is over (whatever became of the child).
    pub(crate) fn unrestricted_in(directory: &Path) -> std::io::Result<Loader> {
        Ok(Loader {
            library_dir: tempfile::Builder::new().prefix("libraries-").tempdir_in(directory)?,
            releases: Arc::new(Mutex::new(VecDeque::new())),
            allowed_directories: Vec::new(),
            pins: HashMap::new(),
            // A rehearsal runs on the system's clock.
            clock: Clock::system(),
        })
    }

    /// Opens and verifies the library at `path` under this loader's rules.
    pub(crate) fn open(&self, path: &Path) -> Result<LoadedLibrary, LoadError> {
        self.open_staged(self.stage_with(path, None)?)
    }

    /// Opens and verifies the library at `path`, which must have SHA-256 `digest`: a copy the host
    /// kept itself (the state directory's copy of a snapshot's library), so the allowed directories
    /// do not apply; the digest is checked on the private copy that is then opened.
    pub(crate) fn open_with_digest(&self, path: &Path, digest: [u8; 32]) -> Result<LoadedLibrary, LoadError> {
        self.open_staged(self.stage_with(path, Some(digest))?)
    }

    /// Everything [`Loader::open`] does before `dlopen`, which runs no code of the library: checks
    /// the file and this loader's rules, copies it privately, checks the copy's pin and reads the
    /// copy as an ELF object.
    pub(crate) fn stage(&self, path: &Path) -> Result<StagedLibrary, LoadError> {
        self.stage_with(path, None)
    }

    /// [`Loader::stage`]; with `digest`, the allowed directories and pins do not apply, and the
    /// library must have that digest instead.
    fn stage_with(&self, path: &Path, digest: Option<[u8; 32]>) -> Result<StagedLibrary, LoadError> {
        check_file(path)?;
        let pin = match digest {
            Some(digest) => Some(digest),
            None => self.check_policy(path)?,
        };
        let private_copy = copy_privately(path, self.library_dir.path())?;
        // The copy is what will be opened, so the copy is what is hashed and read.
        let bytes = std::fs::read(&private_copy).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
        let sha256 = std::sync::OnceLock::new();
        if let Some(expected) = pin {
            let found: [u8; 32] = Sha256::digest(&bytes).into();
            if found != expected {
                return Err(LoadError::HashMismatch { path: path.to_owned(), expected: hex(&expected), found: hex(&found) });
            }
            let _ = sha256.set(found);
        }
        elf::check_loadable(path, &bytes)?;
        Ok(StagedLibrary { path: path.to_owned(), private_copy, sha256 })
    }

    /// Opens a staged library and verifies its descriptor (see [`LoadedLibrary`]).
    pub(crate) fn open_staged(&self, staged: StagedLibrary) -> Result<LoadedLibrary, LoadError> {
        LoadedLibrary::open(staged, self)
    }

    fn check_policy(&self, path: &Path) -> Result<Option<[u8; 32]>, LoadError> {
        if self.allowed_directories.is_empty() && self.pins.is_empty() {
            return Ok(None);
        }
        let canonical = path.canonicalize().map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
        if !self.allowed_directories.is_empty() && !self.allowed_directories.iter().any(|directory| canonical.starts_with(directory)) {
            return Err(LoadError::NotAllowed { path: path.to_owned(), allowed: self.allowed_directories.clone() });
        }
        Ok(self.pins.get(&canonical).copied())
    }
}

/// A library checked and copied privately, not yet opened: none of its code has run.
pub(crate) struct StagedLibrary {
    /// The path it was given by.
    path: PathBuf,
    /// The private copy that will be opened, removed when dropped unopened.
    private_copy: tempfile::TempPath,
    /// The copy's SHA-256, when a pin or a digest made the loader compute it.
    sha256: std::sync::OnceLock<[u8; 32]>,
}

impl StagedLibrary {
    /// The private copy that will be opened.
    pub(crate) fn private_copy(&self) -> &Path {
        &self.private_copy
    }

    /// The path the library was given by.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A loaded, verified plugin library. Unloaded on drop.
pub(crate) struct LoadedLibrary {
    /// `None` only while dropping.
    opened: Option<OpenedLibrary>,
    info: PluginInfo,
    private_copy: Option<tempfile::TempPath>,
    releases: ReleaseLog,
    /// The SHA-256 of the library's bytes, once asked for (a snapshot names its library by it).
    sha256: std::sync::OnceLock<[u8; 32]>,
    /// The host's clock as the library reads it, kept until after the library is closed.
    _clock: Option<InstalledClock>,
}

static NEXT_COPY: AtomicU64 = AtomicU64::new(0);

impl LoadedLibrary {
    /// Opens the private copy of a staged library and verifies its descriptor. Runs no plugin
    /// function except `install_logger`, after verification (the library's initialisers run in
    /// `dlopen`).
    fn open(staged: StagedLibrary, loader: &Loader) -> Result<LoadedLibrary, LoadError> {
        let StagedLibrary { path, private_copy, sha256 } = staged;
        let path = path.as_path();
        let opened = OpenedLibrary::open(&private_copy, |header| {
            header.magic == MAGIC
                && header.abi_version == ABI_VERSION
                && header.descriptor_size as usize == size_of::<PluginDescriptor<'_>>()
        });
        let opened = match opened {
            Ok(opened) => opened,
            Err(OpenError::Open(source)) => return Err(LoadError::Open { path: path.to_owned(), source }),
            Err(OpenError::NoDescriptor) => return Err(LoadError::NotAPlugin { path: path.to_owned() }),
            Err(OpenError::Header(header)) if header.magic != MAGIC => return Err(LoadError::BadMagic { path: path.to_owned() }),
            Err(OpenError::Header(header)) if header.abi_version != ABI_VERSION => {
                return Err(LoadError::AbiMismatch { path: path.to_owned(), found: header.abi_version, expected: ABI_VERSION });
            }
            Err(OpenError::Header(header)) => {
                return Err(LoadError::BadDescriptor {
                    path: path.to_owned(),
                    reason: format!(
                        "it is {} bytes, but ABI version {ABI_VERSION} descriptors are {}",
                        header.descriptor_size,
                        size_of::<PluginDescriptor<'_>>()
                    ),
                });
            }
        };
        let info = read_info(opened.descriptor(), path)?;
        opened.install_logger(forward_plugin_log);
        let clock = opened.install_clock(&loader.clock);
        tracing::debug!(module = %info.module, version = %info.version, "plugin library verified");
        Ok(LoadedLibrary {
            opened: Some(opened),
            info,
            private_copy: Some(private_copy),
            releases: Arc::clone(&loader.releases),
            sha256,
            _clock: clock,
        })
    }

    /// The SHA-256 of the library's bytes (of the private copy that was opened), computed the first
    /// time it is asked for.
    ///
    /// # Errors
    /// When the private copy cannot be read.
    pub(crate) fn sha256(&self) -> std::io::Result<[u8; 32]> {
        if let Some(digest) = self.sha256.get() {
            return Ok(*digest);
        }
        let mut file = std::fs::File::open(self.private_copy())?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        let digest: [u8; 32] = hasher.finalize().into();
        Ok(*self.sha256.get_or_init(|| digest))
    }

    /// The private copy that was opened: the library's bytes, unchanged for as long as it is loaded.
    pub(crate) fn private_copy(&self) -> &Path {
        self.private_copy.as_deref().expect("a loaded library keeps its private copy until it is dropped")
    }

    /// What the descriptor says.
    pub(crate) fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The open library.
    pub(crate) fn opened(&self) -> &OpenedLibrary {
        self.opened.as_ref().expect("a loaded library is open until it is dropped")
    }
}

impl Drop for LoadedLibrary {
    fn drop(&mut self) {
        let Some(opened) = self.opened.take() else { return };
        if let Err(error) = opened.close() {
            tracing::warn!(module = %self.info.module, version = %self.info.version, %error, "dlclose failed");
        }
        let private_copy = self.private_copy.take();
        let still_mapped = private_copy.as_deref().is_some_and(is_mapped);
        if still_mapped {
            tracing::warn!(
                module = %self.info.module,
                version = %self.info.version,
                path = %self.info.path.display(),
                "library is still mapped after dlclose: {STILL_MAPPED_REASON}"
            );
        } else {
            tracing::debug!(module = %self.info.module, version = %self.info.version, "library unloaded");
        }
        let mut releases = self.releases.lock();
        if releases.len() == RELEASE_LOG_CAPACITY {
            releases.pop_front();
        }
        releases.push_back(LibraryRelease {
            module: self.info.module.clone(),
            version: self.info.version.clone(),
            path: self.info.path.clone(),
            still_mapped,
            private_copy: private_copy.as_deref().map(Path::to_owned).unwrap_or_default(),
        });
        drop(releases);
        drop(private_copy);
    }
}

fn check_file(path: &Path) -> Result<(), LoadError> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(LoadError::NotFound { path: path.to_owned() }),
        Err(source) => return Err(LoadError::Io { path: path.to_owned(), source }),
    };
    if metadata.is_dir() {
        return Err(LoadError::IsADirectory { path: path.to_owned() });
    }
    if metadata.len() == 0 {
        return Err(LoadError::EmptyFile { path: path.to_owned() });
    }
    let mut header = [0u8; 18];
    let mut file = std::fs::File::open(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    let read = file.read(&mut header).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    if read < header.len() || header[..4] != *b"\x7fELF" {
        return Err(LoadError::NotASharedLibrary { path: path.to_owned(), reason: "it does not start with an ELF header" });
    }
    // e_type, at offset 16, in the file's byte order (byte 5: 1 = little endian).
    let object_type =
        if header[5] == 1 { u16::from_le_bytes([header[16], header[17]]) } else { u16::from_be_bytes([header[16], header[17]]) };
    if object_type != 3 {
        return Err(LoadError::NotASharedLibrary { path: path.to_owned(), reason: "it is an ELF file, but not a shared object (ET_DYN)" });
    }
    Ok(())
}

/// Copies the library to a unique path: `dlopen` caches by path, and a build may overwrite the
/// original while this version is still loaded.
fn copy_privately(path: &Path, private_dir: &Path) -> Result<tempfile::TempPath, LoadError> {
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("plugin");
    let sequence = NEXT_COPY.fetch_add(1, Ordering::Relaxed);
    let mut copy = tempfile::Builder::new()
        .prefix(&format!("{stem}-{sequence}-"))
        .suffix(".so")
        .tempfile_in(private_dir)
        .map_err(|source| LoadError::Io { path: private_dir.to_owned(), source })?;
    let mut original = std::fs::File::open(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    std::io::copy(&mut original, copy.as_file_mut()).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
    Ok(copy.into_temp_path())
}

/// The name every directory of private copies starts with, followed by the owning process's id and
/// a dash.
const LIBRARY_DIRECTORY_PREFIX: &str = "ecdysis-libraries-";

/// Makes a host's directory of private copies under `parent` (the system's temporary directory by
/// default), named after this process, after removing the ones that hosts killed before they could
/// clean up left there: a directory whose process is gone and that belongs to this user.
///
/// # Errors
/// When the directory cannot be made.
pub(crate) fn make_library_directory(parent: Option<&Path>) -> std::io::Result<tempfile::TempDir> {
    let parent = parent.map_or_else(std::env::temp_dir, Path::to_owned);
    std::fs::create_dir_all(&parent)?;
    remove_stale_library_directories(&parent);
    tempfile::Builder::new().prefix(&format!("{LIBRARY_DIRECTORY_PREFIX}{}-", std::process::id())).tempdir_in(&parent)
}

/// Removes the directories of private copies under `parent` whose host process no longer exists.
fn remove_stale_library_directories(parent: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    let user = rustix::process::geteuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(process) =
            name.to_str().and_then(|name| name.strip_prefix(LIBRARY_DIRECTORY_PREFIX)?.split_once('-')?.0.parse::<u32>().ok())
        else {
            continue;
        };
        let owned_by_this_user = entry.metadata().is_ok_and(|metadata| metadata.is_dir() && metadata.uid() == user);
        if !owned_by_this_user || Path::new(&format!("/proc/{process}")).exists() {
            continue;
        }
        match std::fs::remove_dir_all(entry.path()) {
            Ok(()) => tracing::info!(path = %entry.path().display(), process, "removed the library copies of a host that is gone"),
            Err(error) => tracing::debug!(path = %entry.path().display(), %error, "could not remove a stale directory of library copies"),
        }
    }
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Parses 64 hexadecimal digits into a SHA-256 digest.
pub(crate) fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(digest)
}

/// Whether `path` still appears in this process's memory map.
fn is_mapped(path: &Path) -> bool {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return false };
    let needle = path.to_string_lossy();
    maps.lines().any(|line| line.contains(needle.as_ref()))
}

/// Copies the descriptor's fields into host memory, checking every string.
fn read_info(descriptor: &PluginDescriptor<'_>, path: &Path) -> Result<PluginInfo, LoadError> {
    let text = |raw: RawStr<'_>, field: &str| -> Result<String, LoadError> {
        String::from_utf8(raw.as_bytes().to_vec())
            .map_err(|_| LoadError::BadDescriptor { path: path.to_owned(), reason: format!("its {field} is not UTF-8") })
    };
    let version_text = text(descriptor.plugin_version, "plugin version")?;
    let version = semver::Version::parse(&version_text).map_err(|error| LoadError::BadDescriptor {
        path: path.to_owned(),
        reason: format!("its plugin version `{version_text}` is not semver: {error}"),
    })?;
    let migrations = descriptor.migrations.as_slice().iter().map(|edge| (edge.from, edge.to)).collect();
    Ok(PluginInfo {
        module: text(descriptor.module_name, "module name")?,
        version,
        interface_id: text(descriptor.interface_id, "interface id")?,
        interface_fingerprint: descriptor.interface_fingerprint,
        schema_name: text(descriptor.schema_name, "schema name")?,
        schema_version: descriptor.schema_version,
        migrations,
        path: path.to_owned(),
    })
}

/// Turns a plugin's log message into a `tracing` event of the host.
extern "C" fn forward_plugin_log(level: u32, message: RawStr<'_>) {
    let message = String::from_utf8_lossy(message.as_bytes());
    match level {
        1 => tracing::error!(target: "ecdysis::plugin", "{message}"),
        2 => tracing::warn!(target: "ecdysis::plugin", "{message}"),
        3 => tracing::info!(target: "ecdysis::plugin", "{message}"),
        4 => tracing::debug!(target: "ecdysis::plugin", "{message}"),
        _ => tracing::trace!(target: "ecdysis::plugin", "{message}"),
    }
}
