//! Rehearsal of an update in a child process: before the running version is paused, a fresh
//! process opens the candidate library, takes a snapshot of the running state, runs the transform
//! and the round trip, and reports; whatever the candidate does there (a segfault, an abort, an
//! exit, a stack overflow, exhausted memory, a hang) costs only the child.
//!
//! The child is the host's own executable, re-executed with [`CHILD_ENVIRONMENT_VARIABLE`] set:
//! the embedder's `main` calls [`serve_if_asked`] first, which in the child runs the rehearsal and
//! exits, and in the host records that rehearsals are possible. A program that does not call it
//! cannot rehearse; its host says so when built and in `status`, and updates without rehearsals.
//!
//! The conversation, over the child's standard input and a copy of its standard output (the
//! child's own standard output is pointed at its standard error, so that nothing a plugin prints
//! can be mistaken for a report):
//! 1. the host sends one JSON line, [`ChildRequest`]: the library's private copy and the memory
//!    the child may use;
//! 2. the child sets its address-space limit, opens and verifies the library (its initialisers
//!    run) and reports [`ChildReport::Opened`] with the descriptor, or [`ChildReport::LoadFailed`];
//! 3. the host sends a [`TransferRequest`] line followed by the snapshot as an encoded
//!    [`StateEnvelope`];
//! 4. the child imports it through the candidate's migrations (the transform) and reports
//!    [`ChildReport::Transformed`]; then exports it back and compares (the round trip), reports
//!    [`ChildReport::Compared`], and exits with status 0.
//!
//! The host waits for each report up to the hook deadline, then kills the child. A child that dies
//! is described by its signal or exit status, the step it was in, and the last line of its
//! standard error (where Rust writes "thread … has overflowed its stack" or "memory allocation of …
//! failed").

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use ecdysis_plugin_api::{MigrationOptions, StateEnvelope};
use ecdysis_protocol::ErrorChain;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::calling::instance::{EntrySource, Instance};
use crate::error::{RehearsalFailure, RehearsalStep};
use crate::loading::{LoadedLibrary, Loader, PluginInfo};
use crate::updating::validate;

/// The environment variable that makes [`serve_if_asked`] run a rehearsal instead of returning.
pub const CHILD_ENVIRONMENT_VARIABLE: &str = "ECDYSIS_REHEARSAL_CHILD";

/// How much address space a rehearsal process may use beyond four times the state it is given,
/// unless the host is told otherwise: room for the executable, the candidate and its allocator.
pub const DEFAULT_MEMORY_ALLOWANCE: u64 = 1 << 30;

/// How much longer than a hook the first report may take: the child process has to start.
const STARTUP_ALLOWANCE: Duration = Duration::from_secs(10);

/// How many bytes of the child's standard error the host keeps, the last ones.
const STDERR_TAIL_BYTES: usize = 4096;

/// Whether this process's `main` called [`serve_if_asked`], so that the host may re-execute it.
static CAN_REHEARSE: AtomicBool = AtomicBool::new(false);

/// The entry hook of rehearsals: call it first in `main`, before the program does anything else.
///
/// In the host process it returns at once, having recorded that this program can rehearse; its
/// hosts then try every update in a child process first. In a child process started by the host
/// (with [`CHILD_ENVIRONMENT_VARIABLE`] set) it runs the rehearsal the host asks for and exits the
/// process, never returning.
///
/// ```no_run
/// fn main() {
///     ecdysis_host::rehearsal::serve_if_asked();
///     // The program's own work: build a host, load modules, serve.
/// }
/// ```
// The example's `main` is its point: the call goes first in it.
#[allow(clippy::needless_doctest_main)]
pub fn serve_if_asked() {
    if std::env::var_os(CHILD_ENVIRONMENT_VARIABLE).is_none() {
        CAN_REHEARSE.store(true, Ordering::Release);
        return;
    }
    let code = match run_child() {
        Ok(()) => 0,
        Err(message) => {
            // A broken conversation: the host reads the status and the last line of stderr.
            eprintln!("ecdysis rehearsal: {message}");
            CHILD_PROTOCOL_FAILURE
        }
    };
    std::process::exit(code);
}

