//! The blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX) on a real
//! `kv-server` running kv v4: a blocked client waits in the server, holding no module call, so a
//! live update (eager or lazy) goes through while it waits and it then gets the element pushed
//! afterwards; timeouts give the null reply no sooner than asked; clients blocked on one key are
//! served in the order they blocked; a client that disconnects while blocked takes nothing; pushes
//! and ZADD from other clients wake every kind of blocking command, on a multi-threaded server and
//! on one thread; a blocking command in a pipeline holds back the commands after it, whose replies
//! then come in order; and a server asked to stop ends its blocked connections.
//!
//! A blocked client is a raw TCP connection that sends `PING` and then the blocking command in one
//! write: the server answers `PING` before it starts to wait, so once `+PONG` has arrived the
//! client is known to be blocked, with no sleep to guess it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use ecdysis_host::control::Client;
use ecdysis_host::protocol::{Command as ControlCommand, Reply};
use rustix::process::Signal;

use super::kv::{KvServer, PATIENCE, THREAD_CONFIGURATIONS, migration_in_status, reported_version};
use super::*;

/// How long a test leaves the server to do what it must not do (pop for a client that has gone),
/// before it checks that it did not.
const GRACE_FOR_A_WRONG_POP: Duration = Duration::from_millis(500);

/// A command in RESP2, as a client sends it.
fn encode(command: &str) -> Vec<u8> {
    let arguments: Vec<&str> = command.split(' ').collect();
    let mut encoded = format!("*{}\r\n", arguments.len()).into_bytes();
    for argument in arguments {
        encoded.extend_from_slice(format!("${}\r\n{argument}\r\n", argument.len()).as_bytes());
    }
    encoded
}

/// A bulk string reply.
fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// An array reply of bulk strings.
fn bulks(texts: &[&str]) -> String {
    let mut reply = format!("*{}\r\n", texts.len());
    for text in texts {
        reply.push_str(&bulk(text));
    }
    reply
}

/// A raw connection to `server`, whose reads wait at most [`PATIENCE`].
fn raw_connection(server: &KvServer) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("kv-server accepts");
    stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    stream
}

/// Reads exactly the bytes of `expected` from `stream` and checks them.
#[track_caller]
fn expect_reply(stream: &mut TcpStream, expected: &str) {
    let mut reply = vec![0_u8; expected.len()];
    stream.read_exact(&mut reply).unwrap_or_else(|error| panic!("no reply `{}`: {error}", expected.escape_debug()));
    assert_eq!(String::from_utf8_lossy(&reply), expected);
}

/// Checks that nothing has arrived on `stream` yet (the server has not replied).
#[track_caller]
fn expect_no_reply_yet(stream: &mut TcpStream) {
    stream.set_nonblocking(true).expect("a non-blocking socket");
    let mut byte = [0_u8; 1];
    let read = stream.read(&mut byte);
    stream.set_nonblocking(false).expect("a blocking socket");
    match read {
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the blocked client got something already: {other:?}"),
    }
}

/// Sends `PING` and `command` (a blocking command) in one write on a new connection, and returns
/// the connection once `+PONG` has come back: the server is then waiting on `command`'s keys.
fn blocked_client(server: &KvServer, command: &str) -> TcpStream {
    let mut stream = raw_connection(server);
    block(&mut stream, command);
    stream
}

/// Sends `PING` and `command` on `stream` and waits for `+PONG`.
fn block(stream: &mut TcpStream, command: &str) {
    let mut request = encode("PING");
    request.extend_from_slice(&encode(command));
    stream.write_all(&request).expect("kv-server reads");
    expect_reply(stream, "+PONG\r\n");
}

/// Updates `server` to another copy of kv v4 lazily; returns once the update is done (the
/// migration may go on).
fn update_lazily_to_v4(server: &KvServer) {
    let mut control = Client::connect(&server.socket, PATIENCE).expect("the control socket accepts");
    let command =
        ControlCommand::Reload { module: Some("kv".into()), library: sample("kv-v4"), allow_downgrade: false, force: false, lazy: true };
    match control.request(command) {
        Ok(Reply::Report { report }) => assert_eq!(report.to_version.to_string(), "4.0.0"),
        other => panic!("a lazy update to kv v4: {other:?}; kv-server's stderr:\n{}", server.stderr()),
    }
}

