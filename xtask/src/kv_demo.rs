//! `cargo xtask demo`: the kv flagship demo. It builds kv v1 to v4 and `kv-server`, loads data into
//! the server through a real Redis client, and, while four clients keep writing and reading, updates
//! the server live v1 → v2 → v3, rolls back once (forced, dropping what v2 cannot hold), goes
//! forward to v3 again and on to v4 (sets and sorted sets), and to a fresh copy of v4 while a client
//! waits in BLPOP and another is in the middle of a transaction; then it checks that no client saw
//! an error and that every acknowledged write is still there, and prints a report. Any client error,
//! lost write or failed update makes it fail.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ecdysis_protocol::{UpdateKind, UpdateReport};

use crate::kv_server::{self, KvServer};
use crate::{cargo, plugin, run};

/// How many keys are loaded before the updates, unless `--keys N` says otherwise.
const DEFAULT_LOADED_KEY_COUNT: usize = 20_000;

/// How many commands go into one pipeline when loading and checking.
const PIPELINE_LENGTH: usize = 1_000;

/// How many load generator clients run, each on its own connection.
const LOAD_CLIENT_COUNT: usize = 4;

/// How many string keys each load generator client cycles through.
const KEYS_PER_LOAD_CLIENT: u64 = 500;

/// The most requests one load generator client makes, whatever happens.
const MAXIMUM_REQUESTS_PER_LOAD_CLIENT: u64 = 100_000_000;

/// The longest a load generator client runs, whatever happens.
const LOAD_TIME_LIMIT: Duration = Duration::from_secs(90);

/// How long the load generator serves each version before the next step.
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(700);

/// How many loaded keys get a time to live once v2 runs.
const EXPIRING_KEY_COUNT: usize = 100;

/// The time to live given to them: long enough that none expires during the demo.
const TIME_TO_LIVE_SECONDS: i64 = 3_600;

/// The list and the hash created once v3 runs.
const DEMO_LIST: &str = "demo:list";
const DEMO_HASH: &str = "demo:hash";

/// The set and the sorted set created once v4 runs; they stay to the end.
const DEMO_SET: &str = "demo:set";
const DEMO_SORTED_SET: &str = "demo:leaderboard";

/// The list a client waits on in BLPOP across the last update; the element pushed after it is
/// popped, so the list does not stay.
const DEMO_QUEUE: &str = "demo:queue";

pub(crate) fn loaded_key(index: usize) -> String {
    format!("demo:key:{index:05}")
}

pub(crate) fn loaded_value(index: usize) -> String {
    format!("value-{index}")
}

/// The libraries and the server binary the demo runs.
pub(crate) struct Artifacts {
    pub(crate) version_one: PathBuf,
    pub(crate) version_two: PathBuf,
    pub(crate) version_three: PathBuf,
    pub(crate) version_four: PathBuf,
    pub(crate) server: PathBuf,
}

/// One update or rollback, as the report shows it.
struct Step {
    label: &'static str,
    report: UpdateReport,
}

pub fn demo(arguments: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask demo [--release] [--keys N], or cargo xtask demo counter [--release] [--seconds N]";
    let mut release = false;
    let mut loaded_key_count = DEFAULT_LOADED_KEY_COUNT;
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--release" => release = true,
            "--keys" => {
                loaded_key_count = arguments
                    .next()
                    .and_then(|count| count.parse().ok())
                    .filter(|&count| count >= EXPIRING_KEY_COUNT)
                    .ok_or_else(|| format!("--keys needs a number of keys, at least {EXPIRING_KEY_COUNT}; {usage}"))?;
            }
            other => return Err(format!("unknown option `{other}` for the kv demo; {usage}")),
        }
    }
    let profile = if release { "release" } else { "debug" };
    let artifacts = build(profile)?;
    let server = KvServer::start(&artifacts.server, &artifacts.version_one, None)?;
    say(&format!(
        "kv-server (pid {}) serves kv {} on 127.0.0.1:{}; control socket {}",
        server.process_id(),
        server.ready_version,
        server.port,
        server.control_socket.display()
    ));
    let outcome = run_demo(&server, &artifacts, loaded_key_count);
    let stopped = server.stop();
    match (outcome, stopped) {
        (Err(reason), _) => Err(reason),
        (Ok(()), Ok(status)) if status.success() => {
            say(&format!("kv-server stopped on SIGTERM ({status})"));
            Ok(())
        }
        (Ok(()), Ok(status)) => Err(format!("kv-server exited with {status} after SIGTERM")),
        (Ok(()), Err(reason)) => Err(reason),
    }
}

