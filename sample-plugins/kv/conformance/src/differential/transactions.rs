//! The differential table of transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH, the errors
//! that discard a transaction and those that stay in its replies, and which writes make a watched
//! key change. Every reply is compared byte for byte.

use super::{Script, script};

/// Why kv fails an EXEC after a write that changed nothing, where Redis runs it.
const NO_OP_WRITE: &str = "kv counts every write command as a change of the keys it writes, even one that changed \
                           nothing; Redis signals only real changes. The client retries, as WATCH clients do";

/// Every script of the transaction family.
#[must_use]
pub fn transactions() -> Vec<Script> {
    let mut scripts = queueing();
    scripts.extend(refusals());
    scripts.extend(watching());
    scripts.extend(writes_that_change_a_watched_key());
    scripts
}

/// MULTI, the queue, EXEC and DISCARD.
fn queueing() -> Vec<Script> {
    vec![
        script("MULTI queues and EXEC runs the queue, replying one array").exact(&[
            "MULTI",
            "SET a 1",
            "INCR a",
            "GET a",
            "RPUSH l x y",
            "LRANGE l 0 -1",
            "PING",
            "ECHO hello",
            "EXEC",
            "GET a",
            "LLEN l",
        ]),
        script("an empty transaction replies an empty array").exact(&["MULTI", "EXEC", "MULTI", "DISCARD"]),
        script("DISCARD drops the queue and nothing runs").exact(&["SET a 1", "MULTI", "SET a 2", "DEL a", "DISCARD", "GET a", "EXEC"]),
        script("an error while running stays in the array and the rest runs").exact(&[
            "SET s text",
            "MULTI",
            "INCR s",
            "LPUSH s x",
            "SET t 1",
            "INCRBY t notanumber",
            "GET t",
            "EXEC",
            "GET s",
            "GET t",
        ]),
        script("commands of every family in one transaction").exact(&[
            "MULTI",
            "HSET h f v g w",
            "HGET h f",
            "SADD s a b c",
            "SCARD s",
            "ZADD z 1 one 2 two",
            "ZRANGE z 0 -1 WITHSCORES",
            "EXPIRE h 100",
            "TTL h",
            "TYPE z",
            "EXISTS h s z missing",
            "EXEC",
        ]),
        script("UNWATCH, SELECT and keyspace commands can be queued")
            .exact(&["SET a 1", "MULTI", "UNWATCH", "SELECT 0", "DBSIZE", "KEYS *", "FLUSHALL", "DBSIZE", "EXEC"]),
    ]
}

/// What Redis refuses around transactions, and which refusals discard the transaction.
fn refusals() -> Vec<Script> {
    vec![
        script("EXEC, DISCARD and nested MULTI outside their place")
            .exact(&["EXEC", "DISCARD", "MULTI", "MULTI", "SET a 1", "EXEC", "GET a"]),
        script("an unknown command or a wrong number of arguments discards the transaction at EXEC").exact(&[
            "SET a 1",
            "MULTI",
            "SET a 2",
            "NOSUCHCOMMAND x",
            "GET",
            "EXEC",
            "GET a",
            "MULTI",
            "SET a 3",
            "SET a",
            "EXEC",
            "GET a",
        ]),
        script("the transaction commands' own arity").exact(&[
            "MULTI x",
            "EXEC x",
            "DISCARD x",
            "WATCH",
            "UNWATCH x",
            "MULTI",
            "SET a 1",
            "MULTI x",
            "EXEC",
            "GET a",
            "MULTI",
            "SET a 1",
            "DISCARD x",
            "EXEC",
            "GET a",
            "MULTI",
            "SET a 1",
            "EXEC x",
            "EXEC",
            "GET a",
        ]),
        script("WATCH inside MULTI is refused and the transaction goes on").exact(&[
            "MULTI",
            "WATCH a",
            "SET a 1",
            "WATCH",
            "EXEC",
            "MULTI",
            "WATCH a b",
            "SET b 2",
            "EXEC",
            "MGET a b",
        ]),
        script("the plugin's own command names are unknown to clients").exact(&[
            "QUEUE SET a 1",
            "MULTI",
            "QUEUE SET a 1",
            "EXEC",
            "GET a",
        ]),
    ]
}

