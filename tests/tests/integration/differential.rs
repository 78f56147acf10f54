//! Differential tests: the same command scripts go to `kv-server` (on kv v4) and to a real
//! `redis-server`, one command at a time, and their replies are compared, byte for byte or, where
//! Redis leaves the order unspecified, with every array taken as a multiset of its elements.
//!
//! Two kinds of script run here, one test a family. The differential tables of
//! `kv_conformance::differential` (lists, hashes, sets, sorted sets, blocking commands) say for each step how its replies compare
//! (`Compare::Exact`, `Compare::Unordered`, or `Compare::Differs` with the reason kv differs). The
//! conformance cases of `kv_conformance` (strings, keyspace, server, expiry, lists, hashes, value
//! types) carry the replies recorded for the unit tests: here kv-server's reply must agree with
//! Redis's, and so must the recorded one, so that the hand-written expectations are checked against
//! Redis itself. How each of their commands compares is declared in data next to the tables
//! (`CONFORMANCE_DIFFERENCES`, each with its reason, and `CONFORMANCE_UNORDERED`); a declared
//! difference whose replies never differ in the run fails it, so that the list stays true. Redis
//! runs with its active expiry cycle off, so that which expired keys it still counts does not
//! depend on when the cycle ran. A clock step of a case becomes a real sleep; the cases whose
//! replies depend on the exact time (`Case::time_dependent`) are skipped and listed, since only the
//! unit tests' clock can be moved exactly.
//!
//! Each test starts its own pair of servers on free ports of 127.0.0.1, and every script runs on
//! fresh connections after a FLUSHALL of both. Without `redis-server` on PATH, each test prints
//! that it skipped and passes.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kv_conformance::differential::{Compare, Difference, Script, conformance_compare, conformance_difference};
use kv_conformance::{Case, NULL, arguments, array, bulk, bulks, clock_step};

use super::kv::{KvServer, PATIENCE, find_on_path};

/// What each test prints when `redis-server` is not installed.
const REDIS_SERVER_MISSING: &str = "skipped: redis-server not found; install Debian's redis-server (apt-get install redis-server)";

/// Why the time-dependent conformance cases are skipped.
const TIME_DEPENDENT: &str = "time-dependent: checked on the test clock by the unit tests";

/// How long one `redis-server` may take to answer PING.
const REDIS_SERVER_STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// How many times a `redis-server` is started on a fresh free port before the test fails: the port
/// found free may be taken by another process before Redis binds it.
const REDIS_SERVER_START_ATTEMPTS: usize = 5;

/// How often a starting `redis-server` is asked again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The longest header line of a reply the framer reads (`$<length>`, `*<count>`, or a whole
/// simple string or error).
const LONGEST_REPLY_LINE: u64 = 64 * 1024;

/// The longest bulk string the framer accepts.
const LONGEST_BULK_STRING: usize = 16 * 1024 * 1024;

