//! The `ecdysis` command: operates a running ecdysis host through its control socket — reload a
//! module from a new library, roll it back, commit it, snapshot its state, and show its status and
//! history.
//!
//! Exit codes: 0 when the host did what was asked, 1 when it refused (the reason is one line on
//! stderr), 2 when it could not be reached or its reply made no sense. Usage errors are clap's.

#![forbid(unsafe_code)]

mod calendar;
mod human;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ecdysis_protocol::{Client, Command, ErrorChain, ErrorKind, Reply, find_default_socket};

/// How long to wait for the host's reply. An update's pause is bounded by the host's own deadlines,
/// so this is only a last resort against a host that stopped answering.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);

/// Operate a running ecdysis host through its control socket.
#[derive(Debug, Parser)]
#[command(name = "ecdysis", version, about, long_about = None)]
struct Arguments {
    /// The host's control socket. Default: `$ECDYSIS_SOCKET`, else the only socket in the default
    /// directory (`$XDG_RUNTIME_DIR/ecdysis` or `<temp dir>/ecdysis-<uid>`).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,

    /// Print the host's reply as JSON on stdout (errors too, as `{"error": {"kind", "message"}}`).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    operation: Operation,
}

/// What to ask the host.
#[derive(Debug, Subcommand)]
enum Operation {
    /// Update a running module to the version in a library, keeping its state.
    Reload {
        /// The module to update, e.g. `counter`.
        module: String,
        /// The new version's library; a relative path is taken from the current directory.
        library: PathBuf,
        /// Accept a version older than the running one.
        #[arg(long)]
        allow_downgrade: bool,
        /// Let migration steps drop what the new schema cannot hold (e.g. lists when going back
        /// to a version without lists) instead of refusing.
        #[arg(long)]
        force: bool,
        /// Transfer the state lazily: the pause does not grow with the state; the new version
        /// serves at once, takes each entry over when first touched, and a background pass moves
        /// the rest (`status` shows how far). Both versions must keep keyed state.
        #[arg(long)]
        lazy: bool,
    },
    /// Show the loaded modules.
    Status,
    /// Take a module back to the version that ran before its last update.
    Rollback {
        /// The module.
        module: String,
        /// Let migration steps drop what the previous schema cannot hold instead of refusing.
        #[arg(long)]
        force: bool,
    },
    /// End a module's probation, releasing the version that ran before its last update.
    Commit {
        /// The module.
        module: String,
    },
    /// Show what the host loaded, updated, rolled back, committed and refused, oldest first.
    History,
    /// Write a snapshot of a module's state (every module's, without MODULE) to the host's state
    /// directory, which a restarted host comes back from.
    Snapshot {
        /// The module; every loaded module when left out.
        module: Option<String>,
    },
}

/// Why the command did not succeed.
enum Failure {
    /// The host answered with an error: it refused or aborted the request. Exit code 1.
    Refused {
        /// The kind of error, for `--json`.
        kind: ErrorKind,
        /// The host's reason.
        message: String,
    },
    /// The host could not be reached, or its reply was not what was asked for. Exit code 2.
    Unreachable(String),
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    let json = arguments.json;
    match run(arguments) {
        Ok(output) => write_to_stdout(&output),
        Err(Failure::Refused { kind, message }) => {
            if json {
                let error = serde_json::json!({ "error": { "kind": kind, "message": message } });
                // A failure to print the JSON form is not worth more than the line on stderr.
                let _ = write_to_stdout(&format!("{error}\n"));
            }
            eprintln!("ecdysis: {}", human::single_line(&message));
            ExitCode::from(1)
        }
        Err(Failure::Unreachable(message)) => {
            eprintln!("ecdysis: {}", human::single_line(&message));
            ExitCode::from(2)
        }
    }
}

/// Writes `output` to stdout. A closed pipe (as with `ecdysis history | head`) is not an error.
fn write_to_stdout(output: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ecdysis: cannot write to stdout: {error}");
            ExitCode::from(2)
        }
    }
}

