//! Snapshots of module state in a state directory, and the warm restart that brings a module back
//! from the newest one.
//!
//! # Layout
//! Under the state directory (beside the journal):
//! - `snapshots/<module>/<sequence>.snapshot`: one module's state, the sequence zero-padded to 20
//!   digits so that names sort as numbers. The newest [`KEPT_PER_MODULE`] are kept.
//! - `libraries/<sha256>.so`: a copy of every library a kept snapshot belongs to, named by the
//!   SHA-256 of its bytes; a copy no kept snapshot refers to is deleted.
//!
//! # Format
//! A snapshot file is the line `ecdysis snapshot 1\n` (format and format version), the header's
//! length (`u32`, little-endian), the header's FNV-1a 64 (`u64`), the header (JSON: module, plugin
//! version, interface, schema, library SHA-256, time, sequence, reason, state size), then the state
//! envelope in its own versioned encoding ([`StateEnvelope::to_bytes`]), which checks its payload
//! with its own fingerprint. A file of another format version is refused by name, never read as
//! this one and never overwritten; a damaged file is skipped with a warning, and the next-newest
//! is used.
//!
//! # Atomicity
//! Every file is written whole under a temporary name in its final directory, `fsync`'d, renamed to
//! its name and the directory `fsync`'d: a crash leaves either no file or the whole file, never a
//! part of one under a snapshot's name. A library copy is on disk before the snapshot that refers
//! to it. Temporary files left by a crash are ignored by readers and removed when a host opens the
//! directory.
//!
//! # Taking and restoring
//! A snapshot is the running instance's own export, taken while calls go on (a plugin's state is
//! `Sync`, and it exports under its own locks), within the hook deadline. The caller holds the
//! module's transaction lock, so no update runs meanwhile. A warm restart ([`SnapshotStore::restore`])
//! comes back on the version of the newest readable snapshot, from the kept copy of its library
//! (verified by its SHA-256); when that copy is gone or changed, the library given to the load takes
//! the state through the checks of an update (schema, migration path, round-trip validation), or
//! the load is refused with what stands in the way.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecdysis_plugin_api::envelope::{EnvelopeError, fnv1a64};
use ecdysis_plugin_api::{MigrationOptions, StateEnvelope};
use ecdysis_protocol::{ErrorChain, HistoryEvent, SnapshotReason, SnapshotReport};
use parking_lot::Mutex;

use crate::calling::instance::Instance;
use crate::error::{BuildError, LoadError, SnapshotError};
use crate::loading::{LoadedLibrary, Loader, hex, parse_sha256};
use crate::updating::transaction::{TransactionSettings, TrimWhenDone};
use crate::updating::validate;

/// The first line of a snapshot file, up to the format version.
const HEADER_PREFIX: &[u8] = b"ecdysis snapshot ";
/// The snapshot format this host reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// How many snapshots of each module are kept: the newest, and older ones to fall back to should
/// the newest be damaged.
pub const KEPT_PER_MODULE: usize = 3;
/// How temporary files begin; readers skip them, and a host opening the directory removes them.
const PARTIAL_PREFIX: &str = ".partial-";
/// The largest header accepted, so that a damaged length cannot ask for gigabytes.
const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// What a snapshot file says about the state it holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SnapshotHeader {
    /// The module.
    pub(crate) module: String,
    /// The version that exported the state.
    pub(crate) version: semver::Version,
    /// The interface that version implements.
    pub(crate) interface_id: String,
    /// The interface's fingerprint.
    pub(crate) interface_fingerprint: u64,
    /// The state schema's name.
    pub(crate) schema_name: String,
    /// The schema version the state is encoded in.
    pub(crate) schema_version: u32,
    /// The SHA-256 of the library that exported it, hexadecimal.
    pub(crate) library_sha256: String,
    /// Where that library was loaded from.
    pub(crate) library_path: PathBuf,
    /// When the state was exported, in milliseconds since the Unix epoch.
    pub(crate) taken_at_unix_ms: u64,
    /// The snapshot's number among the module's snapshots.
    pub(crate) sequence: u64,
    /// Why it was taken.
    pub(crate) reason: SnapshotReason,
    /// The size of the state, in bytes.
    pub(crate) state_bytes: u64,
}

