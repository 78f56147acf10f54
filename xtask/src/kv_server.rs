//! A `kv-server` process as `cargo xtask demo`, `cargo xtask bench kv` and the benchmark report
//! (`benchmarks/`, which includes this file) run it: started on a free port of 127.0.0.1 with a
//! control socket in a private temporary directory, its announcements read from its standard output
//! with deadlines, updated through its control socket, and stopped (SIGTERM, then SIGKILL after a
//! deadline) on every exit path, by a drop guard if nothing else.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ecdysis_protocol::{Client, Command as ControlCommand, ErrorChain, Reply, UpdateReport};

/// How long the server may take to announce that it is ready (a warm restart from the snapshot of
/// a large state reads it whole first).
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// The most standard output lines read while waiting for the ready announcement.
const MAXIMUM_STARTUP_LINES: usize = 1_000;

/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

/// How often a stopping process is looked at.
const STOP_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// How long a control request may wait for its reply (an update of a large state in a debug build
/// takes well under a second; the host bounds its own phases as well).
const CONTROL_REPLY_DEADLINE: Duration = Duration::from_secs(60);

/// How long a Redis client connection may wait to connect, and for each reply.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many of the server's last standard error lines are kept, to be shown if it fails.
const STANDARD_ERROR_LINES_KEPT: usize = 40;

/// The module every kv plugin version implements.
pub const KV_MODULE: &str = "kv";

/// A running `kv-server`, stopped when dropped.
pub struct KvServer {
    child: Child,
    /// The TCP port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Its control socket.
    pub control_socket: PathBuf,
    /// The kv version it announced when it became ready.
    pub ready_version: String,
    standard_error_tail: Arc<Mutex<VecDeque<String>>>,
    stopped: bool,
    // Removed (with the socket in it) when the server is dropped, after the process is gone.
    _socket_directory: tempfile::TempDir,
}

impl KvServer {
    /// Starts `binary` serving `library` on 127.0.0.1 (a free port) and waits for it to announce
    /// its control socket, its port and that it is ready.
    pub fn start(binary: &Path, library: &Path, probation_milliseconds: Option<u64>) -> Result<KvServer, String> {
        KvServer::start_with(binary, library, probation_milliseconds, &[])
    }

    /// [`KvServer::start`], with `extra_arguments` after the others.
    pub fn start_with(
        binary: &Path,
        library: &Path,
        probation_milliseconds: Option<u64>,
        extra_arguments: &[&str],
    ) -> Result<KvServer, String> {
        KvServer::start_pinned(binary, library, probation_milliseconds, extra_arguments, None)
    }

    /// [`KvServer::start_with`], on CPU core `core` alone when it is given (through `taskset`, so
    /// that the server sees one core from its first instruction and sizes its runtime for it).
    pub fn start_pinned(
        binary: &Path,
        library: &Path,
        probation_milliseconds: Option<u64>,
        extra_arguments: &[&str],
        core: Option<usize>,
    ) -> Result<KvServer, String> {
        let socket_directory = tempfile::Builder::new()
            .prefix("ecdysis-kv-")
            .tempdir()
            .map_err(|error| format!("could not create a temporary directory for the control socket: {error}"))?;
        // The host accepts a socket directory only when nobody but its owner can write to it.
        std::fs::set_permissions(socket_directory.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|error| format!("could not make `{}` private: {error}", socket_directory.path().display()))?;
        let control_socket = socket_directory.path().join("kv.sock");
        let mut command = command_on_core(binary, core);
        command
            .args(["--listen", "127.0.0.1:0", "--control"])
            .arg(&control_socket)
            .arg("--plugin")
            .arg(library)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(milliseconds) = probation_milliseconds {
            command.args(["--probation-ms", &milliseconds.to_string()]);
        }
        command.args(extra_arguments);
        let mut child = command.spawn().map_err(|error| format!("could not start `{}`: {error}", binary.display()))?;
        let standard_output = child.stdout.take().ok_or("kv-server's standard output was not captured")?;
        let standard_error = child.stderr.take().ok_or("kv-server's standard error was not captured")?;
        let (line_sender, line_receiver) = mpsc::channel();
        let standard_error_tail = Arc::new(Mutex::new(VecDeque::new()));
        spawn_standard_output_reader(standard_output, line_sender);
        spawn_standard_error_reader(standard_error, Arc::clone(&standard_error_tail));
        // From here on the drop guard stops the process on every exit path.
        let mut server = KvServer {
            child,
            port: 0,
            control_socket,
            ready_version: String::new(),
            standard_error_tail,
            stopped: false,
            _socket_directory: socket_directory,
        };
        server.await_announcements(&line_receiver)?;
        Ok(server)
    }

