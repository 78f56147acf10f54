//! Unit tests of kv v1: every command with its errors, batches, and the state round trip.

use kv_conformance::shared::{self, RandomClock, Version, create};
use kv_conformance::{self as conformance, Case, NULL, SYNTAX_ERROR, array, bulk, error, integer};
use kv_interface::Kv;

use crate::KvV1;

/// Version 1 reads no clock, so it keeps the default of [`Version::read_test_clock`].
impl Version for KvV1 {}

/// Runs `commands` through the shared conformance runner on a fresh instance.
fn check(commands: &[&str], expected_replies: &[&str]) {
    conformance::check(commands, expected_replies, create::<KvV1>);
}

/// Runs every case of a conformance group on fresh instances.
fn check_cases(cases: Vec<Case>) {
    conformance::check_cases(cases, create::<KvV1>);
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
    shared::info_reports_the_version::<KvV1>("1.0.0", 1);
}

#[test]
fn unknown_and_empty_commands() {
    // Which names are unknown depends on the version; the cases every version shares are in
    // `conformance::server`.
    check(&["HSET h f v"], &[&error("ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' ")]);
    shared::empty_commands::<KvV1>();
}

#[test]
fn a_malformed_batch_gets_one_error_and_stops() {
    shared::a_malformed_batch_gets_one_error_and_stops::<KvV1>();
}

#[test]
fn keys_and_values_are_binary() {
    shared::keys_and_values_are_binary::<KvV1>();
}

#[test]
fn state_survives_export_and_import() {
    let (state, imported) = shared::export_and_import::<KvV1>(&["MSET a 1 b two empty "], 0);
    assert_eq!(state.strings.len(), 4);
    assert_eq!(imported.key_count(), 4);
    shared::check_batch(&imported, &["MGET a b empty missing"], &[&array(&[&bulk("1"), &bulk("two"), &bulk(""), NULL])]);
}

#[test]
fn random_commands_never_panic_and_keep_the_state_consistent() {
    shared::random_commands_never_panic_and_keep_the_state_consistent::<KvV1>(RandomClock::Still);
}

#[test]
#[should_panic(expected = "reply to \"GET k\" (after the commands before it)")]
fn check_names_the_command_whose_reply_differs() {
    shared::check_names_the_command_whose_reply_differs::<KvV1>();
}