/// The status a rehearsal process exits with when the conversation with its host broke (as
/// opposed to a candidate that exited on its own).
const CHILD_PROTOCOL_FAILURE: i32 = 121;

/// Whether hosts in this process can rehearse, and if not, why.
///
/// # Errors
/// When `main` did not call [`serve_if_asked`], with the reason in words.
pub(crate) fn availability() -> Result<(), &'static str> {
    if CAN_REHEARSE.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err(
            "the program's main does not call ecdysis_host::rehearsal::serve_if_asked() first, so the host cannot re-execute it as a rehearsal process",
        )
    }
}

/// How many entries the rehearsal of a lazy update moves: a sample, taken without holding the
/// plugin's locks for as long as the whole state would take.
pub(crate) const LAZY_REHEARSAL_SAMPLE: u64 = 10_000;

/// The first request of the host to a rehearsal process.
#[derive(Serialize, Deserialize)]
struct ChildRequest {
    /// The library to open: the private copy the host will open after the rehearsal.
    library: PathBuf,
    /// The address space the child may use before it has the state.
    memory_allowance: u64,
    /// Where the child puts its copies of libraries: a directory the host removes when the
    /// rehearsal is over, so that nothing is left behind even when the child was killed.
    scratch_directory: PathBuf,
}

/// The second request: what follows it on the pipe is an encoded envelope of `envelope_bytes`.
#[derive(Serialize, Deserialize)]
struct TransferRequest {
    /// For a downgrade or a rollback: the running version's library (its private copy), which
    /// takes the snapshot in its own schema and migrates it down to `transfer_schema` first.
    migrate_down_with: Option<PathBuf>,
    /// The schema the state crosses in.
    transfer_schema: u32,
    /// Whether migrations may drop what the target schema cannot hold.
    force: bool,
    /// Whether to export the state back and compare.
    compare: bool,
    /// For a lazy update: the running version's library (its private copy), which takes the
    /// snapshot (then a batch of sample entries, not a whole state), and from which every entry
    /// then moves into the candidate, as it will here.
    #[serde(default)]
    lazy_from: Option<PathBuf>,
    /// How long the encoded envelope that follows is.
    envelope_bytes: u64,
}

/// What a rehearsal process reports, one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
enum ChildReport {
    /// The library was opened and verified; its descriptor says this.
    Opened { info: PluginInfo },
    /// The library was refused while opening (the host opens it itself to report why).
    LoadFailed { message: String },
    /// The running version's copy migrated the snapshot down.
    MigratedDown,
    /// The running version's copy could not migrate the snapshot down (or could not be opened).
    MigrateDownFailed { message: String },
    /// The candidate built its instance from the snapshot.
    Transformed,
    /// The candidate could not take over the snapshot (an error or a panic it reported).
    TransformFailed { message: String },
    /// The candidate exported its state back; `difference` is the first difference, if any.
    Compared { difference: Option<String> },
    /// The candidate could not export its state back.
    RoundTripFailed { message: String },
}

/// How a host rehearses: its settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RehearsalSettings {
    /// Whether updates are rehearsed (when the program can).
    pub(crate) enabled: bool,
    /// The address space a rehearsal process may use beyond four times the state.
    pub(crate) memory_allowance: u64,
}

impl Default for RehearsalSettings {
    fn default() -> Self {
        RehearsalSettings { enabled: true, memory_allowance: DEFAULT_MEMORY_ALLOWANCE }
    }
}

/// The common signals by name; others are shown by number only.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => "another signal",
    }
}

/// What a rehearsal's state transfer is asked to do.
pub(crate) struct RehearsedTransfer<'path> {
    /// For a downgrade or a rollback: the running version's library, to migrate the snapshot down.
    pub(crate) migrate_down_with: Option<&'path Path>,
    /// The schema the state crosses in.
    pub(crate) transfer_schema: u32,
    /// The migration options.
    pub(crate) options: MigrationOptions,
    /// Whether to check the round trip.
    pub(crate) compare: bool,
    /// For a lazy update: the running version's library, from a copy of which every entry moves.
    pub(crate) lazy_from: Option<&'path Path>,
}

