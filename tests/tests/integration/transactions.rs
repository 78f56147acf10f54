//! Transactions on a real `kv-server`: the `redis` crate's own pipelines and transactions (MULTI,
//! EXEC, WATCH, UNWATCH as the crate sends them), transactions that never show half their writes
//! while kv v4 is updated live in a loop (eagerly, lazily, and rolled back), what an update between
//! WATCH and EXEC does, and a version without transactions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use ecdysis_host::protocol::Command as ControlCommand;
use redis::{Commands, Value};

use super::kv::{KvServer, PATIENCE};
use super::kv_v4::{request_report, update_lazily_to_the_end};
use super::*;

#[test]
fn the_redis_crates_pipelines_and_transactions_work_against_kv_server() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();

    // A plain pipeline across the families, read back as typed values.
    let (string, list, field, members, scores): (String, Vec<String>, String, usize, Vec<(String, f64)>) = redis::pipe()
        .set("string", "value")
        .ignore()
        .rpush("list", &["x", "y", "z"])
        .ignore()
        .get("string")
        .lrange("list", 0, -1)
        .hset("hash", "field", "v")
        .ignore()
        .hget("hash", "field")
        .sadd("set", &["a", "b"])
        .ignore()
        .scard("set")
        .zadd_multiple("zset", &[(1.5, "one"), (2.0, "two")])
        .ignore()
        .zrange_withscores("zset", 0, -1)
        .query(&mut connection)
        .expect("a pipeline");
    assert_eq!((string.as_str(), list, field.as_str(), members), ("value", vec!["x".into(), "y".into(), "z".into()], "v", 2));
    assert_eq!(scores, vec![("one".to_owned(), 1.5), ("two".to_owned(), 2.0)]);

    // An atomic pipeline: MULTI, the commands, EXEC, whose array the crate unpacks.
    let (first, second): (i64, i64) =
        redis::pipe().atomic().incr("counter", 1).incr("counter", 10).query(&mut connection).expect("MULTI/EXEC");
    assert_eq!((first, second), (1, 11));

    // `redis::transaction`: WATCH, a read, then MULTI/EXEC, tried again while EXEC fails. Another
    // connection writes the watched key during the first try, so the first EXEC fails.
    let mut other = server.connect();
    let mut tries = 0;
    let (after,): (i64,) = redis::transaction(&mut connection, &["balance"], |connection, pipe| {
        tries += 1;
        let balance: Option<i64> = connection.get("balance")?;
        if tries == 1 {
            let () = other.set("balance", 100)?;
        }
        pipe.set("balance", balance.unwrap_or(0) + 1).ignore().get("balance").query(connection)
    })
    .expect("a transaction that goes through on its second try");
    assert_eq!((tries, after), (2, 101));

    // An error inside EXEC's array fails the crate's query; the commands around it ran.
    let failed: redis::RedisResult<(i64, i64)> =
        redis::pipe().atomic().set("text", "abc").ignore().incr("text", 1).incr("counter", 1).query(&mut connection);
    assert!(failed.is_err(), "INCR of a string fails inside the transaction: {failed:?}");
    assert_eq!(connection.get::<_, i64>("counter").expect("GET"), 12);

    // A queueing error discards the transaction: nothing ran.
    let discarded: redis::RedisResult<Value> = redis::pipe().atomic().incr("counter", 1).cmd("GET").query(&mut connection);
    let error = discarded.expect_err("a transaction with a wrong number of arguments is discarded");
    // The crate reads EXECABORT and reports the queueing error that caused it.
    assert!(error.to_string().contains("wrong number of arguments for 'get' command"), "{error}");
    assert_eq!(connection.get::<_, i64>("counter").expect("GET"), 12);
}

/// How many times each kind of client went through, and what they saw wrong.
#[derive(Default)]
struct TransactionCounts {
    pairs_written: AtomicU64,
    pairs_read: AtomicU64,
    increments: AtomicU64,
    retries: AtomicU64,
}

