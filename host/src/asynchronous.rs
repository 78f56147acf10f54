//! The asynchronous twins of the host's transactions ([`Host::load_async`], [`Host::update_async`],
//! [`Host::rollback_async`], [`Host::commit_async`] and their `_with` kin) and their future,
//! [`TransactionFuture`]: each runs its blocking twin on a thread of its own and is awaited through
//! a one-shot channel, so that no runtime thread waits for a transaction. No runtime is assumed.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::Result as ThreadResult;

use ecdysis_plugin_api::Interface;
use ecdysis_protocol::UpdateReport;
use parking_lot::Mutex;

use crate::calling::module::Module;
use crate::error::{LoadError, UpdateError};
use crate::host::Host;
use crate::updating::transaction::UpdateOptions;

/// What the thread of a transaction hands to the task that awaits it: the outcome once there is
/// one, and the waker of the task's latest poll.
struct Handover<T> {
    outcome: Option<ThreadResult<T>>,
    waker: Option<Waker>,
}

/// The sending end: the thread of the transaction delivers its outcome through it, once.
struct Delivery<T>(Arc<Mutex<Handover<T>>>);

impl<T> Delivery<T> {
    fn deliver(self, outcome: ThreadResult<T>) {
        let waker = {
            let mut handover = self.0.lock();
            handover.outcome = Some(outcome);
            handover.waker.take()
        };
        // Woken outside the lock: a waker may run its executor's code, which may poll at once.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving end: a future of the transaction's outcome.
struct Outcome<T>(Arc<Mutex<Handover<T>>>);

impl<T> Future for Outcome<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        let mut handover = self.0.lock();
        match handover.outcome.take() {
            Some(Ok(value)) => Poll::Ready(value),
            // The transaction panicked on its thread: the panic goes on in the task that awaits
            // it, as it would in the caller of the blocking twin.
            Some(Err(panic)) => {
                drop(handover);
                std::panic::resume_unwind(panic)
            }
            None => {
                match &mut handover.waker {
                    Some(waker) => waker.clone_from(context.waker()),
                    None => handover.waker = Some(context.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// Runs `operation` on a thread of its own, named `name`, and returns the future of its outcome.
/// The operation runs to its end whether or not the future is awaited.
///
/// # Panics
/// When the operating system cannot start a thread, as `std::thread::spawn` does.
fn on_a_thread_of_its_own<T: Send + 'static>(name: &str, operation: impl FnOnce() -> T + Send + 'static) -> Outcome<T> {
    let handover = Arc::new(Mutex::new(Handover { outcome: None, waker: None }));
    let delivery = Delivery(Arc::clone(&handover));
    // The span of the task that started the transaction goes with it, so its events nest as the
    // blocking twin's would.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _entered = span.enter();
            delivery.deliver(std::panic::catch_unwind(AssertUnwindSafe(operation)));
        })
        .expect("the operating system could not start a thread for the transaction");
    Outcome(handover)
}

/// A blocking operation, ready to start on a thread of its own.
type Operation<T> = Box<dyn FnOnce() -> T + Send + Sync>;

/// The future of an asynchronous twin of a host's operation ([`Host::load_async`],
/// [`Host::update_async`], [`Host::rollback_async`], [`Host::commit_async`] and their `_with` kin),
/// whose output is the blocking twin's `Result`.
///
/// It does nothing until first polled. Its first poll starts the blocking twin on a thread of its
/// own, named after it (`ecdysis-update`, …); later polls only look for the outcome, so the
/// polling thread never waits. **Once started, the operation runs to its end**, even if the future
/// is dropped: an update cannot be half-cancelled, so dropping the future only stops waiting for its
/// outcome (the history still records it). It owns all it needs (no borrow of the host, the
/// module's name or the path), so it is `Send` and `'static` and can be spawned.
#[must_use = "the operation starts only when the future is polled"]
pub struct TransactionFuture<T> {
    stage: Stage<T>,
}

enum Stage<T> {
    /// Not polled yet: the operation and the name of the thread it will run on.
    NotStarted(&'static str, Operation<T>),
    /// Running, or done and not yet taken.
    Started(Outcome<T>),
    /// The outcome was taken.
    Finished,
}

impl<T> TransactionFuture<T> {
    fn new(thread_name: &'static str, operation: Operation<T>) -> TransactionFuture<T> {
        TransactionFuture { stage: Stage::NotStarted(thread_name, operation) }
    }
}

impl<T> std::fmt::Debug for TransactionFuture<T> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.stage {
            Stage::NotStarted(name, _) => format!("not started ({name})"),
            Stage::Started(_) => "started".to_owned(),
            Stage::Finished => "finished".to_owned(),
        };
        formatter.debug_struct("TransactionFuture").field("stage", &stage).finish()
    }
}

impl<T: Send + 'static> Future for TransactionFuture<T> {
    type Output = T;

    /// # Panics
    /// When the operating system cannot start a thread for the operation; when the operation
    /// panics (the panic goes on here, as it would in the caller of the blocking twin); when polled
    /// again after it completed.
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if let Stage::NotStarted(..) = this.stage {
            let Stage::NotStarted(name, operation) = std::mem::replace(&mut this.stage, Stage::Finished) else { unreachable!() };
            this.stage = Stage::Started(on_a_thread_of_its_own(name, operation));
        }
        let Stage::Started(outcome) = &mut this.stage else { panic!("an asynchronous host operation was polled after it completed") };
        let ready = Pin::new(outcome).poll(context);
        if ready.is_ready() {
            this.stage = Stage::Finished;
        }
        ready
    }
}