/// A rehearsal process, from its start to its last report. Killed and reaped when dropped.
pub(crate) struct Rehearsal {
    child: Child,
    stdin: Option<ChildStdin>,
    reports: Receiver<String>,
    stderr_tail: Arc<Mutex<VecDeque<u8>>>,
    deadline: Duration,
    started: Instant,
    /// The child's scratch directory, removed after the child has ended (fields drop after
    /// [`Rehearsal`]'s own `drop`).
    _scratch: tempfile::TempDir,
}

impl Rehearsal {
    /// Starts a rehearsal process for the library at `library` (a private copy the host checked)
    /// and asks it to open the library. Each report must arrive within `deadline`.
    pub(crate) fn start(library: &Path, settings: &RehearsalSettings, deadline: Duration) -> Result<Rehearsal, RehearsalFailure> {
        let started = Instant::now();
        // Next to the host's own private copies, so that it goes wherever those go.
        let scratch = tempfile::Builder::new()
            .prefix("rehearsal-")
            .tempdir_in(library.parent().unwrap_or(Path::new(".")))
            .map_err(RehearsalFailure::Spawn)?;
        let mut child = Command::new("/proc/self/exe")
            .arg0(program_name())
            .env(CHILD_ENVIRONMENT_VARIABLE, "1")
            // The child's last line on stderr names what killed it; a backtrace would bury it.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(RehearsalFailure::Spawn)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, reports) = std::sync::mpsc::channel();
        let reader = std::thread::Builder::new().name("ecdysis-rehearsal-reports".into()).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_BYTES)));
        let tail = Arc::clone(&stderr_tail);
        let stderr_reader = std::thread::Builder::new().name("ecdysis-rehearsal-stderr".into()).spawn(move || {
            let mut stderr = stderr;
            let mut buffer = [0u8; 1024];
            while let Ok(read @ 1..) = stderr.read(&mut buffer) {
                let mut tail = tail.lock();
                tail.extend(&buffer[..read]);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
        });
        let stdin = child.stdin.take();
        let scratch_directory = scratch.path().to_owned();
        let mut rehearsal = Rehearsal { child, stdin, reports, stderr_tail, deadline, started, _scratch: scratch };
        if let Err(error) = reader.and(stderr_reader) {
            return Err(RehearsalFailure::Spawn(error));
        }
        let request = ChildRequest { library: library.to_owned(), memory_allowance: settings.memory_allowance, scratch_directory };
        let mut line = serde_json::to_vec(&request).expect("a rehearsal request is serialisable");
        line.push(b'\n');
        rehearsal.send(&line)?;
        Ok(rehearsal)
    }

    /// Waits for the library to be opened: `Ok(Some(info))` with its descriptor, `Ok(None)` when the
    /// child refused it as the host's loader would (the host's own open then says why).
    pub(crate) fn opened(&mut self) -> Result<Option<PluginInfo>, RehearsalFailure> {
        // Starting a process is not a plugin hook: on a loaded machine it may take a while.
        let report = self.next_report_within(self.deadline + STARTUP_ALLOWANCE);
        match report? {
            ChildReport::Opened { info } => Ok(Some(info)),
            ChildReport::LoadFailed { message } => {
                tracing::debug!(%message, "the rehearsal process refused the library");
                Ok(None)
            }
            other => Err(RehearsalFailure::Protocol { detail: format!("expected the library to be opened, got {other:?}") }),
        }
    }

    /// Sends the snapshot; waits for the migration down (when `migrate_down_with` names the running
    /// version's library), the transform into `transfer_schema` and, when `compare`, the round
    /// trip. `step` is kept at the step under way, so that a failure can be placed.
    pub(crate) fn transfer(
        &mut self,
        snapshot: &StateEnvelope,
        transfer: &RehearsedTransfer<'_>,
        step: &mut RehearsalStep,
    ) -> Result<(), RehearsalFailure> {
        let bytes = snapshot.to_bytes();
        let request = TransferRequest {
            migrate_down_with: transfer.migrate_down_with.map(Path::to_owned),
            transfer_schema: transfer.transfer_schema,
            force: transfer.options.force,
            compare: transfer.compare,
            lazy_from: transfer.lazy_from.map(Path::to_owned),
            envelope_bytes: bytes.len() as u64,
        };
        let mut message = serde_json::to_vec(&request).expect("a transfer request is serialisable");
        message.push(b'\n');
        message.extend_from_slice(&bytes);
        *step = if transfer.lazy_from.is_some() {
            RehearsalStep::MigrateEntries
        } else if transfer.migrate_down_with.is_some() {
            RehearsalStep::MigrateDown
        } else {
            RehearsalStep::Transform
        };
        self.send(&message)?;
        if transfer.lazy_from.is_some() {
            return match self.next_report()? {
                ChildReport::Transformed => Ok(()),
                ChildReport::TransformFailed { message } => Err(RehearsalFailure::Plugin { message }),
                other => Err(RehearsalFailure::Protocol { detail: format!("expected the lazy migration, got {other:?}") }),
            };
        }
        if transfer.migrate_down_with.is_some() {
            match self.next_report()? {
                ChildReport::MigratedDown => {}
                ChildReport::MigrateDownFailed { message } => return Err(RehearsalFailure::Plugin { message }),
                other => return Err(RehearsalFailure::Protocol { detail: format!("expected the migration down, got {other:?}") }),
            }
            *step = RehearsalStep::Transform;
        }
        match self.next_report()? {
            ChildReport::Transformed => {}
            ChildReport::TransformFailed { message } => return Err(RehearsalFailure::Plugin { message }),
            other => return Err(RehearsalFailure::Protocol { detail: format!("expected the transform, got {other:?}") }),
        }
        if !transfer.compare {
            return Ok(());
        }
        *step = RehearsalStep::RoundTrip;
        match self.next_report()? {
            ChildReport::Compared { difference: None } => Ok(()),
            ChildReport::Compared { difference: Some(difference) } => Err(RehearsalFailure::Mismatch { difference }),
            ChildReport::RoundTripFailed { message } => Err(RehearsalFailure::Plugin { message }),
            other => Err(RehearsalFailure::Protocol { detail: format!("expected the round trip, got {other:?}") }),
        }
    }

    /// How long the rehearsal has taken so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), RehearsalFailure> {
        let stdin = self.stdin.as_mut().expect("stdin is open until the rehearsal ends");
        match stdin.write_all(bytes).and_then(|()| stdin.flush()) {
            Ok(()) => Ok(()),
            // The child is gone; its status says why.
            Err(error) => Err(self.died().unwrap_or(RehearsalFailure::Protocol { detail: format!("writing to it failed: {error}") })),
        }
    }

    fn next_report(&mut self) -> Result<ChildReport, RehearsalFailure> {
        self.next_report_within(self.deadline)
    }

    fn next_report_within(&mut self, deadline: Duration) -> Result<ChildReport, RehearsalFailure> {
        match self.reports.recv_timeout(deadline) {
            Ok(line) => serde_json::from_str(&line)
                .map_err(|error| RehearsalFailure::Protocol { detail: format!("its report `{line}` is not understood: {error}") }),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                Err(RehearsalFailure::TimedOut { deadline })
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(self.died().unwrap_or(RehearsalFailure::Protocol { detail: "it closed its report pipe and still runs".into() }))
            }
        }
    }

    /// How the child ended, once it has (waiting up to the deadline; killed after that).
    fn died(&mut self) -> Option<RehearsalFailure> {
        let waited_until = Instant::now() + self.deadline;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < waited_until => std::thread::sleep(Duration::from_millis(2)),
                Ok(None) | Err(_) => return None,
            }
        };
        // The standard error reader may still be copying the last bytes the child wrote.
        std::thread::sleep(Duration::from_millis(20));
        let stderr = self.last_stderr_line();
        if let Some(signal) = status.signal() {
            return Some(RehearsalFailure::Killed { signal, name: signal_name(signal), stderr });
        }
        Some(RehearsalFailure::Exited { code: status.code().unwrap_or(-1), stderr })
    }

    fn last_stderr_line(&self) -> Option<String> {
        let tail = self.stderr_tail.lock();
        let bytes: Vec<u8> = tail.iter().copied().collect();
        drop(tail);
        let text = String::from_utf8_lossy(&bytes);
        // The last line that says something: not a blank line, nor Rust's hint about backtraces.
        text.lines().map(str::trim).rfind(|line| !line.is_empty() && !line.starts_with("note: ")).map(str::to_owned)
    }
}