/// Runs `client` on its own connection until `stop`; a wrong reply ends it with an error.
fn spawn_client(
    server: &KvServer,
    stop: &Arc<AtomicBool>,
    counts: &Arc<TransactionCounts>,
    client: fn(&mut redis::Connection, &TransactionCounts) -> Result<(), String>,
) -> JoinHandle<Result<(), String>> {
    let (mut connection, stop, counts) = (server.connect(), Arc::clone(stop), Arc::clone(counts));
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            client(&mut connection, &counts)?;
        }
        Ok(())
    })
}

/// Increments `a` and `b` in one transaction; both replies must be equal.
fn write_pair(connection: &mut redis::Connection, counts: &TransactionCounts) -> Result<(), String> {
    let (a, b): (i64, i64) =
        redis::pipe().atomic().incr("a", 1).incr("b", 1).query(connection).map_err(|error| format!("MULTI INCR INCR EXEC: {error}"))?;
    if a != b {
        return Err(format!("a transaction's writes were split: a = {a}, b = {b}"));
    }
    counts.pairs_written.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Reads `a` and `b` in one transaction; they must be equal.
fn read_pair(connection: &mut redis::Connection, counts: &TransactionCounts) -> Result<(), String> {
    let (a, b): (Option<i64>, Option<i64>) =
        redis::pipe().atomic().get("a").get("b").query(connection).map_err(|error| format!("MULTI GET GET EXEC: {error}"))?;
    if a != b {
        return Err(format!("a transaction saw half of another: a = {a:?}, b = {b:?}"));
    }
    counts.pairs_read.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Increments `c` with WATCH, GET, MULTI, SET, EXEC, retrying while EXEC fails.
fn increment_optimistically(connection: &mut redis::Connection, counts: &TransactionCounts) -> Result<(), String> {
    let mut tries = 0;
    let () = redis::transaction(connection, &["c"], |connection, pipe| {
        tries += 1;
        let current: Option<i64> = connection.get("c")?;
        pipe.set("c", current.unwrap_or(0) + 1).ignore().query(connection)
    })
    .map_err(|error| format!("WATCH GET MULTI SET EXEC: {error}"))?;
    counts.increments.fetch_add(1, Ordering::Relaxed);
    counts.retries.fetch_add(tries - 1, Ordering::Relaxed);
    Ok(())
}

#[test]
fn transactions_never_show_half_their_writes_while_kv_is_updated_in_a_loop() {
    const ROUNDS: usize = 3;
    let server = KvServer::start("kv-v4", "4.0.0");
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(TransactionCounts::default());
    let clients: Vec<JoinHandle<Result<(), String>>> =
        [write_pair, write_pair, read_pair, increment_optimistically, increment_optimistically]
            .into_iter()
            .map(|client| spawn_client(&server, &stop, &counts, client))
            .collect();
    let wait_for_progress = || {
        let target = counts.pairs_written.load(Ordering::Relaxed) + 100;
        let started = Instant::now();
        while counts.pairs_written.load(Ordering::Relaxed) < target && !clients.iter().any(JoinHandle::is_finished) {
            assert!(started.elapsed() < PATIENCE, "the clients made no progress for {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    // Each round: an eager update, a lazy one run to its end, and a rollback, with the clients busy
    // before each.
    for _ in 0..ROUNDS {
        wait_for_progress();
        server.update_to("kv-v4", "4.0.0", false);
        wait_for_progress();
        update_lazily_to_the_end(&server, "kv-v4", "4.0.0");
        wait_for_progress();
        let rollback = request_report(&server, ControlCommand::Rollback { module: "kv".into(), force: false }).expect("a rollback");
        assert_eq!(rollback.to_version.to_string(), "4.0.0");
    }
    wait_for_progress();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client
            .join()
            .expect("a client thread does not panic")
            .unwrap_or_else(|error| panic!("{error}; kv-server's stderr:\n{}", server.stderr()));
    }

    // Every transaction went through whole: each pair was written in full, and every optimistic
    // increment counted once.
    let mut connection = server.connect();
    let written = counts.pairs_written.load(Ordering::Relaxed);
    let (a, b, c): (i64, i64, i64) = redis::pipe().get("a").get("b").get("c").query(&mut connection).expect("GET a b c");
    assert_eq!((a, b), (written as i64, written as i64), "every pair written, none split");
    assert_eq!(c as u64, counts.increments.load(Ordering::Relaxed), "every optimistic increment counted exactly once");
    assert!(counts.pairs_read.load(Ordering::Relaxed) > 0, "the reader read");
    println!(
        "{written} pairs written, {} read, {} optimistic increments with {} retries, across {} updates and {ROUNDS} rollbacks",
        counts.pairs_read.load(Ordering::Relaxed),
        counts.increments.load(Ordering::Relaxed),
        counts.retries.load(Ordering::Relaxed),
        2 * ROUNDS
    );
}

/// WATCH `key`, then `between`, then MULTI, SET, EXEC on `connection`: EXEC's reply.
fn exec_after(connection: &mut redis::Connection, key: &str, between: impl FnOnce()) -> Value {
    let () = redis::cmd("WATCH").arg(key).query(connection).expect("WATCH");
    between();
    let () = redis::cmd("MULTI").query(connection).expect("MULTI");
    let queued: String = redis::cmd("SET").arg(key).arg("written").query(connection).expect("SET in MULTI");
    assert_eq!(queued, "QUEUED");
    redis::cmd("EXEC").query(connection).expect("EXEC")
}

#[test]
fn an_update_between_watch_and_exec_fails_the_exec_and_the_next_try_goes_through() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    let () = connection.set("k", "before").expect("SET");

    // Nothing in between: EXEC runs.
    assert_eq!(exec_after(&mut connection, "k", || {}), Value::Array(vec![Value::Okay]));
    // An eager update in between: EXEC fails, as after a change of the key, and changes nothing.
    let () = connection.set("k", "before").expect("SET");
    assert_eq!(exec_after(&mut connection, "k", || drop(server.update_to("kv-v4", "4.0.0", false))), Value::Nil);
    assert_eq!(connection.get::<_, String>("k").expect("GET"), "before");
    // A lazy update in between, and a rollback in between: the same.
    assert_eq!(exec_after(&mut connection, "k", || update_lazily_to_the_end(&server, "kv-v4", "4.0.0")), Value::Nil);
    let rollback = || drop(request_report(&server, ControlCommand::Rollback { module: "kv".into(), force: false }).expect("a rollback"));
    assert_eq!(exec_after(&mut connection, "k", rollback), Value::Nil);
    assert_eq!(connection.get::<_, String>("k").expect("GET"), "before");
    // The next try, on the version now running, goes through.
    assert_eq!(exec_after(&mut connection, "k", || {}), Value::Array(vec![Value::Okay]));
    assert_eq!(connection.get::<_, String>("k").expect("GET"), "written");
}

#[test]
fn a_version_without_transactions_refuses_multi_and_watch_and_v4_takes_them_after_an_update() {
    let server = KvServer::start("kv-v3", "3.0.0");
    let mut connection = server.connect();
    let multi: redis::RedisResult<Value> = redis::cmd("MULTI").query(&mut connection);
    assert!(multi.expect_err("v3 has no MULTI").to_string().contains("unknown command 'MULTI'"));
    let watch: redis::RedisResult<Value> = redis::cmd("WATCH").arg("k").query(&mut connection);
    assert!(watch.expect_err("v3 has no WATCH").to_string().contains("unknown command 'WATCH'"));
    // No transaction was opened: EXEC has none to run, and SET runs at once.
    let exec: redis::RedisResult<Value> = redis::cmd("EXEC").query(&mut connection);
    assert!(exec.expect_err("no transaction").to_string().contains("EXEC without MULTI"));
    let () = connection.set("k", "v3").expect("SET");

    server.update_to("kv-v4", "4.0.0", false);
    let (value,): (String,) = redis::pipe().atomic().get("k").query(&mut connection).expect("MULTI/EXEC on v4");
    assert_eq!(value, "v3");
}
