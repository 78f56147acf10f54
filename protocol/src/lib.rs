//! The control protocol of an ecdysis host, in a crate of its own so that the `ecdysis` tool,
//! `cargo xtask` and any other client speak it without linking the host (and its plugin loader).
//!
//! One JSON object per line in each direction, versioned, size-bounded. A request is
//! `{"protocol": 1, "command": "reload", "module": "counter", "library": "/path/lib.so"}` (`module`
//! may be left out: the library's descriptor names it), `{"protocol": 1, "command": "status"}`,
//! `"rollback"` and `"commit"` with a `module`, `"history"`, or `"snapshot"` with an optional
//! `module` (every module when absent). A reply is `{"protocol": 1, "reply": "report" | "status" |
//! "committed" | "history" | "snapshots" | "error", ...}`.
//!
//! - This module: [`Request`], [`Command`], [`Response`], [`Reply`], [`ErrorKind`] and
//!   [`parse_request`], which names every kind of bad input.
//! - [`UpdateReport`], [`ModuleStatus`], [`HistoryEntry`]: the data the replies carry. The host
//!   builds them; they are defined here, once, so that both ends agree on them.
//! - [`Client`], [`find_default_socket`], [`default_directory`]: connecting to a host.
//! - [`ErrorChain`]: the one way an error is shown to an operator, with all its causes.

#![forbid(unsafe_code)]

mod client;
mod error_chain;
mod report;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use client::{Client, ClientError, default_directory, find_default_socket};
pub use error_chain::ErrorChain;
pub use report::{
    HistoryEntry, HistoryEvent, MigrationProgress, ModuleStatus, Phase, PhaseTiming, RehearsalReport, RehearsalStatus, SnapshotReason,
    SnapshotReport, UpdateKind, UpdateReport,
};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest request the host reads, newline included. Larger requests get an error reply and the
/// connection is closed.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The commands, by name.
pub const COMMANDS: &[&str] = &["reload", "status", "rollback", "commit", "history", "snapshot"];

/// What a request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Update a module to a library.
    Reload {
        /// The module; when absent, the one the library's descriptor names.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        /// The library, as a path on the host's machine.
        library: PathBuf,
        /// Accept a version older than the running one.
        #[serde(default)]
        allow_downgrade: bool,
        /// Let migration steps drop what the target schema cannot hold instead of refusing.
        #[serde(default)]
        force: bool,
        /// Transfer the state lazily: the new version serves at once and takes each entry over
        /// when first touched, while a background pass moves the rest (keyed plugins only).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        lazy: bool,
    },
    /// The loaded modules.
    Status,
    /// Take a module back to its previous version.
    Rollback {
        /// The module.
        module: String,
        /// Let migration steps drop what the previous schema cannot hold instead of refusing.
        #[serde(default)]
        force: bool,
    },
    /// End a module's probation, releasing its previous version.
    Commit {
        /// The module.
        module: String,
    },
    /// What happened so far.
    History,
    /// Write a snapshot of a module's state to the host's state directory.
    Snapshot {
        /// The module; when absent, every loaded module.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
    },
}

/// A request: a command and the protocol version the client speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Always [`PROTOCOL_VERSION`] for this crate.
    pub protocol: u32,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    /// A request of this protocol version.
    #[must_use]
    pub fn new(command: Command) -> Request {
        Request { protocol: PROTOCOL_VERSION, command }
    }
}

/// Why a request failed, for scripts to branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was not a JSON object.
    Malformed,
    /// The request was larger than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// The command is not one of [`COMMANDS`].
    UnknownCommand,
    /// The request's protocol version is not spoken here.
    UnsupportedVersion,
    /// A known command with missing or wrong fields.
    InvalidRequest,
    /// The connecting user is not the host's owner.
    NotPermitted,
    /// Too many connections at once.
    Busy,
    /// The host is shutting down.
    ShuttingDown,
    /// No module of that name is loaded, or nothing to roll back to.
    NoSuchModule,
    /// The library was refused before anything was touched.
    Refused,
    /// The transaction started and was aborted; the running version kept serving.
    Aborted,
    /// A deadline passed (calls did not drain, or a hook did not return).
    Timeout,
}

