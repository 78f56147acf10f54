//! The control socket: a Unix domain socket through which the `ecdysis` tool (or any client of
//! [`crate::protocol`]) reloads, rolls back, commits, snapshots and inspects modules of a running
//! host. The
//! client side ([`Client`], the default socket location) lives in `ecdysis-protocol` and is
//! re-exported here.
//!
//! Only the user who owns the host process may use it: the socket file is mode 0600 inside a
//! directory that user owns and nobody else can write to, and every connection's peer credentials
//! (`SO_PEERCRED`) are checked. Requests are size-bounded, connections time out and are limited in
//! number; a bad request gets an error reply and never disturbs the host.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub use ecdysis_protocol::{Client, ClientError, default_directory, find_default_socket};
use ecdysis_protocol::{Command, ErrorChain, ErrorKind, MAX_REQUEST_BYTES, Reply, Request, Response, parse_request};

use crate::error::BuildError;
use crate::host::{Host, WeakHost};
use crate::updating::transaction::UpdateOptions;

/// How many connections are served at once; more get a `busy` error.
const MAX_CONNECTIONS: usize = 16;
/// How long a connection may stay silent, or take to accept a reply.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a host's control socket listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControlSocket {
    /// `<runtime dir>/<program>-<pid>.sock`, where the runtime directory is
    /// `$XDG_RUNTIME_DIR/ecdysis` or else `<temp dir>/ecdysis-<uid>`; see [`default_directory`].
    Default,
    /// A path of your choice. Its directory must belong to you and be writable by nobody else.
    At(PathBuf),
}

impl ControlSocket {
    /// The path this socket will listen at.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        match self {
            ControlSocket::At(path) => path.clone(),
            ControlSocket::Default => {
                let program = std::env::current_exe()
                    .ok()
                    .and_then(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "host".to_owned());
                default_directory().join(format!("{program}-{}.sock", std::process::id()))
            }
        }
    }
}

fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The user id of the process at the other end of `stream` (`SO_PEERCRED`).
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(stream)?.uid.as_raw())
}

/// A running control socket. Stops accepting and removes its file when dropped.
pub(crate) struct ControlServer {
    path: PathBuf,
    shutdown: Arc<AtomicBool>,
}

impl ControlServer {
    /// Checks the directory, binds the socket (mode 0600) and starts accepting connections.
    pub(crate) fn start(socket: &ControlSocket, host: WeakHost) -> Result<ControlServer, BuildError> {
        let path = socket.path();
        let refuse = |reason: String| BuildError::ControlSocket { path: path.clone(), reason };
        let directory = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
        if !directory.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&directory)
                .map_err(|error| refuse(format!("cannot create directory `{}`: {error}", directory.display())))?;
        }
        let metadata =
            std::fs::metadata(&directory).map_err(|error| refuse(format!("cannot inspect `{}`: {error}", directory.display())))?;
        if metadata.uid() != effective_uid() {
            return Err(refuse(format!(
                "directory `{}` belongs to uid {}, not to this process's user (uid {})",
                directory.display(),
                metadata.uid(),
                effective_uid()
            )));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(refuse(format!(
                "directory `{}` is writable by other users (mode {:o}); use a directory only you control",
                directory.display(),
                metadata.mode() & 0o777
            )));
        }
        if let Ok(existing) = std::fs::symlink_metadata(&path) {
            if !existing.file_type().is_socket() {
                return Err(refuse("a file that is not a socket is in the way".to_owned()));
            }
            if UnixStream::connect(&path).is_ok() {
                return Err(refuse("another process is already listening there".to_owned()));
            }
            // A socket nobody listens on is left over from a host that died: replace it.
            std::fs::remove_file(&path).map_err(|error| refuse(format!("cannot remove a stale socket: {error}")))?;
        }
        let listener = UnixListener::bind(&path).map_err(|error| refuse(format!("cannot bind: {error}")))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|error| refuse(format!("cannot restrict the socket to its owner: {error}")))?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let accepting = Arc::clone(&shutdown);
        std::thread::Builder::new()
            .name("ecdysis-control".into())
            .spawn(move || accept(&listener, &host, &accepting))
            .map_err(|error| refuse(format!("cannot start its thread: {error}")))?;
        tracing::info!(path = %path.display(), "control socket listening");
        Ok(ControlServer { path, shutdown })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag; it exits without touching the host.
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept(listener: &UnixListener, host: &WeakHost, shutdown: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.set_write_timeout(Some(CONNECTION_TIMEOUT));
            let busy = Response::error(ErrorKind::Busy, format!("too many control connections (at most {MAX_CONNECTIONS})"));
            // Not on this thread: draining a slow client must not stop the accept loop.
            let _ = std::thread::Builder::new().name("ecdysis-control-busy".into()).spawn(move || refuse_and_close(stream, &busy));
            continue;
        }
        let (host, counted) = (host.clone(), CountedConnection(Arc::clone(&active)));
        let spawned = std::thread::Builder::new().name("ecdysis-control-connection".into()).spawn(move || {
            let _counted = counted;
            serve_connection(stream, &host);
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start a thread for a control connection");
        }
    }
}

