//! The control socket seen from a client: every kind of bad request is refused with a clear error
//! and never disturbs the host; only the owner may connect; the allow-list and pins hold.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use ecdysis_host::control::{Client, ControlSocket};
use ecdysis_host::protocol::{Command, ErrorKind, MAX_REQUEST_BYTES, Reply};
use ecdysis_host::{BuildError, Host, HostBuilder};
use sha2::Digest;

use super::*;

/// A host with `counter-v1` loaded, some state, and a control socket in `directory`.
fn serving(builder: HostBuilder, directory: &Path) -> (Host, Module<dyn Counter>, PathBuf) {
    let socket = directory.join("control.sock");
    let host = builder.control_socket(ControlSocket::At(socket.clone())).build().unwrap();
    assert_eq!(host.control_socket_path().as_deref(), Some(socket.as_path()));
    let counter = host.load::<dyn Counter>(sample("counter-v1")).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();
    (host, counter, socket)
}

fn connect(socket: &Path) -> Client {
    Client::connect(socket, Duration::from_secs(60)).unwrap()
}

/// Checks that the host still serves version `version` with its state.
#[track_caller]
fn still_serving(host: &Host, counter: &Module<dyn Counter>, version: &str) {
    assert_eq!(host.status()[0].version.to_string(), version);
    assert_eq!(counter.call(|counter| counter.value("apples")).unwrap(), Some(3));
}

