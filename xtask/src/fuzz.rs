//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the coverage-guided fuzz targets in `fuzz/` with
//! cargo-fuzz (libFuzzer) on the stable toolchain, `--sanitizer none` being the mode that needs no
//! nightly flag. Installs cargo-fuzz when it is missing, builds the targets once, then fuzzes each
//! for N seconds (20 by default), starting from its corpus in `fuzz/corpus/<target>` (the committed
//! seeds and whatever earlier runs found). Each run's output goes to a log under `fuzz/target/logs`;
//! a summary line per target is printed (runs, executions per second, coverage, corpus size). On a
//! panic, an abort, a hang or running out of memory, the log from the failure on is printed with
//! where libFuzzer saved the input and how to replay it, and the task fails.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::{cargo, run, workspace_root};

/// The fuzz targets, each a binary of `fuzz/Cargo.toml`.
const TARGETS: &[(&str, &str)] = &[
    ("envelope", "StateEnvelope::from_bytes: no panic; what it accepts encodes back to the same bytes"),
    ("elf_reader", "the ELF check before dlopen: no panic; only an ELF file is accepted"),
    ("control_request", "parse_request: no panic; a parsed request serialises and parses to itself"),
];

/// The cargo-fuzz release line installed when none is.
const CARGO_FUZZ_VERSION: &str = "^0.13";

/// The seconds each target runs when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 20;

/// A single input that runs longer than this is reported as a hang (libFuzzer's `-timeout`).
const INPUT_TIMEOUT_SECONDS: u64 = 10;

pub fn fuzz(arguments: &[String]) -> Result<(), String> {
    let usage = "usage: cargo xtask fuzz [TARGET] [--seconds N]";
    let (mut target, mut seconds) = (None, DEFAULT_SECONDS);
    let mut arguments = arguments.iter();
    while let Some(argument) = arguments.next() {
        match argument.as_str() {
            "--seconds" => {
                let value = arguments.next().ok_or_else(|| format!("--seconds needs a number\n{usage}"))?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|&seconds| seconds > 0)
                    .ok_or_else(|| format!("--seconds needs a positive number, not `{value}`"))?;
            }
            option if option.starts_with('-') => return Err(format!("unknown option `{option}`\n{usage}")),
            name if target.is_none() => target = Some(name.to_owned()),
            extra => return Err(format!("unexpected argument `{extra}`\n{usage}")),
        }
    }
    let targets: Vec<&str> = match &target {
        None => TARGETS.iter().map(|(name, _)| *name).collect(),
        Some(name) if TARGETS.iter().any(|(known, _)| known == name) => vec![name.as_str()],
        Some(name) => {
            let known: Vec<&str> = TARGETS.iter().map(|(name, _)| *name).collect();
            return Err(format!("unknown fuzz target `{name}`; the targets are: {}", known.join(", ")));
        }
    };

    install_cargo_fuzz()?;
    eprintln!("fuzz: building {} (cargo fuzz build --sanitizer none)…", targets.join(", "));
    let started = Instant::now();
    let mut build = cargo();
    build.args(["fuzz", "build", "--sanitizer", "none"]);
    if let Some(target) = &target {
        build.arg(target);
    }
    run(&mut build)?;
    eprintln!("fuzz: built in {:.0?}", started.elapsed());

    let mut failures = Vec::new();
    for target in targets {
        if let Err(message) = fuzz_one(target, seconds) {
            eprintln!("fuzz: {message}");
            failures.push(target);
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(format!("fuzzing found a failing input for {}", failures.join(", "))) }
}

/// Installs cargo-fuzz with `cargo install` unless `cargo fuzz` already runs.
fn install_cargo_fuzz() -> Result<(), String> {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout.starts_with(b"cargo-fuzz"));
    if present {
        return Ok(());
    }
    eprintln!("fuzz: cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked --version {CARGO_FUZZ_VERSION})…");
    let started = Instant::now();
    run(cargo().args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION]))?;
    eprintln!("fuzz: cargo-fuzz installed in {:.0?}", started.elapsed());
    Ok(())
}

