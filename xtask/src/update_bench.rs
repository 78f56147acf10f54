//! `cargo xtask bench update`: what a rehearsal in a child process costs an update, measured in one
//! run on one machine. A release `kv-server` holding N keys is updated kv v1 → v2 (and rolled back)
//! several times in each of three configurations: without rehearsals (the baseline: the round trip
//! is checked in the pause), with rehearsals (the round trip is checked in the child, on a snapshot
//! taken while calls are admitted, and not again in the pause), and with rehearsals and the round
//! trip checked again in the pause (`--revalidate-in-pause`). Only the updates are measured. It prints
//! the median pause and total of each, as ratios to the baseline, and how long the snapshot export
//! held the plugin's locks.
//!
//! It also measures, in the same run, the floor an eager transfer cannot go below: rmp-serde
//! encoding and decoding the same map of keys and values in this process (the codec floor), and
//! prints each pause as a ratio of it (the target is at most 1.5 × the floor + 0.5 ms), measured
//! right after each configuration's updates, so that both see the same load on a shared machine.
//! The floor is measured by a release build of this program (`--codec-floor-only`), which this one
//! runs when it is a debug build (as `cargo xtask` builds it): a debug build of the codec would be
//! several times slower than the release build of the server it is compared with. And the
//! memory an update takes at its peak: kv-server's high-water mark of resident memory (`VmHWM`,
//! reset through `/proc/<pid>/clear_refs` before each update) above its resident memory before
//! the update, as a ratio of the state: of its encoding (`state_bytes`) and of the memory the
//! loaded keys take in the server (resident memory after loading them less before).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ecdysis_protocol::UpdateReport;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::kv_demo;
use crate::kv_server::{self, KvServer};

/// How many keys the server holds, unless `--keys N` says otherwise.
const DEFAULT_KEYS: usize = 100_000;

/// How many updates each configuration makes, unless `--rounds N` says otherwise.
const DEFAULT_ROUNDS: usize = 5;

/// The most rounds allowed.
const MAXIMUM_ROUNDS: usize = 50;

/// A configuration of the server, by its extra command-line arguments.
struct Configuration {
    name: &'static str,
    arguments: &'static [&'static str],
}

const CONFIGURATIONS: [Configuration; 3] = [
    Configuration { name: "no rehearsal (baseline)", arguments: &["--no-rehearsal"] },
    Configuration { name: "rehearsal", arguments: &[] },
    Configuration { name: "rehearsal + revalidate", arguments: &["--revalidate-in-pause"] },
];

/// The medians of one configuration's updates.
struct Medians {
    pause: Duration,
    total: Duration,
    snapshot_export: Option<Duration>,
    rehearsal: Option<Duration>,
}

/// What one configuration's run measured.
struct Measured {
    name: &'static str,
    medians: Medians,
    state_bytes: usize,
    /// The memory the loaded keys take in the server, in bytes.
    state_resident: u64,
    /// The median of the peak resident memory above that before the update, in bytes.
    peak_extra: u64,
    /// The codec floor, measured right after this configuration's updates.
    floor: CodecFloor,
}

/// The codec floor: rmp-serde's encode and decode of the kv v1 state's form, medians.
#[derive(Clone, Copy)]
struct CodecFloor {
    encode: Duration,
    decode: Duration,
}

impl CodecFloor {
    fn total(&self) -> Duration {
        self.encode + self.decode
    }
}

/// The kv v1 state as rmp-serde sees it: a map of byte strings under the field `strings`.
#[derive(Serialize, Deserialize)]
struct PlainState {
    strings: HashMap<ByteBuf, ByteBuf>,
}

