//! The benchmark report of ecdysis: `cargo xtask bench` builds the release plugins and `kv-server`,
//! then runs this program, which measures everything in one run on one machine and writes
//! `BENCHMARKS.md` with its tables and the SVG plots under `benchmarks/plots/`.
//!
//! 1. Call cost: a trivial plugin call through a `Module` handle, through a plain function pointer,
//!    and through hot-lib-reloader, at one and two threads ([`calls`]).
//! 2. Update pause against state size, eager and lazy, with the codec floor and a restart from a
//!    snapshot beside it; and against key count ([`kv`]).
//! 3. Resident memory: kv-server over update cycles under load, at the peak of an update, and the
//!    host in this process over thousands of counter cycles.
//! 4. Client latency of kv-server through an update, eager and lazy.
//! 5. The peers: hot-lib-reloader's call and reload, a restart from a snapshot, and redis-server's
//!    throughput beside kv-server's ([`throughput`]).
//!
//! Unsafe code is denied but for two modules, which say why: the plain-function-pointer baseline
//! ([`direct`]) and hot-lib-reloader's generated module ([`hot`]).

#![deny(unsafe_code)]

mod calls;
mod control;
mod direct;
mod hot;
mod kv;
// The helper that starts, updates and stops kv-server, shared with xtask (which is a binary, so the
// file is included rather than depended on). Not every function of it is used here.
#[allow(dead_code)]
#[path = "../../xtask/src/kv_server.rs"]
mod kv_server;
mod machine;
mod options;
mod plot;
// Debian's redis-server as the throughput reference, shared with xtask in the same way.
#[path = "../../xtask/src/redis_server.rs"]
mod redis_server;
mod report;
mod stats;
mod throughput;

use std::process::ExitCode;

fn main() -> ExitCode {
    // In a rehearsal process of the in-process host this runs the rehearsal and exits (the report's
    // hosts do not rehearse, but a program that embeds the host starts with this).
    ecdysis_host::rehearsal::serve_if_asked();
    let options = match options::Options::from_command_line() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match report::run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("benchmarks: {message}");
            ExitCode::FAILURE
        }
    }
}