#[test]
fn a_client_blocked_in_blpop_gets_the_element_pushed_after_eager_and_lazy_live_updates() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    // Data for the lazy update to migrate.
    for index in 0..100 {
        let () = redis::cmd("RPUSH").arg(format!("list:{index}")).arg("a").arg("b").query(&mut connection).expect("RPUSH");
    }
    let mut blocked = blocked_client(&server, "BLPOP queue 0");

    // The update goes through while the client waits: it holds no module call.
    server.update_to("kv-v4", "4.0.0", false);
    expect_no_reply_yet(&mut blocked);
    let length: i64 = redis::cmd("RPUSH").arg("queue").arg("after-the-eager-update").query(&mut connection).expect("RPUSH");
    assert_eq!(length, 1, "the push replies before the blocked client is served");
    expect_reply(&mut blocked, &bulks(&["queue", "after-the-eager-update"]));

    // Again, blocked across a lazy update, whose migration moves the keys over afterwards.
    block(&mut blocked, "BLPOP queue 0");
    update_lazily_to_v4(&server);
    expect_no_reply_yet(&mut blocked);
    let () = redis::cmd("RPUSH").arg("queue").arg("after-the-lazy-update").query(&mut connection).expect("RPUSH");
    expect_reply(&mut blocked, &bulks(&["queue", "after-the-lazy-update"]));
    assert_eq!(reported_version(&mut connection), "4.0.0");
    let started = Instant::now();
    while !migration_in_status(&server).is_null() {
        assert!(started.elapsed() < PATIENCE, "the migration did not finish: {}", migration_in_status(&server));
        std::thread::sleep(Duration::from_millis(50));
    }
    let elements: Vec<String> = redis::cmd("LRANGE").arg("list:99").arg(0).arg(-1).query(&mut connection).expect("LRANGE");
    assert_eq!(elements, ["a", "b"]);
    let exists: i64 = redis::cmd("EXISTS").arg("queue").query(&mut connection).expect("EXISTS");
    assert_eq!(exists, 0, "the blocked client took the element");
}

#[test]
fn timeouts_give_the_null_reply_no_sooner_than_asked() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    let started = Instant::now();
    let popped: Option<(String, String)> = redis::cmd("BLPOP").arg("empty").arg(0.2).query(&mut connection).expect("BLPOP");
    assert_eq!(popped, None);
    assert!(started.elapsed() >= Duration::from_millis(200), "BLPOP returned after {:?}, before its 0.2 s", started.elapsed());

    let started = Instant::now();
    let moved: Option<String> =
        redis::cmd("BLMOVE").arg("empty").arg("destination").arg("LEFT").arg("RIGHT").arg(0.2).query(&mut connection).expect("BLMOVE");
    assert_eq!(moved, None);
    assert!(started.elapsed() >= Duration::from_millis(200), "BLMOVE returned after {:?}, before its 0.2 s", started.elapsed());

    let started = Instant::now();
    let moved: Option<String> =
        redis::cmd("BRPOPLPUSH").arg("empty").arg("destination").arg(0.2).query(&mut connection).expect("BRPOPLPUSH");
    assert_eq!(moved, None);
    assert!(started.elapsed() >= Duration::from_millis(200), "BRPOPLPUSH returned after {:?}, before its 0.2 s", started.elapsed());

    let mut raw = raw_connection(&server);
    for (command, null) in
        [("BLMPOP 0.05 2 empty other LEFT", "*-1\r\n"), ("BZPOPMIN empty 0.05", "*-1\r\n"), ("BZPOPMAX empty 0.05", "*-1\r\n")]
    {
        raw.write_all(&encode(command)).expect("kv-server reads");
        expect_reply(&mut raw, null);
    }
    let exists: i64 = redis::cmd("EXISTS").arg("destination").query(&mut connection).expect("EXISTS");
    assert_eq!(exists, 0, "nothing was moved");
}

#[test]
fn clients_blocked_on_one_key_are_served_in_the_order_they_blocked() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    // One push of two elements, then two pushes of one.
    for pushes in [&["RPUSH fifo first second"][..], &["RPUSH fifo one", "RPUSH fifo two"][..]] {
        let mut first_blocked = blocked_client(&server, "BLPOP fifo 0");
        let mut second_blocked = blocked_client(&server, "BLPOP fifo 0");
        let mut pushed = Vec::new();
        for push in pushes {
            let arguments: Vec<&str> = push.split(' ').collect();
            let () = redis::cmd(arguments[0]).arg(&arguments[1..]).query(&mut connection).expect("RPUSH");
            pushed.extend(arguments[2..].iter().copied());
        }
        expect_reply(&mut first_blocked, &bulks(&["fifo", pushed[0]]));
        expect_reply(&mut second_blocked, &bulks(&["fifo", pushed[1]]));
    }
    let exists: i64 = redis::cmd("EXISTS").arg("fifo").query(&mut connection).expect("EXISTS");
    assert_eq!(exists, 0);
}

#[test]
fn a_client_that_disconnects_while_blocked_takes_no_element() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    let blocked = blocked_client(&server, "BLPOP kept 0");
    drop(blocked);
    let () = redis::cmd("RPUSH").arg("kept").arg("element").query(&mut connection).expect("RPUSH");
    std::thread::sleep(GRACE_FOR_A_WRONG_POP);
    let elements: Vec<String> = redis::cmd("LRANGE").arg("kept").arg(0).arg(-1).query(&mut connection).expect("LRANGE");
    assert_eq!(elements, ["element"], "the element stays for a client that is there");
    // And the next client blocked on the key is served as usual.
    let popped: Option<(String, String)> = redis::cmd("BLPOP").arg("kept").arg(0).query(&mut connection).expect("BLPOP");
    assert_eq!(popped, Some(("kept".to_owned(), "element".to_owned())));
}

