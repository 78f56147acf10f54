//! The fault matrix: a real `counter-server` process (one per case, so a fault that takes a host
//! down is observed, not suffered by the test runner) is asked to update to a faulty version, once
//! with rehearsals (the default) and once with `--no-rehearsal`, and what becomes of it is checked
//! against what ecdysis promises.
//!
//! With rehearsals, every fault ends as a refused update with the running version serving every
//! item of its state: the candidate's initialisers, transform and round trip ran first in a child
//! process, which alone suffered a segfault, `abort`, `exit`, a stack overflow, an allocation that
//! fails or a hang. Without rehearsals, the faults the Rust code can report (an error, a panic, a
//! hang past the deadline, a lossy transform, a library cut short) are still refused, but a fault
//! that kills the process takes the host down with it. The README's "Guarantees" section says the
//! same, from this table.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Instant;

use super::cli::{CounterServer, run_ecdysis};
use super::*;

/// What becomes of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// The update is refused with a message containing this; the running version serves its state.
    Refused(&'static str),
    /// The host process dies.
    HostDies,
    /// The update goes through; then, after `provoke` is sent to the server (if anything), the
    /// version's probation fails and the host rolls it back to 1.0.0 with its state.
    RolledBack {
        /// A command that makes the new version misbehave.
        provoke: Option<&'static str>,
    },
    /// The update goes through: the host serves 3.0.0 with every item of the state.
    Updated,
    /// The update goes through, and the next update (to counter v2) is refused with a message
    /// containing this; the faulty version serves its state.
    NextUpdateRefused(&'static str),
}

/// A faulty candidate: a defective test plugin, or a sample library cut short.
enum Faulty {
    Fixture(&'static str),
    CutShort(&'static str),
}

/// The state every case starts with, and must find again after a refusal.
const STATE: [(&str, i64); 4] = [("apples", 3), ("pears", -5), ("plums", 7), ("quinces", 1_000_000)];

/// Runs one case in its own `counter-server`, with rehearsals and without, and checks each outcome.
#[track_caller]
fn check(faulty: Faulty, with_rehearsal: Outcome, without_rehearsal: Outcome) {
    check_with_arguments(faulty, &[], with_rehearsal, without_rehearsal);
}

/// [`check`], with more arguments for the server.
#[track_caller]
fn check_with_arguments(faulty: Faulty, arguments: &[&str], with_rehearsal: Outcome, without_rehearsal: Outcome) {
    let with: Vec<&str> = ["--panic-budget", "0"].iter().chain(arguments).copied().collect();
    check_one(&faulty, &with, with_rehearsal);
    let without: Vec<&str> = with.iter().copied().chain(["--no-rehearsal"]).collect();
    check_one(&faulty, &without, without_rehearsal);
}

/// Asserts that `server` serves `version` with every item of [`STATE`].
#[track_caller]
fn assert_state_served(server: &mut CounterServer, version: &str, server_arguments: &[&str]) {
    assert_eq!(server.ask("version"), format!("counter {version}"), "{server_arguments:?}");
    for (key, value) in STATE {
        assert_eq!(server.ask(&format!("get {key}")), format!("{key} = {value}"), "{server_arguments:?}");
    }
}

#[track_caller]
fn check_one(faulty: &Faulty, server_arguments: &[&str], expected: Outcome) {
    let mut server = CounterServer::start_with(server_arguments);
    for (key, value) in STATE {
        assert_eq!(server.ask(&format!("inc {key} {value}")), format!("{key} = {value}"));
    }
    let scratch = tempfile::tempdir().unwrap();
    let library: PathBuf = match *faulty {
        Faulty::Fixture(name) => defective(name),
        Faulty::CutShort(name) => cut_short(name, 32, scratch.path(), "libcut_short.so"),
    };
    let run = run_ecdysis(
        &[OsStr::new("--socket"), server.socket.as_os_str(), OsStr::new("reload"), OsStr::new("counter"), library.as_os_str()],
        |_| {},
    );
    match expected {
        Outcome::Refused(reason) => {
            assert_eq!(run.exit_code, Some(1), "the update is refused ({server_arguments:?}): {run:?}");
            assert!(run.stderr.contains(reason), "`{}` should contain `{reason}` ({server_arguments:?})", run.stderr);
            assert_state_served(&mut server, "1.0.0", server_arguments);
        }
        Outcome::RolledBack { provoke } => {
            assert_eq!(run.exit_code, Some(0), "the update goes through ({server_arguments:?}): {run:?}");
            if let Some(command) = provoke {
                assert!(server.ask(command).contains("panicked"), "`{command}` makes the new version panic");
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while server.ask("version") != "counter 1.0.0" {
                assert!(Instant::now() < deadline, "the version on probation was not rolled back ({server_arguments:?})");
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_state_served(&mut server, "1.0.0", server_arguments);
        }
        Outcome::Updated => {
            assert_eq!(run.exit_code, Some(0), "the update goes through ({server_arguments:?}): {run:?}");
            assert_state_served(&mut server, "3.0.0", server_arguments);
        }
        Outcome::NextUpdateRefused(reason) => {
            assert_eq!(run.exit_code, Some(0), "the update goes through ({server_arguments:?}): {run:?}");
            let library = sample("counter-v2");
            let next = run_ecdysis(
                &[
                    OsStr::new("--socket"),
                    server.socket.as_os_str(),
                    OsStr::new("reload"),
                    OsStr::new("--allow-downgrade"),
                    OsStr::new("counter"),
                    library.as_os_str(),
                ],
                |_| {},
            );
            assert_eq!(next.exit_code, Some(1), "the next update is refused ({server_arguments:?}): {next:?}");
            assert!(next.stderr.contains(reason), "`{}` should contain `{reason}` ({server_arguments:?})", next.stderr);
            assert_state_served(&mut server, "3.0.0", server_arguments);
        }
        Outcome::HostDies => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "the host was expected to die ({server_arguments:?}), and it still runs: {run:?}");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(!status.success(), "the host died: {status}");
            assert_ne!(run.exit_code, Some(0), "the tool does not report success: {run:?}");
        }
    }
}

#[test]
fn a_transform_that_returns_an_error_is_refused() {
    let refused = Outcome::Refused("could not take over the state");
    check(Faulty::Fixture("transform_fails"), refused, refused);
}

#[test]
fn a_transform_that_panics_is_refused() {
    let refused = Outcome::Refused("plugin panicked");
    check(Faulty::Fixture("transform_panics"), refused, refused);
}

#[test]
fn a_transform_that_loses_data_is_refused() {
    check(
        Faulty::Fixture("validation_fails"),
        Outcome::Refused("its rehearsal in a child process failed during the round trip: the state exported back differs"),
        Outcome::Refused("validation failed"),
    );
}

#[test]
fn a_library_cut_short_is_refused_before_any_process_opens_it() {
    let refused = Outcome::Refused("cut short");
    check(Faulty::CutShort("counter-v2"), refused, refused);
}

#[test]
fn a_transform_that_aborts_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_transform_aborts"),
        Outcome::Refused("failed during the transform: the rehearsal process was killed by signal 6 (SIGABRT)"),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_exits_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_transform_exits"),
        Outcome::Refused("failed during the transform: the rehearsal process exited with status 3"),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_segfaults_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_transform_segfaults"),
        Outcome::Refused("failed during the transform: the rehearsal process was killed by signal 11 (SIGSEGV)"),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_overflows_its_stack_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_transform_overflows_its_stack"),
        Outcome::Refused("killed by signal 6 (SIGABRT); its last words: `fatal runtime error: stack overflow"),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_exhausts_memory_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_transform_exhausts_memory"),
        Outcome::Refused("failed during the transform: the rehearsal process was killed by signal 6 (SIGABRT)"),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_hoards_memory_is_stopped_by_the_rehearsals_memory_limit() {
    // 2 GiB, which this machine can give the host, but more than the rehearsal's allowance. Touching
    // every page of it takes a while on a busy machine: the transform gets 60 s.
    check_with_arguments(
        Faulty::Fixture("fault_transform_hoards_memory"),
        &["--hook-timeout-ms", "60000"],
        Outcome::Refused("killed by signal 6 (SIGABRT); its last words: `memory allocation of 67108864 bytes failed`"),
        Outcome::Updated,
    );
}

#[test]
fn a_library_whose_initialiser_aborts_is_refused_with_rehearsal_and_takes_the_host_down_without() {
    check(
        Faulty::Fixture("fault_initialiser_aborts"),
        Outcome::Refused(
            "failed while opening the library (its initialisers run there): the rehearsal process was killed by signal 6 (SIGABRT)",
        ),
        Outcome::HostDies,
    );
}

#[test]
fn a_transform_that_hangs_is_abandoned_at_its_deadline_and_refused() {
    check(
        Faulty::Fixture("transform_hangs"),
        Outcome::Refused("failed during the transform: the rehearsal process did not report within 5s and was killed"),
        Outcome::Refused("did not finish `transform` within"),
    );
}

#[test]
fn a_version_whose_health_check_fails_after_the_swap_is_rolled_back_with_its_state() {
    let rolled_back = Outcome::RolledBack { provoke: None };
    check(Faulty::Fixture("health_fails"), rolled_back, rolled_back);
}

#[test]
fn a_version_whose_calls_panic_after_the_swap_is_rolled_back_with_its_state() {
    let rolled_back = Outcome::RolledBack { provoke: Some("inc panic 1") };
    check(Faulty::Fixture("call_panics"), rolled_back, rolled_back);
}

#[test]
fn a_version_whose_prepare_never_quiesces_keeps_serving_when_the_next_update_gives_up() {
    // Its `prepare` takes 800 ms, longer than this server's hooks may.
    let refused = Outcome::NextUpdateRefused("did not finish `prepare` within 500ms");
    check_with_arguments(Faulty::Fixture("prepare_hangs"), &["--hook-timeout-ms", "500"], refused, refused);
}
