//! `cargo xtask bench update`: what a rehearsal in a child process costs an update, measured in one
//! run on one machine. A release `kv-server` holding N keys is updated kv v1 → v2 (and rolled back)
//! several times in each of three configurations: without rehearsals (the baseline: the round trip
//! is checked in the pause), with rehearsals (the round trip is checked in the child, on a snapshot
//! taken while calls are admitted, and not again in the pause), and with rehearsals and the round
//! trip checked again in the pause (`--revalidate-in-pause`). Only the updates are measured. It prints
//! the median pause and total of each, as ratios to the baseline, and how long the snapshot export
//! held the plugin's locks.

use std::time::Duration;

use ecdysis_protocol::UpdateReport;

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

pub fn bench(arguments: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask bench update [--keys N] [--rounds N]";
    let mut keys = DEFAULT_KEYS;
    let mut rounds = DEFAULT_ROUNDS;
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
            other => return Err(format!("unexpected argument `{other}`; {usage}")),
        }
    }
    let artifacts = kv_demo::build("release")?;
    let mut results = Vec::new();
    for configuration in &CONFIGURATIONS {
        eprintln!("{}: {keys} keys, {rounds} updates kv v1 → v2…", configuration.name);
        let server = KvServer::start_with(&artifacts.server, &artifacts.version_one, None, configuration.arguments)?;
        let mut client = kv_server::connect(server.port)?;
        kv_demo::load_keys(&mut client, keys)?;
        let mut reports = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let report = server.reload(&artifacts.version_two)?;
            server.rollback(false)?;
            reports.push(report);
        }
        let size: i64 = redis::cmd("DBSIZE").query(&mut client).map_err(|error| format!("DBSIZE failed: {}", kv_demo::describe(&error)))?;
        if size != keys as i64 {
            return Err(server.failure(&format!("DBSIZE is {size} after the updates, not {keys}")));
        }
        server.stop()?;
        results.push((configuration.name, medians(&reports), reports[0].state_bytes));
    }
    print_table(&results, keys, rounds);
    Ok(())
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

fn print_table(results: &[(&str, Medians, usize)], keys: usize, rounds: usize) {
    let milliseconds = |duration: Duration| format!("{:.1}", duration.as_secs_f64() * 1e3);
    let optional = |duration: Option<Duration>| duration.map_or_else(|| "-".to_owned(), milliseconds);
    let baseline = &results[0].1;
    println!();
    println!("kv v1 → v2, {keys} keys ({} bytes of state), median of {rounds} updates each (release builds):", results[0].2);
    println!(
        "{:<26} {:>10} {:>8} {:>10} {:>8} {:>16} {:>14}",
        "configuration", "pause ms", "× base", "total ms", "× base", "snapshot lock ms", "rehearsal ms"
    );
    for (name, medians, _) in results {
        println!(
            "{:<26} {:>10} {:>8.2} {:>10} {:>8.2} {:>16} {:>14}",
            name,
            milliseconds(medians.pause),
            medians.pause.as_secs_f64() / baseline.pause.as_secs_f64(),
            milliseconds(medians.total),
            medians.total.as_secs_f64() / baseline.total.as_secs_f64(),
            optional(medians.snapshot_export),
            optional(medians.rehearsal),
        );
    }
}