pub fn bench(arguments: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask bench update [--keys N] [--rounds N]";
    let mut keys = DEFAULT_KEYS;
    let mut rounds = DEFAULT_ROUNDS;
    let mut floor_only = false;
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        let mut number = || arguments.next().and_then(|value| value.parse::<usize>().ok()).filter(|&value| value > 0);
        match argument.as_str() {
            "--keys" => keys = number().ok_or_else(|| format!("--keys needs a positive number; {usage}"))?,
            "--rounds" => {
                rounds = number()
                    .filter(|&value| value <= MAXIMUM_ROUNDS)
                    .ok_or_else(|| format!("--rounds needs a number from 1 to {MAXIMUM_ROUNDS}; {usage}"))?;
            }
            "--codec-floor-only" => floor_only = true,
            other => return Err(format!("unexpected argument `{other}`; {usage}")),
        }
    }
    if floor_only {
        let floor = codec_floor(keys, rounds)?;
        println!("codec floor {} {}", floor.encode.as_nanos(), floor.decode.as_nanos());
        return Ok(());
    }
    let artifacts = kv_demo::build("release")?;
    let release_xtask = if cfg!(debug_assertions) {
        crate::run(crate::cargo().args(["build", "--release", "--quiet", "-p", "xtask"]))?;
        Some(crate::target_dir().join("release").join("xtask"))
    } else {
        None
    };
    let mut results = Vec::new();
    for configuration in &CONFIGURATIONS {
        eprintln!("{}: {keys} keys, {rounds} updates kv v1 → v2…", configuration.name);
        let server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, configuration.arguments)?;
        let process = server.process_id();
        let resident_empty = memory(process, "VmRSS")?;
        let mut client = kv_server::connect(server.port)?;
        kv_demo::load_keys(&mut client, keys)?;
        let state_resident = memory(process, "VmRSS")?.saturating_sub(resident_empty);
        let mut reports = Vec::with_capacity(rounds);
        let mut peaks = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            // The high-water mark starts again from the resident memory of now.
            std::fs::write(format!("/proc/{process}/clear_refs"), "5")
                .map_err(|error| format!("could not reset kv-server's peak resident memory: {error}"))?;
            let before = memory(process, "VmRSS")?;
            let report = server.reload(&artifacts.version_two)?;
            peaks.push(memory(process, "VmHWM")?.saturating_sub(before));
            server.rollback(false)?;
            reports.push(report);
        }
        let size: i64 = redis::cmd("DBSIZE").query(&mut client).map_err(|error| format!("DBSIZE failed: {}", kv_demo::describe(&error)))?;
        if size != keys as i64 {
            return Err(server.failure(&format!("DBSIZE is {size} after the updates, not {keys}")));
        }
        server.stop()?;
        eprintln!("codec floor: rmp-serde encode and decode of the same {keys} keys, {} times…", rounds.max(5));
        let floor = match &release_xtask {
            None => codec_floor(keys, rounds.max(5))?,
            Some(release) => codec_floor_in(release, keys, rounds.max(5))?,
        };
        peaks.sort_unstable();
        results.push(Measured {
            name: configuration.name,
            medians: medians(&reports),
            state_bytes: reports[0].state_bytes,
            state_resident,
            peak_extra: peaks[peaks.len() / 2],
            floor,
        });
    }
    print_table(&results, keys, rounds);
    Ok(())
}

