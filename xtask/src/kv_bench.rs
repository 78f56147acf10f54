//! `cargo xtask bench kv`: measures, in one run on one machine, the throughput `redis-benchmark`
//! gets from (a) `kv-server` with kv v3 (release builds), (b) the same while it is updated v3 → v3
//! through its control socket every second, and (c) a real `redis-server`, pipelined (`-P 16`) and
//! not (`-P 1`), and prints them side by side with the ratios to `redis-server` and the pauses of the
//! updates in (b). With two cores or more, every server runs on core 0 alone and `redis-benchmark` on
//! core 1, so that the servers compete on equal terms (Redis serves from one thread); the rounds of
//! (a) and (c) alternate, so that a machine that gets busier or quieter affects both alike.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::kv_server::{self, KvServer};
use crate::redis_server::RedisServer;
use crate::{cargo, plugin, run};

/// The pipeline depths measured, the tests `redis-benchmark` runs at each, in its order, and how
/// many times the requests of a test at `-P 1` each test makes (pipelined, a server answers about
/// ten times as many a second; as many requests would make each test last a fraction of a second,
/// too short to measure). Unpipelined, each request costs a round trip, so only SET and GET are
/// measured there.
const PIPELINES: [(u32, &str, u64); 2] = [(16, "set,get,incr,lpush,lpop,mset", 10), (1, "set,get", 1)];

/// How many clients `redis-benchmark` opens.
const CLIENTS: &str = "50";

/// The core the servers run on, and the core `redis-benchmark` runs on, when there are two.
const SERVER_CORE: usize = 0;
const LOAD_CORE: usize = 1;

/// How many requests each test makes in one round at `-P 1` (ten times as many at `-P 16`), unless
/// `--requests N` says otherwise.
const DEFAULT_REQUESTS_PER_TEST: u64 = 100_000;

/// How many times the benchmark runs against each server, unless `--rounds N` says otherwise; the
/// table shows the median round of each test. One round of the default size takes a second or
/// two, so several rounds let (b) see several updates, and the median tames a noisy machine.
const DEFAULT_ROUNDS: usize = 5;

/// The most rounds allowed.
const MAXIMUM_ROUNDS: usize = 100;

/// The longest one `redis-benchmark` run may take.
const BENCHMARK_DEADLINE: Duration = Duration::from_secs(600);

/// How often (b) updates the server.
const UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// The most updates (b) makes, whatever happens.
const MAXIMUM_UPDATES: usize = 1_000;

/// How often a waiting loop looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

const INSTALL_HINT: &str = "apt-get install redis-tools redis-server";

pub fn bench(arguments: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask bench kv [--requests N] [--rounds N]";
    let mut requests_per_test = DEFAULT_REQUESTS_PER_TEST;
    let mut rounds = DEFAULT_ROUNDS;
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        let mut number = || arguments.next().and_then(|value| value.parse::<u64>().ok()).filter(|&value| value > 0);
        match argument.as_str() {
            "--requests" => requests_per_test = number().ok_or_else(|| format!("--requests needs a positive number; {usage}"))?,
            "--rounds" => {
                rounds = number()
                    .filter(|&value| value <= MAXIMUM_ROUNDS as u64)
                    .ok_or_else(|| format!("--rounds needs a number from 1 to {MAXIMUM_ROUNDS}; {usage}"))?
                    as usize;
            }
            other => return Err(format!("unexpected argument `{other}`; {usage}")),
        }
    }
    let tool = find_program("redis-benchmark")
        .ok_or_else(|| format!("`redis-benchmark` is not installed; run `{INSTALL_HINT}` to compare kv-server with Redis"))?;
    let redis_server = find_program("redis-server")
        .ok_or_else(|| format!("`redis-server` is not installed; run `{INSTALL_HINT}` to compare kv-server with Redis"))?;

    eprintln!("building kv-v3 and kv-server (release)…");
    run(cargo().args(["build", "--release", "-p", "kv-v3", "-p", "kv-server"]))?;
    let library = plugin::find("kv-v3", "release")?.library;
    let server_binary = library.parent().ok_or("the kv-v3 library has no directory")?.join("kv-server");
    for path in [&library, &server_binary] {
        if !path.is_file() {
            return Err(format!("cargo built, but `{}` is not there", path.display()));
        }
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let pinned = cores >= 2 && find_program("taskset").is_some();
    let (server_core, load_core) = if pinned { (Some(SERVER_CORE), Some(LOAD_CORE)) } else { (None, None) };
    println!(
        "redis-benchmark -c {CLIENTS} -n {requests_per_test} (-P 1) or {} (-P 16) against 127.0.0.1, {rounds} round(s) per server, on this machine ({cores} cores available; {})",
        requests_per_test * PIPELINES[0].2,
        if pinned { "servers on core 0 alone, redis-benchmark on core 1" } else { "not pinned: needs two cores and taskset" }
    );
    let mut update_failures = Vec::new();
    for (pipeline, tests, requests_factor) in PIPELINES {
        let requests_per_test = requests_per_test * requests_factor;
        let benchmark = Benchmark { tool: tool.clone(), requests_per_test, rounds, pipeline, tests, core: load_core };
        println!();
        println!("-P {pipeline}: (a) kv-server with kv v3, no updates, and (c) redis-server, rounds alternating…");
        let server = KvServer::start_pinned(&server_binary, &library, None, &[], server_core)?;
        let redis = RedisServer::start_pinned(&redis_server, server_core)?;
        let alternating = benchmark.run_alternating(server.port, redis.port);
        let (kv_stopped, redis_stopped) = (server.stop(), redis.stop());
        let (without_updates, redis_results) = alternating?;
        kv_stopped?;
        redis_stopped?;

        println!("-P {pipeline}: (b) kv-server with kv v3, updated v3 → v3 every second while the benchmark runs…");
        let server = KvServer::start_pinned(&server_binary, &library, None, &[], server_core)?;
        let updater = Updater::start(server.control_socket.clone(), library.clone());
        let with_updates = benchmark.run(server.port);
        let updates = updater.finish();
        let stopped = server.stop();
        let with_updates = with_updates?;
        stopped?;

        print_table(pipeline, &without_updates, &with_updates, &redis_results);
        print_updates(&updates);
        update_failures.extend(updates.failures);
    }
    match update_failures.first() {
        None => Ok(()),
        Some(first) => Err(format!("{} update(s) during (b) failed, the first: {first}", update_failures.len())),
    }
}

