//! The kv-server experiments: update pause against state size (eager and lazy transfer, with the
//! codec floor measured beside), pause against key count, resident memory over update cycles under
//! client load, client latency through an update, and the restart from a snapshot that users do
//! today. Every server is a release `kv-server` on 127.0.0.1, updated kv v1 → v2 through its
//! control socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kv_interface::schema::KvStateV1;
use serde_bytes::ByteBuf;

use crate::control::{self, LazyReload};
use crate::kv_server::{self, KV_MODULE, KvServer};
use crate::machine;

/// The release builds the experiments run.
pub struct Artifacts {
    pub server: PathBuf,
    pub version_one: PathBuf,
    pub version_two: PathBuf,
}

/// The largest value a size's keys get: big states are made of 1 MiB values, so that the number of
/// keys, and the time to load them, stay bounded.
const LARGEST_VALUE: usize = 1 << 20;

/// The servers whose updates are measured give each plugin hook a minute instead of the default
/// 5 s: exporting a state of a gigabyte, or two million keys, on a busy two-core machine takes
/// longer, and a refused update measures nothing.
const BIG_STATE_ARGUMENTS: &[&str] = &["--hook-timeout-ms", "60000"];

/// About how many keys a state of a given size is made of (fewer for tiny states).
const KEYS_PER_SIZE: usize = 1_000;

/// The most bytes one loading pipeline carries.
const PIPELINE_BYTES: usize = 8 << 20;

/// The most commands one loading pipeline carries.
const PIPELINE_COMMANDS: usize = 1_000;

/// How long SIGTERM may take to stop a server that writes a snapshot of a gigabyte first.
const STOP_DEADLINE: Duration = Duration::from_secs(120);

/// How many client threads put load on the server during the memory and latency experiments.
const LOAD_THREADS: usize = 2;

/// The most time a load generator runs, whatever happens.
const LOAD_DEADLINE: Duration = Duration::from_secs(900);

/// The keys and values of a state.
#[derive(Clone, Copy)]
pub struct Dataset {
    pub keys: usize,
    pub value_bytes: usize,
}

impl Dataset {
    /// About `bytes` of state: about [`KEYS_PER_SIZE`] keys, values of at most [`LARGEST_VALUE`].
    pub fn of_size(bytes: usize) -> Dataset {
        let value_bytes = (bytes / KEYS_PER_SIZE).clamp(48, LARGEST_VALUE);
        let keys = bytes.div_ceil(value_bytes + 16).max(1);
        Dataset { keys, value_bytes }
    }

    /// `keys` keys with 16-byte values.
    pub fn of_keys(keys: usize) -> Dataset {
        Dataset { keys, value_bytes: 16 }
    }

    pub fn key(index: usize) -> String {
        format!("key:{index:010}")
    }

    pub fn value(&self, index: usize) -> Vec<u8> {
        vec![b'a' + (index % 26) as u8; self.value_bytes]
    }

    /// About how many bytes the keys and values make.
    pub fn bytes(&self) -> usize {
        self.keys * (self.value_bytes + 14)
    }

    /// Loads the keys into the server on 127.0.0.1:`port` in pipelines; checks DBSIZE.
    pub fn load(&self, port: u16) -> Result<Duration, String> {
        let mut connection = kv_server::connect(port)?;
        let started = Instant::now();
        let per_pipeline = (PIPELINE_BYTES / self.value_bytes.max(1)).clamp(1, PIPELINE_COMMANDS);
        for first in (0..self.keys).step_by(per_pipeline) {
            let mut pipeline = redis::pipe();
            for index in first..(first + per_pipeline).min(self.keys) {
                pipeline.cmd("SET").arg(Dataset::key(index)).arg(self.value(index)).ignore();
            }
            pipeline.exec(&mut connection).map_err(|error| format!("loading keys failed: {error}"))?;
        }
        let elapsed = started.elapsed();
        let size: i64 = redis::cmd("DBSIZE").query(&mut connection).map_err(|error| format!("DBSIZE failed: {error}"))?;
        if size != self.keys as i64 {
            return Err(format!("DBSIZE is {size} after loading {} keys", self.keys));
        }
        Ok(elapsed)
    }

