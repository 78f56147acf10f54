//! `kv-server`: a Redis-compatible server (RESP2 over TCP) whose commands and data live in the `kv`
//! plugin, which an operator can update live through the ecdysis control socket while clients keep
//! their connections.
//!
//! Usage: `kv-server --plugin LIBRARY [--listen ADDRESS] [--control SOCKET] [--probation-ms N]
//! [--state-dir DIR [--snapshot-interval-ms N]] [--no-rehearsal] [--revalidate-in-pause]
//! [--migration-pace BATCH:MILLISECONDS] [--hook-timeout-ms N]`.
//! `--listen` defaults to `127.0.0.1:6379`; port 0 picks a free port. Without `--control`, the control socket goes to the default location. With
//! `--state-dir`, the host keeps its journal there (every load, update, rollback, refusal and
//! commit, `fsync`'d), so `ecdysis history` shows what happened before a restart, a crash or a
//! SIGKILL; and snapshots of the data: after every commit (`ecdysis commit`, or the end of
//! probation), on `ecdysis snapshot`, every `--snapshot-interval-ms` milliseconds if given, and at a
//! clean shutdown. Started again on the same directory, the server comes back on the version of the
//! newest snapshot with its data (the `--plugin` library is used only when that version's library
//! copy in the state directory is gone or changed). A crash or SIGKILL loses the writes since the
//! newest snapshot. Every update is first rehearsed in a child process (this program, re-executed),
//! unless `--no-rehearsal` is given; the rehearsal checks the round trip, which
//! `--revalidate-in-pause` checks again in the pause. After a lazy update (`ecdysis reload --lazy`),
//! the background pass moves `BATCH` entries every `MILLISECONDS` (by default 1000 every 1 ms).
//! `--hook-timeout-ms` sets how long each plugin hook of an update (an export, a transform, a
//! snapshot) may run before the update is abandoned (default 5 s). At start the server prints, one line each:
//!
//! ```text
//! control socket: PATH
//! listening on 127.0.0.1:PORT
//! ready: kv VERSION
//! ```
//!
//! The server owns the network side: one thread per connection (at most
//! [`connection::MAX_CONNECTIONS`]), RESP2 parsing ([`request_parser`]), pipelining (each pipeline
//! goes to the plugin as one batch) and `QUIT`. Everything else is the plugin's. On SIGINT or SIGTERM
//! it stops accepting, lets the batches in flight finish, closes every connection, writes a last
//! snapshot (with `--state-dir`), releases the host (which removes the control socket), prints
//! `shut down` and exits with status 0.

#![forbid(unsafe_code)]

mod connection;
mod request_parser;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ecdysis_host::{ControlSocket, ErrorChain, Host, Module};
use kv_interface::Kv;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::connection::{Connections, refuse_for_too_many_connections, serve_connection};

const USAGE: &str = "usage: kv-server --plugin LIBRARY [--listen ADDRESS] [--control SOCKET] [--probation-ms N] [--state-dir DIR [--snapshot-interval-ms N]] [--no-rehearsal] [--revalidate-in-pause] [--migration-pace BATCH:MILLISECONDS] [--hook-timeout-ms N]";

/// How long connections get to finish the batch they are executing and write its replies once
/// shutdown has begun, before their sockets are shut down both ways.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    // First, before anything else: in a rehearsal process this runs the rehearsal and exits.
    ecdysis_host::rehearsal::serve_if_asked();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kv-server: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}

/// What the command line asks for.
struct Options {
    plugin: PathBuf,
    listen_address: String,
    control_socket: ControlSocket,
    probation: Option<Duration>,
    state_directory: Option<PathBuf>,
    rehearse: bool,
    revalidate_in_pause: bool,
    snapshot_interval: Option<Duration>,
    migration_pace: Option<(u64, Duration)>,
    hook_timeout: Option<Duration>,
}

