//! The lifecycle's soundness, one test per finding of the audit: calls from thread-local
//! destructors, a memory barrier that stops working after the first load, `prepare` missing its
//! deadline, no call admitted before the new version's `resume`, the bounded log of releases.
//!
//! (Calls that outlive their version, or nest out of order, do not compile: see the
//! `compile_fail` examples of `Module::call`.)
//!
//! Tests whose failure would kill or poison the whole test process (an abort in a thread-local
//! destructor, a seccomp filter) run their scenario in a child process: the test binary again, with
//! only that test selected.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use counter_interface::Counter;
use ecdysis_host::{ControlSocket, Host, Module, UpdateError, UpdateOptions};

use super::{defective, loaded_with_state, observe, sample};

/// Set in the child process a test runs its scenario in.
const CHILD: &str = "ECDYSIS_TEST_SCENARIO";

/// The test `name` (its path in this binary) runs its scenario in a child process: returns `true`
/// in the child, where the caller runs the scenario; in the parent, runs the child, checks that it
/// succeeded and returns `false`.
pub(super) fn scenario_in_child_process(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the scenario of `{name}` failed in its child process ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("1 passed"), "the child process did not run `{name}`:\n{stdout}\n{stderr}");
    print!("{stdout}");
    false
}

/// A value whose destructor calls a module, kept in a thread-local.
struct CallsWhenDropped {
    counter: Module<dyn Counter>,
    result: mpsc::Sender<Result<i64, ecdysis_host::CallError>>,
}

impl Drop for CallsWhenDropped {
    fn drop(&mut self) {
        let result = self.counter.call(|counter| counter.increment("from-a-thread-local-destructor", 1));
        let _ = self.result.send(result);
    }
}