/// Why a snapshot file could not be read.
#[derive(Debug)]
enum ReadError {
    /// The file is in another format version: refused, never skipped.
    Format(String),
    /// The file is not a whole, intact snapshot: skipped with a warning.
    Damaged(String),
}

/// The bytes of a snapshot file.
fn encode(header: &SnapshotHeader, envelope: &StateEnvelope) -> Vec<u8> {
    let header_json = serde_json::to_vec(header).expect("a snapshot header is serialisable");
    let envelope_bytes = envelope.to_bytes();
    let first_line = format!("ecdysis snapshot {FORMAT_VERSION}\n");
    let mut bytes = Vec::with_capacity(first_line.len() + 12 + header_json.len() + envelope_bytes.len());
    bytes.extend_from_slice(first_line.as_bytes());
    bytes.extend_from_slice(&u32::try_from(header_json.len()).expect("a snapshot header is small").to_le_bytes());
    bytes.extend_from_slice(&fnv1a64(&header_json).to_le_bytes());
    bytes.extend_from_slice(&header_json);
    bytes.extend_from_slice(&envelope_bytes);
    bytes
}

/// The header at the start of `bytes`, and where the envelope begins.
fn decode_header(bytes: &[u8]) -> Result<(SnapshotHeader, usize), ReadError> {
    let Some(rest) = bytes.strip_prefix(HEADER_PREFIX) else {
        return Err(ReadError::Damaged("it does not start with `ecdysis snapshot`".to_owned()));
    };
    let Some(line_end) = rest.iter().take(16).position(|&byte| byte == b'\n') else {
        return Err(ReadError::Damaged("its first line is cut short".to_owned()));
    };
    let version = &rest[..line_end];
    if version != FORMAT_VERSION.to_string().as_bytes() {
        return Err(ReadError::Format(String::from_utf8_lossy(version).into_owned()));
    }
    let start = HEADER_PREFIX.len() + line_end + 1;
    let fixed = bytes.get(start..start + 12).ok_or_else(|| ReadError::Damaged("it is cut short before its header".to_owned()))?;
    let length = u32::from_le_bytes(fixed[..4].try_into().expect("four bytes"));
    let checksum = u64::from_le_bytes(fixed[4..].try_into().expect("eight bytes"));
    if length > MAX_HEADER_BYTES {
        return Err(ReadError::Damaged(format!("its header length {length} is larger than {MAX_HEADER_BYTES}")));
    }
    let header_start = start + 12;
    let header_end = header_start + length as usize;
    let header_bytes = bytes.get(header_start..header_end).ok_or_else(|| ReadError::Damaged("its header is cut short".to_owned()))?;
    if fnv1a64(header_bytes) != checksum {
        return Err(ReadError::Damaged("its header does not match its checksum".to_owned()));
    }
    let header: SnapshotHeader =
        serde_json::from_slice(header_bytes).map_err(|error| ReadError::Damaged(format!("its header does not parse: {error}")))?;
    Ok((header, header_end))
}

/// The header and state of a whole snapshot file.
fn decode(bytes: &[u8]) -> Result<(SnapshotHeader, StateEnvelope), ReadError> {
    let (header, envelope_start) = decode_header(bytes)?;
    let envelope = StateEnvelope::from_bytes(&bytes[envelope_start..]).map_err(|error| match error {
        EnvelopeError::UnsupportedVersion { found, .. } => {
            ReadError::Format(format!("1 with a state envelope of encoding version {found}"))
        }
        other => ReadError::Damaged(format!("its state {}", ErrorChain(&other))),
    })?;
    if envelope.schema_name != header.schema_name
        || envelope.schema_version != header.schema_version
        || envelope.payload.len() as u64 != header.state_bytes
    {
        return Err(ReadError::Damaged("its header and its state disagree".to_owned()));
    }
    Ok((header, envelope))
}