#[track_caller]
fn expect_error(reply: Reply, kind: ErrorKind, message: &str) {
    match reply {
        Reply::Error { kind: found, message: text } => {
            assert_eq!(found, kind, "{text}");
            assert!(text.contains(message), "`{text}` should contain `{message}`");
        }
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[test]
fn bad_requests_get_error_replies_and_the_connection_and_host_carry_on() {
    let directory = tempfile::tempdir().unwrap();
    let (host, counter, socket) = serving(Host::builder(), directory.path());
    let mut client = connect(&socket);
    let cases: &[(&[u8], ErrorKind, &str)] = &[
        (b"{this is not json\n", ErrorKind::Malformed, "request is not valid JSON"),
        (b"\"status\"\n", ErrorKind::Malformed, "request must be a JSON object"),
        (
            b"{\"protocol\":1,\"command\":\"shutdown\"}\n",
            ErrorKind::UnknownCommand,
            "unknown command `shutdown`; the commands are reload, status",
        ),
        (b"{\"protocol\":9,\"command\":\"status\"}\n", ErrorKind::UnsupportedVersion, "protocol version 9 is not supported"),
        (b"{\"protocol\":1,\"command\":\"commit\"}\n", ErrorKind::InvalidRequest, "missing field `module`"),
        (
            b"{\"protocol\":1,\"command\":\"reload\",\"module\":\"nope\",\"library\":\"/x.so\"}\n",
            ErrorKind::NoSuchModule,
            "no module named `nope`",
        ),
    ];
    for (request, kind, message) in cases {
        expect_error(client.send_raw(request).unwrap(), *kind, message);
        still_serving(&host, &counter, "1.0.0");
    }
    // The same connection still answers good requests.
    let Reply::Status { modules } = client.request(Command::Status).unwrap() else { panic!("expected status") };
    assert_eq!(modules[0].name, "counter");
}

#[test]
fn an_oversized_request_is_refused_and_the_connection_closed() {
    let directory = tempfile::tempdir().unwrap();
    let (host, counter, socket) = serving(Host::builder(), directory.path());
    let mut client = connect(&socket);
    let mut request = br#"{"protocol":1,"command":"status","padding":""#.to_vec();
    request.extend(std::iter::repeat_n(b'x', MAX_REQUEST_BYTES + 10));
    request.extend(b"\"}\n");
    // The host replies after reading the first 64 KiB and closes; the rest of the write may fail.
    let reply = client.send_raw(&request);
    match reply {
        Ok(reply) => expect_error(reply, ErrorKind::TooLarge, "request is larger than 65536 bytes"),
        Err(error) => panic!("expected a too-large reply, got {error}"),
    }
    still_serving(&host, &counter, "1.0.0");
    let Reply::Status { .. } = connect(&socket).request(Command::Status).unwrap() else { panic!("a new connection works") };
}

#[test]
fn a_full_update_cycle_over_the_socket() {
    let directory = tempfile::tempdir().unwrap();
    let (host, counter, socket) = serving(Host::builder(), directory.path());
    let mut client = connect(&socket);
    let reload = Command::Reload { module: None, library: sample("counter-v2"), allow_downgrade: false, force: false, lazy: false };
    let Reply::Report { report } = client.request(reload).unwrap() else { panic!("expected a report") };
    assert_eq!((report.module.as_str(), report.to_version.to_string().as_str()), ("counter", "2.0.0"));
    still_serving(&host, &counter, "2.0.0");
    let Reply::Report { report } = client.request(Command::Rollback { module: "counter".into(), force: false }).unwrap() else {
        panic!("expected a report")
    };
    assert_eq!(report.to_version.to_string(), "1.0.0");
    let Reply::Committed { released, .. } = client.request(Command::Commit { module: "counter".into() }).unwrap() else {
        panic!("expected commit")
    };
    assert_eq!(released, None, "a rollback releases the version rolled back from at once");
    let Reply::History { entries } = client.request(Command::History).unwrap() else { panic!("expected history") };
    assert_eq!(entries.len(), 4);
    still_serving(&host, &counter, "1.0.0");
}

#[test]
fn a_library_outside_the_allowed_directories_is_refused() {
    // The allow-list applies to every load, so this host loads v1 from inside it.
    let allowed = tempfile::tempdir().unwrap();
    let v1_inside = allowed.path().join("libcounter_v1.so");
    let v2_inside = allowed.path().join("libcounter_v2.so");
    std::fs::copy(sample("counter-v1"), &v1_inside).unwrap();
    std::fs::copy(sample("counter-v2"), &v2_inside).unwrap();
    let socket_directory = tempfile::tempdir().unwrap();
    let socket = socket_directory.path().join("control.sock");
    let host = Host::builder().allow_directory(allowed.path()).control_socket(ControlSocket::At(socket.clone())).build().unwrap();
    let error = host.load::<dyn Counter>(sample("counter-v1")).unwrap_err();
    assert!(error.to_string().contains("is outside the directories plugins may be loaded from"), "{error}");
    let counter = host.load::<dyn Counter>(&v1_inside).unwrap();
    counter.call(|counter| counter.increment("apples", 3)).unwrap();

    let mut client = connect(&socket);
    let outside = Command::Reload {
        module: Some("counter".into()),
        library: sample("counter-v2"),
        allow_downgrade: false,
        force: false,
        lazy: false,
    };
    expect_error(client.request(outside).unwrap(), ErrorKind::Refused, "is outside the directories plugins may be loaded from");
    still_serving(&host, &counter, "1.0.0");
    // A symlink inside that points outside is resolved, and refused too.
    let link = allowed.path().join("libsneaky.so");
    std::os::unix::fs::symlink(sample("counter-v2"), &link).unwrap();
    let sneaky = Command::Reload { module: Some("counter".into()), library: link, allow_downgrade: false, force: false, lazy: false };
    expect_error(client.request(sneaky).unwrap(), ErrorKind::Refused, "is outside the directories");
    still_serving(&host, &counter, "1.0.0");
    let inside = Command::Reload { module: None, library: v2_inside, allow_downgrade: false, force: false, lazy: false };
    let Reply::Report { .. } = client.request(inside).unwrap() else { panic!("a library inside the allowed directory loads") };
    still_serving(&host, &counter, "2.0.0");
}

#[test]
fn a_library_whose_hash_does_not_match_its_pin_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let pinned = sample("counter-v2");
    let real_digest: String = sha2::Sha256::digest(std::fs::read(&pinned).unwrap()).iter().map(|byte| format!("{byte:02x}")).collect();
    let wrong_digest = "0".repeat(64);
    let (host, counter, socket) = serving(Host::builder().pin_library(&pinned, &wrong_digest), directory.path());
    let reload =
        Command::Reload { module: Some("counter".into()), library: pinned.clone(), allow_downgrade: false, force: false, lazy: false };
    expect_error(
        connect(&socket).request(reload.clone()).unwrap(),
        ErrorKind::Refused,
        &format!("has SHA-256 {real_digest}, but it is pinned to {wrong_digest}"),
    );
    still_serving(&host, &counter, "1.0.0");
    drop((host, counter));

    let directory = tempfile::tempdir().unwrap();
    let (host, counter, socket) = serving(Host::builder().pin_library(&pinned, &real_digest), directory.path());
    let Reply::Report { .. } = connect(&socket).request(reload).unwrap() else { panic!("the pinned library loads") };
    still_serving(&host, &counter, "2.0.0");
}

#[test]
fn unsafe_configurations_are_refused_when_the_host_is_built() {
    let world_writable = tempfile::tempdir().unwrap();
    std::fs::set_permissions(world_writable.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = Host::builder().control_socket(ControlSocket::At(world_writable.path().join("c.sock"))).build().unwrap_err();
    assert!(matches!(error, BuildError::ControlSocket { .. }), "{error:?}");
    assert!(error.to_string().contains("is writable by other users (mode 777)"), "{error}");

    let error = Host::builder().pin_library(sample("counter-v1"), "not-a-digest").build().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("pin for `{}` is invalid: `not-a-digest` is not 64 hexadecimal digits", sample("counter-v1").display())
    );

    let directory = tempfile::tempdir().unwrap();
    let socket = directory.path().join("control.sock");
    let _first = Host::builder().control_socket(ControlSocket::At(socket.clone())).build().unwrap();
    let error = Host::builder().control_socket(ControlSocket::At(socket)).build().unwrap_err();
    assert!(error.to_string().contains("another process is already listening there"), "{error}");
}

/// Runs the `ecdysis` binary as user `nobody` against `socket`.
fn as_nobody(ecdysis: &Path, socket: &Path) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    Process::new(ecdysis).arg("--socket").arg(socket).arg("status").uid(65534).gid(65534).output().unwrap()
}

