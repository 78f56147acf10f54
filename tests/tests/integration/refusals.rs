//! Every refused or aborted update: each fails with an error that names the problem, and the running
//! version keeps serving with its state unchanged.

use std::path::{Path, PathBuf};

use ecdysis_host::{CallError, ErrorChain, LoadError, UpdateError, UpdateOptions};

use super::*;

/// What to offer as the new version.
enum Candidate {
    Sample(&'static str),
    Defective(&'static str),
    Missing,
    Directory,
    EmptyFile,
    TextFile,
    /// A sample library cut short, as a copy or a build caught half-written is.
    CutShort(&'static str),
    /// A sample library whose ELF header says it is for another machine.
    ForeignMachine(&'static str),
}

impl Candidate {
    fn materialise(&self, scratch: &Path) -> PathBuf {
        match self {
            Candidate::Sample(name) => sample(name),
            Candidate::Defective(name) => defective(name),
            Candidate::Missing => scratch.join("libnothing_here.so"),
            Candidate::Directory => scratch.to_owned(),
            Candidate::EmptyFile => {
                let path = scratch.join("libempty.so");
                std::fs::write(&path, b"").unwrap();
                path
            }
            Candidate::TextFile => {
                let path = scratch.join("libtext.so");
                std::fs::write(&path, b"this is not a shared library\n").unwrap();
                path
            }
            Candidate::CutShort(name) => cut_short(name, 3, scratch, "libcut_short.so"),
            Candidate::ForeignMachine(name) => {
                let mut bytes = std::fs::read(sample(name)).unwrap();
                // e_machine, at byte 18 of the ELF header: 183 is AArch64, 62 is x86-64.
                let foreign: u16 = if cfg!(target_arch = "aarch64") { 62 } else { 183 };
                bytes[18..20].copy_from_slice(&foreign.to_le_bytes());
                let path = scratch.join("libforeign.so");
                std::fs::write(&path, bytes).unwrap();
                path
            }
        }
    }
}

/// Offers `candidate` to a host running `running` (with state), expects the update to fail with an
/// error for which `is_expected` holds and whose rendered chain contains `message` (with no cause
/// repeated), then checks that nothing changed and the module still serves.
#[track_caller]
fn check(running: PathBuf, candidate: Candidate, options: UpdateOptions, is_expected: fn(&UpdateError) -> bool, message: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let candidate = candidate.materialise(scratch.path());
    let (host, counter) = loaded_with_state(running);
    let before = observe(&counter);
    let status_before = host.status();

    let error = host.update_with("counter", &candidate, &options).unwrap_err();

    assert!(is_expected(&error), "unexpected error: {error:?}");
    let text = ErrorChain(&error).to_string();
    assert!(text.contains(message), "the message `{text}` should contain `{message}`");
    assert_causes_not_repeated(&error);
    assert_eq!(observe(&counter), before, "the state is unchanged");
    let status_after = host.status();
    assert_eq!(status_after[0].version, status_before[0].version, "the same version runs");
    assert_eq!((status_after[0].updates, &status_after[0].previous_version), (0, &None));
    assert_eq!(counter.call(|counter| counter.increment("apples", 1)).unwrap(), 4, "the module still serves");
}

fn v1() -> PathBuf {
    sample("counter-v1")
}

#[test]
fn a_path_that_does_not_exist_is_refused() {
    check(
        v1(),
        Candidate::Missing,
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotFound { .. })),
        "libnothing_here.so` does not exist",
    );
}

#[test]
fn a_directory_is_refused() {
    check(
        v1(),
        Candidate::Directory,
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::IsADirectory { .. })),
        "is a directory, not a file",
    );
}

#[test]
fn an_empty_file_is_refused() {
    check(
        v1(),
        Candidate::EmptyFile,
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::EmptyFile { .. })),
        "libempty.so` is an empty file",
    );
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused() {
    check(
        v1(),
        Candidate::TextFile,
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotASharedLibrary { .. })),
        "is not a shared library: it does not start with an ELF header",
    );
}

#[test]
fn a_library_cut_short_is_refused_before_it_is_opened() {
    check(
        v1(),
        Candidate::CutShort("counter-v2"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotLoadable { .. })),
        "libcut_short.so` cannot be loaded: ",
    );
    check(
        v1(),
        Candidate::CutShort("counter-v2"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotLoadable { .. })),
        "cut short",
    );
}

#[test]
fn a_library_for_another_machine_is_refused_before_it_is_opened() {
    check(
        v1(),
        Candidate::ForeignMachine("counter-v2"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotLoadable { .. })),
        if cfg!(target_arch = "aarch64") {
            "it is built for x86-64, but this host runs on AArch64"
        } else {
            "it is built for AArch64, but this host runs on x86-64"
        },
    );
}

#[test]
fn a_shared_library_without_a_descriptor_is_refused() {
    check(
        v1(),
        Candidate::Defective("not_a_plugin"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::NotAPlugin { .. })),
        "is a shared library but not an ecdysis plugin: it exports no `ECDYSIS_PLUGIN_DESCRIPTOR`",
    );
}