    /// Reads the standard output lines `control socket: PATH`, `listening on 127.0.0.1:PORT` and
    /// `ready: kv VERSION`, within [`STARTUP_DEADLINE`].
    fn await_announcements(&mut self, lines: &Receiver<String>) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        let mut announced_port = None;
        for _ in 0..MAXIMUM_STARTUP_LINES {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(remaining) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.failure(&format!("kv-server did not announce that it was ready within {STARTUP_DEADLINE:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_briefly();
                    return Err(self.failure(&format!("kv-server exited before it was ready ({status})")));
                }
            };
            if let Some(path) = line.strip_prefix("control socket: ") {
                if Path::new(path.trim()) != self.control_socket {
                    return Err(self.failure(&format!(
                        "kv-server announced the control socket `{}` instead of `{}`",
                        path.trim(),
                        self.control_socket.display()
                    )));
                }
            } else if let Some(address) = line.strip_prefix("listening on ") {
                let port = address.trim().strip_prefix("127.0.0.1:").and_then(|port| port.parse::<u16>().ok());
                match port {
                    Some(port) if port != 0 => announced_port = Some(port),
                    _ => return Err(self.failure(&format!("kv-server announced an address that is not 127.0.0.1:PORT: `{line}`"))),
                }
            } else if let Some(version) = line.strip_prefix("ready: kv ") {
                let Some(port) = announced_port else {
                    return Err(self.failure("kv-server said it was ready before it said where it listens"));
                };
                self.port = port;
                self.ready_version = version.trim().to_owned();
                return Ok(());
            }
        }
        Err(self.failure(&format!("kv-server printed {MAXIMUM_STARTUP_LINES} lines without saying it was ready")))
    }

    /// The process id.
    pub fn process_id(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to update the kv module to `library`.
    pub fn reload(&self, library: &Path) -> Result<UpdateReport, String> {
        reload_through(&self.control_socket, library)
    }

    /// Asks the server to take the kv module back to its previous version; `force` lets the
    /// migration drop what the previous version cannot hold.
    pub fn rollback(&self, force: bool) -> Result<UpdateReport, String> {
        control_request(&self.control_socket, ControlCommand::Rollback { module: KV_MODULE.into(), force })
    }

    /// Sends SIGTERM and waits for the server to exit; kills it if it does not within
    /// [`STOP_DEADLINE`].
    pub fn stop(self) -> Result<ExitStatus, String> {
        self.stop_within(STOP_DEADLINE)
    }

    /// [`KvServer::stop`], waiting up to `deadline` (a server with a state directory writes a
    /// snapshot of its state before it exits).
    pub fn stop_within(mut self, deadline: Duration) -> Result<ExitStatus, String> {
        self.stop_in_place(deadline)
    }

    /// [`KvServer::stop_within`], and the last lines the server wrote to standard error (which say,
    /// for example, whether its last snapshot was written).
    // Used by the benchmark report (`benchmarks/`), which includes this file; xtask does not.
    #[allow(dead_code)]
    pub fn stop_within_with_last_words(mut self, deadline: Duration) -> (Result<ExitStatus, String>, Vec<String>) {
        let status = self.stop_in_place(deadline);
        // The reader thread may still be taking in the last lines of a process that just exited.
        std::thread::sleep(Duration::from_millis(50));
        let tail = self.standard_error_tail.lock().map(|lines| lines.iter().cloned().collect()).unwrap_or_default();
        (status, tail)
    }

    fn stop_in_place(&mut self, deadline: Duration) -> Result<ExitStatus, String> {
        if self.stopped {
            return Err("kv-server was already stopped".to_owned());
        }
        self.stopped = true;
        stop_process_within("kv-server", &mut self.child, deadline)
    }

    /// Waits up to a second for an exiting process, describing how it ended.
    fn wait_briefly(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.stopped = true;
                return status.to_string();
            }
            std::thread::sleep(STOP_POLL_INTERVAL);
        }
        "still running".to_owned()
    }

    /// `reason`, followed by the last lines kv-server wrote to standard error, if any.
    pub fn failure(&self, reason: &str) -> String {
        // The reader thread may still be taking in the last lines of a process that just exited.
        std::thread::sleep(Duration::from_millis(50));
        let tail = self.standard_error_tail.lock().map(|lines| lines.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        if tail.is_empty() {
            reason.to_owned()
        } else {
            format!("{reason}; kv-server's last words on standard error:\n  {}", tail.join("\n  "))
        }
    }
}