    /// The same keys and values as kv v1 exports them, in its state schema (whose map decodes
    /// into a list, without hashing: the floor is what the codec itself costs).
    fn state(&self) -> KvStateV1 {
        let strings = (0..self.keys).map(|index| (ByteBuf::from(Dataset::key(index).into_bytes()), ByteBuf::from(self.value(index))));
        KvStateV1 { strings: strings.collect() }
    }
}

/// The codec floor of a state: MessagePack encoding (`rmp_serde::to_vec_named`, as the plugin API
/// encodes) and decoding of the same map, in milliseconds, one value per round.
pub struct CodecFloor {
    pub encode_and_decode: Vec<f64>,
}

pub fn codec_floor(dataset: &Dataset, rounds: usize) -> Result<CodecFloor, String> {
    let state = dataset.state();
    let mut encode_and_decode = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let encoded = rmp_serde::to_vec_named(&state).map_err(|error| format!("encoding failed: {error}"))?;
        let decoded: KvStateV1 = rmp_serde::from_slice(&encoded).map_err(|error| format!("decoding failed: {error}"))?;
        encode_and_decode.push(started.elapsed().as_secs_f64() * 1e3);
        if decoded.strings.len() != dataset.keys {
            return Err("the decoded map lost keys".to_owned());
        }
        drop(decoded);
    }
    Ok(CodecFloor { encode_and_decode })
}

/// The lazy side of one state: measured, or why not.
pub enum LazyOutcome {
    Unavailable(String),
    /// The host offers lazy transfer, but an update or rollback failed.
    Failed(String),
    Measured {
        /// The pause of each update, in milliseconds.
        pauses: Vec<f64>,
        /// How long each migration ran after the update's reply, in milliseconds.
        migrations: Vec<f64>,
        /// Whether a status reply ever showed a migration running.
        migration_seen: bool,
    },
}

/// The updates of one state.
pub struct PausePoint {
    pub dataset: Dataset,
    /// The state's size as the host exported it.
    pub state_bytes: u64,
    pub load: Duration,
    /// The pause of each eager update, in milliseconds.
    pub eager_pauses: Vec<f64>,
    /// The whole of each eager update (rehearsal included), in milliseconds.
    pub eager_totals: Vec<f64>,
    /// The server's resident memory with no data, with the data, and at the peak of each eager
    /// update.
    pub resident_empty: u64,
    pub resident_loaded: u64,
    pub resident_peaks: Vec<u64>,
    /// Why eager updates were refused, one entry per refused round.
    pub refusals: Vec<String>,
    pub lazy: LazyOutcome,
    pub codec: CodecFloor,
}

