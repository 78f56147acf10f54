//! Rehearsals in a child process, beyond the fault matrix: calls keep being served while a
//! candidate is rehearsed, a program that cannot rehearse says so, and neither rehearsals nor a
//! killed host leave files behind.

use std::ffi::OsStr;
use std::time::Instant;

use ecdysis_host::{Phase, RehearsalStatus};

use super::cli::{CounterServer, run_ecdysis};
use super::*;

/// The process ids of the rehearsal processes `parent` has started, found by the name they show.
fn rehearsal_processes_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The parent's id is the second field after the command name, which ends with `) `.
            let parent_of_pid = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            parent_of_pid == Some(parent) && String::from_utf8_lossy(&command_line).contains("(ecdysis rehearsal)")
        })
        .collect()
}

#[test]
fn calls_are_served_while_a_candidate_is_rehearsed_and_the_running_version_is_never_paused() {
    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    let socket = server.socket.clone();
    let library = defective("transform_hangs");
    // The candidate's transform hangs in the rehearsal until the deadline (5 s) kills the child.
    let reload = std::thread::spawn(move || {
        run_ecdysis(&[OsStr::new("--socket"), socket.as_os_str(), OsStr::new("reload"), OsStr::new("counter"), library.as_os_str()], |_| {})
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let rehearsal = loop {
        if let Some(&pid) = rehearsal_processes_of(server.child.id()).first() {
            break pid;
        }
        assert!(!reload.is_finished() && Instant::now() < deadline, "no rehearsal process was seen");
        std::thread::sleep(Duration::from_millis(5));
    };
    for expected in 4..=13 {
        assert_eq!(server.ask("inc apples 1"), format!("apples = {expected}"));
    }
    assert!(
        std::path::Path::new(&format!("/proc/{rehearsal}")).exists() && !reload.is_finished(),
        "ten calls were answered while the rehearsal still ran"
    );
    let run = reload.join().unwrap();
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert!(run.stderr.contains("did not report within 5s and was killed"), "{}", run.stderr);
    server.assert_serving("1.0.0", 13);
    assert!(rehearsal_processes_of(server.child.id()).is_empty(), "the rehearsal process was reaped");
}

#[test]
fn a_program_that_does_not_call_serve_if_asked_cannot_rehearse_and_says_so() {
    // This test program's `main` is the test harness's, which does not call it.
    let host = Host::new().unwrap();
    match host.rehearsal_status() {
        RehearsalStatus::Unavailable { reason } => assert!(reason.contains("serve_if_asked"), "{reason}"),
        other => panic!("expected rehearsals to be unavailable, found {other:?}"),
    }
    let _counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let status = host.status();
    assert!(matches!(&status[0].rehearsal, Some(RehearsalStatus::Unavailable { .. })), "{status:?}");
    // Updates go ahead without: no rehearse phase, the round trip checked in the pause.
    let report = host.update("counter", sample("counter-v2")).unwrap();
    assert_eq!(report.rehearsal, None);
    assert!(report.validated && report.phase(Phase::Rehearse).is_none(), "{report:?}");

    let host = Host::builder().rehearse(false).build().unwrap();
    assert_eq!(host.rehearsal_status(), RehearsalStatus::Off);
}

#[test]
fn a_library_that_names_its_own_module_is_opened_in_the_rehearsal_process_first_and_rollbacks_are_rehearsed() {
    use ecdysis_host::control::Client;
    use ecdysis_host::protocol::{Command, Reply};

    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    let mut client = Client::connect(&server.socket, Duration::from_secs(60)).unwrap();
    let reload = |library: PathBuf| Command::Reload { module: None, library, allow_downgrade: false, force: false, lazy: false };

    // The host learns the module from the descriptor, read in the child: the initialiser that
    // aborts never runs here.
    match client.request(reload(defective("fault_initialiser_aborts"))).unwrap() {
        Reply::Error { message, .. } => {
            assert!(message.contains("failed while opening the library (its initialisers run there)"), "{message}");
            assert!(message.contains("killed by signal 6 (SIGABRT)"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    server.assert_serving("1.0.0", 3);

    // A library the child refuses as the host's loader would is refused with the loader's reason.
    match client.request(reload(defective("abi_mismatch"))).unwrap() {
        Reply::Error { message, .. } => assert!(message.contains("ABI version"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    match client.request(reload(sample("counter-v2"))).unwrap() {
        Reply::Report { report } => {
            assert_eq!(report.to_version.to_string(), "2.0.0");
            assert!(report.rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked), "{report:?}");
        }
        other => panic!("expected a report, got {other:?}"),
    }
    server.assert_serving("2.0.0", 3);

    // A rollback is rehearsed too: v2's migration down to v1's schema is the code of the version
    // being left.
    match client.request(Command::Rollback { module: "counter".into(), force: false }).unwrap() {
        Reply::Report { report } => {
            assert_eq!(report.to_version.to_string(), "1.0.0");
            assert!(report.rehearsal.is_some_and(|rehearsal| rehearsal.round_trip_checked), "{report:?}");
            assert!(report.phase(Phase::Rehearse).is_some() && report.phase(Phase::Validate).is_none(), "{report:?}");
        }
        other => panic!("expected a report, got {other:?}"),
    }
    server.assert_serving("1.0.0", 3);
}

#[test]
fn rehearsals_leave_no_file_descriptor_temporary_file_or_mapping_behind() {
    use ecdysis_host::control::Client;
    use ecdysis_host::protocol::{Command, Reply};

    let mut server = CounterServer::start();
    assert_eq!(server.ask("inc apples 3"), "apples = 3");
    let pid = server.child.id();
    let libraries = library_directory_of(pid);
    let descriptors_before = open_file_descriptors(pid);
    let reload =
        |library: PathBuf| Command::Reload { module: Some("counter".into()), library, allow_downgrade: false, force: false, lazy: false };
    for cycle in 0..20 {
        let mut client = Client::connect(&server.socket, Duration::from_secs(60)).unwrap();
        assert!(matches!(client.request(reload(sample("counter-v2"))).unwrap(), Reply::Report { .. }), "cycle {cycle}: update");
        assert!(
            matches!(client.request(Command::Rollback { module: "counter".into(), force: false }).unwrap(), Reply::Report { .. }),
            "cycle {cycle}: rollback"
        );
        if cycle % 5 == 0 {
            // A rehearsal process that dies leaves nothing behind either.
            assert!(matches!(client.request(reload(defective("fault_transform_segfaults"))).unwrap(), Reply::Error { .. }));
        }
    }
    server.assert_serving("1.0.0", 3);

    let entries: Vec<String> =
        std::fs::read_dir(&libraries).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(entries.iter().all(|name| !name.starts_with("rehearsal-")), "a rehearsal's scratch directory was left: {entries:?}");
    assert!(entries.len() <= 2, "at most the running version's and the previous version's copies: {entries:?}");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mapped: Vec<&str> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .filter(|path| path.starts_with(libraries.to_str().unwrap()))
        .collect();
    mapped.sort_unstable();
    mapped.dedup();
    assert!(mapped.len() <= 2, "at most two plugin libraries mapped: {mapped:?}");
    // Control connections close on the host's side a moment after the client's.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_file_descriptors(pid) > descriptors_before {
        assert!(Instant::now() < deadline, "{} descriptors open, {descriptors_before} before", open_file_descriptors(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_library_copies_of_a_killed_host_are_removed_by_the_next_host() {
    let mut killed = CounterServer::start();
    let killed_pid = killed.child.id();
    let left_behind = library_directory_of(killed_pid);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(left_behind.exists(), "a host killed with SIGKILL cannot clean up after itself");

    let next = CounterServer::start();
    // Another process may have been given the same id meanwhile; its directory is then left alone.
    if !std::path::Path::new(&format!("/proc/{killed_pid}")).exists() {
        assert!(!left_behind.exists(), "the next host removed {}", left_behind.display());
    }
    assert!(library_directory_of(next.child.id()).exists());
}
