//! A `redis-server` for comparisons, as `cargo xtask bench kv` and the benchmark report
//! (`benchmarks/`, which includes this file) run it: on a free port of 127.0.0.1, without
//! persistence, in a temporary directory, stopped when dropped.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::kv_server;

/// How long `redis-server` may take to answer PING.
const REDIS_SERVER_STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// How often a starting server is asked again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A `redis-server` on a free port of 127.0.0.1, with no persistence, in a temporary directory;
/// stopped when dropped.
pub struct RedisServer {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    stopped: bool,
    _directory: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `binary`, on CPU core `core` alone when it is given (through `taskset`), and waits
    /// for it to answer PING.
    pub fn start_pinned(binary: &Path, core: Option<usize>) -> Result<RedisServer, String> {
        let directory = tempfile::Builder::new()
            .prefix("ecdysis-redis-")
            .tempdir()
            .map_err(|error| format!("could not create a temporary directory for redis-server: {error}"))?;
        // A port the system just handed out and took back; nothing else on this machine asks for
        // one in between in practice.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("could not find a free port: {error}"))?
            .port();
        let child = kv_server::command_on_core(binary, core)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(directory.path())
            .current_dir(directory.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("could not start redis-server: {error}"))?;
        let mut server = RedisServer { child, port, stopped: false, _directory: directory };
        let deadline = Instant::now() + REDIS_SERVER_STARTUP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                server.stopped = true;
                return Err(format!("redis-server exited at once ({status}); is port {port} taken?"));
            }
            let answered = kv_server::connect(port)
                .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection).map_err(|error| error.to_string()));
            if answered.is_ok() {
                return Ok(server);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        Err(format!("redis-server did not answer PING on 127.0.0.1:{port} within {REDIS_SERVER_STARTUP_DEADLINE:?}"))
    }

    /// The process id.
    // Used by the benchmark report (`benchmarks/`), which pins the server to a core; xtask does not.
    #[allow(dead_code)]
    pub fn process_id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> Result<(), String> {
        self.stopped = true;
        kv_server::stop_process("redis-server", &mut self.child).map(drop)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = kv_server::stop_process("redis-server", &mut self.child);
        }
    }
}