/// WATCH and UNWATCH: what makes EXEC fail, and when the watches are gone.
fn watching() -> Vec<Script> {
    vec![
        script("a watched key written before EXEC fails the transaction").exact(&[
            "SET k 1",
            "WATCH k",
            "SET k 2",
            "MULTI",
            "SET other 1",
            "EXEC",
            "GET other",
            "GET k",
        ]),
        script("an unchanged watched key lets the transaction run")
            .exact(&["SET k 1", "WATCH k", "GET k", "MULTI", "INCR k", "EXEC", "GET k"]),
        script("a missing watched key that appears fails the transaction").exact(&[
            "WATCH missing",
            "SET missing 1",
            "MULTI",
            "SET other 1",
            "EXEC",
            "WATCH gone",
            "MULTI",
            "SET other 2",
            "EXEC",
            "GET other",
        ]),
        script("several keys, one of them written").exact(&[
            "MSET a 1 b 2 c 3",
            "WATCH a b",
            "WATCH c a",
            "INCR c",
            "MULTI",
            "GET a",
            "EXEC",
            "WATCH a b c",
            "MULTI",
            "GET a",
            "EXEC",
        ]),
        script("UNWATCH forgets the watches").exact(&["SET k 1", "WATCH k", "UNWATCH", "SET k 2", "MULTI", "GET k", "EXEC"]),
        script("EXEC and DISCARD forget the watches").exact(&[
            "SET k 1", "WATCH k", "MULTI", "EXEC", "SET k 2", "MULTI", "GET k", "EXEC", "WATCH k", "MULTI", "DISCARD", "SET k 3", "MULTI",
            "GET k", "EXEC", "WATCH k", "SET k 4", "MULTI", "GET k", "EXEC", "MULTI", "GET k", "EXEC",
        ]),
        script("a failed EXEC forgets the watches too")
            .exact(&["SET k 1", "WATCH k", "SET k 2", "MULTI", "GET k", "EXEC", "SET k 3", "MULTI", "GET k", "EXEC"]),
        script("reads, and the sources of STORE commands and COPY, are no change")
            .exact(&["SADD s a b", "SADD t b c", "SET str v", "WATCH s t str"])
            .unordered("SMEMBERS s")
            .exact(&[
                "SINTERSTORE dest s t",
                "SUNIONSTORE dest2 s t",
                "COPY str strcopy",
                "EXISTS s",
                "TYPE t",
                "STRLEN str",
                "MULTI",
                "SCARD dest",
                "EXEC",
            ]),
        script("a transaction's own writes to a key the client watches")
            .exact(&["SET k 1", "WATCH k", "MULTI", "SET k 2", "EXEC", "WATCH k", "MULTI", "GET k", "EXEC"]),
        script("a write that changed nothing")
            .exact(&["SADD s a", "WATCH s", "SADD s a", "MULTI", "SCARD s"])
            .differs("EXEC", NO_OP_WRITE)
            .exact(&["WATCH missing", "DEL missing", "MULTI", "EXISTS missing"])
            .differs("EXEC", NO_OP_WRITE),
    ]
}

/// One script per kind of write: each fails the EXEC of a client watching the key it writes.
fn writes_that_change_a_watched_key() -> Vec<Script> {
    /// Sets up `setup`, watches `key`, runs `write`, and checks that EXEC fails and changed nothing.
    fn changes(name: &'static str, setup: &[&str], key: &str, write: &str) -> Script {
        let mut commands: Vec<String> = setup.iter().map(|command| (*command).to_owned()).collect();
        commands.extend([format!("WATCH {key}"), write.to_owned(), "MULTI".to_owned(), "SET marker 1".to_owned()]);
        commands.extend(["EXEC".to_owned(), "EXISTS marker".to_owned()]);
        let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
        script(name).exact(&commands)
    }
    vec![
        changes("SET changes a watched key", &[], "k", "SET k v"),
        changes("INCR changes a watched key", &["SET k 1"], "k", "INCR k"),
        changes("APPEND changes a watched key", &["SET k a"], "k", "APPEND k b"),
        changes("SETRANGE changes a watched key", &["SET k abc"], "k", "SETRANGE k 1 x"),
        changes("GETDEL changes a watched key", &["SET k a"], "k", "GETDEL k"),
        changes("MSET changes a watched key", &[], "k", "MSET a 1 k 2"),
        changes("DEL changes a watched key", &["SET k a"], "k", "DEL k"),
        changes("EXPIRE changes a watched key", &["SET k a"], "k", "EXPIRE k 100"),
        changes("PERSIST changes a watched key", &["SET k a EX 100"], "k", "PERSIST k"),
        changes("RENAME changes its source", &["SET k a"], "k", "RENAME k other"),
        changes("RENAME changes its destination", &["SET src a"], "k", "RENAME src k"),
        changes("COPY changes its destination", &["SET src a"], "k", "COPY src k"),
        changes("LPUSH changes a watched key", &[], "k", "LPUSH k a"),
        changes("RPOP changes a watched key", &["RPUSH k a b"], "k", "RPOP k"),
        changes("LMOVE changes its source", &["RPUSH k a b"], "k", "LMOVE k other LEFT RIGHT"),
        changes("LMOVE changes its destination", &["RPUSH src a b"], "k", "LMOVE src k LEFT RIGHT"),
        changes("HSET changes a watched key", &[], "k", "HSET k f v"),
        changes("HINCRBY changes a watched key", &["HSET k f 1"], "k", "HINCRBY k f 2"),
        changes("SADD changes a watched key", &[], "k", "SADD k a"),
        changes("SMOVE changes its destination", &["SADD src a"], "k", "SMOVE src k a"),
        changes("SINTERSTORE changes its destination", &["SADD a x", "SADD b x"], "k", "SINTERSTORE k a b"),
        changes("ZADD changes a watched key", &[], "k", "ZADD k 1 a"),
        changes("ZPOPMIN changes a watched key", &["ZADD k 1 a 2 b"], "k", "ZPOPMIN k"),
        changes("ZUNIONSTORE changes its destination", &["ZADD a 1 x"], "k", "ZUNIONSTORE k 1 a"),
        changes("FLUSHALL changes a watched key that exists", &["SET k a"], "k", "FLUSHALL"),
    ]
}
