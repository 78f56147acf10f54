//! The `ecdysis` command-line tool against a real `counter-server` process: every command is
//! checked on what the tool prints and exits with, and on how the server behaves afterwards.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use super::*;

/// How long any single step (a server's answer, a run of the tool) may take before the test fails
/// instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// A `counter-server` child process serving counter v1, with its control socket in a private
/// directory. Dropping it kills the process and waits for it.
pub(super) struct CounterServer {
    pub(super) child: Child,
    stdin: ChildStdin,
    stdout_lines: Receiver<String>,
    stderr_text: Receiver<String>,
    pub(super) socket: PathBuf,
    directory: tempfile::TempDir,
}

impl CounterServer {
    /// Starts a server on counter v1 and waits until it says it is ready.
    pub(super) fn start() -> CounterServer {
        CounterServer::start_with(&[])
    }

    /// Starts a server on counter v1 with `extra_arguments` and waits until it says it is ready.
    pub(super) fn start_with(extra_arguments: &[&str]) -> CounterServer {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let socket = directory.path().join("control.sock");
        let mut child = Command::new(built().binary("counter-server"))
            .arg("--plugin")
            .arg(sample("counter-v1"))
            .arg("--control")
            .arg(&socket)
            .args(extra_arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("counter-server starts");
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (line_sender, stdout_lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line_sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr_text = read_to_end_in_background(stderr);
        let mut server = CounterServer { child, stdin, stdout_lines, stderr_text, socket, directory };
        let announced = server.next_line();
        assert_eq!(announced, format!("control socket: {}", server.socket.display()));
        assert_eq!(server.next_line(), "ready: counter 1.0.0");
        server
    }

    /// The server's next line on stdout, waiting at most [`PATIENCE`].
    fn next_line(&mut self) -> String {
        match self.stdout_lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("counter-server said nothing for {PATIENCE:?}"),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = self.child.kill();
                let stderr = self.stderr_text.recv_timeout(PATIENCE).unwrap_or_default();
                panic!("counter-server closed its stdout; its stderr:\n{stderr}")
            }
        }
    }

    /// Sends one command line and returns the answer.
    pub(super) fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("counter-server reads its stdin");
        self.stdin.flush().expect("counter-server reads its stdin");
        self.next_line()
    }

    /// Asserts that the server runs `version` and still holds `apples` = `apples`.
    #[track_caller]
    pub(super) fn assert_serving(&mut self, version: &str, apples: i64) {
        assert_eq!(self.ask("version"), format!("counter {version}"));
        assert_eq!(self.ask("get apples"), format!("apples = {apples}"));
    }

    /// Runs `ecdysis --socket <this server's socket> ARGUMENTS` and checks it against `expected`.
    #[track_caller]
    fn check(&self, arguments: &[&OsStr], expected: Expect<'_>) -> Run {
        let mut full_arguments: Vec<&OsStr> = vec!["--socket".as_ref(), self.socket.as_os_str()];
        full_arguments.extend(arguments);
        check(run_ecdysis(&full_arguments, |_| {}), expected)
    }
}

impl Drop for CounterServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads all of `source` on a thread of its own; the text arrives on the channel at its end.
fn read_to_end_in_background(mut source: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// What one run of the tool did.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) exit_code: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

/// Runs the `ecdysis` binary with `arguments`, after `configure` (for a working directory or
/// environment), with stdin closed and stdout and stderr captured (so stderr is not a terminal).
/// Kills it and fails if it takes longer than [`PATIENCE`].
pub(super) fn run_ecdysis(arguments: &[&OsStr], configure: impl FnOnce(&mut Command)) -> Run {
    let mut command = Command::new(built().binary("ecdysis"));
    command.args(arguments).env_remove("ECDYSIS_SOCKET").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("the ecdysis binary starts");
    let stdout = read_to_end_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_to_end_in_background(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for ecdysis") {
            break status;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`ecdysis {arguments:?}` did not finish within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        exit_code: status.code(),
        stdout: stdout.recv_timeout(PATIENCE).expect("ecdysis's stdout is read"),
        stderr: stderr.recv_timeout(PATIENCE).expect("ecdysis's stderr is read"),
    }
}

/// What a run of the tool should show.
#[derive(Clone, Copy, Debug)]
enum Expect<'a> {
    /// Exit code 0, nothing on stderr (no spinner: stderr is not a terminal), and stdout contains
    /// each of these.
    Success(&'a [&'a str]),
    /// This exit code, and exactly one line on stderr, `ecdysis: …`, that contains this text.
    /// Stdout is not checked (with `--json` an error goes there too).
    Failure(i32, &'a str),
}