/// The path of `name` in `PATH`, if it is there and executable.
fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|directory| directory.join(name))
        .find(|candidate| candidate.metadata().is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0))
}

/// Requests per second by test name, in the order `redis-benchmark` ran them.
type Results = Vec<(String, f64)>;

/// How `redis-benchmark` is run.
struct Benchmark {
    tool: PathBuf,
    requests_per_test: u64,
    rounds: usize,
    /// `-P`: how many requests each client sends before it reads the replies.
    pipeline: u32,
    /// `-t`: the tests.
    tests: &'static str,
    /// The core `redis-benchmark` runs on, if pinned.
    core: Option<usize>,
}

impl Benchmark {
    /// Runs every round against 127.0.0.1:`port`; for each test, the median requests per second.
    fn run(&self, port: u16) -> Result<Results, String> {
        let mut rounds = Vec::with_capacity(self.rounds);
        for _ in 0..self.rounds {
            rounds.push(self.run_once(port)?);
        }
        Ok(medians(&rounds))
    }

    /// Runs the rounds against 127.0.0.1:`first_port` and 127.0.0.1:`second_port` in turn; for
    /// each server and test, the median requests per second.
    fn run_alternating(&self, first_port: u16, second_port: u16) -> Result<(Results, Results), String> {
        let (mut first_rounds, mut second_rounds) = (Vec::with_capacity(self.rounds), Vec::with_capacity(self.rounds));
        for _ in 0..self.rounds {
            first_rounds.push(self.run_once(first_port)?);
            second_rounds.push(self.run_once(second_port)?);
        }
        Ok((medians(&first_rounds), medians(&second_rounds)))
    }

    /// Runs `redis-benchmark` once against 127.0.0.1:`port` and reads its CSV output.
    fn run_once(&self, port: u16) -> Result<Results, String> {
        let pipeline = self.pipeline.to_string();
        let arguments = ["-t", self.tests, "-P", &pipeline, "-c", CLIENTS];
        run_benchmark(&self.tool, self.core, port, &arguments, self.requests_per_test)
    }
}

/// For each test of the first round, the median of its requests per second over `rounds`.
fn medians(rounds: &[Results]) -> Results {
    let mut medians = Results::new();
    let Some(first_round) = rounds.first() else { return medians };
    {
        for (test, _) in first_round {
            let mut values: Vec<f64> =
                rounds.iter().filter_map(|round| round.iter().find(|(name, _)| name == test).map(|(_, value)| *value)).collect();
            values.sort_by(f64::total_cmp);
            medians.push((test.clone(), values[values.len() / 2]));
        }
    }
    medians
}

/// Runs `redis-benchmark` (on `core`, if given) once against 127.0.0.1:`port` with `arguments`
/// and reads its CSV output.
fn run_benchmark(tool: &Path, core: Option<usize>, port: u16, arguments: &[&str], requests_per_test: u64) -> Result<Results, String> {
    let mut child = kv_server::command_on_core(tool, core)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(arguments)
        .args(["-n", &requests_per_test.to_string()])
        .arg("--csv")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("could not start redis-benchmark: {error}"))?;
    let standard_output = read_in_background(child.stdout.take());
    let standard_error = read_in_background(child.stderr.take());
    let status = wait_with_deadline(&mut child, BENCHMARK_DEADLINE, "redis-benchmark")?;
    let standard_output = standard_output.join().unwrap_or_default();
    let standard_error = standard_error.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("redis-benchmark failed ({status}): {}", standard_error.trim()));
    }
    let results = parse_csv(&standard_output);
    if results.is_empty() {
        return Err(format!("redis-benchmark printed no results: {} {}", standard_output.trim(), standard_error.trim()));
    }
    Ok(results)
}

