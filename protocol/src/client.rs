//! A client of a host's control socket, and where to find that socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Command, Reply, Request, Response};

/// The directory default control sockets live in: `$XDG_RUNTIME_DIR/ecdysis` when
/// `XDG_RUNTIME_DIR` names a directory, else `<temp dir>/ecdysis-<uid>`.
#[must_use]
pub fn default_directory() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(runtime) if runtime.is_dir() => runtime.join("ecdysis"),
        _ => std::env::temp_dir().join(format!("ecdysis-{}", effective_uid())),
    }
}

fn effective_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A client of a host's control socket.
pub struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

/// Why a control request got no reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Nothing listens at the path, or it cannot be reached.
    #[error("cannot connect to the control socket `{path}`")]
    Connect {
        /// The socket's path.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// Sending or receiving failed.
    #[error("the control connection failed")]
    Io(#[from] std::io::Error),
    /// The host closed the connection without replying.
    #[error("the host closed the control connection without replying")]
    Closed,
    /// The reply was not a protocol response.
    #[error("the host's reply is not a protocol response: {0}")]
    BadReply(String),
}

impl Client {
    /// Connects to the socket at `path`. Replies are awaited up to `timeout` (an update's pause is
    /// bounded by the host's deadlines, so a few minutes is generous).
    ///
    /// # Errors
    /// When nothing listens at `path` or it cannot be reached.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect { path: path.to_owned(), source })?;
        stream.set_read_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Client { stream, reader })
    }

    /// Sends `command` and waits for the reply.
    ///
    /// # Errors
    /// When the connection fails or the reply is not a protocol response. A refused request is not
    /// an error here: it is [`Reply::Error`].
    pub fn request(&mut self, command: Command) -> Result<Reply, ClientError> {
        let mut line = serde_json::to_vec(&Request::new(command)).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.send_raw(&line)
    }

    /// Sends raw bytes as a request (for tests of malformed input) and reads one reply.
    ///
    /// # Errors
    /// As [`Client::request`].
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<Reply, ClientError> {
        // The host may refuse before reading everything (another user, an oversized request) and
        // close its side; its reply is then still waiting to be read even though the write failed.
        let written = self.stream.write_all(bytes).and_then(|()| self.stream.flush());
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) => return Err(written.err().map_or(ClientError::Closed, ClientError::Io)),
            Ok(_) => {}
            Err(error) => return Err(ClientError::Io(written.err().unwrap_or(error))),
        }
        let response: Response =
            serde_json::from_str(&reply).map_err(|error| ClientError::BadReply(format!("{error}: {}", reply.trim())))?;
        Ok(response.reply)
    }
}

/// The socket to use when none is given: `$ECDYSIS_SOCKET`, else the only socket in
/// [`default_directory`].
///
/// # Errors
/// A message saying what was found instead.
pub fn find_default_socket() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("ECDYSIS_SOCKET") {
        return Ok(PathBuf::from(path));
    }
    let directory = default_directory();
    let entries = std::fs::read_dir(&directory)
        .map_err(|error| format!("no --socket given, and the default directory `{}` cannot be read: {error}", directory.display()))?;
    let mut sockets: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_socket()))
        .map(|entry| entry.path())
        .collect();
    sockets.sort();
    match sockets.len() {
        1 => Ok(sockets.remove(0)),
        0 => Err(format!("no --socket given, and no host is listening in `{}`", directory.display())),
        _ => Err(format!(
            "no --socket given, and several hosts are listening in `{}`: {}",
            directory.display(),
            sockets.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
        )),
    }
}
