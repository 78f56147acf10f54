//! Unit tests of kv v1: every command with its errors, batches, and the state round trip.

use ecdysis_plugin_api::Plugin;
use kv_interface::{CommandBatch, Kv};

use crate::KvV1;

const OK: &str = "+OK\r\n";
const NULL: &str = "$-1\r\n";
const EMPTY_ARRAY: &str = "*0\r\n";
const SYNTAX_ERROR: &str = "-ERR syntax error\r\n";
const NOT_AN_INTEGER: &str = "-ERR value is not an integer or out of range\r\n";
const OVERFLOW: &str = "-ERR increment or decrement would overflow\r\n";

/// A bulk string reply.
fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// An integer reply.
fn integer(value: i64) -> String {
    format!(":{value}\r\n")
}

/// An error reply.
fn error(message: &str) -> String {
    format!("-{message}\r\n")
}

/// The wrong-arity error of `command`.
fn arity(command: &str) -> String {
    error(&format!("ERR wrong number of arguments for '{command}' command"))
}

/// An array reply of replies written with the helpers above.
fn array(items: &[&str]) -> String {
    format!("*{}\r\n{}", items.len(), items.concat())
}

/// An array reply of bulk strings.
fn bulks(items: &[&str]) -> String {
    format!("*{}\r\n{}", items.len(), items.iter().map(|item| bulk(item)).collect::<String>())
}

/// Splits a command written as text at single spaces: `"SET k "` passes an empty value.
fn arguments(command: &str) -> Vec<&str> {
    command.split(' ').collect()
}

/// Runs `commands` as one batch on an instance made by `Plugin::create` and compares the replies
/// with `expected_replies` (one complete RESP2 reply per command). On a mismatch, replays the
/// commands one at a time to name the first command whose reply differs.
fn check(commands: &[&str], expected_replies: &[&str]) {
    assert_eq!(commands.len(), expected_replies.len(), "one expected reply per command");
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    for command in commands {
        batch.push(&arguments(command));
    }
    let replies = plugin.execute(batch.as_bytes());
    if replies == expected_replies.concat().as_bytes() {
        return;
    }
    let replay = KvV1::create().expect("the plugin starts");
    for (command, expected) in commands.iter().zip(expected_replies) {
        let mut single = CommandBatch::new();
        single.push(&arguments(command));
        let reply = String::from_utf8_lossy(&replay.execute(single.as_bytes())).into_owned();
        assert_eq!(reply, *expected, "reply to {command:?} (after the commands before it)");
    }
    panic!("the batch replied {:?}, its commands one at a time replied as expected", String::from_utf8_lossy(&replies));
}

#[test]
fn get_and_set() {
    check(&["SET k v", "GET k", "GET missing", "set k w", "gEt k"], &[OK, &bulk("v"), NULL, OK, &bulk("w")]);
    check(&["SET k ", "GET k", "STRLEN k"], &[OK, &bulk(""), &integer(0)]);
    check(&["SET k", "SET", "GET", "GET a b"], &[&arity("set"), &arity("set"), &arity("get"), &arity("get")]);
}

#[test]
fn set_conditions_and_options() {
    check(
        &["SET k v NX", "SET k w NX", "GET k", "SET k w XX", "GET k", "SET other v XX", "EXISTS other", "SET k x nx nx", "SET k x xx XX"],
        &[OK, NULL, &bulk("v"), OK, &bulk("w"), NULL, &integer(0), NULL, OK],
    );
    check(
        &[
            "SET k v NX XX",
            "SET k v XX NX",
            "SET k v EX 10",
            "SET k v PX 10",
            "SET k v KEEPTTL",
            "SET k v GET",
            "SET k v bogus",
            "EXISTS k",
        ],
        &[SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, &integer(0)],
    );
}

