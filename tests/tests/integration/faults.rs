//! The fault matrix: a real `counter-server` process (one per case, so a fault that takes a host
//! down is observed, not suffered by the test runner) is asked to update to a faulty version, and
//! what becomes of it is checked against what ecdysis promises today.
//!
//! Every fault the Rust code can report (an error, a panic, a hang past the deadline, a lossy
//! transform, a library cut short) ends as a refused update with the running version serving its
//! state. A fault that kills the process itself (a segfault, `abort`, `exit`, a stack overflow, an
//! allocation that fails, an initialiser that aborts) still takes the host down: surviving those
//! needs the transform rehearsed in a child process, which is not built yet. The README's
//! "Guarantees" section says the same, from this table.

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
}

/// A faulty candidate: a defective test plugin, or a sample library cut short.
enum Faulty {
    Fixture(&'static str),
    CutShort(&'static str),
}

/// Runs one case in its own `counter-server` and checks its outcome.
#[track_caller]
fn check(faulty: Faulty, expected: Outcome) {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    let scratch = tempfile::tempdir().unwrap();
    let library: PathBuf = match faulty {
        Faulty::Fixture(name) => defective(name),
        Faulty::CutShort(name) => cut_short(name, 32, scratch.path(), "libcut_short.so"),
    };
    let run = run_ecdysis(
        &[OsStr::new("--socket"), server.socket.as_os_str(), OsStr::new("reload"), OsStr::new("counter"), library.as_os_str()],
        |_| {},
    );
    match expected {
        Outcome::Refused(reason) => {
            assert_eq!(run.exit_code, Some(1), "the update is refused: {run:?}");
            assert!(run.stderr.contains(reason), "`{}` should contain `{reason}`", run.stderr);
            server.assert_serving("1.0.0", 3);
        }
        Outcome::HostDies => {
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "the host was expected to die, and it still runs: {run:?}");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(!status.success(), "the host died: {status}");
            assert_ne!(run.exit_code, Some(0), "the tool does not report success: {run:?}");
        }
    }
}

#[test]
fn a_transform_that_returns_an_error_is_refused() {
    check(Faulty::Fixture("transform_fails"), Outcome::Refused("could not take over the state"));
}

#[test]
fn a_transform_that_panics_is_refused() {
    check(Faulty::Fixture("transform_panics"), Outcome::Refused("plugin panicked"));
}

#[test]
fn a_transform_that_loses_data_is_refused() {
    check(Faulty::Fixture("validation_fails"), Outcome::Refused("validation failed"));
}

#[test]
fn a_library_cut_short_is_refused() {
    check(Faulty::CutShort("counter-v2"), Outcome::Refused("cut short"));
}

#[test]
fn a_transform_that_aborts_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_transform_aborts"), Outcome::HostDies);
}

#[test]
fn a_transform_that_exits_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_transform_exits"), Outcome::HostDies);
}

#[test]
fn a_transform_that_segfaults_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_transform_segfaults"), Outcome::HostDies);
}

#[test]
fn a_transform_that_overflows_its_stack_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_transform_overflows_its_stack"), Outcome::HostDies);
}

#[test]
fn a_transform_that_exhausts_memory_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_transform_exhausts_memory"), Outcome::HostDies);
}

#[test]
fn a_library_whose_initialiser_aborts_still_takes_the_host_down() {
    check(Faulty::Fixture("fault_initialiser_aborts"), Outcome::HostDies);
}

#[test]
fn a_transform_that_hangs_is_abandoned_at_its_deadline_and_refused() {
    check(Faulty::Fixture("transform_hangs"), Outcome::Refused("did not finish `transform` within"));
}
