//! What machine the report ran on: CPU model, cores, memory, kernel, rustc version, and the date.

use std::process::Command;

/// The facts the report's header shows.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub date: String,
}

impl Machine {
    /// Reads `/proc/cpuinfo`, `/proc/meminfo`, `uname -srm`, `rustc --version` and `date -u`.
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, name)| name.trim().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kilobytes| format!("{:.1} GiB", kilobytes / 1024.0 / 1024.0));
        Machine {
            cpu,
            cores,
            memory,
            kernel: output_of("uname", &["-srm"]),
            rustc: output_of("rustc", &["--version"]),
            date: output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        }
    }
}

/// The first line a command prints, or `unknown`.
fn output_of(program: &str, arguments: &[&str]) -> String {
    Command::new(program)
        .args(arguments)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The resident memory (`VmRSS`) of process `pid`, in bytes.
pub fn resident_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// The peak resident memory (`VmHWM`) of process `pid` since it started or since
/// [`reset_peak`], in bytes.
pub fn peak_resident_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// Resets the peak resident memory of process `pid` to its current resident memory (writing `5` to
/// `/proc/PID/clear_refs`, which a process may do for its own children).
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kilobytes: u64 = status.lines().find_map(|line| line.strip_prefix(field))?.split_whitespace().next()?.parse().ok()?;
    Some(kilobytes * 1024)
}