/// The directory name of a module's snapshots: the module's name when it is a plain file name,
/// else `x-` and the name's bytes in hexadecimal.
fn module_directory_name(module: &str) -> String {
    let plain = !module.is_empty()
        && !module.starts_with('.')
        && !module.starts_with("x-")
        && module.chars().all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    if plain { module.to_owned() } else { format!("x-{}", hex(module.as_bytes())) }
}

/// The sequence number a snapshot file's name carries, if it is a snapshot's name.
fn sequence_of(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".snapshot")?;
    if digits.len() != 20 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The snapshot files in `directory`, newest first. A missing directory has none.
fn list_snapshots(directory: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut snapshots = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(sequence) = entry.file_name().to_str().and_then(sequence_of) {
            snapshots.push((sequence, entry.path()));
        }
    }
    snapshots.sort_unstable_by_key(|(sequence, _)| std::cmp::Reverse(*sequence));
    Ok(snapshots)
}

/// Waits until `directory`'s entries are on disk.
fn sync_directory(directory: &Path) -> std::io::Result<()> {
    File::open(directory)?.sync_all()
}

/// The SHA-256 of the file at `path`.
fn sha256_of_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize().into())
}

/// The format version of the snapshot file at `path`, when it is a snapshot of another format
/// version than this host's.
fn foreign_format(path: &Path) -> Option<String> {
    let mut first_bytes = Vec::new();
    File::open(path).ok()?.take(64).read_to_end(&mut first_bytes).ok()?;
    match decode_header(&first_bytes) {
        Err(ReadError::Format(found)) => Some(found),
        _ => None,
    }
}

/// Writes `bytes` to `directory/file_name` atomically: a temporary file in the same directory,
/// `fsync`, rename, `fsync` of the directory.
fn write_atomically(directory: &Path, file_name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let mut temporary = tempfile::Builder::new().prefix(PARTIAL_PREFIX).tempfile_in(directory)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    let path = directory.join(file_name);
    temporary.persist(&path).map_err(|error| error.error)?;
    sync_directory(directory)?;
    Ok(path)
}

/// Copies `source` to `directory/file_name` atomically, as [`write_atomically`] does.
fn copy_atomically(source: &Path, directory: &Path, file_name: &str) -> std::io::Result<PathBuf> {
    let mut temporary = tempfile::Builder::new().prefix(PARTIAL_PREFIX).tempfile_in(directory)?;
    std::io::copy(&mut File::open(source)?, temporary.as_file_mut())?;
    temporary.as_file().sync_all()?;
    let path = directory.join(file_name);
    temporary.persist(&path).map_err(|error| error.error)?;
    sync_directory(directory)?;
    Ok(path)
}

/// Removes the temporary files a crash left in `directory`.
fn remove_partial_files(directory: &Path) {
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(|name| name.starts_with(PARTIAL_PREFIX)) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted write"),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "could not remove a temporary file left by an interrupted write")
                }
            }
        }
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

/// The newest snapshot a module has on disk, as written or restored by this host.
#[derive(Clone, Debug)]
struct LastSnapshot {
    report: SnapshotReport,
    /// The state's fingerprint, to tell whether a later export is the same state.
    fingerprint: u64,
}

/// A module's state, brought back from a snapshot by a warm restart.
pub(crate) struct Restored {
    /// The instance holding the state, not yet resumed.
    pub(crate) instance: Arc<Instance>,
    /// The history entry that says where it came from.
    pub(crate) event: HistoryEvent,
}