impl Options {
    fn from_command_line() -> Result<Options, String> {
        let mut plugin = None;
        let mut listen_address = "127.0.0.1:6379".to_owned();
        let mut control_socket = ControlSocket::Default;
        let mut probation = None;
        let mut state_directory = None;
        let mut rehearse = true;
        let mut revalidate_in_pause = false;
        let mut snapshot_interval = None;
        let mut migration_pace = None;
        let mut hook_timeout = None;
        let mut arguments = std::env::args().skip(1);
        while let Some(argument) = arguments.next() {
            let mut value = || arguments.next().ok_or_else(|| format!("{argument} needs a value\n{USAGE}"));
            match argument.as_str() {
                "--plugin" => plugin = Some(PathBuf::from(value()?)),
                "--listen" => listen_address = value()?,
                "--control" => control_socket = ControlSocket::At(value()?.into()),
                "--probation-ms" => {
                    let milliseconds = value()?;
                    let milliseconds: u64 =
                        milliseconds.parse().map_err(|_| format!("--probation-ms takes a number of milliseconds, not `{milliseconds}`"))?;
                    probation = Some(Duration::from_millis(milliseconds));
                }
                "--state-dir" => state_directory = Some(PathBuf::from(value()?)),
                "--no-rehearsal" => rehearse = false,
                "--revalidate-in-pause" => revalidate_in_pause = true,
                "--snapshot-interval-ms" => {
                    let milliseconds = value()?;
                    let milliseconds: u64 =
                        milliseconds.parse().ok().filter(|&milliseconds| milliseconds > 0).ok_or_else(|| {
                            format!("--snapshot-interval-ms takes a positive number of milliseconds, not `{milliseconds}`")
                        })?;
                    snapshot_interval = Some(Duration::from_millis(milliseconds));
                }
                "--migration-pace" => {
                    let pace = value()?;
                    let parsed = pace.split_once(':').and_then(|(batch, milliseconds)| {
                        Some((batch.parse::<u64>().ok().filter(|&batch| batch > 0)?, Duration::from_millis(milliseconds.parse().ok()?)))
                    });
                    migration_pace = Some(parsed.ok_or_else(|| {
                        format!("--migration-pace takes a positive batch size and milliseconds, as in `1000:1`, not `{pace}`")
                    })?);
                }
                "--hook-timeout-ms" => {
                    let milliseconds = value()?;
                    let milliseconds: u64 = milliseconds
                        .parse()
                        .ok()
                        .filter(|&milliseconds| milliseconds > 0)
                        .ok_or_else(|| format!("--hook-timeout-ms takes a positive number of milliseconds, not `{milliseconds}`"))?;
                    hook_timeout = Some(Duration::from_millis(milliseconds));
                }
                "--help" | "-h" => return Err(USAGE.to_owned()),
                _ => return Err(format!("unknown argument `{argument}`\n{USAGE}")),
            }
        }
        let plugin = plugin.ok_or_else(|| format!("--plugin is required\n{USAGE}"))?;
        if snapshot_interval.is_some() && state_directory.is_none() {
            return Err(format!("--snapshot-interval-ms needs --state-dir, where the snapshots go\n{USAGE}"));
        }
        Ok(Options {
            plugin,
            listen_address,
            control_socket,
            probation,
            state_directory,
            snapshot_interval,
            rehearse,
            revalidate_in_pause,
            migration_pace,
            hook_timeout,
        })
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::from_command_line()?;
    let mut builder =
        Host::builder().control_socket(options.control_socket).rehearse(options.rehearse).revalidate_in_pause(options.revalidate_in_pause);
    if let Some(probation) = options.probation {
        builder = builder.probation(probation);
    }
    if let Some(directory) = &options.state_directory {
        builder = builder.state_directory(directory);
    }
    if let Some(interval) = options.snapshot_interval {
        builder = builder.snapshot_interval(interval);
    }
    if let Some(deadline) = options.hook_timeout {
        builder = builder.hook_timeout(deadline);
    }
    if let Some((batch, interval)) = options.migration_pace {
        builder = builder.lazy_migration_pace(batch, interval);
    }
    let host = builder.build()?;
    let kv: Module<dyn Kv> = host.load(&options.plugin)?;
    let listener =
        TcpListener::bind(&options.listen_address).map_err(|error| format!("cannot listen on {}: {error}", options.listen_address))?;
    let listening_address = listener.local_addr()?;

    // Signals are caught from here on: the first SIGINT or SIGTERM starts the shutdown, a second one
    // ends the process at once.
    let shutting_down = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let signals_handle = signals.handle();
    let shutting_down_on_signal = Arc::clone(&shutting_down);
    let signal_thread = std::thread::Builder::new().name("kv-signals".into()).spawn(move || {
        for signal in signals.forever() {
            if shutting_down_on_signal.swap(true, Ordering::SeqCst) {
                // A second signal means the operator will not wait for the clean shutdown.
                eprintln!("kv-server: received signal {signal} again; exiting at once");
                std::process::exit(128 + signal);
            }
            eprintln!("kv-server: received signal {signal}; shutting down");
            wake_accepting_thread(listening_address);
        }
    })?;

    let mut stdout = std::io::stdout().lock();
    if let Some(path) = host.control_socket_path() {
        writeln!(stdout, "control socket: {}", path.display())?;
    }
    writeln!(stdout, "listening on {listening_address}")?;
    writeln!(stdout, "ready: kv {}", kv.info().version)?;
    stdout.flush()?;
    drop(stdout);

    let connections = Arc::new(Connections::default());
    accept_connections(&listener, &kv, &connections, &shutting_down);

    // Shutdown: no new connections; waiting clients get end of input; the batches in flight finish
    // and their replies are written; then whatever is still open is cut.
    drop(listener);
    connections.shut_down_all(Shutdown::Read);
    if !connections.wait_until_all_closed(SHUTDOWN_GRACE) {
        eprintln!("kv-server: {} connection(s) still busy after {SHUTDOWN_GRACE:?}; closing them", connections.count());
        connections.shut_down_all(Shutdown::Both);
        if !connections.wait_until_all_closed(SHUTDOWN_GRACE) {
            eprintln!("kv-server: {} connection(s) did not close; exiting anyway", connections.count());
        }
    }
    // Every write served is in the last snapshot (with a state directory; without one, this does
    // nothing).
    if let Err(error) = host.shutdown() {
        eprintln!("kv-server: the last snapshot was not written: {}", ErrorChain(&error));
    }
    let control_socket_path = host.control_socket_path();
    drop(kv);
    drop(host);
    // The host removes its socket when it is released; should a control request still hold it at
    // this moment, the file is removed here, since the process is about to end.
    if let Some(path) = control_socket_path.filter(|path| path.exists()) {
        let _ = std::fs::remove_file(path);
    }
    signals_handle.close();
    let _ = signal_thread.join();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "shut down")?;
    stdout.flush()?;
    Ok(())
}

