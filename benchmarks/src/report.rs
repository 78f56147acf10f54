//! Runs every experiment in order, and writes `BENCHMARKS.md` with a table per section, the plots,
//! and every target of the issue with its measured number and whether it was met. An experiment
//! that fails is reported as failed, with its reason, and the others still run.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::calls::{self, CallCost, CallPath, Callers, CounterCycles, HotReloads};
use crate::kv::{self, Artifacts, Dataset, LatencyWindow, LazyOutcome, PausePoint, RestartPoint};
use crate::machine::Machine;
use crate::options::Options;
use crate::plot::{self, Axis, Series};
use crate::stats::{self, Spread, verdict};
use crate::throughput::{self, ThroughputRun};

const MIB: f64 = 1024.0 * 1024.0;

/// One target of the issue, as the targets table shows it.
struct Target {
    name: String,
    measured: String,
    met: Option<bool>,
}

/// The report being written: its sections and its targets.
struct Report {
    sections: String,
    targets: Vec<Target>,
    plots_relative: String,
}

impl Report {
    fn target(&mut self, name: impl Into<String>, measured: impl Into<String>, met: Option<bool>) {
        self.targets.push(Target { name: name.into(), measured: measured.into(), met });
    }

    fn plot(&mut self, options: &Options, file: &str, title: &str, x: &Axis, y: &Axis, series: &[Series]) {
        let path = options.plots.join(file);
        match plot::line_chart(&path, title, x, y, series) {
            Ok(()) => {
                let _ = writeln!(self.sections, "\n![{title}]({}/{file})\n", self.plots_relative);
            }
            Err(reason) => {
                let _ = writeln!(self.sections, "\n(plot not drawn: {reason})\n");
            }
        }
    }

    fn failed(&mut self, what: &str, reason: &str) {
        eprintln!("{what} failed: {reason}");
        let _ = writeln!(self.sections, "\n**{what} failed:** {}\n", reason.replace('\n', " "));
    }
}

