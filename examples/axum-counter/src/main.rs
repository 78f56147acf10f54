//! A small tokio HTTP service with axum that embeds the ecdysis host: `GET /hit/{key}` increments
//! the counter module's `key` and answers its new value, awaited through `Module::call_async`, so
//! that an update's pause holds up the requests that need the module and nothing else.
//!
//! Usage: `axum-counter --plugin LIB [--listen ADDRESS] [--control SOCKET]` (default address
//! `127.0.0.1:3000`; without `--control`, the control socket goes to the default location). It
//! prints the address it listens on and the control socket's path; operate it with
//! `ecdysis --socket SOCKET status|reload|rollback|commit|history`. Ctrl-C stops it.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use counter_interface::Counter;
use ecdysis_host::{ControlSocket, ErrorChain, Host, Module};

const USAGE: &str = "usage: axum-counter --plugin LIB [--listen ADDRESS] [--control SOCKET]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First, before the runtime starts: in a rehearsal process (this program, re-executed by the
    // host to try an update) this runs the rehearsal and exits.
    ecdysis_host::rehearsal::serve_if_asked();
    let arguments = Arguments::parse(std::env::args().skip(1))?;
    tokio::runtime::Runtime::new()?.block_on(serve(arguments))
}

async fn serve(arguments: Arguments) -> Result<(), Box<dyn std::error::Error>> {
    // The embedding: a host with its control socket, the module loaded, and calls awaited in `hit`.
    let host = Host::builder().control_socket(arguments.control).build()?;
    let counter = host.load_async::<dyn Counter>(&arguments.plugin).await?;
    let app = Router::new().route("/hit/{key}", get(hit)).with_state(counter);

    let listener = tokio::net::TcpListener::bind(arguments.listen).await?;
    println!("listening on {}", listener.local_addr()?);
    if let Some(socket) = host.control_socket_path() {
        println!("control socket: {}", socket.display());
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            // Without a signal handler, stop at once rather than never.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// `GET /hit/{key}`: increments `key` and answers its new value; a failed call answers 500 with
/// the error and its causes.
async fn hit(State(counter): State<Module<dyn Counter>>, Path(key): Path<String>) -> Result<String, (StatusCode, String)> {
    let value = counter.call_async(|counter| counter.increment(&key, 1)).await;
    value.map(|value| format!("{value}\n")).map_err(|error| (StatusCode::INTERNAL_SERVER_ERROR, format!("{}\n", ErrorChain(&error))))
}

/// The command line.
struct Arguments {
    plugin: PathBuf,
    listen: SocketAddr,
    control: ControlSocket,
}

impl Arguments {
    fn parse(mut arguments: impl Iterator<Item = String>) -> Result<Arguments, String> {
        let mut plugin = None;
        let mut listen = SocketAddr::from(([127, 0, 0, 1], 3000));
        let mut control = ControlSocket::Default;
        while let Some(argument) = arguments.next() {
            let value = arguments.next().ok_or_else(|| format!("{argument} needs a value\n{USAGE}"))?;
            match argument.as_str() {
                "--plugin" => plugin = Some(PathBuf::from(value)),
                "--listen" => listen = value.parse().map_err(|error| format!("--listen {value}: {error}\n{USAGE}"))?,
                "--control" => control = ControlSocket::At(value.into()),
                _ => return Err(format!("unknown argument `{argument}`\n{USAGE}")),
            }
        }
        let plugin = plugin.ok_or_else(|| format!("--plugin is required\n{USAGE}"))?;
        Ok(Arguments { plugin, listen, control })
    }
}