/// Starts a server on kv v1, loads `dataset`, and updates it to v2 and back `rounds` times eagerly
/// and `rounds` times lazily; measures the codec floor of the same map in this process.
pub fn measure_pause(artifacts: &Artifacts, dataset: Dataset, rounds: usize) -> Result<PausePoint, String> {
    let server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, BIG_STATE_ARGUMENTS)?;
    let pid = server.process_id();
    let resident_empty = machine::resident_bytes(pid).unwrap_or(0);
    let load = dataset.load(server.port)?;
    let resident_loaded = machine::resident_bytes(pid).unwrap_or(0);
    let mut point = PausePoint {
        dataset,
        state_bytes: 0,
        load,
        eager_pauses: Vec::new(),
        eager_totals: Vec::new(),
        resident_empty,
        resident_loaded,
        resident_peaks: Vec::new(),
        refusals: Vec::new(),
        lazy: LazyOutcome::Unavailable(String::new()),
        codec: CodecFloor { encode_and_decode: Vec::new() },
    };
    for _ in 0..rounds {
        machine::reset_peak(pid);
        // A refused update leaves v1 serving: the round is counted as refused, and the next one
        // tries again.
        let report = match server.reload(&artifacts.version_two) {
            Ok(report) => report,
            Err(reason) => {
                eprintln!("  eager update refused: {reason}");
                point.refusals.push(reason);
                continue;
            }
        };
        point.resident_peaks.push(machine::peak_resident_bytes(pid).unwrap_or(0));
        point.eager_pauses.push(report.pause.as_secs_f64() * 1e3);
        point.eager_totals.push(report.total.as_secs_f64() * 1e3);
        point.state_bytes = report.state_bytes as u64;
        server.rollback(false).map_err(|reason| server.failure(&format!("rollback: {reason}")))?;
    }
    point.lazy = lazy_rounds(&server, artifacts, rounds).unwrap_or_else(LazyOutcome::Failed);
    check_size(&server, dataset.keys)?;
    server.stop_within(STOP_DEADLINE)?;
    point.codec = codec_floor(&dataset, rounds)?;
    Ok(point)
}

/// `rounds` lazy updates v1 → v2, each followed by its migration and a rollback.
fn lazy_rounds(server: &KvServer, artifacts: &Artifacts, rounds: usize) -> Result<LazyOutcome, String> {
    let mut pauses = Vec::new();
    let mut migrations = Vec::new();
    let mut migration_seen = false;
    for _ in 0..rounds {
        match control::lazy_reload(&server.control_socket, KV_MODULE, &artifacts.version_two)? {
            LazyReload::Unavailable(reason) => return Ok(LazyOutcome::Unavailable(reason)),
            LazyReload::Done { pause, migration, migration_seen: seen, .. } => {
                pauses.push(pause.as_secs_f64() * 1e3);
                migrations.push(migration.as_secs_f64() * 1e3);
                migration_seen |= seen;
            }
        }
        server.rollback(false).map_err(|reason| server.failure(&format!("rollback after a lazy update: {reason}")))?;
    }
    Ok(LazyOutcome::Measured { pauses, migrations, migration_seen })
}

fn check_size(server: &KvServer, keys: usize) -> Result<(), String> {
    let size = database_size(server)?;
    if size == keys as i64 { Ok(()) } else { Err(server.failure(&format!("DBSIZE is {size} after the updates, not {keys}"))) }
}

fn database_size(server: &KvServer) -> Result<i64, String> {
    let mut connection = kv_server::connect(server.port)?;
    redis::cmd("DBSIZE").query(&mut connection).map_err(|error| format!("DBSIZE failed: {error}"))
}

/// A restart from a snapshot, the way users keep state today: SIGTERM (the server writes a
/// snapshot of its state and exits), then a new process on the same state directory, until it
/// serves again with every key.
pub struct RestartPoint {
    pub dataset: Dataset,
    /// From SIGTERM to the process gone, in milliseconds (the snapshot is written meanwhile).
    pub stops: Vec<f64>,
    /// From the new process started to its first PING answered, in milliseconds.
    pub starts: Vec<f64>,
}

impl RestartPoint {
    /// Stop plus start of each round: how long clients could not be served.
    pub fn downtimes(&self) -> Vec<f64> {
        self.stops.iter().zip(&self.starts).map(|(stop, start)| stop + start).collect()
    }
}