#[test]
fn increments_and_decrements() {
    check(
        &["INCR n", "INCR n", "INCRBY n 10", "DECR n", "DECRBY n 20", "GET n", "incrby n -1", "decrby fresh 5"],
        &[&integer(1), &integer(2), &integer(12), &integer(11), &integer(-9), &bulk("-9"), &integer(-10), &integer(-5)],
    );
    check(
        &["INCRBY n x", "INCRBY n 1.5", "INCRBY n +1", "INCRBY n 01", "INCRBY n 9223372036854775808", "DECRBY n ", "EXISTS n"],
        &[NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, &integer(0)],
    );
    check(
        &["SET s abc", "INCR s", "SET z 007", "INCR z", "SET space 1 ", "SET padded  1", "INCR padded", "SET e ", "INCR e"],
        &[OK, NOT_AN_INTEGER, OK, NOT_AN_INTEGER, SYNTAX_ERROR, SYNTAX_ERROR, &integer(1), OK, NOT_AN_INTEGER],
    );
    check(
        &[
            "SET max 9223372036854775807",
            "INCR max",
            "SET min -9223372036854775808",
            "DECR min",
            "INCRBY min -1",
            "DECRBY x -9223372036854775808",
            "INCRBY x -9223372036854775808",
            "GET max",
        ],
        &[OK, OVERFLOW, OK, OVERFLOW, OVERFLOW, &error("ERR decrement would overflow"), &integer(i64::MIN), &bulk("9223372036854775807")],
    );
    check(
        &["INCR", "INCR a b", "DECR", "INCRBY a", "DECRBY a", "DECRBY a 1 2"],
        &[&arity("incr"), &arity("incr"), &arity("decr"), &arity("incrby"), &arity("decrby"), &arity("decrby")],
    );
}

#[test]
fn multiple_keys_at_once() {
    check(
        &["MSET a 1 b 2", "MGET a b c", "MSET a 3 a 4", "GET a", "mget a"],
        &[OK, &array(&[&bulk("1"), &bulk("2"), NULL]), OK, &bulk("4"), &array(&[&bulk("4")])],
    );
    check(
        &["MSET a", "MSET a 1 b", "MSET", "MGET", "EXISTS a"],
        &[&arity("mset"), &arity("mset"), &arity("mset"), &arity("mget"), &integer(0)],
    );
}

#[test]
fn append_and_strlen() {
    check(
        &["APPEND k hello", "APPEND k _world", "GET k", "STRLEN k", "STRLEN missing", "SET n 1", "APPEND n 2", "INCR n"],
        &[&integer(5), &integer(11), &bulk("hello_world"), &integer(11), &integer(0), OK, &integer(2), &integer(13)],
    );
    check(&["APPEND k", "APPEND k a b", "STRLEN", "STRLEN a b"], &[&arity("append"), &arity("append"), &arity("strlen"), &arity("strlen")]);
}

#[test]
fn deleting_and_counting_keys() {
    check(
        &["MSET a 1 b 2 c 3", "DEL a a b missing", "EXISTS a b c c missing", "DBSIZE", "UNLINK c", "DBSIZE", "DEL", "UNLINK", "EXISTS"],
        &[OK, &integer(2), &integer(2), &integer(1), &integer(1), &integer(0), &arity("del"), &arity("unlink"), &arity("exists")],
    );
    check(&["DBSIZE x"], &[&arity("dbsize")]);
}

#[test]
fn keys_match_globs_and_come_sorted() {
    check(
        &["MSET hello 1 hallo 2 hxllo 3 key:2 4 key:1 5", "KEYS *", "KEYS h[ae]llo", "KEYS key:?", "KEYS nothing*", "KEYS", "KEYS a b"],
        &[
            OK,
            &bulks(&["hallo", "hello", "hxllo", "key:1", "key:2"]),
            &bulks(&["hallo", "hello"]),
            &bulks(&["key:1", "key:2"]),
            EMPTY_ARRAY,
            &arity("keys"),
            &arity("keys"),
        ],
    );
}

#[test]
fn flushing() {
    check(
        &["MSET a 1 b 2", "FLUSHALL", "DBSIZE", "SET a 1", "FLUSHALL ASYNC", "SET a 1", "flushall sync", "SET a 1", "FLUSHDB", "DBSIZE"],
        &[OK, OK, &integer(0), OK, OK, OK, OK, OK, OK, &integer(0)],
    );
    check(&["SET a 1", "FLUSHALL bogus", "FLUSHALL ASYNC SYNC", "DBSIZE"], &[OK, SYNTAX_ERROR, SYNTAX_ERROR, &integer(1)]);
}