/// Checks `run` against `expected` and hands it back for further checks.
#[track_caller]
fn check(run: Run, expected: Expect<'_>) -> Run {
    match expected {
        Expect::Success(fragments) => {
            assert_eq!(run.exit_code, Some(0), "exit code; {run:#?}");
            assert_eq!(run.stderr, "", "nothing on stderr; {run:#?}");
            for fragment in fragments {
                assert!(run.stdout.contains(fragment), "stdout should contain `{fragment}`; {run:#?}");
            }
        }
        Expect::Failure(exit_code, message) => {
            assert_eq!(run.exit_code, Some(exit_code), "exit code; {run:#?}");
            assert_eq!(run.stderr.lines().count(), 1, "exactly one line on stderr; {run:#?}");
            assert!(run.stderr.starts_with("ecdysis: ") && run.stderr.ends_with('\n'), "{run:#?}");
            assert!(run.stderr.contains(message), "stderr should contain `{message}`; {run:#?}");
        }
    }
    run
}

/// `text` as an argument.
fn argument(text: &str) -> &OsStr {
    OsStr::new(text)
}

fn v1() -> PathBuf {
    sample("counter-v1")
}

fn v2() -> PathBuf {
    sample("counter-v2")
}

/// Parses the tool's `--json` output.
#[track_caller]
fn parse_json(run: &Run) -> serde_json::Value {
    assert_eq!(run.stdout.lines().count(), 1, "JSON output is one line; {run:#?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {run:#?}"))
}

#[test]
fn status_shows_the_running_module() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");

    let run = server.check(&[argument("status")], Expect::Success(&["MODULE", "VERSION", "SCHEMA", "PREVIOUS", "LIBRARY"]));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header, one row and the rehearsal: {lines:?}");
    assert_eq!(lines[2], "rehearsal: on: each update is tried in a child process before the running version is paused");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[..6], ["counter", "1.0.0", "v1", "-", "0", "0"], "{row:?}");
    assert!(row[6].ends_with("libcounter_v1.so"), "{row:?}");

    let run = server.check(&[argument("status"), argument("--json")], Expect::Success(&[]));
    let modules = parse_json(&run);
    let modules = modules.as_array().expect("an array of modules");
    assert_eq!(modules.len(), 1);
    assert_eq!(modules[0]["name"], "counter");
    assert_eq!(modules[0]["version"], "1.0.0");
    assert_eq!(modules[0]["schema_version"], 1);
    assert_eq!(modules[0]["previous_version"], serde_json::Value::Null);
    assert_eq!(modules[0]["updates"], 0);

    // Without `--socket`, the tool takes the socket from `ECDYSIS_SOCKET`.
    let run = run_ecdysis(&[argument("status")], |command| {
        command.env("ECDYSIS_SOCKET", &server.socket);
    });
    let run = check(run, Expect::Success(&["counter  1.0.0"]));
    assert_eq!(run.stdout.lines().count(), 3);

    server.assert_serving("1.0.0", 3);
}