impl Drop for KvServer {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.stop_in_place(STOP_DEADLINE);
        }
    }
}

/// Asks the host listening at `control_socket` to update the kv module to `library` (neither a
/// downgrade nor forced).
pub fn reload_through(control_socket: &Path, library: &Path) -> Result<UpdateReport, String> {
    control_request(
        control_socket,
        ControlCommand::Reload {
            module: Some(KV_MODULE.into()),
            library: library.to_owned(),
            allow_downgrade: false,
            force: false,
            lazy: false,
        },
    )
}

/// Sends one command on a fresh control connection and expects a report.
fn control_request(control_socket: &Path, command: ControlCommand) -> Result<UpdateReport, String> {
    let mut client = Client::connect(control_socket, CONTROL_REPLY_DEADLINE).map_err(|error| ErrorChain(&error).to_string())?;
    match client.request(command).map_err(|error| ErrorChain(&error).to_string())? {
        Reply::Report { report } => Ok(report),
        Reply::Error { message, .. } => Err(message),
        other => Err(format!("the host answered with {other:?} instead of a report")),
    }
}

/// Sends SIGTERM to `child` (named `name` in messages) and waits for it to exit; kills it if it does
/// not within [`STOP_DEADLINE`]. Killing it is reported as an error.
pub fn stop_process(name: &str, child: &mut Child) -> Result<ExitStatus, String> {
    stop_process_within(name, child, STOP_DEADLINE)
}

/// [`stop_process`], waiting up to `deadline` after SIGTERM.
pub fn stop_process_within(name: &str, child: &mut Child, deadline: Duration) -> Result<ExitStatus, String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("{name} had already exited ({status})"));
    }
    // `kill` is part of every Linux system; xtask does not depend on `libc` for one signal.
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if signalled {
        let give_up_at = Instant::now() + deadline;
        while Instant::now() < give_up_at {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => std::thread::sleep(STOP_POLL_INTERVAL),
                Err(error) => return Err(format!("could not wait for {name}: {error}")),
            }
        }
    }
    let _ = child.kill();
    let status = child.wait().map_err(|error| format!("could not wait for {name}: {error}"))?;
    if signalled {
        Err(format!("{name} did not exit within {deadline:?} of SIGTERM and was killed ({status})"))
    } else {
        Err(format!("could not send SIGTERM to {name}, so it was killed ({status})"))
    }
}

/// Forwards the server's standard output lines; once nobody listens any more it keeps reading, so
/// that the server never blocks on a full pipe.
fn spawn_standard_output_reader(standard_output: ChildStdout, lines: Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(standard_output).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
}

/// Keeps the server's last standard error lines.
fn spawn_standard_error_reader(standard_error: ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(standard_error).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            if let Ok(mut tail) = tail.lock() {
                if tail.len() == STANDARD_ERROR_LINES_KEPT {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
}

/// A Redis client connection to 127.0.0.1:`port`, with [`CLIENT_TIMEOUT`] on connecting, reading
/// and writing, so that no request can hang.
pub fn connect(port: u16) -> Result<redis::Connection, String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).map_err(|error| format!("bad Redis address: {error}"))?;
    let connection = client
        .get_connection_with_timeout(CLIENT_TIMEOUT)
        .map_err(|error| format!("could not connect a Redis client to 127.0.0.1:{port}: {error}"))?;
    connection.set_read_timeout(Some(CLIENT_TIMEOUT)).map_err(|error| format!("could not set a read timeout: {error}"))?;
    connection.set_write_timeout(Some(CLIENT_TIMEOUT)).map_err(|error| format!("could not set a write timeout: {error}"))?;
    Ok(connection)
}

/// A command that runs `program` on CPU core `core` alone when it is given (through `taskset`, so
/// that the program sees one core from its first instruction), else as it is.
pub fn command_on_core(program: impl AsRef<std::ffi::OsStr>, core: Option<usize>) -> Command {
    match core {
        Some(core) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &core.to_string()]).arg(program);
            command
        }
        None => Command::new(program),
    }
}
