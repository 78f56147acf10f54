//! Unit tests of kv v4: every command with its errors, expiry (on a clock the tests move), lists,
//! hashes and WRONGTYPE, batches, and the state round trip.

use std::collections::HashMap;

use ecdysis_plugin_api::StateMap;
use kv_conformance::shared::{self, RandomClock, Version, create};
use kv_conformance::{
    self as conformance, Case, EMPTY_ARRAY, NOT_AN_INTEGER, NULL, START_MS, SYNTAX_ERROR, WRONG_TYPE, arity, array, bulk, bulks, error,
    integer, test_clock,
};
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
    check(&["XADD s * f v"], &[&error("ERR unknown command 'XADD', with args beginning with: 's' '*' 'f' 'v' ")]);
    shared::empty_commands::<KvV4>();
}

/// A SCAN-family reply: the cursor, then the members.
fn scan_page(cursor: &str, members: &[&str]) -> String {
    array(&[&bulk(cursor), &bulks(members)])
}

#[test]
fn set_members_are_added_removed_and_listed() {
    check(
        &[
            "SADD s b a b",
            "SADD s c a",
            "SCARD s",
            "SMEMBERS s",
            "SISMEMBER s a",
            "SISMEMBER s z",
            "SISMEMBER missing a",
            "SMISMEMBER s a z c",
            "SMISMEMBER missing a",
            "SREM s a z",
            "SREM missing a",
            "SREM s b c",
            "EXISTS s",
            "SMEMBERS s",
            "SCARD s",
            "SADD s ",
            "SMEMBERS s",
        ],
        &[
            &integer(2),
            &integer(1),
            &integer(3),
            &bulks(&["a", "b", "c"]),
            &integer(1),
            &integer(0),
            &integer(0),
            &array(&[&integer(1), &integer(0), &integer(1)]),
            &array(&[&integer(0)]),
            &integer(1),
            &integer(0),
            &integer(2),
            &integer(0),
            EMPTY_ARRAY,
            &integer(0),
            &integer(1),
            &bulks(&[""]),
        ],
    );
}

