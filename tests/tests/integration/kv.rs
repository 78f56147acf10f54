//! `kv-server` end to end: a real `kv-server` process driven by clients nobody here wrote (the
//! `redis` crate, Debian's `redis-cli` and `redis-benchmark`) while its `kv` module is updated live
//! through the control socket, v1 → v2 → v3 and back, with every reply and every key checked. Its
//! `KvServer` and Redis-tool helpers are shared with the other kv-server tests.

use rustix::process::{Pid, Resource, Signal, getrlimit, kill_process};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ecdysis_host::control::Client;
use ecdysis_host::protocol::{Command as ControlCommand, Reply};
use ecdysis_host::{HistoryEvent, SnapshotReport, UpdateReport};
use redis::Value;

use super::*;

/// How long any single step (a line from the server, a reply, an update, a tool's run) may take
/// before the test fails instead of hanging.
pub(super) const PATIENCE: Duration = Duration::from_secs(120);

/// What a test prints when Debian's Redis tools are missing.
pub(super) const TOOLS_MISSING: &str =
    "skipped: redis-cli/redis-benchmark not found; install Debian's redis-tools (apt-get install redis-tools)";

/// A `kv-server` child process listening on a free port of 127.0.0.1, with its control socket in a
/// private directory. Dropping it kills the process and waits for it.
pub(super) struct KvServer {
    child: Child,
    stdout_lines: Receiver<String>,
    stderr_text: Arc<Mutex<String>>,
    pub(super) socket: PathBuf,
    pub(super) port: u16,
    _directory: tempfile::TempDir,
}

impl KvServer {
    /// Starts a server on the library of `plugin_crate` (e.g. `kv-v1`) and waits until it says it
    /// is ready, running `expected_version`.
    pub(super) fn start(plugin_crate: &str, expected_version: &str) -> KvServer {
        KvServer::start_with(plugin_crate, expected_version, &[])
    }

    /// [`KvServer::start`], with more command-line arguments.
    pub(super) fn start_with(plugin_crate: &str, expected_version: &str, arguments: &[&std::ffi::OsStr]) -> KvServer {
        let (server, version) = KvServer::launch(plugin_crate, arguments);
        assert_eq!(version, expected_version, "kv-server is ready on another version");
        server
    }