/// The snapshots of a state directory.
pub(crate) struct SnapshotStore {
    /// The state directory.
    directory: PathBuf,
    /// How often every module is snapshotted, if at all.
    pub(crate) interval: Option<Duration>,
    /// The newest snapshot of each module, held only for a moment, so that `status` never waits
    /// for a write.
    last: Mutex<HashMap<String, LastSnapshot>>,
    /// The library copies whose content this host has checked against their names (or written);
    /// its lock serialises writes and pruning, and is held for the whole of each.
    writing: Mutex<BTreeSet<String>>,
}

impl SnapshotStore {
    /// The snapshots in the state directory `directory`, which the caller has made and locked (the
    /// journal's lock), with `interval` between periodic snapshots. Removes temporary files left
    /// by a crash.
    ///
    /// # Errors
    /// When the `snapshots` or `libraries` directory cannot be made.
    pub(crate) fn open(directory: &Path, interval: Option<Duration>) -> Result<SnapshotStore, BuildError> {
        for subdirectory in ["snapshots", "libraries"] {
            let path = directory.join(subdirectory);
            std::fs::create_dir_all(&path).map_err(|error| BuildError::StateDirectory {
                path: directory.to_owned(),
                reason: format!("`{}` cannot be created", path.display()),
                source: Some(error),
            })?;
        }
        remove_partial_files(&directory.join("libraries"));
        if let Ok(modules) = std::fs::read_dir(directory.join("snapshots")) {
            for module in modules.flatten() {
                remove_partial_files(&module.path());
            }
        }
        sync_directory(directory).map_err(|error| BuildError::StateDirectory {
            path: directory.to_owned(),
            reason: "it cannot be synchronised to disk".to_owned(),
            source: Some(error),
        })?;
        Ok(SnapshotStore {
            directory: directory.to_owned(),
            interval,
            last: Mutex::new(HashMap::new()),
            writing: Mutex::new(BTreeSet::new()),
        })
    }

    fn snapshots_directory(&self, module: &str) -> PathBuf {
        self.directory.join("snapshots").join(module_directory_name(module))
    }

    fn libraries_directory(&self) -> PathBuf {
        self.directory.join("libraries")
    }

    /// The newest snapshot of `module` this host wrote or restored from.
    pub(crate) fn last(&self, module: &str) -> Option<SnapshotReport> {
        self.last.lock().get(module).map(|last| last.report.clone())
    }