/// Fuzzes one target for `seconds`; on failure, says where the input that failed was saved.
fn fuzz_one(target: &str, seconds: u64) -> Result<(), String> {
    let fuzz_directory = workspace_root().join("fuzz");
    let artifacts = fuzz_directory.join("artifacts").join(target);
    let logs = fuzz_directory.join("target").join("logs");
    std::fs::create_dir_all(&logs).map_err(|error| format!("could not create {}: {error}", logs.display()))?;
    let log_path = logs.join(format!("{target}.log"));
    let log = File::create(&log_path).map_err(|error| format!("could not create {}: {error}", log_path.display()))?;
    let log_for_stdout = log.try_clone().map_err(|error| format!("could not open {} twice: {error}", log_path.display()))?;

    eprintln!("fuzz: {target} for {seconds} s ({})", TARGETS.iter().find(|(name, _)| *name == target).map_or("", |(_, what)| what));
    let started = SystemTime::now();
    let status = cargo()
        .args(["fuzz", "run", "--sanitizer", "none", target, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .stdout(log_for_stdout)
        .stderr(log)
        .status()
        .map_err(|error| format!("could not run cargo fuzz: {error}"))?;
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        eprintln!("fuzz: {target}: {}; no failure (log: {})", summary(&output), relative(&log_path));
        return Ok(());
    }
    // From the panic or libFuzzer's report on, which holds the input and how to replay it.
    let lines: Vec<&str> = output.lines().collect();
    let report = lines
        .iter()
        .position(|line| line.contains("panicked at") || line.contains("ERROR: libFuzzer") || line.contains("error:"))
        .unwrap_or(lines.len().saturating_sub(40));
    eprintln!("fuzz: {target} failed ({status}); its log ({}) from the failure on:", relative(&log_path));
    for line in lines.iter().skip(report).take(100) {
        eprintln!("    {line}");
    }
    let saved = inputs_saved_since(&artifacts, started);
    if saved.is_empty() {
        return Err(format!("{target} failed without saving an input (see {})", relative(&log_path)));
    }
    let saved: Vec<String> = saved.iter().map(|path| relative(path)).collect();
    Err(format!(
        "{target}: the failing input was saved to {}; replay it with `cargo fuzz run --sanitizer none {target} {}`",
        saved.join(", "),
        saved[0]
    ))
}

/// libFuzzer's last status line, `#RUNS DONE cov: … corp: N/SIZE … exec/s: N …`, said plainly.
fn summary(output: &str) -> String {
    let Some(line) = output.lines().rev().find(|line| line.starts_with('#') && line.contains("DONE")) else {
        return "no summary line in its output".to_owned();
    };
    let field = |name: &str| {
        let mut words = line.split_whitespace();
        words.find(|word| *word == name).and_then(|_| words.next()).unwrap_or("?").to_owned()
    };
    let runs = line.split_whitespace().next().unwrap_or("#?").trim_start_matches('#').to_owned();
    let corpus = field("corp:");
    let corpus = corpus.split('/').next().unwrap_or("?");
    format!("{runs} runs, {} exec/s, coverage {} edges, corpus {corpus} inputs", field("exec/s:"), field("cov:"))
}

/// The files libFuzzer wrote to `directory` (crash-…, timeout-…, oom-…) since `since`.
fn inputs_saved_since(directory: &Path, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut saved: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.metadata().and_then(|metadata| metadata.modified()).is_ok_and(|modified| modified >= since))
        .map(|entry| entry.path())
        .collect();
    saved.sort();
    saved
}

/// `path` relative to the workspace root, as a person would type it there.
fn relative(path: &Path) -> String {
    path.strip_prefix(workspace_root()).unwrap_or(path).display().to_string()
}
