//! One client connection: read RESP2 requests, hand each pipeline to the kv plugin as one batch, and
//! write the replies back; plus the registry of open connections that bounds their number and shuts
//! them down.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ecdysis_host::Module;
use kv_interface::{CommandBatch, Kv, resp};

use crate::request_parser::{Parsed, RequestParser};

/// The most connections served at once; more are refused with
/// `-ERR max number of clients reached`, as Redis refuses them above its `maxclients`.
pub const MAX_CONNECTIONS: usize = 1024;

/// How many bytes one read from a client asks for.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The most commands handed to the plugin in one batch. A longer pipeline is split, so that one
/// client cannot hold the module for long (an update waits for every call in flight to return).
const MAX_BATCH_COMMANDS: usize = 4096;

/// The most encoded bytes handed to the plugin in one batch, for the same reason; a single larger
/// command still goes as a batch of its own.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Replies are written to the client once this many bytes are waiting, even in the middle of a
/// pipeline, so that a long pipeline does not pile up its replies in memory.
const WRITE_THRESHOLD_BYTES: usize = 4 * 1024 * 1024;

/// The open connections: a handle to each one's socket, to shut it down, and their number.
#[derive(Default)]
pub struct Connections {
    open: Mutex<OpenConnections>,
    all_closed: Condvar,
}

#[derive(Default)]
struct OpenConnections {
    sockets: HashMap<u64, TcpStream>,
    next_identifier: u64,
}

/// A connection's place in [`Connections`]; dropping it (when the connection's thread ends) frees
/// the place.
pub struct ConnectionTicket {
    connections: Arc<Connections>,
    identifier: u64,
}

impl Drop for ConnectionTicket {
    fn drop(&mut self) {
        let mut open = self.connections.lock();
        open.sockets.remove(&self.identifier);
        if open.sockets.is_empty() {
            self.connections.all_closed.notify_all();
        }
    }
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, OpenConnections> {
        // The map stays consistent whatever panicked while holding the lock: every change is a
        // single insert or remove.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `stream`, or returns `None` when [`MAX_CONNECTIONS`] are already open.
    ///
    /// # Errors
    /// When the socket cannot be duplicated for the registry.
    pub fn register(self: &Arc<Self>, stream: &TcpStream) -> std::io::Result<Option<ConnectionTicket>> {
        let mut open = self.lock();
        if open.sockets.len() >= MAX_CONNECTIONS {
            return Ok(None);
        }
        let identifier = open.next_identifier;
        open.next_identifier += 1;
        open.sockets.insert(identifier, stream.try_clone()?);
        Ok(Some(ConnectionTicket { connections: Arc::clone(self), identifier }))
    }

    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.lock().sockets.len()
    }

    /// Shuts down `how` the socket of every open connection. Shutting down reading wakes a thread
    /// waiting for a request (its read returns end of input) and lets it finish the batch it is
    /// executing and write its replies; shutting down both ways also fails a write a client does
    /// not read.
    pub fn shut_down_all(&self, how: Shutdown) {
        for socket in self.lock().sockets.values() {
            // A socket the client already closed cannot be shut down again; that is fine.
            let _ = socket.shutdown(how);
        }
    }

    /// Waits until every connection has closed, at most `patience`. Returns whether they all did.
    pub fn wait_until_all_closed(&self, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let mut open = self.lock();
        while !open.sockets.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            open = match self.all_closed.wait_timeout(open, deadline - now) {
                Ok((open, _)) => open,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

/// Tells a client it was refused because [`MAX_CONNECTIONS`] are open, and closes its connection.
pub fn refuse_for_too_many_connections(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut reply = Vec::new();
    resp::error(&mut reply, "ERR max number of clients reached");
    let _ = stream.write_all(&reply);
}

/// Serves one client until it disconnects, sends `QUIT`, breaks the protocol, or the server shuts
/// down (`shutting_down`).
///
/// # Errors
/// When reading from or writing to the client fails; the connection is then over.
pub fn serve_connection(stream: &TcpStream, kv: &Module<dyn Kv>, shutting_down: &AtomicBool) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut parser = RequestParser::new();
    let mut unconsumed_input: Vec<u8> = Vec::new();
    let mut read_chunk = vec![0_u8; READ_CHUNK_BYTES];
    let mut batch = CommandBatch::new();
    let mut replies: Vec<u8> = Vec::new();
    loop {
        let bytes_read = match (&*stream).read(&mut read_chunk) {
            Ok(0) => return Ok(()),
            Ok(bytes_read) => bytes_read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // Requests that arrive once shutdown has begun are not served; the batch in flight was.
        if shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        unconsumed_input.extend_from_slice(&read_chunk[..bytes_read]);
        let mut consumed_bytes = 0;
        let mut close_after_replying = false;
        loop {
            match parser.parse(&unconsumed_input[consumed_bytes..]) {
                Ok((Parsed::Command(arguments), consumed)) => {
                    consumed_bytes += consumed;
                    if arguments.first().is_some_and(|name| name.eq_ignore_ascii_case(b"QUIT")) {
                        // QUIT is the server's: the commands before it run, then it answers and closes.
                        execute_batch(kv, &mut batch, &mut replies);
                        resp::ok(&mut replies);
                        close_after_replying = true;
                        break;
                    }
                    batch.push(&arguments);
                    if batch.len() >= MAX_BATCH_COMMANDS || batch.as_bytes().len() >= MAX_BATCH_BYTES {
                        execute_batch(kv, &mut batch, &mut replies);
                        if replies.len() >= WRITE_THRESHOLD_BYTES {
                            (&*stream).write_all(&replies)?;
                            replies.clear();
                        }
                    }
                }
                Ok((Parsed::Incomplete, consumed)) => {
                    consumed_bytes += consumed;
                    break;
                }
                Err(protocol_error) => {
                    // As Redis does: the complete commands before the error are served, then the
                    // error is reported and the connection closed.
                    execute_batch(kv, &mut batch, &mut replies);
                    resp::error(&mut replies, &format!("ERR Protocol error: {protocol_error}"));
                    close_after_replying = true;
                    break;
                }
            }
        }
        execute_batch(kv, &mut batch, &mut replies);
        unconsumed_input.drain(..consumed_bytes);
        if !replies.is_empty() {
            (&*stream).write_all(&replies)?;
            replies.clear();
        }
        if close_after_replying {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        // A large buffer left by one big request is given back once it is no longer needed.
        if unconsumed_input.is_empty() && unconsumed_input.capacity() > 4 * READ_CHUNK_BYTES {
            unconsumed_input = Vec::new();
        }
    }
}

/// Executes `batch` in the plugin with one call, appends its replies to `replies`, and empties it.
/// When the call fails (the plugin panicked), every command of the batch gets
/// `-ERR internal error: <why>`; the connection goes on.
fn execute_batch(kv: &Module<dyn Kv>, batch: &mut CommandBatch, replies: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    match kv.call(|kv| kv.execute(batch.as_bytes())) {
        Ok(batch_replies) => replies.extend_from_slice(&batch_replies),
        Err(call_error) => {
            let message = format!("ERR internal error: {call_error}");
            for _ in 0..batch.len() {
                resp::error(replies, &message);
            }
        }
    }
    batch.clear();
}
