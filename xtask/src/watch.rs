//! `cargo xtask watch <plugin-crate> [--socket PATH] [--release]`: watches a plugin crate's sources
//! and, on every change, rebuilds it and updates a running host to it, one line per cycle. A failed
//! build or a refused update leaves the host on its running version, and watching goes on. Runs
//! until interrupted.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use notify_debouncer_mini::new_debouncer;
use notify_debouncer_mini::notify::RecursiveMode;

use crate::cargo;
use crate::plugin::{self, Arguments, PluginCrate, ReloadError};

/// How long the sources must stay quiet before a rebuild starts.
const DEBOUNCE: Duration = Duration::from_millis(300);

pub fn watch(arguments: &[String]) -> Result<(), String> {
    let arguments = Arguments::parse("watch", arguments)?;
    let plugin = plugin::find(&arguments.crate_name, arguments.profile())?;
    // Taken before watching starts, so that a change made meanwhile is seen as one.
    let mut sources_seen = snapshot(&plugin.directory);
    let (sender, receiver) = mpsc::channel();
    let mut debouncer = new_debouncer(DEBOUNCE, sender).map_err(|error| format!("could not start a file watcher: {error}"))?;
    // `Cargo.toml` through its directory: a watch on the file itself would be lost when an editor
    // replaces the file by renaming a new one over it.
    let sources = plugin.directory.join("src");
    let watcher = debouncer.watcher();
    watcher.watch(&sources, RecursiveMode::Recursive).map_err(|error| format!("cannot watch `{}`: {error}", sources.display()))?;
    watcher
        .watch(&plugin.directory, RecursiveMode::NonRecursive)
        .map_err(|error| format!("cannot watch `{}`: {error}", plugin.directory.display()))?;
    say(&format!("watching {} ({}); updating the host at {}", plugin.name, plugin.directory.display(), arguments.socket.display()));
    for events in receiver {
        let events = match events {
            Ok(events) => events,
            Err(error) => {
                say(&format!("[{}] file watcher error: {error}", clock()));
                continue;
            }
        };
        if !events.iter().any(|event| !under_target(&plugin.directory, &event.path)) {
            continue;
        }
        // Reading a file is an event too (cargo reads the sources it builds): act only on changes.
        let sources_now = snapshot(&plugin.directory);
        if sources_now == sources_seen {
            continue;
        }
        sources_seen = sources_now;
        cycle(&plugin, &arguments);
    }
    Err("the file watcher stopped".to_owned())
}

/// One rebuild and, if it succeeds and the library changed, one update; prints one line (after
/// the compiler's error lines, if the build failed).
fn cycle(plugin: &PluginCrate, arguments: &Arguments) {
    let library_before = identity(&plugin.library);
    let started = Instant::now();
    let mut build = cargo();
    build.args(["build", "-p", &plugin.name, "--message-format", "short"]);
    if arguments.release {
        build.arg("--release");
    }
    let output = build.output();
    let built = started.elapsed().as_secs_f64();
    let output = match output {
        Ok(output) => output,
        Err(error) => {
            say(&format!("[{}] could not run cargo: {error}", clock()));
            return;
        }
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|line| line.starts_with("error") || line.contains(": error")).collect();
        // Without recognisable error lines (a broken manifest, say), show everything cargo said.
        let shown = if errors.is_empty() { stderr.lines().collect() } else { errors };
        for line in shown {
            say(line);
        }
        say(&format!("[{}] build failed after {built:.1} s; the host keeps the running version", clock()));
        return;
    }
    if identity(&plugin.library) == library_before {
        say(&format!("[{}] built in {built:.1} s · library unchanged; the host was not touched", clock()));
        return;
    }
    let outcome = match plugin::reload(&arguments.socket, &plugin.library) {
        Ok(report) => format!(
            "{} {} → {} in {:.1} ms · pause {:.2} ms",
            report.module,
            report.from_version,
            report.to_version,
            report.total.as_secs_f64() * 1e3,
            report.pause.as_secs_f64() * 1e3
        ),
        Err(ReloadError::Refused(message)) => format!("update refused: {message}"),
        Err(ReloadError::Failed(message)) => format!("update failed: {message}"),
    };
    say(&format!("[{}] built in {built:.1} s · {outcome}", clock()));
}

/// Prints a line and flushes it at once (the output is often a pipe).
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// The local time of day, `HH:MM:SS` (from `date`, which knows the time zone; UTC if it fails).
fn clock() -> String {
    let local = std::process::Command::new("date").arg("+%H:%M:%S").output().ok().filter(|output| output.status.success());
    if let Some(time) = local.and_then(|output| String::from_utf8(output.stdout).ok()) {
        return time.trim().to_owned();
    }
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02}Z", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

fn under_target(crate_directory: &Path, path: &Path) -> bool {
    path.strip_prefix(crate_directory).unwrap_or(path).components().any(|component| component == Component::Normal("target".as_ref()))
}

/// What tells one content of a file from another without reading it: device, inode, size, and
/// modification time.
type Identity = (u64, u64, u64, i64, i64);

fn identity(path: &Path) -> Option<Identity> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.dev(), metadata.ino(), metadata.size(), metadata.mtime(), metadata.mtime_nsec()))
}

/// The identity of every file the watch covers: `Cargo.toml` and everything under `src/`.
fn snapshot(crate_directory: &Path) -> BTreeMap<PathBuf, Identity> {
    let mut files = BTreeMap::new();
    let manifest = crate_directory.join("Cargo.toml");
    if let Some(identity) = identity(&manifest) {
        files.insert(manifest, identity);
    }
    let mut directories = vec![crate_directory.join("src")];
    while let Some(directory) = directories.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else { continue };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && !under_target(crate_directory, &path) => directories.push(path),
                Ok(kind) if kind.is_file() => {
                    if let Some(identity) = identity(&path) {
                        files.insert(path, identity);
                    }
                }
                _ => {}
            }
        }
    }
    files
}