#[test]
fn set_commands_refuse_wrong_arities_and_types() {
    let commands = [
        "SADD s",
        "SREM s",
        "SMEMBERS",
        "SISMEMBER s",
        "SMISMEMBER s",
        "SCARD s t",
        "SPOP",
        "SRANDMEMBER",
        "SMOVE s t",
        "SINTER",
        "SUNION",
        "SDIFF",
        "SINTERSTORE d",
        "SUNIONSTORE d",
        "SDIFFSTORE d",
        "SINTERCARD 1",
        "SSCAN s",
    ];
    let names = commands.map(|command| command.split(' ').next().unwrap_or_default().to_lowercase());
    let arities: Vec<String> = names.iter().map(|name| arity(name)).collect();
    check(&commands, &arities.iter().map(String::as_str).collect::<Vec<_>>());
    let on_a_string = [
        "SADD k m",
        "SREM k m",
        "SMEMBERS k",
        "SISMEMBER k m",
        "SMISMEMBER k m",
        "SCARD k",
        "SPOP k",
        "SPOP k 0",
        "SRANDMEMBER k",
        "SRANDMEMBER k 0",
        "SMOVE k s m",
        "SMOVE s k a",
        "SINTER s k",
        "SINTER missing k",
        "SUNION k",
        "SDIFF missing k",
        "SINTERSTORE d s k",
        "SUNIONSTORE d k",
        "SDIFFSTORE d s k",
        "SINTERCARD 2 missing k",
        "SSCAN k 0",
        "SSCAN k 0 COUNT 0",
    ];
    let mut commands = vec!["SET k v", "SADD s a"];
    commands.extend(on_a_string);
    let mut replies = vec![conformance::OK.to_owned(), integer(1)];
    replies.extend(on_a_string.map(|_| WRONG_TYPE.to_owned()));
    check(&commands, &replies.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn spop_and_srandmember_pick_members() {
    check(
        &[
            "SADD s a",
            "SRANDMEMBER s",
            "SRANDMEMBER s 5",
            "SRANDMEMBER s -3",
            "SRANDMEMBER s 0",
            "SRANDMEMBER missing",
            "SRANDMEMBER missing 2",
            "SRANDMEMBER missing -2",
            "SRANDMEMBER s x",
            "SRANDMEMBER s 1 2",
            "SRANDMEMBER s -9223372036854775808",
            "SRANDMEMBER s -1000001",
            "SPOP s",
            "EXISTS s",
            "SPOP s",
            "SPOP s 2",
            "SADD s a b c",
            "SPOP s 0",
            "SPOP s -1",
            "SPOP s x",
            "SPOP s 1 2",
            "SPOP s 3",
            "EXISTS s",
        ],
        &[
            &integer(1),
            &bulk("a"),
            &bulks(&["a"]),
            &bulks(&["a", "a", "a"]),
            EMPTY_ARRAY,
            NULL,
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            NOT_AN_INTEGER,
            SYNTAX_ERROR,
            &error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"),
            &error("ERR value is out of range, kv repeats at most 1000000 members"),
            &bulk("a"),
            &integer(0),
            NULL,
            EMPTY_ARRAY,
            &integer(3),
            EMPTY_ARRAY,
            &error("ERR value is out of range, must be positive"),
            &error("ERR value is out of range, must be positive"),
            SYNTAX_ERROR,
            &bulks(&["a", "b", "c"]),
            &integer(0),
        ],
    );
}

/// Runs one command on `database` and returns its reply as text.
fn run(database: &mut crate::database::Database, command: &str) -> String {
    let mut out = Vec::new();
    database.start_command();
    crate::execute_command(
        database,
        &conformance::arguments(command).iter().map(|argument| argument.as_bytes()).collect::<Vec<_>>(),
        &mut out,
    );
    String::from_utf8(out).unwrap_or_default()
}

#[test]
fn random_picks_are_members_and_spread_over_the_set() {
    // Every pick of 2 distinct members out of a, b, c, in either order.
    let pairs: Vec<String> = ["a b", "a c", "b a", "b c", "c a", "c b"].map(|pair| bulks(&conformance::arguments(pair))).to_vec();
    let mut first_picks = std::collections::HashSet::new();
    for _ in 0..300 {
        let mut database = crate::database::Database::with_entries(HashMap::new());
        run(&mut database, "SADD s a b c");
        let random_pair = run(&mut database, "SRANDMEMBER s 2");
        assert!(pairs.contains(&random_pair), "{random_pair:?}");
        let repeated = run(&mut database, "SRANDMEMBER s -4");
        assert!(repeated.starts_with("*4\r\n") && !repeated.contains("$1\r\nd"), "{repeated:?}");
        let popped_pair = run(&mut database, "SPOP s 2");
        assert!(pairs.contains(&popped_pair), "{popped_pair:?}");
        assert_eq!(run(&mut database, "SCARD s"), integer(1));
        let last = run(&mut database, "SPOP s");
        assert!(!popped_pair.contains(&last) && ["a", "b", "c"].map(bulk).contains(&last), "{last:?} after {popped_pair:?}");
        assert_eq!(run(&mut database, "EXISTS s"), integer(0));
        first_picks.insert(last);
    }
    assert_eq!(first_picks.len(), 3, "each member is sometimes the one left");
}

#[test]
fn smove_moves_members_between_sets() {
    check(
        &[
            "SADD s a b",
            "SMOVE s d a",
            "SMEMBERS d",
            "SMOVE s d a",
            "SMOVE s s b",
            "SMOVE s s z",
            "SMOVE missing d a",
            "SET k v",
            "SMOVE missing k a",
            "SMOVE s k z",
            "SADD d b",
            "SMOVE s d b",
            "EXISTS s",
            "SMEMBERS d",
            "SMOVE d e a",
            "SMEMBERS e",
        ],
        &[
            &integer(2),
            &integer(1),
            &bulks(&["a"]),
            &integer(0),
            &integer(1),
            &integer(0),
            &integer(0),
            conformance::OK,
            &integer(0),
            WRONG_TYPE,
            &integer(1),
            &integer(1),
            &integer(0),
            &bulks(&["a", "b"]),
            &integer(1),
            &bulks(&["a"]),
        ],
    );
}

#[test]
fn sets_combine_and_store() {
    check(
        &[
            "SADD a 1 2 3 x",
            "SADD b 2 3 4 x",
            "SINTER a b",
            "SINTER a missing",
            "SUNION a missing b",
            "SDIFF a b",
            "SDIFF missing a",
            "SDIFF a a",
            "SET k v",
            "SINTERSTORE k a b",
            "TYPE k",
            "SMEMBERS k",
            "SUNIONSTORE k a b",
            "SDIFFSTORE k b a",
            "SMEMBERS k",
            "SINTERSTORE k a missing",
            "EXISTS k",
            "SDIFFSTORE a a",
            "SMEMBERS a",
            "SINTERCARD 2 a b",
            "SINTERCARD 2 a b LIMIT 0",
            "SINTERCARD 2 a b limit 1",
            "SINTERCARD 2 a b LIMIT 1 LIMIT 5",
            "SINTERCARD 2 a missing",
            "SINTERCARD 0 a",
            "SINTERCARD x a",
            "SINTERCARD 2 a",
            "SINTERCARD 1 a b",
            "SINTERCARD 1 a LIMIT",
            "SINTERCARD 1 a LIMIT -1",
            "SINTERCARD 1 a LIMIT x",
        ],
        &[
            &integer(4),
            &integer(4),
            &bulks(&["2", "3", "x"]),
            EMPTY_ARRAY,
            &bulks(&["1", "2", "3", "4", "x"]),
            &bulks(&["1"]),
            EMPTY_ARRAY,
            EMPTY_ARRAY,
            conformance::OK,
            &integer(3),
            "+set\r\n",
            &bulks(&["2", "3", "x"]),
            &integer(5),
            &integer(1),
            &bulks(&["4"]),
            &integer(0),
            &integer(0),
            &integer(4),
            &bulks(&["1", "2", "3", "x"]),
            &integer(3),
            &integer(3),
            &integer(1),
            &integer(3),
            &integer(0),
            &error("ERR numkeys should be greater than 0"),
            &error("ERR numkeys should be greater than 0"),
            &error("ERR Number of keys can't be greater than number of args"),
            SYNTAX_ERROR,
            SYNTAX_ERROR,
            &error("ERR LIMIT can't be negative"),
            &error("ERR LIMIT can't be negative"),
        ],
    );
}

#[test]
fn sscan_pages_through_a_set() {
    check(
        &[
            "SADD s a b c",
            "SSCAN s 0",
            "SSCAN s 0 MATCH a*",
            "SSCAN s 0 match [bc] COUNT 3",
            "SSCAN missing 0",
            "SSCAN missing 0 COUNT 0",
            "SSCAN s x",
            "SSCAN s 1.0",
            "SSCAN s 18446744073709551616",
            "SSCAN s 0 COUNT 0",
            "SSCAN s 0 COUNT -1",
            "SSCAN s 0 COUNT x",
            "SSCAN s 0 COUNT",
            "SSCAN s 0 TYPE set",
        ],
        &[
            &integer(3),
            &scan_page("0", &["a", "c", "b"]),
            &scan_page("0", &["a"]),
            &scan_page("0", &["c", "b"]),
            &scan_page("0", &[]),
            &scan_page("0", &[]),
            &error("ERR invalid cursor"),
            &error("ERR invalid cursor"),
            &error("ERR invalid cursor"),
            SYNTAX_ERROR,
            SYNTAX_ERROR,
            NOT_AN_INTEGER,
            SYNTAX_ERROR,
            SYNTAX_ERROR,
        ],
    );
}

#[test]
fn sscan_returns_every_member_present_throughout_an_iteration() {
    let mut database = crate::database::Database::with_entries(HashMap::new());
    let members: Vec<String> = (0..200).map(|index| format!("m{index}")).collect();
    run(&mut database, &format!("SADD s {}", members.join(" ")));
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_owned();
    for round in 0.. {
        assert!(round < 1000, "the iteration ends");
        // Members come and go between calls; the first 200 stay throughout.
        run(&mut database, &format!("SADD s extra{round}"));
        run(&mut database, &format!("SREM s extra{}", round / 2));
        let reply = run(&mut database, &format!("SSCAN s {cursor} COUNT 7"));
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines.get(2).copied().unwrap_or_default().to_owned();
        seen.extend(lines.iter().skip(5).step_by(2).map(|member| (*member).to_owned()));
        if cursor == "0" {
            break;
        }
    }
    for member in &members {
        assert!(seen.contains(member), "{member} was returned");
    }
    assert!(seen.len() > 200, "the iteration went through several pages and saw some of the extra members");
}

/// The commands [`random_set_commands_never_panic_and_keep_the_state_consistent`] picks from: the
/// set commands, and a few others that make keys of other types or expire them.
const RANDOM_SET_COMMAND_NAMES: &[&str] = &[
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SMOVE",
    "SINTER",
    "SINTERCARD",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SSCAN",
    "SET",
    "RPUSH",
    "DEL",
    "PEXPIRE",
];

/// The arguments that test picks from: a few keys and members, counts, options and bad numbers.
const RANDOM_SET_ARGUMENTS: &[&str] = &[
    "s",
    "t",
    "u",
    "s",
    "t",
    "a",
    "b",
    "c",
    "",
    "0",
    "1",
    "2",
    "-1",
    "-3",
    "10",
    "LIMIT",
    "limit",
    "MATCH",
    "COUNT",
    "*",
    "[a",
    "x",
    "99999999999999999999",
    "-9223372036854775808",
    "18446744073709551615",
];

/// A state with each set's members sorted: the order a set exports its members in is its hash
/// table's, which differs between two instances holding the same set.
fn with_sorted_sets(state: KvStateV4) -> Vec<(ByteBuf, EntryV4)> {
    let mut entries: Vec<(ByteBuf, EntryV4)> = state
        .entries
        .into_iter()
        .map(|(key, mut entry)| {
            if let ValueV4::Set(members) = &mut entry.value {
                members.sort_unstable();
            }
            (key, entry)
        })
        .collect();
    entries.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    entries
}

#[test]
fn random_set_commands_never_panic_and_keep_the_state_consistent() {
    let mut random = conformance::Random(0x2545_f491_4f6c_dd1d);
    conformance::set_test_clock(START_MS);
    let plugin = create::<KvV4>();
    for _ in 0..20_000 {
        if random.below(32) == 0 {
            conformance::set_test_clock(test_clock() + random.below(3));
        }
        let mut command = vec![random.pick(RANDOM_SET_COMMAND_NAMES)];
        for _ in 0..random.below(7) {
            command.push(random.pick(RANDOM_SET_ARGUMENTS));
        }
        let mut batch = kv_interface::CommandBatch::new();
        batch.push(&command);
        let reply = plugin.execute(batch.as_bytes());
        assert!(reply.ends_with(b"\r\n"), "{command:?} got a reply: {reply:?}");
    }
    for entry in plugin.database().entries.values() {
        if let Value::Set(set) = &entry.value {
            assert!(!set.is_empty(), "no set is left empty");
        }
    }
    let state = shared::export(&plugin);
    assert!(state.entries.iter().any(|(_, entry)| matches!(&entry.value, ValueV4::Set(members) if members.len() > 1)), "sets were made");
    assert_eq!(with_sorted_sets(shared::export(&shared::import::<KvV4>(state.clone()))), with_sorted_sets(state));
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
