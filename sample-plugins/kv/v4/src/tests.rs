//! Unit tests of kv v4: every command with its errors, expiry (on a clock the tests move), lists,
//! hashes and WRONGTYPE, batches, and the state round trip.

use std::collections::HashMap;

use ecdysis_plugin_api::StateMap;
use kv_conformance::shared::{self, RandomClock, Version, create};
use kv_conformance::{self as conformance, Case, NULL, START_MS, array, bulk, bulks, error, integer, test_clock};
use kv_interface::Kv;
use kv_interface::schema::{EntryV4, KvStateV4, ValueV4};
use serde_bytes::ByteBuf;

use crate::KvV4;
use crate::database::Value;

/// Version 3's database reads the test clock in tests.
impl Version for KvV4 {
    fn read_test_clock(&self) {
        self.database().clock = test_clock;
    }
}

/// Runs `commands` through the shared conformance runner on a fresh instance.
fn check(commands: &[&str], expected_replies: &[&str]) {
    conformance::check(commands, expected_replies, create::<KvV4>);
}

/// Runs every case of a conformance group on fresh instances.
fn check_cases(cases: Vec<Case>) {
    conformance::check_cases(cases, create::<KvV4>);
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
fn conformance_lists() {
    check_cases(conformance::lists());
}

#[test]
fn conformance_hashes() {
    check_cases(conformance::hashes());
}

#[test]
fn conformance_value_types() {
    check_cases(conformance::value_types());
}

#[test]
fn info_reports_the_version() {
    shared::info_reports_the_version::<KvV4>("4.0.0", 4);
}

#[test]
fn unknown_and_empty_commands() {
    // Which names are unknown depends on the version; the cases every version shares are in
    // `conformance::server`.
    check(&["SADD s m"], &[&error("ERR unknown command 'SADD', with args beginning with: 's' 'm' ")]);
    shared::empty_commands::<KvV4>();
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    shared::a_malformed_batch_gets_one_error_and_stops::<KvV4>();
}

#[test]
fn keys_and_values_are_binary() {
    shared::keys_and_values_are_binary::<KvV4>();
}

#[test]
fn key_count_skips_expired_keys_and_sweeps_remove_them() {
    shared::key_count_skips_expired_keys_and_sweeps_remove_them(|plugin: &KvV4| plugin.database().entries.len());
}

#[test]
fn a_tick_sweeps_expired_keys() {
    shared::a_tick_sweeps_expired_keys(|plugin: &KvV4| plugin.database().entries.len());
}

#[test]
fn the_system_clock_expires_keys() {
    shared::the_system_clock_expires_keys::<KvV4>();
}

/// A state entry.
fn entry(value: ValueV4, expires_at_ms: Option<u64>) -> EntryV4 {
    EntryV4 { value, expires_at_ms }
}

/// Bytes in the state schema's form.
fn bytes(text: &str) -> ByteBuf {
    ByteBuf::from(text.as_bytes().to_vec())
}

#[test]
fn state_survives_export_and_import() {
    // The short-lived key expires; nothing touches it before the export, which keeps it.
    let writes =
        ["MSET a 1 empty ", "SET ttl v EX 100", "SET short v PX 10", "RPUSH list x y x", "PEXPIRE list 200000", "HSET hash f 1 g 2"];
    let (state, imported) = shared::export_and_import::<KvV4>(&writes, 11);
    assert_eq!(state.entries.len(), 7);
    assert_eq!(state.entries[&bytes("ttl")], entry(ValueV4::String(bytes("v")), Some(START_MS + 100_000)));
    assert_eq!(state.entries[&bytes("short")], entry(ValueV4::String(bytes("v")), Some(START_MS + 10)));
    assert_eq!(state.entries[&bytes("list")], entry(ValueV4::List(vec![bytes("x"), bytes("y"), bytes("x")]), Some(START_MS + 200_000)));
    assert_eq!(
        state.entries[&bytes("hash")],
        entry(ValueV4::Hash(HashMap::from([(bytes("f"), bytes("1")), (bytes("g"), bytes("2"))])), None)
    );
    assert_eq!(imported.key_count(), 6);
    shared::check_batch(
        &imported,
        &["MGET a empty missing short", "PTTL ttl", "LRANGE list 0 -1", "PTTL list", "HGETALL hash", "TYPE hash"],
        &[
            &array(&[&bulk("1"), &bulk(""), NULL, NULL]),
            &integer(99_989),
            &bulks(&["x", "y", "x"]),
            &integer(199_989),
            &bulks(&["f", "1", "g", "2"]),
            "+hash\r\n",
        ],
    );
}

#[test]
fn state_with_far_expiries_reads_safely() {
    let state = KvStateV4 {
        entries: StateMap::from([
            (bytes("far"), entry(ValueV4::String(bytes("v")), Some(u64::MAX))),
            (bytes("past"), entry(ValueV4::List(vec![bytes("v")]), Some(0))),
        ]),
    };
    shared::state_with_far_expiries_reads_safely::<KvV4>(state, "LLEN past", &integer(0));
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    let plugin = shared::random_commands_never_panic_and_keep_the_state_consistent::<KvV4>(RandomClock::Moving);
    for entry in plugin.database().entries.values() {
        match &entry.value {
            Value::List(list) => assert!(!list.is_empty(), "no list is left empty"),
            Value::Hash(hash) => assert!(!hash.is_empty(), "no hash is left empty"),
            Value::Set(set) => assert!(!set.is_empty(), "no set is left empty"),
            Value::SortedSet(sorted_set) => assert!(!sorted_set.is_empty(), "no sorted set is left empty"),
            Value::String(_) => {}
        }
    }
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    shared::check_names_the_command_whose_reply_differs::<KvV4>();
}