/// Builds the four plugin versions and the server, cargo's output on the terminal.
pub(crate) fn build(profile: &str) -> Result<Artifacts, String> {
    eprintln!("building kv-v1, kv-v2, kv-v3, kv-v4 and kv-server ({profile})…");
    let mut command = cargo();
    command.args(["build", "-p", "kv-v1", "-p", "kv-v2", "-p", "kv-v3", "-p", "kv-v4", "-p", "kv-server"]);
    if profile == "release" {
        command.arg("--release");
    }
    run(&mut command)?;
    let version_one = plugin::find("kv-v1", profile)?.library;
    let version_two = plugin::find("kv-v2", profile)?.library;
    let version_three = plugin::find("kv-v3", profile)?.library;
    let version_four = plugin::find("kv-v4", profile)?.library;
    let server = version_one.parent().ok_or("the kv-v1 library has no directory")?.join("kv-server");
    for path in [&version_one, &version_two, &version_three, &version_four, &server] {
        if !path.is_file() {
            return Err(format!("cargo built, but `{}` is not there", path.display()));
        }
    }
    Ok(Artifacts { version_one, version_two, version_three, version_four, server })
}

fn run_demo(server: &KvServer, artifacts: &Artifacts, loaded_key_count: usize) -> Result<(), String> {
    let mut client = kv_server::connect(server.port)?;
    let keys_before = load_keys(&mut client, loaded_key_count)?;
    let load = LoadGenerator::start(server.port)?;
    say(&format!(
        "load generator: {LOAD_CLIENT_COUNT} clients, each on its own connection, issuing SET/GET/INCR on their own keys non-stop"
    ));
    let steps = run_steps(server, artifacts, &mut client, &load)?;
    std::thread::sleep(PAUSE_BETWEEN_STEPS);
    let load = load.finish();
    say(&format!("load generator stopped: {} requests", load.requests));
    let checks = check(&mut client, &load, loaded_key_count)?;
    print_report(&steps, keys_before, &checks, &load);
    let mut problems = Vec::new();
    if load.errors > 0 {
        problems.push(format!("clients saw {} error(s), the first: {}", load.errors, load.first_error.as_deref().unwrap_or("?")));
    }
    if load.wrong_reads > 0 {
        problems.push(format!(
            "clients read {} value(s) other than the one acknowledged, the first: {}",
            load.wrong_reads,
            load.first_wrong_read.as_deref().unwrap_or("?")
        ));
    }
    problems.extend(checks.problems.iter().cloned());
    match problems.as_slice() {
        [] => Ok(()),
        [only] => Err(only.clone()),
        [first, rest @ ..] => Err(format!("{first} (and {} more problem(s) above)", rest.len())),
    }
}

/// Loads `loaded_key_count` keys in pipelines, prints the time, and returns DBSIZE.
pub(crate) fn load_keys(client: &mut redis::Connection, loaded_key_count: usize) -> Result<i64, String> {
    let started = Instant::now();
    let mut pipelines = 0;
    for first in (0..loaded_key_count).step_by(PIPELINE_LENGTH) {
        let mut pipeline = redis::pipe();
        for index in first..(first + PIPELINE_LENGTH).min(loaded_key_count) {
            pipeline.cmd("SET").arg(loaded_key(index)).arg(loaded_value(index)).ignore();
        }
        pipeline.exec(client).map_err(|error| format!("loading keys failed: {}", describe(&error)))?;
        pipelines += 1;
    }
    let elapsed = started.elapsed();
    let key_count: i64 = redis::cmd("DBSIZE").query(client).map_err(|error| format!("DBSIZE failed: {}", describe(&error)))?;
    say(&format!(
        "loaded {loaded_key_count} keys through a Redis client in {pipelines} pipelines of {PIPELINE_LENGTH} SETs: {:.0} ms ({:.0} keys/s); DBSIZE {key_count}",
        elapsed.as_secs_f64() * 1e3,
        loaded_key_count as f64 / elapsed.as_secs_f64()
    ));
    if key_count != loaded_key_count as i64 {
        return Err(format!("DBSIZE is {key_count} after loading {loaded_key_count} keys"));
    }
    Ok(key_count)
}