#[test]
fn pushes_and_zadd_from_other_clients_wake_every_blocking_command() {
    for threads in THREAD_CONFIGURATIONS {
        let arguments: Vec<&std::ffi::OsStr> = threads.iter().map(std::ffi::OsStr::new).collect();
        let server = KvServer::start_with("kv-v4", "4.0.0", &arguments);
        let mut connection = server.connect();
        // Each blocking command, the command of another client that serves it, and its reply.
        let cases: [(&str, &str, String); 8] = [
            ("BLPOP first second 0", "RPUSH second x y", bulks(&["second", "x"])),
            ("BRPOP list 0", "LPUSH list a b", bulks(&["list", "a"])),
            ("BLMOVE source destination LEFT RIGHT 0", "RPUSH source moved", bulk("moved")),
            ("BRPOPLPUSH other-source destination 0", "LPUSH other-source also-moved", bulk("also-moved")),
            ("BLMPOP 0 2 empty many RIGHT COUNT 2", "RPUSH many 1 2 3", format!("*2\r\n{}{}", bulk("many"), bulks(&["3", "2"]))),
            ("BZPOPMIN low 0", "ZADD low 5 m 7 n", bulks(&["low", "m", "5"])),
            ("BZPOPMAX high 0", "ZADD high 1 small 9.5 large", bulks(&["high", "large", "9.5"])),
            ("BLPOP later 0", "RENAME many later", bulks(&["later", "1"])),
        ];
        for (blocking_command, serving_command, expected) in cases {
            let mut blocked = blocked_client(&server, blocking_command);
            let serving: Vec<&str> = serving_command.split(' ').collect();
            let _: redis::Value = redis::cmd(serving[0]).arg(&serving[1..]).query(&mut connection).expect(serving_command);
            expect_reply(&mut blocked, &expected);
        }
        let destination: Vec<String> = redis::cmd("LRANGE").arg("destination").arg(0).arg(-1).query(&mut connection).expect("LRANGE");
        assert_eq!(destination, ["also-moved", "moved"], "{threads:?}");
        let remaining: Vec<String> = redis::cmd("LRANGE").arg("list").arg(0).arg(-1).query(&mut connection).expect("LRANGE");
        assert_eq!(remaining, ["b"], "{threads:?}");
    }
}

#[test]
fn a_blocking_command_in_a_pipeline_holds_back_the_commands_after_it() {
    let server = KvServer::start("kv-v4", "4.0.0");
    let mut connection = server.connect();
    let mut pipelining = raw_connection(&server);
    let mut pipeline = encode("SET before 1");
    pipeline.extend_from_slice(&encode("BLPOP gate 0"));
    pipeline.extend_from_slice(&encode("INCR after"));
    pipeline.extend_from_slice(&encode("GET before"));
    pipeline.extend_from_slice(&encode("BLPOP missing 0.05"));
    pipeline.extend_from_slice(&encode("INCR after"));
    pipelining.write_all(&pipeline).expect("kv-server reads");
    // The command before the blocking one ran and its reply came back; the ones after it wait.
    expect_reply(&mut pipelining, "+OK\r\n");
    let after: Option<i64> = redis::cmd("GET").arg("after").query(&mut connection).expect("GET");
    assert_eq!(after, None, "the INCR after the blocking command has not run");
    expect_no_reply_yet(&mut pipelining);
    // What the client sends while it is blocked is kept, and served after the rest of the pipeline.
    pipelining.write_all(&encode("ECHO sent-while-blocked")).expect("kv-server reads");
    let () = redis::cmd("RPUSH").arg("gate").arg("open").query(&mut connection).expect("RPUSH");
    expect_reply(&mut pipelining, &format!("{}:1\r\n{}*-1\r\n:2\r\n{}", bulks(&["gate", "open"]), bulk("1"), bulk("sent-while-blocked")));
}

#[test]
fn a_server_asked_to_stop_ends_its_blocked_connections() {
    let mut server = KvServer::start("kv-v4", "4.0.0");
    let mut blocked = blocked_client(&server, "BLPOP never 0");
    let (status, lines) = server.stop_with(Signal::TERM);
    assert!(status.success(), "kv-server exits cleanly: {status}");
    assert_eq!(lines.last().map(String::as_str), Some("shut down"));
    let mut rest = Vec::new();
    blocked.read_to_end(&mut rest).expect("the connection ends");
    assert_eq!(rest, b"", "the blocked client gets no reply, only the end of the connection");
}
