//! Conformance cases shared by every kv plugin version: commands and the RESP2 replies Redis 7 gives
//! to them, grouped by feature, so that each version's unit tests run the groups it supports.
//! Test-only: the versions take this crate as a dev-dependency, so none of it (cases, runner, test
//! clock, shared tests) is in a plugin library, in `kv-server` or in the `kv-interface` contract.
//!
//! A case is a script of steps run in order on a fresh instance whose clock starts at [`START_MS`].
//! A step is a command written as text and split at single spaces (see [`arguments`]), or `+<n>ms`
//! (see [`clock_step`]), which moves the test clock forward by `n` milliseconds; the commands
//! between two clock steps go to the plugin as one batch. Each command has one expected reply.
//! Only the [`expiry`] and [`value_types`] groups use clock steps.
//!
//! The integration test `differential` (crate `ecdysis-tests`) also sends every case to kv-server
//! and to a real redis-server, and checks both the recorded replies and kv-server's against Redis's
//! (see [`differential`] for the declared differences); cases made with `timed_case` depend on the
//! exact time and are left to the unit tests.
//!
//! The tests every version shares beyond conformance cases (batches as bytes, INFO's version lines,
//! expiry sweeps, the state round trip, randomized commands) are in [`shared`], generic over the
//! version under test.

#![forbid(unsafe_code)]

pub mod differential;
pub mod shared;

/// `+OK`.
pub const OK: &str = "+OK\r\n";
/// The null bulk string.
pub const NULL: &str = "$-1\r\n";
/// The null array.
pub const NULL_ARRAY: &str = "*-1\r\n";
/// The empty array.
pub const EMPTY_ARRAY: &str = "*0\r\n";
/// Redis's syntax error.
pub const SYNTAX_ERROR: &str = "-ERR syntax error\r\n";
/// Redis's error for an argument or a value that is not an integer.
pub const NOT_AN_INTEGER: &str = "-ERR value is not an integer or out of range\r\n";
/// Redis's error for an increment that overflows.
pub const OVERFLOW: &str = "-ERR increment or decrement would overflow\r\n";
/// Redis's error for a command on a key of the wrong type.
pub const WRONG_TYPE: &str = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";

/// The time the test clock starts at: 2023-11-14T22:13:20Z, in milliseconds since the Unix epoch.
pub const START_MS: u64 = 1_700_000_000_000;

/// A bulk string reply.
#[must_use]
pub fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// An integer reply.
#[must_use]
pub fn integer(value: i64) -> String {
    format!(":{value}\r\n")
}

/// An error reply.
#[must_use]
pub fn error(message: &str) -> String {
    format!("-{message}\r\n")
}

/// The wrong-arity error of `command`.
#[must_use]
pub fn arity(command: &str) -> String {
    error(&format!("ERR wrong number of arguments for '{command}' command"))
}

/// An array reply of replies written with the helpers above.
#[must_use]
pub fn array(items: &[&str]) -> String {
    format!("*{}\r\n{}", items.len(), items.concat())
}

/// An array reply of bulk strings.
#[must_use]
pub fn bulks(items: &[&str]) -> String {
    format!("*{}\r\n{}", items.len(), items.iter().map(|item| bulk(item)).collect::<String>())
}

/// Splits a command written as text at single spaces: `"SET k "` passes an empty value.
#[must_use]
pub fn arguments(command: &str) -> Vec<&str> {
    command.split(' ').collect()
}

/// The milliseconds a clock step `+<n>ms` moves the test clock forward by, or `None` when `step`
/// is a command.
#[must_use]
pub fn clock_step(step: &str) -> Option<u64> {
    step.strip_prefix('+')?.strip_suffix("ms")?.parse().ok()
}

/// One conformance case: steps and the reply expected to each command among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// What the case is about, for failure messages.
    pub name: &'static str,
    /// The steps: commands and clock steps.
    pub steps: Vec<String>,
    /// One complete RESP2 reply per command, in order.
    pub replies: Vec<String>,
    /// Whether the replies depend on the exact time the test clock reads (a PTTL value, an
    /// EXPIRETIME, an EXAT near [`START_MS`], a key read exactly at its expiry): such a case is
    /// checked on the test clock by the unit tests only, and the differential run against a real
    /// redis-server skips it. The clock steps of the other cases become real sleeps there.
    pub time_dependent: bool,
}