    /// Starts a server on the library of `plugin_crate` with more command-line arguments, waits
    /// until it says it is ready, and returns it with the version it is ready on (with a state
    /// directory, that of its newest snapshot).
    pub(super) fn launch(plugin_crate: &str, arguments: &[&std::ffi::OsStr]) -> (KvServer, String) {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let socket = directory.path().join("control.sock");
        let mut child = Command::new(built().binary("kv-server"))
            .args(arguments)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--control")
            .arg(&socket)
            .arg("--plugin")
            .arg(sample(plugin_crate))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kv-server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (line_sender, stdout_lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line_sender.send(line).is_err() {
                    return;
                }
            }
        });
        // The server logs every update to stderr: it is read all along, so that the pipe never
        // fills and blocks the server, and kept to explain a failure.
        let stderr_text = Arc::new(Mutex::new(String::new()));
        let stderr_collected = Arc::clone(&stderr_text);
        std::thread::spawn(move || {
            let mut chunk = [0_u8; 8192];
            while let Ok(bytes_read @ 1..) = stderr.read(&mut chunk) {
                stderr_collected.lock().unwrap().push_str(&String::from_utf8_lossy(&chunk[..bytes_read]));
            }
        });
        let mut server = KvServer { child, stdout_lines, stderr_text, socket, port: 0, _directory: directory };
        let announced_socket = server.next_line();
        assert_eq!(announced_socket, format!("control socket: {}", server.socket.display()));
        let listening = server.next_line();
        let port = listening.strip_prefix("listening on 127.0.0.1:").and_then(|port| port.parse().ok());
        server.port = port.unwrap_or_else(|| panic!("expected `listening on 127.0.0.1:PORT`, got `{listening}`"));
        assert_ne!(server.port, 0, "the real port is announced");
        let ready = server.next_line();
        let version = ready.strip_prefix("ready: kv ").unwrap_or_else(|| panic!("expected `ready: kv VERSION`, got `{ready}`")).to_owned();
        (server, version)
    }

    /// The server's next line on stdout, waiting at most [`PATIENCE`].
    pub(super) fn next_line(&mut self) -> String {
        match self.stdout_lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("kv-server said nothing for {PATIENCE:?}; its stderr:\n{}", self.stderr()),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("kv-server closed its stdout; its stderr:\n{}", self.stderr())
            }
        }
    }

    /// What the server wrote to stderr so far.
    pub(super) fn stderr(&self) -> String {
        self.stderr_text.lock().unwrap().clone()
    }

    /// The URL a Redis client connects to.
    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A new client connection, whose replies are awaited at most [`PATIENCE`].
    pub(super) fn connect(&self) -> redis::Connection {
        connect(&self.url()).unwrap_or_else(|error| panic!("{error}; kv-server's stderr:\n{}", self.stderr()))
    }

    /// Updates the `kv` module to the library of `plugin_crate` through the control socket.
    pub(super) fn reload(&self, plugin_crate: &str, allow_downgrade: bool, force: bool) -> Result<UpdateReport, String> {
        self.reload_library(sample(plugin_crate), allow_downgrade, force)
    }

    /// Updates the `kv` module to the library at `library` through the control socket.
    pub(super) fn reload_library(&self, library: PathBuf, allow_downgrade: bool, force: bool) -> Result<UpdateReport, String> {
        let plugin_crate = library.display().to_string();
        let mut control = Client::connect(&self.socket, PATIENCE).expect("the control socket accepts");
        let command = ControlCommand::Reload { module: Some("kv".into()), library, allow_downgrade, force, lazy: false };
        match control.request(command) {
            Ok(Reply::Report { report }) => Ok(report),
            Ok(Reply::Error { kind, message }) => Err(format!("{kind:?}: {message}")),
            Ok(other) => panic!("unexpected reply to a reload: {other:?}"),
            // A read timeout means the update took longer than PATIENCE: a test failure, not a refusal.
            Err(error) => {
                panic!("no reply to a reload to {plugin_crate} within {PATIENCE:?}: {error}; kv-server's stderr:\n{}", self.stderr())
            }
        }
    }

    /// Snapshots every module through the control socket.
    pub(super) fn snapshot(&self) -> Result<Vec<SnapshotReport>, String> {
        let mut control = Client::connect(&self.socket, PATIENCE).expect("the control socket accepts");
        match control.request(ControlCommand::Snapshot { module: None }) {
            Ok(Reply::Snapshots { snapshots }) => Ok(snapshots),
            Ok(Reply::Error { kind, message }) => Err(format!("{kind:?}: {message}")),
            Ok(other) => panic!("unexpected reply to a snapshot: {other:?}"),
            Err(error) => Err(format!("no reply to a snapshot: {error}")),
        }
    }

    /// Updates to `plugin_crate`, which must go through and run `expected_version`.
    #[track_caller]
    pub(super) fn update_to(&self, plugin_crate: &str, expected_version: &str, allow_downgrade: bool) -> UpdateReport {
        let report = self
            .reload(plugin_crate, allow_downgrade, false)
            .unwrap_or_else(|error| panic!("updating to {plugin_crate} failed: {error}; kv-server's stderr:\n{}", self.stderr()));
        assert_eq!(report.to_version.to_string(), expected_version);
        report
    }

    /// Sends `signal` to the server and waits (at most [`PATIENCE`]) for it to exit. Returns its
    /// exit status and every line it printed on stdout since start-up.
    pub(super) fn stop_with(&mut self, signal: Signal) -> (ExitStatus, Vec<String>) {
        // The process is our child and has not been waited for, so its id cannot have been reused.
        let process_id = Pid::from_child(&self.child);
        kill_process(process_id, signal).unwrap_or_else(|error| panic!("sending signal {signal:?} to kv-server: {error}"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for kv-server") {
                break status;
            }
            assert!(started.elapsed() < PATIENCE, "kv-server did not exit within {PATIENCE:?} of signal {signal:?}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout_lines.recv_timeout(PATIENCE) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for KvServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client connection to `url`, whose replies are awaited at most [`PATIENCE`].
pub(super) fn connect(url: &str) -> Result<redis::Connection, String> {
    let client = redis::Client::open(url).map_err(|error| format!("bad URL {url}: {error}"))?;
    let connection = client.get_connection_with_timeout(PATIENCE).map_err(|error| format!("cannot connect to {url}: {error}"))?;
    connection.set_read_timeout(Some(PATIENCE)).map_err(|error| error.to_string())?;
    connection.set_write_timeout(Some(PATIENCE)).map_err(|error| error.to_string())?;
    Ok(connection)
}

/// The version the server's `INFO` reports (`ecdysis_kv_version:…`).
pub(super) fn reported_version(connection: &mut redis::Connection) -> String {
    let info: String = redis::cmd("INFO").query(connection).expect("INFO");
    let line = info.lines().find_map(|line| line.strip_prefix("ecdysis_kv_version:"));
    line.unwrap_or_else(|| panic!("INFO has no ecdysis_kv_version line:\n{info}")).trim().to_owned()
}

pub(super) fn database_size(connection: &mut redis::Connection) -> i64 {
    redis::cmd("DBSIZE").query(connection).expect("DBSIZE")
}

/// How many keys the large test writes, and how many go in one pipeline.
pub(super) const KEY_COUNT: usize = 100_000;
pub(super) const PIPELINE_LENGTH: usize = 1_000;

/// The time to live given to some keys, in seconds.
pub(super) const TIME_TO_LIVE_SECONDS: i64 = 3600;

pub(super) fn key(index: usize) -> String {
    format!("key:{index:06}")
}

/// A value that differs for every key and is not derivable from the key's text alone.
pub(super) fn value(index: usize) -> String {
    format!("value-{index}-{}", (index as u64).wrapping_mul(2_654_435_761) % 1_000_003)
}

/// Whether key `index` gets a time to live (1,000 of the 100,000).
pub(super) fn has_time_to_live(index: usize) -> bool {
    index % 100 == 7
}

/// Checks every key's value, and, when `expiry_set_at` tells when EXPIRE was sent (on v2 and
/// later), every key's TTL: about [`TIME_TO_LIVE_SECONDS`] minus the time since for the keys that
/// have one, -1 for the others.
#[track_caller]
pub(super) fn check_every_key(connection: &mut redis::Connection, expiry_set_at: Option<Instant>) {
    for first in (0..KEY_COUNT).step_by(PIPELINE_LENGTH) {
        let indices = first..first + PIPELINE_LENGTH;
        let mut pipeline = redis::pipe();
        for index in indices.clone() {
            pipeline.cmd("GET").arg(key(index));
        }
        let values: Vec<Option<String>> = pipeline.query(connection).expect("a pipeline of GETs");
        for (index, found) in indices.clone().zip(values) {
            assert_eq!(found.as_deref(), Some(value(index).as_str()), "value of {}", key(index));
        }
        let Some(expiry_set_at) = expiry_set_at else { continue };
        let mut pipeline = redis::pipe();
        for index in indices.clone() {
            pipeline.cmd("TTL").arg(key(index));
        }
        let times_to_live: Vec<i64> = pipeline.query(connection).expect("a pipeline of TTLs");
        let elapsed = i64::try_from(expiry_set_at.elapsed().as_secs()).unwrap_or(i64::MAX);
        for (index, time_to_live) in indices.zip(times_to_live) {
            if has_time_to_live(index) {
                let lowest = TIME_TO_LIVE_SECONDS - elapsed - 2;
                assert!(
                    (lowest..=TIME_TO_LIVE_SECONDS).contains(&time_to_live),
                    "TTL of {} is {time_to_live}, expected {lowest}..={TIME_TO_LIVE_SECONDS}",
                    key(index)
                );
            } else {
                assert_eq!(time_to_live, -1, "TTL of {}, which has no time to live", key(index));
            }
        }
    }
    assert_eq!(database_size(connection), KEY_COUNT as i64);
}

#[test]
fn a_library_cut_short_is_refused_and_the_server_keeps_serving_every_key() {
    let server = KvServer::start("kv-v1", "1.0.0");
    let mut connection = server.connect();
    let keys = 1_000;
    let mut pipeline = redis::pipe();
    for index in 0..keys {
        pipeline.cmd("SET").arg(key(index)).arg(value(index)).ignore();
    }
    let () = pipeline.query(&mut connection).expect("a pipeline of SETs");
    // A copy or a build caught half-written, cut inside the segments `dlopen` maps (the first few
    // hundred kilobytes of a debug build; the rest is debug information): without the ELF check,
    // the dynamic loader touches the missing pages and the server dies of SIGBUS.
    let scratch = tempfile::tempdir().unwrap();
    let library = cut_short("kv-v2", 32, scratch.path(), "libkv_v2.so");
    let error = server.reload_library(library, false, false).expect_err("a library cut short is refused");
    assert!(error.contains("cannot be loaded") && error.contains("cut short"), "the refusal says why: {error}");
    assert_eq!(reported_version(&mut connection), "1.0.0", "the same version serves");
    assert_eq!(database_size(&mut connection), keys as i64);
    for index in 0..keys {
        let stored: String = redis::cmd("GET").arg(key(index)).query(&mut connection).expect("GET");
        assert_eq!(stored, value(index));
    }
}

/// What the server's history says, oldest first, as `(module, kind, version)`.
pub(super) fn history(server: &KvServer) -> Vec<(String, String, String)> {
    let mut control = Client::connect(&server.socket, PATIENCE).expect("the control socket accepts");
    let Ok(Reply::History { entries }) = control.request(ControlCommand::History) else { panic!("a history reply") };
    entries
        .into_iter()
        .map(|entry| {
            let event = serde_json::to_value(&entry.event).expect("an event serialises");
            let kind = event["kind"].as_str().unwrap_or_default().to_owned();
            let version = match &entry.event {
                HistoryEvent::Loaded { version, .. } => version.to_string(),
                HistoryEvent::Updated { report } => format!("{} -> {}", report.from_version, report.to_version),
                _ => String::new(),
            };
            (entry.module, kind, version)
        })
        .collect()
}

#[test]
fn the_history_survives_a_sigkill_with_a_state_directory() {
    let state = tempfile::tempdir().unwrap();
    let arguments = [std::ffi::OsStr::new("--state-dir"), state.path().as_os_str()];
    let mut server = KvServer::start_with("kv-v1", "1.0.0", &arguments);
    server.update_to("kv-v2", "2.0.0", false);
    server.update_to("kv-v3", "3.0.0", false);
    let before = history(&server);
    assert_eq!(before.len(), 3, "{before:?}");
    // No chance to flush anything: every entry was on disk before its operation returned.
    let (status, _) = server.stop_with(Signal::KILL);
    assert!(!status.success());
    let server = KvServer::start_with("kv-v1", "1.0.0", &arguments);
    let after = history(&server);
    assert_eq!(after[..3], before[..], "the entries made before the SIGKILL are read back");
    assert_eq!(after[3], ("kv".to_owned(), "loaded".to_owned(), "1.0.0".to_owned()), "and the restart is recorded after them");
    assert_eq!(after.len(), 4);
}

/// How many times the SIGKILL test kills `kv-server` during an update.
pub(super) const KILL_ROUNDS: usize = 20;

/// The key the SIGKILL test writes `index`-th: written in order, one at a time, so that the keys
/// present after a restart must be exactly the first so many.
pub(super) fn ordered_key(index: usize) -> String {
    format!("ordered:{index:07}")
}

/// A small, seeded pseudo-random sequence (xorshift64), so that a failing run can be told apart by
/// its seed.
pub(super) struct Random(u64);

impl Random {
    pub(super) fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// How many of the ordered keys the server holds: all of `0..count` with their values, and no
/// other key. Fails when they are not a whole prefix (a half-transformed or half-written state).
#[track_caller]
pub(super) fn ordered_keys_present(connection: &mut redis::Connection) -> usize {
    let count = usize::try_from(database_size(connection)).expect("a key count");
    for first in (0..count).step_by(PIPELINE_LENGTH) {
        let indices = first..(first + PIPELINE_LENGTH).min(count);
        let mut pipeline = redis::pipe();
        for index in indices.clone() {
            pipeline.cmd("GET").arg(ordered_key(index));
        }
        let values: Vec<Option<String>> = pipeline.query(connection).expect("a pipeline of GETs");
        for (index, found) in indices.zip(values) {
            assert_eq!(found, Some(value(index)), "{} of the {count} keys present is not the one written", ordered_key(index));
        }
    }
    count
}

/// The names of the temporary files in `directory`: writes not yet renamed into place.
pub(super) fn partial_files(directory: &std::path::Path) -> Vec<String> {
    let entries = std::fs::read_dir(directory).expect("the snapshot directory");
    let names = entries.map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned());
    names.filter(|name| !name.ends_with(".snapshot")).collect()
}

/// The newest entry of the server's history that records a start (`loaded` or `restored`); later
/// ones may record periodic snapshots.
pub(super) fn last_start(server: &KvServer) -> HistoryEvent {
    let mut control = Client::connect(&server.socket, PATIENCE).expect("the control socket accepts");
    let Ok(Reply::History { entries }) = control.request(ControlCommand::History) else { panic!("a history reply") };
    let start = entries.into_iter().rev().find(|entry| matches!(entry.event, HistoryEvent::Loaded { .. } | HistoryEvent::Restored { .. }));
    start.expect("the start is in the history").event
}

#[test]
fn a_kv_server_killed_at_random_moments_of_updates_comes_back_on_one_version_with_one_whole_snapshotted_state() {
    let state = tempfile::tempdir().unwrap();
    let arguments: Vec<&std::ffi::OsStr> = ["--state-dir".as_ref(), state.path().as_os_str()]
        .into_iter()
        .chain(["--probation-ms", "150", "--snapshot-interval-ms", "40"].map(std::ffi::OsStr::new))
        .collect();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |since| since.as_nanos() as u64) | 1;
    println!("kill moments seeded with {seed}");
    let mut random = Random(seed);
    let (mut server, mut version) = KvServer::launch("kv-v1", &arguments);
    assert_eq!(version, "1.0.0", "an empty state directory starts on the library given");
    let mut present = 0;
    for round in 0..KILL_ROUNDS {
        // Keys written, then a snapshot acknowledged: at least these come back, whatever happens next.
        let mut connection = server.connect();
        let mut pipeline = redis::pipe();
        for index in present..present + 50 {
            pipeline.cmd("SET").arg(ordered_key(index)).arg(value(index)).ignore();
        }
        let () = pipeline.query(&mut connection).expect("a pipeline of SETs");
        let snapshots = server.snapshot().unwrap_or_else(|error| panic!("round {round}: the snapshot failed: {error}"));
        assert_eq!(snapshots.len(), 1);
        assert_eq!(snapshots[0].version.to_string(), version);
        let guaranteed = present + 50;

        // A client keeps writing, one key at a time, while the module is updated and committed; the
        // server is killed at a random moment of it (before, during or after the update, the
        // commit, the snapshots that follow it and the periodic ones).
        let (target_crate, target_version) = match version.as_str() {
            "1.0.0" => ("kv-v2", "2.0.0"),
            "2.0.0" => ("kv-v3", "3.0.0"),
            _ => ("kv-v1", "1.0.0"),
        };
        let acknowledged = Arc::new(AtomicU64::new(guaranteed as u64));
        let writer = {
            let (url, acknowledged) = (server.url(), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                let Ok(mut connection) = connect(&url) else { return };
                for index in guaranteed.. {
                    if redis::cmd("SET").arg(ordered_key(index)).arg(value(index)).exec(&mut connection).is_err() {
                        return;
                    }
                    acknowledged.store(index as u64 + 1, Ordering::SeqCst);
                }
            })
        };
        let committed = Arc::new(AtomicBool::new(false));
        let updater = {
            let (socket, committed) = (server.socket.clone(), Arc::clone(&committed));
            let library = sample(target_crate);
            std::thread::spawn(move || {
                let Ok(mut control) = Client::connect(&socket, PATIENCE) else { return };
                let reload =
                    ControlCommand::Reload { module: Some("kv".into()), library, allow_downgrade: true, force: false, lazy: false };
                if !matches!(control.request(reload), Ok(Reply::Report { .. })) {
                    return;
                }
                if matches!(control.request(ControlCommand::Commit { module: "kv".into() }), Ok(Reply::Committed { .. })) {
                    committed.store(true, Ordering::SeqCst);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(random.below(150)));
        let (status, _) = server.stop_with(Signal::KILL);
        assert!(!status.success(), "round {round}: kv-server was killed");
        writer.join().expect("the writer ends when the server dies");
        updater.join().expect("the updater ends when the server dies");
        let acknowledged = usize::try_from(acknowledged.load(Ordering::SeqCst)).expect("a key count");
        let committed = committed.load(Ordering::SeqCst);
        let before_kill = version.clone();
        let left_behind = partial_files(&state.path().join("snapshots").join("kv"));

        // Restarted with the same flags (on kv-v1's library): one version, one whole state.
        let (restarted, restarted_version) = KvServer::launch("kv-v1", &arguments);
        server = restarted;
        let context = format!(
            "round {round} (seed {seed}): {before_kill} → {target_version}, committed: {committed}, {acknowledged} keys acknowledged, {guaranteed} in the acknowledged snapshot"
        );
        println!("{context}: came back on {restarted_version}");
        assert!(restarted_version == before_kill || restarted_version == target_version, "{context}: came back on {restarted_version}");
        if committed {
            assert_eq!(restarted_version, target_version, "{context}: a commit's snapshot is on disk before its reply");
        }
        let mut connection = server.connect();
        assert_eq!(reported_version(&mut connection), restarted_version, "{context}");
        present = ordered_keys_present(&mut connection);
        assert!(present >= guaranteed, "{context}: only {present} keys came back");
        assert!(present <= acknowledged + 1, "{context}: {present} keys came back, more than were written");
        let start = last_start(&server);
        let HistoryEvent::Restored { version: restored_version, snapshot, .. } = start else {
            panic!("{context}: the start is recorded as a restart, not as {start:?}")
        };
        assert_eq!(restored_version.to_string(), restarted_version, "{context}");
        assert!(snapshot.extension().is_some_and(|extension| extension == "snapshot"), "{context}: {}", snapshot.display());
        // What the kill left behind of an interrupted write is removed at start (the running server
        // may have temporary files of its own by now, under other names).
        let left_over = partial_files(&state.path().join("snapshots").join("kv"));
        for name in &left_behind {
            assert!(!left_over.contains(name), "{context}: `{name}`, left by the kill, is still in the snapshot directory");
        }
        version = restarted_version;
    }
}

#[test]
fn kv_server_writes_a_last_snapshot_when_it_shuts_down_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let arguments = [std::ffi::OsStr::new("--state-dir"), state.path().as_os_str()];
    let mut server = KvServer::start_with("kv-v1", "1.0.0", &arguments);
    server.update_to("kv-v2", "2.0.0", false);
    let mut connection = server.connect();
    for index in 0..200 {
        redis::cmd("SET").arg(ordered_key(index)).arg(value(index)).exec(&mut connection).expect("SET");
    }
    drop(connection);
    let (status, lines) = server.stop_with(Signal::TERM);
    assert!(status.success(), "{}", server.stderr());
    assert_eq!(lines, ["shut down"]);
    // No snapshot was asked for: the one written at shutdown holds every write, on the version that
    // ran (still on probation).
    let server = KvServer::start_with("kv-v1", "2.0.0", &arguments);
    let mut connection = server.connect();
    assert_eq!(ordered_keys_present(&mut connection), 200);
}

#[test]
fn ecdysis_snapshot_writes_what_it_says_and_status_and_history_show_it() {
    use super::cli::run_ecdysis;
    let state = tempfile::tempdir().unwrap();
    let arguments = [std::ffi::OsStr::new("--state-dir"), state.path().as_os_str()];
    let server = KvServer::start_with("kv-v1", "1.0.0", &arguments);
    let mut connection = server.connect();
    redis::cmd("SET").arg("fruit").arg("apple").exec(&mut connection).expect("SET");
    let ecdysis = |command: &[&str]| {
        let mut all = vec![std::ffi::OsStr::new("--socket"), server.socket.as_os_str()];
        all.extend(command.iter().map(std::ffi::OsStr::new));
        run_ecdysis(&all, |_| {})
    };
    let run = ecdysis(&["snapshot", "kv"]);
    assert_eq!((run.exit_code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    let line = run.stdout.trim_end();
    assert!(line.starts_with("snapshot of kv 1.0.0 (state schema v1, ") && line.contains(" bytes, requested) written to "), "{line}");
    let path = PathBuf::from(line.rsplit(" written to ").next().unwrap());
    assert!(path.starts_with(state.path()) && path.is_file(), "the file it names is there: {}", path.display());

    let run = ecdysis(&["snapshot", "--json"]);
    let snapshots: Vec<SnapshotReport> = serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {run:?}"));
    assert_eq!(snapshots.len(), 1, "every module: kv alone");
    assert_ne!(snapshots[0].path, path, "a new file each time");

    let run = ecdysis(&["status"]);
    assert!(run.stdout.contains("kv: last snapshot ") && run.stdout.contains(&snapshots[0].path.display().to_string()), "{run:?}");
    let run = ecdysis(&["history"]);
    assert_eq!(run.stdout.matches(", requested) written to ").count(), 2, "{run:?}");
    let run = ecdysis(&["snapshot", "kettle"]);
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert!(run.stderr.contains("no module named `kettle`"), "{run:?}");
}

#[test]
fn one_hundred_thousand_keys_survive_v1_v2_v3_and_back_to_v2() {
    let server = KvServer::start("kv-v1", "1.0.0");
    let mut connection = server.connect();

    // v1: 100,000 keys, written in pipelines of 1,000, every reply checked.
    for first in (0..KEY_COUNT).step_by(PIPELINE_LENGTH) {
        let mut pipeline = redis::pipe();
        for index in first..first + PIPELINE_LENGTH {
            pipeline.cmd("SET").arg(key(index)).arg(value(index));
        }
        let replies: Vec<Value> = pipeline.query(&mut connection).expect("a pipeline of SETs");
        assert_eq!(replies.len(), PIPELINE_LENGTH);
        assert!(replies.iter().all(|reply| *reply == Value::Okay), "every SET answers OK");
    }
    assert_eq!(reported_version(&mut connection), "1.0.0");
    check_every_key(&mut connection, None);

    // v2: the keys came over; 1,000 of them get a time to live.
    let report = server.update_to("kv-v2", "2.0.0", false);
    println!("v1 → v2 with {KEY_COUNT} keys: {} bytes of state, pause {:?}", report.state_bytes, report.pause);
    assert_eq!(reported_version(&mut connection), "2.0.0", "the same connection now talks to v2");
    check_every_key(&mut connection, None);
    let expiry_set_at = Instant::now();
    let mut pipeline = redis::pipe();
    for index in (0..KEY_COUNT).filter(|&index| has_time_to_live(index)) {
        pipeline.cmd("EXPIRE").arg(key(index)).arg(TIME_TO_LIVE_SECONDS);
    }
    let replies: Vec<i64> = pipeline.query(&mut connection).expect("a pipeline of EXPIREs");
    assert_eq!(replies, vec![1; KEY_COUNT / 100], "every EXPIRE finds its key");
    check_every_key(&mut connection, Some(expiry_set_at));

    // v3: values and times to live came over.
    let report = server.update_to("kv-v3", "3.0.0", false);
    println!("v2 → v3 with {KEY_COUNT} keys: {} bytes of state, pause {:?}", report.state_bytes, report.pause);
    assert_eq!(reported_version(&mut connection), "3.0.0");
    check_every_key(&mut connection, Some(expiry_set_at));

    // Back to v2 (a downgrade, allowed): strings only, so nothing is refused or lost. v3's
    // migration down ran in the rehearsal first, and the round trip was checked there.
    let report = server.update_to("kv-v2", "2.0.0", true);
    assert!(report.rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked), "{report:?}");
    println!("v3 → v2 with {KEY_COUNT} keys: {} bytes of state, pause {:?}", report.state_bytes, report.pause);
    assert_eq!(reported_version(&mut connection), "2.0.0");
    check_every_key(&mut connection, Some(expiry_set_at));

    // With a list on v3, a downgrade to v2 is refused, naming the lists, and v3 keeps serving
    // everything; forced, it goes through and drops the list.
    server.update_to("kv-v3", "3.0.0", false);
    let length: i64 = redis::cmd("LPUSH").arg("a-list").arg("one").arg("two").arg("three").query(&mut connection).expect("LPUSH");
    assert_eq!(length, 3);
    let refusal = server.reload("kv-v2", true, false).expect_err("a downgrade that would drop a list is refused");
    assert!(refusal.contains("1 list(s)"), "the refusal names the lists: {refusal}");
    // The migration down is v3's code: it ran first in the rehearsal process, which refused.
    assert!(refusal.contains("its rehearsal in a child process failed during the running version's migration down"), "{refusal}");
    assert_eq!(reported_version(&mut connection), "3.0.0", "v3 keeps serving after the refusal");
    let list: Vec<String> = redis::cmd("LRANGE").arg("a-list").arg(0).arg(-1).query(&mut connection).expect("LRANGE");
    assert_eq!(list, ["three", "two", "one"]);
    assert_eq!(database_size(&mut connection), KEY_COUNT as i64 + 1);
    redis::cmd("DEL").arg("a-list").exec(&mut connection).expect("DEL");
    check_every_key(&mut connection, Some(expiry_set_at));
    let length: i64 = redis::cmd("RPUSH").arg("a-list").arg("one").query(&mut connection).expect("RPUSH");
    assert_eq!(length, 1);

    let report = server.reload("kv-v2", true, true).expect("a forced downgrade goes through");
    assert_eq!(report.to_version.to_string(), "2.0.0");
    assert_eq!(reported_version(&mut connection), "2.0.0");
    let exists: i64 = redis::cmd("EXISTS").arg("a-list").query(&mut connection).expect("EXISTS");
    assert_eq!(exists, 0, "the forced downgrade dropped the list");
    check_every_key(&mut connection, Some(expiry_set_at));
}

/// What one client thread of the live-update test did.
#[derive(Debug)]
pub(super) struct ClientOutcome {
    /// The value of every key whose write was acknowledged, as last written.
    acknowledged: HashMap<String, String>,
    /// The client's counter key and the value its last acknowledged INCR returned.
    counter: (String, i64),
    /// How many commands the client sent and checked.
    commands: u64,
}

/// One client of the live-update test: SET, GET, INCR and pipelines of them on its own keys, every
/// reply checked against what it acknowledged before, until `stop` is set (bounded in rounds and
/// time). Returns the first wrong reply or error, if any.
pub(super) fn run_client(url: &str, client_index: usize, stop: &AtomicBool, commands_sent: &AtomicU64) -> Result<ClientOutcome, String> {
    const MAXIMUM_ROUNDS: u64 = 5_000_000;
    const KEYS_PER_CLIENT: u64 = 64;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut connection = connect(url)?;
    let mut acknowledged: HashMap<String, String> = HashMap::new();
    let counter_key = format!("client-{client_index}:counter");
    let mut counter_value = 0_i64;
    let mut commands = 0;
    for round in 0..MAXIMUM_ROUNDS {
        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
            break;
        }
        let context = |error: redis::RedisError| format!("client {client_index}, round {round}: {error}");
        let key = format!("client-{client_index}:key-{}", round % KEYS_PER_CLIENT);
        let value = format!("value-{client_index}-{round}");
        match round % 4 {
            0 => {
                let reply: Value = redis::cmd("SET").arg(&key).arg(&value).query(&mut connection).map_err(context)?;
                if reply != Value::Okay {
                    return Err(format!("client {client_index}, round {round}: SET {key} answered {reply:?}"));
                }
                acknowledged.insert(key, value);
                commands += 1;
            }
            1 => {
                let found: Option<String> = redis::cmd("GET").arg(&key).query(&mut connection).map_err(context)?;
                if found.as_ref() != acknowledged.get(&key) {
                    return Err(format!(
                        "client {client_index}, round {round}: GET {key} answered {found:?}, expected {:?}",
                        acknowledged.get(&key)
                    ));
                }
                commands += 1;
            }
            2 => {
                let incremented: i64 = redis::cmd("INCR").arg(&counter_key).query(&mut connection).map_err(context)?;
                if incremented != counter_value + 1 {
                    return Err(format!(
                        "client {client_index}, round {round}: INCR answered {incremented}, expected {}",
                        counter_value + 1
                    ));
                }
                counter_value = incremented;
                commands += 1;
            }
            _ => {
                let other_key = format!("client-{client_index}:key-{}", (round / 4) % KEYS_PER_CLIENT);
                let (written, read_back, incremented, other): (Value, String, i64, Option<String>) = redis::pipe()
                    .cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .cmd("GET")
                    .arg(&key)
                    .cmd("INCR")
                    .arg(&counter_key)
                    .cmd("GET")
                    .arg(&other_key)
                    .query(&mut connection)
                    .map_err(context)?;
                let expected_other = if other_key == key { Some(&value) } else { acknowledged.get(&other_key) };
                if written != Value::Okay || read_back != value || incremented != counter_value + 1 || other.as_ref() != expected_other {
                    return Err(format!(
                        "client {client_index}, round {round}: the pipeline answered {written:?}, {read_back:?}, {incremented}, {other:?}; \
                         expected OK, {value:?}, {}, {expected_other:?}",
                        counter_value + 1
                    ));
                }
                acknowledged.insert(key, value);
                counter_value = incremented;
                commands += 4;
            }
        }
        commands_sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok(ClientOutcome { acknowledged, counter: (counter_key, counter_value), commands })
}

/// Checks that every client made more than `at_least_commands` commands and that every write a
/// client saw acknowledged reads back with its exact value on `connection`.
pub(super) fn check_acknowledged_writes(connection: &mut redis::Connection, outcomes: &[ClientOutcome], at_least_commands: u64) {
    for outcome in outcomes {
        assert!(outcome.commands > at_least_commands, "every client kept working: {} commands", outcome.commands);
        for (key, value) in &outcome.acknowledged {
            let found: Option<String> = redis::cmd("GET").arg(key).query(&mut *connection).expect("GET");
            assert_eq!(found.as_ref(), Some(value), "{key}");
        }
    }
}

#[test]
fn clients_keep_working_across_twenty_live_updates() {
    const CLIENTS: usize = 4;
    const UPDATES: usize = 20;
    let server = KvServer::start("kv-v2", "2.0.0");
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client_index| {
            let (url, stop, rounds) = (server.url(), Arc::clone(&stop), Arc::clone(&rounds));
            std::thread::spawn(move || run_client(&url, client_index, &stop, &rounds))
        })
        .collect();
    // The clients are busy before the first update and between every two. A client that stopped
    // early (a wrong reply) ends the updates; joining it below reports why.
    let wait_for_rounds = |at_least: u64| -> bool {
        let started = Instant::now();
        while rounds.load(Ordering::Relaxed) < at_least {
            if clients.iter().any(std::thread::JoinHandle::is_finished) {
                return false;
            }
            assert!(started.elapsed() < PATIENCE, "the clients made no progress for {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    };
    let mut pauses = Vec::new();
    for update in 0..UPDATES {
        if !wait_for_rounds(rounds.load(Ordering::Relaxed) + 200) {
            break;
        }
        let report = if update % 2 == 0 { server.update_to("kv-v3", "3.0.0", false) } else { server.update_to("kv-v2", "2.0.0", true) };
        pauses.push(report.pause);
    }
    wait_for_rounds(rounds.load(Ordering::Relaxed) + 200);
    stop.store(true, Ordering::SeqCst);
    let outcomes: Vec<ClientOutcome> = clients
        .into_iter()
        .map(|client| client.join().expect("a client thread does not panic").unwrap_or_else(|error| panic!("{error}")))
        .collect();
    assert_eq!(pauses.len(), UPDATES, "every update went through");
    let total_commands: u64 = outcomes.iter().map(|outcome| outcome.commands).sum();
    println!(
        "{CLIENTS} clients, {total_commands} commands, all replies right, across {UPDATES} updates; longest pause {:?}",
        pauses.iter().max()
    );

    // Every acknowledged write reads back with its exact value, on a fresh connection.
    let mut connection = server.connect();
    assert_eq!(reported_version(&mut connection), "2.0.0");
    check_acknowledged_writes(&mut connection, &outcomes, 1000);
    for outcome in &outcomes {
        let (counter_key, counter_value) = &outcome.counter;
        let found: i64 = redis::cmd("GET").arg(counter_key).query(&mut connection).expect("GET");
        assert_eq!(found, *counter_value, "{counter_key}");
    }
}

/// `program`'s path, when it is on `PATH`.
pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|directory| directory.join(program)).find(|candidate| candidate.is_file())
}

/// Whether both Redis tools are installed; prints [`TOOLS_MISSING`] when not.
pub(super) fn redis_tools_installed() -> bool {
    let installed = find_on_path("redis-cli").is_some() && find_on_path("redis-benchmark").is_some();
    if !installed {
        println!("{TOOLS_MISSING}");
    }
    installed
}

/// What one run of a tool did.
#[derive(Debug)]
pub(super) struct ToolRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Starts `program` with `arguments`, stdin closed, stdout and stderr read on threads of their own;
/// [`ToolRunning::finish`] waits for it.
pub(super) struct ToolRunning {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    description: String,
}

impl ToolRunning {
    pub(super) fn start(program: &str, arguments: &[&str]) -> ToolRunning {
        let mut child = Command::new(program)
            .args(arguments)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {program}: {error}"));
        let stdout = read_to_end_in_background(child.stdout.take().expect("stdout is piped"));
        let stderr = read_to_end_in_background(child.stderr.take().expect("stderr is piped"));
        ToolRunning { child, stdout, stderr, description: format!("{program} {}", arguments.join(" ")) }
    }

    /// Whether the tool has exited.
    pub(super) fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("waiting for a tool").is_some()
    }

    /// Waits for the tool (killing it and failing after [`PATIENCE`]) and returns what it did.
    pub(super) fn finish(mut self) -> ToolRun {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for a tool") {
                break status;
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("`{}` did not finish within {PATIENCE:?}", self.description);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        ToolRun {
            status,
            stdout: self.stdout.recv_timeout(PATIENCE).expect("the tool's stdout is read"),
            stderr: self.stderr.recv_timeout(PATIENCE).expect("the tool's stderr is read"),
        }
    }
}

impl Drop for ToolRunning {
    fn drop(&mut self) {
        // Only a run abandoned by a failing test is still going here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads all of `source` on a thread of its own; the text arrives on the channel at its end.
pub(super) fn read_to_end_in_background(mut source: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// Runs `redis-cli -h 127.0.0.1 -p PORT ARGUMENTS` and returns what it did.
pub(super) fn redis_cli(server: &KvServer, arguments: &[&str]) -> ToolRun {
    let port = server.port.to_string();
    let mut full_arguments = vec!["-h", "127.0.0.1", "-p", &port];
    full_arguments.extend(arguments);
    ToolRunning::start("redis-cli", &full_arguments).finish()
}

/// Runs `redis-cli` and checks that it succeeded and printed exactly `expected` (and a newline).
#[track_caller]
pub(super) fn check_redis_cli(server: &KvServer, arguments: &[&str], expected: &str) {
    let run = redis_cli(server, arguments);
    assert!(run.status.success(), "redis-cli {arguments:?}: {run:#?}");
    assert_eq!(run.stdout.trim_end(), expected, "redis-cli {arguments:?}: {run:#?}");
}

#[test]
fn redis_cli_works() {
    if !redis_tools_installed() {
        return;
    }
    let server = KvServer::start("kv-v3", "3.0.0");
    check_redis_cli(&server, &["ping"], "PONG");
    check_redis_cli(&server, &["set", "greeting", "hello world"], "OK");
    check_redis_cli(&server, &["get", "greeting"], "hello world");
    check_redis_cli(&server, &["incrby", "visits", "41"], "41");
    check_redis_cli(&server, &["incr", "visits"], "42");
    check_redis_cli(&server, &["rpush", "letters", "a", "b", "c"], "3");
    check_redis_cli(&server, &["lrange", "letters", "0", "-1"], "a\nb\nc");
    check_redis_cli(&server, &["hset", "user", "name", "Ada"], "1");
    check_redis_cli(&server, &["hget", "user", "name"], "Ada");
    check_redis_cli(&server, &["dbsize"], "4");
    let info = redis_cli(&server, &["info"]);
    assert!(info.status.success(), "{info:#?}");
    assert!(info.stdout.contains("ecdysis_kv_version:3.0.0"), "{info:#?}");

    // Error replies reach redis-cli as errors.
    let unknown = redis_cli(&server, &["nosuchcommand", "argument"]);
    assert!(unknown.stdout.contains("ERR unknown command 'nosuchcommand'"), "{unknown:#?}");
    let wrong_type = redis_cli(&server, &["get", "letters"]);
    assert!(wrong_type.stdout.contains("WRONGTYPE"), "{wrong_type:#?}");
    // And the server goes on serving.
    check_redis_cli(&server, &["get", "greeting"], "hello world");
}

/// The tests `redis-benchmark -t set,get,incr,lpush,lpop,mset` runs, as it names them.
pub(super) const BENCHMARK_TESTS: [&str; 6] = ["SET", "GET", "INCR", "LPUSH", "LPOP", "MSET (10 keys)"];

/// Starts `redis-benchmark -t set,get,incr,lpush,lpop,mset -n 100000 -P 16 -c 50 -q` against
/// `server`.
pub(super) fn start_benchmark(server: &KvServer) -> ToolRunning {
    let port = server.port.to_string();
    ToolRunning::start(
        "redis-benchmark",
        &["-h", "127.0.0.1", "-p", &port, "-t", "set,get,incr,lpush,lpop,mset", "-n", "100000", "-P", "16", "-c", "50", "-q"],
    )
}

/// Checks that a benchmark run completed without an error and printed a result for every test, and
/// returns the requests per second of each test.
#[track_caller]
pub(super) fn check_benchmark(run: &ToolRun) -> Vec<(String, f64)> {
    assert!(run.status.success(), "redis-benchmark failed: {run:#?}");
    // redis-benchmark exits at the first error reply; this also catches warnings (e.g. a CONFIG it
    // could not fetch).
    for text in [&run.stdout, &run.stderr] {
        for alarm in ["Error", "ERR", "WARNING"] {
            assert!(!text.contains(alarm), "redis-benchmark reported `{alarm}`: {run:#?}");
        }
    }
    // Quiet mode overwrites a progress line with '\r' and ends each test with a result line.
    let results: Vec<(String, f64)> = run
        .stdout
        .split(['\r', '\n'])
        .filter_map(|line| {
            let (test, rest) = line.split_once(": ")?;
            let requests_per_second = rest.split_once(" requests per second")?.0.trim().parse().ok()?;
            Some((test.trim().to_owned(), requests_per_second))
        })
        .collect();
    let names: Vec<&str> = results.iter().map(|(test, _)| test.as_str()).collect();
    assert_eq!(names, BENCHMARK_TESTS, "one result line per test: {run:#?}");
    assert!(results.iter().all(|(_, requests_per_second)| *requests_per_second > 0.0), "{results:?}");
    results
}

/// Checks what the benchmark left behind: 100,000 INCRs of one key, as many LPUSHes and LPOPs of
/// one list (so it is gone again).
#[track_caller]
pub(super) fn check_benchmark_effects(server: &KvServer) {
    let mut connection = server.connect();
    let increments: i64 = redis::cmd("GET").arg("counter:__rand_int__").query(&mut connection).expect("GET");
    assert!(increments >= 100_000, "every INCR counted: {increments}");
    let list_length: i64 = redis::cmd("LLEN").arg("mylist").query(&mut connection).expect("LLEN");
    assert_eq!(list_length, 0, "as many LPOPs as LPUSHes");
}

#[test]
fn redis_benchmark_runs_clean() {
    if !redis_tools_installed() {
        return;
    }
    let server = KvServer::start("kv-v3", "3.0.0");
    let results = check_benchmark(&start_benchmark(&server).finish());
    println!("redis-benchmark without updates: {results:?}");
    check_benchmark_effects(&server);
}

/// The worker threads kv-server's tests run it with: its default (one per core, tokio's
/// multi-thread runtime) and one (tokio's current-thread runtime, where a connection that waited on
/// the update's pause with a blocking call would stop every other).
pub(super) const THREAD_CONFIGURATIONS: [&[&str]; 2] = [&[], &["--threads", "1"]];

#[test]
fn redis_benchmark_runs_clean_while_updating() {
    if !redis_tools_installed() {
        return;
    }
    for threads in THREAD_CONFIGURATIONS {
        let arguments: Vec<&std::ffi::OsStr> = threads.iter().map(std::ffi::OsStr::new).collect();
        check_benchmark_while_updating(&KvServer::start_with("kv-v3", "3.0.0", &arguments));
    }
}

/// Runs `redis-benchmark` against `server` while it is updated v3 → v3 every 200 ms, and checks
/// that every test completed without an error and with every effect.
pub(super) fn check_benchmark_while_updating(server: &KvServer) {
    let mut benchmark = start_benchmark(server);
    let started = Instant::now();
    let mut updates = 0;
    let mut pauses = Vec::new();
    while !benchmark.has_exited() && started.elapsed() < PATIENCE {
        let report = server.update_to("kv-v3", "3.0.0", false);
        pauses.push(report.pause);
        updates += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let results = check_benchmark(&benchmark.finish());
    println!("redis-benchmark with {updates} updates v3 → v3 meanwhile (longest pause {:?}): {results:?}", pauses.iter().max());
    assert!(updates >= 2, "the benchmark ran across updates: {updates} happened");
    check_benchmark_effects(server);
}

#[test]
fn raw_resp_inline_commands_quit_and_protocol_errors() {
    let server = KvServer::start("kv-v1", "1.0.0");
    let exchange = |request: &[u8]| -> Vec<u8> {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("kv-server accepts");
        stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        stream.write_all(request).expect("kv-server reads");
        // Every request ends with QUIT or a protocol error, so the server closes the connection.
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("kv-server replies and closes");
        reply
    };
    let check = |request: &[u8], expected: &[u8]| {
        let reply = exchange(request);
        assert_eq!(reply.escape_ascii().to_string(), expected.escape_ascii().to_string(), "reply to {}", request.escape_ascii());
    };
    // Inline and multibulk commands, pipelined in one write, answered in order; QUIT answers and
    // closes, and what follows it is not executed.
    check(b"PING\r\nSET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nQUIT\r\nSET a 100\r\n", b"+PONG\r\n+OK\r\n:2\r\n+OK\r\n");
    check(b"GET a\r\nquit\r\n", b"$1\r\n2\r\n+OK\r\n");
    // A protocol error: the commands before it are served, then the error, then the connection
    // closes.
    check(b"GET a\r\n*x\r\n", b"$1\r\n2\r\n-ERR Protocol error: invalid multibulk length\r\n");
    check(b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length\r\n");
    check(b"*1\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n");
}

#[test]
fn kv_server_shuts_down_cleanly_on_sigterm_and_sigint() {
    for (signal, threads) in [(Signal::TERM, THREAD_CONFIGURATIONS[0]), (Signal::INT, THREAD_CONFIGURATIONS[1])] {
        let arguments: Vec<&std::ffi::OsStr> = threads.iter().map(std::ffi::OsStr::new).collect();
        let mut server = KvServer::start_with("kv-v1", "1.0.0", &arguments);
        let mut busy = server.connect();
        redis::cmd("SET").arg("key").arg("value").exec(&mut busy).expect("SET");
        let mut idle = TcpStream::connect(("127.0.0.1", server.port)).expect("kv-server accepts");
        idle.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        // One exchange makes sure the server has accepted the connection: one still in the listen
        // backlog when the listener closes is reset by the kernel, as with Redis, not closed.
        idle.write_all(b"PING\r\n").expect("kv-server reads");
        let mut pong = [0_u8; 7];
        idle.read_exact(&mut pong).expect("kv-server answers");
        assert_eq!(&pong, b"+PONG\r\n");
        let socket = server.socket.clone();
        assert!(socket.exists());

        let (status, lines) = server.stop_with(signal);
        assert!(status.success(), "kv-server exits with status 0 on signal {signal:?}: {status}; stderr:\n{}", server.stderr());
        assert_eq!(lines, ["shut down"], "after start-up it prints only `shut down`");
        assert!(!socket.exists(), "the control socket {} is removed", socket.display());
        // Open connections were closed.
        let mut rest = Vec::new();
        assert_eq!(idle.read_to_end(&mut rest).expect("the idle connection ends"), 0);
        assert!(redis::cmd("GET").arg("key").query::<Option<String>>(&mut busy).is_err(), "the busy connection is closed");
    }
}

#[test]
fn connections_above_the_limit_are_refused() {
    const LIMIT: usize = 1024;
    let open_files = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if open_files < (LIMIT as u64) * 2 + 100 {
        println!("skipped: this test and kv-server need more than {} open files (limit {open_files})", LIMIT * 2 + 100);
        return;
    }
    let server = KvServer::start("kv-v1", "1.0.0");
    let mut connections: Vec<TcpStream> = Vec::with_capacity(LIMIT);
    for _ in 0..LIMIT {
        let connection = TcpStream::connect(("127.0.0.1", server.port)).expect("kv-server accepts");
        connection.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        connections.push(connection);
    }
    // Each connection is served (which also proves the server has registered all of them).
    for connection in &mut connections {
        connection.write_all(b"PING\r\n").expect("kv-server reads");
        let mut reply = [0_u8; 7];
        connection.read_exact(&mut reply).expect("kv-server answers");
        assert_eq!(&reply, b"+PONG\r\n");
    }
    let mut refused = TcpStream::connect(("127.0.0.1", server.port)).expect("the listening socket accepts");
    refused.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    let mut reply = Vec::new();
    refused.read_to_end(&mut reply).expect("kv-server answers and closes");
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
    // Once a connection closes, there is room again.
    drop(connections.pop());
    let started = Instant::now();
    loop {
        let mut connection = TcpStream::connect(("127.0.0.1", server.port)).expect("kv-server accepts");
        connection.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        connection.write_all(b"PING\r\n").expect("kv-server reads");
        let mut reply = [0_u8; 7];
        match connection.read_exact(&mut reply) {
            Ok(()) if &reply == b"+PONG\r\n" => break,
            // The closed connection's thread may not have ended yet.
            _ => assert!(started.elapsed() < PATIENCE, "no room after a connection closed"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `migration` of the `kv` module in `ecdysis status --json`, as JSON (`null` when none).
pub(super) fn migration_in_status(server: &KvServer) -> serde_json::Value {
    let run = cli::run_ecdysis(&["--socket".as_ref(), server.socket.as_os_str(), "status".as_ref(), "--json".as_ref()], |_| {});
    assert_eq!(run.exit_code, Some(0), "{}", run.stderr);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("{error}: {}", run.stdout));
    let kv = status.as_array().and_then(|modules| modules.iter().find(|module| module["name"] == "kv")).cloned();
    kv.unwrap_or_else(|| panic!("no kv module in {status}"))["migration"].clone()
}

#[test]
fn ecdysis_reload_lazy_under_load_keeps_every_value_and_a_rollback_mid_migration_loses_nothing() {
    const CLIENTS: usize = 2;
    const KEYS: usize = 20_000;
    // 50 entries every 20 ms: the migration of 20,000 keys takes seconds, so the rollback below
    // finds it under way.
    let server = KvServer::start_with("kv-v1", "1.0.0", &["--migration-pace".as_ref(), "50:20".as_ref()]);
    let mut connection = server.connect();
    for first in (0..KEYS).step_by(PIPELINE_LENGTH) {
        let mut pipeline = redis::pipe();
        for index in first..first + PIPELINE_LENGTH {
            pipeline.cmd("SET").arg(key(index)).arg(value(index)).ignore();
        }
        let () = pipeline.query(&mut connection).expect("a pipeline of SETs");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client_index| {
            let (url, stop, rounds) = (server.url(), Arc::clone(&stop), Arc::clone(&rounds));
            std::thread::spawn(move || run_client(&url, client_index, &stop, &rounds))
        })
        .collect();
    let ecdysis = |arguments: &[&str]| {
        let mut all: Vec<&std::ffi::OsStr> = vec!["--socket".as_ref(), server.socket.as_os_str()];
        all.extend(arguments.iter().map(|argument| std::ffi::OsStr::new(*argument)));
        let run = cli::run_ecdysis(&all, |_| {});
        assert_eq!(run.exit_code, Some(0), "ecdysis {arguments:?}: {}", run.stderr);
        run.stdout
    };
    let library = sample("kv-v2");
    let library = library.to_str().unwrap();

    let reloaded = ecdysis(&["reload", "kv", library, "--lazy"]);
    assert!(reloaded.contains("updated kv 1.0.0 → 2.0.0") && reloaded.contains("lazily"), "{reloaded}");
    let migration = migration_in_status(&server);
    let remaining = migration["remaining"].as_u64().unwrap_or_else(|| panic!("a migration under way: {migration}"));
    assert!(remaining > 0 && migration["migrated"].as_u64().is_some(), "{migration}");
    // Half of the keys read on v2 while the migration is under way.
    for index in (0..KEYS).step_by(2) {
        let found: Option<String> = redis::cmd("GET").arg(key(index)).query(&mut connection).expect("GET");
        assert_eq!(found.as_deref(), Some(value(index).as_str()), "{}", key(index));
    }
    assert!(!migration_in_status(&server).is_null(), "the migration is still under way");
    let rolled_back = ecdysis(&["rollback", "kv"]);
    assert!(rolled_back.contains("rolled back kv 2.0.0 → 1.0.0"), "{rolled_back}");
    assert!(migration_in_status(&server).is_null());
    assert_eq!(reported_version(&mut connection), "1.0.0");

    // Lazily again, now to the end.
    ecdysis(&["reload", "kv", library, "--lazy"]);
    let started = Instant::now();
    while !migration_in_status(&server).is_null() {
        assert!(started.elapsed() < Duration::from_secs(120), "the migration did not finish: {}", migration_in_status(&server));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let outcomes: Vec<ClientOutcome> = clients
        .into_iter()
        .map(|client| client.join().expect("a client thread does not panic").unwrap_or_else(|error| panic!("{error}")))
        .collect();
    assert_eq!(reported_version(&mut connection), "2.0.0");
    for index in 0..KEYS {
        let found: Option<String> = redis::cmd("GET").arg(key(index)).query(&mut connection).expect("GET");
        assert_eq!(found.as_deref(), Some(value(index).as_str()), "{}", key(index));
    }
    check_acknowledged_writes(&mut connection, &outcomes, 100);
}

#[test]
fn a_lazy_update_whose_entries_cannot_all_migrate_is_refused_by_its_rehearsal() {
    let server = KvServer::start("kv-v1", "1.0.0");
    let mut connection = server.connect();
    let () = redis::pipe().cmd("SET").arg("good").arg("1").cmd("SET").arg("bad").arg("poison").query(&mut connection).expect("SETs");
    let mut control = Client::connect(&server.socket, PATIENCE).expect("the control socket accepts");
    let reload = ControlCommand::Reload {
        module: Some("kv".into()),
        library: defective("kv_entry_fails"),
        allow_downgrade: false,
        force: false,
        lazy: true,
    };
    match control.request(reload).expect("a reply") {
        Reply::Error { message, .. } => assert!(
            message.contains("its rehearsal in a child process failed during the lazy migration of every entry")
                && message.contains("1 entries cannot be migrated to this version (the first: key `bad`: ")
                && message.contains("the value `poison` cannot be migrated"),
            "{message}"
        ),
        other => panic!("the lazy update went through: {other:?}"),
    }
    // Nothing changed: v1 serves both keys, and no migration is under way.
    assert_eq!(reported_version(&mut connection), "1.0.0");
    let values: (String, String) = redis::pipe().cmd("GET").arg("good").cmd("GET").arg("bad").query(&mut connection).expect("GETs");
    assert_eq!(values, ("1".to_owned(), "poison".to_owned()));
    assert!(migration_in_status(&server).is_null());
}
