//! Unit tests of kv v3: every command with its errors, expiry (on a clock the tests move), lists,
//! hashes and WRONGTYPE, batches, and the state round trip.

use std::cell::Cell;
use std::collections::HashMap;

use ecdysis_plugin_api::Plugin;
use kv_interface::schema::{EntryV3, KvStateV3, ValueV3};
use kv_interface::{CommandBatch, Kv};
use serde_bytes::ByteBuf;

use crate::KvV3;

const OK: &str = "+OK\r\n";
const NULL: &str = "$-1\r\n";
const EMPTY_ARRAY: &str = "*0\r\n";
const SYNTAX_ERROR: &str = "-ERR syntax error\r\n";
const NOT_AN_INTEGER: &str = "-ERR value is not an integer or out of range\r\n";
const OVERFLOW: &str = "-ERR increment or decrement would overflow\r\n";

/// The time the test clock starts at: 2023-11-14T22:13:20Z, in milliseconds since the Unix epoch.
const START_MS: u64 = 1_700_000_000_000;

thread_local! {
    /// The test clock. Each test runs on its own thread, so tests do not move each other's clocks.
    static TEST_NOW_MS: Cell<u64> = const { Cell::new(START_MS) };
}

/// Reads the test clock.
fn test_clock() -> u64 {
    TEST_NOW_MS.with(Cell::get)
}

/// Sets the test clock.
fn set_test_clock(now_ms: u64) {
    TEST_NOW_MS.with(|now| now.set(now_ms));
}

/// An instance made by `Plugin::create`, reading the test clock.
fn create() -> KvV3 {
    let plugin = KvV3::create().expect("the plugin starts");
    plugin.database().clock = test_clock;
    plugin
}

/// An instance made by `Plugin::from_state`, reading the test clock.
fn import(state: KvStateV3) -> KvV3 {
    let plugin = KvV3::from_state(state).expect("the plugin takes the state");
    plugin.database().clock = test_clock;
    plugin
}

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

/// A step of a [`check`] script: a command, or `+<n>ms`, which moves the test clock forward.
fn clock_step(step: &str) -> Option<u64> {
    step.strip_prefix('+')?.strip_suffix("ms")?.parse().ok()
}

/// Runs `commands` on an instance made by `Plugin::create` whose clock starts at [`START_MS`], and
/// compares the replies with `expected_replies` (one complete RESP2 reply per command). The
/// commands between two clock steps (`+<n>ms`) go as one batch. On a mismatch, replays the
/// commands one at a time to name the first command whose reply differs.
fn check(commands: &[&str], expected_replies: &[&str]) {
    let command_count = commands.iter().filter(|step| clock_step(step).is_none()).count();
    assert_eq!(command_count, expected_replies.len(), "one expected reply per command");
    set_test_clock(START_MS);
    let plugin = create();
    let mut replies = Vec::new();
    let mut batch = CommandBatch::new();
    for step in commands {
        match clock_step(step) {
            Some(milliseconds) => {
                replies.extend(plugin.execute(batch.as_bytes()));
                batch.clear();
                set_test_clock(test_clock() + milliseconds);
            }
            None => batch.push(&arguments(step)),
        }
    }
    replies.extend(plugin.execute(batch.as_bytes()));
    if replies == expected_replies.concat().as_bytes() {
        return;
    }
    set_test_clock(START_MS);
    let replay = create();
    let mut expected_replies = expected_replies.iter();
    for step in commands {
        if let Some(milliseconds) = clock_step(step) {
            set_test_clock(test_clock() + milliseconds);
            continue;
        }
        let mut single = CommandBatch::new();
        single.push(&arguments(step));
        let reply = String::from_utf8_lossy(&replay.execute(single.as_bytes())).into_owned();
        assert_eq!(Some(reply.as_str()), expected_replies.next().copied(), "reply to {step:?} (after the commands before it)");
    }
    panic!("the batches replied {:?}, their commands one at a time replied as expected", String::from_utf8_lossy(&replies));
}