/// v1 → v2 → v3, a refused and then a forced rollback to v2, v3 again and v4, each shown to a
/// client.
fn run_steps(server: &KvServer, artifacts: &Artifacts, client: &mut redis::Connection, load: &LoadGenerator) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut requests_at_last_step = 0;
    let mut served_meanwhile = |load: &LoadGenerator| {
        let now = load.requests_so_far();
        let served = now - requests_at_last_step;
        requests_at_last_step = now;
        served
    };

    std::thread::sleep(PAUSE_BETWEEN_STEPS);
    match redis::cmd("EXPIRE").arg(loaded_key(0)).arg(TIME_TO_LIVE_SECONDS).query::<i64>(client) {
        Err(error) => say(&format!("kv 1.0.0 has no expiry: it answers EXPIRE with `{}`", describe(&error))),
        Ok(answer) => say(&format!("kv 1.0.0 answered EXPIRE with {answer} (expected an error: v1 has no expiry)")),
    }

    // Step 1: v1 → v2, which adds expiry.
    let served = served_meanwhile(load);
    let report = server.reload(&artifacts.version_two).map_err(|reason| format!("update to v2 failed: {reason}"))?;
    announce(1, &report, served);
    expect_version(client, &report)?;
    let mut pipeline = redis::pipe();
    for index in 0..EXPIRING_KEY_COUNT {
        pipeline.cmd("EXPIRE").arg(loaded_key(index)).arg(TIME_TO_LIVE_SECONDS);
    }
    let answers: Vec<i64> = pipeline.query(client).map_err(|error| format!("EXPIRE on v2 failed: {}", describe(&error)))?;
    let expiring = answers.iter().filter(|&&answer| answer == 1).count();
    let time_to_live: i64 =
        redis::cmd("TTL").arg(loaded_key(0)).query(client).map_err(|error| format!("TTL on v2 failed: {}", describe(&error)))?;
    say(&format!("    v2 adds expiry: EXPIRE {TIME_TO_LIVE_SECONDS} on {expiring} keys; TTL {} → {time_to_live} s", loaded_key(0)));
    if expiring != EXPIRING_KEY_COUNT {
        return Err(format!("EXPIRE set a time to live on {expiring} of {EXPIRING_KEY_COUNT} keys"));
    }
    steps.push(Step { label: "update", report });
    std::thread::sleep(PAUSE_BETWEEN_STEPS);

    // Step 2: v2 → v3, which adds lists and hashes.
    let served = served_meanwhile(load);
    let report = server.reload(&artifacts.version_three).map_err(|reason| format!("update to v3 failed: {reason}"))?;
    announce(2, &report, served);
    expect_version(client, &report)?;
    let list_length: i64 = redis::cmd("LPUSH")
        .arg(DEMO_LIST)
        .arg(&["c", "b", "a"])
        .query(client)
        .map_err(|error| format!("LPUSH on v3 failed: {}", describe(&error)))?;
    let hash_fields: i64 = redis::cmd("HSET")
        .arg(DEMO_HASH)
        .arg(&["name", "ecdysis", "module", "kv"])
        .query(client)
        .map_err(|error| format!("HSET on v3 failed: {}", describe(&error)))?;
    let list: Vec<String> =
        redis::cmd("LRANGE").arg(DEMO_LIST).arg(0).arg(-1).query(client).map_err(|error| format!("LRANGE failed: {}", describe(&error)))?;
    let hash: BTreeMap<String, String> =
        redis::cmd("HGETALL").arg(DEMO_HASH).query(client).map_err(|error| format!("HGETALL failed: {}", describe(&error)))?;
    say(&format!(
        "    v3 adds lists and hashes: LPUSH {DEMO_LIST} c b a → {list_length}, LRANGE → {list:?}; HSET {DEMO_HASH} → {hash_fields}, HGETALL → {hash:?}"
    ));
    if list != ["a", "b", "c"] || hash.len() != 2 {
        return Err(format!("v3 did not keep the list and hash it was given: {list:?}, {hash:?}"));
    }
    steps.push(Step { label: "update", report });
    std::thread::sleep(PAUSE_BETWEEN_STEPS);

    // Step 3: back to v2, which cannot hold the list and the hash. Unforced, the rollback must be
    // refused and change nothing; forced, it drops them.
    match server.rollback(false) {
        Err(reason) => say(&format!("[3] rollback to v2 without force: refused, v3 keeps serving: {reason}")),
        Ok(report) => {
            return Err(format!(
                "a rollback without force went through ({} → {}) although v2 cannot hold lists or hashes",
                report.from_version, report.to_version
            ));
        }
    }
    let survivors: i64 =
        redis::cmd("EXISTS").arg(DEMO_LIST).arg(DEMO_HASH).query(client).map_err(|error| format!("EXISTS failed: {}", describe(&error)))?;
    if survivors != 2 {
        return Err(format!("after the refused rollback, only {survivors} of the list and the hash exist"));
    }
    let served = served_meanwhile(load);
    let report = server.rollback(true).map_err(|reason| format!("forced rollback to v2 failed: {reason}"))?;
    announce(3, &report, served);
    expect_version(client, &report)?;
    let survivors: i64 = redis::cmd("EXISTS")
        .arg(DEMO_LIST)
        .arg(DEMO_HASH)
        .query(client)
        .map_err(|error| format!("EXISTS on v2 failed: {}", describe(&error)))?;
    let time_to_live: i64 =
        redis::cmd("TTL").arg(loaded_key(0)).query(client).map_err(|error| format!("TTL on v2 failed: {}", describe(&error)))?;
    say(&format!(
        "    forced, so v2 dropped what it cannot hold: {DEMO_LIST} and {DEMO_HASH} are gone (EXISTS → {survivors}); strings and their expiry stayed (TTL {} → {time_to_live} s)",
        loaded_key(0)
    ));
    if survivors != 0 {
        return Err(format!("after the forced rollback to v2, {survivors} of the list and the hash still exist"));
    }
    steps.push(Step { label: "rollback (forced)", report });
    std::thread::sleep(PAUSE_BETWEEN_STEPS);

    // Step 4: forward to v3 again.
    let served = served_meanwhile(load);
    let report = server.reload(&artifacts.version_three).map_err(|reason| format!("update to v3 again failed: {reason}"))?;
    announce(4, &report, served);
    expect_version(client, &report)?;
    let list_length: i64 =
        redis::cmd("LLEN").arg(DEMO_LIST).query(client).map_err(|error| format!("LLEN on v3 failed: {}", describe(&error)))?;
    say(&format!("    v3 again: lists work again, and {DEMO_LIST} stays gone (LLEN → {list_length}): the rollback dropped it"));
    steps.push(Step { label: "update", report });
    std::thread::sleep(PAUSE_BETWEEN_STEPS);

    // Step 5: v3 → v4, which adds sets and sorted sets.
    let served = served_meanwhile(load);
    let report = server.reload(&artifacts.version_four).map_err(|reason| format!("update to v4 failed: {reason}"))?;
    announce(5, &report, served);
    expect_version(client, &report)?;
    let (added, scored, members, leaders): (i64, i64, Vec<String>, Vec<String>) = redis::pipe()
        .cmd("SADD")
        .arg(DEMO_SET)
        .arg(&["rust", "erlang", "rust"])
        .cmd("ZADD")
        .arg(DEMO_SORTED_SET)
        .arg(&["3.5", "carol", "1", "alice", "2", "bob"])
        .cmd("SMEMBERS")
        .arg(DEMO_SET)
        .cmd("ZREVRANGE")
        .arg(DEMO_SORTED_SET)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(client)
        .map_err(|error| format!("sets on v4 failed: {}", describe(&error)))?;
    say(&format!(
        "    v4 adds sets and sorted sets: SADD {DEMO_SET} rust erlang rust → {added}, SMEMBERS → {members:?}; ZADD {DEMO_SORTED_SET} → {scored}, ZREVRANGE … WITHSCORES → {leaders:?}"
    ));
    if added != 2 || scored != 3 || leaders != ["carol", "3.5", "bob", "2", "alice", "1"] {
        return Err(format!("v4 did not keep the set and sorted set it was given: {members:?}, {leaders:?}"));
    }
    steps.push(Step { label: "update", report });
    std::thread::sleep(PAUSE_BETWEEN_STEPS);

    // Step 6: v4 → v4 (a fresh copy of the same library, as a rebuilt plugin would be) while one
    // client waits in BLPOP and another is in the middle of a transaction. The blocked client waits
    // in kv-server, not in the plugin, so it neither holds up the update nor is lost by it; the
    // transaction's queue is kept by kv-server, and EXEC runs it whole on the new version.
    let blocked = BlockedClient::start(server.port, DEMO_QUEUE)?;
    let mut transaction = kv_server::connect(server.port)?;
    let started: String =
        redis::cmd("MULTI").query(&mut transaction).map_err(|error| format!("MULTI on v4 failed: {}", describe(&error)))?;
    let queued: String = redis::cmd("SADD")
        .arg(DEMO_SET)
        .arg("live-update")
        .query(&mut transaction)
        .map_err(|error| format!("SADD in MULTI failed: {}", describe(&error)))?;
    if (started.as_str(), queued.as_str()) != ("OK", "QUEUED") {
        return Err(format!("MULTI and SADD answered {started:?} and {queued:?}, not OK and QUEUED"));
    }
    let served = served_meanwhile(load);
    let report = server.reload(&artifacts.version_four).map_err(|reason| format!("update to a new copy of v4 failed: {reason}"))?;
    announce(6, &report, served);
    expect_version(client, &report)?;
    let _: i64 = redis::cmd("RPUSH")
        .arg(DEMO_QUEUE)
        .arg("pushed after the update")
        .query(client)
        .map_err(|error| format!("RPUSH on v4 failed: {}", describe(&error)))?;
    let popped = blocked.reply()?;
    let executed: Vec<i64> =
        redis::cmd("EXEC").query(&mut transaction).map_err(|error| format!("EXEC after the update failed: {}", describe(&error)))?;
    say(&format!(
        "    a client blocked in BLPOP {DEMO_QUEUE} since before the update got {popped:?}; a MULTI opened before it ran whole after it: EXEC → {executed:?}"
    ));
    if popped != [DEMO_QUEUE, "pushed after the update"] || executed != [1] {
        return Err(format!("across the update, BLPOP got {popped:?} and EXEC ran {executed:?}"));
    }
    steps.push(Step { label: "update (v4 again)", report });
    Ok(steps)
}