    /// Writes a snapshot of `instance`, the running version of its module, for `reason`. With
    /// `skip_if_unchanged`, nothing is written (and `None` returned) when the state, version and
    /// library are those of the module's newest snapshot. The caller holds the module's transaction
    /// lock.
    ///
    /// # Errors
    /// When the export fails or misses the hook deadline of `settings`, or a file cannot be
    /// written.
    pub(crate) fn take(
        &self,
        instance: &Arc<Instance>,
        settings: &TransactionSettings,
        reason: SnapshotReason,
        skip_if_unchanged: bool,
    ) -> Result<Option<SnapshotReport>, SnapshotError> {
        let deadline = settings.hook_timeout;
        let info = instance.info().clone();
        let span = tracing::info_span!("ecdysis.snapshot", module = %info.module, version = %info.version, reason = reason.as_str());
        let _entered = span.enter();
        // The exported bytes are a whole state's worth of memory, freed when this returns.
        let _trim = TrimWhenDone;
        let exporting = Arc::clone(instance);
        let schema_version = info.schema_version;
        let payload = match settings
            .hook_threads
            .with_deadline("snapshot", deadline, move || exporting.export(schema_version, MigrationOptions::default()))
        {
            None => return Err(SnapshotError::ExportTimeout { module: info.module, version: info.version, deadline }),
            Some(Err(source)) => return Err(SnapshotError::Export { module: info.module, version: info.version, source }),
            Some(Ok(payload)) => payload,
        };
        let taken_at_unix_ms = now_unix_ms();
        let envelope = StateEnvelope::new(info.schema_name.clone(), schema_version, payload);
        let library = instance.library();
        let digest = library.sha256().map_err(|source| SnapshotError::Write { path: library.private_copy().to_owned(), source })?;
        let library_sha256 = hex(&digest);

        let mut verified_libraries = self.writing.lock();
        if skip_if_unchanged
            && let Some(newest) = self.last.lock().get(&info.module)
            && newest.fingerprint == envelope.fingerprint
            && newest.report.state_bytes == envelope.payload.len() as u64
            && newest.report.version == info.version
            && newest.report.library_sha256 == library_sha256
        {
            tracing::debug!("state unchanged since the newest snapshot; nothing written");
            return Ok(None);
        }
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| SnapshotError::Write { path, source }
        };
        // The library first: a snapshot on disk always finds its library there. A copy already there
        // is checked once per host, so that a damaged one is replaced rather than relied on.
        let libraries = self.libraries_directory();
        let library_name = format!("{library_sha256}.so");
        let kept_library = libraries.join(&library_name);
        if !verified_libraries.contains(&library_sha256) {
            let intact = sha256_of_file(&kept_library).is_ok_and(|found| found == digest);
            if !intact {
                copy_atomically(library.private_copy(), &libraries, &library_name).map_err(write_error(&kept_library))?;
                tracing::debug!(path = %kept_library.display(), "library copied into the state directory");
            }
            verified_libraries.insert(library_sha256.clone());
        }
        let directory = self.snapshots_directory(&info.module);
        if !directory.exists() {
            std::fs::create_dir_all(&directory).map_err(write_error(&directory))?;
            sync_directory(&self.directory.join("snapshots")).map_err(write_error(&directory))?;
        }
        let existing = list_snapshots(&directory).map_err(write_error(&directory))?;
        let sequence = existing.first().map_or(1, |(newest, _)| newest + 1);
        let header = SnapshotHeader {
            module: info.module.clone(),
            version: info.version.clone(),
            interface_id: info.interface_id.clone(),
            interface_fingerprint: info.interface_fingerprint,
            schema_name: info.schema_name.clone(),
            schema_version,
            library_sha256: library_sha256.clone(),
            library_path: info.path.clone(),
            taken_at_unix_ms,
            sequence,
            reason,
            state_bytes: envelope.payload.len() as u64,
        };
        let file_name = format!("{sequence:020}.snapshot");
        let path =
            write_atomically(&directory, &file_name, &encode(&header, &envelope)).map_err(write_error(&directory.join(&file_name)))?;
        let report = SnapshotReport {
            module: info.module.clone(),
            version: info.version.clone(),
            schema_version,
            state_bytes: header.state_bytes,
            path: path.clone(),
            library_sha256,
            taken_at_unix_ms,
            reason,
        };
        self.last.lock().insert(info.module.clone(), LastSnapshot { report: report.clone(), fingerprint: envelope.fingerprint });
        tracing::info!(path = %path.display(), state_bytes = header.state_bytes, "snapshot written");
        // Older snapshots and unused library copies go only once the new snapshot is on disk.
        for (_, older) in existing.iter().skip(KEPT_PER_MODULE.saturating_sub(1)) {
            if let Some(found) = foreign_format(older) {
                tracing::warn!(path = %older.display(), format_version = %found, "an old snapshot of another format version is left as it is");
                continue;
            }
            if let Err(error) = std::fs::remove_file(older) {
                tracing::warn!(path = %older.display(), %error, "could not delete an old snapshot");
            }
        }
        self.delete_unused_libraries(&mut verified_libraries);
        drop(verified_libraries);
        Ok(Some(report))
    }

    /// Deletes the library copies no snapshot on disk refers to. A snapshot whose header cannot be
    /// read refers to none.
    fn delete_unused_libraries(&self, verified_libraries: &mut BTreeSet<String>) {
        let mut referenced = BTreeSet::new();
        let Ok(modules) = std::fs::read_dir(self.directory.join("snapshots")) else { return };
        for module in modules.flatten() {
            let Ok(snapshots) = list_snapshots(&module.path()) else { return };
            for (_, path) in snapshots {
                if let Some(header) = read_header(&path) {
                    referenced.insert(format!("{}.so", header.library_sha256));
                }
            }
        }
        let Ok(libraries) = std::fs::read_dir(self.libraries_directory()) else { return };
        for library in libraries.flatten() {
            let name = library.file_name().to_string_lossy().into_owned();
            if name.ends_with(".so") && !name.starts_with(PARTIAL_PREFIX) && !referenced.contains(&name) {
                let path = library.path();
                if let Some(digest) = name.strip_suffix(".so") {
                    verified_libraries.remove(digest);
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => tracing::debug!(path = %path.display(), "deleted a library copy no snapshot refers to"),
                    Err(error) => tracing::warn!(path = %path.display(), %error, "could not delete an unused library copy"),
                }
            }
        }
    }

    /// Brings back the module that `given` (the library given to a load, already verified against
    /// the interface asked for) implements from its newest readable snapshot, if it has one. See
    /// the [module documentation](self).
    ///
    /// # Errors
    /// When a snapshot is in another format version, every snapshot of the module is damaged, the
    /// snapshot belongs to another interface, or neither the kept copy of the snapshot's library
    /// nor `given` can take the state (each with what stands in the way).
    pub(crate) fn restore(
        &self,
        loader: &Loader,
        settings: &TransactionSettings,
        given: &Arc<LoadedLibrary>,
    ) -> Result<Option<Restored>, LoadError> {
        let given_info = given.info();
        let module = given_info.module.clone();
        let directory = self.snapshots_directory(&module);
        let snapshots = list_snapshots(&directory).map_err(|source| LoadError::Io { path: directory.clone(), source })?;
        let Some((_, newest)) = snapshots.first() else { return Ok(None) };
        let newest = newest.clone();
        let mut damaged = Vec::new();
        let mut chosen = None;
        for (_, path) in &snapshots {
            let read = std::fs::read(path)
                .map_err(|error| ReadError::Damaged(format!("it cannot be read: {error}")))
                .and_then(|bytes| decode(&bytes));
            match read {
                Ok((header, envelope)) if header.module == module => {
                    chosen = Some((path.clone(), header, envelope));
                    break;
                }
                Ok((header, _)) => damaged.push(format!("`{}`: it belongs to module `{}`", path.display(), header.module)),
                Err(ReadError::Format(found)) => {
                    return Err(LoadError::SnapshotFormat { path: path.clone(), found, supported: FORMAT_VERSION });
                }
                Err(ReadError::Damaged(reason)) => {
                    tracing::warn!(path = %path.display(), %reason, "snapshot is damaged; falling back to the next-newest");
                    damaged.push(format!("`{}`: {reason}", path.display()));
                }
            }
        }
        let Some((path, header, envelope)) = chosen else {
            return Err(LoadError::Restore {
                module,
                snapshot: newest,
                reason: format!(
                    "every snapshot of the module is damaged ({}); move `{}` away to start the module empty",
                    damaged.join("; "),
                    directory.display()
                ),
                source: None,
            });
        };
        let refuse = |reason: String, source| LoadError::Restore { module: module.clone(), snapshot: path.clone(), reason, source };
        if header.interface_id != given_info.interface_id || header.interface_fingerprint != given_info.interface_fingerprint {
            return Err(refuse(
                format!(
                    "it was written by {} {}, which implements interface `{}` (fingerprint {:016x}), and `{}` implements `{}` (fingerprint {:016x})",
                    header.module,
                    header.version,
                    header.interface_id,
                    header.interface_fingerprint,
                    given_info.path.display(),
                    given_info.interface_id,
                    given_info.interface_fingerprint
                ),
                None,
            ));
        }
        let deadline = settings.hook_timeout;
        let import = |library: &Arc<LoadedLibrary>| {
            let (library, payload, schema) = (Arc::clone(library), envelope.payload.clone(), header.schema_version);
            settings
                .hook_threads
                .with_deadline("restore", deadline, move || Instance::import(&library, schema, &payload, MigrationOptions::default()))
        };

        // The snapshot's own version, from the state directory's copy of its library.
        let kept = self.libraries_directory().join(format!("{}.so", header.library_sha256));
        let kept_unusable = match parse_sha256(&header.library_sha256) {
            None => format!("its library's SHA-256 `{}` is not 64 hexadecimal digits", header.library_sha256),
            Some(_) if !kept.exists() => format!("its library copy `{}` is gone", kept.display()),
            Some(digest) => match loader.open_with_digest(&kept, digest) {
                Err(LoadError::HashMismatch { found, .. }) => {
                    format!("its library copy `{}` was changed (its SHA-256 is now {found})", kept.display())
                }
                Err(error) => format!("its library copy `{}` cannot be loaded: {}", kept.display(), ErrorChain(&error)),
                Ok(library) => {
                    let library = Arc::new(library);
                    let info = library.info();
                    if info.module != module
                        || info.version != header.version
                        || info.interface_id != header.interface_id
                        || info.interface_fingerprint != header.interface_fingerprint
                        || info.schema_name != header.schema_name
                        || info.schema_version != header.schema_version
                    {
                        format!("its library copy `{}` is {} {}, not what the snapshot names", kept.display(), info.module, info.version)
                    } else {
                        return match import(&library) {
                            None => Err(refuse(
                                format!("{module} {} did not take its own snapshot back within {deadline:?}", header.version),
                                None,
                            )),
                            Some(Err(source)) => {
                                Err(refuse(format!("{module} {} refused its own snapshot back", header.version), Some(source)))
                            }
                            Some(Ok(instance)) => {
                                tracing::info!(snapshot = %path.display(), version = %header.version, "module restored from its snapshot");
                                Ok(Some(self.restored(Arc::new(instance), &path, &header, &envelope, given)))
                            }
                        };
                    }
                }
            },
        };

        // The library given, taking the state as an update would.
        tracing::warn!(snapshot = %path.display(), reason = %kept_unusable, given = %given_info.path.display(), "bringing the snapshot into the library given instead");
        let given_name =
            format!("`{}` ({module} {}, schema v{})", given_info.path.display(), given_info.version, given_info.schema_version);
        let schema = header.schema_version;
        if given_info.schema_name != header.schema_name {
            return Err(refuse(
                format!("{kept_unusable}, and {given_name} keeps state schema `{}`, not `{}`", given_info.schema_name, header.schema_name),
                None,
            ));
        }
        if !given_info.can_import(schema) {
            return Err(refuse(
                format!(
                    "{kept_unusable}, and {given_name} has no migration path from the snapshot's schema v{schema}; start with a library that can read it, or move the snapshot away"
                ),
                None,
            ));
        }
        if settings.validate && !given_info.can_export(schema) {
            return Err(refuse(
                format!(
                    "{kept_unusable}, and {given_name} cannot export its state back to schema v{schema} to validate the transfer; add a downward migration step or turn validation off"
                ),
                None,
            ));
        }
        let instance = match import(given) {
            None => return Err(refuse(format!("{kept_unusable}, and {given_name} did not take the state within {deadline:?}"), None)),
            Some(Err(source)) => return Err(refuse(format!("{kept_unusable}, and {given_name} could not take the state"), Some(source))),
            Some(Ok(instance)) => Arc::new(instance),
        };
        if settings.validate {
            let exporting = Arc::clone(&instance);
            match settings
                .hook_threads
                .with_deadline("restore-validate", deadline, move || exporting.export(schema, MigrationOptions::default()))
            {
                None => {
                    return Err(refuse(
                        format!("{kept_unusable}, and {given_name} did not export the state back within {deadline:?}"),
                        None,
                    ));
                }
                Some(Err(source)) => {
                    return Err(refuse(
                        format!("{kept_unusable}, and {given_name} could not export the state back for validation"),
                        Some(source),
                    ));
                }
                Some(Ok(round_trip)) => {
                    if let Err(difference) = validate::compare(&envelope.payload, &round_trip) {
                        return Err(refuse(
                            format!(
                                "{kept_unusable}, and {given_name} exported the state back to schema v{schema} differently: {difference}"
                            ),
                            None,
                        ));
                    }
                }
            }
        }
        tracing::info!(snapshot = %path.display(), version = %given_info.version, "module restored from its snapshot into the library given");
        Ok(Some(self.restored(instance, &path, &header, &envelope, given)))
    }

    /// Records `header`'s snapshot as the module's newest, and describes the restart.
    fn restored(
        &self,
        instance: Arc<Instance>,
        path: &Path,
        header: &SnapshotHeader,
        envelope: &StateEnvelope,
        given: &LoadedLibrary,
    ) -> Restored {
        let report = SnapshotReport {
            module: header.module.clone(),
            version: header.version.clone(),
            schema_version: header.schema_version,
            state_bytes: header.state_bytes,
            path: path.to_owned(),
            library_sha256: header.library_sha256.clone(),
            taken_at_unix_ms: header.taken_at_unix_ms,
            reason: header.reason,
        };
        self.last.lock().insert(header.module.clone(), LastSnapshot { report, fingerprint: envelope.fingerprint });
        let event = HistoryEvent::Restored {
            version: instance.info().version.clone(),
            library: instance.info().path.clone(),
            given: given.info().path.clone(),
            snapshot: path.to_owned(),
            snapshot_version: header.version.clone(),
            snapshot_schema: header.schema_version,
        };
        Restored { instance, event }
    }
}