/// Accepts clients, each on a thread of its own, until `shutting_down` is set (the signal thread
/// then connects once to wake this loop).
fn accept_connections(listener: &TcpListener, kv: &Module<dyn Kv>, connections: &Arc<Connections>, shutting_down: &Arc<AtomicBool>) {
    for accepted in listener.incoming() {
        if shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                // Running out of file descriptors, or a client that gave up before it was accepted:
                // wait a moment rather than spin, and go on.
                eprintln!("kv-server: accepting a connection failed: {error}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let ticket = match connections.register(&stream) {
            Ok(Some(ticket)) => ticket,
            Ok(None) => {
                refuse_for_too_many_connections(stream);
                continue;
            }
            Err(error) => {
                eprintln!("kv-server: cannot register a connection: {error}");
                continue;
            }
        };
        let (kv, shutting_down) = (kv.clone(), Arc::clone(shutting_down));
        let spawned = std::thread::Builder::new().name("kv-connection".into()).spawn(move || {
            // The client's own failures (a reset, a broken pipe) end only its connection.
            let _ = serve_connection(&stream, &kv, &shutting_down);
            drop(ticket);
        });
        if let Err(error) = spawned {
            eprintln!("kv-server: cannot start a thread for a connection: {error}");
        }
    }
}

/// Connects once to the listening socket so that the thread blocked in `accept` returns and sees
/// that shutdown has begun.
fn wake_accepting_thread(listening_address: SocketAddr) {
    let reachable_address = match listening_address.ip() {
        IpAddr::V4(address) if address.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listening_address.port()),
        IpAddr::V6(address) if address.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listening_address.port()),
        _ => listening_address,
    };
    if let Err(error) = TcpStream::connect_timeout(&reachable_address, Duration::from_secs(1)) {
        eprintln!("kv-server: cannot wake the accepting thread at {reachable_address}: {error}");
    }
}