/// A client blocked in `BLPOP key 0`, on a connection of its own.
struct BlockedClient {
    stream: std::net::TcpStream,
}

impl BlockedClient {
    /// Connects and sends `PING` and `BLPOP key 0` in one write. kv-server answers the PING only
    /// once the BLPOP found nothing and waits, so the PONG says the client is blocked.
    fn start(port: u16, key: &str) -> Result<BlockedClient, String> {
        use std::io::Write;
        let connect_failed = |error: std::io::Error| format!("a client connecting to kv-server for BLPOP: {error}");
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(connect_failed)?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(connect_failed)?;
        let request = format!("*1\r\n$4\r\nPING\r\n*3\r\n$5\r\nBLPOP\r\n${}\r\n{key}\r\n$1\r\n0\r\n", key.len());
        stream.write_all(request.as_bytes()).map_err(connect_failed)?;
        let mut client = BlockedClient { stream };
        match client.read_reply()? {
            redis::Value::SimpleString(pong) if pong == "PONG" => Ok(client),
            other => Err(format!("PING before BLPOP answered {other:?}")),
        }
    }

    /// The BLPOP's reply: the key and the element.
    fn reply(mut self) -> Result<Vec<String>, String> {
        let reply = self.read_reply()?;
        redis::from_redis_value(reply).map_err(|error| format!("BLPOP answered something else than a key and an element: {error}"))
    }

