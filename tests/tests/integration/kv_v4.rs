//! kv v4 on a real `kv-server`: a server of strings, lists and hashes updated live v3 → v4 under
//! client load, eagerly and lazily, with every value kept; sets and sorted sets made on v4 kept
//! across v4 → v4 updates and rollbacks, and refused by a downgrade to v3 unless it is forced; the
//! chains from v1 and v2; and `redis-benchmark` with its default tests, and while kv goes
//! v3 → v4 → v3 (forced) → v4 in a loop.

use std::collections::HashMap;
use std::time::Instant;

use ecdysis_host::UpdateReport;
use ecdysis_host::control::Client;
use ecdysis_host::protocol::{Command as ControlCommand, Reply};

use super::kv::{
    ClientLoad, KvServer, PATIENCE, ToolRunning, check_acknowledged_writes, check_benchmark_of, migration_in_status, redis_tools_installed,
    reported_version,
};
use super::*;

/// How many strings, lists and hashes the tests write.
const KEYS_PER_TYPE: usize = 1_000;

/// How many sets and sorted sets the tests write.
const COLLECTIONS_PER_TYPE: usize = 100;

/// Writes [`KEYS_PER_TYPE`] strings, lists and hashes; every tenth string gets a time to live of
/// an hour.
fn write_strings_lists_and_hashes(connection: &mut redis::Connection) {
    let mut pipeline = redis::pipe();
    for index in 0..KEYS_PER_TYPE {
        pipeline.cmd("SET").arg(format!("string:{index}")).arg(format!("value-{index}")).ignore();
        if index % 10 == 0 {
            pipeline.cmd("EXPIRE").arg(format!("string:{index}")).arg(3600).ignore();
        }
        pipeline.cmd("RPUSH").arg(format!("list:{index}")).arg("head").arg(index).arg("tail").ignore();
        pipeline.cmd("HSET").arg(format!("hash:{index}")).arg("field").arg(index).arg("other").arg("x").ignore();
    }
    let () = pipeline.query(connection).expect("the strings, lists and hashes are written");
}

/// Checks every value [`write_strings_lists_and_hashes`] wrote, and which strings have a time to
/// live.
#[track_caller]
fn check_strings_lists_and_hashes(connection: &mut redis::Connection) {
    for index in 0..KEYS_PER_TYPE {
        let (string, list, hash, time_to_live): (Option<String>, Vec<String>, HashMap<String, String>, i64) = redis::pipe()
            .cmd("GET")
            .arg(format!("string:{index}"))
            .cmd("LRANGE")
            .arg(format!("list:{index}"))
            .arg(0)
            .arg(-1)
            .cmd("HGETALL")
            .arg(format!("hash:{index}"))
            .cmd("TTL")
            .arg(format!("string:{index}"))
            .query(connection)
            .expect("the values are read");
        assert_eq!(string, Some(format!("value-{index}")), "string:{index}");
        assert_eq!(list, ["head".to_owned(), index.to_string(), "tail".to_owned()], "list:{index}");
        assert_eq!(hash, HashMap::from([("field".to_owned(), index.to_string()), ("other".to_owned(), "x".to_owned())]), "hash:{index}");
        if index % 10 == 0 {
            assert!((3000..=3600).contains(&time_to_live), "string:{index} keeps its time to live: {time_to_live}");
        } else {
            assert_eq!(time_to_live, -1, "string:{index} has no time to live");
        }
    }
}

/// Writes [`COLLECTIONS_PER_TYPE`] sets and sorted sets; every tenth sorted set gets a time to
/// live of an hour.
fn write_sets_and_sorted_sets(connection: &mut redis::Connection) {
    let mut pipeline = redis::pipe();
    for index in 0..COLLECTIONS_PER_TYPE {
        pipeline.cmd("SADD").arg(format!("set:{index}")).arg("member").arg(index).arg("other").ignore();
        pipeline.cmd("ZADD").arg(format!("zset:{index}")).arg("1.5").arg("a").arg("-inf").arg("b").arg(1000 + index).arg("c").ignore();
        if index % 10 == 0 {
            pipeline.cmd("EXPIRE").arg(format!("zset:{index}")).arg(3600).ignore();
        }
    }
    let () = pipeline.query(connection).expect("the sets and sorted sets are written");
}

