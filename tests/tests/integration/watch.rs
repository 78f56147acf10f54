//! Watch modes: `cargo xtask watch` and `cargo xtask reload` against a running `counter-server`,
//! in a copy of the workspace whose plugin source the test edits, and a host's own
//! `watch_directory`, which updates modules from libraries dropped into a directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use ecdysis_host::HistoryEvent;
use ecdysis_tests::workspace_root;

use super::*;

/// The first `cargo xtask` in the copy may build xtask and its dependencies.
const FIRST_BUILD: Duration = Duration::from_secs(240);
/// Each later rebuild of the plugin, and its update.
const CYCLE: Duration = Duration::from_secs(120);
/// An answer from the server.
const ANSWER: Duration = Duration::from_secs(10);

/// The lines a child prints on one of its streams, read by a thread and kept for failure messages.
struct Lines {
    name: &'static str,
    receiver: Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    fn read(name: &'static str, stream: impl Read + Send + 'static) -> Lines {
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { name, receiver, seen: Vec::new() }
    }

    /// Takes in whatever arrived so far.
    fn drain(&mut self) {
        while let Ok(line) = self.receiver.try_recv() {
            self.seen.push(line);
        }
    }

    /// Waits for the next line, up to `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<String> {
        let line = self.receiver.recv_timeout(timeout).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Waits up to `timeout` for a line containing `needle` (or one seen already, from `from` on);
    /// `None` on timeout or end of the stream.
    fn wait_for(&mut self, needle: &str, from: usize, timeout: Duration) -> Option<String> {
        if let Some(line) = self.seen.iter().skip(from).find(|line| line.contains(needle)) {
            return Some(line.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.receiver.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn show(&mut self) -> String {
        self.drain();
        format!("--- {} ---\n{}\n", self.name, self.seen.join("\n"))
    }
}

/// A child process with its output streams read; killed when dropped.
struct Running {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl Running {
    fn start(command: &mut Command, name: &'static str) -> Running {
        let mut child =
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        let stdout = Lines::read(name, child.stdout.take().unwrap());
        let stderr = Lines::read("its stderr", child.stderr.take().unwrap());
        Running { child, stdout, stderr }
    }

    fn show(&mut self) -> String {
        format!("{}{}", self.stdout.show(), self.stderr.show())
    }

    /// Waits up to `timeout` for the stdout line containing `needle`, failing with all output.
    #[track_caller]
    fn expect_line(&mut self, needle: &str, from: usize, timeout: Duration) -> String {
        match self.stdout.wait_for(needle, from, timeout) {
            Some(line) => line,
            None => panic!("no line containing `{needle}` within {timeout:?}:\n{}", self.show()),
        }
    }

    /// Waits for the process to end, up to `timeout`; then its status and everything it printed.
    fn finish(mut self, timeout: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after {timeout:?}:\n{}", self.show());
            std::thread::sleep(Duration::from_millis(100));
        };
        // The streams end with the process (nothing else holds them).
        for lines in [&mut self.stdout, &mut self.stderr] {
            while lines.next(ANSWER).is_some() {}
        }
        (status, self.stdout.seen.join("\n"), self.stderr.seen.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `counter-server` with its standard input held for commands.
struct Server {
    running: Running,
    stdin: ChildStdin,
}

impl Server {
    fn start(plugin: &Path, socket: &Path) -> Server {
        let mut command = Command::new(built().binary("counter-server"));
        command.arg("--plugin").arg(plugin).arg("--control").arg(socket).stdin(Stdio::piped()).env("RUST_LOG", "info");
        let mut running = Running::start(&mut command, "counter-server");
        let stdin = running.child.stdin.take().unwrap();
        let mut server = Server { running, stdin };
        server.running.expect_line("ready: counter", 0, ANSWER);
        server
    }

    /// Sends one command and returns the answer line.
    #[track_caller]
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|error| panic!("cannot write to the server: {error}"));
        match self.running.stdout.next(ANSWER) {
            Some(answer) => answer,
            None => panic!("no answer to `{command}` within {ANSWER:?}:\n{}", self.running.show()),
        }
    }
}

/// `cargo`, as the outer cargo names it, building in `copy` into the test's own target directory.
fn cargo_in(copy: &Path) -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(copy).env("CARGO_TARGET_DIR", watch_target_directory()).stdin(Stdio::null());
    command
}

/// A fixed directory, so that registry dependencies are built once across runs.
fn watch_target_directory() -> PathBuf {
    workspace_root().join("target").join("watch-test")
}

/// Copies the workspace at `from` into `to`, except `target/` and `.git/` at its root.
fn copy_workspace(from: &Path, to: &Path) {
    let mut pending = vec![(from.to_owned(), to.to_owned())];
    while let Some((source, destination)) = pending.pop() {
        std::fs::create_dir_all(&destination).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if source == from && (name == "target" || name == ".git") {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push((entry.path(), destination.join(&name)));
            } else if kind.is_file() {
                std::fs::copy(entry.path(), destination.join(&name)).unwrap();
            }
        }
    }
}

/// Replaces the only occurrence of `from` in the file at `path` with `to`.
fn edit(path: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(path).unwrap();
    assert_eq!(source.matches(from).count(), 1, "`{from}` should occur once in {}", path.display());
    std::fs::write(path, source.replace(from, to)).unwrap();
}

/// What counter v2 reports for increments, in its unchanged source.
const STATS_LINE: &str = "CounterStats { value: entry.value, increments: Some(entry.increments) }";

/// Polls `stats apples` until it answers `expected`, failing early if the watcher reports a failure.
fn wait_for_stats(server: &mut Server, watch: &mut Running, expected: &str) {
    let deadline = Instant::now() + CYCLE;
    loop {
        let answer = server.ask("stats apples");
        if answer == expected {
            return;
        }
        watch.stdout.drain();
        let failed = watch
            .stdout
            .seen
            .iter()
            .any(|line| line.contains("build failed") || line.contains("update refused") || line.contains("update failed"));
        if failed || Instant::now() >= deadline {
            panic!("the server answers `{answer}`, not `{expected}`:\n{}{}", watch.show(), server.running.show());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cargo_xtask_watch_and_reload_update_a_running_server_and_leave_it_alone_on_compile_errors() {
    let directory = tempfile::tempdir().unwrap();
    let copy = directory.path().join("workspace");
    copy_workspace(workspace_root(), &copy);
    let library = watch_target_directory().join("debug").join("libcounter_v2.so");
    let source = copy.join("sample-plugins/counter/v2/src/lib.rs");
    // Both crates built up front (no deadline needed: cargo ends), so that the watcher starts and
    // rebuilds quickly. One at a time, as the watcher builds them: together they would unify
    // features of their dependencies differently, and the first rebuild would rebuild those.
    for package in ["counter-v2", "xtask"] {
        let output = cargo_in(&copy).args(["build", "--quiet", "-p", package]).output().unwrap();
        assert!(output.status.success(), "building {package} in the copy failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }

    let socket = directory.path().join("control.sock");
    let mut server = Server::start(&library, &socket);
    assert_eq!(server.ask("inc apples 5"), "apples = 5");
    assert_eq!(server.ask("stats apples"), "apples value=5 increments=1");

    let started = Instant::now();
    let mut watch =
        Running::start(cargo_in(&copy).arg("xtask").arg("watch").arg("counter-v2").arg("--socket").arg(&socket), "cargo xtask watch");
    let watching = watch.expect_line("watching counter-v2", 0, FIRST_BUILD);
    assert!(watching.ends_with(&format!("updating the host at {}", socket.display())), "{watching}");

    // A visible change in behaviour: the stats count 1000 more increments.
    edit(&source, STATS_LINE, "CounterStats { value: entry.value, increments: Some(entry.increments + 1000) }");
    wait_for_stats(&mut server, &mut watch, "apples value=5 increments=1001");
    assert_eq!(server.ask("get apples"), "apples = 5", "the state was carried over");
    let cycle = watch.expect_line("] built in", 0, ANSWER);
    assert!(cycle.contains("counter 2.0.0 → 2.0.0 in") && cycle.contains("· pause"), "{cycle}");
    eprintln!("watch, first cycle after {:.1} s: {cycle}", started.elapsed().as_secs_f64());

    // A compile error: the build fails, the host keeps the version it runs.
    let from = watch.stdout.seen.len();
    std::fs::write(&source, std::fs::read_to_string(&source).unwrap() + "\nfn broken() -> u32 { \"not a number\" }\n").unwrap();
    let failed = watch.expect_line("build failed after", from, CYCLE);
    assert!(failed.ends_with("the host keeps the running version"), "{failed}");
    assert!(watch.stdout.seen[from..].iter().any(|line| line.contains("error[E0308]")), "the compiler's error is shown:\n{}", watch.show());
    assert_eq!(server.ask("stats apples"), "apples value=5 increments=1001");
    assert_eq!(server.ask("get apples"), "apples = 5");
    eprintln!("watch, failed build: {failed}\n{}", watch.show());
    drop(watch);

    // `cargo xtask reload` with the compile error still there: refused before the host is reached.
    let reload = || cargo_in(&copy).arg("xtask").arg("reload").arg("counter-v2").arg("--socket").arg(&socket).output_bounded();
    let (status, stdout, stderr) = reload();
    assert!(!status.success(), "a failed build fails the reload:\n{stdout}\n{stderr}");
    assert!(stderr.contains("xtask: build of counter-v2 failed; the host was not touched"), "{stderr}");
    assert!(stderr.contains("error[E0308]"), "cargo's messages are shown: {stderr}");
    assert_eq!(server.ask("stats apples"), "apples value=5 increments=1001");
    assert_eq!(server.ask("get apples"), "apples = 5");

    // Fixed: the reload goes through and prints the report.
    let fixed =
        std::fs::read_to_string(&source).unwrap().replace("\nfn broken() -> u32 { \"not a number\" }\n", "").replace("+ 1000", "+ 2000");
    std::fs::write(&source, fixed).unwrap();
    let (status, stdout, stderr) = reload();
    assert!(status.success(), "the reload failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("updated counter 2.0.0 → 2.0.0 (state schema v2 → v2") && stdout.contains("(calls held)"), "{stdout}");
    assert_eq!(server.ask("stats apples"), "apples value=5 increments=2001");
    assert_eq!(server.ask("get apples"), "apples = 5");
    eprintln!("whole test: {:.1} s", started.elapsed().as_secs_f64());
}

trait OutputBounded {
    /// Runs the command to its end, up to [`CYCLE`]; its status, stdout and stderr.
    fn output_bounded(&mut self) -> (ExitStatus, String, String);
}

impl OutputBounded for Command {
    fn output_bounded(&mut self) -> (ExitStatus, String, String) {
        Running::start(self, "cargo xtask reload").finish(CYCLE)
    }
}

/// Polls `condition` every 50 ms for up to 30 s.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn host_watch_directory_updates_a_module_from_a_library_dropped_there() {
    let directory = tempfile::tempdir().unwrap();
    let v1 = directory.path().join("libcounter_v1.so");
    std::fs::copy(sample("counter-v1"), &v1).unwrap();
    let copies = tempfile::tempdir().unwrap();
    let host = Host::builder().watch_directory(directory.path()).library_dir(copies.path()).build().unwrap();
    let counter = host.load::<dyn Counter>(&v1).unwrap();
    counter.call(|counter| {
        counter.increment("apples", 3).unwrap();
        counter.increment("pears", -4).unwrap();
    });
    let before = observe(&counter);

    // Loading the library reads it, which the watcher sees; it is not loaded again for that.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(host.status()[0].updates, 0, "reading a library is not changing it: {:?}", host.history());

    std::fs::copy(sample("counter-v2"), directory.path().join("libcounter_v2.so")).unwrap();
    eventually("the watcher updated counter to 2.0.0", || host.status()[0].version == semver::Version::new(2, 0, 0));
    assert_eq!(observe(&counter), before, "every counter and the total survive the update");
    assert_eq!(host.status()[0].updates, 1);

    // Files that are not libraries: one ignored by its name, one refused by the loader.
    std::fs::write(directory.path().join("notes.txt"), "not a library").unwrap();
    let junk = directory.path().join("junk.so");
    std::fs::write(&junk, "not a shared library either").unwrap();
    let refused = |host: &Host| {
        host.history()
            .iter()
            .any(|entry| matches!(&entry.event, HistoryEvent::Refused { path: Some(path), .. } if path.ends_with("junk.so")))
    };
    eventually("the watcher tried the junk library", || refused(&host));
    let status = &host.status()[0];
    assert_eq!((status.version.to_string(), status.updates), ("2.0.0".to_owned(), 1), "the host is unchanged");
    assert_eq!(observe(&counter), before, "the state is intact");
    assert!(
        !host
            .history()
            .iter()
            .any(|entry| matches!(&entry.event, HistoryEvent::Refused { path: Some(path), .. } if path.ends_with("notes.txt")))
    );

    // The watcher does not keep the host alive: once the host and its handle are gone, its
    // private library copies are removed, as they are when the host is dropped.
    assert_eq!(std::fs::read_dir(copies.path()).unwrap().count(), 1, "the host keeps one directory of private copies");
    drop(counter);
    drop(host);
    eventually("the host was dropped", || std::fs::read_dir(copies.path()).unwrap().count() == 0);
}
