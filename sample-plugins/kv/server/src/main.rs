//! `kv-server`: a Redis-compatible server (RESP2 over TCP) whose commands and data live in the `kv`
//! plugin, which an operator can update live through the ecdysis control socket while clients keep
//! their connections.
//!
//! Usage: `kv-server --plugin LIBRARY [--listen ADDRESS] [--control SOCKET] [--probation-ms N]
//! [--state-dir DIR [--snapshot-interval-ms N]] [--no-rehearsal] [--revalidate-in-pause]
//! [--migration-pace BATCH:MILLISECONDS] [--hook-timeout-ms N] [--threads N]`.
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
//! snapshot) may run before the update is abandoned (default 5 s). `--threads` sets how many worker
//! threads serve connections (default: one per core the process may run on; with 1, tokio's
//! current-thread runtime). At start the server prints, one line each:
//!
//! ```text
//! control socket: PATH
//! listening on 127.0.0.1:PORT
//! ready: kv VERSION
//! ```
//!
//! The server owns the network side, on tokio: one task per connection (at most
//! [`connection::MAX_CONNECTIONS`]) on one worker thread per core, RESP2 parsing ([`request_parser`]),
//! pipelining (each pipeline goes to the plugin as one batch, through
//! [`Module::call_async`](ecdysis_host::Module::call_async), so a connection waiting for an update
//! holds no thread), `QUIT`, and the waits of blocking commands such as BLPOP ([`blocking`]: a
//! blocked client waits in the server, holding no module call). Everything else is the plugin's. On SIGINT or SIGTERM
//! it stops accepting, lets the batches in flight finish, closes every connection, writes a last
//! snapshot (with `--state-dir`), releases the host (which removes the control socket), prints
//! `shut down` and exits with status 0.

#![forbid(unsafe_code)]

mod blocking;
mod connection;
mod request_parser;
mod transaction;

use std::io::{IsTerminal, Write};
use std::net::{Shutdown, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ecdysis_host::{ControlSocket, ErrorChain, Host, Module};
use kv_interface::Kv;
use tokio::signal::unix::{SignalKind, signal};

use crate::connection::{Connections, refuse_for_too_many_connections, serve_connection};

const USAGE: &str = "usage: kv-server --plugin LIBRARY [--listen ADDRESS] [--control SOCKET] [--probation-ms N] [--state-dir DIR [--snapshot-interval-ms N]] [--no-rehearsal] [--revalidate-in-pause] [--migration-pace BATCH:MILLISECONDS] [--hook-timeout-ms N] [--threads N]";

/// How long connections get to finish the batch they are executing and write its replies once
/// shutdown has begun, before their sockets are shut down both ways.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The signal numbers, for messages and the exit status of a second signal.
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

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
    threads: Option<usize>,
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
        let mut threads = None;
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
                "--threads" => {
                    let count = value()?;
                    threads = Some(
                        count
                            .parse::<usize>()
                            .ok()
                            .filter(|&count| count > 0)
                            .ok_or_else(|| format!("--threads takes a positive number of worker threads, not `{count}`"))?,
                    );
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
            threads,
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
    listener.set_nonblocking(true)?;
    let listening_address = listener.local_addr()?;
    // One worker per core this process may run on, unless `--threads` says otherwise. With one, the
    // current-thread runtime: the same one worker, without the work-stealing scheduler's bookkeeping.
    let threads = options.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).thread_name("kv-worker").enable_all().build()?
    };

    let mut stdout = std::io::stdout().lock();
    if let Some(path) = host.control_socket_path() {
        writeln!(stdout, "control socket: {}", path.display())?;
    }
    writeln!(stdout, "listening on {listening_address}")?;
    writeln!(stdout, "ready: kv {}", kv.info().version)?;
    stdout.flush()?;
    drop(stdout);

    runtime.block_on(serve(listener, &kv))?;
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
    // Connection tasks still blocked on a client are dropped with the runtime, closing their sockets.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "shut down")?;
    stdout.flush()?;
    Ok(())
}

/// Serves clients on `listener` until SIGINT or SIGTERM, then shuts down: no new connections;
/// waiting clients get end of input; the batches in flight finish and their replies are written;
/// then whatever is still open is cut. A second signal ends the process at once.
async fn serve(listener: TcpListener, kv: &Module<dyn Kv>) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let shutting_down = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(Connections::default());
    let first_signal = loop {
        tokio::select! {
            _ = interrupt.recv() => break SIGINT,
            _ = terminate.recv() => break SIGTERM,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => accept_connection(stream, kv, &connections, &shutting_down),
                Err(error) => {
                    // Running out of file descriptors, or a client that gave up before it was
                    // accepted: wait a moment rather than spin, and go on.
                    eprintln!("kv-server: accepting a connection failed: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    };
    shutting_down.store(true, Ordering::SeqCst);
    eprintln!("kv-server: received signal {first_signal}; shutting down");
    // A second signal means the operator will not wait for the clean shutdown.
    tokio::spawn(async move {
        let second_signal = tokio::select! {
            _ = interrupt.recv() => SIGINT,
            _ = terminate.recv() => SIGTERM,
        };
        eprintln!("kv-server: received signal {second_signal} again; exiting at once");
        std::process::exit(128 + second_signal);
    });
    drop(listener);
    connections.shut_down_all(Shutdown::Read);
    if !connections.wait_until_all_closed(SHUTDOWN_GRACE).await {
        eprintln!("kv-server: {} connection(s) still busy after {SHUTDOWN_GRACE:?}; closing them", connections.count());
        connections.shut_down_all(Shutdown::Both);
        if !connections.wait_until_all_closed(SHUTDOWN_GRACE).await {
            eprintln!("kv-server: {} connection(s) did not close; exiting anyway", connections.count());
        }
    }
    Ok(())
}

/// Registers a new client and starts its task, or refuses it when [`connection::MAX_CONNECTIONS`]
/// are open.
fn accept_connection(stream: tokio::net::TcpStream, kv: &Module<dyn Kv>, connections: &Arc<Connections>, shutting_down: &Arc<AtomicBool>) {
    let ticket = match connections.register(&stream) {
        Ok(Some(ticket)) => ticket,
        Ok(None) => {
            tokio::spawn(refuse_for_too_many_connections(stream));
            return;
        }
        Err(error) => {
            eprintln!("kv-server: cannot register a connection: {error}");
            return;
        }
    };
    let (kv, shutting_down) = (kv.clone(), Arc::clone(shutting_down));
    tokio::spawn(async move {
        // The client's own failures (a reset, a broken pipe) end only its connection.
        let _ = serve_connection(stream, &kv, &shutting_down).await;
        drop(ticket);
    });
}