#[test]
fn reload_updates_the_running_server_and_keeps_its_state() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    assert_eq!(server.ask("stats apples"), "apples value=3 increments=untracked");

    // A relative library path is taken from the tool's working directory, not the server's.
    let plugin_directory = v2().parent().expect("the library is in a directory").to_owned();
    let arguments =
        [argument("--socket"), server.socket.as_os_str(), argument("reload"), argument("counter"), argument("libcounter_v2.so")];
    let run = run_ecdysis(&arguments, |command| {
        command.current_dir(&plugin_directory);
    });
    let run = check(
        run,
        Expect::Success(&[
            "updated counter 1.0.0 → 2.0.0",
            "state schema v1 → v2",
            "validated in the rehearsal",
            "rehearsed in a child process first",
            "pause",
            "total",
        ]),
    );
    for phase in ["stage", "rehearse", "quiesce", "export", "transform", "swap"] {
        assert!(run.stdout.lines().any(|line| line.trim_start().starts_with(phase)), "phase `{phase}` is shown: {}", run.stdout);
    }

    server.assert_serving("2.0.0", 3);
    assert_eq!(server.ask("stats apples"), "apples value=3 increments=0", "v2 counts increments from the migration on");
    assert_eq!(server.ask("inc apples 2"), "apples = 5");
    assert_eq!(server.ask("stats apples"), "apples value=5 increments=1");

    let run = server.check(&[argument("status")], Expect::Success(&["2.0.0", "libcounter_v2.so", "left)"]));
    let row: Vec<&str> = run.stdout.lines().nth(1).expect("a module row").split_whitespace().collect();
    assert_eq!(row[..5], ["counter", "2.0.0", "v2", "1.0.0", "(4m"], "v1 is kept for probation (5 minutes): {row:?}");
}

#[test]
fn reload_as_json_gives_the_report() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");

    let run = server.check(&[argument("reload"), argument("--json"), argument("counter"), v2().as_os_str()], Expect::Success(&[]));
    let report = parse_json(&run);
    assert_eq!(report["kind"], "update");
    assert_eq!(report["module"], "counter");
    assert_eq!((&report["from_version"], &report["to_version"]), (&"1.0.0".into(), &"2.0.0".into()));
    assert_eq!((&report["from_schema"], &report["to_schema"]), (&1.into(), &2.into()));
    // The rehearsal checked the round trip, so the pause does not check it again.
    assert_eq!(report["validated"], false);
    assert!(report["pause_micros"].is_u64() && report["total_micros"].is_u64(), "{report}");
    let phases = report["phases"].as_array().expect("a phases array");
    let names: Vec<&str> = phases.iter().map(|phase| phase["phase"].as_str().expect("a phase name")).collect();
    assert_eq!(names, ["stage", "rehearse", "quiesce", "export", "transform", "swap"]);
    assert_eq!(report["rehearsal"]["round_trip_checked"], true, "{report}");
    assert!(report["rehearsal"]["snapshot_export_micros"].is_u64(), "{report}");
    assert!(phases.iter().all(|phase| phase["micros"].is_u64()), "{report}");

    server.assert_serving("2.0.0", 3);
}