    /// Reads one whole reply (at most a minute).
    fn read_reply(&mut self) -> Result<redis::Value, String> {
        use std::io::Read;
        let mut received = Vec::new();
        let mut buffer = [0; 4096];
        loop {
            let read = self.stream.read(&mut buffer).map_err(|error| format!("no reply to BLPOP's client within a minute: {error}"))?;
            if read == 0 {
                return Err("kv-server closed the BLPOP client's connection".to_owned());
            }
            received.extend_from_slice(&buffer[..read]);
            if let Ok(value) = redis::parse_redis_value(&received) {
                return Ok(value);
            }
        }
    }
}

/// Prints two lines for an update or rollback: versions, pause and state size, then the phases.
fn announce(number: usize, report: &UpdateReport, served_before: u64) {
    let verb = match report.kind {
        UpdateKind::Update => "update",
        UpdateKind::Rollback => "rollback",
    };
    say(&format!(
        "[{number}] {verb} kv {} → {}: pause {:.3} ms, state {} bytes{}, total {:.1} ms ({} requests served on {} before it)",
        report.from_version,
        report.to_version,
        report.pause.as_secs_f64() * 1e3,
        report.state_bytes,
        match (report.validated, report.rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked)) {
            (true, _) => " validated",
            (false, true) => " rehearsed and validated in a child process",
            (false, false) => " not validated",
        },
        report.total.as_secs_f64() * 1e3,
        served_before,
        report.from_version
    ));
    let phases: Vec<String> =
        report.phases.iter().map(|timing| format!("{} {:.1}", timing.phase.as_str(), timing.duration.as_secs_f64() * 1e3)).collect();
    say(&format!("    phases (ms): {}", phases.join(", ")));
}

/// The value of `ecdysis_kv_version` in INFO.
fn info_version(client: &mut redis::Connection) -> Result<String, String> {
    let info: String = redis::cmd("INFO").query(client).map_err(|error| format!("INFO failed: {}", describe(&error)))?;
    info.lines()
        .find_map(|line| line.strip_prefix("ecdysis_kv_version:"))
        .map(|version| version.trim().to_owned())
        .ok_or_else(|| "INFO has no `ecdysis_kv_version` line".to_owned())
}

/// Checks that a client sees the version an update reports.
fn expect_version(client: &mut redis::Connection, report: &UpdateReport) -> Result<String, String> {
    let seen = info_version(client)?;
    if version_matches(&seen, &report.to_version.to_string()) {
        Ok(seen)
    } else {
        Err(format!("after the update to {}, INFO says ecdysis_kv_version:{seen}", report.to_version))
    }
}

/// Whether INFO's version (written in full, `3.0.0`, or as its major number, `3`) is `version`.
fn version_matches(seen: &str, version: &str) -> bool {
    seen == version || version.split('.').next() == Some(seen)
}

/// What the checks after the load found.
struct Checks {
    loaded_key_count: usize,
    keys_after: i64,
    keys_expected: i64,
    acknowledged_keys: usize,
    counters: usize,
    lost_writes: usize,
    loaded_keys_intact: usize,
    keys_still_expiring: usize,
    version_seen: String,
    problems: Vec<String>,
}

