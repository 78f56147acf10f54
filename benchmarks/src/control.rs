//! Raw requests to a host's control socket, as JSON values: the lazy reload and the module status
//! with its `migration` field are read this way, so that the report works against a host whose
//! protocol crate knows them and against one whose does not (which refuses `"lazy": true`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a control request may wait for its reply (an update of a gigabyte of state takes
/// seconds; the host bounds its own phases).
const REPLY_DEADLINE: Duration = Duration::from_secs(180);

/// How often the status is polled while a lazy migration runs.
const MIGRATION_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The longest a lazy migration is waited for.
const MIGRATION_DEADLINE: Duration = Duration::from_secs(300);

/// Sends one request on a fresh connection and reads one reply line.
pub fn request(socket: &Path, request: &Value) -> Result<Value, String> {
    let mut stream = UnixStream::connect(socket).map_err(|error| format!("cannot connect to `{}`: {error}", socket.display()))?;
    stream.set_read_timeout(Some(REPLY_DEADLINE)).map_err(|error| format!("could not set a read timeout: {error}"))?;
    let mut line = serde_json::to_vec(request).map_err(|error| error.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|error| format!("could not send a control request: {error}"))?;
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).map_err(|error| format!("no reply to a control request: {error}"))?;
    serde_json::from_str(&reply).map_err(|error| format!("the control reply is not JSON ({error}): {}", reply.trim()))
}

/// What a lazy reload request came to.
pub enum LazyReload {
    /// The host refused the request or does not know `lazy`.
    Unavailable(String),
    /// The host updated the module lazily.
    Done {
        /// How long calls were held, from the update's report.
        pause: Duration,
        /// From the reply to the first status that shows no migration running.
        migration: Duration,
        /// Whether a status reply showed a migration running (`"migration": {...}`).
        migration_seen: bool,
    },
}

/// Asks the host at `socket` to update module `module` to `library` with lazy transfer
/// (`"lazy": true`), then polls its status until the module shows no migration.
pub fn lazy_reload(socket: &Path, module: &str, library: &Path) -> Result<LazyReload, String> {
    let reply = request(socket, &json!({"protocol": 1, "command": "reload", "module": module, "library": library, "lazy": true}))?;
    match reply.get("reply").and_then(Value::as_str) {
        Some("report") => {}
        Some("error") => {
            let message = reply.get("message").and_then(Value::as_str).unwrap_or("refused").to_owned();
            let kind = reply.get("kind").and_then(Value::as_str).unwrap_or("");
            // A host without lazy transfer refuses the unknown field `lazy` as an invalid request; any
            // other refusal is a failure of the update itself.
            if kind == "invalid_request" && message.contains("lazy") {
                return Ok(LazyReload::Unavailable(message));
            }
            return Err(format!("the lazy update failed: {message}"));
        }
        _ => return Err(format!("unexpected reply to a lazy reload: {reply}")),
    }
    let replied = Instant::now();
    let report = &reply["report"];
    if report.get("lazy").and_then(Value::as_bool) != Some(true) {
        // The host took the request but moved the state eagerly: take the update back, so that the
        // caller finds the version it had.
        let _ = request(socket, &json!({"protocol": 1, "command": "rollback", "module": module}));
        return Ok(LazyReload::Unavailable("the host updated eagerly: its report does not say `\"lazy\": true`".to_owned()));
    }
    let pause = Duration::from_micros(report.get("pause_micros").and_then(Value::as_u64).unwrap_or(0));
    let mut migration_seen = false;
    loop {
        let status = request(socket, &json!({"protocol": 1, "command": "status"}))?;
        let migration = status
            .get("modules")
            .and_then(Value::as_array)
            .and_then(|modules| modules.iter().find(|entry| entry.get("name").and_then(Value::as_str) == Some(module)))
            .and_then(|entry| entry.get("migration"))
            .filter(|migration| !migration.is_null());
        if migration.is_none() {
            return Ok(LazyReload::Done { pause, migration: replied.elapsed(), migration_seen });
        }
        migration_seen = true;
        if replied.elapsed() > MIGRATION_DEADLINE {
            return Err(format!("the lazy migration had not finished after {MIGRATION_DEADLINE:?}"));
        }
        std::thread::sleep(MIGRATION_POLL_INTERVAL);
    }
}