pub fn run(options: &Options) -> Result<(), String> {
    let started = Instant::now();
    let machine = Machine::describe();
    std::fs::create_dir_all(&options.plots).map_err(|error| format!("could not create {}: {error}", options.plots.display()))?;
    let artifacts = Artifacts {
        server: options.artifacts.join("kv-server"),
        version_one: options.artifacts.join("libkv_v1.so"),
        version_two: options.artifacts.join("libkv_v2.so"),
    };
    let counter_v1 = options.artifacts.join("libcounter_v1.so");
    let counter_v2 = options.artifacts.join("libcounter_v2.so");
    for path in [&artifacts.server, &artifacts.version_one, &artifacts.version_two, &counter_v1, &counter_v2, &options.hot_lib] {
        if !path.is_file() {
            return Err(format!("`{}` is missing: build it first (cargo xtask bench does)", path.display()));
        }
    }
    let plots_relative = relative_plots(options);
    let mut report = Report { sections: String::new(), targets: Vec::new(), plots_relative };

    eprintln!("1. call cost…");
    let hot_directory = tempfile::Builder::new().prefix("ecdysis-bench-hot-").tempdir().map_err(|error| error.to_string())?;
    let hot_library = std::fs::read(&options.hot_lib).map_err(|error| format!("could not read {}: {error}", options.hot_lib.display()))?;
    std::fs::write(hot_directory.path().join("libhot_bench_lib.so"), &hot_library).map_err(|error| error.to_string())?;
    crate::hot::set_directory(hot_directory.path().to_owned());
    call_section(&mut report, options, &counter_v1, &hot_library);

    eprintln!("2. update pause against state size, and the restart from a snapshot…");
    pause_section(&mut report, options, &artifacts);

    eprintln!("3. memory…");
    memory_section(&mut report, options, &artifacts, &counter_v1, &counter_v2);

    eprintln!("4. client latency through an update…");
    latency_section(&mut report, options, &artifacts);

    eprintln!("5. throughput reference…");
    throughput_section(&mut report, options, &artifacts);

    let text = render(options, &machine, &report, started.elapsed().as_secs_f64());
    std::fs::write(&options.output, text).map_err(|error| format!("could not write {}: {error}", options.output.display()))?;
    eprintln!("wrote {} in {:.0} s", options.output.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The plots directory as the report links it: relative to the report's own directory.
fn relative_plots(options: &Options) -> String {
    let base = options.output.parent().unwrap_or(Path::new("."));
    let absolute = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let plots = absolute(&options.plots);
    let base = absolute(base);
    plots.strip_prefix(&base).map_or_else(|_| plots.display().to_string(), |relative| relative.display().to_string())
}

fn call_section(report: &mut Report, options: &Options, counter_v1: &Path, hot_library: &[u8]) {
    let _ = writeln!(report.sections, "## 1. Call cost\n");
    let _ = writeln!(
        report.sections,
        "A trivial call (`total_increments`: one relaxed atomic load in the plugin) of the same release `counter-v1` through a \
         plain function pointer (the floor, as `tests/benches/call_path.rs` makes it) and through a `Module` handle \
         (`module.call(|counter| counter.total_increments())`), and hot-lib-reloader's generated function calling the same kind \
         of function in its own small `dylib` (`benchmarks/hot-lib`). Each value is the mean time per call of {} calls per \
         thread; min / median / max over {} repetitions, the three paths interleaved.\n",
        options.calls, options.call_repetitions
    );
    let callers = match Callers::new(counter_v1) {
        Ok(callers) => Arc::new(callers),
        Err(reason) => return report.failed("the call-cost measurement", &reason),
    };
    let costs = calls::measure_call_costs(&callers, options.call_repetitions, options.calls);
    let floor = |threads: usize| costs.iter().find(|cost| cost.path == CallPath::Direct && cost.threads == threads).map(CallCost::spread);
    let _ = writeln!(report.sections, "| path | threads | ns per call (min / median / max) | − floor, ns (median) | × floor (median) |");
    let _ = writeln!(report.sections, "|---|---:|---:|---:|---:|");
    for cost in &costs {
        let spread = cost.spread();
        let floor = floor(cost.threads).unwrap_or(spread);
        let _ = writeln!(
            report.sections,
            "| {} | {} | {} | {:+.2} | {:.2} |",
            cost.path.name(),
            cost.threads,
            spread.show(2),
            spread.median - floor.median,
            spread.median / floor.median
        );
    }
    for threads in [1, 2] {
        let module = costs.iter().find(|cost| cost.path == CallPath::Module && cost.threads == threads).map(CallCost::spread);
        if let (Some(module), Some(floor)) = (module, floor(threads)) {
            let difference = module.median - floor.median;
            report.target(
                format!("call path within 1 ns of the direct call ({threads} thread{})", if threads == 1 { "" } else { "s" }),
                format!(
                    "{difference:+.2} ns (median {:.2} vs {:.2} ns; spread of the difference {:+.2} … {:+.2} ns)",
                    module.median,
                    floor.median,
                    module.min - floor.max,
                    module.max - floor.min
                ),
                Some(difference <= 1.0),
            );
        }
    }
    let series: Vec<Series> = CallPath::ALL
        .iter()
        .map(|&path| {
            Series::line(
                path.name(),
                costs.iter().filter(|cost| cost.path == path).map(|cost| (cost.threads as f64, cost.spread().median)).collect(),
            )
        })
        .collect();
    report.plot(
        options,
        "call-cost.svg",
        "Trivial call, median ns per call",
        &Axis::linear("threads", |value| if (value - value.round()).abs() < 0.01 { format!("{value:.0}") } else { String::new() }),
        &Axis::logarithmic("ns per call", |value| format!("{value:.1}")),
        &series,
    );

    let _ = writeln!(report.sections, "### hot-lib-reloader's reload\n");
    match calls::measure_hot_reloads(hot_library, options.hot_reloads) {
        Ok(HotReloads { end_to_end_milliseconds, reload_milliseconds }) => {
            let _ = writeln!(
                report.sections,
                "The library file rewritten {} times (alternately with one byte appended, so that its hash changes), hot-lib-reloader \
                 watching it with a 10 ms debounce. It carries no state across: a reload is a `dlclose`, a file copy and a `dlopen`.\n",
                options.hot_reloads
            );
            let _ = writeln!(report.sections, "| hot-lib-reloader | ms (min / median / max) |\n|---|---:|");
            let _ = writeln!(
                report.sections,
                "| reload (about-to-reload event → reloaded event) | {} |",
                Spread::of(&reload_milliseconds).show(3)
            );
            let _ = writeln!(
                report.sections,
                "| file rewritten → new library serving (watcher + debounce + reload) | {} |\n",
                Spread::of(&end_to_end_milliseconds).show(1)
            );
        }
        Err(reason) => report.failed("hot-lib-reloader's reload", &reason),
    }
}

fn pause_section(report: &mut Report, options: &Options, artifacts: &Artifacts) {
    let _ = writeln!(report.sections, "## 2. Update pause against state size\n");
    let _ = writeln!(
        report.sections,
        "A release `kv-server` on kv v1, loaded through a Redis client, updated to kv v2 through its control socket and rolled back, \
         {} times per transfer mode; the pause is the report's `pause` (admission closed → reopened). Each state is about 1,000 \
         keys (1 MiB values for the biggest), so that loading stays bounded. The codec floor is `rmp_serde::to_vec_named` + \
         `from_slice` of the same map (`KvStateV1`) in the benchmark process, in the same run. The restart is the peer of \
         section 5(b): SIGTERM to a server with `--state-dir` (it writes a snapshot), then a new process on the same directory \
         until it answers PING; downtime = stop + start. Values are min / median / max, in ms.\n",
        options.rounds
    );
    let mut points: Vec<PausePoint> = Vec::new();
    let mut restarts: Vec<RestartPoint> = Vec::new();
    for &size in &options.sizes {
        let dataset = Dataset::of_size(size);
        eprintln!("  {}: {} keys of {} bytes…", stats::bytes(size as f64), dataset.keys, dataset.value_bytes);
        match kv::measure_pause(artifacts, dataset, options.rounds) {
            Ok(point) => points.push(point),
            Err(reason) => report.failed(&format!("the pause at {}", stats::bytes(size as f64)), &reason),
        }
        match kv::measure_restart(artifacts, dataset, options.rounds.min(2)) {
            Ok(point) => restarts.push(point),
            Err(reason) => report.failed(&format!("the restart at {}", stats::bytes(size as f64)), &reason),
        }
    }
    let _ = writeln!(
        report.sections,
        "| state | keys × value | load | exported | eager pause | codec floor | eager ÷ floor | lazy pause | lazy migration | restart downtime |"
    );
    let _ = writeln!(report.sections, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut floor_target = Vec::new();
    for point in &points {
        let eager = Spread::of(&point.eager_pauses);
        let eager_cell = eager_cell(point, 3);
        let floor = Spread::of(&point.codec.encode_and_decode);
        let (lazy_pause, lazy_migration) = lazy_cells(&point.lazy);
        let restart = restarts
            .iter()
            .find(|restart| restart.dataset.keys == point.dataset.keys && restart.dataset.value_bytes == point.dataset.value_bytes)
            .map_or_else(|| "-".to_owned(), |restart| Spread::of(&restart.downtimes()).show(0));
        let _ = writeln!(
            report.sections,
            "| {} | {} × {} B | {:.0} | {} | {eager_cell} | {} | {} | {lazy_pause} | {lazy_migration} | {restart} |",
            stats::bytes(point.dataset.bytes() as f64),
            point.dataset.keys,
            point.dataset.value_bytes,
            point.load.as_secs_f64() * 1e3,
            exported_cell(point),
            floor.show(3),
            if point.eager_pauses.is_empty() { "-".to_owned() } else { format!("{:.2}", eager.median / floor.median.max(1e-9)) },
        );
        if !point.eager_pauses.is_empty() {
            floor_target.push((point.state_bytes, eager.median, floor.median));
        }
    }
    if let Some(LazyOutcome::Unavailable(reason)) = points.first().map(|point| &point.lazy) {
        let _ = writeln!(report.sections, "\nlazy transfer: not available in this build (the host answered: {reason})\n");
    }
    if !floor_target.is_empty() {
        let worst =
            floor_target.iter().max_by(|a, b| (a.1 - (1.5 * a.2 + 0.5)).total_cmp(&(b.1 - (1.5 * b.2 + 0.5)))).copied().unwrap_or_default();
        let all_met = floor_target.iter().all(|&(_, eager, floor)| eager <= 1.5 * floor + 0.5);
        let each: Vec<String> = floor_target
            .iter()
            .map(|&(bytes, eager, floor)| format!("{}: {eager:.2} ms vs limit {:.2} ms", stats::bytes(bytes as f64), 1.5 * floor + 0.5))
            .collect();
        report.target(
            "eager pause ≤ 1.5 × codec floor + 0.5 ms (every size)",
            format!("{} (worst at {})", each.join("; "), stats::bytes(worst.0 as f64)),
            Some(all_met),
        );
    }
    let refused: Vec<&PausePoint> = points.iter().filter(|point| !point.refusals.is_empty()).collect();
    if !refused.is_empty() {
        let sizes: Vec<String> =
            refused.iter().map(|point| format!("{} ({})", stats::bytes(point.dataset.bytes() as f64), point.refusals.len())).collect();
        report.target(
            "eager updates of every size go through (none refused)",
            format!("refused at {}: {}", sizes.join(", "), refused[0].refusals[0]),
            Some(false),
        );
    }
    if let Some(point) = points.iter().filter(|point| !point.resident_peaks.is_empty()).max_by_key(|point| point.state_bytes) {
        let state_resident = point.resident_loaded.saturating_sub(point.resident_empty) as f64;
        let peak = point.resident_peaks.iter().copied().max().unwrap_or(0).saturating_sub(point.resident_empty) as f64;
        let _ =
            writeln!(report.sections, "\nResident memory of the server during the eager updates (`VmHWM`, reset before each update):\n");
        let _ = writeln!(
            report.sections,
            "| state | empty server | loaded | peak during update | state resident | peak − empty | (peak − empty) ÷ state resident | ÷ exported bytes |"
        );
        let _ = writeln!(report.sections, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for point in points.iter().filter(|point| !point.resident_peaks.is_empty()) {
            let state_resident = point.resident_loaded.saturating_sub(point.resident_empty) as f64;
            let peak_max = point.resident_peaks.iter().copied().max().unwrap_or(0);
            let peak = peak_max.saturating_sub(point.resident_empty) as f64;
            let _ = writeln!(
                report.sections,
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} | {:.2} |",
                stats::bytes(point.dataset.bytes() as f64),
                point.resident_empty as f64 / MIB,
                point.resident_loaded as f64 / MIB,
                peak_max as f64 / MIB,
                state_resident / MIB,
                peak / MIB,
                peak / state_resident.max(1.0),
                peak / (point.state_bytes as f64).max(1.0),
            );
        }
        let _ = writeln!(
            report.sections,
            "\n(The rehearsal's child process has memory of its own, not counted here; it is bounded by the host's address-space \
             limit for it.)\n"
        );
        report.target(
            format!("eager peak memory ≤ 2 × state (at {})", stats::bytes(point.dataset.bytes() as f64)),
            format!(
                "peak {:.0} MiB above the empty server for a state of {:.0} MiB resident ({:.0} MiB exported): {:.2} ×",
                peak / MIB,
                state_resident / MIB,
                point.state_bytes as f64 / MIB,
                peak / state_resident.max(1.0)
            ),
            Some(peak <= 2.0 * state_resident),
        );
    }
    let mut series = vec![
        Series::line(
            "eager pause (median)",
            points.iter().map(|point| (point.state_bytes as f64, Spread::of(&point.eager_pauses).median)).collect(),
        ),
        Series::line(
            "codec floor: encode + decode (median)",
            points
                .iter()
                .map(|point| {
                    (point.state_bytes.max(point.dataset.bytes() as u64) as f64, Spread::of(&point.codec.encode_and_decode).median)
                })
                .collect(),
        ),
    ];
    let lazy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|point| match &point.lazy {
            LazyOutcome::Measured { pauses, .. } => Some((point.state_bytes as f64, Spread::of(pauses).median)),
            LazyOutcome::Unavailable(_) | LazyOutcome::Failed(_) => None,
        })
        .collect();
    if !lazy.is_empty() {
        series.push(Series::line("lazy pause (median)", lazy));
    }
    let restart: Vec<(f64, f64)> = restarts
        .iter()
        .filter_map(|restart| {
            let point = points
                .iter()
                .find(|point| point.dataset.keys == restart.dataset.keys && point.dataset.value_bytes == restart.dataset.value_bytes)?;
            Some((point.state_bytes.max(point.dataset.bytes() as u64) as f64, Spread::of(&restart.downtimes()).median))
        })
        .collect();
    if !restart.is_empty() {
        series.push(Series::line("restart from snapshot: downtime (median)", restart));
    }
    report.plot(
        options,
        "pause.svg",
        "Update pause against state size (kv v1 → v2)",
        &Axis::logarithmic("state (bytes exported)", stats::bytes),
        &Axis::logarithmic("milliseconds", |value| format!("{value}")),
        &series,
    );
    if !restarts.is_empty() {
        let _ = writeln!(report.sections, "Restart from a snapshot (peer 5(b)), ms:\n");
        let _ = writeln!(
            report.sections,
            "| state | SIGTERM → exited (snapshot written) | start → PING answered | downtime |\n|---|---:|---:|---:|"
        );
        for restart in &restarts {
            let _ = writeln!(
                report.sections,
                "| {} | {} | {} | {} |",
                stats::bytes(restart.dataset.bytes() as f64),
                Spread::of(&restart.stops).show(0),
                Spread::of(&restart.starts).show(0),
                Spread::of(&restart.downtimes()).show(0)
            );
        }
    }

    let _ = writeln!(report.sections, "\n### Pause against key count (16-byte values)\n");
    let mut by_keys: Vec<PausePoint> = Vec::new();
    for &keys in &options.key_counts {
        eprintln!("  {keys} keys…");
        match kv::measure_pause(artifacts, Dataset::of_keys(keys), options.rounds) {
            Ok(point) => by_keys.push(point),
            Err(reason) => report.failed(&format!("the pause at {keys} keys"), &reason),
        }
    }
    let _ = writeln!(
        report.sections,
        "| keys | exported | eager pause | codec floor | lazy pause | lazy migration |\n|---:|---:|---:|---:|---:|---:|"
    );
    for point in &by_keys {
        let (lazy_pause, lazy_migration) = lazy_cells(&point.lazy);
        let _ = writeln!(
            report.sections,
            "| {} | {} | {} | {} | {lazy_pause} | {lazy_migration} |",
            point.dataset.keys,
            exported_cell(point),
            eager_cell(point, 2),
            Spread::of(&point.codec.encode_and_decode).show(2),
        );
    }
    report.sections.push('\n');
    lazy_targets(report, options, &by_keys);
}

/// The exported size of a state, or `-` when no update exported it.
fn exported_cell(point: &PausePoint) -> String {
    if point.state_bytes == 0 { "-".to_owned() } else { stats::bytes(point.state_bytes as f64) }
}

/// The eager pause cell of a table: the spread, or why the updates were refused.
fn eager_cell(point: &PausePoint, decimals: usize) -> String {
    let refused = point.refusals.len();
    let rounds = refused + point.eager_pauses.len();
    match (point.eager_pauses.is_empty(), point.refusals.first()) {
        (true, Some(reason)) => format!("refused ({refused} of {rounds}): {reason}"),
        (false, Some(_)) => format!("{} ({refused} of {rounds} refused)", Spread::of(&point.eager_pauses).show(decimals)),
        _ => Spread::of(&point.eager_pauses).show(decimals),
    }
}

/// The lazy pause and migration cells of a table.
fn lazy_cells(lazy: &LazyOutcome) -> (String, String) {
    match lazy {
        LazyOutcome::Unavailable(_) => ("lazy transfer: not available in this build".to_owned(), "-".to_owned()),
        LazyOutcome::Failed(reason) => (format!("failed: {reason}"), "-".to_owned()),
        LazyOutcome::Measured { pauses, migrations, migration_seen } => (
            Spread::of(pauses).show(3),
            format!("{}{}", Spread::of(migrations).show(1), if *migration_seen { "" } else { " (no migration seen in status)" }),
        ),
    }
}

fn lazy_targets(report: &mut Report, options: &Options, by_keys: &[PausePoint]) {
    let (Some(small), Some(large)) = (by_keys.first(), by_keys.last()) else {
        report.target("pause of lazy ≤ 2 ms at 2,000,000 keys", "not measured (the key-count experiment failed)", None);
        return;
    };
    if small.dataset.keys == large.dataset.keys {
        report.target(
            format!(
                "pause of lazy ≤ 2 ms at 2,000,000 keys, and ≤ 2 × the pause at {} keys",
                options.key_counts.first().copied().unwrap_or(0)
            ),
            format!("not measured: only {} keys could be measured (see section 2)", small.dataset.keys),
            None,
        );
        return;
    }
    let note = if options.quick || large.dataset.keys != 2_000_000 {
        format!(" (measured at {} keys, not 2,000,000)", large.dataset.keys)
    } else {
        String::new()
    };
    match (&small.lazy, &large.lazy) {
        (LazyOutcome::Measured { pauses: small_pauses, .. }, LazyOutcome::Measured { pauses: large_pauses, .. }) => {
            let (small_pause, large_pause) = (Spread::of(small_pauses).median, Spread::of(large_pauses).median);
            report.target(
                format!("pause of lazy ≤ 2 ms at 2,000,000 keys{note}"),
                format!("{large_pause:.3} ms"),
                Some(large_pause <= 2.0),
            );
            report.target(
                format!("lazy pause at {} keys ≤ 2 × the pause at {} keys", large.dataset.keys, small.dataset.keys),
                format!("{large_pause:.3} ms vs {small_pause:.3} ms: {:.2} ×", large_pause / small_pause.max(1e-9)),
                Some(large_pause <= 2.0 * small_pause),
            );
        }
        (LazyOutcome::Failed(reason), _) | (_, LazyOutcome::Failed(reason)) => {
            report.target(format!("pause of lazy ≤ 2 ms at 2,000,000 keys{note}"), format!("failed: {reason}"), Some(false));
        }
        _ => {
            let eager = if large.eager_pauses.is_empty() {
                "eager updates refused there".to_owned()
            } else {
                format!("eager pause there: {:.1} ms", Spread::of(&large.eager_pauses).median)
            };
            report.target(
                format!("pause of lazy ≤ 2 ms at 2,000,000 keys{note}"),
                format!("lazy transfer: not available in this build ({eager})"),
                None,
            );
            report.target(
                format!("lazy pause at {} keys ≤ 2 × the pause at {} keys", large.dataset.keys, small.dataset.keys),
                "lazy transfer: not available in this build",
                None,
            );
        }
    }
}

fn memory_section(report: &mut Report, options: &Options, artifacts: &Artifacts, counter_v1: &Path, counter_v2: &Path) {
    let _ = writeln!(report.sections, "## 3. Resident memory over update cycles\n");
    let _ = writeln!(
        report.sections,
        "`VmRSS` of a release `kv-server` holding {} keys (16-byte values), read after each of {} update (kv v1 → v2) + rollback \
         cycles while {} clients keep sending GET and SET (each waiting 1 ms between a reply and its next request; clients \
         that never wait are section 4's).\n",
        options.cycle_keys, options.cycles, 2
    );
    match kv::measure_memory_cycles(artifacts, options.cycle_keys, options.cycles) {
        Ok(cycles) => {
            let initial = cycles.samples.first().map_or(0, |sample| sample.1) as f64;
            let last = cycles.samples.last().map_or(0, |sample| sample.1) as f64;
            let peak = cycles.samples.iter().map(|sample| sample.1).max().unwrap_or(0) as f64;
            let ratio = last / initial.max(1.0);
            if let Some(reason) = cycles.refusals.first() {
                let _ = writeln!(
                    report.sections,
                    "{} of the cycles were refused (the running version kept serving); the first: {reason}\n",
                    cycles.refusals.len()
                );
                report.target(
                    format!("every update + rollback cycle under load goes through ({} keys)", cycles.keys),
                    format!("{} of {} refused: {reason}", cycles.refusals.len(), cycles.cycles),
                    Some(false),
                );
            }
            let _ = writeln!(
                report.sections,
                "| keys | cycles | RSS before | RSS after | highest after a cycle | after ÷ before | client requests | client errors |\n|---:|---:|---:|---:|---:|---:|---:|---:|"
            );
            let _ = writeln!(
                report.sections,
                "| {} | {} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {ratio:.2} | {} | {} |",
                cycles.keys,
                cycles.cycles,
                initial / MIB,
                last / MIB,
                peak / MIB,
                cycles.requests,
                cycles.errors
            );
            report.target(
                format!("kv-server RSS after many updates within 3 × of before ({} keys, {} cycles)", cycles.keys, cycles.cycles),
                format!("{:.1} MiB → {:.1} MiB: {ratio:.2} ×", initial / MIB, last / MIB),
                Some(ratio <= 3.0),
            );
            report.plot(
                options,
                "memory-cycles.svg",
                "kv-server resident memory over update + rollback cycles",
                &Axis::linear("cycles", |value| format!("{value:.0}")),
                &Axis::linear("VmRSS, MiB", |value| format!("{value:.0}")),
                &[Series::line(
                    "kv-server VmRSS",
                    cycles.samples.iter().map(|&(cycle, bytes)| (cycle as f64, bytes as f64 / MIB)).collect(),
                )],
            );
        }
        Err(reason) => report.failed("the kv-server memory cycles", &reason),
    }

    let _ = writeln!(report.sections, "### The host in one process: counter v1 ↔ v2\n");
    let _ = writeln!(
        report.sections,
        "{} update + rollback cycles of counter v1 ↔ v2 in the benchmark process (no rehearsal: it would run in child \
         processes and only lengthen the run), `VmRSS` of the process after one warm-up cycle and after the last.\n",
        options.counter_cycles
    );
    match calls::measure_counter_cycles(counter_v1, counter_v2, options.counter_cycles) {
        Ok(CounterCycles { cycles, resident_before, resident_after, samples, elapsed, median_pause_milliseconds }) => {
            let growth = resident_after as f64 - resident_before as f64;
            let _ = writeln!(
                report.sections,
                "| cycles | RSS before | RSS after | growth | time | median pause |\n|---:|---:|---:|---:|---:|---:|\n| {cycles} | {:.1} MiB | {:.1} MiB | {:+.2} MiB | {:.1} s | {median_pause_milliseconds:.3} ms |",
                resident_before as f64 / MIB,
                resident_after as f64 / MIB,
                growth / MIB,
                elapsed.as_secs_f64()
            );
            let note = if cycles == 10_000 { String::new() } else { format!(" (measured over {cycles} cycles, not 10,000)") };
            report.target(
                format!("10,000 update cycles: RSS growth < 5 MB{note}"),
                format!("{:+.2} MB ({:.1} → {:.1} MiB)", growth / 1e6, resident_before as f64 / MIB, resident_after as f64 / MIB),
                Some(growth < 5e6),
            );
            report.plot(
                options,
                "memory-counter-cycles.svg",
                "Host process resident memory over counter update + rollback cycles",
                &Axis::linear("cycles", |value| format!("{value:.0}")),
                &Axis::linear("VmRSS, MiB", |value| format!("{value:.1}")),
                &[Series::line("VmRSS", samples.iter().map(|&(cycle, bytes)| (cycle as f64, bytes as f64 / MIB)).collect())],
            );
        }
        Err(reason) => report.failed("the counter cycles", &reason),
    }
}

fn latency_section(report: &mut Report, options: &Options, artifacts: &Artifacts) {
    let _ = writeln!(report.sections, "## 4. Client latency through an update\n");
    let _ = writeln!(
        report.sections,
        "A release `kv-server` holding {} keys (16-byte values); {} clients, each on its own connection, alternate GET and SET \
         of random keys one request at a time (a Rust load generator speaking RESP, timing every request). The window runs \
         1 s of load, the update kv v1 → v2 (for lazy transfer, until its migration ends), then 1 s more. Latencies in ms.\n",
        options.latency_keys, 2
    );
    match kv::measure_latency(artifacts, options.latency_keys) {
        Ok(latency) => {
            let _ = writeln!(
                report.sections,
                "| transfer | requests | p50 | p99 | max | slowest request that overlapped the update | pause | client errors |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            );
            let mut series = Vec::new();
            let mut row = |window: &LatencyWindow, series: &mut Vec<Series>| {
                let (p50, p99, max) = window.percentiles();
                let during = window
                    .samples
                    .iter()
                    .filter(|&&(start, latency)| start <= window.migration_ended && start + latency / 1e3 >= window.update_started)
                    .map(|sample| sample.1)
                    .fold(0.0, f64::max);
                let pause = match &window.refused {
                    Some(reason) => format!("update refused: {reason}"),
                    None => format!("{:.3}", window.pause_milliseconds),
                };
                let _ = writeln!(
                    report.sections,
                    "| {} | {} | {p50:.3} | {p99:.3} | {max:.3} | {during:.3} | {pause} | {} |",
                    window.transfer,
                    window.samples.len(),
                    window.errors
                );
                series.push(Series::dots(
                    format!("{} transfer (update sent at {:.2} s)", window.transfer, window.update_started),
                    thin(&window.samples),
                ));
            };
            row(&latency.eager, &mut series);
            match &latency.lazy {
                Ok(window) => row(window, &mut series),
                Err(reason) => {
                    let _ = writeln!(report.sections, "| lazy | {reason} | | | | | | |");
                }
            }
            let _ = latency.keys;
            report.plot(
                options,
                "latency.svg",
                "Client request latency through an update (slowest request per 5 ms)",
                &Axis::linear("seconds since the load began", |value| format!("{value:.1}")),
                &Axis::logarithmic("latency, ms", |value| format!("{value}")),
                &series,
            );
        }
        Err(reason) => report.failed("the latency measurement", &reason),
    }
}

/// The slowest request of each 5 ms of a window, so that a plot of a million requests stays small.
fn thin(samples: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut thinned: Vec<(f64, f64)> = Vec::new();
    for &(start, latency) in samples {
        let bucket = (start / 0.005).floor() * 0.005;
        match thinned.last_mut() {
            Some(last) if (last.0 - bucket).abs() < 1e-9 => last.1 = last.1.max(latency),
            _ => thinned.push((bucket, latency)),
        }
    }
    thinned
}

fn throughput_section(report: &mut Report, options: &Options, artifacts: &Artifacts) {
    let _ = writeln!(report.sections, "## 5. Peers\n");
    let _ = writeln!(
        report.sections,
        "(a) hot-lib-reloader: its call is in section 1's table, its reload below it. (b) The restart from a snapshot is in \
         section 2's table and plot. (c) Throughput: `redis-benchmark`, 50 clients, SET and GET, {} requests per test, \
         against Debian's `redis-server` (no persistence) and `kv-server` on kv v1.\n",
        options.requests
    );
    match throughput::measure(artifacts, options.requests) {
        Ok(ThroughputRun { results, pinned, command }) => {
            let _ = writeln!(
                report.sections,
                "{}Command: `{command}`.\n",
                if pinned {
                    "Each server started on core 0 alone (`taskset -c 0`, so it sizes itself for one core), the load on core 1. "
                } else {
                    "Not pinned (taskset or a second core missing). "
                }
            );
            let _ = writeln!(
                report.sections,
                "| test | pipeline | redis-server, req/s | kv-server, req/s | kv ÷ redis |\n|---|---:|---:|---:|---:|"
            );
            for pipeline in throughput::PIPELINES {
                for test in ["SET", "GET"] {
                    let find = |server: &str| {
                        results
                            .iter()
                            .find(|result| result.server.starts_with(server) && result.pipeline == pipeline && result.test == test)
                            .map(|result| result.requests_per_second)
                    };
                    if let (Some(redis), Some(kv)) = (find("redis"), find("kv")) {
                        let _ = writeln!(report.sections, "| {test} | {pipeline} | {redis:.0} | {kv:.0} | {:.2} |", kv / redis);
                    }
                }
            }
            report.sections.push('\n');
        }
        Err(reason) => report.failed("the throughput reference", &reason),
    }
}

fn render(options: &Options, machine: &Machine, report: &Report, seconds: f64) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# Benchmarks\n");
    let _ = writeln!(
        text,
        "Written by `{}` on {}{}; the whole run took {:.0} s. Do not edit by hand: run it again. Every number below was \
         measured in that one run on this machine.\n",
        options.command,
        machine.date,
        if options.quick { " (a **quick** run: small sizes, few rounds; the full run is `cargo xtask bench`)" } else { "" },
        seconds
    );
    let _ = writeln!(text, "## Machine\n\n| | |\n|---|---|");
    let _ = writeln!(
        text,
        "| CPU | {} |\n| cores | {} |\n| memory | {} |\n| kernel | {} |\n| rustc | {} |\n| date | {} |\n",
        machine.cpu, machine.cores, machine.memory, machine.kernel, machine.rustc, machine.date
    );
    let _ = writeln!(text, "## Commands\n");
    let _ = writeln!(text, "```sh\n{}\n```\n", options.command);
    let _ = writeln!(
        text,
        "which runs, from the repository root:\n\n```sh\ncargo build --release -p kv-v1 -p kv-v2 -p kv-server -p counter-v1 -p counter-v2\n\
         CARGO_TARGET_DIR=target cargo build --release --workspace --manifest-path benchmarks/Cargo.toml\n\
         target/release/ecdysis-benchmarks --artifacts target/release --hot-lib target/release/libhot_bench_lib.so \\\n  \
         --output BENCHMARKS.md --plots benchmarks/plots{}\n```\n\n`--quick` makes a smoke run of a few minutes; each size can \
         be set by a flag (`cargo xtask help`).\n",
        options.command.strip_prefix("cargo xtask bench").unwrap_or("")
    );
    let _ = writeln!(text, "## Targets\n\n| target | measured | |\n|---|---|---|");
    for target in &report.targets {
        let _ = writeln!(text, "| {} | {} | {} |", target.name, target.measured, target.met.map_or("not measured", verdict));
    }
    text.push('\n');
    text.push_str(&report.sections);
    text
}