#[test]
fn get_and_set() {
    check(&["SET k v", "GET k", "GET missing", "set k w", "gEt k"], &[OK, &bulk("v"), NULL, OK, &bulk("w")]);
    check(&["SET k ", "GET k", "STRLEN k"], &[OK, &bulk(""), &integer(0)]);
    check(&["SET k", "SET", "GET", "GET a b"], &[&arity("set"), &arity("set"), &arity("get"), &arity("get")]);
}

#[test]
fn set_conditions() {
    check(
        &["SET k v NX", "SET k w NX", "GET k", "SET k w XX", "GET k", "SET other v XX", "EXISTS other", "SET k x nx nx", "SET k x xx XX"],
        &[OK, NULL, &bulk("v"), OK, &bulk("w"), NULL, &integer(0), NULL, OK],
    );
    check(&["SET k v NX XX", "SET k v XX NX", "SET k v bogus", "EXISTS k"], &[SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, &integer(0)]);
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
    let plugin = create();
    for command in ["INFO", "INFO all", "INFO server keyspace"] {
        let mut batch = CommandBatch::new();
        batch.push(&arguments(command));
        let reply = String::from_utf8(plugin.execute(batch.as_bytes())).expect("INFO is text");
        assert!(reply.contains("\r\n# Server\r\nredis_version:7.0.15\r\necdysis_kv_version:3.0.0\r\necdysis_kv_schema:3\r\n"), "{reply:?}");
        assert!(reply.contains("\r\n\r\n# Keyspace\r\n"), "{reply:?}");
        let length: usize = reply[1..reply.find("\r\n").expect("a header")].parse().expect("a length");
        assert_eq!(length + format!("${length}\r\n\r\n").len(), reply.len(), "{reply:?}");
    }
}