/// Reads a pipe to its end on its own thread.
fn read_in_background<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` up to `deadline`; kills it if it takes longer.
fn wait_with_deadline(child: &mut Child, deadline: Duration, name: &str) -> Result<std::process::ExitStatus, String> {
    let give_up_at = Instant::now() + deadline;
    while Instant::now() < give_up_at {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => std::thread::sleep(POLL_INTERVAL),
            Err(error) => return Err(format!("could not wait for {name}: {error}")),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{name} did not finish within {deadline:?} and was killed"))
}

/// The `"TEST","RPS",…` lines of `redis-benchmark --csv` (the header line is skipped, since its
/// second field is not a number).
fn parse_csv(output: &str) -> Results {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.split("\",\"").map(|field| field.trim().trim_matches('"'));
            let test = fields.next()?.to_owned();
            let requests_per_second = fields.next()?.parse::<f64>().ok()?;
            Some((test, requests_per_second))
        })
        .collect()
}

/// What the updates during (b) did.
struct Updates {
    pauses: Vec<Duration>,
    totals: Vec<Duration>,
    failures: Vec<String>,
}

/// A thread that updates the kv module to `library` every [`UPDATE_INTERVAL`] until told to stop.
struct Updater {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Updates>>,
}

impl Updater {
    fn start(control_socket: PathBuf, library: PathBuf) -> Updater {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || update_every_second(&control_socket, &library, &stop))
        };
        Updater { stop, thread: Some(thread) }
    }

    fn finish(mut self) -> Updates {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(updates)) => updates,
            _ => Updates { pauses: Vec::new(), totals: Vec::new(), failures: vec!["the updating thread panicked".to_owned()] },
        }
    }
}

impl Drop for Updater {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn update_every_second(control_socket: &Path, library: &Path, stop: &AtomicBool) -> Updates {
    let mut updates = Updates { pauses: Vec::new(), totals: Vec::new(), failures: Vec::new() };
    // The server itself is not needed here: only its control socket, through a fresh connection
    // per update, as an operator's tool would use it.
    let mut next_update = Instant::now() + UPDATE_INTERVAL;
    for _ in 0..MAXIMUM_UPDATES {
        while Instant::now() < next_update {
            if stop.load(Ordering::Relaxed) {
                return updates;
            }
            std::thread::sleep(POLL_INTERVAL.min(next_update.saturating_duration_since(Instant::now())));
        }
        if stop.load(Ordering::Relaxed) {
            return updates;
        }
        match kv_server::reload_through(control_socket, library) {
            Ok(report) => {
                updates.pauses.push(report.pause);
                updates.totals.push(report.total);
            }
            Err(reason) => updates.failures.push(reason),
        }
        next_update += UPDATE_INTERVAL;
    }
    updates
}

fn print_table(pipeline: u32, without_updates: &Results, with_updates: &Results, redis: &Results) {
    let by_test = |results: &Results| results.iter().cloned().collect::<BTreeMap<String, f64>>();
    let (with_updates, redis) = (by_test(with_updates), by_test(redis));
    let cell = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.0}"));
    let ratio = |numerator: Option<f64>, denominator: Option<f64>| match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => format!("{:.2}", numerator / denominator),
        _ => "-".to_owned(),
    };
    println!();
    println!("requests per second with -P {pipeline} (median of the rounds)");
    println!(
        "  {:<16} {:>14} {:>18} {:>16} {:>9} {:>9}",
        "test", "(a) kv-server", "(b) kv + updates", "(c) redis-server", "(a)/(c)", "(b)/(c)"
    );
    // The tests in the order (a) ran them, then any that only another run has.
    let mut tests: Vec<String> = without_updates.iter().map(|(test, _)| test.clone()).collect();
    for test in with_updates.keys().chain(redis.keys()) {
        if !tests.contains(test) {
            tests.push(test.clone());
        }
    }
    let without_updates = by_test(without_updates);
    for test in &tests {
        let (a, b, c) = (without_updates.get(test).copied(), with_updates.get(test).copied(), redis.get(test).copied());
        println!("  {:<16} {:>14} {:>18} {:>16} {:>9} {:>9}", test, cell(a), cell(b), cell(c), ratio(a, c), ratio(b, c));
    }
}

fn print_updates(updates: &Updates) {
    let milliseconds = |duration: Duration| duration.as_secs_f64() * 1e3;
    let mut pauses = updates.pauses.clone();
    pauses.sort();
    let median = pauses.get(pauses.len() / 2).copied().map_or(0.0, milliseconds);
    let maximum = pauses.last().copied().map_or(0.0, milliseconds);
    let longest_total = updates.totals.iter().max().copied().map_or(0.0, milliseconds);
    println!(
        "updates during (b): {} (kv v3 → v3, one a second, through the control socket), failed: {}; pause median {median:.3} ms, max {maximum:.3} ms; longest update {longest_total:.1} ms",
        updates.pauses.len(),
        updates.failures.len()
    );
}