/// A line of `/proc/<process>/status` in kB (`VmRSS`, `VmHWM`), in bytes.
fn memory(process: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status"))
        .map_err(|error| format!("could not read the status of kv-server (process {process}): {error}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kilobytes| kilobytes * 1024)
        .ok_or_else(|| format!("kv-server's status has no `{field}` line"))
}

/// [`codec_floor`], measured by the release build of this program at `release`.
fn codec_floor_in(release: &std::path::Path, keys: usize, rounds: usize) -> Result<CodecFloor, String> {
    let output = std::process::Command::new(release)
        .args(["bench", "update", "--codec-floor-only", "--keys", &keys.to_string(), "--rounds", &rounds.to_string()])
        .output()
        .map_err(|error| format!("could not run `{}`: {error}", release.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let nanoseconds: Vec<u64> = text
        .trim()
        .strip_prefix("codec floor ")
        .map(|rest| rest.split(' ').filter_map(|number| number.parse().ok()).collect())
        .unwrap_or_default();
    match (output.status.success(), nanoseconds.as_slice()) {
        (true, [encode, decode]) => Ok(CodecFloor { encode: Duration::from_nanos(*encode), decode: Duration::from_nanos(*decode) }),
        _ => Err(format!(
            "the release build measuring the codec floor failed ({}): {}{}",
            output.status,
            text.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Encodes and decodes the map of the keys and values the server holds, `rounds` times, with
/// rmp-serde as the kv state crosses (named fields, byte strings); the medians of each. The maps
/// are dropped outside the timings.
fn codec_floor(keys: usize, rounds: usize) -> Result<CodecFloor, String> {
    let state = PlainState {
        strings: (0..keys)
            .map(|index| (ByteBuf::from(kv_demo::loaded_key(index).into_bytes()), ByteBuf::from(kv_demo::loaded_value(index).into_bytes())))
            .collect(),
    };
    let mut encodes = Vec::with_capacity(rounds);
    let mut decodes = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let bytes = rmp_serde::to_vec_named(&state).map_err(|error| format!("rmp-serde could not encode the map: {error}"))?;
        encodes.push(started.elapsed());
        let started = Instant::now();
        let decoded: PlainState = rmp_serde::from_slice(&bytes).map_err(|error| format!("rmp-serde could not decode the map: {error}"))?;
        decodes.push(started.elapsed());
        if decoded.strings.len() != keys {
            return Err(format!("the decoded map has {} keys, not {keys}", decoded.strings.len()));
        }
    }
    let median = |mut values: Vec<Duration>| {
        values.sort_unstable();
        values[values.len() / 2]
    };
    Ok(CodecFloor { encode: median(encodes), decode: median(decodes) })
}

fn medians(reports: &[UpdateReport]) -> Medians {
    let median = |mut values: Vec<Duration>| {
        values.sort_unstable();
        values[values.len() / 2]
    };
    let rehearsals: Vec<_> = reports.iter().filter_map(|report| report.rehearsal).collect();
    Medians {
        pause: median(reports.iter().map(|report| report.pause).collect()),
        total: median(reports.iter().map(|report| report.total).collect()),
        snapshot_export: (!rehearsals.is_empty()).then(|| median(rehearsals.iter().map(|rehearsal| rehearsal.snapshot_export).collect())),
        rehearsal: (!rehearsals.is_empty()).then(|| median(rehearsals.iter().map(|rehearsal| rehearsal.total).collect())),
    }
}

fn print_table(results: &[Measured], keys: usize, rounds: usize) {
    let milliseconds = |duration: Duration| format!("{:.1}", duration.as_secs_f64() * 1e3);
    let optional = |duration: Option<Duration>| duration.map_or_else(|| "-".to_owned(), milliseconds);
    let megabytes = |bytes: u64| format!("{:.1}", bytes as f64 / 1e6);
    let baseline = &results[0].medians;
    let state_bytes = results[0].state_bytes;
    println!();
    println!("kv v1 → v2, {keys} keys ({state_bytes} bytes of state), median of {rounds} updates each (release builds):");
    println!(
        "{:<24} {:>8} {:>6} {:>8} {:>7} {:>8} {:>6} {:>9} {:>10} {:>8} {:>7} {:>8}",
        "configuration",
        "pause ms",
        "×base",
        "floor ms",
        "×floor",
        "total ms",
        "×base",
        "snap lock",
        "rehearsal",
        "peak +MB",
        "×bytes",
        "×in mem"
    );
    for measured in results {
        let medians = &measured.medians;
        let floor = measured.floor.total();
        let met = medians.pause <= floor.mul_f64(1.5) + Duration::from_micros(500);
        println!(
            "{:<24} {:>8} {:>6.2} {:>8} {:>6.2}{} {:>8} {:>6.2} {:>9} {:>10} {:>8} {:>7.2} {:>8.2}",
            measured.name,
            milliseconds(medians.pause),
            medians.pause.as_secs_f64() / baseline.pause.as_secs_f64(),
            milliseconds(floor),
            medians.pause.as_secs_f64() / floor.as_secs_f64(),
            if met { " " } else { "!" },
            milliseconds(medians.total),
            medians.total.as_secs_f64() / baseline.total.as_secs_f64(),
            optional(medians.snapshot_export),
            optional(medians.rehearsal),
            megabytes(measured.peak_extra),
            measured.peak_extra as f64 / measured.state_bytes as f64,
            measured.peak_extra as f64 / measured.state_resident.max(1) as f64,
        );
    }
    println!(
        "floor: rmp-serde encode + decode of the same map in this process, right after each configuration's updates \
         (encode/decode of the first: {}/{} ms); ! marks a pause above 1.5 × floor + 0.5 ms; snap lock: how long the \
         rehearsal's snapshot export held the plugin's lock (ms); peak +MB: kv-server's peak resident memory during an \
         update above that before it; ×bytes: as a ratio of the state's encoding; ×in mem: of the {} MB the loaded keys \
         take in the server",
        milliseconds(results[0].floor.encode),
        milliseconds(results[0].floor.decode),
        megabytes(results[0].state_resident)
    );
}