/// Reads back every acknowledged write and every loaded key, and DBSIZE and INFO.
fn check(client: &mut redis::Connection, load: &LoadTotals, loaded_key_count: usize) -> Result<Checks, String> {
    let mut problems = Vec::new();
    let mut acknowledged_keys = 0;
    let mut counters = 0;
    let mut lost = Vec::new();
    // Writes that failed without a reply (only after a client error, which fails the demo anyway)
    // may be there or not; they are neither lost nor counted as keys.
    let mut keys_in_doubt = 0;
    for outcome in &load.outcomes {
        let set_in_doubt = outcome.set_in_doubt.as_ref();
        if set_in_doubt.is_some_and(|(key, _)| !outcome.acknowledged.contains_key(key)) {
            keys_in_doubt += 1;
        }
        if outcome.increment_in_doubt && outcome.counter_value == 0 {
            keys_in_doubt += 1;
        }
        let keys: Vec<&String> = outcome.acknowledged.keys().collect();
        for chunk in keys.chunks(PIPELINE_LENGTH) {
            let mut pipeline = redis::pipe();
            for key in chunk {
                pipeline.cmd("GET").arg(key.as_str());
            }
            let values: Vec<Option<String>> =
                pipeline.query(client).map_err(|error| format!("reading back acknowledged writes failed: {}", describe(&error)))?;
            for (key, value) in chunk.iter().zip(values) {
                let expected = &outcome.acknowledged[*key];
                let in_doubt = set_in_doubt
                    .is_some_and(|(doubtful_key, doubtful_value)| doubtful_key == *key && value.as_ref() == Some(doubtful_value));
                if value.as_ref() != Some(expected) && !in_doubt {
                    lost.push(format!("{key} is {value:?}, acknowledged {expected:?}"));
                }
            }
        }
        acknowledged_keys += outcome.acknowledged.len();
        if outcome.counter_value > 0 {
            counters += 1;
            let value: Option<i64> = redis::cmd("GET")
                .arg(&outcome.counter_key)
                .query(client)
                .map_err(|error| format!("reading back a counter failed: {}", describe(&error)))?;
            let in_doubt = outcome.increment_in_doubt && value == Some(outcome.counter_value + 1);
            if value != Some(outcome.counter_value) && !in_doubt {
                lost.push(format!("{} is {value:?}, acknowledged {}", outcome.counter_key, outcome.counter_value));
            }
        }
    }
    if let Some(first) = lost.first() {
        problems.push(format!("{} acknowledged write(s) lost, the first: {first}", lost.len()));
    }
    let lost_writes = lost.len();

    let mut loaded_keys_intact = 0;
    for first in (0..loaded_key_count).step_by(PIPELINE_LENGTH) {
        let indices = first..(first + PIPELINE_LENGTH).min(loaded_key_count);
        let mut pipeline = redis::pipe();
        for index in indices.clone() {
            pipeline.cmd("GET").arg(loaded_key(index));
        }
        let values: Vec<Option<String>> =
            pipeline.query(client).map_err(|error| format!("reading back loaded keys failed: {}", describe(&error)))?;
        loaded_keys_intact += indices.zip(values).filter(|(index, value)| value.as_deref() == Some(loaded_value(*index).as_str())).count();
    }
    if loaded_keys_intact != loaded_key_count {
        problems.push(format!("only {loaded_keys_intact} of the {loaded_key_count} loaded keys read back with their values"));
    }

    let mut pipeline = redis::pipe();
    for index in 0..EXPIRING_KEY_COUNT {
        pipeline.cmd("TTL").arg(loaded_key(index));
    }
    let times_to_live: Vec<i64> = pipeline.query(client).map_err(|error| format!("TTL failed: {}", describe(&error)))?;
    let keys_still_expiring =
        times_to_live.iter().filter(|&&seconds| seconds > TIME_TO_LIVE_SECONDS - 120 && seconds <= TIME_TO_LIVE_SECONDS).count();
    if keys_still_expiring != EXPIRING_KEY_COUNT {
        problems.push(format!("only {keys_still_expiring} of {EXPIRING_KEY_COUNT} keys kept their time to live"));
    }

    let keys_after: i64 = redis::cmd("DBSIZE").query(client).map_err(|error| format!("DBSIZE failed: {}", describe(&error)))?;
    // The loaded keys, what the load generator wrote, and the set and sorted set made on v4.
    let keys_expected = (loaded_key_count + acknowledged_keys + counters + 2) as i64;
    if !(keys_expected..=keys_expected + keys_in_doubt).contains(&keys_after) {
        problems.push(format!(
            "DBSIZE is {keys_after} after the updates, expected {keys_expected} ({loaded_key_count} loaded + {} written by the load generator + the set and sorted set made on v4)",
            acknowledged_keys + counters
        ));
    }
    let version_seen = info_version(client)?;
    if !version_matches(&version_seen, "4.0.0") {
        problems.push(format!("after the last update INFO says ecdysis_kv_version:{version_seen}, expected 4.0.0"));
    }
    Ok(Checks {
        loaded_key_count,
        keys_after,
        keys_expected,
        acknowledged_keys,
        counters,
        lost_writes,
        loaded_keys_intact,
        keys_still_expiring,
        version_seen,
        problems,
    })
}

