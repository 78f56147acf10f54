//! A client's transaction, kept by the server: MULTI's queue of commands and WATCH's tokens.
//!
//! The server answers MULTI, EXEC, DISCARD, WATCH and UNWATCH itself and keeps what a transaction
//! needs between commands, so that the plugin keeps nothing per client. A queued command is checked
//! by the plugin (`QUEUE`, which answers `+QUEUED` or Redis's error) and kept here; EXEC sends the
//! whole queue to the plugin as one command together with the client's watch tokens, so that the
//! transaction runs as one command in one batch: an update falls before or after it, never inside.
//! The plugin's side, and what an update between WATCH and EXEC does, is `kv_common::transaction`.

use ecdysis_host::Module;
use kv_interface::{CommandBatch, Kv, resp};

use crate::connection::execute_batch;

/// One client's transaction: the queue while between MULTI and EXEC or DISCARD, and the keys it
/// watches.
#[derive(Default)]
pub struct ClientTransaction {
    /// The queued commands, while the client is between MULTI and EXEC or DISCARD.
    queued: Option<CommandBatch>,
    /// Whether a command was refused by the server while queueing (a wrong number of arguments of
    /// MULTI, EXEC, DISCARD or WATCH), so that EXEC must discard the transaction.
    refused_while_queueing: bool,
    /// The watched keys, each with the token the plugin handed out for it and whether it was live.
    watches: Vec<Watch>,
}

/// A watched key, as the plugin's WATCH handed it out.
struct Watch {
    key: Vec<u8>,
    token: Vec<u8>,
    live: &'static [u8],
}