/// What the host answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// An update or rollback went through.
    Report {
        /// Its report.
        report: UpdateReport,
    },
    /// The loaded modules.
    Status {
        /// One entry per module.
        modules: Vec<ModuleStatus>,
    },
    /// Probation ended.
    Committed {
        /// The module.
        module: String,
        /// The version released, if one was loaded.
        released: Option<semver::Version>,
    },
    /// The host's history, oldest first.
    History {
        /// The entries.
        entries: Vec<HistoryEntry>,
    },
    /// The snapshots written.
    Snapshots {
        /// One per module.
        snapshots: Vec<SnapshotReport>,
    },
    /// The request failed; nothing changed.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// The reason with its causes down to the root one, on one line, as [`ErrorChain`]
        /// renders it.
        message: String,
    },
}

/// A reply line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The protocol version of the host.
    pub protocol: u32,
    /// The reply.
    #[serde(flatten)]
    pub reply: Reply,
}

impl Response {
    /// A response of this protocol version.
    #[must_use]
    pub fn new(reply: Reply) -> Response {
        Response { protocol: PROTOCOL_VERSION, reply }
    }

    /// An error response.
    #[must_use]
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::new(Reply::Error { kind, message: message.into() })
    }
}

/// Parses one request line, telling apart what is wrong with it.
///
/// # Errors
/// The error response to send back.
// The error is the reply to send, built once per bad request; boxing it would save nothing that
// matters.
#[allow(clippy::result_large_err)]
pub fn parse_request(line: &[u8]) -> Result<Request, Response> {
    let value: serde_json::Value = serde_json::from_slice(line)
        .map_err(|error| Response::error(ErrorKind::Malformed, format!("request is not valid JSON: {error}")))?;
    let Some(object) = value.as_object() else {
        return Err(Response::error(ErrorKind::Malformed, "request must be a JSON object"));
    };
    match object.get("protocol").and_then(serde_json::Value::as_u64) {
        None => return Err(Response::error(ErrorKind::InvalidRequest, "request has no numeric `protocol` version")),
        Some(version) if version != u64::from(PROTOCOL_VERSION) => {
            return Err(Response::error(
                ErrorKind::UnsupportedVersion,
                format!("protocol version {version} is not supported; this host speaks version {PROTOCOL_VERSION}"),
            ));
        }
        Some(_) => {}
    }
    let command = match object.get("command").and_then(serde_json::Value::as_str) {
        None => return Err(Response::error(ErrorKind::InvalidRequest, "request has no `command`")),
        Some(command) => command,
    };
    if !COMMANDS.contains(&command) {
        let shown: String = command.chars().take(64).collect();
        return Err(Response::error(
            ErrorKind::UnknownCommand,
            format!("unknown command `{shown}`; the commands are {}", COMMANDS.join(", ")),
        ));
    }
    let fields: &[&str] = match command {
        "reload" => &["module", "library", "allow_downgrade", "force", "lazy"],
        "rollback" => &["module", "force"],
        "commit" | "snapshot" => &["module"],
        _ => &[],
    };
    if let Some(unknown) = object.keys().find(|key| !matches!(key.as_str(), "protocol" | "command") && !fields.contains(&key.as_str())) {
        let shown: String = unknown.chars().take(64).collect();
        return Err(Response::error(ErrorKind::InvalidRequest, format!("invalid `{command}` request: unknown field `{shown}`")));
    }
    serde_json::from_value(value.clone())
        .map_err(|error| Response::error(ErrorKind::InvalidRequest, format!("invalid `{command}` request: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(line: &str, expected: Result<Command, (ErrorKind, &str)>) {
        let parsed = parse_request(line.as_bytes());
        match (parsed, expected) {
            (Ok(request), Ok(command)) => assert_eq!(request.command, command),
            (Err(response), Err((kind, message))) => {
                let Reply::Error { kind: found_kind, message: found_message } = response.reply else { panic!("not an error reply") };
                assert_eq!(found_kind, kind);
                assert!(found_message.contains(message), "`{found_message}` should contain `{message}`");
            }
            (parsed, expected) => panic!("parsed {parsed:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn requests_parse_and_every_mistake_is_named() {
        check(r#"{"protocol":1,"command":"status"}"#, Ok(Command::Status));
        check(r#"{"protocol":1,"command":"snapshot"}"#, Ok(Command::Snapshot { module: None }));
        check(r#"{"protocol":1,"command":"snapshot","module":"kv"}"#, Ok(Command::Snapshot { module: Some("kv".into()) }));
        check(
            r#"{"protocol":1,"command":"reload","library":"/x.so"}"#,
            Ok(Command::Reload { module: None, library: "/x.so".into(), allow_downgrade: false, force: false, lazy: false }),
        );
        check(r#"{"protocol":1,"command":"rollback","module":"kv"}"#, Ok(Command::Rollback { module: "kv".into(), force: false }));
        check("{not json", Err((ErrorKind::Malformed, "request is not valid JSON")));
        check("[1,2]", Err((ErrorKind::Malformed, "must be a JSON object")));
        check(r#"{"command":"status"}"#, Err((ErrorKind::InvalidRequest, "no numeric `protocol`")));
        check(r#"{"protocol":2,"command":"status"}"#, Err((ErrorKind::UnsupportedVersion, "protocol version 2 is not supported")));
        check(r#"{"protocol":1}"#, Err((ErrorKind::InvalidRequest, "has no `command`")));
        check(r#"{"protocol":1,"command":"format-disk"}"#, Err((ErrorKind::UnknownCommand, "unknown command `format-disk`")));
        check(
            r#"{"protocol":1,"command":"rollback"}"#,
            Err((ErrorKind::InvalidRequest, "invalid `rollback` request: missing field `module`")),
        );
        check(r#"{"protocol":1,"command":"status","extra":1}"#, Err((ErrorKind::InvalidRequest, "unknown field `extra`")));
    }

    #[test]
    fn replies_round_trip() {
        let response = Response::new(Reply::Committed { module: "kv".into(), released: Some(semver::Version::new(1, 0, 0)) });
        let line = serde_json::to_string(&response).unwrap();
        assert_eq!(line, r#"{"protocol":1,"reply":"committed","module":"kv","released":"1.0.0"}"#);
        assert_eq!(serde_json::from_str::<Response>(&line).unwrap(), response);
    }

    proptest::proptest! {
        /// Whatever bytes arrive on the socket, the parser answers with a request or a named
        /// refusal, and never panics.
        #[test]
        fn any_bytes_get_a_request_or_a_named_refusal(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            if let Err(refusal) = parse_request(&line) {
                let named = matches!(refusal.reply, Reply::Error { .. });
                proptest::prop_assert!(named, "a refusal is an error reply");
            }
        }

        /// Requests that are almost right (a valid one with one byte changed) are parsed or refused
        /// by name too.
        #[test]
        fn requests_with_one_byte_changed_are_parsed_or_refused(position in 0usize..80, byte in proptest::prelude::any::<u8>()) {
            let mut line = br#"{"protocol":1,"command":"reload","module":"kv","library":"/x.so","force":true}"#.to_vec();
            let position = position % line.len();
            line[position] = byte;
            if let Err(refusal) = parse_request(&line) {
                let named = matches!(refusal.reply, Reply::Error { .. });
                proptest::prop_assert!(named, "a refusal is an error reply");
            }
        }
    }
}
