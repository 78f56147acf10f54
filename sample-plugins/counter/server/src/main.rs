//! A long-running program that embeds the ecdysis host with its control socket turned on, and
//! serves the counter module to commands read from standard input, one per line:
//!
//! ```text
//! inc KEY N      → KEY = VALUE
//! get KEY        → KEY = VALUE | KEY missing
//! stats KEY      → KEY value=VALUE increments=N|untracked
//! total          → total = N
//! version        → counter VERSION
//! quit           (or end of input) → exits
//! ```
//!
//! Usage: `counter-server --plugin LIB [--control SOCKET] [--allow-dir DIR]... [--pin LIB=SHA256]...
//! [--probation-ms N] [--hook-timeout-ms N] [--panic-budget N] [--watch DIR] [--no-rehearsal]`. Without `--control`, the socket goes to the default location;
//! its path is printed at start. Operate it with `ecdysis --socket SOCKET
//! status|reload|rollback|commit|history`. With `--watch DIR` (watch mode), every `*.so` file created
//! or changed in `DIR` (e.g. `target/debug`) updates the module it declares. Every update is first
//! rehearsed in a child process (this program, re-executed), unless `--no-rehearsal` is given.

#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use counter_interface::Counter;
use ecdysis_host::{CallError, ControlSocket, ErrorChain, Host, Module};

fn main() -> ExitCode {
    // First, before anything else: in a rehearsal process this runs the rehearsal and exits.
    ecdysis_host::rehearsal::serve_if_asked();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("counter-server: {}", ErrorChain(&*error));
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: counter-server --plugin LIB [--control SOCKET] [--allow-dir DIR]... [--pin LIB=SHA256]... [--probation-ms N] [--hook-timeout-ms N] [--panic-budget N] [--watch DIR] [--no-rehearsal]";

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut plugin: Option<PathBuf> = None;
    let mut builder = Host::builder();
    let mut socket = ControlSocket::Default;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || arguments.next().ok_or_else(|| format!("{argument} needs a value\n{USAGE}"));
        match argument.as_str() {
            "--plugin" => plugin = Some(value()?.into()),
            "--control" => socket = ControlSocket::At(value()?.into()),
            "--allow-dir" => builder = builder.allow_directory(value()?),
            "--pin" => {
                let pin = value()?;
                let (library, digest) = pin.split_once('=').ok_or_else(|| format!("--pin takes LIB=SHA256, not `{pin}`"))?;
                builder = builder.pin_library(library, digest);
            }
            "--probation-ms" => builder = builder.probation(Duration::from_millis(value()?.parse()?)),
            "--watch" => builder = builder.watch_directory(value()?),
            "--hook-timeout-ms" => builder = builder.hook_timeout(Duration::from_millis(value()?.parse()?)),
            "--panic-budget" => builder = builder.panic_budget(value()?.parse()?),
            "--no-rehearsal" => builder = builder.rehearse(false),
            _ => return Err(format!("unknown argument `{argument}`\n{USAGE}").into()),
        }
    }
    let plugin = plugin.ok_or(USAGE)?;
    let host = builder.control_socket(socket).build()?;
    let counter: Module<dyn Counter> = host.load(&plugin)?;
    let mut stdout = std::io::stdout().lock();
    if let Some(path) = host.control_socket_path() {
        writeln!(stdout, "control socket: {}", path.display())?;
    }
    writeln!(stdout, "ready: counter {}", counter.info().version)?;
    stdout.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            _ => answer(&counter, &words).unwrap_or_else(|error| format!("error: {error}")),
        };
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    Ok(())
}

fn answer(counter: &Module<dyn Counter>, words: &[&str]) -> Result<String, CallError> {
    Ok(match words {
        ["inc", key, by] => match by.parse::<i64>() {
            Ok(by) => format!("{key} = {}", counter.call(|counter| counter.increment(key, by))?),
            Err(_) => format!("error: `{by}` is not an integer"),
        },
        ["get", key] => match counter.call(|counter| counter.value(key))? {
            Some(value) => format!("{key} = {value}"),
            None => format!("{key} missing"),
        },
        ["stats", key] => match counter.call(|counter| counter.stats(key))? {
            Some(stats) => {
                let increments = stats.increments.map_or_else(|| "untracked".to_owned(), |count| count.to_string());
                format!("{key} value={} increments={increments}", stats.value)
            }
            None => format!("{key} missing"),
        },
        ["total"] => format!("total = {}", counter.call(|counter| counter.total_increments())?),
        ["version"] => format!("counter {}", counter.info().version),
        _ => format!("error: unknown command `{}`; the commands are inc KEY N, get KEY, stats KEY, total, version, quit", words.join(" ")),
    })
}