/// Checks every member and score [`write_sets_and_sorted_sets`] wrote, and which sorted sets have a
/// time to live.
#[track_caller]
fn check_sets_and_sorted_sets(connection: &mut redis::Connection) {
    for index in 0..COLLECTIONS_PER_TYPE {
        let (mut members, sorted, time_to_live, key_type): (Vec<String>, Vec<String>, i64, String) = redis::pipe()
            .cmd("SMEMBERS")
            .arg(format!("set:{index}"))
            .cmd("ZRANGE")
            .arg(format!("zset:{index}"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .cmd("TTL")
            .arg(format!("zset:{index}"))
            .cmd("TYPE")
            .arg(format!("zset:{index}"))
            .query(connection)
            .expect("the sets and sorted sets are read");
        members.sort();
        let mut expected_members = vec!["member".to_owned(), index.to_string(), "other".to_owned()];
        expected_members.sort();
        assert_eq!(members, expected_members, "set:{index}");
        let expected_sorted = ["b", "-inf", "a", "1.5", "c", &(1000 + index).to_string()].map(str::to_owned);
        assert_eq!(sorted, expected_sorted, "zset:{index}");
        assert_eq!(key_type, "zset");
        if index % 10 == 0 {
            assert!((3000..=3600).contains(&time_to_live), "zset:{index} keeps its time to live: {time_to_live}");
        } else {
            assert_eq!(time_to_live, -1, "zset:{index} has no time to live");
        }
    }
}

/// Checks that no set or sorted set is left (after a forced downgrade dropped them).
#[track_caller]
fn check_no_sets_or_sorted_sets(connection: &mut redis::Connection) {
    let keys: Vec<String> = redis::cmd("KEYS").arg("*set:*").query(connection).expect("KEYS");
    assert_eq!(keys, Vec::<String>::new(), "the forced downgrade dropped every set and sorted set");
}

/// Sends `command` (a reload or a rollback) through the control socket and returns its report.
pub(super) fn request_report(server: &KvServer, command: ControlCommand) -> Result<UpdateReport, String> {
    let mut control = Client::connect(&server.socket, PATIENCE).expect("the control socket accepts");
    match control.request(command) {
        Ok(Reply::Report { report }) => Ok(report),
        Ok(Reply::Error { kind, message }) => Err(format!("{kind:?}: {message}")),
        Ok(other) => panic!("unexpected reply: {other:?}"),
        Err(error) => panic!("no reply within {PATIENCE:?}: {error}; kv-server's stderr:\n{}", server.stderr()),
    }
}

/// Updates `server` to `plugin_crate` lazily and waits until the migration has finished.
pub(super) fn update_lazily_to_the_end(server: &KvServer, plugin_crate: &str, expected_version: &str) {
    let command = ControlCommand::Reload {
        module: Some("kv".into()),
        library: sample(plugin_crate),
        allow_downgrade: false,
        force: false,
        lazy: true,
    };
    let report = request_report(server, command).unwrap_or_else(|error| panic!("a lazy update to {plugin_crate}: {error}"));
    assert_eq!(report.to_version.to_string(), expected_version);
    let started = Instant::now();
    while !migration_in_status(server).is_null() {
        assert!(started.elapsed() < PATIENCE, "the migration did not finish: {}", migration_in_status(server));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_server_of_strings_lists_and_hashes_goes_v3_to_v4_under_load_eagerly_and_lazily_and_keeps_every_value() {
    let server = KvServer::start("kv-v3", "3.0.0");
    let mut connection = server.connect();
    write_strings_lists_and_hashes(&mut connection);
    let load = ClientLoad::start(&server, 2);
    load.wait_for_progress();

    let report = server.update_to("kv-v4", "4.0.0", false);
    println!("v3 → v4 eagerly: {} bytes of state, pause {:?}", report.state_bytes, report.pause);
    assert_eq!(reported_version(&mut connection), "4.0.0", "the same connection now talks to v4");
    check_strings_lists_and_hashes(&mut connection);
    load.wait_for_progress();

    // Down to v3 (no set exists, so nothing is refused), then up to v4 lazily.
    server.update_to("kv-v3", "3.0.0", true);
    check_strings_lists_and_hashes(&mut connection);
    load.wait_for_progress();
    update_lazily_to_the_end(&server, "kv-v4", "4.0.0");
    assert_eq!(reported_version(&mut connection), "4.0.0");
    check_strings_lists_and_hashes(&mut connection);
    load.wait_for_progress();

    let outcomes = load.finish();
    check_acknowledged_writes(&mut connection, &outcomes, 100);
}

#[test]
fn sets_and_sorted_sets_survive_v4_updates_and_rollbacks_and_a_downgrade_refuses_them_unless_forced() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    write_strings_lists_and_hashes(&mut connection);
    write_sets_and_sorted_sets(&mut connection);
    check_sets_and_sorted_sets(&mut connection);

    // v4 → v4 (a new copy of the library each time), eagerly and lazily, then a rollback to the
    // v4 before.
    for _ in 0..2 {
        server.update_to("kv-v4", "4.0.0", false);
        check_sets_and_sorted_sets(&mut connection);
    }
    update_lazily_to_the_end(&server, "kv-v4", "4.0.0");
    check_sets_and_sorted_sets(&mut connection);
    let rollback = request_report(&server, ControlCommand::Rollback { module: "kv".into(), force: false }).expect("a rollback");
    assert_eq!(rollback.to_version.to_string(), "4.0.0");
    check_sets_and_sorted_sets(&mut connection);
    check_strings_lists_and_hashes(&mut connection);

    // A downgrade to v3 is refused while sets and sorted sets exist, naming them, and v4 keeps
    // serving everything.
    let refusal = server.reload("kv-v3", true, false).expect_err("a downgrade that would drop sets is refused");
    assert!(
        refusal.contains(&format!(
            "{COLLECTIONS_PER_TYPE} set(s) and {COLLECTIONS_PER_TYPE} sorted set(s) exist, which kv v3 cannot hold; delete them or force the downgrade to drop them"
        )),
        "the refusal names the sets and sorted sets: {refusal}"
    );
    assert_eq!(reported_version(&mut connection), "4.0.0", "v4 keeps serving after the refusal");
    check_sets_and_sorted_sets(&mut connection);

    // Forced, it goes through: the sets and sorted sets are dropped, everything else is kept.
    let report = server.reload("kv-v3", true, true).expect("a forced downgrade goes through");
    assert_eq!(report.to_version.to_string(), "3.0.0");
    check_no_sets_or_sorted_sets(&mut connection);
    check_strings_lists_and_hashes(&mut connection);

    // And up again: v4 serves sets from scratch.
    server.update_to("kv-v4", "4.0.0", false);
    check_no_sets_or_sorted_sets(&mut connection);
    write_sets_and_sorted_sets(&mut connection);
    check_sets_and_sorted_sets(&mut connection);
    check_strings_lists_and_hashes(&mut connection);
}

#[test]
fn servers_on_v1_and_v2_update_straight_to_v4_through_the_chain_of_migrations() {
    for (plugin_crate, version) in [("kv-v1", "1.0.0"), ("kv-v2", "2.0.0")] {
        let server = KvServer::start(plugin_crate, version);
        let mut connection = server.connect();
        let mut pipeline = redis::pipe();
        for index in 0..KEYS_PER_TYPE {
            pipeline.cmd("SET").arg(format!("string:{index}")).arg(format!("value-{index}")).ignore();
        }
        let () = pipeline.query(&mut connection).expect("SETs");
        if version == "2.0.0" {
            let () = redis::cmd("EXPIRE").arg("string:0").arg(3600).query(&mut connection).expect("EXPIRE");
        }
        let report = server.update_to("kv-v4", "4.0.0", false);
        println!("{version} → 4.0.0: {} bytes of state, pause {:?}", report.state_bytes, report.pause);
        for index in 0..KEYS_PER_TYPE {
            let found: Option<String> = redis::cmd("GET").arg(format!("string:{index}")).query(&mut connection).expect("GET");
            assert_eq!(found, Some(format!("value-{index}")), "string:{index} on v4, from {version}");
        }
        let time_to_live: i64 = redis::cmd("TTL").arg("string:0").query(&mut connection).expect("TTL");
        assert_eq!(time_to_live > 0, version == "2.0.0", "a time to live comes over from v2: {time_to_live}");
        let added: i64 = redis::cmd("SADD").arg("set").arg("member").query(&mut connection).expect("SADD");
        assert_eq!(added, 1, "v4 serves sets");
        // And all the way back down, forced (the set goes).
        let report = server.reload(plugin_crate, true, true).expect("a forced downgrade through the chain");
        assert_eq!(report.to_version.to_string(), version);
        let found: Option<String> = redis::cmd("GET").arg("string:1").query(&mut connection).expect("GET");
        assert_eq!(found.as_deref(), Some("value-1"));
    }
}

/// The tests `redis-benchmark` runs when given no `-t`, as it names them (Redis 7.0).
const DEFAULT_BENCHMARK_TESTS: [&str; 20] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

/// The requests of each test in the run of redis-benchmark's default tests.
const BENCHMARK_REQUESTS: u64 = 20_000;

/// The requests of each test in the run across updates: enough that it lasts through several.
const BENCHMARK_REQUESTS_ACROSS_UPDATES: u64 = 100_000;

/// Starts `redis-benchmark -n requests -P 16 -c 50 -q` against `server`, with `-t tests` when some
/// are given.
fn start_benchmark_of(server: &KvServer, requests: u64, tests: Option<&str>) -> ToolRunning {
    let (port, requests) = (server.port.to_string(), requests.to_string());
    let mut arguments = vec!["-h", "127.0.0.1", "-p", &port, "-n", &requests, "-P", "16", "-c", "50", "-q"];
    if let Some(tests) = tests {
        arguments.extend(["-t", tests]);
    }
    ToolRunning::start("redis-benchmark", &arguments)
}

/// Checks that every INCR of a benchmark run of `requests` per test counted.
#[track_caller]
fn check_every_increment_counted(server: &KvServer, requests: u64) {
    let increments: i64 = redis::cmd("GET").arg("counter:__rand_int__").query(&mut server.connect()).expect("GET");
    assert!(increments >= requests as i64, "every INCR counted: {increments}");
}

#[test]
fn redis_benchmark_runs_its_default_tests_clean_on_v4() {
    if !redis_tools_installed() {
        return;
    }
    let server = KvServer::start("kv-v4", "4.0.0");
    let results = check_benchmark_of(&start_benchmark_of(&server, BENCHMARK_REQUESTS, None).finish(), &DEFAULT_BENCHMARK_TESTS);
    println!("redis-benchmark's default tests on v4: {results:?}");
    check_every_increment_counted(&server, BENCHMARK_REQUESTS);
    // SADD adds one member over and over, and SPOP pops it; ZADD and ZPOPMIN the same.
    let mut connection = server.connect();
    let types: (String, String) = redis::pipe().cmd("TYPE").arg("myset").cmd("TYPE").arg("myzset").query(&mut connection).expect("TYPE");
    assert_eq!(types, ("none".to_owned(), "none".to_owned()), "the last SPOP and ZPOPMIN emptied the set and the sorted set");
}

/// The tests of the benchmark run across v3 and v4: those both versions serve.
const TESTS_V3_ALSO_SERVES: &str = "set,get,incr,lpush,rpush,lpop,rpop,hset,lrange_100,mset";

/// [`TESTS_V3_ALSO_SERVES`] as redis-benchmark names them, in its order.
const BENCHMARK_TESTS_V3_ALSO_SERVES: [&str; 11] = [
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "HSET",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "MSET (10 keys)",
];

#[test]
fn redis_benchmark_runs_clean_while_kv_goes_v3_v4_v3_forced_v4_in_a_loop() {
    if !redis_tools_installed() {
        return;
    }
    let server = KvServer::start("kv-v3", "3.0.0");
    let mut benchmark = start_benchmark_of(&server, BENCHMARK_REQUESTS_ACROSS_UPDATES, Some(TESTS_V3_ALSO_SERVES));
    let started = Instant::now();
    let mut pauses = Vec::new();
    while !benchmark.has_exited() && started.elapsed() < PATIENCE {
        // Up to v4, then down to v3 with the downgrade forced, and again.
        let report = if pauses.len() % 2 == 0 {
            server.update_to("kv-v4", "4.0.0", false)
        } else {
            let report = server.reload("kv-v3", true, true).unwrap_or_else(|error| panic!("a forced downgrade to v3: {error}"));
            assert_eq!(report.to_version.to_string(), "3.0.0");
            report
        };
        pauses.push(report.pause);
        std::thread::sleep(Duration::from_millis(50));
    }
    let results = check_benchmark_of(&benchmark.finish(), &BENCHMARK_TESTS_V3_ALSO_SERVES);
    println!("redis-benchmark across {} updates between v3 and v4 (longest pause {:?}): {results:?}", pauses.len(), pauses.iter().max());
    assert!(pauses.len() >= 3, "the benchmark ran across v3 → v4 → v3 → v4: {} updates happened", pauses.len());
    check_every_increment_counted(&server, BENCHMARK_REQUESTS_ACROSS_UPDATES);
}
