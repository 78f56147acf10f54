//! The plugin's half of MULTI/EXEC/WATCH: the watched keys of a database and the commands
//! `kv-server` sends the plugin for a client's transaction.
//!
//! A client's transaction is the server's: it keeps the queued commands and the client's watch
//! tokens, and sends them to the plugin as one command, so that a transaction runs as one command
//! in one batch and an update falls before or after it, never inside. What the plugin has to
//! decide atomically with the commands stays here: whether a watched key changed, whether a command
//! could be queued, and running the queued commands. The commands (server to plugin; a client never
//! sends them, the server answers its own MULTI, EXEC, DISCARD, WATCH and UNWATCH):
//!
//! | command | reply |
//! |---|---|
//! | `MULTI` | `+OK`: this version runs transactions (an older one answers "unknown command") |
//! | `QUEUE name argument…` | `+QUEUED`, or the error Redis gives when it queues that command |
//! | `WATCH key…` | a bulk string `instance:sequence:flags`, the client's token (one flag per key, `1` when the key was live) |
//! | `EXEC batch [key token live]…` | the replies of the commands of `batch` as one array, `*-1` when a watched key changed, or `-EXECABORT` |
//! | `UNWATCH [key token live]…`, `DISCARD [key token live]…` | `+OK`, forgetting those watches |
//!
//! **What counts as a change of a watched key.** Every command Redis flags as a write counts for
//! the keys it writes ([`keys_written`]), even one that changed nothing (a SADD of a member already
//! there): Redis would let that EXEC run; kv aborts it, and the client retries, as WATCH clients
//! do. A key that was live at WATCH and has expired since also counts, as in Redis 7.
//!
//! **An update between WATCH and EXEC** makes EXEC fail as if a watched key had changed. The watched
//! keys are the bookkeeping of one plugin instance, not state: the new version's instance has
//! another identity, so the tokens of the previous one are not its own. No write is ever applied on
//! a stale read; an update costs a client that watches one retry. Moving entries out of an instance
//! or back in (a lazy update, its rollback) makes it forget its watches too, for the same reason.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use kv_interface::{decode_batch, resp};

use crate::command::{LowercaseName, spec};
use crate::database::Database;
use crate::lazy::{KeysTouched, keys_touched};

/// The keys that clients watch, with the sequence number of the last write to each.
#[derive(Debug)]
pub struct Watches {
    /// This instance's identity in tokens: random, so that no other instance (another version, or
    /// this one after its entries moved) takes a token for its own.
    instance: u64,
    /// Counts the writes to watched keys.
    sequence: u64,
    keys: HashMap<Vec<u8>, WatchedKey>,
}

/// A watched key: when it was last written, and how many watches hold it.
#[derive(Debug)]
struct WatchedKey {
    written_at: u64,
    watchers: u32,
}

impl Default for Watches {
    fn default() -> Watches {
        Watches { instance: fresh_identity(), sequence: 0, keys: HashMap::new() }
    }
}

/// A random instance identity.
fn fresh_identity() -> u64 {
    RandomState::new().hash_one(std::time::SystemTime::now())
}

impl Watches {
    /// Notes that `arguments` (a command that ran) wrote its keys. Costs one check when nobody
    /// watches.
    pub fn note_command(&mut self, arguments: &[&[u8]]) {
        if self.keys.is_empty() {
            return;
        }
        let Some(name) = arguments.first() else { return };
        if !spec(LowercaseName::new(name).as_bytes()).is_some_and(|spec| spec.writes) {
            return;
        }
        self.sequence += 1;
        match keys_written(arguments) {
            KeysTouched::All => self.keys.values_mut().for_each(|watched| watched.written_at = self.sequence),
            KeysTouched::Listed(keys) => {
                for key in keys {
                    if let Some(watched) = self.keys.get_mut(key) {
                        watched.written_at = self.sequence;
                    }
                }
            }
        }
    }

    /// Forgets every watch, so that no token taken before is honoured: for when entries leave the
    /// instance or come back to it, changed by another one. A key watched again afterwards starts
    /// at the sequence number after every earlier token's.
    pub fn forget_all(&mut self) {
        self.keys.clear();
        self.sequence += 1;
    }

    /// How many keys are watched.
    #[must_use]
    pub fn watched_key_count(&self) -> usize {
        self.keys.len()
    }