pub fn measure_restart(artifacts: &Artifacts, dataset: Dataset, rounds: usize) -> Result<RestartPoint, String> {
    let state_directory = tempfile::Builder::new()
        .prefix("ecdysis-bench-state-")
        .tempdir()
        .map_err(|error| format!("could not create a state directory: {error}"))?;
    let state_path = state_directory.path().to_string_lossy().into_owned();
    let arguments = ["--state-dir", state_path.as_str()];
    let mut server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, &arguments)?;
    dataset.load(server.port)?;
    let mut point = RestartPoint { dataset, stops: Vec::new(), starts: Vec::new() };
    for _ in 0..rounds {
        let stopping = Instant::now();
        let (stopped, last_words) = server.stop_within_with_last_words(STOP_DEADLINE);
        stopped?;
        point.stops.push(stopping.elapsed().as_secs_f64() * 1e3);
        let about_the_snapshot: Vec<String> = last_words.into_iter().filter(|line| line.contains("snapshot")).collect();
        let starting = Instant::now();
        server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, &arguments)?;
        let mut connection = kv_server::connect(server.port)?;
        let _: String = redis::cmd("PING").query(&mut connection).map_err(|error| format!("PING failed: {error}"))?;
        point.starts.push(starting.elapsed().as_secs_f64() * 1e3);
        let size = database_size(&server)?;
        if size != dataset.keys as i64 {
            return Err(format!(
                "the restarted server holds {size} keys, not {}: the snapshot it came back from did not hold them; at \
                 SIGTERM the server said: {}",
                dataset.keys,
                if about_the_snapshot.is_empty() { "nothing about its snapshot".to_owned() } else { about_the_snapshot.join(" / ") }
            ));
        }
    }
    server.stop_within(STOP_DEADLINE)?;
    Ok(point)
}

/// Resident memory of a loaded server over update-and-rollback cycles under client load.
pub struct MemoryCycles {
    pub keys: usize,
    pub cycles: usize,
    /// `(cycles done, resident bytes)`; the first is before any update.
    pub samples: Vec<(usize, u64)>,
    pub requests: u64,
    pub errors: u64,
    /// Why updates or rollbacks were refused, one entry each.
    pub refusals: Vec<String>,
}

/// How long each client of the memory experiment waits between requests: a steady load of about a
/// thousand requests a second per client. Clients that never wait starve the rehearsal process of
/// this two-core machine's CPU, and most rehearsals of 200,000 keys then miss the host's 5 s
/// deadline (the latency experiment measures the saturating load).
const MEMORY_LOAD_THINK_TIME: Duration = Duration::from_millis(1);

/// The most refusals in a row before the memory experiment gives up.
const MAXIMUM_REFUSALS_IN_A_ROW: usize = 5;

pub fn measure_memory_cycles(artifacts: &Artifacts, keys: usize, cycles: usize) -> Result<MemoryCycles, String> {
    let server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, BIG_STATE_ARGUMENTS)?;
    let dataset = Dataset::of_keys(keys);
    dataset.load(server.port)?;
    let pid = server.process_id();
    let load = LoadGenerator::start(server.port, dataset, false, MEMORY_LOAD_THINK_TIME)?;
    // The load's own connections and buffers are part of the baseline.
    std::thread::sleep(Duration::from_millis(300));
    let mut samples = vec![(0, machine::resident_bytes(pid).unwrap_or(0))];
    let mut refusals = Vec::new();
    let mut refused_in_a_row = 0;
    for cycle in 1..=cycles {
        // A refused update or rollback leaves the running version serving; the cycle is counted
        // as refused and the next one goes on from whichever version runs.
        let outcome = server.reload(&artifacts.version_two).and_then(|_| server.rollback(false));
        match outcome {
            Ok(_) => refused_in_a_row = 0,
            Err(reason) => {
                eprintln!("  cycle {cycle} refused: {reason}");
                refusals.push(reason);
                refused_in_a_row += 1;
                if refused_in_a_row >= MAXIMUM_REFUSALS_IN_A_ROW {
                    break;
                }
                // After a refused rollback v2 still runs; take it back before the next cycle.
                let _ = server.rollback(false);
            }
        }
        samples.push((cycle, machine::resident_bytes(pid).unwrap_or(0)));
    }
    let outcome = load.finish();
    check_size(&server, keys)?;
    server.stop_within(STOP_DEADLINE)?;
    Ok(MemoryCycles { keys, cycles, samples, requests: outcome.requests, errors: outcome.errors, refusals })
}