#[test]
fn another_user_is_refused() {
    let uid = rustix::process::geteuid().as_raw();
    if uid != 0 {
        eprintln!("skipped: running the client as another user needs root (these tests run as uid {uid})");
        return;
    }
    // The binary must be executable by `nobody`, wherever this checkout lives.
    let public = tempfile::tempdir().unwrap();
    std::fs::set_permissions(public.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ecdysis = public.path().join("ecdysis");
    std::fs::copy(built().binary("ecdysis"), &ecdysis).unwrap();
    std::fs::set_permissions(&ecdysis, std::fs::Permissions::from_mode(0o755)).unwrap();

    // As configured, the socket's directory and file keep other users out before they connect.
    let directory = tempfile::tempdir().unwrap();
    let (host, counter, socket) = serving(Host::builder(), directory.path());
    let output = as_nobody(&ecdysis, &socket);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect") && stderr.contains("Permission denied"), "{stderr}");
    still_serving(&host, &counter, "1.0.0");

    // Even when the file is opened to everyone, the host checks the peer's credentials.
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let output = as_nobody(&ecdysis, &socket);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "ecdysis: permission denied: only the user that owns the host (uid 0) may use its control socket; this connection comes from uid 65534"
    );
    still_serving(&host, &counter, "1.0.0");
    assert!(host.history().iter().all(|entry| entry.module == "counter"), "nothing was done on nobody's behalf");
}