/// The asynchronous twins of the host's operations: each returns a [`TransactionFuture`] of its
/// blocking twin's `Result`, which runs the operation on a thread of its own once polled and runs it
/// to its end even if dropped.
impl Host {
    /// [`Host::load`], awaited without blocking the thread: `host.load_async::<dyn Counter>(path).await`.
    ///
    /// # Errors
    /// As [`Host::load`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the load.
    pub fn load_async<I: Interface + ?Sized>(&self, path: impl AsRef<Path>) -> TransactionFuture<Result<Module<I>, LoadError>> {
        let (host, path) = (self.clone(), path.as_ref().to_owned());
        TransactionFuture::new("ecdysis-load", Box::new(move || host.load::<I>(path)))
    }

    /// [`Host::update`], awaited without blocking the thread: the whole transaction, pause
    /// included, runs on a thread of its own while the runtime goes on.
    ///
    /// # Errors
    /// As [`Host::update_with`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the update.
    pub fn update_async(&self, module: &str, path: impl AsRef<Path>) -> TransactionFuture<Result<UpdateReport, UpdateError>> {
        self.update_with_async(module, path, &UpdateOptions::new())
    }

    /// [`Host::update_with`], awaited without blocking the thread.
    ///
    /// # Errors
    /// As [`Host::update_with`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the update.
    pub fn update_with_async(
        &self,
        module: &str,
        path: impl AsRef<Path>,
        options: &UpdateOptions,
    ) -> TransactionFuture<Result<UpdateReport, UpdateError>> {
        let (host, module, path, options): (Host, String, PathBuf, UpdateOptions) =
            (self.clone(), module.to_owned(), path.as_ref().to_owned(), options.clone());
        TransactionFuture::new("ecdysis-update", Box::new(move || host.update_with(&module, path, &options)))
    }

    /// [`Host::rollback`], awaited without blocking the thread.
    ///
    /// # Errors
    /// As [`Host::rollback`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the rollback.
    pub fn rollback_async(&self, module: &str) -> TransactionFuture<Result<UpdateReport, UpdateError>> {
        self.rollback_with_async(module, &UpdateOptions::new())
    }

    /// [`Host::rollback_with`], awaited without blocking the thread.
    ///
    /// # Errors
    /// As [`Host::rollback`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the rollback.
    pub fn rollback_with_async(&self, module: &str, options: &UpdateOptions) -> TransactionFuture<Result<UpdateReport, UpdateError>> {
        let (host, module, options) = (self.clone(), module.to_owned(), options.clone());
        TransactionFuture::new("ecdysis-rollback", Box::new(move || host.rollback_with(&module, &options)))
    }

    /// [`Host::commit`], awaited without blocking the thread (a commit waits for the module's
    /// transaction lock, unloads a library and may write a snapshot).
    ///
    /// # Errors
    /// As [`Host::commit`].
    ///
    /// # Panics
    /// When polled, if the operating system cannot start a thread for the commit.
    pub fn commit_async(&self, module: &str) -> TransactionFuture<Result<Option<semver::Version>, UpdateError>> {
        let (host, module) = (self.clone(), module.to_owned());
        TransactionFuture::new("ecdysis-commit", Box::new(move || host.commit(&module)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::{Duration, Instant};

    use super::on_a_thread_of_its_own;

    /// A waker that counts its wake-ups.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polls `future` with a counting waker until it is ready (at most 10 s), returning its output
    /// and how many times it was woken.
    fn poll_until_ready<T>(future: impl Future<Output = T>) -> (T, usize) {
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counting));
        let mut future = std::pin::pin!(future);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return (value, counting.0.load(Ordering::SeqCst));
            }
            assert!(Instant::now() < deadline, "the operation never completed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_outcome_arrives_and_wakes_the_task_that_waits() {
        let (value, woken) = poll_until_ready(on_a_thread_of_its_own("test", || {
            std::thread::sleep(Duration::from_millis(50));
            42
        }));
        assert_eq!(value, 42);
        assert_eq!(woken, 1, "the delivery woke the waiting task once");
    }

    #[test]
    fn an_operation_runs_to_its_end_when_its_future_is_dropped() {
        let done = Arc::new(AtomicUsize::new(0));
        let outcome = on_a_thread_of_its_own("test", {
            let done = Arc::clone(&done);
            move || {
                std::thread::sleep(Duration::from_millis(50));
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
        drop(outcome);
        let deadline = Instant::now() + Duration::from_secs(10);
        while done.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the operation stopped with its future");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_panic_of_the_operation_goes_on_in_the_task_that_awaits_it() {
        let outcome = on_a_thread_of_its_own("test", || -> u8 { panic!("the operation failed") });
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_until_ready(outcome))).unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"the operation failed"));
    }
}
