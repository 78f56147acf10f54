//! Unit tests of kv v2: every command with its errors, expiry (on a clock the tests move), batches,
//! and the state round trip.

use std::collections::HashMap;

use ecdysis_plugin_api::Plugin;
use kv_conformance::{
    self as conformance, Case, NULL, OK, RANDOM_ARGUMENTS, RANDOM_COMMAND_NAMES, Random, START_MS, arguments, array, bulk, error, integer,
    set_test_clock, test_clock,
};
use kv_interface::schema::{KvStateV2, StringEntryV2};
use kv_interface::{CommandBatch, Kv};
use serde_bytes::ByteBuf;

use crate::KvV2;

/// An instance made by `Plugin::create`, reading the test clock.
fn create() -> KvV2 {
    let plugin = KvV2::create().expect("the plugin starts");
    plugin.database().clock = test_clock;
    plugin
}

/// An instance made by `Plugin::from_state`, reading the test clock.
fn import(state: KvStateV2) -> KvV2 {
    let plugin = KvV2::from_state(state).expect("the plugin takes the state");
    plugin.database().clock = test_clock;
    plugin
}

/// Runs `commands` through the shared conformance runner on a fresh instance.
fn check(commands: &[&str], expected_replies: &[&str]) {
    conformance::check(commands, expected_replies, create);
}

/// Runs every case of a conformance group on fresh instances.
fn check_cases(cases: Vec<Case>) {
    conformance::check_cases(cases, create);
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
fn conformance_expiry() {
    check_cases(conformance::expiry());
}

#[test]
fn info_reports_the_version() {
    let plugin = create();
    for command in ["INFO", "INFO all", "INFO server keyspace"] {
        let mut batch = CommandBatch::new();
        batch.push(&arguments(command));
        let reply = String::from_utf8(plugin.execute(batch.as_bytes())).expect("INFO is text");
        assert!(reply.contains("\r\n# Server\r\nredis_version:7.0.15\r\necdysis_kv_version:2.0.0\r\necdysis_kv_schema:2\r\n"), "{reply:?}");
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
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push::<&str>(&[]);
    batch.push(&["PING"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"-ERR empty command\r\n+PONG\r\n");
    assert_eq!(plugin.execute(&[]), b"");
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    let plugin = create();
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
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push::<&[u8]>(&[b"SET", b"\x00key\xff", b"line\r\nbreak"]);
    batch.push::<&[u8]>(&[b"GET", b"\x00key\xff"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$11\r\nline\r\nbreak\r\n");
}

#[test]
fn key_count_skips_expired_keys_and_sweeps_remove_them() {
    set_test_clock(START_MS);
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "short", "v", "PX", "10"]);
    batch.push(&["SET", "long", "v", "PX", "100000"]);
    batch.push(&["SET", "forever", "v"]);
    plugin.execute(batch.as_bytes());
    assert_eq!(plugin.key_count(), 3);
    set_test_clock(START_MS + 11);
    assert_eq!(plugin.key_count(), 2);
    assert_eq!(plugin.database().entries.len(), 3, "nothing touched the expired key yet");
    let mut pings = CommandBatch::new();
    for _ in 0..1024 {
        pings.push(&["PING"]);
    }
    plugin.execute(pings.as_bytes());
    assert_eq!(plugin.database().entries.len(), 2, "a sweep removed the expired key");
}

#[test]
fn the_system_clock_expires_keys() {
    let plugin = KvV2::create().expect("the plugin starts");
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "k", "v", "PX", "30"]);
    batch.push(&["GET", "k"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$1\r\nv\r\n");
    std::thread::sleep(std::time::Duration::from_millis(60));
    let mut read = CommandBatch::new();
    read.push(&["GET", "k"]);
    read.push(&["TTL", "k"]);
    assert_eq!(plugin.execute(read.as_bytes()), b"$-1\r\n:-2\r\n");
    assert_eq!(plugin.key_count(), 0);
}

/// A state entry.
fn entry(value: &str, expires_at_ms: Option<u64>) -> StringEntryV2 {
    StringEntryV2 { value: ByteBuf::from(value.as_bytes().to_vec()), expires_at_ms }
}

#[test]
fn state_survives_export_and_import() {
    set_test_clock(START_MS);
    let plugin = create();
    let mut batch = CommandBatch::new();
    batch.push(&["MSET", "a", "1", "b", "two", "empty", ""]);
    batch.push(&["SET", "ttl", "v", "EX", "100"]);
    batch.push(&["SET", "short", "v", "PX", "10"]);
    batch.push::<&[u8]>(&[b"SET", b"\xffbinary", b"\x00\x01"]);
    plugin.execute(batch.as_bytes());
    // The short-lived key expires; nothing touches it before the export, which keeps it.
    set_test_clock(START_MS + 11);
    let state = plugin.export_state().expect("export");
    assert_eq!(plugin.export_state().expect("export"), state, "exporting changes nothing");
    assert_eq!(state.entries.len(), 6);
    assert_eq!(state.entries[&ByteBuf::from(b"ttl".to_vec())], entry("v", Some(START_MS + 100_000)));
    assert_eq!(state.entries[&ByteBuf::from(b"short".to_vec())], entry("v", Some(START_MS + 10)));
    assert_eq!(state.entries[&ByteBuf::from(b"a".to_vec())], entry("1", None));

    let imported = import(state.clone());
    assert_eq!(imported.export_state().expect("export"), state, "importing keeps expired keys too");
    assert_eq!(imported.key_count(), 5);
    let mut reads = CommandBatch::new();
    reads.push(&["MGET", "a", "b", "empty", "missing", "short"]);
    reads.push(&["PTTL", "ttl"]);
    reads.push::<&[u8]>(&[b"GET", b"\xffbinary"]);
    let expected = [array(&[&bulk("1"), &bulk("two"), &bulk(""), NULL, NULL]), integer(99_989), bulk("\x00\x01")].concat();
    assert_eq!(String::from_utf8_lossy(&imported.execute(reads.as_bytes())), expected);
}

#[test]
fn state_with_far_expiries_reads_safely() {
    set_test_clock(START_MS);
    let state = KvStateV2 {
        entries: HashMap::from([
            (ByteBuf::from(b"far".to_vec()), entry("v", Some(u64::MAX))),
            (ByteBuf::from(b"past".to_vec()), entry("v", Some(0))),
        ]),
    };
    let plugin = import(state);
    check_batch(
        &plugin,
        &["TTL far", "PTTL far", "EXPIRETIME far", "EXPIRE far 10 GT", "EXPIRE far 10 LT", "TTL far", "GET past", "EXPIRE past 10"],
        &[
            &integer(i64::MAX / 1000),
            &integer(i64::MAX),
            &integer(i64::MAX / 1000),
            &integer(0),
            &integer(1),
            &integer(10),
            NULL,
            &integer(0),
        ],
    );
}

/// Runs `commands` as one batch on `plugin` and compares the replies.
fn check_batch(plugin: &KvV2, commands: &[&str], expected_replies: &[&str]) {
    let mut batch = CommandBatch::new();
    for command in commands {
        batch.push(&arguments(command));
    }
    assert_eq!(String::from_utf8_lossy(&plugin.execute(batch.as_bytes())), expected_replies.concat());
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    set_test_clock(START_MS);
    let plugin = create();
    for _ in 0..20_000 {
        if random.below(16) == 0 {
            set_test_clock(test_clock() + random.below(3000));
        }
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
    assert_eq!(import(state.clone()).export_state().expect("export"), state);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    check(&["SET k v", "GET k", "PING"], &[OK, &bulk("w"), "+PONG\r\n"]);
}