/// A connection counted among the active ones; uncounted when dropped, also when serving it
/// panicked or its thread could not start.
struct CountedConnection(Arc<AtomicUsize>);

impl Drop for CountedConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sends a last reply and closes the connection without losing it: closing a socket that still has
/// unread input from the peer makes the kernel reset the connection, which can destroy the reply
/// before the client reads it. So the write side is shut down first and the client's remaining
/// input is drained (bounded in size and time) before the socket is dropped.
fn refuse_and_close(mut stream: UnixStream, response: &Response) {
    let _ = send(&mut stream, response);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut drained = 0usize;
    let mut buffer = [0u8; 8192];
    while drained < 16 * MAX_REQUEST_BYTES {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => drained += read,
        }
    }
}

fn send(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    stream.flush()
}

fn serve_connection(stream: UnixStream, host: &WeakHost) {
    let _ = stream.set_read_timeout(Some(CONNECTION_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CONNECTION_TIMEOUT));
    let owner = effective_uid();
    match peer_uid(&stream) {
        Ok(uid) if uid == owner => {}
        Ok(uid) => {
            tracing::warn!(peer_uid = uid, "control connection refused: not the host's owner");
            let message = format!(
                "permission denied: only the user that owns the host (uid {owner}) may use its control socket; this connection comes from uid {uid}"
            );
            refuse_and_close(stream, &Response::error(ErrorKind::NotPermitted, message));
            return;
        }
        Err(error) => {
            tracing::warn!(%error, "control connection refused: peer credentials unavailable");
            let message = format!("permission denied: cannot read peer credentials: {error}");
            refuse_and_close(stream, &Response::error(ErrorKind::NotPermitted, message));
            return;
        }
    }
    let mut stream = stream;
    let Ok(reading) = stream.try_clone() else { return };
    let mut reader = BufReader::new(reading);
    loop {
        let mut line = Vec::new();
        match reader.by_ref().take(MAX_REQUEST_BYTES as u64 + 1).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_REQUEST_BYTES {
            let message = format!("request is larger than {MAX_REQUEST_BYTES} bytes; closing the connection");
            drop(reader);
            refuse_and_close(stream, &Response::error(ErrorKind::TooLarge, message));
            return;
        }
        while line.last().is_some_and(|byte| byte.is_ascii_whitespace()) {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        let response = match parse_request(&line) {
            Err(response) => response,
            Ok(request) => match host.upgrade() {
                None => Response::error(ErrorKind::ShuttingDown, "the host is shutting down"),
                Some(host) => execute(&host, request),
            },
        };
        if send(&mut stream, &response).is_err() {
            return;
        }
    }
}

fn execute(host: &Host, request: Request) -> Response {
    let span = tracing::info_span!("ecdysis.control", command = ?request.command);
    let _entered = span.enter();
    let result = match request.command {
        Command::Reload { module, library, allow_downgrade, force, lazy } => {
            let options = UpdateOptions::new().allow_downgrade(allow_downgrade).force(force).lazy(lazy);
            match module {
                Some(module) => host.update_with(&module, &library, &options),
                None => host.update_from_library(&library, &options),
            }
            .map(|report| Reply::Report { report })
        }
        Command::Rollback { module, force } => {
            host.rollback_with(&module, &UpdateOptions::new().force(force)).map(|report| Reply::Report { report })
        }
        Command::Commit { module } => host.commit(&module).map(|released| Reply::Committed { module, released }),
        Command::Status => Ok(Reply::Status { modules: host.status() }),
        Command::History => Ok(Reply::History { entries: host.history() }),
        Command::Snapshot { module } => {
            let written = match module {
                Some(module) => host.snapshot(&module).map(|report| vec![report]),
                None => host.snapshot_all(),
            };
            return Response::new(match written {
                Ok(snapshots) => Reply::Snapshots { snapshots },
                Err(error) => Reply::Error { kind: ErrorKind::from(&error), message: ErrorChain(&error).to_string() },
            });
        }
    };
    Response::new(result.unwrap_or_else(|error| Reply::Error { kind: ErrorKind::from(&error), message: ErrorChain(&error).to_string() }))
}