#[test]
fn history_lists_the_load_the_update_a_refusal_and_the_commit() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    server.check(&[argument("reload"), argument("counter"), v2().as_os_str()], Expect::Success(&["updated counter"]));
    let missing = server.directory.path().join("libmissing.so");
    server.check(&[argument("reload"), argument("counter"), missing.as_os_str()], Expect::Failure(1, "does not exist"));
    server.check(&[argument("commit"), argument("counter")], Expect::Success(&["committed counter: released 1.0.0"]));

    let run = server.check(&[argument("history")], Expect::Success(&[]));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for line in &lines {
        let (timestamp, rest) = line.split_at(19);
        let shape: String = timestamp.chars().map(|character| if character.is_ascii_digit() { '9' } else { character }).collect();
        assert_eq!(shape, "9999-99-99 99:99:99", "a UTC timestamp opens `{line}`");
        assert!(timestamp[..4].parse::<u32>().is_ok_and(|year| year >= 2024), "a recent year opens `{line}`");
        assert!(rest.starts_with("  counter  "), "the module follows: `{line}`");
    }
    assert!(lines[0].contains(&format!("loaded 1.0.0 from {}", v1().display())), "{}", lines[0]);
    assert!(lines[1].contains("updated 1.0.0 → 2.0.0 (pause ") && lines[1].ends_with(" ms)"), "{}", lines[1]);
    assert!(lines[2].contains("refused: plugin library `") && lines[2].contains("does not exist"), "{}", lines[2]);
    assert!(lines[3].ends_with("committed, released 1.0.0"), "{}", lines[3]);

    let run = server.check(&[argument("history"), argument("--json")], Expect::Success(&[]));
    let entries = parse_json(&run);
    let entries = entries.as_array().expect("an array of entries");
    let kinds: Vec<&str> = entries.iter().map(|entry| entry["event"]["kind"].as_str().expect("an event kind")).collect();
    assert_eq!(kinds, ["loaded", "updated", "refused", "committed"]);
    assert_eq!(entries[0]["event"]["version"], "1.0.0");
    assert_eq!(entries[1]["event"]["report"]["to_version"], "2.0.0");
    assert!(entries.iter().all(|entry| entry["module"] == "counter" && entry["at_unix_ms"].is_u64()), "{entries:?}");

    server.assert_serving("2.0.0", 3);
}

#[test]
fn rollback_returns_to_the_previous_version_with_the_state() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    server.check(&[argument("reload"), argument("counter"), v2().as_os_str()], Expect::Success(&["updated counter 1.0.0 → 2.0.0"]));
    // State made on v2 must survive the way back.
    assert_eq!(server.ask("inc apples 4"), "apples = 7");

    server.check(&[argument("rollback"), argument("counter")], Expect::Success(&["rolled back counter 2.0.0 → 1.0.0", "pause"]));

    server.assert_serving("1.0.0", 7);
    assert_eq!(server.ask("stats apples"), "apples value=7 increments=untracked");
    let run = server.check(&[argument("status")], Expect::Success(&[]));
    let row: Vec<&str> = run.stdout.lines().nth(1).expect("a module row").split_whitespace().collect();
    assert_eq!(row[..5], ["counter", "1.0.0", "v1", "-", "2"], "nothing left to roll back to, two transactions: {row:?}");

    let run = server.check(&[argument("history")], Expect::Success(&[]));
    assert!(run.stdout.lines().nth(2).is_some_and(|line| line.contains("rolled back 2.0.0 → 1.0.0 (pause ")), "{}", run.stdout);
}

#[test]
fn commit_prints_what_it_released() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    server.check(&[argument("reload"), argument("counter"), v2().as_os_str()], Expect::Success(&["updated counter"]));

    let run = server.check(&[argument("commit"), argument("counter")], Expect::Success(&[]));
    assert_eq!(run.stdout, "committed counter: released 1.0.0\n");
    let run = server.check(&[argument("commit"), argument("counter")], Expect::Success(&[]));
    assert_eq!(run.stdout, "committed counter: nothing to release\n");
    let run = server.check(&[argument("commit"), argument("--json"), argument("counter")], Expect::Success(&[]));
    assert_eq!(parse_json(&run), serde_json::json!({ "module": "counter", "released": null }));

    let run = server.check(&[argument("status")], Expect::Success(&[]));
    let row: Vec<&str> = run.stdout.lines().nth(1).expect("a module row").split_whitespace().collect();
    assert_eq!(row[..4], ["counter", "2.0.0", "v2", "-"], "the previous version is gone: {row:?}");
    server.assert_serving("2.0.0", 3);
}

/// One command that must fail.
struct FailureCase<'a> {
    /// The socket to use instead of the server's.
    socket: Option<&'a Path>,
    arguments: Vec<&'a OsStr>,
    exit_code: i32,
    message: &'a str,
}

impl<'a> FailureCase<'a> {
    /// `ecdysis ARGUMENTS` against the server must exit with `exit_code` and say `message`.
    fn new(arguments: &[&'a OsStr], exit_code: i32, message: &'a str) -> FailureCase<'a> {
        FailureCase { socket: None, arguments: arguments.to_vec(), exit_code, message }
    }