#[test]
fn ping_echo_and_select() {
    check(
        &["PING", "ping hello", "PING a b", "ECHO hi", "ECHO", "ECHO a b"],
        &["+PONG\r\n", &bulk("hello"), &arity("ping"), &bulk("hi"), &arity("echo"), &arity("echo")],
    );
    check(
        &["SELECT 0", "SELECT 1", "SELECT -1", "SELECT x", "SELECT 99999999999", "SELECT"],
        &[
            OK,
            &error("ERR DB index is out of range"),
            &error("ERR DB index is out of range"),
            NOT_AN_INTEGER,
            &error("ERR value is out of range, value must between -2147483648 and 2147483647"),
            &arity("select"),
        ],
    );
}

#[test]
fn config_command_and_client() {
    check(
        &["CONFIG GET save", "CONFIG GET *", "config get MAX*", "CONFIG GET save appendonly save", "CONFIG GET nothing"],
        &[
            &bulks(&["save", ""]),
            &bulks(&["save", "", "appendonly", "no", "maxmemory", "0", "databases", "16"]),
            &bulks(&["maxmemory", "0"]),
            &bulks(&["save", "", "appendonly", "no"]),
            EMPTY_ARRAY,
        ],
    );
    check(
        &["CONFIG GET", "CONFIG", "CONFIG SET save ", "CONFIG SET a", "CONFIG SET a b c", "CONFIG RESETSTAT", "config bogus"],
        &[
            &arity("config|get"),
            &arity("config"),
            OK,
            &arity("config|set"),
            SYNTAX_ERROR,
            OK,
            &error("ERR unknown subcommand 'bogus'. Try CONFIG HELP."),
        ],
    );
    check(
        &["COMMAND", "COMMAND DOCS", "command docs get set", "COMMAND INFO get", "COMMAND COUNT", "COMMAND COUNT x", "COMMAND bogus"],
        &[
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            &integer(0),
            &arity("command|count"),
            &error("ERR unknown subcommand 'bogus'. Try COMMAND HELP."),
        ],
    );
    check(
        &[
            "CLIENT SETNAME app",
            "CLIENT SETINFO LIB-NAME redis-rs",
            "CLIENT GETNAME",
            "client id",
            "CLIENT LIST",
            "CLIENT",
            "CLIENT SETNAME",
            "CLIENT SETNAME a b",
            "CLIENT SETNAME ",
            "CLIENT SETINFO LIB-NAME",
        ],
        &[
            OK,
            OK,
            NULL,
            &integer(1),
            OK,
            &arity("client"),
            &arity("client|setname"),
            &arity("client|setname"),
            OK,
            &arity("client|setinfo"),
        ],
    );
}

#[test]
fn info_reports_the_version_and_the_keyspace() {
    check(
        &["INFO keyspace", "SET a 1", "INFO KEYSPACE", "INFO bogus", "INFO replication"],
        &[
            &bulk("# Keyspace\r\n"),
            OK,
            &bulk("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"),
            &bulk(""),
            &bulk("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
        ],
    );
    let plugin = KvV1::create().expect("the plugin starts");
    for command in ["INFO", "INFO all", "INFO server keyspace"] {
        let mut batch = CommandBatch::new();
        batch.push(&arguments(command));
        let reply = String::from_utf8(plugin.execute(batch.as_bytes())).expect("INFO is text");
        assert!(reply.contains("\r\n# Server\r\nredis_version:7.0.15\r\necdysis_kv_version:1.0.0\r\necdysis_kv_schema:1\r\n"), "{reply:?}");
        assert!(reply.contains("\r\n\r\n# Keyspace\r\n"), "{reply:?}");
        let length: usize = reply[1..reply.find("\r\n").expect("a header")].parse().expect("a length");
        assert_eq!(length + format!("${length}\r\n\r\n").len(), reply.len(), "{reply:?}");
    }
}

#[test]
fn unknown_and_empty_commands() {
    check(
        &["FOO a b", "HSET h f v", ""],
        &[
            &error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
            &error("ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' "),
            &error("ERR unknown command '', with args beginning with: "),
        ],
    );
    // Redis quotes arguments up to 128 bytes in all, cutting the one that crosses the limit.
    let long = "a".repeat(93);
    check(
        &[&format!("FOO {long} {} ccc", "b".repeat(40)), "BAR 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"],
        &[
            &error(&format!("ERR unknown command 'FOO', with args beginning with: '{long}' '{}' ", "b".repeat(32))),
            &error(
                "ERR unknown command 'BAR', with args beginning with: '1' '2' '3' '4' '5' '6' '7' '8' '9' '10' '11' '12' '13' '14' '15' '16' '17' '18' '19' '20' ",
            ),
        ],
    );
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push::<&str>(&[]);
    batch.push(&["PING"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"-ERR empty command\r\n+PONG\r\n");
    assert_eq!(plugin.execute(&[]), b"");
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "a", "1"]);
    batch.push(&["SET", "b", "2"]);
    let bytes = batch.as_bytes();
    // Cut the second command short: the first runs, the second gets the error.
    let replies = plugin.execute(&bytes[..bytes.len() - 1]);
    assert_eq!(replies, b"+OK\r\n-ERR malformed command batch\r\n");
    assert_eq!(plugin.key_count(), 1);
}

