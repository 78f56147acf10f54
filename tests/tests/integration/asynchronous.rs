//! The asynchronous call path (`Module::call_async`) and the asynchronous twins of the transactions
//! on tokio's current-thread and multi-thread runtimes: while an update holds a module paused, the
//! runtime goes on, and the calls made meanwhile complete after the pause, each once.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ecdysis_host::{UpdateError, UpdateOptions};

use super::*;

/// The key under which the defective plugins report how many times they were resumed
/// (`ecdysis_test_plugins::RESUMED_KEY`): `Some(_)` on the `prepare_sleeps` fixture, `None` on
/// `counter-v2`, which stores no such key. So a call that reads it knows which version it reached.
const RESUMED_KEY: &str = "__resumed";

/// The bound of every wait in these tests: generous, never reached when things work.
const PATIENCE: Duration = Duration::from_secs(20);

/// A host whose deadlines leave room for `prepare_sleeps`' one-second `prepare` on a busy machine.
fn patient_host() -> Host {
    Host::builder().quiesce_timeout(Duration::from_secs(10)).hook_timeout(Duration::from_secs(10)).build().unwrap()
}

/// Whether `counter` is paused now: a call polled once waits instead of completing (it reads a
/// value, so it changes nothing when it completes; dropped, it withdraws).
fn paused(counter: &Module<dyn Counter>) -> bool {
    let call = pin!(counter.call_async(|counter| counter.value("probe")));
    call.poll(&mut Context::from_waker(Waker::noop())).is_pending()
}

/// The flavours of tokio runtime the asynchronous path must work on.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    /// One thread for every task, as under `#[tokio::test]`.
    CurrentThread,
    /// Two workers, as on the two-core server.
    MultiThread,
}

fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
    };
    builder.enable_time().build().unwrap()
}

/// How many increments are issued while the module is paused.
const CALLS_DURING_THE_PAUSE: i64 = 200;
/// How many increments are made before the update.
const CALLS_BEFORE: i64 = 5;

/// While an update holds the module paused for a second (`prepare_sleeps`): an unrelated task on
/// the same runtime keeps running, and increments issued during the pause all complete after it,
/// each exactly once, on the new version.
fn check(flavor: Flavor) {
    let host = patient_host();
    runtime(flavor).block_on(async {
        let counter = host.load_async::<dyn Counter>(defective("prepare_sleeps")).await.unwrap();
        for _ in 0..CALLS_BEFORE {
            counter.call_async(|counter| counter.increment("hits", 1)).await.unwrap();
        }
        assert_eq!(counter.call_async(|counter| counter.value(RESUMED_KEY)).await.unwrap(), Some(1), "{flavor:?}: the fixture runs");

        // `counter-v2` (2.0.0) is older than the fixture (3.0.0).
        let update = tokio::spawn(host.update_with_async("counter", sample("counter-v2"), &UpdateOptions::new().allow_downgrade(true)));
        let started = Instant::now();
        while !paused(&counter) {
            assert!(started.elapsed() < PATIENCE, "{flavor:?}: the update never paused the module");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }

        // The module is paused, and stays so until the swap: nothing issued from now on can
        // complete before it.
        let completed = Arc::new(AtomicUsize::new(0));
        let unrelated = tokio::spawn({
            let (counter, completed) = (counter.clone(), Arc::clone(&completed));
            async move {
                let mut iterations_while_paused = 0;
                let started = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let completed_so_far = completed.load(Ordering::SeqCst);
                    if !paused(&counter) {
                        return iterations_while_paused;
                    }
                    assert_eq!(completed_so_far, 0, "a call completed while the module was paused");
                    iterations_while_paused += 1;
                    assert!(started.elapsed() < PATIENCE, "the pause never ended");
                }
            }
        });
        let calls: Vec<_> = (0..CALLS_DURING_THE_PAUSE)
            .map(|_| {
                let (counter, completed) = (counter.clone(), Arc::clone(&completed));
                tokio::spawn(async move {
                    let seen =
                        counter.call_async(|counter| (counter.increment("hits", 1).unwrap(), counter.value(RESUMED_KEY).unwrap())).await;
                    completed.fetch_add(1, Ordering::SeqCst);
                    seen
                })
            })
            .collect();

        let iterations_while_paused = unrelated.await.unwrap();
        assert!(
            iterations_while_paused >= 20,
            "{flavor:?}: the unrelated task ran only {iterations_while_paused} iterations while the module was paused"
        );
        let report = update.await.unwrap().unwrap();
        assert_eq!(report.to_version.to_string(), "2.0.0");
        let mut values = Vec::new();
        for call in calls {
            let (value, resumed) = call.await.unwrap();
            assert_eq!(resumed, None, "{flavor:?}: a call issued during the pause reached the version it replaced");
            values.push(value);
        }
        values.sort_unstable();
        let expected: Vec<i64> = (CALLS_BEFORE + 1..=CALLS_BEFORE + CALLS_DURING_THE_PAUSE).collect();
        assert_eq!(values, expected, "{flavor:?}: every increment ran once, each with a value of its own");
        let total = counter.call_async(|counter| counter.value("hits")).await.unwrap();
        assert_eq!(total, Some(CALLS_BEFORE + CALLS_DURING_THE_PAUSE), "{flavor:?}: none lost, none run twice");
    });
}

