//! Project automation, run as `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! - `demo [--release] [--keys N]`: the kv demo ([`kv_demo`]): builds kv v1, v2, v3 and
//!   `kv-server`, loads data through a Redis client, updates the server v1 → v2 → v3, rolls back
//!   and goes forward again while clients keep writing, checks that nothing was lost, and prints a
//!   report.
//! - `demo counter [--release] [--seconds N]`: the counter demo: a host serving calls from several
//!   threads is updated from counter v1 to v2 live, and prints the update report.
//! - `bench [--quick] [OPTIONS]`: the benchmark report ([`report`]): call cost, update pause against
//!   state size (eager and lazy, with the codec floor), memory over update cycles, client latency
//!   through an update, and the peers (hot-lib-reloader, a restart from a snapshot, redis-server);
//!   writes `BENCHMARKS.md` and the plots under `benchmarks/plots/`.
//! - `bench call-path`: the call-path benchmark with divan (module handle against a plain function
//!   pointer, one and two threads).
//! - `bench stress [TRANSACTIONS]`: the lifecycle's long test: 30,000 updates, rollbacks and commits
//!   while six threads make nested calls into two modules; fails on any lost or repeated call.
//! - `bench kv [--requests N] [--rounds N]`: `redis-benchmark` against `kv-server`, against
//!   `kv-server` updated every second, and against `redis-server` ([`kv_bench`]).
//! - `bench update [--keys N] [--rounds N]`: the cost of a rehearsal in a child process, as ratios
//!   of an update without it, the pause against the codec floor and the peak memory of an update
//!   ([`update_bench`]).
//! - `bench cycles [CYCLES]`: the cycles test of the integration suite with 10,000 update-and-rollback
//!   cycles (or `CYCLES`) rather than its 3,000: nothing left behind, resident memory flat after the
//!   first thousand.
//! - `reload <plugin-crate> [--socket PATH] [--release]`: builds a plugin crate and updates a
//!   running host to it through its control socket (the default socket if none is given).
//! - `watch <plugin-crate> [--socket PATH] [--release]`: the same on every change to the crate's
//!   sources, one line per cycle, until interrupted.
//! - `fuzz [TARGET] [--seconds N]`: the coverage-guided fuzz targets in `fuzz/` ([`fuzz`]), each for
//!   N seconds with cargo-fuzz on the stable toolchain, installing cargo-fuzz when it is missing;
//!   fails when an input makes a target fail, and says where that input was saved.

#![forbid(unsafe_code)]

mod fuzz;
mod kv_bench;
mod kv_demo;
mod kv_server;
mod plugin;
mod redis_server;
mod reload;
mod report;
mod update_bench;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("demo") => match arguments.get(1).map(String::as_str) {
            Some("counter") => counter_demo(&arguments[2..]),
            Some("kv") => kv_demo::demo(&arguments[2..]),
            _ => kv_demo::demo(&arguments[1..]),
        },
        Some("bench") => bench(&arguments[1..]),
        Some("reload") => reload::reload(&arguments[1..]),
        Some("watch") => watch::watch(&arguments[1..]),
        Some("fuzz") => fuzz::fuzz(&arguments[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  demo [--release] [--keys N]      build kv v1-v3 and kv-server; load N keys (20000); update it
                                   v1 → v2 → v3, roll back and forward again while Redis clients keep
                                   writing; check that nothing was lost and report
  demo counter [--release] [--seconds N]
                                   build the counter plugins and update a serving host v1 → v2 live
  bench [--quick] [--sizes 1KB,1MB,..] [--rounds N] [--key-counts N,N] [--cycles N] [--cycle-keys N]
        [--latency-keys N] [--counter-cycles N] [--requests N]
                                   the benchmark report: call cost, update pause against state size
                                   (eager, lazy, codec floor), memory over update cycles, latency through
                                   an update, and the peers (hot-lib-reloader, restart from a snapshot,
                                   redis-server); writes BENCHMARKS.md and benchmarks/plots/*.svg
                                   (about 10 minutes; --quick: about 2)
  bench call-path                  run the call-path benchmark (divan)
  bench stress [TRANSACTIONS]      30,000 updates, rollbacks and commits under nested calls from six
                                   threads; fails on any lost or repeated call
  bench kv [--requests N] [--rounds N]
                                   redis-benchmark against kv-server, kv-server updated every second,
                                   and redis-server (needs redis-tools and redis-server)
  bench cycles [CYCLES]             the integration suite's cycles test with 10,000 update-and-rollback
                                   cycles: no descriptor, file or mapping left, memory flat
  bench update [--keys N] [--rounds N]
                                   what a rehearsal costs an update: kv-server with N keys (100000)
                                   updated v1 → v2 without rehearsal, with it, and with it and the
                                   round trip checked again in the pause
  reload <plugin-crate> [--socket PATH] [--release]
                                   build a plugin crate and update a running host to it
  watch <plugin-crate> [--socket PATH] [--release]
                                   rebuild and update a running host on every change to the crate
  fuzz [TARGET] [--seconds N]      run the fuzz targets (envelope, elf_reader, control_request), each
                                   for N seconds (20), with cargo-fuzz on stable (installed if missing);
                                   fails on a crash and says where the input was saved";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_owned()
}

pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|error| format!("could not run {command:?}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("{command:?} failed with {status}")) }
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

fn counter_demo(arguments: &[String]) -> Result<(), String> {
    let release = arguments.iter().any(|argument| argument == "--release");
    let seconds = arguments.iter().position(|argument| argument == "--seconds").and_then(|index| arguments.get(index + 1));
    let profile = if release { "release" } else { "debug" };
    eprintln!("building counter-v1, counter-v2 and counter-demo ({profile})…");
    let mut build = cargo();
    build.args(["build", "-p", "counter-v1", "-p", "counter-v2", "-p", "counter-demo"]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    let directory = target_dir().join(profile);
    let mut demo = Command::new(directory.join("counter-demo"));
    demo.arg(directory.join("libcounter_v1.so")).arg(directory.join("libcounter_v2.so"));
    if let Some(seconds) = seconds {
        demo.args(["--seconds", seconds]);
    }
    run(&mut demo)
}

fn bench(arguments: &[String]) -> Result<(), String> {
    match arguments.first().map(String::as_str) {
        None => report::report(arguments),
        Some(flag) if flag.starts_with("--") => report::report(arguments),
        Some("call-path") => run(cargo().args(["bench", "-p", "ecdysis-tests", "--bench", "call_path"])),
        Some("kv") => kv_bench::bench(&arguments[1..]),
        Some("stress") => run(cargo().args(["bench", "-p", "ecdysis-tests", "--bench", "stress", "--"]).args(&arguments[1..])),
        Some("update") => update_bench::bench(&arguments[1..]),
        Some("cycles") => {
            let cycles = arguments.get(1).map_or("10000", String::as_str);
            if cycles.parse::<usize>().is_err() {
                return Err(format!("bench cycles takes a number of cycles, not `{cycles}`"));
            }
            let test = "cycles::update_cycles_leave_no_descriptor_temporary_file_mapping_or_memory_behind";
            run(cargo().env("ECDYSIS_CYCLES", cycles).args([
                "test",
                "-p",
                "ecdysis-tests",
                "--test",
                "integration",
                test,
                "--",
                "--nocapture",
            ]))
        }
        Some(other) => Err(format!("unknown benchmark `{other}`; the benchmarks are: call-path, cycles, kv, stress, update")),
    }
}