    /// The same, through `socket` instead of the server's.
    fn through(self, socket: &'a Path) -> FailureCase<'a> {
        FailureCase { socket: Some(socket), ..self }
    }
}

/// Runs each case against `server` (or its own socket), then checks that the server still serves
/// `version` with its state intact.
#[track_caller]
fn check_failures(server: &mut CounterServer, version: &str, cases: &[FailureCase<'_>]) {
    for case in cases {
        let expected = Expect::Failure(case.exit_code, case.message);
        let run = match case.socket {
            None => server.check(&case.arguments, expected),
            Some(socket) => {
                let mut arguments = vec![argument("--socket"), socket.as_os_str()];
                arguments.extend(&case.arguments);
                check(run_ecdysis(&arguments, |_| {}), expected)
            }
        };
        assert_eq!(run.stdout, "", "nothing on stdout without --json; {run:#?}");
        server.assert_serving(version, 3);
    }
}

#[test]
fn failures_exit_non_zero_with_one_line_and_leave_the_server_serving() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    let missing = server.directory.path().join("libmissing.so");
    let nobody_listens = server.directory.path().join("nobody.sock");

    check_failures(
        &mut server,
        "1.0.0",
        &[
            FailureCase::new(&[argument("reload"), argument("counter"), missing.as_os_str()], 1, "libmissing.so` does not exist"),
            FailureCase::new(&[argument("reload"), argument("kettle"), v2().as_os_str()], 1, "no module named `kettle`"),
            FailureCase::new(&[argument("rollback"), argument("counter")], 1, "no previous version"),
            FailureCase::new(&[argument("commit"), argument("kettle")], 1, "no module named `kettle`"),
            FailureCase::new(&[argument("snapshot")], 1, "this host has no state directory to write snapshots to"),
            FailureCase::new(
                &[argument("reload"), argument("counter"), defective("undefined_symbol").as_os_str()],
                1,
                "undefined symbol: ecdysis_test_symbol_nobody_defines",
            ),
            FailureCase::new(&[argument("status")], 2, "cannot connect").through(&nobody_listens),
            FailureCase::new(&[argument("status")], 2, "nobody.sock`: No such file or directory").through(&nobody_listens),
            FailureCase::new(&[argument("reload"), argument("counter"), v2().as_os_str()], 2, "cannot connect").through(&nobody_listens),
        ],
    );

    server.check(&[argument("reload"), argument("counter"), v2().as_os_str()], Expect::Success(&["updated counter 1.0.0 → 2.0.0"]));
    check_failures(
        &mut server,
        "2.0.0",
        &[FailureCase::new(&[argument("reload"), argument("counter"), v1().as_os_str()], 1, "older than the running 2.0.0")],
    );

    // With `--json`, the error is also on stdout, as an object scripts can branch on.
    let run = server.check(
        &[argument("reload"), argument("--json"), argument("counter"), v1().as_os_str()],
        Expect::Failure(1, "older than the running 2.0.0"),
    );
    let error = parse_json(&run);
    assert_eq!(error["error"]["kind"], "refused");
    assert!(error["error"]["message"].as_str().is_some_and(|message| message.contains("older than the running")), "{error}");
    server.assert_serving("2.0.0", 3);

    // A usage mistake is clap's: its exit code 2 and its usage text.
    let run = run_ecdysis(&[argument("--socket"), server.socket.as_os_str(), argument("reload"), argument("counter")], |_| {});
    assert_eq!(run.exit_code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("Usage:") && run.stdout.is_empty(), "{run:#?}");
    server.assert_serving("2.0.0", 3);

    // An explicit downgrade goes through, and the state comes along.
    server.check(
        &[argument("reload"), argument("--allow-downgrade"), argument("counter"), v1().as_os_str()],
        Expect::Success(&["updated counter 2.0.0 → 1.0.0"]),
    );
    server.assert_serving("1.0.0", 3);
}