/// Sends the request and renders the reply: what to print on stdout, or why not.
fn run(arguments: Arguments) -> Result<String, Failure> {
    let socket = match arguments.socket {
        Some(socket) => socket,
        None => find_default_socket().map_err(Failure::Unreachable)?,
    };
    let command = protocol_command(&arguments.operation)?;
    let mut client = Client::connect(&socket, REPLY_TIMEOUT).map_err(|error| Failure::Unreachable(ErrorChain(&error).to_string()))?;
    let spinner = match &arguments.operation {
        Operation::Reload { module, .. } => start_spinner(format!("updating {module}…")),
        Operation::Rollback { module, .. } => start_spinner(format!("rolling back {module}…")),
        Operation::Status | Operation::Commit { .. } | Operation::History | Operation::Snapshot { .. } => None,
    };
    let reply = client.request(command);
    if let Some(spinner) = spinner {
        spinner.finish_and_clear();
    }
    let reply = reply.map_err(|error| Failure::Unreachable(ErrorChain(&error).to_string()))?;
    render(&arguments.operation, reply, arguments.json)
}

/// The protocol command for an operation. A relative library path is made absolute here, since
/// the host resolves paths against its own working directory, not ours.
fn protocol_command(operation: &Operation) -> Result<Command, Failure> {
    Ok(match operation {
        Operation::Reload { module, library, allow_downgrade, force, lazy } => {
            let library = std::path::absolute(library)
                .map_err(|error| Failure::Unreachable(format!("cannot make the library path `{}` absolute: {error}", library.display())))?;
            Command::Reload { module: Some(module.clone()), library, allow_downgrade: *allow_downgrade, force: *force, lazy: *lazy }
        }
        Operation::Status => Command::Status,
        Operation::Rollback { module, force } => Command::Rollback { module: module.clone(), force: *force },
        Operation::Commit { module } => Command::Commit { module: module.clone() },
        Operation::History => Command::History,
        Operation::Snapshot { module } => Command::Snapshot { module: module.clone() },
    })
}

/// A spinner on stderr while the host works, when stderr is a terminal; nothing otherwise, so
/// that logs and pipes get plain lines only.
fn start_spinner(message: String) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(80));
    Some(spinner)
}

/// What to print for `reply`, the answer to `operation`: its human form, or its payload as JSON.
fn render(operation: &Operation, reply: Reply, json: bool) -> Result<String, Failure> {
    match (operation, reply) {
        (_, Reply::Error { kind, message }) => Err(Failure::Refused { kind, message }),
        (Operation::Reload { .. } | Operation::Rollback { .. }, Reply::Report { report }) => {
            if json {
                json_line(serde_json::to_string(&report))
            } else {
                Ok(format!("{report}\n"))
            }
        }
        (Operation::Status, Reply::Status { modules }) => {
            if json {
                json_line(serde_json::to_string(&modules))
            } else {
                Ok(human::status_table(&modules))
            }
        }
        (Operation::Commit { .. }, Reply::Committed { module, released }) => {
            if json {
                json_line(serde_json::to_string(&serde_json::json!({ "module": module, "released": released })))
            } else {
                Ok(format!("{}\n", human::commit_line(&module, released.as_ref())))
            }
        }
        (Operation::History, Reply::History { entries }) => {
            if json {
                json_line(serde_json::to_string(&entries))
            } else {
                Ok(human::history_lines(&entries))
            }
        }
        (Operation::Snapshot { .. }, Reply::Snapshots { snapshots }) => {
            if json {
                json_line(serde_json::to_string(&snapshots))
            } else if snapshots.is_empty() {
                Ok("no modules loaded; no snapshot written\n".to_owned())
            } else {
                Ok(snapshots.iter().map(|snapshot| format!("{snapshot}\n")).collect())
            }
        }
        (operation, reply) => Err(Failure::Unreachable(format!(
            "the host answered `{}` with an unexpected reply: {}",
            operation_name(operation),
            serde_json::to_string(&reply).unwrap_or_else(|_| format!("{reply:?}"))
        ))),
    }
}

/// A line of JSON for stdout, from `serde_json::to_string`'s result.
fn json_line(serialized: serde_json::Result<String>) -> Result<String, Failure> {
    match serialized {
        Ok(json) => Ok(json + "\n"),
        Err(error) => Err(Failure::Unreachable(format!("cannot print the reply as JSON: {error}"))),
    }
}

/// The protocol name of an operation, for messages.
fn operation_name(operation: &Operation) -> &'static str {
    match operation {
        Operation::Reload { .. } => "reload",
        Operation::Status => "status",
        Operation::Rollback { .. } => "rollback",
        Operation::Commit { .. } => "commit",
        Operation::History => "history",
        Operation::Snapshot { .. } => "snapshot",
    }
}