    /// Releases one watch of `key`, when `token` is this instance's.
    fn release(&mut self, key: &[u8], token: &[u8]) {
        if parse_token(token).is_none_or(|(instance, _)| instance != self.instance) {
            return;
        }
        if let Some(watched) = self.keys.get_mut(key) {
            watched.watchers -= 1;
            if watched.watchers == 0 {
                self.keys.remove(key);
            }
        }
    }

    /// Whether `key`, watched with `token`, has not been written since.
    fn unchanged_since(&self, key: &[u8], token: &[u8]) -> bool {
        let Some((instance, sequence)) = parse_token(token) else { return false };
        instance == self.instance && self.keys.get(key).is_some_and(|watched| watched.written_at <= sequence)
    }
}

/// Reads `instance:sequence`.
fn parse_token(token: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(token).ok()?;
    let (instance, sequence) = text.split_once(':')?;
    Some((instance.parse().ok()?, sequence.parse().ok()?))
}

/// The keys a write command writes: those it touches, except the keys that the STORE commands and
/// COPY only read.
#[must_use]
pub fn keys_written<'a>(arguments: &[&'a [u8]]) -> KeysTouched<'a> {
    let Some(name) = arguments.first() else {
        return KeysTouched::Listed(Vec::new());
    };
    match LowercaseName::new(name).as_bytes() {
        b"sinterstore" | b"sunionstore" | b"sdiffstore" | b"zunionstore" | b"zinterstore" | b"zdiffstore" | b"zrangestore" => {
            KeysTouched::Listed(arguments.get(1).copied().into_iter().collect())
        }
        b"copy" => KeysTouched::Listed(arguments.get(2).copied().into_iter().collect()),
        _ => keys_touched(arguments),
    }
}

/// The keys EXEC touches (for a lazy update, which moves them in first): its watched keys and
/// those of its queued commands. `rest` is its arguments after the name.
#[must_use]
pub fn exec_keys_touched<'a>(rest: &[&'a [u8]]) -> KeysTouched<'a> {
    let mut keys: Vec<&[u8]> = rest.get(1..).unwrap_or_default().chunks(3).map(|watch| watch[0]).collect();
    for command in decode_batch(rest.first().copied().unwrap_or_default()) {
        let Ok(command) = command else { break };
        match keys_touched(&command) {
            KeysTouched::All => return KeysTouched::All,
            KeysTouched::Listed(listed) => keys.extend(listed),
        }
    }
    KeysTouched::Listed(keys)
}

/// Runs one of the plugin's transaction commands (MULTI, QUEUE, WATCH, UNWATCH, DISCARD, EXEC).
/// `run_queued` runs a queued command the way the version runs every command (its expiry
/// bookkeeping, [`Watches::note_command`], dispatch), and appends its reply. Any other command is
/// unknown here.
pub fn run_transaction_command<V>(
    database: &mut Database<V>,
    arguments: &[&[u8]],
    out: &mut Vec<u8>,
    mut run_queued: impl FnMut(&mut Database<V>, &[&[u8]], &mut Vec<u8>),
) {
    match LowercaseName::new(arguments[0]).as_bytes() {
        b"multi" => resp::ok(out),
        b"queue" => match queue_error(&arguments[1..]) {
            None => resp::simple(out, "QUEUED"),
            Some(error) => out.extend_from_slice(&error),
        },
        b"watch" => watch(database, &arguments[1..], out),
        b"unwatch" | b"discard" => {
            release_all(database, &arguments[1..]);
            resp::ok(out);
        }
        b"exec" => exec(database, arguments, out, &mut run_queued),
        _ => resp::unknown_command(out, arguments),
    }
}

/// The error Redis replies when it is asked to queue `command` (its name, then its arguments), or
/// `None` when it queues it: unknown command or wrong number of arguments.
fn queue_error(command: &[&[u8]]) -> Option<Vec<u8>> {
    let mut error = Vec::new();
    let Some(name) = command.first() else {
        resp::error(&mut error, "ERR empty command");
        return Some(error);
    };
    let Some(spec) = spec(LowercaseName::new(name).as_bytes()) else {
        resp::unknown_command(&mut error, command);
        return Some(error);
    };
    let count = i64::try_from(command.len()).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    if (arity > 0 && count != arity) || count < -arity {
        resp::wrong_arity(&mut error, name);
        return Some(error);
    }
    None
}