/// The requests of one load window: `(seconds since the window began, latency in milliseconds)`.
pub struct LatencyWindow {
    pub transfer: &'static str,
    pub samples: Vec<(f64, f64)>,
    /// When the update request was sent, and when its reply came (for lazy transfer, when its
    /// migration ended), in seconds since the window began.
    pub update_started: f64,
    pub migration_ended: f64,
    pub pause_milliseconds: f64,
    pub errors: u64,
    /// Why the update was refused, if it was.
    pub refused: Option<String>,
}

impl LatencyWindow {
    /// p50, p99 and max latency of every request in the window, in milliseconds.
    pub fn percentiles(&self) -> (f64, f64, f64) {
        let mut latencies: Vec<f64> = self.samples.iter().map(|sample| sample.1).collect();
        latencies.sort_by(f64::total_cmp);
        (crate::stats::percentile(&latencies, 0.5), crate::stats::percentile(&latencies, 0.99), latencies.last().copied().unwrap_or(0.0))
    }
}

/// What the latency experiment found: the eager window, and the lazy one or why there is none.
pub struct Latency {
    pub keys: usize,
    pub eager: LatencyWindow,
    pub lazy: Result<LatencyWindow, String>,
}

/// How long the load runs before and after the update.
const QUIET_BEFORE_AND_AFTER: Duration = Duration::from_secs(1);

pub fn measure_latency(artifacts: &Artifacts, keys: usize) -> Result<Latency, String> {
    let server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, BIG_STATE_ARGUMENTS)?;
    let dataset = Dataset::of_keys(keys);
    dataset.load(server.port)?;

    let load = LoadGenerator::start(server.port, dataset, true, Duration::ZERO)?;
    std::thread::sleep(QUIET_BEFORE_AND_AFTER);
    let started = load.started;
    let update_started = started.elapsed().as_secs_f64();
    let report = server.reload(&artifacts.version_two);
    let update_replied = started.elapsed().as_secs_f64();
    std::thread::sleep(QUIET_BEFORE_AND_AFTER);
    let outcome = load.finish();
    let eager = LatencyWindow {
        transfer: "eager",
        samples: outcome.samples,
        update_started,
        migration_ended: update_replied,
        pause_milliseconds: report.as_ref().map_or(0.0, |report| report.pause.as_secs_f64() * 1e3),
        errors: outcome.errors,
        refused: report.as_ref().err().cloned(),
    };
    if report.is_ok() {
        server.rollback(false).map_err(|reason| server.failure(&format!("rollback: {reason}")))?;
    }

    let load = LoadGenerator::start(server.port, dataset, true, Duration::ZERO)?;
    std::thread::sleep(QUIET_BEFORE_AND_AFTER);
    let started = load.started;
    let update_started = started.elapsed().as_secs_f64();
    let lazy = control::lazy_reload(&server.control_socket, KV_MODULE, &artifacts.version_two);
    let migration_ended = started.elapsed().as_secs_f64();
    let lazy = match lazy {
        Ok(LazyReload::Done { pause, .. }) => {
            std::thread::sleep(QUIET_BEFORE_AND_AFTER);
            let outcome = load.finish();
            Ok(LatencyWindow {
                transfer: "lazy",
                samples: outcome.samples,
                update_started,
                migration_ended,
                pause_milliseconds: pause.as_secs_f64() * 1e3,
                errors: outcome.errors,
                refused: None,
            })
        }
        Ok(LazyReload::Unavailable(reason)) => {
            load.finish();
            Err(format!("lazy transfer: not available in this build ({reason})"))
        }
        Err(reason) => {
            load.finish();
            Err(reason)
        }
    };
    check_size(&server, keys)?;
    server.stop_within(STOP_DEADLINE)?;
    Ok(Latency { keys, eager, lazy })
}