#[test]
fn a_plugin_built_for_another_abi_version_is_refused() {
    let expected = format!(
        "was built for plugin ABI version {}, but this host speaks version {}",
        ecdysis_plugin_api::ABI_VERSION + 1,
        ecdysis_plugin_api::ABI_VERSION
    );
    let scratch = tempfile::tempdir().unwrap();
    let _ = scratch;
    check(
        v1(),
        Candidate::Defective("abi_mismatch"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Load(LoadError::AbiMismatch { .. })),
        &expected,
    );
}

#[test]
fn a_plugin_of_another_module_is_refused() {
    check(
        v1(),
        Candidate::Defective("wrong_module"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::WrongModule { .. }),
        "is a plugin for module `gauge`, not for `counter`",
    );
}

#[test]
fn a_plugin_whose_interface_fingerprint_differs_is_refused() {
    check(
        v1(),
        Candidate::Defective("wrong_interface"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::InterfaceMismatch { .. }),
        "implements interface `Counter` (fingerprint",
    );
}

#[test]
fn a_plugin_whose_interface_fingerprint_differs_is_refused_at_first_load_too() {
    let host = host();
    let error = host.load::<dyn Counter>(defective("wrong_interface")).unwrap_err();
    assert!(matches!(error, LoadError::InterfaceMismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("implements interface `Counter`"), "{error}");
    assert!(host.status().is_empty());
}

#[test]
fn an_older_version_without_the_downgrade_flag_is_refused() {
    let (host, counter) = loaded_with_state(v1());
    host.update("counter", sample("counter-v2")).unwrap();
    host.commit("counter").unwrap();
    let before = observe(&counter);
    let error = host.update("counter", sample("counter-v1")).unwrap_err();
    assert!(matches!(error, UpdateError::Downgrade { .. }), "{error:?}");
    assert!(
        error.to_string().contains("is counter 1.0.0, older than the running 2.0.0; allow a downgrade explicitly to go back"),
        "{error}"
    );
    assert_eq!(observe(&counter), before);
    assert_eq!(host.status()[0].version.to_string(), "2.0.0");
}

#[test]
fn a_transform_that_returns_an_error_aborts_the_update() {
    check(
        v1(),
        Candidate::Defective("transform_fails"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Transform { source: CallError::Failed { .. }, .. }),
        "counter 3.0.0 could not take over the state of schema v1: refusing the state on purpose",
    );
}

#[test]
fn a_transform_that_panics_aborts_the_update() {
    check(
        v1(),
        Candidate::Defective("transform_panics"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::Transform { source: CallError::Panicked { .. }, .. }),
        "could not take over the state of schema v1: plugin panicked: transform panicked on purpose",
    );
}

#[test]
fn a_transform_that_never_returns_is_abandoned_at_the_deadline() {
    check(
        v1(),
        Candidate::Defective("transform_hangs"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::HookTimeout { hook: "transform", .. }),
        "counter 3.0.0 did not finish `transform` within 1.5s; the update was abandoned",
    );
}

#[test]
fn a_transform_that_loses_data_fails_validation() {
    check(
        v1(),
        Candidate::Defective("validation_fails"),
        UpdateOptions::new(),
        |e| matches!(e, UpdateError::ValidationMismatch { .. }),
        "validation failed: counter 3.0.0 exported its state back to schema v1 differently than 1.0.0 exported it: at `$.counters.apples`: the running version has 3, the candidate has nothing",
    );
}

#[test]
fn a_running_version_that_refuses_to_prepare_keeps_serving() {
    check(
        defective("prepare_refuses"),
        Candidate::Sample("counter-v2"),
        UpdateOptions::new().allow_downgrade(true),
        |e| matches!(e, UpdateError::PrepareRefused { .. }),
        "counter 3.0.0 refused to prepare for the update: a protocol exchange is half done",
    );
}

#[test]
fn calls_that_do_not_drain_abort_the_update_and_name_the_count() {
    let (host, counter) = loaded_with_state(v1());
    let before = observe(&counter);
    // Another thread stays inside the module for longer than the quiesce deadline.
    let holding = counter.clone();
    let (entered, wait_for_entry) = std::sync::mpsc::channel();
    let (release, wait_for_release) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        holding.call(|counter| {
            entered.send(()).unwrap();
            wait_for_release.recv().unwrap();
            counter.increment("held", 1).unwrap();
        });
    });
    wait_for_entry.recv().unwrap();
    let error = host.update("counter", sample("counter-v2")).unwrap_err();
    assert!(matches!(error, UpdateError::QuiesceTimeout { in_flight: 1, .. }), "{error:?}");
    assert_eq!(error.to_string(), "module `counter` did not quiesce within 300ms: 1 call(s) were still in flight");
    release.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(observe(&counter).values.len(), before.values.len() + 1, "the held call completed on the old version");
    assert_eq!(host.status()[0].version.to_string(), "1.0.0");
    // Once the call is gone, the same update goes through.
    host.update("counter", sample("counter-v2")).unwrap();
}

#[test]
fn an_update_of_a_module_that_is_not_loaded_is_refused() {
    let host = host();
    let error = host.update("counter", sample("counter-v2")).unwrap_err();
    assert_eq!(error.to_string(), "no module named `counter` is loaded");
}