/// The header of the snapshot file at `path`, if it can be read.
fn read_header(path: &Path) -> Option<SnapshotHeader> {
    let mut bytes = Vec::new();
    File::open(path).ok()?.take(u64::from(MAX_HEADER_BYTES) + 64).read_to_end(&mut bytes).ok()?;
    decode_header(&bytes).ok().map(|(header, _)| header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SnapshotHeader {
        SnapshotHeader {
            module: "kv".into(),
            version: semver::Version::new(2, 0, 0),
            interface_id: "kv".into(),
            interface_fingerprint: 7,
            schema_name: "kv-state".into(),
            schema_version: 2,
            library_sha256: "ab".repeat(32),
            library_path: "/plugins/libkv_v2.so".into(),
            taken_at_unix_ms: 1,
            sequence: 3,
            reason: SnapshotReason::Requested,
            state_bytes: 4,
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_written_and_any_damage_is_named() {
        let envelope = StateEnvelope::new("kv-state", 2, vec![1, 2, 3, 4]);
        let bytes = encode(&header(), &envelope);
        let (read_header, read_envelope) = decode(&bytes).expect("a whole snapshot reads back");
        assert_eq!((read_header, read_envelope), (header(), envelope));
        for cut in [0, 10, 30, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(decode(&bytes[..cut]), Err(ReadError::Damaged(_))), "cut at {cut} is damage");
        }
        for flipped in [20, 40, bytes.len() - 2] {
            let mut damaged = bytes.clone();
            damaged[flipped] ^= 0x01;
            assert!(matches!(decode(&damaged), Err(ReadError::Damaged(_))), "a flipped byte at {flipped} is damage");
        }
        let mut other_format = bytes.clone();
        other_format[17] = b'2';
        assert!(matches!(decode(&other_format), Err(ReadError::Format(found)) if found == "2"));
    }

    #[test]
    fn only_whole_snapshot_names_are_read_and_odd_module_names_get_safe_directories() {
        assert_eq!(sequence_of("00000000000000000012.snapshot"), Some(12));
        assert_eq!(sequence_of(".partial-abc"), None);
        assert_eq!(sequence_of("12.snapshot"), None);
        assert_eq!(module_directory_name("kv"), "kv");
        assert_eq!(module_directory_name("../x"), "x-2e2e2f78");
        assert_eq!(module_directory_name(""), "x-");
    }
}