/// What a load generator did.
struct LoadOutcome {
    requests: u64,
    errors: u64,
    samples: Vec<(f64, f64)>,
}

/// What one load client returns: its errors and, when recording, `(start, latency)` of every
/// request.
type ClientOutcome = (u64, Vec<(f64, f64)>);

/// Client threads, each on its own connection, alternating GET and SET of random loaded keys,
/// one request at a time, until told to stop (or [`LOAD_DEADLINE`]).
struct LoadGenerator {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    threads: Vec<JoinHandle<ClientOutcome>>,
    started: Instant,
}

impl LoadGenerator {
    /// `think_time` is how long each client waits between a reply and its next request.
    fn start(port: u16, dataset: Dataset, record: bool, think_time: Duration) -> Result<LoadGenerator, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut threads = Vec::new();
        for thread_index in 0..LOAD_THREADS {
            let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|error| format!("could not connect a load client: {error}"))?;
            stream.set_nodelay(true).map_err(|error| error.to_string())?;
            stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|error| error.to_string())?;
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
            threads.push(std::thread::spawn(move || {
                run_client(stream, dataset, thread_index as u64 + 1, (record, think_time), started, &stop, &requests)
            }));
        }
        Ok(LoadGenerator { stop, requests, threads, started })
    }

    fn finish(self) -> LoadOutcome {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcome = LoadOutcome { requests: self.requests.load(Ordering::Relaxed), errors: 0, samples: Vec::new() };
        for thread in self.threads {
            match thread.join() {
                Ok((errors, samples)) => {
                    outcome.errors += errors;
                    outcome.samples.extend(samples);
                }
                Err(_) => outcome.errors += 1,
            }
        }
        outcome.requests = outcome.requests.max(self.requests.load(Ordering::Relaxed));
        outcome.samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        outcome
    }
}

/// One load client: returns its errors and, when `record`, `(start, latency)` of every request.
fn run_client(
    stream: TcpStream,
    dataset: Dataset,
    seed: u64,
    (record, think_time): (bool, Duration),
    started: Instant,
    stop: &AtomicBool,
    requests: &AtomicU64,
) -> ClientOutcome {
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return (1, Vec::new()),
    };
    let mut reader = BufReader::new(stream);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut request = Vec::with_capacity(128);
    let value = dataset.value(0);
    let mut number: u64 = 0;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LOAD_DEADLINE {
        // xorshift64: a different key each time, cheap.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = Dataset::key((state % dataset.keys as u64) as usize);
        request.clear();
        if number.is_multiple_of(2) {
            write!(request, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).expect("writing to a vector");
        } else {
            write!(request, "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n", key.len(), value.len()).expect("writing to a vector");
            request.extend_from_slice(&value);
            request.extend_from_slice(b"\r\n");
        }
        number += 1;
        let sent = Instant::now();
        if writer.write_all(&request).is_err() || read_reply(&mut reader).is_err() {
            errors += 1;
            break;
        }
        if record {
            samples.push(((sent - started).as_secs_f64(), sent.elapsed().as_secs_f64() * 1e3));
        }
        requests.fetch_add(1, Ordering::Relaxed);
        if !think_time.is_zero() {
            std::thread::sleep(think_time);
        }
    }
    (errors, samples)
}

/// Reads one RESP2 reply of a GET or SET (a status, an error, or a bulk string).
fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::other("the server closed the connection"));
    }
    match line.as_bytes().first() {
        Some(b'+') => Ok(()),
        Some(b'$') => {
            let length: i64 = line[1..].trim().parse().map_err(std::io::Error::other)?;
            if length >= 0 {
                let mut body = vec![0; length as usize + 2];
                reader.read_exact(&mut body)?;
            }
            Ok(())
        }
        _ => Err(std::io::Error::other(format!("unexpected reply `{}`", line.trim()))),
    }
}

/// The path of `name` in `PATH`, if it is there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|directory| directory.join(name)).find(|candidate| candidate.is_file())
}
