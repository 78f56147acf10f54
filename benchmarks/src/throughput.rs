//! The throughput reference: `redis-benchmark` SET and GET at pipelines of 1 and 16 against Debian's
//! `redis-server` and against `kv-server`, each server pinned to one core with `taskset` and the
//! load on the other.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::kv::{self, Artifacts};
use crate::kv_server::KvServer;
use crate::redis_server::RedisServer;

/// The pipeline depths measured.
pub const PIPELINES: [u32; 2] = [1, 16];

/// Requests per second of one server, test and pipeline depth.
pub struct Throughput {
    pub server: &'static str,
    pub test: String,
    pub pipeline: u32,
    pub requests_per_second: f64,
}

/// What the throughput section measured, and how.
pub struct ThroughputRun {
    pub results: Vec<Throughput>,
    pub pinned: bool,
    pub command: String,
}

pub fn measure(artifacts: &Artifacts, requests: u64) -> Result<ThroughputRun, String> {
    let tool = kv::find_program("redis-benchmark").ok_or("redis-benchmark is not installed (apt-get install -y redis-tools)")?;
    let redis_binary = kv::find_program("redis-server").ok_or("redis-server is not installed (apt-get install -y redis-server)")?;
    let pinned = std::thread::available_parallelism().map_or(1, usize::from) >= 2 && kv::find_program("taskset").is_some();
    let mut results = Vec::new();

    // Started on core 0 alone, so that each server sizes itself for the one core it has.
    let server_core = pinned.then_some(0);
    let redis = RedisServer::start_pinned(&redis_binary, server_core)?;
    for pipeline in PIPELINES {
        for (test, rps) in run_benchmark(&tool, redis.port, pipeline, requests, pinned)? {
            results.push(Throughput { server: "redis-server", test, pipeline, requests_per_second: rps });
        }
    }
    redis.stop()?;

    let server = KvServer::start_pinned(&artifacts.server, &artifacts.version_one, None, &[], server_core)?;
    for pipeline in PIPELINES {
        for (test, rps) in run_benchmark(&tool, server.port, pipeline, requests, pinned)? {
            results.push(Throughput { server: "kv-server (kv v1)", test, pipeline, requests_per_second: rps });
        }
    }
    server.stop()?;
    let command = format!(
        "{}redis-benchmark -h 127.0.0.1 -p PORT -t set,get -c 50 -n {requests} -P {{1,16}} --csv",
        if pinned { "taskset -c 1 " } else { "" }
    );
    Ok(ThroughputRun { results, pinned, command })
}

/// One `redis-benchmark` run; `(test, requests per second)` from its CSV output.
fn run_benchmark(tool: &Path, port: u16, pipeline: u32, requests: u64, pinned: bool) -> Result<Vec<(String, f64)>, String> {
    let mut command = if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", "1"]).arg(tool);
        command
    } else {
        Command::new(tool)
    };
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set,get", "-c", "50"])
        .args(["-n", &requests.to_string(), "-P", &pipeline.to_string(), "--csv"])
        .stdin(Stdio::null());
    let output = command.output().map_err(|error| format!("could not run redis-benchmark: {error}"))?;
    if !output.status.success() {
        return Err(format!("redis-benchmark failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    let results: Vec<(String, f64)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split("\",\"").map(|field| field.trim().trim_matches('"'));
            let test = fields.next()?.to_owned();
            Some((test, fields.next()?.parse::<f64>().ok()?))
        })
        .collect();
    if results.is_empty() {
        return Err(format!("redis-benchmark printed no results: {}", String::from_utf8_lossy(&output.stdout).trim()));
    }
    Ok(results)
}