impl Case {
    /// The steps as string slices, the form a version's `check` helper takes.
    #[must_use]
    pub fn steps(&self) -> Vec<&str> {
        self.steps.iter().map(String::as_str).collect()
    }

    /// The expected replies as string slices.
    #[must_use]
    pub fn replies(&self) -> Vec<&str> {
        self.replies.iter().map(String::as_str).collect()
    }
}

/// Makes a case whose replies do not depend on the exact time: the differential run sends it to a
/// real redis-server too, each clock step a real sleep.
fn case(name: &'static str, steps: &[&str], replies: &[&str]) -> Case {
    Case {
        name,
        steps: steps.iter().map(|step| (*step).to_owned()).collect(),
        replies: replies.iter().map(|reply| (*reply).to_owned()).collect(),
        time_dependent: false,
    }
}

/// Makes a case whose replies depend on the exact time the test clock reads (see
/// [`Case::time_dependent`]): only the unit tests run it.
fn timed_case(name: &'static str, steps: &[&str], replies: &[&str]) -> Case {
    Case { time_dependent: true, ..case(name, steps, replies) }
}

/// The command names a randomized test picks from: every command of every version, and unknown
/// ones.
pub const RANDOM_COMMAND_NAMES: &[&str] = &[
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
    "ZADD",
    "ZINCRBY",
    "ZREM",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZRANGE",
    "ZREVRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZRANGESTORE",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANK",
    "ZREVRANK",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYLEX",
    "ZUNION",
    "ZINTER",
    "ZDIFF",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZINTERCARD",
    "ZRANDMEMBER",
    "ZSCAN",
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "LPUSHX",
    "RPUSHX",
    "LINDEX",
    "LSET",
    "LINSERT",
    "LPOS",
    "LREM",
    "LTRIM",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    "HMSET",
    "HMGET",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HVALS",
    "HEXISTS",
    "HSETNX",
    "HSTRLEN",
    "HRANDFIELD",
    "SMOVE",
    "SINTER",
    "SINTERCARD",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SSCAN",
    "SETEX",
    "PSETEX",
    "SETNX",
    "GETSET",
    "GETEX",
    "GETDEL",
    "SETRANGE",
    "GETRANGE",
    "SUBSTR",
    "INCRBYFLOAT",
    "MSETNX",
    "LCS",
    "RENAME",
    "RENAMENX",
    "COPY",
    "RANDOMKEY",
    "SCAN",
    "TOUCH",
    "OBJECT",
    "HSCAN",
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
];

/// The arguments a randomized test picks from.
pub const RANDOM_ARGUMENTS: &[&str] = &[
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
    "LEFT",
    "RIGHT",
    "BEFORE",
    "RANK",
    "MAXLEN",
    "WITHVALUES",
    "inf",
    "1e4932",
    "0x1p3",
];

thread_local! {
    /// The test clock of [`check`] and of the versions' tests. Each test runs on its own thread, so
    /// tests do not move each other's clocks.
    static TEST_NOW_MS: std::cell::Cell<u64> = const { std::cell::Cell::new(START_MS) };
}

/// Reads the test clock; versions with expiry install this as their clock in tests.
#[must_use]
pub fn test_clock() -> u64 {
    TEST_NOW_MS.with(std::cell::Cell::get)
}

/// Sets the test clock.
pub fn set_test_clock(now_ms: u64) {
    TEST_NOW_MS.with(|now| now.set(now_ms));
}

