//! Flat resources over many update cycles: three thousand updates and rollbacks in one process
//! leave no file descriptor, temporary file or library mapping behind, and after the first thousand
//! (which fill the history and the release log, both bounded) resident memory grows by less than
//! 5 MB. The scenario runs in a child process of its own, so that what other tests open meanwhile
//! is not counted. `cargo xtask bench cycles` runs it with 10,000 cycles (`ECDYSIS_CYCLES`), which
//! take about two minutes in a debug build (12 ms a cycle): too long for every `cargo test`.

use std::time::{Duration, Instant};

use counter_interface::Counter;
use ecdysis_host::Host;

use super::soundness::scenario_in_child_process;
use super::{library_directory_of, mapped_under, open_file_descriptors, sample};

/// How many update-and-rollback cycles warm the host up: the history and the release log fill up.
const WARM_UP_CYCLES: usize = 1_000;

/// How many update-and-rollback cycles the scenario runs in all, unless `ECDYSIS_CYCLES` says.
const DEFAULT_CYCLES: usize = 3_000;

/// How much resident memory the cycles after the warm-up may add: allocator noise, not a retained
/// byte per cycle (which would be at least 2.5 kB per cycle here: 2,000 cycles, 5 MB).
const RESIDENT_SLACK_KILOBYTES: u64 = 5 * 1024;

fn resident_kilobytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|line| line.strip_prefix("VmRSS:")).and_then(|rest| rest.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

#[test]
fn update_cycles_leave_no_descriptor_temporary_file_mapping_or_memory_behind() {
    if !scenario_in_child_process("cycles::update_cycles_leave_no_descriptor_temporary_file_mapping_or_memory_behind") {
        return;
    }
    let cycles: usize =
        std::env::var("ECDYSIS_CYCLES").map_or(DEFAULT_CYCLES, |cycles| cycles.parse().expect("ECDYSIS_CYCLES is a number"));
    assert!(cycles > WARM_UP_CYCLES, "ECDYSIS_CYCLES must be more than the {WARM_UP_CYCLES} cycles of the warm-up");
    let host = Host::new().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    let cycle = || {
        host.update("counter", sample("counter-v2")).unwrap();
        host.rollback("counter").unwrap();
    };
    // One cycle first, so that what the host makes once (its threads, its directory) is counted
    // in the baseline.
    cycle();
    let this_process = std::process::id();
    let library_directory = library_directory_of(this_process);
    let descriptors_before = open_file_descriptors(this_process);
    let resident_before = resident_kilobytes();
    let started = Instant::now();

    for _ in 1..WARM_UP_CYCLES {
        cycle();
    }
    let resident_after_warm_up = resident_kilobytes();
    let mut resident_most = resident_after_warm_up;
    for done in WARM_UP_CYCLES..cycles {
        cycle();
        if done % 500 == 0 {
            resident_most = resident_most.max(resident_kilobytes());
        }
    }
    let resident_after = resident_kilobytes();
    resident_most = resident_most.max(resident_after);

    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3), "the state went through every cycle");
    // A hook thread abandoned at a deadline may still be ending (none should be here).
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_file_descriptors(this_process) > descriptors_before {
        assert!(
            Instant::now() < deadline,
            "{} descriptors open after {cycles} cycles, {descriptors_before} before",
            open_file_descriptors(this_process)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let files: Vec<_> = std::fs::read_dir(&library_directory).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "only the running version's private copy is left: {files:?}");
    let mapped = mapped_under(this_process, &library_directory);
    assert_eq!(mapped.len(), 1, "only the running version's library is mapped: {mapped:?}");
    println!(
        "{cycles} update-and-rollback cycles in {:.1} s: resident memory {resident_before} kB before, \
         {resident_after_warm_up} kB after {WARM_UP_CYCLES}, at most {resident_most} kB after, {resident_after} kB at the end; \
         {descriptors_before} descriptors",
        started.elapsed().as_secs_f64()
    );
    assert!(
        resident_most < resident_after_warm_up + RESIDENT_SLACK_KILOBYTES,
        "the cycles after the warm-up kept memory: {resident_after_warm_up} kB → at most {resident_most} kB"
    );
}
