//! Unit tests of kv v1: every command with its errors, batches, and the state round trip.

use ecdysis_plugin_api::Plugin;
use kv_conformance::{
    self as conformance, Case, NULL, OK, RANDOM_ARGUMENTS, RANDOM_COMMAND_NAMES, Random, SYNTAX_ERROR, arguments, array, bulk, error,
    integer,
};
use kv_interface::{CommandBatch, Kv};

use crate::KvV1;

/// Runs `commands` through the shared conformance runner on a fresh instance.
fn check(commands: &[&str], expected_replies: &[&str]) {
    conformance::check(commands, expected_replies, || KvV1::create().expect("the plugin starts"));
}

/// Runs every case of a conformance group on fresh instances.
fn check_cases(cases: Vec<Case>) {
    conformance::check_cases(cases, || KvV1::create().expect("the plugin starts"));
}

#[test]
fn conformance_strings() {
    check_cases(conformance::strings());
}

#[test]
fn conformance_keyspace() {
    check_cases(conformance::keyspace());
}

#[test]
fn conformance_server() {
    check_cases(conformance::server());
}

#[test]
fn set_options_of_later_versions_are_syntax_errors() {
    // The conditions NX and XX are in `conformance::strings`; version 1 knows no other option.
    check(
        &[
            "SET k v NX XX",
            "SET k v XX NX",
            "SET k v EX 10",
            "SET k v PX 10",
            "SET k v KEEPTTL",
            "SET k v GET",
            "SET k v bogus",
            "EXISTS k",
        ],
        &[SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, SYNTAX_ERROR, &integer(0)],
    );
}

#[test]
fn info_reports_the_version() {
    let plugin = KvV1::create().expect("the plugin starts");
    for command in ["INFO", "INFO all", "INFO server keyspace"] {
        let mut batch = CommandBatch::new();
        batch.push(&arguments(command));
        let reply = String::from_utf8(plugin.execute(batch.as_bytes())).expect("INFO is text");
        assert!(reply.contains("\r\n# Server\r\nredis_version:7.0.15\r\necdysis_kv_version:1.0.0\r\necdysis_kv_schema:1\r\n"), "{reply:?}");
        assert!(reply.contains("\r\n\r\n# Keyspace\r\n"), "{reply:?}");
        let length: usize = reply[1..reply.find("\r\n").expect("a header")].parse().expect("a length");
        assert_eq!(length + format!("${length}\r\n\r\n").len(), reply.len(), "{reply:?}");
    }
}

#[test]
fn unknown_and_empty_commands() {
    // Which names are unknown depends on the version; the cases every version shares are in
    // `conformance::server`.
    check(&["HSET h f v"], &[&error("ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' ")]);
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push::<&str>(&[]);
    batch.push(&["PING"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"-ERR empty command\r\n+PONG\r\n");
    assert_eq!(plugin.execute(&[]), b"");
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "a", "1"]);
    batch.push(&["SET", "b", "2"]);
    let bytes = batch.as_bytes();
    // Cut the second command short: the first runs, the second gets the error.
    let replies = plugin.execute(&bytes[..bytes.len() - 1]);
    assert_eq!(replies, b"+OK\r\n-ERR malformed command batch\r\n");
    assert_eq!(plugin.key_count(), 1);
}

#[test]
fn keys_and_values_are_binary() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push::<&[u8]>(&[b"SET", b"\x00key\xff", b"line\r\nbreak"]);
    batch.push::<&[u8]>(&[b"GET", b"\x00key\xff"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$11\r\nline\r\nbreak\r\n");
}

#[test]
fn state_survives_export_and_import() {
    let plugin = KvV1::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["MSET", "a", "1", "b", "two", "empty", ""]);
    batch.push::<&[u8]>(&[b"SET", b"\xffbinary", b"\x00\x01"]);
    plugin.execute(batch.as_bytes());
    let state = plugin.export_state().expect("export");
    assert_eq!(plugin.export_state().expect("export"), state, "exporting changes nothing");
    assert_eq!(state.strings.len(), 4);

    let imported = KvV1::from_state(state.clone()).expect("import");
    assert_eq!(imported.key_count(), 4);
    assert_eq!(imported.export_state().expect("export"), state);
    let mut reads = CommandBatch::new();
    reads.push(&["MGET", "a", "b", "empty", "missing"]);
    reads.push::<&[u8]>(&[b"GET", b"\xffbinary"]);
    assert_eq!(
        imported.execute(reads.as_bytes()),
        [array(&[&bulk("1"), &bulk("two"), &bulk(""), NULL]), bulk("\x00\x01")].concat().as_bytes()
    );
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let plugin = KvV1::create().expect("the plugin starts");
    for _ in 0..20_000 {
        let mut command = vec![random.pick(RANDOM_COMMAND_NAMES)];
        for _ in 0..random.below(7) {
            command.push(random.pick(RANDOM_ARGUMENTS));
        }
        let mut batch = CommandBatch::new();
        batch.push(&command);
        let reply = plugin.execute(batch.as_bytes());
        assert!(reply.ends_with(b"\r\n"), "{command:?} got a reply: {reply:?}");
    }
    let state = plugin.export_state().expect("export");
    assert_eq!(KvV1::from_state(state.clone()).expect("import").export_state().expect("export"), state);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    check(&["SET k v", "GET k", "PING"], &[OK, &bulk("w"), "+PONG\r\n"]);
}