/// Runs `commands` on an instance made by `create` with the test clock at [`START_MS`], and
/// compares the replies with `expected_replies` (one complete RESP2 reply per command). The
/// commands between two clock steps (`+<n>ms`) go as one batch. On a mismatch, replays the
/// commands one at a time on a fresh instance to name the first command whose reply differs.
///
/// # Panics
/// When a reply differs: that is the test failing.
pub fn check<K: kv_interface::Kv>(commands: &[&str], expected_replies: &[&str], create: impl Fn() -> K) {
    let command_count = commands.iter().filter(|step| clock_step(step).is_none()).count();
    assert_eq!(command_count, expected_replies.len(), "one expected reply per command");
    set_test_clock(START_MS);
    let plugin = create();
    let mut replies = Vec::new();
    let mut batch = kv_interface::CommandBatch::new();
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
        let mut single = kv_interface::CommandBatch::new();
        single.push(&arguments(step));
        let reply = String::from_utf8_lossy(&replay.execute(single.as_bytes())).into_owned();
        assert_eq!(Some(reply.as_str()), expected_replies.next().copied(), "reply to {step:?} (after the commands before it)");
    }
    panic!("the batches replied {:?}, their commands one at a time replied as expected", String::from_utf8_lossy(&replies));
}

/// Runs every case of a conformance group through [`check`].
///
/// # Panics
/// When a case fails.
pub fn check_cases<K: kv_interface::Kv>(cases: Vec<Case>, create: impl Fn() -> K) {
    for case in cases {
        check(&case.steps(), &case.replies(), &create);
    }
}

/// A small deterministic random number generator (xorshift64*), so that randomized tests repeat.
#[derive(Clone, Debug)]
pub struct Random(pub u64);

