//! Blocked clients: a connection whose blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
//! BZPOPMIN, BZPOPMAX) found nothing waits here, in the server, never in the module, and the
//! registry of those waits by key, which wakes them in the order they blocked.
//!
//! The kv plugin answers a blocking command as one attempt that does not block: the element, or a
//! null (what Redis replies inside MULTI/EXEC). When the reply is that null, the connection
//! registers on the keys the command waits on and waits, with no module call in flight (so a live
//! update is never held up by a blocked client), for a wakeup, its timeout, or its socket (a client
//! that disconnects must not pop an element nobody receives; what it sends meanwhile is kept for
//! later). Woken, it tries again through [`Module::call_async`], so after an update the new version
//! serves it. At the timeout it gets a null array, as Redis replies to every timed-out blocking
//! command.
//!
//! Wakeups go first come, first served, per key, as Redis serves the client that blocked first:
//! after any batch, the first waiter of each key the batch touched is woken; a woken waiter that
//! was not served passes the wakeup on to the waiter after it, and one that was served wakes the
//! first waiter left on the keys it changed. So every waiter of a key retries after each change of
//! it, in the order they blocked, and the first to have blocked gets the first element.
//!
//! Where this differs from Redis, which serves blocked clients right after the command that pushed
//! (before any other command runs): here a blocked client retries after the whole batch (pipeline)
//! that pushed, and a command of another client can come between the push and the retry. So a
//! pipeline that pushes and then pops the same key pops its own element, another client's pop can
//! take an element before the blocked client retries (which then goes on waiting), and a client
//! blocked on several keys that one pipeline fills gets the first of them (in the order it named
//! them) that has elements, where Redis serves the one pushed first.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ecdysis_host::Module;
use kv_common::blocking::{is_blocking_command, keys_waited_on, parse_timeout_milliseconds, timeout_argument};
use kv_common::lazy::{KeysTouched, keys_touched};
use kv_interface::{CommandBatch, Kv, decode_batch, resp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// How many bytes a blocked connection reserves for each read of what its client sends meanwhile.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The most input a blocked connection holds for later; a client that sends more is disconnected,
/// as Redis disconnects a client above its `client-query-buffer-limit` (1 GiB by default).
const MOST_INPUT_HELD_WHILE_BLOCKED_BYTES: usize = 1 << 30;

/// The replies of the module that mean a blocking command found nothing: the null array of BLPOP,
/// BRPOP, BLMPOP, BZPOPMIN and BZPOPMAX, and the null bulk string of BLMOVE and BRPOPLPUSH (what
/// Redis replies to them inside MULTI/EXEC).
const NOTHING_THERE_REPLIES: [&[u8]; 2] = [b"*-1\r\n", b"$-1\r\n"];

/// The reply to a client whose blocking command timed out: a null array, whatever the command, as
/// Redis 7.0 replies to every client blocked on a list or a sorted set (`replyToBlockedClientTimedOut`),
/// BLMOVE and BRPOPLPUSH included.
const TIMED_OUT_REPLY: &[u8] = b"*-1\r\n";

/// The one registry of the server: it has one keyspace, so one set of waits on its keys. Being
/// global keeps the hooks into the connections' code to two calls.
static BLOCKED_CLIENTS: LazyLock<BlockedClients> = LazyLock::new(BlockedClients::default);

/// The clients waiting, by key.
#[derive(Default)]
struct BlockedClients {
    /// How many clients are registered: when 0, a batch wakes nobody and costs one load.
    registered_count: AtomicUsize,
    waiters: Mutex<Waiters>,
}

/// The queues of waiters, each key's in the order they blocked.
#[derive(Default)]
struct Waiters {
    queues_by_key: HashMap<Vec<u8>, VecDeque<u64>>,
    wakeups_by_waiter: HashMap<u64, Arc<Wakeup>>,
    next_identifier: u64,
}

/// How a waiter is woken: a flag saying a wakeup is owed (so that one it does not use is passed
/// on), and the notification its task waits for.
#[derive(Default)]
struct Wakeup {
    owed: AtomicBool,
    notify: Notify,
}

impl Wakeup {
    fn wake(&self) {
        self.owed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

impl BlockedClients {
    fn lock(&self) -> MutexGuard<'_, Waiters> {
        // Every change under the lock leaves the queues consistent before anything could panic.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Waiters {
    /// Wakes the first waiter of `key`'s queue, if any.
    fn wake_first_of(&self, key: &[u8]) {
        if let Some(first) = self.queues_by_key.get(key).and_then(VecDeque::front) {
            self.wake(*first);
        }
    }

    /// Wakes the waiter after `identifier` in `key`'s queue, if any.
    fn wake_next_after(&self, identifier: u64, key: &[u8]) {
        let Some(queue) = self.queues_by_key.get(key) else { return };
        if let Some(next) = queue.iter().position(|waiter| *waiter == identifier).and_then(|position| queue.get(position + 1)) {
            self.wake(*next);
        }
    }

    fn wake(&self, identifier: u64) {
        if let Some(wakeup) = self.wakeups_by_waiter.get(&identifier) {
            wakeup.wake();
        }
    }
}

/// A connection's place in the queues of the keys it waits on; dropping it leaves them, passing on
/// a wakeup it was owed and did not use.
struct Registration {
    identifier: u64,
    keys: Vec<Vec<u8>>,
    wakeup: Arc<Wakeup>,
}

impl Registration {
    /// Joins the end of the queue of each of `keys`.
    fn new(keys: Vec<Vec<u8>>) -> Registration {
        let mut waiters = BLOCKED_CLIENTS.lock();
        let identifier = waiters.next_identifier;
        waiters.next_identifier += 1;
        let wakeup = Arc::new(Wakeup::default());
        waiters.wakeups_by_waiter.insert(identifier, Arc::clone(&wakeup));
        for key in &keys {
            waiters.queues_by_key.entry(key.clone()).or_default().push_back(identifier);
        }
        // Counted once it is in the queues, under the lock, so that a batch that sees the count
        // finds the waiter when it takes the lock.
        BLOCKED_CLIENTS.registered_count.fetch_add(1, Ordering::SeqCst);
        Registration { identifier, keys, wakeup }
    }

    /// Takes the wakeup this waiter is owed, if any: its retry uses it.
    fn take_wakeup(&self) -> bool {
        self.wakeup.owed.swap(false, Ordering::SeqCst)
    }

    /// Wakes the waiter after this one in each of its queues.
    fn pass_wakeup_on(&self) {
        let waiters = BLOCKED_CLIENTS.lock();
        for key in &self.keys {
            waiters.wake_next_after(self.identifier, key);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiters = BLOCKED_CLIENTS.lock();
        if self.take_wakeup() {
            for key in &self.keys {
                waiters.wake_next_after(self.identifier, key);
            }
        }
        for key in &self.keys {
            if let Some(queue) = waiters.queues_by_key.get_mut(key) {
                queue.retain(|waiter| *waiter != self.identifier);
                if queue.is_empty() {
                    waiters.queues_by_key.remove(key);
                }
            }
        }
        waiters.wakeups_by_waiter.remove(&self.identifier);
        BLOCKED_CLIENTS.registered_count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wakes the first waiter of every key the commands of `batch` touched (of every key, for a
/// command on the whole keyspace); the wakeups then go down each queue. Called after every batch
/// a connection executes; one atomic load when no client is blocked.
pub fn wake_clients_blocked_on_keys_of(batch: &CommandBatch) {
    if BLOCKED_CLIENTS.registered_count.load(Ordering::SeqCst) == 0 {
        return;
    }
    let mut touched_keys = Vec::new();
    let mut whole_keyspace = false;
    for command in decode_batch(batch.as_bytes()) {
        let Ok(arguments) = command else { break };
        match keys_touched(&arguments) {
            KeysTouched::Listed(keys) => touched_keys.extend(keys),
            KeysTouched::All => {
                whole_keyspace = true;
                break;
            }
        }
    }
    let waiters = BLOCKED_CLIENTS.lock();
    if whole_keyspace {
        for queue in waiters.queues_by_key.values() {
            if let Some(first) = queue.front() {
                waiters.wake(*first);
            }
        }
    } else {
        for key in touched_keys {
            waiters.wake_first_of(key);
        }
    }
}

/// Whether `arguments` (a command's name first) is a blocking command, to be run by
/// [`execute_blocking_command`].
pub fn is_blocking(arguments: &[Vec<u8>]) -> bool {
    arguments.first().is_some_and(|name| is_blocking_command(name))
}

/// What became of a blocking command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockingOutcome {
    /// Its reply (an element, an error, or the null array of a timeout) is in the replies.
    Replied,
    /// The client disconnected while it waited (or the server shut its socket down for reading, or
    /// it sent more than a blocked client may): the connection is over, and nothing was popped for
    /// it.
    Disconnected,
}

/// Runs the blocking command `arguments` alone through the module and appends its reply to
/// `replies`. When it finds nothing, first writes `replies` (the replies of the commands before it,
/// which Redis sends while the client waits) to the client, then waits until a change of its keys
/// serves it or its timeout passes, reading what the client sends meanwhile into
/// `unconsumed_input`.
///
/// # Errors
/// When reading from or writing to the client fails; the connection is then over.
pub async fn execute_blocking_command(
    kv: &Module<dyn Kv>,
    stream: &mut TcpStream,
    unconsumed_input: &mut Vec<u8>,
    arguments: &[Vec<u8>],
    replies: &mut Vec<u8>,
) -> std::io::Result<BlockingOutcome> {
    let argument_slices: Vec<&[u8]> = arguments.iter().map(Vec::as_slice).collect();
    let mut command = CommandBatch::new();
    command.push(arguments);
    // Registered before the first attempt: a push between that attempt and the wait then wakes it.
    let registration = Registration::new(keys_waited_on(&argument_slices).into_iter().map(<[u8]>::to_vec).collect());
    if let Attempt::Served(reply) = attempt(kv, &command).await {
        drop(registration);
        wake_clients_blocked_on_keys_of(&command);
        replies.extend_from_slice(&reply);
        return Ok(BlockingOutcome::Replied);
    }
    // The module accepted the timeout, so it reads. 0 is forever, and so is a time further than the
    // clock counts; a timeout that does not read (the module refuses such a command) passes at once.
    let deadline = match timeout_argument(arguments).map(parse_timeout_milliseconds) {
        Some(Ok(0)) => None,
        Some(Ok(milliseconds)) => tokio::time::Instant::now().checked_add(Duration::from_millis(milliseconds)),
        Some(Err(_)) | None => Some(tokio::time::Instant::now()),
    };
    if !replies.is_empty() {
        stream.write_all(replies).await?;
        replies.clear();
    }
    loop {
        let timed_out = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        if unconsumed_input.capacity() - unconsumed_input.len() < READ_CHUNK_BYTES / 4 {
            unconsumed_input.reserve(READ_CHUNK_BYTES);
        }
        tokio::select! {
            // The socket first: a client that has gone must not be served an element.
            biased;
            read = stream.read_buf(unconsumed_input) => {
                if read? == 0 || unconsumed_input.len() > MOST_INPUT_HELD_WHILE_BLOCKED_BYTES {
                    return Ok(BlockingOutcome::Disconnected);
                }
            }
            () = registration.wakeup.notify.notified() => {
                if !registration.take_wakeup() {
                    continue;
                }
                match attempt(kv, &command).await {
                    Attempt::Served(reply) => {
                        drop(registration);
                        wake_clients_blocked_on_keys_of(&command);
                        replies.extend_from_slice(&reply);
                        return Ok(BlockingOutcome::Replied);
                    }
                    Attempt::NothingThere => registration.pass_wakeup_on(),
                }
            }
            () = timed_out => {
                drop(registration);
                replies.extend_from_slice(TIMED_OUT_REPLY);
                return Ok(BlockingOutcome::Replied);
            }
        }
    }
}

/// What one attempt of a blocking command gave.
enum Attempt {
    /// A reply to send: an element, or an error (an internal error when the plugin panicked).
    Served(Vec<u8>),
    /// A null reply: there was nothing to pop.
    NothingThere,
}

/// Runs `command` (one blocking command) in the module.
async fn attempt(kv: &Module<dyn Kv>, command: &CommandBatch) -> Attempt {
    match kv.call_async(|kv| kv.execute(command.as_bytes())).await {
        Ok(reply) if NOTHING_THERE_REPLIES.contains(&reply.as_slice()) => Attempt::NothingThere,
        Ok(reply) => Attempt::Served(reply),
        Err(call_error) => {
            let mut reply = Vec::new();
            resp::error(&mut reply, &format!("ERR internal error: {call_error}"));
            Attempt::Served(reply)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `commands`, each written with single spaces between its arguments.
    fn batch_of(commands: &[&str]) -> CommandBatch {
        let mut batch = CommandBatch::new();
        for command in commands {
            batch.push(&command.split(' ').collect::<Vec<_>>());
        }
        batch
    }

    /// Which of `registrations` are owed a wakeup, taking those wakeups.
    fn woken(registrations: &[&Registration]) -> Vec<bool> {
        registrations.iter().map(|registration| registration.take_wakeup()).collect()
    }

    // The registry is the process's, and a command on the whole keyspace wakes every key's first
    // waiter: the one test that registers waiters runs its cases one after the other.

    #[test]
    fn wakeups_go_down_each_key_queue_in_the_order_clients_blocked() {
        a_wakeup_goes_down_a_key_queue_in_the_order_clients_blocked();
        a_command_on_the_whole_keyspace_wakes_the_first_waiter_of_every_key();
    }

    fn a_wakeup_goes_down_a_key_queue_in_the_order_clients_blocked() {
        let first = Registration::new(vec![b"fifo-queue".to_vec()]);
        let second = Registration::new(vec![b"fifo-queue".to_vec(), b"fifo-other".to_vec()]);
        let third = Registration::new(vec![b"fifo-queue".to_vec()]);
        wake_clients_blocked_on_keys_of(&batch_of(&["GET unrelated", "RPUSH fifo-queue x"]));
        assert_eq!(woken(&[&first, &second, &third]), [true, false, false]);
        first.pass_wakeup_on();
        assert_eq!(woken(&[&first, &second, &third]), [false, true, false]);
        // A waiter that leaves with a wakeup it did not use passes it on.
        second.wakeup.wake();
        drop(second);
        assert_eq!(woken(&[&first, &third]), [false, true]);
        // One that leaves without one wakes nobody.
        drop(first);
        assert_eq!(woken(&[&third]), [false]);
        // The first waiter left is the one a change wakes.
        wake_clients_blocked_on_keys_of(&batch_of(&["DEL fifo-queue"]));
        assert_eq!(woken(&[&third]), [true]);
    }

    fn a_command_on_the_whole_keyspace_wakes_the_first_waiter_of_every_key() {
        let on_one_key = Registration::new(vec![b"keyspace-one".to_vec()]);
        let behind = Registration::new(vec![b"keyspace-one".to_vec()]);
        let on_another_key = Registration::new(vec![b"keyspace-two".to_vec()]);
        wake_clients_blocked_on_keys_of(&batch_of(&["FLUSHALL"]));
        assert_eq!(woken(&[&on_one_key, &behind, &on_another_key]), [true, false, true]);
    }

    #[test]
    fn blocking_commands_are_recognised_in_any_case() {
        let arguments = |command: &str| command.split(' ').map(|argument| argument.as_bytes().to_vec()).collect::<Vec<_>>();
        assert!(is_blocking(&arguments("blpop a 0")));
        assert!(is_blocking(&arguments("BZPOPMAX z 1")));
        assert!(!is_blocking(&arguments("LPOP a")));
        assert!(!is_blocking(&[]));
    }
}