fn print_report(steps: &[Step], keys_before: i64, checks: &Checks, load: &LoadTotals) {
    let milliseconds = |duration: Duration| duration.as_secs_f64() * 1e3;
    say("");
    say("report");
    say(&format!("  {:<22} {:<16} {:>12} {:>15} {:>11}", "step", "versions", "pause", "state", "total"));
    for (number, step) in steps.iter().enumerate() {
        let report = &step.report;
        say(&format!(
            "  {:<22} {:<16} {:>9.3} ms {:>9} bytes {:>8.1} ms",
            format!("[{}] {}", number + 1, step.label),
            format!("{} → {}", report.from_version, report.to_version),
            milliseconds(report.pause),
            report.state_bytes,
            milliseconds(report.total)
        ));
    }
    say(&format!(
        "  keys: {keys_before} before the updates, {} after (expected {} = {} loaded + {} written by the load generator + the set and sorted set made on v4; the list and hash made on v3 were dropped by the forced rollback)",
        checks.keys_after,
        checks.keys_expected,
        checks.loaded_key_count,
        checks.acknowledged_keys + checks.counters
    ));
    say(&format!(
        "  loaded keys read back with their values: {} of {}; {} of {EXPIRING_KEY_COUNT} kept the time to live set on v2",
        checks.loaded_keys_intact, checks.loaded_key_count, checks.keys_still_expiring
    ));
    say(&format!(
        "  acknowledged writes read back with their values: {} keys and {} INCR counters; lost writes: {}",
        checks.acknowledged_keys, checks.counters, checks.lost_writes
    ));
    say(&format!(
        "  requests served by the load generator: {} ({LOAD_CLIENT_COUNT} connections, SET/GET/INCR; longest wait for a reply {:.1} ms)",
        load.requests,
        milliseconds(load.longest_request)
    ));
    say(&format!("  INFO seen by a client at the end: ecdysis_kv_version:{}", checks.version_seen));
    say(&format!("  errors seen by clients: {}", load.errors));
    if load.wrong_reads > 0 {
        say(&format!("  reads that did not return the acknowledged value: {}", load.wrong_reads));
    }
    for problem in &checks.problems {
        say(&format!("  problem: {problem}"));
    }
}

/// Prints a line at once (the output is often a pipe, and the demo narrates as it goes).
fn say(line: &str) {
    use std::io::Write;
    let mut standard_output = std::io::stdout().lock();
    let _ = writeln!(standard_output, "{line}");
    let _ = standard_output.flush();
}

/// A Redis error as one line: the server's code and message, or what went wrong on the way.
pub fn describe(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ if error.is_timeout() => format!("no reply within {:?} ({error})", kv_server::CLIENT_TIMEOUT),
        _ => error.to_string(),
    }
}

/// What one load generator client did.
struct LoadClientOutcome {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    wrong_reads: u64,
    first_wrong_read: Option<String>,
    /// Every string key it wrote, with the value of its last acknowledged SET.
    acknowledged: HashMap<String, String>,
    counter_key: String,
    /// The last value INCR acknowledged.
    counter_value: i64,
    /// A SET (key and value) that failed without a reply, so may or may not have been applied.
    set_in_doubt: Option<(String, String)>,
    /// Whether an INCR failed without a reply, so may or may not have been applied.
    increment_in_doubt: bool,
    longest_request: Duration,
}

/// What all load generator clients did.
struct LoadTotals {
    requests: u64,
    errors: u64,
    first_error: Option<String>,
    wrong_reads: u64,
    first_wrong_read: Option<String>,
    longest_request: Duration,
    outcomes: Vec<LoadClientOutcome>,
}

/// [`LOAD_CLIENT_COUNT`] clients issuing SET/GET/INCR on their own keys until told to stop; stopped
/// and joined when dropped.
struct LoadGenerator {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    workers: Vec<JoinHandle<LoadClientOutcome>>,
}

impl LoadGenerator {
    /// Connects every client, then starts them.
    fn start(port: u16) -> Result<LoadGenerator, String> {
        let connections = (0..LOAD_CLIENT_COUNT).map(|_| kv_server::connect(port)).collect::<Result<Vec<_>, _>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let workers = connections
            .into_iter()
            .enumerate()
            .map(|(client_index, connection)| {
                let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
                std::thread::spawn(move || load_client(client_index, connection, &stop, &requests))
            })
            .collect();
        Ok(LoadGenerator { stop, requests, workers })
    }

