//! Plugin background work the host drives and the host's clock: a `sweeper` plugin whose `tick`
//! removes expired keys, reading the time through `ecdysis_plugin_api::clock`, on a host with a
//! manual clock; across updates and rollbacks, with its released libraries unmapped; no tick while
//! an update holds a module paused; a tick that panics; a plugin without a tick; two hosts with
//! clocks of their own.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use counter_interface::Counter;
use ecdysis_host::{Clock, Host, Module};
use ecdysis_test_plugins::sweeper::Sweeper;

use crate::{defective, mapped_under, sample};

/// Where a test's manual clocks start.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A host on `clock` whose private library copies go under `library_dir`.
fn host_on(clock: &Clock, library_dir: &Path) -> Host {
    Host::builder()
        .clock(clock.clone())
        .library_dir(library_dir)
        .quiesce_timeout(Duration::from_secs(2))
        .hook_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Waits until `condition` holds, polling every 10 ms, for at most 10 s.
#[track_caller]
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many entries the sweeper holds, expired ones included.
fn stored(sweeper: &Module<dyn Sweeper>) -> u64 {
    sweeper.call(|sweeper| sweeper.stored()).unwrap()
}

/// Checks that the sweeper's current version is `version` and sweeps on the host's clock: a key
/// set to expire in one second stays stored however long real time passes while the clock stands
/// still, and is swept by a tick once the clock is advanced past it; a key set to live a minute
/// stays.
#[track_caller]
fn check_sweeping(host: &Host, clock: &Clock, sweeper: &Module<dyn Sweeper>, version: &str) {
    wait_until("the new version's first tick", || host.tick_status("sweeper").unwrap().current_version_ticked);
    assert_eq!(sweeper.call(|sweeper| sweeper.version()).unwrap(), version);
    let (short, long) = (format!("short-{version}"), format!("long-{version}"));
    let (before, sweeps_before) = sweeper.call(|sweeper| {
        sweeper.set(&short, "soon gone", 1_000).unwrap();
        sweeper.set(&long, "stays", 60_000).unwrap();
        (sweeper.stored().unwrap(), sweeper.sweeps().unwrap())
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stored(sweeper), before, "time stands still for the plugin until the clock is advanced");
    assert_eq!(sweeper.call(|sweeper| sweeper.get(&short)).unwrap().as_deref(), Some("soon gone"));
    clock.advance(Duration::from_secs(2));
    wait_until(&format!("version {version} to sweep `{short}`"), || stored(sweeper) == before - 1);
    let (kept, gone, sweeps) =
        sweeper.call(|sweeper| (sweeper.get(&long).unwrap(), sweeper.get(&short).unwrap(), sweeper.sweeps().unwrap()));
    assert_eq!((kept.as_deref(), gone), (Some("stays"), None));
    assert!(sweeps > sweeps_before, "the sweep was version {version}'s own ({sweeps_before} sweeps before, {sweeps} after)");
    assert_eq!(host.tick_status("sweeper").unwrap().next_tick_in, Some(Duration::from_millis(10)), "it asked to be ticked in 10 ms");
}

/// The file names of the library copies this process maps under `directory`.
fn mapped_copies(directory: &Path) -> Vec<String> {
    let mapped = mapped_under(std::process::id(), directory);
    mapped.iter().map(|path| Path::new(path).file_name().unwrap().to_string_lossy().into_owned()).collect()
}

/// Checks that the last library released is `version`'s and that it left the address space: the
/// only copy still mapped under `directory` is the current version's, `current_library`.
#[track_caller]
fn check_released(host: &Host, directory: &Path, version: &str, current_library: &str) {
    let released = host.released_libraries();
    let last = released.last().expect("a library was released");
    assert_eq!(last.version.to_string(), version, "{released:?}");
    assert!(released.iter().all(|release| !release.still_mapped), "every released library left the address space: {released:?}");
    let mapped = mapped_copies(directory);
    assert!(
        mapped.len() == 1 && mapped[0].starts_with(&format!("{current_library}-")),
        "only the current version's copy is mapped: {mapped:?}"
    );
}

#[test]
fn a_sweeper_sweeps_on_the_hosts_clock_across_updates_and_rollbacks_and_its_released_libraries_are_unmapped() {
    let clock = Clock::manual(start());
    let library_dir = tempfile::tempdir().unwrap();
    let host = host_on(&clock, library_dir.path());
    assert_eq!((host.clock().now(), host.clock().monotonic()), (start(), Duration::ZERO), "the host's clock is the one given");
    let sweeper = host.load::<dyn Sweeper>(defective("sweeper_v1")).unwrap();
    check_sweeping(&host, &clock, &sweeper, "1");

    host.update("sweeper", defective("sweeper_v2")).unwrap();
    assert_eq!(sweeper.call(|sweeper| sweeper.get("long-1")).unwrap().as_deref(), Some("stays"), "the state crossed");
    check_sweeping(&host, &clock, &sweeper, "2");

    host.rollback("sweeper").unwrap();
    check_released(&host, library_dir.path(), "2.0.0", "libsweeper_v1");
    check_sweeping(&host, &clock, &sweeper, "1");

    host.update("sweeper", defective("sweeper_v2")).unwrap();
    check_sweeping(&host, &clock, &sweeper, "2");
    assert_eq!(host.commit("sweeper").unwrap().map(|version| version.to_string()).as_deref(), Some("1.0.0"));
    check_released(&host, library_dir.path(), "1.0.0", "libsweeper_v2");
    assert_eq!(host.released_libraries().len(), 2);
    check_sweeping(&host, &clock, &sweeper, "2");
    let ticks = host.tick_status("sweeper").unwrap();
    assert_eq!(ticks.failed, 0, "{ticks:?}");
}

#[test]
fn no_tick_runs_while_an_update_holds_the_module_paused_and_an_update_waits_for_a_tick_in_progress() {
    // On the system's clock: the fixture's ticks take 30 ms each and come every 10 ms, so updates
    // meet ticks in progress. Its `prepare` refuses an update while a tick runs, and a tick between
    // `prepare` and `resume` panics.
    let library_dir = tempfile::tempdir().unwrap();
    let host = host_on(&Clock::system(), library_dir.path());
    let sweeper = host.load::<dyn Sweeper>(defective("sweeper_checks_pauses")).unwrap();
    let ticks = || host.tick_status("sweeper").unwrap().ticks;
    for _ in 0..3 {
        let before = ticks();
        wait_until("a few ticks of the version that checks", || ticks() >= before + 3);
        host.update("sweeper", defective("sweeper_v2")).unwrap();
        wait_until("version 2's first tick", || host.tick_status("sweeper").unwrap().current_version_ticked);
        host.rollback("sweeper").unwrap();
        wait_until("the first tick after the rollback", || host.tick_status("sweeper").unwrap().current_version_ticked);
    }
    assert_eq!(sweeper.call(|sweeper| sweeper.version()).unwrap(), "1-checks-pauses");
    let status = host.tick_status("sweeper").unwrap();
    assert_eq!(status.failed, 0, "no tick ran while a version was paused: {status:?}");
}

#[test]
fn a_tick_that_panics_is_counted_and_tried_again_later_while_the_module_keeps_serving() {
    let clock = Clock::manual(start());
    let library_dir = tempfile::tempdir().unwrap();
    let host = host_on(&clock, library_dir.path());
    let sweeper = host.load::<dyn Sweeper>(defective("sweeper_tick_panics")).unwrap();
    wait_until("the first tick to have panicked", || host.tick_status("sweeper").unwrap().failed == 1);
    let status = host.tick_status("sweeper").unwrap();
    assert_eq!((status.ticks, status.current_version_ticked), (1, true), "{status:?}");
    assert_eq!(status.next_tick_in, Some(ecdysis_host::TICK_RETRY_AFTER_FAILURE), "{status:?}");
    sweeper.call(|sweeper| sweeper.set("key", "value", 1_000)).unwrap();
    assert_eq!(sweeper.call(|sweeper| sweeper.get("key")).unwrap().as_deref(), Some("value"), "the module keeps serving");
    clock.advance(ecdysis_host::TICK_RETRY_AFTER_FAILURE);
    wait_until("the tick to be tried again", || host.tick_status("sweeper").unwrap().failed == 2);
    assert_eq!(stored(&sweeper), 1, "the tick panicked before it swept");
    assert_eq!(host.status()[0].version.to_string(), "1.0.1");
}

#[test]
fn a_plugin_without_a_tick_is_asked_once_per_version_and_never_ticked_again() {
    let clock = Clock::manual(start());
    let library_dir = tempfile::tempdir().unwrap();
    let host = host_on(&clock, library_dir.path());
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    wait_until("the version's first tick", || host.tick_status("counter").unwrap().current_version_ticked);
    clock.advance(Duration::from_secs(3600));
    counter.call(|counter| counter.increment("a", 1)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let status = host.tick_status("counter").unwrap();
    assert_eq!((status.ticks, status.failed, status.next_tick_in), (1, 0, None), "{status:?}");
    host.update("counter", sample("counter-v2")).unwrap();
    wait_until("the new version's first tick", || host.tick_status("counter").unwrap().current_version_ticked);
    clock.advance(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(300));
    let status = host.tick_status("counter").unwrap();
    assert_eq!((status.ticks, status.failed, status.next_tick_in), (2, 0, None), "{status:?}");
    assert_eq!(host.tick_status("no-such-module"), None);
}

#[test]
fn two_hosts_in_one_process_each_hand_their_own_clock_to_their_plugins() {
    let (first_clock, second_clock) = (Clock::manual(start()), Clock::manual(start()));
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, second) = (host_on(&first_clock, first_dir.path()), host_on(&second_clock, second_dir.path()));
    let sweepers =
        [first.load::<dyn Sweeper>(defective("sweeper_v1")).unwrap(), second.load::<dyn Sweeper>(defective("sweeper_v1")).unwrap()];
    for sweeper in &sweepers {
        sweeper.call(|sweeper| sweeper.set("key", "value", 5_000)).unwrap();
    }
    first_clock.advance(Duration::from_secs(6));
    wait_until("the first host's plugin to sweep", || stored(&sweepers[0]) == 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stored(&sweepers[1]), 1, "the second host's clock did not move");
    assert_eq!(sweepers[1].call(|sweeper| sweeper.get("key")).unwrap().as_deref(), Some("value"));
    second_clock.advance(Duration::from_secs(6));
    wait_until("the second host's plugin to sweep", || stored(&sweepers[1]) == 0);
    assert!(!Host::new().unwrap().clock().is_manual(), "a host reads the system's clock by default");
}
