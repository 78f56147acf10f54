//! One client connection, a task on the server's tokio runtime: read RESP2 requests, hand each
//! pipeline to the kv plugin as one batch, and write the replies back; plus the registry of open
//! connections that bounds their number and shuts them down.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ecdysis_host::Module;
use kv_interface::{CommandBatch, Kv, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::blocking::{self, BlockingOutcome};
use crate::request_parser::{Parsed, RequestParser};
use crate::transaction::ClientTransaction;

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

/// The open connections: a duplicate of each one's socket, to shut it down from outside its task,
/// and their number.
#[derive(Default)]
pub struct Connections {
    open: Mutex<OpenConnections>,
    all_closed: Notify,
}

#[derive(Default)]
struct OpenConnections {
    sockets: HashMap<u64, TcpStream>,
    next_identifier: u64,
}

/// A connection's place in [`Connections`]; dropping it (when the connection's task ends) frees
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
            self.connections.all_closed.notify_waiters();
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
    pub fn register(self: &Arc<Self>, stream: &tokio::net::TcpStream) -> std::io::Result<Option<ConnectionTicket>> {
        let mut open = self.lock();
        if open.sockets.len() >= MAX_CONNECTIONS {
            return Ok(None);
        }
        // A duplicate of the descriptor: shutting it down ends the connection's reads and writes,
        // and it stays valid however the task closes its own.
        let duplicate = TcpStream::from(stream.as_fd().try_clone_to_owned()?);
        let identifier = open.next_identifier;
        open.next_identifier += 1;
        open.sockets.insert(identifier, duplicate);
        Ok(Some(ConnectionTicket { connections: Arc::clone(self), identifier }))
    }

    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.lock().sockets.len()
    }

    /// Shuts down `how` the socket of every open connection. Shutting down reading wakes a task
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
    pub async fn wait_until_all_closed(&self, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // Made before looking, so that a connection closing in between still wakes this wait.
            let closed = self.all_closed.notified();
            if self.lock().sockets.is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, closed).await.is_err() {
                return self.lock().sockets.is_empty();
            }
        }
    }
}

/// Tells a client it was refused because [`MAX_CONNECTIONS`] are open, and closes its connection.
/// Gives up after a second on a client that does not read.
pub async fn refuse_for_too_many_connections(mut stream: tokio::net::TcpStream) {
    let mut reply = Vec::new();
    resp::error(&mut reply, "ERR max number of clients reached");
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&reply)).await;
}

/// Serves one client until it disconnects, sends `QUIT`, breaks the protocol, or the server shuts
/// down (`shutting_down`). Every pipeline that arrives is handed to the plugin with
/// [`Module::call_async`], so a connection waiting for an update to finish holds no thread.
///
/// # Errors
/// When reading from or writing to the client fails; the connection is then over.
pub async fn serve_connection(stream: tokio::net::TcpStream, kv: &Module<dyn Kv>, shutting_down: &AtomicBool) -> std::io::Result<()> {
    let mut transaction = ClientTransaction::default();
    let served = serve_requests(stream, kv, shutting_down, &mut transaction).await;
    // However the connection ended, the plugin gets its watches back.
    transaction.release(kv).await;
    served
}

/// [`serve_connection`]'s loop: reads requests and answers them until the connection is over.
async fn serve_requests(
    mut stream: tokio::net::TcpStream,
    kv: &Module<dyn Kv>,
    shutting_down: &AtomicBool,
    transaction: &mut ClientTransaction,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut parser = RequestParser::new();
    let mut unconsumed_input: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut batch = CommandBatch::new();
    let mut replies: Vec<u8> = Vec::new();
    loop {
        if unconsumed_input.capacity() - unconsumed_input.len() < READ_CHUNK_BYTES / 4 {
            unconsumed_input.reserve(READ_CHUNK_BYTES);
        }
        if stream.read_buf(&mut unconsumed_input).await? == 0 {
            return Ok(());
        }
        // Requests that arrive once shutdown has begun are not served; the batch in flight was.
        if shutting_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        let mut consumed_bytes = 0;
        let mut close_after_replying = false;
        loop {
            match parser.parse(&unconsumed_input[consumed_bytes..]) {
                Ok((Parsed::Command(arguments), consumed)) => {
                    consumed_bytes += consumed;
                    if arguments.first().is_some_and(|name| name.eq_ignore_ascii_case(b"QUIT")) {
                        // QUIT is the server's: the commands before it run, then it answers and closes.
                        execute_batch(kv, &mut batch, &mut replies).await;
                        resp::ok(&mut replies);
                        close_after_replying = true;
                        break;
                    }
                    // Inside MULTI every command is queued, blocking ones too (EXEC runs them without
                    // blocking, as Redis does), so the transaction comes first.
                    let handled_by_transaction = transaction.concerns(&arguments[0]);
                    if handled_by_transaction {
                        transaction.handle(&arguments, kv, &mut batch, &mut replies).await;
                    } else if blocking::is_blocking(&arguments) {
                        // As in Redis: the commands before a blocking command run first, it runs
                        // alone (waiting, outside the module, when it finds nothing), and the
                        // commands after it only once it is served or times out.
                        execute_batch(kv, &mut batch, &mut replies).await;
                        let outcome =
                            blocking::execute_blocking_command(kv, &mut stream, &mut unconsumed_input, &arguments, &mut replies).await?;
                        if outcome == BlockingOutcome::Disconnected {
                            return Ok(());
                        }
                        continue;
                    }
                    if !handled_by_transaction {
                        batch.push(&arguments);
                    }
                    if batch.len() >= MAX_BATCH_COMMANDS || batch.as_bytes().len() >= MAX_BATCH_BYTES {
                        execute_batch(kv, &mut batch, &mut replies).await;
                        if replies.len() >= WRITE_THRESHOLD_BYTES {
                            stream.write_all(&replies).await?;
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
                    execute_batch(kv, &mut batch, &mut replies).await;
                    resp::error(&mut replies, &format!("ERR Protocol error: {protocol_error}"));
                    close_after_replying = true;
                    break;
                }
            }
        }
        execute_batch(kv, &mut batch, &mut replies).await;
        unconsumed_input.drain(..consumed_bytes);
        if !replies.is_empty() {
            stream.write_all(&replies).await?;
            replies.clear();
        }
        if close_after_replying {
            let _ = stream.shutdown().await;
            return Ok(());
        }
        // A large buffer left by one big request is given back once it is no longer needed.
        if unconsumed_input.is_empty() && unconsumed_input.capacity() > 4 * READ_CHUNK_BYTES {
            unconsumed_input = Vec::with_capacity(READ_CHUNK_BYTES);
        }
    }
}

/// Executes `batch` in the plugin with one call, appends its replies to `replies`, and empties it.
/// When the call fails (the plugin panicked), every command of the batch gets
/// `-ERR internal error: <why>`; the connection goes on.
pub(crate) async fn execute_batch(kv: &Module<dyn Kv>, batch: &mut CommandBatch, replies: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    match kv.call_async(|kv| kv.execute(batch.as_bytes())).await {
        Ok(batch_replies) => replies.extend_from_slice(&batch_replies),
        Err(call_error) => {
            let message = format!("ERR internal error: {call_error}");
            for _ in 0..batch.len() {
                resp::error(replies, &message);
            }
        }
    }
    blocking::wake_clients_blocked_on_keys_of(batch);
    batch.clear();
}
