//! Unit tests of kv v2: every command with its errors, expiry (on a clock the tests move), batches,
//! and the state round trip.

use ecdysis_plugin_api::StateMap;
use kv_conformance::shared::{self, RandomClock, Version, create};
use kv_conformance::{self as conformance, Case, NULL, START_MS, array, bulk, error, integer, test_clock};
use kv_interface::Kv;
use kv_interface::schema::{KvStateV2, StringEntryV2};
use serde_bytes::ByteBuf;

use crate::KvV2;

/// Version 2's database reads the test clock in tests.
impl Version for KvV2 {
    fn read_test_clock(&self) {
        self.database().clock = test_clock;
    }
}

/// Runs `commands` through the shared conformance runner on a fresh instance.
fn check(commands: &[&str], expected_replies: &[&str]) {
    conformance::check(commands, expected_replies, create::<KvV2>);
}

/// Runs every case of a conformance group on fresh instances.
fn check_cases(cases: Vec<Case>) {
    conformance::check_cases(cases, create::<KvV2>);
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
    shared::info_reports_the_version::<KvV2>("2.0.0", 2);
}

#[test]
fn unknown_and_empty_commands() {
    // Which names are unknown depends on the version; the cases every version shares are in
    // `conformance::server`.
    check(&["HSET h f v"], &[&error("ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' ")]);
    shared::empty_commands::<KvV2>();
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    shared::a_malformed_batch_gets_one_error_and_stops::<KvV2>();
}

#[test]
fn keys_and_values_are_binary() {
    shared::keys_and_values_are_binary::<KvV2>();
}

#[test]
fn key_count_skips_expired_keys_and_sweeps_remove_them() {
    shared::key_count_skips_expired_keys_and_sweeps_remove_them(|plugin: &KvV2| plugin.database().entries.len());
}

#[test]
fn a_tick_sweeps_expired_keys() {
    shared::a_tick_sweeps_expired_keys(|plugin: &KvV2| plugin.database().entries.len());
}

#[test]
fn the_system_clock_expires_keys() {
    shared::the_system_clock_expires_keys::<KvV2>();
}

/// A state entry.
fn entry(value: &str, expires_at_ms: Option<u64>) -> StringEntryV2 {
    StringEntryV2 { value: ByteBuf::from(value.as_bytes().to_vec()), expires_at_ms }
}

#[test]
fn state_survives_export_and_import() {
    // The short-lived key expires; nothing touches it before the export, which keeps it.
    let (state, imported) = shared::export_and_import::<KvV2>(&["MSET a 1 b two empty ", "SET ttl v EX 100", "SET short v PX 10"], 11);
    assert_eq!(state.entries.len(), 6);
    assert_eq!(state.entries[&ByteBuf::from(b"ttl".to_vec())], entry("v", Some(START_MS + 100_000)));
    assert_eq!(state.entries[&ByteBuf::from(b"short".to_vec())], entry("v", Some(START_MS + 10)));
    assert_eq!(state.entries[&ByteBuf::from(b"a".to_vec())], entry("1", None));
    assert_eq!(imported.key_count(), 5);
    shared::check_batch(
        &imported,
        &["MGET a b empty missing short", "PTTL ttl"],
        &[&array(&[&bulk("1"), &bulk("two"), &bulk(""), NULL, NULL]), &integer(99_989)],
    );
}

#[test]
fn state_with_far_expiries_reads_safely() {
    let state = KvStateV2 {
        entries: StateMap::from([
            (ByteBuf::from(b"far".to_vec()), entry("v", Some(u64::MAX))),
            (ByteBuf::from(b"past".to_vec()), entry("v", Some(0))),
        ]),
    };
    shared::state_with_far_expiries_reads_safely::<KvV2>(state, "GET past", NULL);
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    shared::random_commands_never_panic_and_keep_the_state_consistent::<KvV2>(RandomClock::Moving);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    shared::check_names_the_command_whose_reply_differs::<KvV2>();
}