impl Drop for Rehearsal {
    fn drop(&mut self) {
        // Closing its standard input ends a child that finished; one that did not is killed.
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The name the child shows in `ps`: the program's, marked as a rehearsal.
fn program_name() -> OsString {
    let mut name = std::env::args_os().next().unwrap_or_else(|| OsString::from("ecdysis-host"));
    name.push(" (ecdysis rehearsal)");
    name
}

/// The rehearsal process: the conversation described in the module documentation.
fn run_child() -> Result<(), String> {
    // Reports go to a copy of the standard output; the standard output itself is pointed at the
    // standard error, so that whatever the plugin prints cannot interleave with a report.
    let reports = rustix::io::dup(std::io::stdout()).map_err(|error| format!("cannot copy its standard output: {error}"))?;
    rustix::stdio::dup2_stdout(std::io::stderr()).map_err(|error| format!("cannot redirect its standard output: {error}"))?;
    let mut reports = std::fs::File::from(reports);
    let mut input = BufReader::new(std::io::stdin().lock());

    let request: ChildRequest = read_json_line(&mut input)?;
    limit_address_space(request.memory_allowance)?;
    let loader = Loader::unrestricted_in(&request.scratch_directory)
        .map_err(|error| format!("cannot make a directory for its library copies: {error}"))?;
    let library = match loader.open(&request.library) {
        Ok(library) => Arc::new(library),
        Err(error) => return report(&mut reports, &ChildReport::LoadFailed { message: ErrorChain(&error).to_string() }),
    };
    report(&mut reports, &ChildReport::Opened { info: library.info().clone() })?;

    let transfer: TransferRequest = read_json_line(&mut input)?;
    let length = usize::try_from(transfer.envelope_bytes).map_err(|_| "the snapshot is larger than the address space".to_owned())?;
    limit_address_space(request.memory_allowance.saturating_add(transfer.envelope_bytes.saturating_mul(4)))?;
    let mut bytes = vec![0; length];
    input.read_exact(&mut bytes).map_err(|error| format!("cannot read the snapshot: {error}"))?;
    let snapshot = StateEnvelope::from_bytes(&bytes).map_err(|error| format!("the snapshot is not an envelope: {error}"))?;
    drop(bytes);
    let options = MigrationOptions::forced(transfer.force);
    if let Some(running_library) = &transfer.lazy_from {
        let outcome = match rehearse_lazily(&loader, running_library, &library, &snapshot, transfer.transfer_schema, options) {
            Ok(()) => ChildReport::Transformed,
            Err(message) => ChildReport::TransformFailed { message },
        };
        return report(&mut reports, &outcome);
    }
    // A downgrade or a rollback: a copy of the running version takes the snapshot in its own schema
    // and migrates it down, as the running version will in the pause.
    let (running, crossing) = match &transfer.migrate_down_with {
        None => (None, snapshot.payload),
        Some(running_library) => {
            let migrated_down = loader.open(running_library).map_err(|error| ErrorChain(&error).to_string()).and_then(|running| {
                let running = Arc::new(running);
                let instance = Instance::import(&running, snapshot.schema_version, &snapshot.payload, options)
                    .map_err(|error| format!("the running version could not take the snapshot back: {error}"))?;
                let payload = instance
                    .export(transfer.transfer_schema, options)
                    .map_err(|error| format!("the running version could not migrate the state down: {error}"))?;
                Ok(((running, instance), payload))
            });
            match migrated_down {
                Ok((running, payload)) => {
                    report(&mut reports, &ChildReport::MigratedDown)?;
                    (Some(running), payload)
                }
                Err(message) => return report(&mut reports, &ChildReport::MigrateDownFailed { message }),
            }
        }
    };
    let instance = match Instance::import(&library, transfer.transfer_schema, &crossing, options) {
        Ok(instance) => instance,
        Err(error) => {
            return report(
                &mut reports,
                &ChildReport::TransformFailed { message: format!("the candidate could not take over the state: {error}") },
            );
        }
    };
    report(&mut reports, &ChildReport::Transformed)?;
    if transfer.compare {
        let outcome = match instance.export(transfer.transfer_schema, options) {
            Ok(round_trip) => ChildReport::Compared { difference: validate::compare(&crossing, &round_trip).err() },
            Err(error) => ChildReport::RoundTripFailed { message: format!("the candidate could not export the state back: {error}") },
        };
        report(&mut reports, &outcome)?;
    }
    // The process exits without unloading: the rehearsal is over, and a candidate's destructors
    // are not part of it.
    std::mem::forget(instance);
    std::mem::forget(running);
    std::mem::forget(library);
    std::mem::forget(loader);
    Ok(())
}

/// A lazy update, rehearsed: a copy of the running version takes the snapshot (a sample of its
/// entries), the candidate makes its empty instance with that copy as its predecessor, and every
/// entry moves, each through the entry migrations and its own round trip, as the background pass
/// will move them in the host.
fn rehearse_lazily(
    loader: &Loader,
    running_library: &Path,
    library: &Arc<LoadedLibrary>,
    snapshot: &StateEnvelope,
    transfer_schema: u32,
    options: MigrationOptions,
) -> Result<(), String> {
    let running = Arc::new(loader.open(running_library).map_err(|error| ErrorChain(&error).to_string())?);
    let previous = Instance::create(&running).map_err(|error| format!("the running version could not make an empty instance: {error}"))?;
    previous
        .put_entries(snapshot.schema_version, options, &snapshot.payload)
        .map_err(|error| format!("the running version could not take the sample of entries back: {error}"))?;
    let next = Instance::create(library).map_err(|error| format!("the candidate could not make its empty instance: {error}"))?;
    let source = EntrySource::new(Arc::new(previous), transfer_schema, options);
    next.attach_predecessor(Arc::clone(&source))
        .map_err(|error| format!("the candidate cannot take entries from the running version: {error}"))?;
    loop {
        match next.migrate_entries(65_536) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => return Err(format!("the candidate could not move entries: {error}")),
        }
    }
    let (failed, first_failure) = source.failures();
    if failed > 0 {
        let first = first_failure.map(|(key, reason)| format!("key `{key}`: {reason}")).unwrap_or_default();
        return Err(format!("{failed} entries cannot be migrated to this version (the first: {first})"));
    }
    // As for an eager rehearsal: no destructor of the candidate runs.
    std::mem::forget(next);
    std::mem::forget(source);
    std::mem::forget(running);
    Ok(())
}

fn read_json_line<T: serde::de::DeserializeOwned>(input: &mut impl BufRead) -> Result<T, String> {
    let mut line = String::new();
    input.read_line(&mut line).map_err(|error| format!("cannot read its request: {error}"))?;
    serde_json::from_str(&line).map_err(|error| format!("its request `{}` is not understood: {error}", line.trim_end()))
}

fn report(reports: &mut std::fs::File, report: &ChildReport) -> Result<(), String> {
    let mut line = serde_json::to_vec(report).expect("a rehearsal report is serialisable");
    line.push(b'\n');
    reports.write_all(&line).map_err(|error| format!("cannot report to the host: {error}"))
}

/// Limits the process's address space (the soft limit, which a later call may raise up to the
/// hard limit), so that a candidate that exhausts memory fails here and not in the host.
fn limit_address_space(bytes: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let current = getrlimit(Resource::As);
    let soft = current.maximum.map_or(bytes, |maximum| bytes.min(maximum));
    setrlimit(Resource::As, Rlimit { current: Some(soft), maximum: current.maximum })
        .map_err(|error| format!("cannot limit its address space to {bytes} bytes: {error}"))
}
