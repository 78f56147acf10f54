//! The threads plugin hooks run on: kept across transactions and reused, each job with a deadline.
//!
//! Every transaction, snapshot export, first `create` and health check runs plugin code on a thread
//! of its own, so that the caller can stop waiting for it at a deadline. Starting a thread for each
//! made glibc keep a malloc arena per thread that had run one, and cost a thread start per update;
//! the threads here are started once and reused. A thread whose job misses its deadline is
//! abandoned: it stays in the plugin for as long as the plugin keeps it, holding whatever the job
//! owns (instances, libraries) alive, and leaves when its job returns; the next job gets another
//! thread. A thread that has been idle for [`IDLE_LIFETIME`] leaves too, so that a plugin hook that
//! touched a thread-local with a destructor does not keep its library mapped for the life of the
//! host (glibc unmaps such a library only after the thread has exited).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

/// How long an idle thread waits for its next job before it exits.
pub(crate) const IDLE_LIFETIME: Duration = Duration::from_secs(60);

/// A job: plugin code and the report of its result.
type Job = Box<dyn FnOnce() + Send>;

/// The idle threads, each waiting for a job.
type Idle = Mutex<Vec<HookThread>>;

/// The idle hook threads of a host, each waiting for a job.
#[derive(Default)]
pub(crate) struct HookThreads {
    idle: Arc<Idle>,
}

impl std::fmt::Debug for HookThreads {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("HookThreads").field("idle", &self.idle.lock().len()).finish()
    }
}

/// A hook thread, by the channel it takes jobs from.
struct HookThread {
    id: u64,
    jobs: Sender<Job>,
}

/// The source of hook thread ids.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A thread lent to one caller: given back with [`Lent::give_back`] once its job has returned in
/// time, or dropped (abandoned) when it missed a deadline. A dropped thread exits once its job
/// returns.
pub(crate) struct Lent<'threads> {
    threads: &'threads HookThreads,
    thread: HookThread,
}

impl Lent<'_> {
    /// The thread is free again: its job returned (or will return without calling plugin code).
    pub(crate) fn give_back(self) {
        self.threads.idle.lock().push(self.thread);
    }
}

impl HookThreads {
    /// Runs `job` on an idle thread, or on a new one when none is idle (or the idle ones have
    /// exited), and lends that thread to the caller.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) -> Lent<'_> {
        let mut job: Job = Box::new(job);
        loop {
            let idle = self.idle.lock().pop();
            let Some(thread) = idle else { break };
            match thread.jobs.send(job) {
                Ok(()) => return Lent { threads: self, thread },
                // It ended (its last job panicked): the job comes back, for the next one.
                Err(mpsc::SendError(returned)) => job = returned,
            }
        }
        let (jobs, receiver) = mpsc::channel::<Job>();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let idle = Arc::downgrade(&self.idle);
        std::thread::Builder::new()
            .name("ecdysis-hooks".into())
            .spawn(move || serve(&receiver, &idle, id))
            .expect("the operating system refused to start a thread for plugin hooks");
        let thread = HookThread { id, jobs };
        thread.jobs.send(job).expect("a thread just started takes its first job");
        Lent { threads: self, thread }
    }

    /// Runs `work` on a hook thread and waits for it up to `deadline`. `None` when the deadline
    /// passed; the thread is then abandoned (it keeps whatever `work` owns, such as a library,
    /// alive).
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub(crate) fn with_deadline<T: Send + 'static>(
        &self,
        hook: &'static str,
        deadline: Duration,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (sender, receiver) = mpsc::sync_channel(1);
        // The hook runs inside the caller's span, so what the plugin logs is attributed to it.
        let span = tracing::Span::current();
        let lent = self.run(move || {
            let _entered = span.enter();
            // If nobody waits any more, the result (e.g. an instance) is dropped here, on this thread.
            let _ = sender.send(work());
        });
        match receiver.recv_timeout(deadline) {
            Ok(result) => {
                lent.give_back();
                Some(result)
            }
            Err(_) => {
                tracing::debug!(hook, ?deadline, "a plugin hook missed its deadline; its thread is abandoned");
                None
            }
        }
    }
}

/// A hook thread's life: runs jobs as they come, until its lender drops it or it has been idle
/// for [`IDLE_LIFETIME`]. Then it takes itself off the idle list, under the list's lock, unless a
/// caller took it from there first: that caller's job is on its way, and the thread waits for it.
fn serve(jobs: &Receiver<Job>, idle: &Weak<Idle>, id: u64) {
    loop {
        match jobs.recv_timeout(IDLE_LIFETIME) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Some(idle) = idle.upgrade() else { return };
                let mut idle = idle.lock();
                if let Some(position) = idle.iter().position(|thread| thread.id == id) {
                    drop(idle.swap_remove(position));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::HookThreads;

    fn thread_id() -> std::thread::ThreadId {
        std::thread::current().id()
    }

    #[test]
    fn a_thread_is_reused_until_a_job_misses_its_deadline() {
        let threads = HookThreads::default();
        let first = threads.with_deadline("test", Duration::from_secs(5), thread_id).unwrap();
        let second = threads.with_deadline("test", Duration::from_secs(5), thread_id).unwrap();
        assert_eq!(first, second, "the idle thread ran the second job");
        assert_ne!(first, thread_id());

        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let missed = threads.with_deadline("test", Duration::from_millis(20), move || {
            let _ = stuck.recv();
        });
        assert_eq!(missed, None);
        let after = threads.with_deadline("test", Duration::from_secs(5), thread_id).unwrap();
        assert_ne!(after, first, "the stuck thread was abandoned; a fresh one runs later jobs");
        release.send(()).unwrap();
        assert_eq!(threads.with_deadline("test", Duration::from_secs(5), thread_id).unwrap(), after);
    }

    #[test]
    fn concurrent_jobs_get_threads_of_their_own() {
        let threads = std::sync::Arc::new(HookThreads::default());
        let (started, all_started) = std::sync::mpsc::channel();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let runners: Vec<_> = (0..3)
            .map(|_| {
                let (threads, started, barrier) = (std::sync::Arc::clone(&threads), started.clone(), std::sync::Arc::clone(&barrier));
                std::thread::spawn(move || {
                    threads.with_deadline("test", Duration::from_secs(5), move || {
                        started.send(thread_id()).unwrap();
                        // Each job waits for the others: on one shared thread, they would not finish.
                        barrier.wait();
                    })
                })
            })
            .collect();
        for runner in runners {
            assert_eq!(runner.join().unwrap(), Some(()));
        }
        drop(started);
        let ids: std::collections::HashSet<_> = all_started.iter().collect();
        assert_eq!(ids.len(), 3);
    }
}