#[test]
fn a_pause_stalls_neither_a_current_thread_runtime_nor_the_calls_made_during_it() {
    check(Flavor::CurrentThread);
}

#[test]
fn a_pause_stalls_neither_a_multi_thread_runtime_nor_the_calls_made_during_it() {
    check(Flavor::MultiThread);
}

#[test]
fn a_call_dropped_while_it_waits_harms_neither_the_other_calls_nor_the_next_update() {
    let host = patient_host();
    runtime(Flavor::CurrentThread).block_on(async {
        let counter = host.load_async::<dyn Counter>(defective("prepare_sleeps")).await.unwrap();
        let downgrade = UpdateOptions::new().allow_downgrade(true);
        let update = tokio::spawn(host.update_with_async("counter", sample("counter-v2"), &downgrade));
        let started = Instant::now();
        while !paused(&counter) {
            assert!(started.elapsed() < PATIENCE, "the update never paused the module");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // One call waits for the whole pause; around it, others give up waiting and are dropped.
        let waiting = tokio::spawn({
            let counter = counter.clone();
            async move { counter.call_async(|counter| counter.increment("kept", 1)).await.unwrap() }
        });
        for _ in 0..10 {
            let given_up =
                tokio::time::timeout(Duration::from_millis(10), counter.call_async(|counter| counter.increment("dropped", 1))).await;
            assert!(given_up.is_err(), "a call completed while the module was paused");
        }
        update.await.unwrap().unwrap();
        assert_eq!(tokio::time::timeout(PATIENCE, waiting).await.expect("the waiting call was never woken").unwrap(), 1);
        assert_eq!(counter.call_async(|counter| counter.value("dropped")).await.unwrap(), None, "a dropped call was never made");

        // The next update, and calls that wait for it, work as before.
        let waiting = tokio::spawn({
            let counter = counter.clone();
            async move { counter.call_async(|counter| counter.increment("kept", 1)).await.unwrap() }
        });
        host.rollback_async("counter").await.unwrap();
        assert_eq!(waiting.await.unwrap(), 2);
        assert_eq!(counter.call_async(|counter| counter.value("kept")).await.unwrap(), Some(2));
        assert_eq!(host.status()[0].version.to_string(), "3.0.0", "the rollback went through");
    });
}

#[test]
fn a_call_async_inside_a_call_of_the_same_module_does_not_wait_for_an_update() {
    let host = patient_host();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let nested = counter.call(|outer| {
        outer.increment("outer", 1).unwrap();
        // An update starts while this call is in flight: it closes admission, then waits for this
        // call to end.
        let update = std::thread::spawn({
            let host = host.clone();
            move || host.update("counter", sample("counter-v2")).expect("the update goes through once the outer call ends")
        });
        let started = Instant::now();
        loop {
            // Probed from another thread: on this one, the probe would be nested too.
            let probe = counter.clone();
            if std::thread::spawn(move || paused(&probe)).join().unwrap() {
                break;
            }
            assert!(started.elapsed() < PATIENCE, "the update never closed admission");
            std::thread::sleep(Duration::from_millis(1));
        }
        // Waiting here would deadlock: the update waits for the outer call.
        let nested = pin!(counter.call_async(|counter| counter.increment("nested", 1)));
        let Poll::Ready(value) = nested.poll(&mut Context::from_waker(Waker::noop())) else {
            panic!("a call nested in a call of the same module waited for the update");
        };
        (value.unwrap(), update)
    });
    let (value, update) = nested;
    assert_eq!(value, 1);
    let report = update.join().unwrap();
    assert_eq!(report.to_version.to_string(), "2.0.0");
    assert_eq!(counter.call(|counter| (counter.value("outer"), counter.value("nested"))), (Ok(Some(1)), Ok(Some(1))));
}

#[tokio::test]
async fn the_transactions_can_be_awaited_on_a_current_thread_runtime() {
    let host = patient_host();
    let counter = host.load_async::<dyn Counter>(sample("counter-v1")).await.unwrap();
    assert_eq!(counter.call_async(|counter| counter.increment("apples", 3)).await.unwrap(), 3);

    let report = host.update_async("counter", sample("counter-v2")).await.unwrap();
    assert_eq!((report.from_version.to_string(), report.to_version.to_string()), ("1.0.0".into(), "2.0.0".into()));
    assert_eq!(counter.call_async(|counter| counter.increment("apples", 1)).await.unwrap(), 4);

    let report = host.rollback_async("counter").await.unwrap();
    assert_eq!(report.to_version.to_string(), "1.0.0");
    assert_eq!(counter.call_async(|counter| counter.value("apples")).await.unwrap(), Some(4));
    assert_eq!(host.commit_async("counter").await.unwrap(), None, "a rollback released the version it left");

    host.update_async("counter", sample("counter-v2")).await.unwrap();
    assert_eq!(host.commit_async("counter").await.unwrap().map(|version| version.to_string()), Some("1.0.0".into()));
    let refused = host.update_async("counter", sample("counter-v1")).await.unwrap_err();
    assert!(matches!(refused, UpdateError::Downgrade { .. }), "{refused:?}");
    let refused = host.rollback_with_async("counter", &UpdateOptions::new()).await.unwrap_err();
    assert!(matches!(refused, UpdateError::NothingToRollBack { .. }), "{refused:?}");
    let refused = host.commit_async("no-such-module").await.unwrap_err();
    assert!(matches!(refused, UpdateError::NoSuchModule { .. }), "{refused:?}");
    let refused = host.load_async::<dyn Counter>(sample("counter-v1")).await.unwrap_err();
    assert!(matches!(refused, ecdysis_host::LoadError::AlreadyLoaded { .. }), "{refused:?}");
    assert_eq!(counter.call_async(|counter| counter.value("apples")).await.unwrap(), Some(4));
}

/// A value whose destructor polls an asynchronous call once, kept in a thread-local.
struct PollsWhenDropped {
    counter: Module<dyn Counter>,
    result: std::sync::mpsc::Sender<Poll<Result<i64, ecdysis_host::CallError>>>,
}

impl Drop for PollsWhenDropped {
    fn drop(&mut self) {
        let call = pin!(self.counter.call_async(|counter| counter.increment("from-a-thread-local-destructor", 1)));
        let _ = self.result.send(call.poll(&mut Context::from_waker(Waker::noop())));
    }
}

thread_local! {
    static POLLS_WHEN_DROPPED: std::cell::RefCell<Option<PollsWhenDropped>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn a_call_async_from_a_thread_local_destructor_is_served() {
    if !soundness::scenario_in_child_process("asynchronous::a_call_async_from_a_thread_local_destructor_is_served") {
        return;
    }
    let host = patient_host();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    let (result, results) = std::sync::mpsc::channel();
    let for_the_thread = counter.clone();
    std::thread::spawn(move || {
        // This thread-local is set first, so its destructor runs after the one of the host's
        // per-thread slot, which the first call below sets up.
        POLLS_WHEN_DROPPED.with(|slot| *slot.borrow_mut() = Some(PollsWhenDropped { counter: for_the_thread.clone(), result }));
        for_the_thread.call(|counter| counter.increment("from-the-thread", 1)).unwrap();
    })
    .join()
    .expect("the thread exits normally");
    let polled = results.recv_timeout(PATIENCE).expect("the destructor ran");
    assert!(matches!(polled, Poll::Ready(Ok(1))), "{polled:?}");
    assert_eq!(counter.call(|counter| counter.value("from-a-thread-local-destructor")).unwrap(), Some(1));
}
