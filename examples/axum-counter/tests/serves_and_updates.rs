//! The sample end to end: the service started as a child process on a free port with counter v1,
//! hit over plain HTTP/1.1, updated to v2 through its control socket while requests keep coming,
//! and the counts carried over.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ecdysis_host::control::Client;
use ecdysis_host::protocol::{Command as ControlCommand, Reply};

/// The project's root, two directories up.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds counter v1 and v2 with cargo (in a target directory of this test's own) and returns
/// where their libraries are.
fn counter_libraries() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins");
    let output = Command::new(cargo)
        .current_dir(project_root())
        .args(["build", "--quiet", "-p", "counter-v1", "-p", "counter-v2", "--target-dir"])
        .arg(&target)
        .output()
        .expect("could not run cargo to build the counter plugins");
    assert!(output.status.success(), "building the counter plugins failed:\n{}", String::from_utf8_lossy(&output.stderr));
    target.join("debug")
}

/// The service, stopped when dropped.
struct Service {
    child: Child,
    address: SocketAddr,
    socket: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the service on a free port with `plugin`, its control socket in `directory`.
fn start(plugin: &Path, directory: &Path) -> Service {
    let socket = directory.join("ecdysis.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_axum-counter"))
        .arg("--plugin")
        .arg(plugin)
        .args(["--listen", "127.0.0.1:0", "--control"])
        .arg(&socket)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the service starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("its standard output"));
    let address = read_line_after(&mut stdout, "listening on ").parse().expect("an address");
    let announced = PathBuf::from(read_line_after(&mut stdout, "control socket: "));
    assert_eq!(announced, socket);
    Service { child, address, socket }
}

fn read_line_after(stdout: &mut BufReader<ChildStdout>, prefix: &str) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the service prints a line");
    line.trim_end().strip_prefix(prefix).unwrap_or_else(|| panic!("expected `{prefix}…`, the service printed `{line}`")).to_owned()
}

/// `GET path` over a plain TCP connection: the status code and the body.
fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("the service accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("a response");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a response with a body: {response:?}"));
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("a status line: {head:?}"));
    (status, body.to_owned())
}

/// The new value of `key` after one hit.
fn hit(address: SocketAddr, key: &str) -> i64 {
    let (status, body) = get(address, &format!("/hit/{key}"));
    assert_eq!(status, 200, "{body}");
    body.trim().parse().unwrap_or_else(|_| panic!("a count: {body:?}"))
}

fn control(socket: &Path, command: ControlCommand) -> Reply {
    Client::connect(socket, Duration::from_secs(60)).expect("the control socket answers").request(command).expect("a reply")
}

#[test]
fn hits_are_counted_and_survive_a_live_update() {
    let libraries = counter_libraries();
    let directory = tempfile::tempdir().unwrap();
    let service = start(&libraries.join("libcounter_v1.so"), directory.path());
    for expected in 1..=3 {
        assert_eq!(hit(service.address, "apples"), expected);
    }
    assert_eq!(hit(service.address, "pears"), 1);

    // Requests keep coming while the module is updated.
    let stop = Arc::new(AtomicBool::new(false));
    let client = std::thread::spawn({
        let (address, stop) = (service.address, Arc::clone(&stop));
        move || {
            let mut hits = 0;
            while !stop.load(Ordering::Relaxed) {
                hits += 1;
                assert_eq!(hit(address, "during"), hits, "a hit during the update was lost or counted twice");
            }
            hits
        }
    });
    let library = libraries.join("libcounter_v2.so");
    let reply =
        control(&service.socket, ControlCommand::Reload { module: None, library, allow_downgrade: false, force: false, lazy: false });
    let Reply::Report { report } = reply else { panic!("the update was refused: {reply:?}") };
    assert_eq!((report.from_version.to_string(), report.to_version.to_string()), ("1.0.0".into(), "2.0.0".into()));
    // A few more hits after the update, then the client stops.
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let hits_during = client.join().expect("the client's hits were all counted");

    assert_eq!(hit(service.address, "apples"), 4, "the count survived the update");
    assert_eq!(hit(service.address, "pears"), 2);
    assert_eq!(hit(service.address, "during"), hits_during + 1);
    let Reply::Status { modules } = control(&service.socket, ControlCommand::Status) else { panic!("no status") };
    assert_eq!(modules[0].version.to_string(), "2.0.0");
}