thread_local! {
    static CALLS_WHEN_DROPPED: std::cell::RefCell<Option<CallsWhenDropped>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn a_call_from_a_thread_local_destructor_is_served() {
    if !scenario_in_child_process("soundness::a_call_from_a_thread_local_destructor_is_served") {
        return;
    }
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    let (result, results) = mpsc::channel();
    let for_the_thread = counter.clone();
    std::thread::spawn(move || {
        // This thread-local is set first, so its destructor runs after the one of the host's
        // per-thread slot, which the first call below sets up.
        CALLS_WHEN_DROPPED.with(|slot| *slot.borrow_mut() = Some(CallsWhenDropped { counter: for_the_thread.clone(), result }));
        for_the_thread.call(|counter| counter.increment("from-the-thread", 1)).unwrap();
    })
    .join()
    .expect("the thread exits normally");
    assert_eq!(results.recv_timeout(Duration::from_secs(5)).expect("the destructor ran").expect("the call succeeded"), 1);
    assert_eq!(counter.call(|counter| counter.value("from-a-thread-local-destructor")).unwrap(), Some(1));
    // Such a call leaves no mark behind: updates still quiesce.
    host.update("counter", sample("counter-v2")).unwrap();
}

/// Makes every later `membarrier` system call of this process fail with `EPERM`, as a sandbox
/// installed after initialisation would. Returns why it could not, if it could not.
// A test fixture that installs a seccomp filter, which no safe API of the workspace's dependencies
// offers (and the host must not carry one).
#[allow(unsafe_code)]
fn forbid_membarrier() -> Result<(), String> {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, EPERM, PR_SET_NO_NEW_PRIVS, SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_RET_ALLOW,
        SECCOMP_RET_ERRNO, SECCOMP_SET_MODE_FILTER, SYS_membarrier, SYS_seccomp, sock_filter, sock_fprog,
    };
    let statement = |code: u32, jt: u8, jf: u8, k: u32| sock_filter { code: code as u16, jt, jf, k };
    // Load the system call number; if it is membarrier, fail with EPERM; otherwise allow.
    let mut filter = [
        statement(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
        statement(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, SYS_membarrier as u32),
        statement(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | EPERM as u32),
        statement(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW),
    ];
    let program = sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes integers only.
    if unsafe { libc::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("prctl(PR_SET_NO_NEW_PRIVS) failed: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: seccomp reads the program above, which lives across the call.
    if unsafe { libc::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &raw const program) } != 0 {
        return Err(format!("seccomp(SECCOMP_SET_MODE_FILTER) failed: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Whether this kernel offers expedited private membarriers (what the host uses when it can).
fn kernel_offers_membarrier() -> bool {
    rustix::thread::membarrier_query().contains(rustix::thread::MembarrierQuery::PRIVATE_EXPEDITED)
}

/// Sends one control request and returns the reply line.
fn control_request(socket: &std::path::Path, request: &str) -> String {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    writeln!(stream, "{request}").unwrap();
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).unwrap();
    reply
}

#[test]
fn a_memory_barrier_that_fails_after_the_first_load_refuses_the_update_and_the_module_keeps_serving() {
    if !scenario_in_child_process(
        "soundness::a_memory_barrier_that_fails_after_the_first_load_refuses_the_update_and_the_module_keeps_serving",
    ) {
        return;
    }
    if !kernel_offers_membarrier() {
        println!("skipped: this kernel does not offer MEMBARRIER_CMD_PRIVATE_EXPEDITED, so the host never uses it");
        return;
    }
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("control.sock");
    let host = Host::builder().control_socket(ControlSocket::At(socket.clone())).build().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    if let Err(reason) = forbid_membarrier() {
        println!("skipped: {reason}");
        return;
    }
    // A caller keeps calling throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (counter, stop) = (counter.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut calls = 0;
            while !stop.load(Ordering::Relaxed) {
                counter.call(|counter| counter.increment("caller", 1)).unwrap();
                calls += 1;
            }
            calls
        })
    };
    for _ in 0..3 {
        let error = host.update("counter", sample("counter-v2")).unwrap_err();
        assert!(matches!(error, UpdateError::AdmissionFence { .. }), "{error:?}");
        assert!(error.to_string().contains("membarrier"), "the refusal names the system call: {error}");
    }
    // The control socket answers every such request, more than its connection limit of 16.
    let library = sample("counter-v2");
    for attempt in 0..20 {
        let reply = control_request(
            &socket,
            &format!(r#"{{"protocol": 1, "command": "reload", "library": {}}}"#, serde_json::to_string(&library).unwrap()),
        );
        assert!(reply.contains(r#""reply":"error""#) && reply.contains("membarrier"), "reply {attempt}: {reply}");
    }
    stop.store(true, Ordering::Relaxed);
    let calls = caller.join().unwrap();
    assert!(calls > 0);
    assert_eq!(host.status()[0].version.to_string(), "1.0.0", "the running version is untouched");
    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3));
    assert_eq!(counter.call(|counter| counter.value("caller")).unwrap(), Some(calls));
}

#[test]
fn a_running_version_whose_prepare_misses_its_deadline_is_resumed_when_it_returns() {
    let host = Host::builder().hook_timeout(Duration::from_millis(200)).build().unwrap();
    let counter = host.load::<dyn Counter>(defective("prepare_hangs")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    let error = host.update_with("counter", sample("counter-v2"), &UpdateOptions::new().allow_downgrade(true)).unwrap_err();
    assert!(matches!(error, UpdateError::HookTimeout { hook: "prepare", .. }), "{error:?}");
    // `prepare` returns 800 ms after it started; then the running version is resumed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.call(|counter| counter.value(RESUMED_KEY)).unwrap() != Some(1) {
        assert!(Instant::now() < deadline, "the running version was never resumed after its late prepare");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3));
    assert_eq!(host.status()[0].version.to_string(), "3.0.0");
}

/// The key under which the defective plugins report how many times they were resumed
/// (`ecdysis_test_plugins::RESUMED_KEY`; the test plugins are libraries this binary does not link).
const RESUMED_KEY: &str = "__resumed";

#[test]
fn no_call_reaches_a_new_version_before_its_resume_has_returned() {
    let (host, counter) = loaded_with_state(sample("counter-v2"));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (counter, stop) = (counter.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // `counter-v2` knows no such key (None); the new version counts its resumes.
                let resumed = counter.call(|counter| counter.value(RESUMED_KEY)).unwrap();
                if seen.last() != Some(&resumed) {
                    seen.push(resumed);
                }
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    host.update("counter", defective("resume_slow")).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let seen = watcher.join().unwrap();
    assert_eq!(seen, [None, Some(1)], "calls saw the old version, then the new one only once it was resumed");
}

#[test]
fn the_log_of_released_libraries_keeps_only_the_most_recent() {
    let (host, counter) = loaded_with_state(sample("counter-v1"));
    let before = observe(&counter);
    let downgrade = UpdateOptions::new().allow_downgrade(true);
    let cycles = ecdysis_host::RELEASE_LOG_CAPACITY + 10;
    for cycle in 0..cycles {
        let library = if cycle.is_multiple_of(2) { "counter-v2" } else { "counter-v1" };
        host.update_with("counter", sample(library), &downgrade).unwrap();
        host.commit("counter").unwrap();
    }
    let released = host.released_libraries();
    assert_eq!(released.len(), ecdysis_host::RELEASE_LOG_CAPACITY, "the log is bounded");
    assert!(released.iter().all(|release| !release.still_mapped), "every released library left the address space");
    // The most recent release is the last one: the version the last update replaced.
    let last = released.last().unwrap();
    assert_eq!(last.version.to_string(), if cycles.is_multiple_of(2) { "2.0.0" } else { "1.0.0" });
    assert_eq!(observe(&counter).values, before.values);
}