    fn requests_so_far(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Stops every client and adds up what they did.
    fn finish(mut self) -> LoadTotals {
        self.stop.store(true, Ordering::Relaxed);
        let mut totals = LoadTotals {
            requests: 0,
            errors: 0,
            first_error: None,
            wrong_reads: 0,
            first_wrong_read: None,
            longest_request: Duration::ZERO,
            outcomes: Vec::new(),
        };
        for worker in std::mem::take(&mut self.workers) {
            match worker.join() {
                Ok(outcome) => {
                    totals.requests += outcome.requests;
                    totals.errors += outcome.errors;
                    totals.first_error = totals.first_error.take().or_else(|| outcome.first_error.clone());
                    totals.wrong_reads += outcome.wrong_reads;
                    totals.first_wrong_read = totals.first_wrong_read.take().or_else(|| outcome.first_wrong_read.clone());
                    totals.longest_request = totals.longest_request.max(outcome.longest_request);
                    totals.outcomes.push(outcome);
                }
                Err(_) => {
                    totals.errors += 1;
                    totals.first_error.get_or_insert_with(|| "a load generator client panicked".to_owned());
                }
            }
        }
        totals
    }
}

impl Drop for LoadGenerator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Every client stops within its time limit and its connection's timeouts.
        for worker in std::mem::take(&mut self.workers) {
            let _ = worker.join();
        }
    }
}

/// One load generator client: SET a key, GET it back, INCR its counter, over and over, on its own
/// keys, until told to stop, [`LOAD_TIME_LIMIT`] passes or it made
/// [`MAXIMUM_REQUESTS_PER_LOAD_CLIENT`] requests.
fn load_client(client_index: usize, mut connection: redis::Connection, stop: &AtomicBool, requests: &AtomicU64) -> LoadClientOutcome {
    let deadline = Instant::now() + LOAD_TIME_LIMIT;
    let counter_key = format!("load:{client_index}:counter");
    let mut outcome = LoadClientOutcome {
        requests: 0,
        errors: 0,
        first_error: None,
        wrong_reads: 0,
        first_wrong_read: None,
        acknowledged: HashMap::new(),
        counter_key: counter_key.clone(),
        counter_value: 0,
        set_in_doubt: None,
        increment_in_doubt: false,
        longest_request: Duration::ZERO,
    };
    for iteration in 0..MAXIMUM_REQUESTS_PER_LOAD_CLIENT {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            break;
        }
        let key = format!("load:{client_index}:{}", iteration / 3 % KEYS_PER_LOAD_CLIENT);
        let value = format!("{client_index}-{iteration}");
        let operation = iteration % 3;
        let started = Instant::now();
        let result = match operation {
            0 => redis::cmd("SET").arg(&key).arg(&value).query::<String>(&mut connection).map(|answer| {
                if answer == "OK" {
                    outcome.acknowledged.insert(key.clone(), value.clone());
                } else {
                    outcome.wrong_reads += 1;
                    outcome.first_wrong_read.get_or_insert_with(|| format!("SET {key} answered {answer:?}"));
                }
            }),
            1 => redis::cmd("GET").arg(&key).query::<Option<String>>(&mut connection).map(|value| {
                if value.as_ref() != outcome.acknowledged.get(&key) {
                    outcome.wrong_reads += 1;
                    outcome
                        .first_wrong_read
                        .get_or_insert_with(|| format!("GET {key} returned {value:?}, acknowledged {:?}", outcome.acknowledged.get(&key)));
                }
            }),
            _ => redis::cmd("INCR").arg(&counter_key).query::<i64>(&mut connection).map(|value| {
                if value != outcome.counter_value + 1 {
                    outcome.wrong_reads += 1;
                    outcome
                        .first_wrong_read
                        .get_or_insert_with(|| format!("INCR {counter_key} returned {value}, expected {}", outcome.counter_value + 1));
                }
                outcome.counter_value = value;
            }),
        };
        outcome.longest_request = outcome.longest_request.max(started.elapsed());
        outcome.requests += 1;
        requests.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = result {
            // The server may or may not have applied a write whose reply never came.
            match operation {
                0 => outcome.set_in_doubt = Some((key, value)),
                2 => outcome.increment_in_doubt = true,
                _ => {}
            }
            outcome.errors += 1;
            outcome.first_error.get_or_insert_with(|| format!("client {client_index}: {}", describe(&error)));
            // A broken connection would only repeat the same error; a reply error may not.
            if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
                break;
            }
        }
    }
    outcome
}
