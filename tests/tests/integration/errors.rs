//! How errors reach people: each message says what failed without repeating its cause, and
//! `ErrorChain` shows the whole chain, down to the root cause, wherever an operator reads it.

use std::error::Error;
use std::fmt;
use std::process::Command as Process;

use ecdysis_host::control::{Client, ControlSocket};
use ecdysis_host::protocol::{Command, ErrorKind, Reply};
use ecdysis_host::{ErrorChain, HistoryEvent, LoadError, UpdateError};

use super::*;

/// An error with a message and maybe a cause, to build chains of any length.
#[derive(Debug)]
struct Link {
    message: &'static str,
    cause: Option<Box<Link>>,
}

impl fmt::Display for Link {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message)
    }
}

impl Error for Link {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as &(dyn Error + 'static))
    }
}

/// The chain of `messages`, outermost first.
fn chain(messages: &[&'static str]) -> Link {
    let (message, causes) = messages.split_first().expect("at least one message");
    Link { message, cause: (!causes.is_empty()).then(|| Box::new(chain(causes))) }
}

#[test]
fn a_chain_renders_every_cause_once_down_to_the_root() {
    #[track_caller]
    fn check(messages: &[&'static str], one_line: &str, one_per_line: &str) {
        let error = chain(messages);
        assert_eq!(ErrorChain(&error).to_string(), one_line);
        assert_eq!(format!("{:#}", ErrorChain(&error)), one_per_line);
        assert_eq!(ErrorChain::render(&error), one_line);
    }
    check(
        &["kv 2.0.0 was refused", "could not open shared library `libkv.so`", "undefined symbol: kv_get"],
        "kv 2.0.0 was refused: could not open shared library `libkv.so`: undefined symbol: kv_get",
        "kv 2.0.0 was refused\n  caused by: could not open shared library `libkv.so`\n  caused by: undefined symbol: kv_get",
    );
    check(&["no module named `kv` is loaded"], "no module named `kv` is loaded", "no module named `kv` is loaded");
    // Another crate's error that repeats its cause in its message is not followed by it again.
    check(&["could not read: disk on fire", "disk on fire"], "could not read: disk on fire", "could not read: disk on fire");
    assert_causes_not_repeated(&chain(&["a", "b", "c"]));
}

/// The symbol the `undefined_symbol` plugin needs and nothing defines.
const MISSING_SYMBOL: &str = "ecdysis_test_symbol_nobody_defines";

/// Asserts that `text` gives the dynamic loader's own reason, after the host's.
#[track_caller]
fn assert_gives_the_loaders_reason(text: &str) {
    assert!(text.contains("could not open shared library"), "{text}");
    assert!(text.contains(&format!("undefined symbol: {MISSING_SYMBOL}")), "{text}");
}

#[test]
fn the_dynamic_loaders_own_reason_reaches_the_operator_everywhere() {
    let library = defective("undefined_symbol");

    // A first load.
    let error = host().load::<dyn Counter>(&library).unwrap_err();
    assert!(matches!(error, LoadError::Open { .. }), "{error:?}");
    assert_gives_the_loaders_reason(&ErrorChain(&error).to_string());
    assert_causes_not_repeated(&error);

    // An update of a running module, through the API and through the control socket.
    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("control.sock");
    let host = Host::builder().control_socket(ControlSocket::At(socket.clone())).build().unwrap();
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();

    let error = host.update("counter", &library).unwrap_err();
    assert!(matches!(error, UpdateError::Load(LoadError::Open { .. })), "{error:?}");
    assert_gives_the_loaders_reason(&ErrorChain(&error).to_string());

    let mut client = Client::connect(&socket, Duration::from_secs(60)).unwrap();
    // Without a module name the host must open the library to learn it, and fails there.
    for module in [Some("counter".to_owned()), None] {
        let reload = Command::Reload { module, library: library.clone(), allow_downgrade: false, force: false, lazy: false };
        match client.request(reload).unwrap() {
            Reply::Error { kind, message } => {
                assert_eq!(kind, ErrorKind::Refused, "{message}");
                assert_gives_the_loaders_reason(&message);
            }
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    // The `ecdysis` tool prints it on its one line.
    let output = Process::new(built().binary("ecdysis"))
        .arg("--socket")
        .arg(&socket)
        .args(["reload", "counter"])
        .arg(&library)
        .env_remove("ECDYSIS_SOCKET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_gives_the_loaders_reason(&stderr);

    // The history keeps every refusal with the same reason.
    let refusals: Vec<String> = host
        .history()
        .into_iter()
        .filter_map(|entry| match entry.event {
            HistoryEvent::Refused { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(refusals.len(), 4, "{refusals:#?}");
    for message in &refusals {
        assert_gives_the_loaders_reason(message);
    }

    // And the running version kept serving.
    assert_eq!(host.status()[0].version.to_string(), "1.0.0");
    assert_eq!(counter.call(|counter| counter.increment("apples", 1)).unwrap(), 4);
}