/// WATCH: watches `keys`, and replies the token `instance:sequence:flags`.
fn watch<V>(database: &mut Database<V>, keys: &[&[u8]], out: &mut Vec<u8>) {
    let mut token = format!("{}:{}:", database.watches.instance, database.watches.sequence).into_bytes();
    for key in keys {
        let live = database.live(key).is_some();
        token.push(if live { b'1' } else { b'0' });
        let sequence = database.watches.sequence;
        let watched = database.watches.keys.entry(key.to_vec()).or_insert(WatchedKey { written_at: sequence, watchers: 0 });
        watched.watchers += 1;
    }
    resp::bulk(out, &token);
}

/// Releases the watches `triples` lists (key, token, liveness flag).
fn release_all<V>(database: &mut Database<V>, triples: &[&[u8]]) {
    for watch in triples.chunks_exact(3) {
        database.watches.release(watch[0], watch[1]);
    }
}

/// EXEC: runs the queued commands of `arguments[1]` unless one of them cannot be queued
/// (`-EXECABORT`) or a watched key changed (`*-1`), and releases the watches either way.
fn exec<V>(
    database: &mut Database<V>,
    arguments: &[&[u8]],
    out: &mut Vec<u8>,
    run_queued: &mut impl FnMut(&mut Database<V>, &[&[u8]], &mut Vec<u8>),
) {
    let (Some(batch), Some(triples)) = (arguments.get(1), arguments.get(2..)) else {
        return resp::wrong_arity(out, b"exec");
    };
    let mut commands = Vec::new();
    for command in decode_batch(batch) {
        match command {
            Ok(command) => commands.push(command),
            Err(_) => return resp::error(out, "ERR malformed command batch"),
        }
    }
    let valid = commands.iter().all(|command| queue_error(command).is_none());
    let unchanged = triples.chunks_exact(3).all(|watch| {
        let [key, token, live] = [watch[0], watch[1], watch[2]];
        // A key live at WATCH that has expired since counts as changed (Redis 7); its removal by
        // expiry is no write.
        let expired_since = live == b"1" && database.live(key).is_none();
        !expired_since && database.watches.unchanged_since(key, token)
    });
    release_all(database, triples);
    if !valid {
        return resp::error(out, "EXECABORT Transaction discarded because of previous errors.");
    }
    if !unchanged {
        return resp::null_array(out);
    }
    resp::array_header(out, commands.len());
    for command in &commands {
        // UNWATCH in a transaction has nothing left to do: EXEC released the watches.
        if command[0].eq_ignore_ascii_case(b"unwatch") {
            resp::ok(out);
        } else {
            run_queued(database, command, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_its_instances_own_and_a_write_after_it_changes_its_key() {
        let mut watches = Watches::default();
        watches.keys.insert(b"k".to_vec(), WatchedKey { written_at: 0, watchers: 1 });
        let token = format!("{}:{}", watches.instance, watches.sequence);
        assert!(watches.unchanged_since(b"k", token.as_bytes()));
        watches.note_command(&[b"GET", b"k"]);
        assert!(watches.unchanged_since(b"k", token.as_bytes()), "a read is no write");
        watches.note_command(&[b"SINTERSTORE", b"d", b"k"]);
        assert!(watches.unchanged_since(b"k", token.as_bytes()), "a STORE command only reads its sources");
        watches.note_command(&[b"set", b"k", b"v"]);
        assert!(!watches.unchanged_since(b"k", token.as_bytes()));
        let other = Watches::default();
        assert_ne!(other.instance, watches.instance);
        assert!(!watches.unchanged_since(b"k", format!("{}:{}", other.instance, u64::MAX).as_bytes()));
        assert!(!watches.unchanged_since(b"k", b"garbage"));
    }

    #[test]
    fn queueing_checks_the_command_and_its_arity_as_redis_does() {
        let check = |command: &[&[u8]], expected: Option<&str>| {
            let error = queue_error(command).map(|bytes| String::from_utf8(bytes).unwrap());
            assert_eq!(error.as_deref(), expected, "{command:?}");
        };
        check(&[b"set", b"k", b"v"], None);
        check(&[b"SET", b"k", b"v", b"EX", b"1"], None);
        check(&[b"get"], Some("-ERR wrong number of arguments for 'get' command\r\n"));
        check(&[b"get", b"a", b"b"], Some("-ERR wrong number of arguments for 'get' command\r\n"));
        check(&[b"ping"], None);
        check(&[b"nosuch", b"x"], Some("-ERR unknown command 'nosuch', with args beginning with: 'x' \r\n"));
    }
}