impl ClientTransaction {
    /// Whether the command named `name` is a transaction's business, for [`ClientTransaction::handle`]:
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH (and QUEUE, the plugin's own), or any command while
    /// queueing. Most commands are not, at the cost of one comparison of the name's length; this
    /// is not `async`, so that they pay for no future either.
    pub fn concerns(&self, name: &[u8]) -> bool {
        self.queued.is_some()
            || (matches!(name.len(), 4..=7)
                && [&b"multi"[..], b"exec", b"discard", b"watch", b"unwatch", b"queue"]
                    .iter()
                    .any(|known| name.eq_ignore_ascii_case(known)))
    }

    /// Handles `arguments`, a command that [`ClientTransaction::concerns`] the transaction. Its
    /// reply is written after those of `batch`, either by the plugin (the command pushed onto
    /// `batch`, in order) or, after running `batch`, by the server.
    pub async fn handle(&mut self, arguments: &[Vec<u8>], kv: &Module<dyn Kv>, batch: &mut CommandBatch, replies: &mut Vec<u8>) {
        let name = arguments[0].to_ascii_lowercase();
        let exact_arity = |arity: usize| arguments.len() == arity;
        match name.as_slice() {
            b"multi" if !exact_arity(1) => self.refuse(kv, batch, replies, Refusal::WrongArity(b"multi")).await,
            b"multi" if self.queued.is_some() => self.refuse(kv, batch, replies, Refusal::Plain("ERR MULTI calls can not be nested")).await,
            b"multi" => {
                // The plugin says whether this version runs transactions; an older one answers
                // "unknown command", which the client gets.
                execute_batch(kv, batch, replies).await;
                let reply = call_alone(kv, &[b"MULTI"]).await;
                if reply == b"+OK\r\n" {
                    self.queued = Some(CommandBatch::new());
                    self.refused_while_queueing = false;
                }
                replies.extend_from_slice(&reply);
            }
            // Redis discards the transaction whose EXEC it refuses, and forgets the watches, in a
            // transaction or not.
            b"exec" if !exact_arity(1) => {
                self.queued = None;
                self.refused_while_queueing = false;
                execute_batch(kv, batch, replies).await;
                self.release(kv).await;
                resp::error(replies, "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command");
            }
            b"discard" if !exact_arity(1) => self.refuse(kv, batch, replies, Refusal::WrongArity(b"discard")).await,
            b"exec" | b"discard" => match self.queued.take() {
                None if name == b"exec" => self.refuse(kv, batch, replies, Refusal::Plain("ERR EXEC without MULTI")).await,
                None => self.refuse(kv, batch, replies, Refusal::Plain("ERR DISCARD without MULTI")).await,
                Some(_) if std::mem::take(&mut self.refused_while_queueing) && name == b"exec" => {
                    execute_batch(kv, batch, replies).await;
                    self.release(kv).await;
                    resp::error(replies, "EXECABORT Transaction discarded because of previous errors.");
                }
                Some(queued) => {
                    let mut command: Vec<&[u8]> = if name == b"exec" { vec![b"EXEC", queued.as_bytes()] } else { vec![b"DISCARD"] };
                    command.extend(self.watch_arguments());
                    batch.push(&command);
                    self.watches.clear();
                }
            },
            b"watch" if arguments.len() < 2 => self.refuse(kv, batch, replies, Refusal::WrongArity(b"watch")).await,
            // Not a refusal that discards the transaction: Redis goes on queueing.
            b"watch" if self.queued.is_some() => {
                execute_batch(kv, batch, replies).await;
                resp::error(replies, "ERR WATCH inside MULTI is not allowed");
            }
            b"watch" => {
                execute_batch(kv, batch, replies).await;
                let mut command: Vec<&[u8]> = vec![b"WATCH"];
                command.extend(arguments[1..].iter().map(Vec::as_slice));
                let reply = call_alone(kv, &command).await;
                match parse_watch_reply(&reply) {
                    Some((token, flags)) if flags.len() == arguments.len() - 1 => {
                        for (key, live) in arguments[1..].iter().zip(flags) {
                            let live: &'static [u8] = if *live == b'1' { b"1" } else { b"0" };
                            self.watches.push(Watch { key: key.clone(), token: token.to_vec(), live });
                        }
                        resp::ok(replies);
                    }
                    // An error, from a version without transactions.
                    _ => replies.extend_from_slice(&reply),
                }
            }
            // Queued while queueing (Redis queues it; the plugin answers it with OK in EXEC).
            b"unwatch" if self.queued.is_none() => {
                if !exact_arity(1) {
                    self.refuse(kv, batch, replies, Refusal::WrongArity(b"unwatch")).await;
                } else {
                    let mut command: Vec<&[u8]> = vec![b"UNWATCH"];
                    command.extend(self.watch_arguments());
                    batch.push(&command);
                    self.watches.clear();
                }
            }
            // The plugin's own name for checking a command, which no client may send.
            b"queue" if self.queued.is_none() => {
                execute_batch(kv, batch, replies).await;
                let arguments: Vec<&[u8]> = arguments.iter().map(Vec::as_slice).collect();
                resp::unknown_command(replies, &arguments);
            }
            _ => {
                let Some(queued) = &mut self.queued else {
                    // Not the transaction's business after all: the plugin answers it.
                    return batch.push(arguments);
                };
                queued.push(arguments);
                let mut command: Vec<&[u8]> = vec![b"QUEUE"];
                command.extend(arguments.iter().map(Vec::as_slice));
                batch.push(&command);
            }
        }
    }

    /// Writes a refusal of the server's after the replies of `batch`. Refused while queueing, the
    /// command discards the transaction at EXEC, as Redis does.
    async fn refuse(&mut self, kv: &Module<dyn Kv>, batch: &mut CommandBatch, replies: &mut Vec<u8>, refusal: Refusal) {
        execute_batch(kv, batch, replies).await;
        match refusal {
            Refusal::WrongArity(name) => {
                resp::wrong_arity(replies, name);
                self.refused_while_queueing |= self.queued.is_some();
            }
            Refusal::Plain(message) => resp::error(replies, message),
        }
    }

    /// The client's watches as the plugin's EXEC, UNWATCH and DISCARD take them: key, token and
    /// liveness flag, for each watched key.
    fn watch_arguments(&self) -> impl Iterator<Item = &[u8]> {
        self.watches.iter().flat_map(|watch| [watch.key.as_slice(), &watch.token, watch.live])
    }

    /// Gives the plugin back the client's watches, when the connection ends.
    pub async fn release(&mut self, kv: &Module<dyn Kv>) {
        if self.watches.is_empty() {
            return;
        }
        let mut command: Vec<&[u8]> = vec![b"UNWATCH"];
        command.extend(self.watch_arguments());
        call_alone(kv, &command).await;
        self.watches.clear();
    }
}

/// What the server refuses while handling a transaction command.
enum Refusal {
    /// The wrong number of arguments for the command named so.
    WrongArity(&'static [u8]),
    /// An error of its own.
    Plain(&'static str),
}

/// Runs `command` alone in the plugin and returns its reply.
async fn call_alone(kv: &Module<dyn Kv>, command: &[&[u8]]) -> Vec<u8> {
    let mut batch = CommandBatch::new();
    batch.push(command);
    let mut reply = Vec::new();
    execute_batch(kv, &mut batch, &mut reply).await;
    reply
}

/// Reads the plugin's reply to WATCH, the bulk string `instance:sequence:flags`, as the token
/// (`instance:sequence`) and the flags.
fn parse_watch_reply(reply: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = reply.strip_prefix(b"$")?;
    let line_end = body.iter().position(|&byte| byte == b'\r')?;
    let text = body.get(line_end + 2..)?.strip_suffix(b"\r\n")?;
    let separator = text.iter().rposition(|&byte| byte == b':')?;
    Some((&text[..separator], &text[separator + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_reply_splits_into_token_and_flags() {
        assert_eq!(parse_watch_reply(b"$7\r\n12:3:10\r\n"), Some((&b"12:3"[..], &b"10"[..])));
        assert_eq!(parse_watch_reply(b"-ERR unknown command 'WATCH'\r\n"), None);
    }
}