#[test]
fn unknown_and_empty_commands() {
    check(
        &["FOO a b", "SADD s m", ""],
        &[
            &error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
            &error("ERR unknown command 'SADD', with args beginning with: 's' 'm' "),
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
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push::<&str>(&[]);
    batch.push(&["PING"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"-ERR empty command\r\n+PONG\r\n");
    assert_eq!(plugin.execute(&[]), b"");
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    let plugin = create();
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
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push::<&[u8]>(&[b"SET", b"\x00key\xff", b"line\r\nbreak"]);
    batch.push::<&[u8]>(&[b"GET", b"\x00key\xff"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$11\r\nline\r\nbreak\r\n");
}

#[test]
fn set_with_expiry() {
    check(
        &[
            "SET k v EX 100",
            "TTL k",
            "PTTL k",
            "EXPIRETIME k",
            "PEXPIRETIME k",
            "SET k v px 1500",
            "TTL k",
            "SET k v PX 1499",
            "TTL k",
            "PTTL k",
        ],
        &[
            OK,
            &integer(100),
            &integer(100_000),
            &integer(1_700_000_100),
            &integer(1_700_000_100_000),
            OK,
            &integer(2),
            OK,
            &integer(1),
            &integer(1499),
        ],
    );
    check(
        &[
            "SET k v EXAT 1700000010",
            "TTL k",
            "SET k v PXAT 1700000000500",
            "PTTL k",
            "TTL k",
            "SET k v pxat 1700000000000",
            "GET k",
            "PTTL k",
        ],
        &[OK, &integer(10), OK, &integer(500), &integer(1), OK, &bulk("v"), &integer(0)],
    );
    // An expiry already in the past leaves the key missing, replacing whatever was there.
    check(
        &["SET k v", "SET k w EXAT 1", "GET k", "EXISTS k", "SET k w PXAT 1699999999999", "DBSIZE"],
        &[OK, OK, NULL, &integer(0), OK, &integer(0)],
    );
    check(
        &[
            "SET k v EX 100",
            "SET k w KEEPTTL",
            "TTL k",
            "GET k",
            "SET k x",
            "TTL k",
            "SET n v KEEPTTL",
            "TTL n",
            "SET k v EX 10 EX 20",
            "TTL k",
        ],
        &[OK, OK, &integer(100), &bulk("w"), OK, &integer(-1), OK, &integer(-1), OK, &integer(20)],
    );
    check(
        &["SET k v PX 100", "+100ms", "GET k", "PTTL k", "+1ms", "GET k", "TTL k", "SET k v NX", "TTL k"],
        &[OK, &bulk("v"), &integer(0), NULL, &integer(-2), OK, &integer(-1)],
    );
}

#[test]
fn set_expiry_errors() {
    let invalid = error("ERR invalid expire time in 'set' command");
    check(
        &[
            "SET k v EX 0",
            "SET k v EX -1",
            "SET k v PX 0",
            "SET k v EXAT -5",
            "SET k v EX x",
            "SET k v PX 1.5",
            "SET k v EX 9223372036854776",
            "SET k v EX 9223372036854775",
            "SET k v PX 9223372036854775807",
            "EXISTS k",
            "SET k v EXAT 9223372036854775",
            "PEXPIRETIME k",
            "SET k v PXAT 9223372036854775807",
            "PEXPIRETIME k",
        ],
        &[
            &invalid,
            &invalid,
            &invalid,
            &invalid,
            NOT_AN_INTEGER,
            NOT_AN_INTEGER,
            &invalid,
            &invalid,
            &invalid,
            &integer(0),
            OK,
            &integer(9_223_372_036_854_775_000),
            OK,
            &integer(i64::MAX),
        ],
    );
    check(
        &[
            "SET k v EX 10 PX 10",
            "SET k v KEEPTTL EX 10",
            "SET k v EX 10 KEEPTTL",
            "SET k v PXAT 10 EXAT 10",
            "SET k v EX",
            "SET k v EX x NX XX",
            "SET k v KEEPTTL KEEPTTL",
            "SET k v EX NX",
        ],
        &[SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, OK, NOT_AN_INTEGER],
    );
}

#[test]
fn set_get_returns_the_old_value() {
    check(
        &["SET k v GET", "SET k w get", "SET k x NX GET", "GET k", "SET missing v XX GET", "EXISTS missing", "SET k y GET EX 5", "TTL k"],
        &[NULL, &bulk("v"), &bulk("w"), &bulk("w"), NULL, &integer(0), &bulk("w"), &integer(5)],
    );
}

#[test]
fn expire_and_pexpire() {
    check(
        &[
            "SET k v",
            "EXPIRE k 100",
            "TTL k",
            "EXPIRE missing 100",
            "PEXPIRE k 1500",
            "PTTL k",
            "EXPIREAT k 1700000050",
            "TTL k",
            "PEXPIREAT k 1700000000250",
            "PTTL k",
            "expire k 7",
            "EXPIRETIME k",
            "PEXPIRETIME k",
        ],
        &[
            OK,
            &integer(1),
            &integer(100),
            &integer(0),
            &integer(1),
            &integer(1500),
            &integer(1),
            &integer(50),
            &integer(1),
            &integer(250),
            &integer(1),
            &integer(1_700_000_007),
            &integer(1_700_000_007_000),
        ],
    );
    // An expiry at or before now deletes the key and replies 1.
    check(
        &["SET k v", "EXPIRE k 0", "EXISTS k", "SET k v", "EXPIRE k -5", "GET k", "SET k v", "PEXPIREAT k 1700000000000", "EXISTS k"],
        &[OK, &integer(1), &integer(0), OK, &integer(1), NULL, OK, &integer(1), &integer(0)],
    );
    check(
        &["SET k v", "EXPIREAT k 1", "DBSIZE", "SET k v", "PEXPIRE k -9223372036854775808", "DBSIZE", "EXPIRE missing -1"],
        &[OK, &integer(1), &integer(0), OK, &integer(1), &integer(0), &integer(0)],
    );
}

#[test]
fn expire_conditions() {
    check(
        &[
            "SET k v",
            "EXPIRE k 100 XX",
            "EXPIRE k 100 GT",
            "EXPIRE k 100 NX",
            "EXPIRE k 200 nx",
            "EXPIRE k 50 GT",
            "EXPIRE k 200 GT",
            "TTL k",
            "EXPIRE k 300 LT",
            "EXPIRE k 100 lt",
            "TTL k",
            "EXPIRE k 150 XX",
            "EXPIRE k 150 XX GT",
            "EXPIRE k 160 XX GT",
            "TTL k",
            "PERSIST k",
            "EXPIRE k 100 LT",
            "TTL k",
        ],
        &[
            OK,
            &integer(0),
            &integer(0),
            &integer(1),
            &integer(0),
            &integer(0),
            &integer(1),
            &integer(200),
            &integer(0),
            &integer(1),
            &integer(100),
            &integer(1),
            &integer(0),
            &integer(1),
            &integer(160),
            &integer(1),
            &integer(1),
            &integer(100),
        ],
    );
}

#[test]
fn expire_errors() {
    check(
        &[
            "SET k v",
            "EXPIRE k 10 NX XX",
            "EXPIRE k 10 NX GT",
            "EXPIRE k 10 GT LT",
            "EXPIRE k 10 bogus",
            "EXPIRE k x bogus",
            "EXPIRE k x",
            "EXPIRE k 9223372036854776",
            "PEXPIRE k 9223372036854775807",
            "EXPIREAT k 9223372036854776",
            "EXPIRE k",
            "PEXPIRE",
            "EXPIREAT k",
            "PEXPIREAT k",
            "TTL k",
        ],
        &[
            OK,
            &error("ERR NX and XX, GT or LT options at the same time are not compatible"),
            &error("ERR NX and XX, GT or LT options at the same time are not compatible"),
            &error("ERR GT and LT options at the same time are not compatible"),
            &error("ERR Unsupported option bogus"),
            &error("ERR Unsupported option bogus"),
            NOT_AN_INTEGER,
            &error("ERR invalid expire time in 'expire' command"),
            &error("ERR invalid expire time in 'pexpire' command"),
            &error("ERR invalid expire time in 'expireat' command"),
            &arity("expire"),
            &arity("pexpire"),
            &arity("expireat"),
            &arity("pexpireat"),
            &integer(-1),
        ],
    );
}

#[test]
fn ttl_and_persist() {
    check(
        &[
            "TTL missing",
            "PTTL missing",
            "EXPIRETIME missing",
            "PEXPIRETIME missing",
            "SET k v",
            "TTL k",
            "PTTL k",
            "EXPIRETIME k",
            "PEXPIRETIME k",
        ],
        &[&integer(-2), &integer(-2), &integer(-2), &integer(-2), OK, &integer(-1), &integer(-1), &integer(-1), &integer(-1)],
    );
    check(
        &["PERSIST missing", "SET k v", "PERSIST k", "EXPIRE k 10", "PERSIST k", "TTL k", "PERSIST k", "GET k"],
        &[&integer(0), OK, &integer(0), &integer(1), &integer(1), &integer(-1), &integer(0), &bulk("v")],
    );
    check(
        &["TTL", "TTL a b", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST", "PERSIST a b"],
        &[&arity("ttl"), &arity("ttl"), &arity("pttl"), &arity("expiretime"), &arity("pexpiretime"), &arity("persist"), &arity("persist")],
    );
    // TTL rounds to the nearest second as the clock moves.
    check(
        &[
            "SET k v EX 10",
            "+499ms",
            "TTL k",
            "+1ms",
            "TTL k",
            "+1ms",
            "TTL k",
            "+8000ms",
            "TTL k",
            "+1000ms",
            "TTL k",
            "PTTL k",
            "+499ms",
            "PTTL k",
            "+1ms",
            "TTL k",
        ],
        &[OK, &integer(10), &integer(10), &integer(9), &integer(1), &integer(0), &integer(499), &integer(0), &integer(-2)],
    );
}

#[test]
fn writes_keep_or_clear_the_time_to_live() {
    check(
        &[
            "SET n 1 EX 100",
            "INCR n",
            "TTL n",
            "INCRBY n 5",
            "DECR n",
            "DECRBY n 1",
            "TTL n",
            "APPEND n 0",
            "GET n",
            "TTL n",
            "MSET n 5",
            "TTL n",
        ],
        &[
            OK,
            &integer(2),
            &integer(100),
            &integer(7),
            &integer(6),
            &integer(5),
            &integer(100),
            &integer(2),
            &bulk("50"),
            &integer(100),
            OK,
            &integer(-1),
        ],
    );
}

#[test]
fn expired_keys_behave_as_missing() {
    check(
        &[
            "MSET a 1 b 2 c 3 d 4 e 5",
            "PEXPIRE a 10",
            "PEXPIRE b 10",
            "PEXPIRE c 10",
            "PEXPIRE d 10",
            "PEXPIRE e 10",
            "SET forever v",
            "SET later v PX 1000",
            "INFO keyspace",
            "+11ms",
            "GET a",
            "EXISTS a b forever later",
            "MGET c forever",
            "KEYS *",
            "DBSIZE",
            "INFO keyspace",
            "TTL d",
            "STRLEN e",
            "DEL a b c d e",
            "INCR a",
            "TTL a",
            "APPEND b x",
            "SET c v XX",
            "SET d v NX",
            "EXPIRE e 10",
            "PERSIST e",
        ],
        &[
            OK,
            &integer(1),
            &integer(1),
            &integer(1),
            &integer(1),
            &integer(1),
            OK,
            OK,
            &bulk("# Keyspace\r\ndb0:keys=7,expires=6,avg_ttl=0\r\n"),
            NULL,
            &integer(2),
            &array(&[NULL, &bulk("v")]),
            &bulks(&["forever", "later"]),
            &integer(2),
            &bulk("# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n"),
            &integer(-2),
            &integer(0),
            &integer(0),
            &integer(1),
            &integer(-1),
            &integer(1),
            NULL,
            OK,
            &integer(0),
            &integer(0),
        ],
    );
}

#[test]
fn key_count_skips_expired_keys_and_sweeps_remove_them() {
    set_test_clock(START_MS);
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "short", "v", "PX", "10"]);
    batch.push(&["SET", "long", "v", "PX", "100000"]);
    batch.push(&["SET", "forever", "v"]);
    plugin.execute(batch.as_bytes());
    assert_eq!(plugin.key_count(), 3);
    set_test_clock(START_MS + 11);
    assert_eq!(plugin.key_count(), 2);
    assert_eq!(plugin.database().entries.len(), 3, "nothing touched the expired key yet");
    let mut pings = CommandBatch::new();
    for _ in 0..1024 {
        pings.push(&["PING"]);
    }
    plugin.execute(pings.as_bytes());
    assert_eq!(plugin.database().entries.len(), 2, "a sweep removed the expired key");
}

#[test]
fn the_system_clock_expires_keys() {
    let plugin = KvV3::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "k", "v", "PX", "30"]);
    batch.push(&["GET", "k"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$1\r\nv\r\n");
    std::thread::sleep(std::time::Duration::from_millis(60));
    let mut read = CommandBatch::new();
    read.push(&["GET", "k"]);
    read.push(&["TTL", "k"]);
    assert_eq!(plugin.execute(read.as_bytes()), b"$-1\r\n:-2\r\n");
    assert_eq!(plugin.key_count(), 0);
}

const WRONG_TYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
const NULL_ARRAY: &str = "*-1\r\n";

#[test]
fn list_pushes_and_pops() {
    check(
        &[
            "LPUSH l a b c",
            "RPUSH l d e",
            "LRANGE l 0 -1",
            "LLEN l",
            "LPOP l",
            "RPOP l",
            "LRANGE l 0 -1",
            "lpush l z",
            "LPOP l 2",
            "rpop l 5",
            "EXISTS l",
            "LLEN l",
            "TYPE l",
        ],
        &[
            &integer(3),
            &integer(5),
            &bulks(&["c", "b", "a", "d", "e"]),
            &integer(5),
            &bulk("c"),
            &bulk("e"),
            &bulks(&["b", "a", "d"]),
            &integer(4),
            &bulks(&["z", "b"]),
            &bulks(&["d", "a"]),
            &integer(0),
            &integer(0),
            "+none\r\n",
        ],
    );
    check(
        &[
            "LPOP missing",
            "RPOP missing",
            "LPOP missing 2",
            "RPOP missing 0",
            "RPUSH l a",
            "LPOP l 0",
            "LLEN l",
            "RPUSH l ",
            "RPOP l",
            "LLEN l",
        ],
        &[NULL, NULL, NULL_ARRAY, NULL_ARRAY, &integer(1), EMPTY_ARRAY, &integer(1), &integer(2), &bulk(""), &integer(1)],
    );
    check(
        &[
            "RPUSH l a",
            "LPOP l -1",
            "LPOP missing -1",
            "RPOP l x",
            "LPOP l 1 2",
            "LPOP",
            "RPOP",
            "LPUSH l",
            "RPUSH",
            "LLEN",
            "LLEN a b",
            "LLEN l",
        ],
        &[
            &integer(1),
            &error("ERR value is out of range, must be positive"),
            &error("ERR value is out of range, must be positive"),
            &error("ERR value is out of range, must be positive"),
            &arity("lpop"),
            &arity("lpop"),
            &arity("rpop"),
            &arity("lpush"),
            &arity("rpush"),
            &arity("llen"),
            &arity("llen"),
            &integer(1),
        ],
    );
}

#[test]
fn list_ranges_clamp_as_redis_does() {
    check(
        &[
            "RPUSH l a b c d e",
            "LRANGE l 0 0",
            "LRANGE l -2 -1",
            "LRANGE l -100 1",
            "LRANGE l 3 100",
            "LRANGE l 5 10",
            "LRANGE l 2 1",
            "LRANGE l -1 -2",
            "LRANGE l 0 -6",
            "LRANGE l 0 -5",
            "LRANGE l -9223372036854775808 9223372036854775807",
            "LRANGE missing 0 -1",
            "LRANGE l a 1",
            "LRANGE l 0 1.5",
            "LRANGE l 0",
            "LRANGE l 0 1 2",
        ],
        &[
            &integer(5),
            &bulks(&["a"]),
            &bulks(&["d", "e"]),
            &bulks(&["a", "b"]),
            &bulks(&["d", "e"]),
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            &bulks(&["a"]),
            &bulks(&["a", "b", "c", "d", "e"]),
            EMPTY_ARRAY,
            NOT_AN_INTEGER,
            NOT_AN_INTEGER,
            &arity("lrange"),
            &arity("lrange"),
        ],
    );
}

#[test]
fn hashes() {
    check(
        &[
            "HSET h a 1 b 2",
            "HSET h b 3 c 4",
            "HGET h b",
            "HGET h missing",
            "HGET nokey f",
            "HLEN h",
            "HGETALL h",
            "HDEL h a missing a",
            "HLEN h",
            "hdel h b c",
            "EXISTS h",
            "HGETALL h",
            "HLEN h",
            "HDEL h x",
            "TYPE h",
        ],
        &[
            &integer(2),
            &integer(1),
            &bulk("3"),
            NULL,
            NULL,
            &integer(3),
            &bulks(&["a", "1", "b", "3", "c", "4"]),
            &integer(1),
            &integer(2),
            &integer(2),
            &integer(0),
            EMPTY_ARRAY,
            &integer(0),
            &integer(0),
            "+none\r\n",
        ],
    );
    check(
        &[
            "HSET h f v f w",
            "HGET h f",
            "HLEN h",
            "HSET h a",
            "HSET h a 1 b",
            "HSET h",
            "HGET h",
            "HGET h a b",
            "HDEL h",
            "HGETALL",
            "HLEN",
            "HLEN h",
        ],
        &[
            &integer(1),
            &bulk("w"),
            &integer(1),
            &arity("hset"),
            &arity("hset"),
            &arity("hset"),
            &arity("hget"),
            &arity("hget"),
            &arity("hdel"),
            &arity("hgetall"),
            &arity("hlen"),
            &integer(1),
        ],
    );
}

#[test]
fn type_names_each_kind() {
    check(
        &["SET s v", "RPUSH l a", "HSET h f v", "TYPE s", "type l", "TYPE h", "TYPE none", "TYPE", "TYPE a b", "KEYS *", "INFO keyspace"],
        &[
            OK,
            &integer(1),
            &integer(1),
            "+string\r\n",
            "+list\r\n",
            "+hash\r\n",
            "+none\r\n",
            &arity("type"),
            &arity("type"),
            &bulks(&["h", "l", "s"]),
            &bulk("# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n"),
        ],
    );
}

#[test]
fn commands_on_the_wrong_type_reply_wrongtype_and_change_nothing() {
    check(
        &[
            "SET s v",
            "RPUSH l a",
            "HSET h f v",
            "GET l",
            "INCR l",
            "INCRBY h 1",
            "DECR l",
            "DECRBY h 1",
            "APPEND l x",
            "STRLEN h",
            "SET l v GET",
            "SET l v NX GET",
            "MGET s l h",
            "LPUSH s x",
            "RPUSH h x",
            "LPOP s",
            "RPOP h",
            "LPOP s 2",
            "LRANGE s 0 -1",
            "LLEN h",
            "HSET s f v",
            "HGET l f",
            "HDEL s f",
            "HGETALL l",
            "HLEN s",
            "INCRBY l x",
            "LPOP s -1",
            "LRANGE h a 1",
            "GET s",
            "LRANGE l 0 -1",
            "HGETALL h",
        ],
        &[
            OK,
            &integer(1),
            &integer(1),
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            &array(&[&bulk("v"), NULL, NULL]),
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            NOT_AN_INTEGER,
            &error("ERR value is out of range, must be positive"),
            NOT_AN_INTEGER,
            &bulk("v"),
            &bulks(&["a"]),
            &bulks(&["f", "v"]),
        ],
    );
    // SET and MSET replace a value of any type, and the generic commands work on every type.
    check(
        &[
            "RPUSH l a",
            "HSET h f v",
            "SET l v",
            "TYPE l",
            "MSET h x",
            "TYPE h",
            "RPUSH l2 a",
            "EXPIRE l2 10",
            "TTL l2",
            "DEL l2",
            "EXISTS l2",
        ],
        &[&integer(1), &integer(1), OK, "+string\r\n", OK, "+string\r\n", &integer(1), &integer(1), &integer(10), &integer(1), &integer(0)],
    );
}

#[test]
fn lists_and_hashes_expire() {
    check(
        &[
            "RPUSH l a",
            "EXPIRE l 10",
            "RPUSH l b",
            "TTL l",
            "HSET h f v",
            "PEXPIRE h 5",
            "HSET h g w",
            "PTTL h",
            "+6ms",
            "HGET h f",
            "HLEN h",
            "HSET h f v",
            "TTL h",
            "+10000ms",
            "LLEN l",
            "TYPE l",
            "RPUSH q a",
            "EXPIRE q 100",
            "LPOP q",
            "RPUSH q b",
            "TTL q",
        ],
        &[
            &integer(1),
            &integer(1),
            &integer(2),
            &integer(10),
            &integer(1),
            &integer(1),
            &integer(1),
            &integer(5),
            NULL,
            &integer(0),
            &integer(1),
            &integer(-1),
            &integer(0),
            "+none\r\n",
            &integer(1),
            &integer(1),
            &bulk("a"),
            &integer(1),
            &integer(-1),
        ],
    );
}

/// A state entry.
fn entry(value: ValueV3, expires_at_ms: Option<u64>) -> EntryV3 {
    EntryV3 { value, expires_at_ms }
}

/// Bytes in the state schema's form.
fn bytes(text: &str) -> ByteBuf {
    ByteBuf::from(text.as_bytes().to_vec())
}

#[test]
fn state_survives_export_and_import() {
    set_test_clock(START_MS);
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push(&["MSET", "a", "1", "empty", ""]);
    batch.push(&["SET", "ttl", "v", "EX", "100"]);
    batch.push(&["SET", "short", "v", "PX", "10"]);
    batch.push(&["RPUSH", "list", "x", "y", "x"]);
    batch.push(&["PEXPIRE", "list", "200000"]);
    batch.push(&["HSET", "hash", "f", "1", "g", "2"]);
    batch.push::<&[u8]>(&[b"SET", b"\xffbinary", b"\x00\x01"]);
    plugin.execute(batch.as_bytes());
    // The short-lived key expires; nothing touches it before the export, which keeps it.
    set_test_clock(START_MS + 11);
    let state = plugin.export_state().expect("export");
    assert_eq!(plugin.export_state().expect("export"), state, "exporting changes nothing");
    assert_eq!(state.entries.len(), 7);
    assert_eq!(state.entries[&bytes("ttl")], entry(ValueV3::String(bytes("v")), Some(START_MS + 100_000)));
    assert_eq!(state.entries[&bytes("short")], entry(ValueV3::String(bytes("v")), Some(START_MS + 10)));
    assert_eq!(state.entries[&bytes("list")], entry(ValueV3::List(vec![bytes("x"), bytes("y"), bytes("x")]), Some(START_MS + 200_000)));
    assert_eq!(
        state.entries[&bytes("hash")],
        entry(ValueV3::Hash(HashMap::from([(bytes("f"), bytes("1")), (bytes("g"), bytes("2"))])), None)
    );

    let imported = import(state.clone());
    assert_eq!(imported.export_state().expect("export"), state, "importing keeps expired keys too");
    assert_eq!(imported.key_count(), 6);
    check_batch(
        &imported,
        &["MGET a empty missing short", "PTTL ttl", "LRANGE list 0 -1", "PTTL list", "HGETALL hash", "TYPE hash"],
        &[
            &array(&[&bulk("1"), &bulk(""), NULL, NULL]),
            &integer(99_989),
            &bulks(&["x", "y", "x"]),
            &integer(199_989),
            &bulks(&["f", "1", "g", "2"]),
            "+hash\r\n",
        ],
    );
    let mut binary = CommandBatch::new();
    binary.push::<&[u8]>(&[b"GET", b"\xffbinary"]);
    assert_eq!(imported.execute(binary.as_bytes()), b"$2\r\n\x00\x01\r\n");
}

#[test]
fn state_with_far_expiries_reads_safely() {
    set_test_clock(START_MS);
    let state = KvStateV3 {
        entries: HashMap::from([
            (bytes("far"), entry(ValueV3::String(bytes("v")), Some(u64::MAX))),
            (bytes("past"), entry(ValueV3::List(vec![bytes("v")]), Some(0))),
        ]),
    };
    let plugin = import(state);
    check_batch(
        &plugin,
        &["TTL far", "PTTL far", "EXPIRETIME far", "EXPIRE far 10 GT", "EXPIRE far 10 LT", "TTL far", "LLEN past", "EXPIRE past 10"],
        &[
            &integer(i64::MAX / 1000),
            &integer(i64::MAX),
            &integer(i64::MAX / 1000),
            &integer(0),
            &integer(1),
            &integer(10),
            &integer(0),
            &integer(0),
        ],
    );
}

/// Runs `commands` as one batch on `plugin` and compares the replies.
fn check_batch(plugin: &KvV3, commands: &[&str], expected_replies: &[&str]) {
    let mut batch = CommandBatch::new();
    for command in commands {
        batch.push(&arguments(command));
    }
    assert_eq!(String::from_utf8_lossy(&plugin.execute(batch.as_bytes())), expected_replies.concat());
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
    set_test_clock(START_MS);
    let plugin = create();
    for _ in 0..20_000 {
        if random.below(16) == 0 {
            set_test_clock(test_clock() + random.below(3000));
        }
        let mut command = vec![random.pick(NAMES)];
        for _ in 0..random.below(7) {
            command.push(random.pick(ARGUMENTS));
        }
        let mut batch = CommandBatch::new();
        batch.push(&command);
        let reply = plugin.execute(batch.as_bytes());
        assert!(reply.ends_with(b"\r\n"), "{command:?} got a reply: {reply:?}");
    }
    let database = plugin.database();
    for entry in database.entries.values() {
        match &entry.value {
            crate::database::Value::List(list) => assert!(!list.is_empty(), "no list is left empty"),
            crate::database::Value::Hash(hash) => assert!(!hash.is_empty(), "no hash is left empty"),
            crate::database::Value::String(_) => {}
        }
    }
    drop(database);
    let state = plugin.export_state().expect("export");
    assert_eq!(import(state.clone()).export_state().expect("export"), state);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    check(&["SET k v", "GET k", "PING"], &[OK, &bulk("w"), "+PONG\r\n"]);
}
