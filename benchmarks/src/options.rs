//! The command line of the report: where the builds are, where the report goes, and how big the
//! experiments are (`--quick` for a smoke run of a few minutes; each size can be set on its own).

use std::path::PathBuf;

pub const USAGE: &str = "usage: ecdysis-benchmarks --artifacts DIR --hot-lib FILE --output FILE --plots DIR [--quick]
       [--sizes 1KB,1MB,...] [--rounds N] [--key-counts N,N] [--cycles N] [--cycle-keys N]
       [--latency-keys N] [--counter-cycles N] [--requests N] [--command TEXT]";

/// What to measure and where things are.
pub struct Options {
    /// The release directory with `kv-server`, `libkv_v1.so`, `libkv_v2.so`, `libcounter_v1.so`,
    /// `libcounter_v2.so`.
    pub artifacts: PathBuf,
    /// hot-lib-reloader's library, as built.
    pub hot_lib: PathBuf,
    pub output: PathBuf,
    pub plots: PathBuf,
    pub quick: bool,
    /// The state sizes of the pause and restart experiments, in bytes.
    pub sizes: Vec<usize>,
    /// How many updates each measurement makes.
    pub rounds: usize,
    /// The key counts of the pause-against-keys experiment (the lazy targets name 200,000 and
    /// 2,000,000).
    pub key_counts: Vec<usize>,
    /// Update-and-rollback cycles of the kv-server memory experiment, and its key count.
    pub cycles: usize,
    pub cycle_keys: usize,
    /// Keys of the latency experiment.
    pub latency_keys: usize,
    /// Update-and-rollback cycles of counter in this process.
    pub counter_cycles: usize,
    /// Requests per redis-benchmark test.
    pub requests: u64,
    /// Repetitions of each call-cost measurement, and calls per thread in each.
    pub call_repetitions: usize,
    pub calls: u64,
    /// How many times hot-lib-reloader's library is reloaded.
    pub hot_reloads: usize,
    /// The command that ran the report, as the report shows it.
    pub command: String,
}

impl Options {
    pub fn from_command_line() -> Result<Options, String> {
        let arguments: Vec<String> = std::env::args().skip(1).collect();
        let quick = arguments.iter().any(|argument| argument == "--quick");
        let mut options = if quick { Options::quick() } else { Options::full() };
        let mut arguments = arguments.into_iter();
        while let Some(argument) = arguments.next() {
            if argument == "--quick" {
                continue;
            }
            let value = arguments.next().ok_or_else(|| format!("{argument} needs a value\n{USAGE}"))?;
            let number =
                |value: &str| value.replace('_', "").parse::<usize>().map_err(|_| format!("{argument} takes a number, not `{value}`"));
            match argument.as_str() {
                "--artifacts" => options.artifacts = value.into(),
                "--hot-lib" => options.hot_lib = value.into(),
                "--output" => options.output = value.into(),
                "--plots" => options.plots = value.into(),
                "--command" => options.command = value,
                "--sizes" => options.sizes = value.split(',').map(parse_size).collect::<Result<_, _>>()?,
                "--rounds" => options.rounds = number(&value)?.clamp(1, 50),
                "--key-counts" => options.key_counts = value.split(',').map(number).collect::<Result<_, _>>()?,
                "--cycles" => options.cycles = number(&value)?.clamp(1, 10_000),
                "--cycle-keys" => options.cycle_keys = number(&value)?.max(1),
                "--latency-keys" => options.latency_keys = number(&value)?.max(1),
                "--counter-cycles" => options.counter_cycles = number(&value)?.clamp(1, 100_000),
                "--requests" => options.requests = number(&value)?.max(1) as u64,
                _ => return Err(format!("unknown option `{argument}`\n{USAGE}")),
            }
        }
        if options.artifacts.as_os_str().is_empty() || options.hot_lib.as_os_str().is_empty() || options.output.as_os_str().is_empty() {
            return Err(format!("--artifacts, --hot-lib and --output are required\n{USAGE}"));
        }
        Ok(options)
    }

    /// The full report: the sizes the issue names.
    fn full() -> Options {
        Options {
            artifacts: PathBuf::new(),
            hot_lib: PathBuf::new(),
            output: PathBuf::new(),
            plots: PathBuf::from("benchmarks/plots"),
            quick: false,
            sizes: vec![1_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000],
            rounds: 3,
            key_counts: vec![200_000, 2_000_000],
            cycles: 60,
            cycle_keys: 200_000,
            latency_keys: 1_000_000,
            counter_cycles: 10_000,
            requests: 100_000,
            call_repetitions: 15,
            calls: 1_000_000,
            hot_reloads: 5,
            command: "cargo xtask bench".to_owned(),
        }
    }

    /// A smoke run of a few minutes: every section, at small sizes.
    fn quick() -> Options {
        Options {
            quick: true,
            sizes: vec![1_000, 1_000_000, 10_000_000],
            rounds: 2,
            key_counts: vec![20_000, 200_000],
            cycles: 10,
            cycle_keys: 50_000,
            latency_keys: 100_000,
            counter_cycles: 1_000,
            requests: 20_000,
            call_repetitions: 5,
            calls: 200_000,
            hot_reloads: 3,
            command: "cargo xtask bench --quick".to_owned(),
            ..Options::full()
        }
    }
}

/// `1KB`, `10MB`, `1GB` or a number of bytes (decimal units).
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim().to_ascii_uppercase();
    let (number, scale) = if let Some(number) = text.strip_suffix("GB") {
        (number, 1_000_000_000)
    } else if let Some(number) = text.strip_suffix("MB") {
        (number, 1_000_000)
    } else if let Some(number) = text.strip_suffix("KB") {
        (number, 1_000)
    } else {
        (text.strip_suffix('B').unwrap_or(&text), 1)
    };
    number.trim().parse::<usize>().map(|number| number * scale).map_err(|_| format!("`{text}` is not a size such as 1KB, 10MB or 1GB"))
}