#[test]
fn keys_and_values_are_binary() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push::<&[u8]>(&[b"SET", b"\x00key\xff", b"line\r\nbreak"]);
    batch.push::<&[u8]>(&[b"GET", b"\x00key\xff"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$11\r\nline\r\nbreak\r\n");
}

#[test]
fn state_survives_export_and_import() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["MSET", "a", "1", "b", "two", "empty", ""]);
    batch.push::<&[u8]>(&[b"SET", b"\xffbinary", b"\x00\x01"]);
    plugin.execute(batch.as_bytes());
    let state = plugin.export_state().expect("export");
    assert_eq!(plugin.export_state().expect("export"), state, "exporting changes nothing");
    assert_eq!(state.strings.len(), 4);

    let imported = KvV1::from_state(state.clone()).expect("import");
    assert_eq!(imported.key_count(), 4);
    assert_eq!(imported.export_state().expect("export"), state);
    let mut reads = CommandBatch::new();
    reads.push(&["MGET", "a", "b", "empty", "missing"]);
    reads.push::<&[u8]>(&[b"GET", b"\xffbinary"]);
    assert_eq!(
        imported.execute(reads.as_bytes()),
        [array(&[&bulk("1"), &bulk("two"), &bulk(""), NULL]), bulk("\x00\x01")].concat().as_bytes()
    );
}

/// A small deterministic random number generator (xorshift64*), so that the random test repeats.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    const NAMES: &[&str] = &[
        "GET",
        "SET",
        "INCR",
        "INCRBY",
        "DECR",
        "DECRBY",
        "MGET",
        "MSET",
        "APPEND",
        "STRLEN",
        "DEL",
        "UNLINK",
        "EXISTS",
        "KEYS",
        "DBSIZE",
        "FLUSHALL",
        "FLUSHDB",
        "PING",
        "ECHO",
        "SELECT",
        "INFO",
        "CONFIG",
        "COMMAND",
        "CLIENT",
        "EXPIRE",
        "PEXPIRE",
        "EXPIREAT",
        "PEXPIREAT",
        "TTL",
        "PTTL",
        "EXPIRETIME",
        "PEXPIRETIME",
        "PERSIST",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "LRANGE",
        "LLEN",
        "HSET",
        "HGET",
        "HDEL",
        "HGETALL",
        "HLEN",
        "TYPE",
        "NOSUCH",
        "",
    ];
    const ARGUMENTS: &[&str] = &[
        "k",
        "l",
        "h",
        "s",
        "",
        "0",
        "1",
        "-1",
        "2",
        "10",
        "1500",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "1.5",
        "NX",
        "XX",
        "GET",
        "EX",
        "PX",
        "EXAT",
        "PXAT",
        "KEEPTTL",
        "GT",
        "LT",
        "*",
        "[",
        "\\",
        "h[",
        "ASYNC",
        "get",
        "set",
        "count",
        "docs",
        "setname",
        "id",
        "a b",
        "\r\n",
        "1700000000000",
    ];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let plugin = KvV1::create().expect("the plugin starts");
    for _ in 0..20_000 {
        let mut command = vec![random.pick(NAMES)];
        for _ in 0..random.below(7) {
            command.push(random.pick(ARGUMENTS));
        }
        let mut batch = CommandBatch::new();
        batch.push(&command);
        let reply = plugin.execute(batch.as_bytes());
        assert!(reply.ends_with(b"\r\n"), "{command:?} got a reply: {reply:?}");
    }
    let state = plugin.export_state().expect("export");
    assert_eq!(KvV1::from_state(state.clone()).expect("import").export_state().expect("export"), state);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    check(&["SET k v", "GET k", "PING"], &[OK, &bulk("w"), "+PONG\r\n"]);
}