/// A `redis-server` child process on a free port of 127.0.0.1, without persistence, in a temporary
/// directory that also holds its log. Dropping it kills the process and waits for it.
struct RedisServer {
    child: Child,
    port: u16,
    directory: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `binary` and waits until it answers, trying again on another free port when it
    /// fails to start. Its active expiry cycle is off, so that it reclaims expired keys only when
    /// they are accessed: which expired keys it still counts (DBSIZE, INFO keyspace) does not depend
    /// on when its cycle happened to run.
    fn start(binary: &Path) -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..REDIS_SERVER_START_ATTEMPTS {
            match RedisServer::try_start(binary) {
                Ok(server) => {
                    let turned_off = Connection::connect(server.port, "redis-server").request("DEBUG SET-ACTIVE-EXPIRE 0");
                    assert_eq!(turned_off, b"+OK\r\n", "redis-server turns its active expiry cycle off");
                    return server;
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!("redis-server did not start in {REDIS_SERVER_START_ATTEMPTS} attempts:\n{}", failures.join("\n"))
    }

    /// Starts `binary` once, on a port that was free a moment before, and waits (at most
    /// [`REDIS_SERVER_STARTUP_DEADLINE`]) until it answers PING and names its own process id.
    fn try_start(binary: &Path) -> Result<RedisServer, String> {
        let directory = tempfile::Builder::new()
            .prefix("ecdysis-differential-redis-")
            .tempdir()
            .map_err(|error| format!("no temporary directory for redis-server: {error}"))?;
        // Redis refuses `--port 0`: take a port the system hands out, and give it back for Redis.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("no free port: {error}"))?
            .port();
        let log = File::create(directory.path().join("redis-server.log")).map_err(|error| format!("no log file: {error}"))?;
        let log_for_stderr = log.try_clone().map_err(|error| format!("no log file: {error}"))?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"])
            // DEBUG from 127.0.0.1, to turn the active expiry cycle off (see `RedisServer::start`).
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(directory.path())
            .current_dir(directory.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        let mut server = RedisServer { child, port, directory };
        let deadline = Instant::now() + REDIS_SERVER_STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited at once ({status}) on port {port}; its log:\n{}", server.log()));
            }
            if server.answers() {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "redis-server did not answer on port {port} within {REDIS_SERVER_STARTUP_DEADLINE:?}; its log:\n{}",
                    server.log()
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether this very process answers on the port: PING gets PONG, and INFO names its process
    /// id (so that another server that took the port in between is not mistaken for it).
    fn answers(&self) -> bool {
        let Ok(mut connection) = Connection::open(self.port, "redis-server", POLL_INTERVAL * 50) else { return false };
        let Ok(pong) = connection.try_request("PING") else { return false };
        let Ok(information) = connection.try_request("INFO server") else { return false };
        pong == b"+PONG\r\n" && String::from_utf8_lossy(&information).contains(&format!("\r\nprocess_id:{}\r\n", self.child.id()))
    }

    /// What the server logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.directory.path().join("redis-server.log")).unwrap_or_default()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply as a tree: arrays hold their elements, every other reply (and a null array) is a leaf
/// holding its bytes. Ordered, so that the elements of an array can be sorted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reply {
    /// A simple string, an error, an integer, a bulk string or a null: its bytes, CRLFs included.
    Leaf(Vec<u8>),
    /// An array of replies.
    Array(Vec<Reply>),
}

impl Reply {
    /// The reply with the elements of every array, at any depth, in one canonical order.
    fn canonical(self) -> Reply {
        match self {
            Reply::Leaf(bytes) => Reply::Leaf(bytes),
            Reply::Array(elements) => {
                let mut elements: Vec<Reply> = elements.into_iter().map(Reply::canonical).collect();
                elements.sort();
                Reply::Array(elements)
            }
        }
    }

    /// Parses `bytes`, which must hold exactly one complete RESP2 reply.
    fn parse(mut bytes: &[u8]) -> Result<Reply, String> {
        let reply = read_reply(&mut bytes, &mut Vec::new())?;
        if bytes.is_empty() { Ok(reply) } else { Err(format!("{} bytes after the reply", bytes.len())) }
    }
}

/// Reads exactly one complete RESP2 reply from `reader` (a simple string, an error, an integer, a
/// bulk string or an array, nulls and nesting included), appends its bytes to `raw` and returns it
/// as a tree.
fn read_reply(reader: &mut impl BufRead, raw: &mut Vec<u8>) -> Result<Reply, String> {
    let start = raw.len();
    Read::take(&mut *reader, LONGEST_REPLY_LINE).read_until(b'\n', raw).map_err(|error| format!("reading a reply: {error}"))?;
    let line = &raw[start..];
    let Some(header) = line.strip_suffix(b"\r\n").and_then(|line| line.get(1..)) else {
        return Err(format!("a reply line cut short or without CRLF: {}", line.escape_ascii()));
    };
    let length = || -> Result<i64, String> {
        std::str::from_utf8(header)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("a bad length in {}", line.escape_ascii()))
    };
    match line[0] {
        b'+' | b'-' | b':' => Ok(Reply::Leaf(line.to_vec())),
        b'$' => {
            let length = length()?;
            if length == -1 {
                return Ok(Reply::Leaf(line.to_vec()));
            }
            let length = usize::try_from(length).ok().filter(|length| *length <= LONGEST_BULK_STRING);
            let length = length.ok_or_else(|| format!("a bulk string length out of range: {}", line.escape_ascii()))?;
            let mut body = vec![0; length + 2];
            reader.read_exact(&mut body).map_err(|error| format!("reading a bulk string of {length} bytes: {error}"))?;
            if !body.ends_with(b"\r\n") {
                return Err(format!("a bulk string without its CRLF: {}", body.escape_ascii()));
            }
            raw.extend_from_slice(&body);
            Ok(Reply::Leaf(raw[start..].to_vec()))
        }
        b'*' => {
            let count = length()?;
            if count == -1 {
                return Ok(Reply::Leaf(line.to_vec()));
            }
            let count = usize::try_from(count).map_err(|_| format!("a negative array length: {}", line.escape_ascii()))?;
            let elements = (0..count).map(|_| read_reply(reader, raw)).collect::<Result<_, _>>()?;
            Ok(Reply::Array(elements))
        }
        _ => Err(format!("not a RESP2 reply: {}", line.escape_ascii())),
    }
}

/// A raw RESP2 client connection: commands go as multibulk arrays, so that every argument passes
/// exactly, and each command's reply is read whole, as bytes.
struct Connection {
    reader: BufReader<TcpStream>,
    server: &'static str,
}

impl Connection {
    /// Connects to `server` (a name for messages) on `port` of 127.0.0.1, with reads and writes
    /// that fail after `patience`.
    fn open(port: u16, server: &'static str, patience: Duration) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(patience))?;
        stream.set_write_timeout(Some(patience))?;
        stream.set_nodelay(true)?;
        Ok(Connection { reader: BufReader::new(stream), server })
    }

    /// Connects to `server` on `port`, with replies awaited at most [`PATIENCE`].
    fn connect(port: u16, server: &'static str) -> Connection {
        Connection::open(port, server, PATIENCE).unwrap_or_else(|error| panic!("cannot connect to {server} on port {port}: {error}"))
    }

    /// Sends `command` (split at single spaces, see `kv_conformance::arguments`) and reads its
    /// reply.
    fn try_request(&mut self, command: &str) -> Result<Vec<u8>, String> {
        let words = arguments(command);
        let mut request = format!("*{}\r\n", words.len()).into_bytes();
        for word in words {
            request.extend_from_slice(format!("${}\r\n{word}\r\n", word.len()).as_bytes());
        }
        self.reader.get_mut().write_all(&request).map_err(|error| format!("sending {command:?}: {error}"))?;
        let mut raw = Vec::new();
        read_reply(&mut self.reader, &mut raw)?;
        Ok(raw)
    }

    /// [`Connection::try_request`], failing the test when no complete reply comes.
    fn request(&mut self, command: &str) -> Vec<u8> {
        self.try_request(command).unwrap_or_else(|error| panic!("{}: no reply to {command:?}: {error}", self.server))
    }
}

/// What the run does at one step of a script.
enum Action {
    /// Waits, in place of a conformance case's clock step.
    Sleep(Duration),
    /// Sends a command to both servers and compares the replies as `compare` says; `recorded` is
    /// the reply a conformance case expects, which must agree with Redis's too, and `declared` the
    /// conformance cases' declared difference that `compare` comes from.
    Command { command: String, compare: Compare, recorded: Option<String>, declared: Option<&'static Difference> },
}

/// A script as the run takes it: a name for messages and one action a step.
struct Plan {
    name: String,
    actions: Vec<Action>,
}

/// The plans of a differential table's scripts.
fn plans_of_scripts(scripts: Vec<Script>) -> Vec<Plan> {
    let plan = |script: Script| Plan {
        name: script.name.to_owned(),
        actions: script
            .steps
            .into_iter()
            .map(|step| Action::Command { command: step.command, compare: step.compare, recorded: None, declared: None })
            .collect(),
    };
    scripts.into_iter().map(plan).collect()
}

/// The plans of a conformance group's cases: each case's commands compared as
/// `conformance_compare` says, with its recorded replies, and its clock steps as sleeps. The
/// time-dependent cases are left out, and printed with the reason.
fn plans_of_cases(group: &str, cases: Vec<Case>) -> Vec<Plan> {
    let mut plans = Vec::new();
    for (index, case) in cases.into_iter().enumerate() {
        let name = format!("{} (case {} of the group)", case.name, index + 1);
        if case.time_dependent {
            println!("{group}: skipped {name}: {TIME_DEPENDENT}");
            continue;
        }
        let mut recorded = case.replies.into_iter();
        let mut actions = Vec::new();
        for step in case.steps {
            let action = match clock_step(&step) {
                Some(milliseconds) => Action::Sleep(Duration::from_millis(milliseconds)),
                None => Action::Command {
                    compare: conformance_compare(case.name, &step),
                    declared: conformance_difference(case.name, &step),
                    recorded: recorded.next(),
                    command: step,
                },
            };
            actions.push(action);
        }
        plans.push(Plan { name, actions });
    }
    plans
}

/// Whether two replies agree as `compare` says; a reply that does not parse agrees with nothing.
fn agree(compare: &Compare, left: &[u8], right: &[u8]) -> bool {
    match compare {
        Compare::Exact | Compare::Differs(_) => left == right,
        Compare::Unordered => match (Reply::parse(left), Reply::parse(right)) {
            (Ok(left), Ok(right)) => left.canonical() == right.canonical(),
            _ => false,
        },
    }
}

/// What is wrong with the replies to one command, if anything.
fn mismatch(compare: &Compare, kv_reply: &[u8], redis_reply: &[u8], recorded: Option<&str>) -> Option<String> {
    if let Compare::Differs(_) = compare {
        return None;
    }
    if !agree(compare, kv_reply, redis_reply) {
        return Some(format!("kv-server's reply differs from redis-server's ({compare:?})"));
    }
    let recorded = recorded?;
    (!agree(compare, recorded.as_bytes(), redis_reply))
        .then(|| format!("the recorded reply {} differs from redis-server's ({compare:?})", recorded.as_bytes().escape_ascii()))
}

/// Runs every plan of `table` on a fresh pair of servers, kv-server on kv v4 and redis-server, and
/// fails with every mismatch found. Prints that it skipped when `redis-server` is not installed.
fn check(table: &str, plans: Vec<Plan>) {
    let Some(redis_binary) = find_on_path("redis-server") else {
        println!("{REDIS_SERVER_MISSING}");
        return;
    };
    assert!(!plans.is_empty(), "table {table} has no script to run");
    let started = Instant::now();
    let kv_server = KvServer::start("kv-v4", "4.0.0");
    let redis_server = RedisServer::start(&redis_binary);
    let mut failures = Vec::new();
    // The conformance cases' declared differences met, each with whether its replies ever differed.
    let mut declarations: Vec<(&Difference, bool)> = Vec::new();
    for plan in &plans {
        // Fresh connections, so that no connection state (a SELECTed database) carries over.
        let mut kv = Connection::connect(kv_server.port, "kv-server");
        let mut redis = Connection::connect(redis_server.port, "redis-server");
        for connection in [&mut kv, &mut redis] {
            let flushed = connection.request("FLUSHALL");
            assert_eq!(flushed, b"+OK\r\n", "{} flushes", connection.server);
        }
        for (index, action) in plan.actions.iter().enumerate() {
            let (command, compare, recorded, declared) = match action {
                Action::Sleep(duration) => {
                    std::thread::sleep(*duration);
                    continue;
                }
                Action::Command { command, compare, recorded, declared } => (command, compare, recorded, declared),
            };
            let kv_reply = kv.request(command);
            let redis_reply = redis.request(command);
            if let Some(difference) = declared {
                match declarations.iter_mut().find(|(met, _)| met == difference) {
                    Some((_, differed)) => *differed |= kv_reply != redis_reply,
                    None => declarations.push((difference, kv_reply != redis_reply)),
                }
            }
            if let Some(problem) = mismatch(compare, &kv_reply, &redis_reply, recorded.as_deref()) {
                failures.push(format!(
                    "table {table}, script {:?}, step {}, {command:?}: {problem}\n    kv-server:    {}\n    redis-server: {}",
                    plan.name,
                    index + 1,
                    kv_reply.escape_ascii(),
                    redis_reply.escape_ascii()
                ));
            }
        }
    }
    for (difference, _) in declarations.iter().filter(|(_, differed)| !differed) {
        failures.push(format!("table {table}: {difference:?} is declared, yet its replies never differed: remove it"));
    }
    println!("{table}: {} scripts on kv-server and redis-server in {:?}", plans.len(), started.elapsed());
    assert!(failures.is_empty(), "{} mismatches in table {table}:\n\n{}", failures.len(), failures.join("\n\n"));
}

/// Runs the conformance cases of `group` (e.g. `strings`) through [`check`].
fn check_conformance(group: &str, cases: Vec<Case>) {
    check(&format!("conformance::{group}"), plans_of_cases(group, cases));
}

#[test]
fn sets() {
    check("differential::sets", plans_of_scripts(kv_conformance::differential::sets::sets()));
}

#[test]
fn lists() {
    check("differential::lists", plans_of_scripts(kv_conformance::differential::lists::lists()));
}

#[test]
fn hashes() {
    check("differential::hashes", plans_of_scripts(kv_conformance::differential::hashes::hashes()));
}

#[test]
fn strings() {
    check("differential::strings", plans_of_scripts(kv_conformance::differential::strings::strings()));
}

#[test]
fn keys() {
    check("differential::keys", plans_of_scripts(kv_conformance::differential::keys::keys()));
}

#[test]
fn sorted_sets() {
    check("differential::sorted_sets", plans_of_scripts(kv_conformance::differential::sorted_sets::sorted_sets()));
}

#[test]
fn transactions() {
    check("differential::transactions", plans_of_scripts(kv_conformance::differential::transactions::transactions()));
}

#[test]
fn blocking() {
    check("differential::blocking", plans_of_scripts(kv_conformance::differential::blocking::blocking()));
}

#[test]
fn conformance_strings() {
    check_conformance("strings", kv_conformance::strings());
}

#[test]
fn conformance_keyspace() {
    check_conformance("keyspace", kv_conformance::keyspace());
}

#[test]
fn conformance_server() {
    check_conformance("server", kv_conformance::server());
}

#[test]
fn conformance_expiry() {
    check_conformance("expiry", kv_conformance::expiry());
}

#[test]
fn conformance_lists() {
    check_conformance("lists", kv_conformance::lists());
}

#[test]
fn conformance_hashes() {
    check_conformance("hashes", kv_conformance::hashes());
}

#[test]
fn conformance_value_types() {
    check_conformance("value_types", kv_conformance::value_types());
}

#[test]
fn the_comparison_finds_a_mismatch_exactly_where_there_is_one() {
    let pair = bulks(&["a", "b"]);
    let pair_reversed = bulks(&["b", "a"]);
    // SSCAN's shape: a cursor, then the members.
    let scan = array(&[&bulk("0"), &pair]);
    let scan_reversed = array(&[&bulk("0"), &pair_reversed]);
    let scan_other_cursor = array(&[&bulk("7"), &pair]);
    let cut_short = "*2\r\n$1\r\na\r\n";
    // (how, kv-server's reply, redis-server's reply, the recorded reply, whether they mismatch)
    let cases: &[(Compare, &str, &str, Option<&str>, bool)] = &[
        (Compare::Exact, ":1\r\n", ":1\r\n", None, false),
        (Compare::Exact, ":1\r\n", ":2\r\n", None, true),
        (Compare::Exact, &pair, &pair_reversed, None, true),
        (Compare::Exact, ":1\r\n", ":1\r\n", Some(":1\r\n"), false),
        (Compare::Exact, ":1\r\n", ":1\r\n", Some(":2\r\n"), true),
        (Compare::Unordered, &pair, &pair_reversed, None, false),
        (Compare::Unordered, &pair, &pair_reversed, Some(&pair_reversed), false),
        (Compare::Unordered, &pair, &pair, Some(&bulks(&["a", "c"])), true),
        (Compare::Unordered, &scan, &scan_reversed, None, false),
        (Compare::Unordered, &scan, &scan_other_cursor, None, true),
        (Compare::Unordered, &bulks(&["a", "a"]), &pair, None, true),
        (Compare::Unordered, &bulks(&["a"]), &pair, None, true),
        (Compare::Unordered, "*0\r\n", "*-1\r\n", None, true),
        (Compare::Unordered, "$1\r\na\r\n", "+a\r\n", None, true),
        (Compare::Unordered, cut_short, cut_short, None, true),
        (Compare::Differs("kv differs here"), ":1\r\n", ":2\r\n", Some(":3\r\n"), false),
    ];
    for (compare, kv_reply, redis_reply, recorded, expected) in cases {
        let found = mismatch(compare, kv_reply.as_bytes(), redis_reply.as_bytes(), *recorded);
        assert_eq!(found.is_some(), *expected, "{compare:?} of {kv_reply:?} and {redis_reply:?}, recorded {recorded:?}: {found:?}");
    }
}

#[test]
fn the_framer_reads_exactly_one_reply() {
    let nested = array(&[&bulk("x"), &array(&[":1\r\n", NULL, "*-1\r\n"]), "-ERR no\r\n"]);
    let binary = "$4\r\na\r\nb\r\n";
    // (the bytes, how many of them make the first reply, or `None` for bytes that are no reply)
    let cases: &[(String, Option<usize>)] = &[
        ("+OK\r\n:1\r\n".to_owned(), Some(5)),
        (format!("{nested}+OK\r\n"), Some(nested.len())),
        (format!("{binary}{binary}"), Some(binary.len())),
        (format!("{NULL}{NULL}"), Some(NULL.len())),
        ("$4\r\nab\r\n".to_owned(), None),
        ("*3\r\n:1\r\n".to_owned(), None),
        ("+OK\n".to_owned(), None),
        ("%1\r\n".to_owned(), None),
        ("$-2\r\n".to_owned(), None),
        (String::new(), None),
    ];
    for (bytes, expected) in cases {
        let mut reader = bytes.as_bytes();
        let mut raw = Vec::new();
        let read = read_reply(&mut reader, &mut raw).map(|_| raw.len());
        assert_eq!(read.ok(), *expected, "{bytes:?}");
        if let Some(length) = expected {
            assert_eq!(raw, bytes.as_bytes()[..*length], "the raw bytes of {bytes:?}");
        }
    }
}