impl Random {
    /// A number below `bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The string commands of version 1 on: GET, SET with NX and XX, INCR and its kin, MGET, MSET,
/// APPEND and STRLEN.
#[must_use]
pub fn strings() -> Vec<Case> {
    vec![
        case("get_and_set", &["SET k v", "GET k", "GET missing", "set k w", "gEt k"], &[OK, &bulk("v"), NULL, OK, &bulk("w")]),
        case("get_and_set", &["SET k ", "GET k", "STRLEN k"], &[OK, &bulk(""), &integer(0)]),
        case("get_and_set", &["SET k", "SET", "GET", "GET a b"], &[&arity("set"), &arity("set"), &arity("get"), &arity("get")]),
        case(
            "set_conditions",
            &[
                "SET k v NX",
                "SET k w NX",
                "GET k",
                "SET k w XX",
                "GET k",
                "SET other v XX",
                "EXISTS other",
                "SET k x nx nx",
                "SET k x xx XX",
            ],
            &[OK, NULL, &bulk("v"), OK, &bulk("w"), NULL, &integer(0), NULL, OK],
        ),
        case(
            "set_conditions",
            &["SET k v NX XX", "SET k v XX NX", "SET k v bogus", "EXISTS k"],
            &[SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, &integer(0)],
        ),
        case(
            "increments_and_decrements",
            &["INCR n", "INCR n", "INCRBY n 10", "DECR n", "DECRBY n 20", "GET n", "incrby n -1", "decrby fresh 5"],
            &[&integer(1), &integer(2), &integer(12), &integer(11), &integer(-9), &bulk("-9"), &integer(-10), &integer(-5)],
        ),
        case(
            "increments_and_decrements",
            &["INCRBY n x", "INCRBY n 1.5", "INCRBY n +1", "INCRBY n 01", "INCRBY n 9223372036854775808", "DECRBY n ", "EXISTS n"],
            &[NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, NOT_AN_INTEGER, &integer(0)],
        ),
        case(
            "increments_and_decrements",
            &["SET s abc", "INCR s", "SET z 007", "INCR z", "SET space 1 ", "SET padded  1", "INCR padded", "SET e ", "INCR e"],
            &[OK, NOT_AN_INTEGER, OK, NOT_AN_INTEGER, SYNTAX_ERROR, SYNTAX_ERROR, &integer(1), OK, NOT_AN_INTEGER],
        ),
        case(
            "increments_and_decrements",
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
            &[
                OK,
                OVERFLOW,
                OK,
                OVERFLOW,
                OVERFLOW,
                &error("ERR decrement would overflow"),
                &integer(i64::MIN),
                &bulk("9223372036854775807"),
            ],
        ),
        case(
            "increments_and_decrements",
            &["INCR", "INCR a b", "DECR", "INCRBY a", "DECRBY a", "DECRBY a 1 2"],
            &[&arity("incr"), &arity("incr"), &arity("decr"), &arity("incrby"), &arity("decrby"), &arity("decrby")],
        ),
        case(
            "multiple_keys_at_once",
            &["MSET a 1 b 2", "MGET a b c", "MSET a 3 a 4", "GET a", "mget a"],
            &[OK, &array(&[&bulk("1"), &bulk("2"), NULL]), OK, &bulk("4"), &array(&[&bulk("4")])],
        ),
        case(
            "multiple_keys_at_once",
            &["MSET a", "MSET a 1 b", "MSET", "MGET", "EXISTS a"],
            &[&arity("mset"), &arity("mset"), &arity("mset"), &arity("mget"), &integer(0)],
        ),
        case(
            "append_and_strlen",
            &["APPEND k hello", "APPEND k _world", "GET k", "STRLEN k", "STRLEN missing", "SET n 1", "APPEND n 2", "INCR n"],
            &[&integer(5), &integer(11), &bulk("hello_world"), &integer(11), &integer(0), OK, &integer(2), &integer(13)],
        ),
        case(
            "append_and_strlen",
            &["APPEND k", "APPEND k a b", "STRLEN", "STRLEN a b"],
            &[&arity("append"), &arity("append"), &arity("strlen"), &arity("strlen")],
        ),
    ]
}

/// The keyspace commands: DEL, UNLINK, EXISTS, KEYS, DBSIZE, FLUSHALL and FLUSHDB.
#[must_use]
pub fn keyspace() -> Vec<Case> {
    vec![
        case(
            "deleting_and_counting_keys",
            &["MSET a 1 b 2 c 3", "DEL a a b missing", "EXISTS a b c c missing", "DBSIZE", "UNLINK c", "DBSIZE", "DEL", "UNLINK", "EXISTS"],
            &[OK, &integer(2), &integer(2), &integer(1), &integer(1), &integer(0), &arity("del"), &arity("unlink"), &arity("exists")],
        ),
        case("deleting_and_counting_keys", &["DBSIZE x"], &[&arity("dbsize")]),
        case(
            "keys_match_globs_and_come_sorted",
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
        ),
        case(
            "flushing",
            &[
                "MSET a 1 b 2",
                "FLUSHALL",
                "DBSIZE",
                "SET a 1",
                "FLUSHALL ASYNC",
                "SET a 1",
                "flushall sync",
                "SET a 1",
                "FLUSHDB",
                "DBSIZE",
            ],
            &[OK, OK, &integer(0), OK, OK, OK, OK, OK, OK, &integer(0)],
        ),
        case("flushing", &["SET a 1", "FLUSHALL bogus", "FLUSHALL ASYNC SYNC", "DBSIZE"], &[OK, SYNTAX_ERROR, SYNTAX_ERROR, &integer(1)]),
    ]
}

/// The server and connection commands (PING, ECHO, SELECT, CONFIG, COMMAND, CLIENT, the sections of
/// INFO that do not name the version) and unknown commands.
#[must_use]
pub fn server() -> Vec<Case> {
    let long = "a".repeat(93);
    vec![
        case(
            "ping_echo_and_select",
            &["PING", "ping hello", "PING a b", "ECHO hi", "ECHO", "ECHO a b"],
            &["+PONG\r\n", &bulk("hello"), &arity("ping"), &bulk("hi"), &arity("echo"), &arity("echo")],
        ),
        case(
            "ping_echo_and_select",
            &["SELECT 0", "SELECT 1", "SELECT -1", "SELECT x", "SELECT 99999999999", "SELECT"],
            &[
                OK,
                &error("ERR DB index is out of range"),
                &error("ERR DB index is out of range"),
                NOT_AN_INTEGER,
                &error("ERR value is out of range, value must between -2147483648 and 2147483647"),
                &arity("select"),
            ],
        ),
        case(
            "config_command_and_client",
            &["CONFIG GET save", "CONFIG GET *", "config get MAX*", "CONFIG GET save appendonly save", "CONFIG GET nothing"],
            &[
                &bulks(&["save", ""]),
                &bulks(&["save", "", "appendonly", "no", "maxmemory", "0", "databases", "16"]),
                &bulks(&["maxmemory", "0"]),
                &bulks(&["save", "", "appendonly", "no"]),
                EMPTY_ARRAY,
            ],
        ),
        case(
            "config_command_and_client",
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
        ),
        case(
            "config_command_and_client",
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
        ),
        case(
            "config_command_and_client",
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
        ),
        case(
            "info_reports_the_version_and_the_keyspace",
            &["INFO keyspace", "SET a 1", "INFO KEYSPACE", "INFO bogus", "INFO replication"],
            &[
                &bulk("# Keyspace\r\n"),
                OK,
                &bulk("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"),
                &bulk(""),
                &bulk("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"),
            ],
        ),
        case(
            "unknown_and_empty_commands",
            &["FOO a b", ""],
            &[
                &error("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "),
                &error("ERR unknown command '', with args beginning with: "),
            ],
        ),
        // Redis quotes arguments up to 128 bytes in all, cutting the one that crosses the limit.
        case(
            "unknown_and_empty_commands",
            &[&format!("FOO {long} {} ccc", "b".repeat(40)), "BAR 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"],
            &[
                &error(&format!("ERR unknown command 'FOO', with args beginning with: '{long}' '{}' ", "b".repeat(32))),
                &error(
                    "ERR unknown command 'BAR', with args beginning with: '1' '2' '3' '4' '5' '6' '7' '8' '9' '10' '11' '12' '13' '14' '15' '16' '17' '18' '19' '20' ",
                ),
            ],
        ),
    ]
}

/// Expiry, from version 2 on: SET with GET and the expiry options, EXPIRE and its kin, TTL and its
/// kin, PERSIST, and keys that expire as the clock moves.
#[must_use]
pub fn expiry() -> Vec<Case> {
    let invalid = error("ERR invalid expire time in 'set' command");
    vec![
        timed_case(
            "set_with_expiry",
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
        ),
        timed_case(
            "set_with_expiry",
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
        ),
        // An expiry already in the past leaves the key missing, replacing whatever was there.
        case(
            "set_with_expiry",
            &["SET k v", "SET k w EXAT 1", "GET k", "EXISTS k", "SET k w PXAT 1699999999999", "DBSIZE"],
            &[OK, OK, NULL, &integer(0), OK, &integer(0)],
        ),
        case(
            "set_with_expiry",
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
        ),
        timed_case(
            "set_with_expiry",
            &["SET k v PX 100", "+100ms", "GET k", "PTTL k", "+1ms", "GET k", "TTL k", "SET k v NX", "TTL k"],
            &[OK, &bulk("v"), &integer(0), NULL, &integer(-2), OK, &integer(-1)],
        ),
        case(
            "set_expiry_errors",
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
        ),
        case(
            "set_expiry_errors",
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
        ),
        case(
            "set_get_returns_the_old_value",
            &[
                "SET k v GET",
                "SET k w get",
                "SET k x NX GET",
                "GET k",
                "SET missing v XX GET",
                "EXISTS missing",
                "SET k y GET EX 5",
                "TTL k",
            ],
            &[NULL, &bulk("v"), &bulk("w"), &bulk("w"), NULL, &integer(0), &bulk("w"), &integer(5)],
        ),
        timed_case(
            "expire_and_pexpire",
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
        ),
        // An expiry at or before now deletes the key and replies 1.
        case(
            "expire_and_pexpire",
            &["SET k v", "EXPIRE k 0", "EXISTS k", "SET k v", "EXPIRE k -5", "GET k", "SET k v", "PEXPIREAT k 1700000000000", "EXISTS k"],
            &[OK, &integer(1), &integer(0), OK, &integer(1), NULL, OK, &integer(1), &integer(0)],
        ),
        case(
            "expire_and_pexpire",
            &["SET k v", "EXPIREAT k 1", "DBSIZE", "SET k v", "PEXPIRE k -9223372036854775808", "DBSIZE", "EXPIRE missing -1"],
            &[OK, &integer(1), &integer(0), OK, &integer(1), &integer(0), &integer(0)],
        ),
        case(
            "expire_conditions",
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
                "EXPIRE k 140 XX GT",
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
        ),
        // An expiry equal to the current one is neither greater nor less: on a real clock, the second
        // EXPIRE may come a millisecond later and be greater.
        timed_case(
            "expire_conditions",
            &["SET k v", "EXPIRE k 150", "EXPIRE k 150 GT", "EXPIRE k 150 LT", "TTL k"],
            &[OK, &integer(1), &integer(0), &integer(0), &integer(150)],
        ),
        case(
            "expire_errors",
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
        ),
        case(
            "ttl_and_persist",
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
        ),
        case(
            "ttl_and_persist",
            &["PERSIST missing", "SET k v", "PERSIST k", "EXPIRE k 10", "PERSIST k", "TTL k", "PERSIST k", "GET k"],
            &[&integer(0), OK, &integer(0), &integer(1), &integer(1), &integer(-1), &integer(0), &bulk("v")],
        ),
        case(
            "ttl_and_persist",
            &["TTL", "TTL a b", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST", "PERSIST a b"],
            &[
                &arity("ttl"),
                &arity("ttl"),
                &arity("pttl"),
                &arity("expiretime"),
                &arity("pexpiretime"),
                &arity("persist"),
                &arity("persist"),
            ],
        ),
        // TTL rounds to the nearest second as the clock moves.
        timed_case(
            "ttl_and_persist",
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
        ),
        case(
            "writes_keep_or_clear_the_time_to_live",
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
        ),
        case(
            "expired_keys_behave_as_missing",
            &[
                "MSET a 1 b 2 c 3 d 4 e 5",
                "PEXPIRE a 10",
                "PEXPIRE b 10",
                "PEXPIRE c 10",
                "PEXPIRE d 10",
                "PEXPIRE e 10",
                "SET forever v",
                "SET later v PX 100000",
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
        ),
    ]
}

/// The list commands, from version 3 on: LPUSH, RPUSH, LPOP, RPOP, LRANGE and LLEN.
#[must_use]
pub fn lists() -> Vec<Case> {
    vec![
        case(
            "list_pushes_and_pops",
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
        ),
        case(
            "list_pushes_and_pops",
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
        ),
        case(
            "list_pushes_and_pops",
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
        ),
        case(
            "list_ranges_clamp_as_redis_does",
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
        ),
    ]
}

/// The hash commands, from version 3 on: HSET, HGET, HDEL, HGETALL and HLEN.
#[must_use]
pub fn hashes() -> Vec<Case> {
    vec![
        case(
            "hashes",
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
        ),
        case(
            "hashes",
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
        ),
    ]
}

/// Keys of several types, from version 3 on: TYPE, WRONGTYPE replies, and lists and hashes that
/// expire.
#[must_use]
pub fn value_types() -> Vec<Case> {
    vec![
        case(
            "type_names_each_kind",
            &[
                "SET s v",
                "RPUSH l a",
                "HSET h f v",
                "TYPE s",
                "type l",
                "TYPE h",
                "TYPE none",
                "TYPE",
                "TYPE a b",
                "KEYS *",
                "INFO keyspace",
            ],
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
        ),
        case(
            "commands_on_the_wrong_type_reply_wrongtype_and_change_nothing",
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
        ),
        // SET and MSET replace a value of any type, and the generic commands work on every type.
        case(
            "commands_on_the_wrong_type_reply_wrongtype_and_change_nothing",
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
            &[
                &integer(1),
                &integer(1),
                OK,
                "+string\r\n",
                OK,
                "+string\r\n",
                &integer(1),
                &integer(1),
                &integer(10),
                &integer(1),
                &integer(0),
            ],
        ),
        timed_case(
            "lists_and_hashes_expire",
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
        ),
    ]
}
