//! Watch mode (`HostBuilder::watch_directory`): a directory watched for plugin libraries, where each
//! `*.so` file created or changed updates the module it declares, for fast edit-build-run loops in
//! development.
//!
//! The watcher holds only a `Weak` reference to the host, so it never keeps the host alive; the host
//! owns the watcher and stops it when dropped. Events are debounced, and a file is loaded only once
//! its size has stopped changing. Because merely opening a file is an event too (the loader reads
//! the libraries it loads), each library's identity (device, inode, size, modification time) is
//! remembered, and a library is loaded again only when that identity changed.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ecdysis_protocol::ErrorChain;
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

use crate::error::{BuildError, UpdateError};
use crate::host::{Host, WeakHost};
use crate::updating::transaction::UpdateOptions;

/// How long the file system must stay quiet before a batch of changes is acted upon.
const DEBOUNCE: Duration = Duration::from_millis(300);
/// How often a changed library's size is looked at while it is still being written.
const SETTLE_INTERVAL: Duration = Duration::from_millis(100);
/// How long a library may keep changing before it is left for its next change event.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// A running directory watcher. Stops when dropped.
pub(crate) struct DirectoryWatcher {
    _debouncer: Debouncer<RecommendedWatcher>,
}

impl DirectoryWatcher {
    /// Remembers the libraries already in `directory`, then watches it (not recursively) for new or
    /// changed ones, updating modules of the host behind `host` while it lives.
    pub(crate) fn start(directory: &Path, host: WeakHost) -> Result<DirectoryWatcher, BuildError> {
        let refuse = |reason: String| BuildError::Watch { path: directory.to_owned(), reason };
        let canonical = directory.canonicalize().map_err(|error| refuse(format!("cannot resolve it: {error}")))?;
        if !canonical.is_dir() {
            return Err(refuse("it is not a directory".to_owned()));
        }
        let entries = std::fs::read_dir(&canonical).map_err(|error| refuse(format!("cannot list it: {error}")))?;
        let seen = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| is_library_name(path))
            .filter_map(|path| Identity::of(&path).map(|identity| (path, identity)))
            .collect();
        let mut state = WatchState { host, seen };
        let mut debouncer =
            new_debouncer(DEBOUNCE, move |result: DebounceEventResult| state.handle(result)).map_err(|error| refuse(error.to_string()))?;
        debouncer.watcher().watch(&canonical, RecursiveMode::NonRecursive).map_err(|error| refuse(error.to_string()))?;
        tracing::info!(directory = %canonical.display(), "watching for plugin libraries");
        Ok(DirectoryWatcher { _debouncer: debouncer })
    }
}

/// What tells one content of a file from another without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    size: u64,
    modified_seconds: i64,
    modified_nanoseconds: i64,
}

impl Identity {
    /// The identity of the regular file at `path`; `None` when there is none (removed, or not a
    /// regular file).
    fn of(path: &Path) -> Option<Identity> {
        let metadata = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
        Some(Identity {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_seconds: metadata.mtime(),
            modified_nanoseconds: metadata.mtime_nsec(),
        })
    }
}

fn is_library_name(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "so")
}

/// What the debouncer's thread keeps between batches of events.
struct WatchState {
    host: WeakHost,
    /// The identity each library had when it was last acted upon (or found at start).
    seen: HashMap<PathBuf, Identity>,
}

/// Whether a changed file is ready to be loaded.
enum Settled {
    /// Its size and identity held still for one interval.
    Ready(Identity),
    /// It is gone, or not a regular file.
    Gone,
    /// It kept changing (or stayed empty) until the limit.
    StillChanging,
}

/// Waits until the file at `path` stops changing: the same identity twice, one interval apart, and
/// not empty.
fn settle(path: &Path) -> Settled {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let Some(mut last) = Identity::of(path) else { return Settled::Gone };
    while Instant::now() < deadline {
        std::thread::sleep(SETTLE_INTERVAL);
        let Some(now) = Identity::of(path) else { return Settled::Gone };
        if now == last && now.size > 0 {
            return Settled::Ready(now);
        }
        last = now;
    }
    Settled::StillChanging
}

impl WatchState {
    fn handle(&mut self, result: DebounceEventResult) {
        let events = match result {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, "watch mode: the directory watcher reported an error");
                return;
            }
        };
        let mut paths: Vec<PathBuf> = events.into_iter().map(|event| event.path).filter(|path| is_library_name(path)).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            if self.host.is_gone() {
                return;
            }
            let identity = match settle(&path) {
                Settled::Ready(identity) => identity,
                Settled::Gone => {
                    self.seen.remove(&path);
                    continue;
                }
                Settled::StillChanging => {
                    tracing::warn!(path = %path.display(), limit = ?SETTLE_LIMIT, "watch mode: library still changing; left for its next change");
                    continue;
                }
            };
            // Opening or reading a file is an event too (the loader reads what it loads).
            if self.seen.insert(path.clone(), identity) == Some(identity) {
                continue;
            }
            let Some(host) = self.host.upgrade() else { return };
            update(&host, &path);
        }
    }
}

/// Updates the module the library at `path` declares, and logs the outcome.
fn update(host: &Host, path: &Path) {
    match host.update_from_library(path, &UpdateOptions::new()) {
        Ok(report) => tracing::info!(
            module = %report.module,
            from = %report.from_version,
            to = %report.to_version,
            pause = ?report.pause,
            path = %path.display(),
            "watch mode: module updated"
        ),
        Err(UpdateError::NoSuchModule { module }) => {
            tracing::debug!(%module, path = %path.display(), "watch mode: skipped a library of a module that is not loaded");
        }
        Err(error) => tracing::warn!(
            error = %ErrorChain(&error),
            path = %path.display(),
            "watch mode: update refused; the running version keeps serving"
        ),
    }
}
