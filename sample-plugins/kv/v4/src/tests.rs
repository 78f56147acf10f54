//! Unit tests of kv v4: every command with its errors, expiry (on a clock the tests move), lists,
//! hashes and WRONGTYPE, batches, the state round trip, and the sorted set commands with their
//! score parsing.

use std::collections::{HashMap, HashSet};

use ecdysis_plugin_api::StateMap;
use kv_conformance::shared::{self, RandomClock, Version, create};
use kv_conformance::{
    self as conformance, Case, EMPTY_ARRAY, NOT_AN_INTEGER, NULL, START_MS, SYNTAX_ERROR, WRONG_TYPE, arity, array, bulk, bulks, error,
    integer, test_clock,
};
use kv_interface::schema::{EntryV4, KvStateV4, ValueV4};
use kv_interface::{CommandBatch, Kv};
use serde_bytes::ByteBuf;

use crate::KvV4;
use crate::database::{Entry, Value};
use crate::sorted_set::{LexRange, ScoreRange, parse_score, strtod};

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
            "SRANDMEMBER s -1048577",
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
            &error("ERR kv draws at most 1048576 members at a time"),
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

#[test]
fn random_picks_are_members_and_spread_over_the_set() {
    // Every pick of 2 distinct members out of a, b, c, in either order.
    let pairs: Vec<String> = ["a b", "a c", "b a", "b c", "c a", "c b"].map(|pair| bulks(&conformance::arguments(pair))).to_vec();
    let mut first_picks = HashSet::new();
    for _ in 0..300 {
        let plugin = create::<KvV4>();
        run(&plugin, "SADD s a b c");
        let random_pair = run(&plugin, "SRANDMEMBER s 2");
        assert!(pairs.contains(&random_pair), "{random_pair:?}");
        let repeated = run(&plugin, "SRANDMEMBER s -4");
        assert!(repeated.starts_with("*4\r\n") && !repeated.contains("$1\r\nd"), "{repeated:?}");
        let popped_pair = run(&plugin, "SPOP s 2");
        assert!(pairs.contains(&popped_pair), "{popped_pair:?}");
        assert_eq!(run(&plugin, "SCARD s"), integer(1));
        let last = run(&plugin, "SPOP s");
        assert!(!popped_pair.contains(&last) && ["a", "b", "c"].map(bulk).contains(&last), "{last:?} after {popped_pair:?}");
        assert_eq!(run(&plugin, "EXISTS s"), integer(0));
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
    let plugin = create::<KvV4>();
    let members: Vec<String> = (0..200).map(|index| format!("m{index}")).collect();
    run(&plugin, &format!("SADD s {}", members.join(" ")));
    let mut seen = HashSet::new();
    let mut cursor = "0".to_owned();
    for round in 0.. {
        assert!(round < 1000, "the iteration ends");
        // Members come and go between calls; the first 200 stay throughout.
        run(&plugin, &format!("SADD s extra{round}"));
        run(&plugin, &format!("SREM s extra{}", round / 2));
        let reply = run(&plugin, &format!("SSCAN s {cursor} COUNT 7"));
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

/// The arguments [`random_set_commands_never_panic_and_keep_the_state_consistent`] picks from: a
/// few keys and members, counts, options and bad numbers.
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

#[test]
fn random_set_commands_never_panic_and_keep_the_state_consistent() {
    let mut random = conformance::Random(0x2545_f491_4f6c_dd1d);
    conformance::set_test_clock(START_MS);
    // The set commands, and a few that make keys of other types or expire them.
    let names: Vec<&str> = conformance::RANDOM_COMMAND_NAMES
        .iter()
        .copied()
        .filter(|name| (name.starts_with('S') && !["SET", "SELECT"].contains(name)) || ["SET", "RPUSH", "DEL", "PEXPIRE"].contains(name))
        .collect();
    let plugin = create::<KvV4>();
    for _ in 0..20_000 {
        if random.below(32) == 0 {
            conformance::set_test_clock(test_clock() + random.below(3));
        }
        let mut command = vec![random.pick(&names)];
        for _ in 0..random.below(7) {
            command.push(random.pick(RANDOM_SET_ARGUMENTS));
        }
        let mut batch = CommandBatch::new();
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
    assert_eq!(shared::export(&shared::import::<KvV4>(state.clone())), state);
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

/// Sorted set scripts, each run on a fresh instance: every command with the raw reply redis-server 7.0.15 gave to it.
const SORTED_SET_SCRIPTS: &[(&str, &[(&str, &str)])] = &[
    (
        "zadd options",
        &[
            ("ZADD z 2 b 1 a", ":2\r\n"),
            ("ZADD z CH 1 a 5 b 6 d", ":2\r\n"),
            ("ZADD z XX 9 x", ":0\r\n"),
            ("ZADD z NX 9 a 3 c", ":1\r\n"),
            ("ZADD z GT CH 0 a 9 b", ":1\r\n"),
            ("ZADD z LT CH 0 a 9 d", ":1\r\n"),
            ("ZRANGE z 0 -1 WITHSCORES", "*8\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n6\r\n$1\r\nb\r\n$1\r\n9\r\n"),
            ("ZADD z XX NX 1 a", "-ERR XX and NX options at the same time are not compatible\r\n"),
            ("ZADD z GT LT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
            ("ZADD z NX GT 1 a", "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
            ("ZADD z INCR 1 a 2 b", "-ERR INCR option supports a single increment-element pair\r\n"),
            ("ZADD z 1", "-ERR wrong number of arguments for 'zadd' command\r\n"),
            ("ZADD z NX 1", "-ERR syntax error\r\n"),
            ("ZADD z x a", "-ERR value is not a valid float\r\n"),
            ("ZADD missing XX 1 a", ":0\r\n"),
            ("EXISTS missing", ":0\r\n"),
        ],
    ),
    (
        "zadd incr and zincrby",
        &[
            ("ZADD z INCR 1.5 a", "$3\r\n1.5\r\n"),
            ("ZADD z NX INCR 1 a", "$-1\r\n"),
            ("ZADD z XX INCR 1 b", "$-1\r\n"),
            ("ZADD z GT INCR -1 a", "$-1\r\n"),
            ("ZINCRBY z 0.1 a", "$18\r\n1.6000000000000001\r\n"),
            ("ZINCRBY z inf b", "$3\r\ninf\r\n"),
            ("ZINCRBY z -inf b", "-ERR resulting score is not a number (NaN)\r\n"),
            ("ZINCRBY z x a", "-ERR value is not a valid float\r\n"),
            ("ZINCRBY z -0 c", "$2\r\n-0\r\n"),
            ("ZSCORE z c", "$1\r\n0\r\n"),
            ("ZINCRBY z 1", "-ERR wrong number of arguments for 'zincrby' command\r\n"),
            ("ZINCRBY z NX 1", "-ERR syntax error\r\n"),
        ],
    ),
    (
        "scores parse and print as redis 7 0",
        &[
            ("ZADD z 1.1 a +inf b -INF c .5 d 1e3 e 0x10 f 5. g 1e17 h 0.00001 i", ":9\r\n"),
            (
                "ZRANGE z 0 -1 WITHSCORES",
                "*18\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\ni\r\n$22\r\n1.0000000000000001e-05\r\n$1\r\nd\r\n$3\r\n0.5\r\n$1\r\na\r\n$18\r\n1.1000000000000001\r\n$1\r\ng\r\n$1\r\n5\r\n$1\r\nf\r\n$2\r\n16\r\n$1\r\ne\r\n$4\r\n1000\r\n$1\r\nh\r\n$5\r\n1e+17\r\n$1\r\nb\r\n$3\r\ninf\r\n",
            ),
            ("ZADD z nan x", "-ERR value is not a valid float\r\n"),
            ("ZADD z 1e400 x", "-ERR value is not a valid float\r\n"),
            ("ZADD z  x", "-ERR value is not a valid float\r\n"),
            ("ZADD z 1_0 x", "-ERR value is not a valid float\r\n"),
            ("ZRANGEBYSCORE z  1", "*2\r\n$1\r\ni\r\n$1\r\nd\r\n"),
            ("ZRANGEBYSCORE z (1e400 +inf", "*0\r\n"),
        ],
    ),
    (
        "zrem zscore zmscore zcard",
        &[
            ("ZADD z 1 a 2 b", ":2\r\n"),
            ("ZREM z a x", ":1\r\n"),
            ("ZSCORE z b", "$1\r\n2\r\n"),
            ("ZSCORE z a", "$-1\r\n"),
            ("ZMSCORE z a b", "*2\r\n$-1\r\n$1\r\n2\r\n"),
            ("ZMSCORE missing a", "*1\r\n$-1\r\n"),
            ("ZCARD z", ":1\r\n"),
            ("ZREM z b", ":1\r\n"),
            ("EXISTS z", ":0\r\n"),
            ("ZCARD z", ":0\r\n"),
            ("ZREM z", "-ERR wrong number of arguments for 'zrem' command\r\n"),
            ("SET s v", "+OK\r\n"),
            ("ZSCORE s a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("ZREM s a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
            ("ZCARD s", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ],
    ),
    (
        "zpopmin zpopmax",
        &[
            ("ZADD z 1 a 2 b 3 c", ":3\r\n"),
            ("ZPOPMIN z", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
            ("ZPOPMAX z 5", "*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"),
            ("EXISTS z", ":0\r\n"),
            ("ZPOPMIN z", "*0\r\n"),
            ("ZPOPMIN z 0", "*0\r\n"),
            ("ZPOPMIN z -1", "-ERR value is out of range, must be positive\r\n"),
            ("ZPOPMIN z 1 2", "-ERR syntax error\r\n"),
            ("SET s v", "+OK\r\n"),
            ("ZPOPMAX s", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ],
    ),
    (
        "zrange by index",
        &[
            ("ZADD z 1 a 2 b 1 c 4 d", ":4\r\n"),
            ("ZRANGE z 0 -1 WITHSCORES", "*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nd\r\n$1\r\n4\r\n"),
            ("ZRANGE z -2 100", "*2\r\n$1\r\nb\r\n$1\r\nd\r\n"),
            ("ZRANGE z 3 1", "*0\r\n"),
            ("ZRANGE z 0 1 REV", "*2\r\n$1\r\nd\r\n$1\r\nb\r\n"),
            ("ZREVRANGE z 0 0 WITHSCORES", "*2\r\n$1\r\nd\r\n$1\r\n4\r\n"),
            ("ZRANGE z x 1", "-ERR value is not an integer or out of range\r\n"),
            ("ZRANGE z 0 -1 LIMIT 0 1", "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
            ("ZRANGE missing 0 -1", "*0\r\n"),
        ],
    ),
    (
        "zrange by score",
        &[
            ("ZADD z -inf n 1 a 2 b 2 bb 3 c inf p", ":6\r\n"),
            ("ZRANGE z (1 3 BYSCORE WITHSCORES", "*6\r\n$1\r\nb\r\n$1\r\n2\r\n$2\r\nbb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
            ("ZRANGE z (3 -inf BYSCORE REV LIMIT 1 2", "*2\r\n$1\r\nb\r\n$1\r\na\r\n"),
            ("ZRANGEBYSCORE z -inf +inf LIMIT 1 -1", "*5\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\nbb\r\n$1\r\nc\r\n$1\r\np\r\n"),
            ("ZRANGEBYSCORE z -inf +inf LIMIT -1 1", "*0\r\n"),
            ("ZREVRANGEBYSCORE z +inf (2 WITHSCORES", "*4\r\n$1\r\np\r\n$3\r\ninf\r\n$1\r\nc\r\n$1\r\n3\r\n"),
            ("ZRANGEBYSCORE z (inf +inf", "*0\r\n"),
            ("ZRANGEBYSCORE z 2 (2", "*0\r\n"),
            ("ZRANGEBYSCORE z x 1", "-ERR min or max is not a float\r\n"),
            ("ZRANGEBYSCORE z 0 1 REV", "-ERR syntax error\r\n"),
            ("ZCOUNT z (1 3", ":3\r\n"),
            ("ZCOUNT z -inf +inf", ":6\r\n"),
            ("ZCOUNT z 1 x", "-ERR min or max is not a float\r\n"),
        ],
    ),
    (
        "zrange by lex",
        &[
            ("ZADD z 0 a 0 b 0 c 0 d", ":4\r\n"),
            ("ZRANGE z [b (d BYLEX", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            ("ZRANGE z + - BYLEX REV LIMIT 1 2", "*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
            ("ZRANGEBYLEX z - [b", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            ("ZREVRANGEBYLEX z (c -", "*2\r\n$1\r\nb\r\n$1\r\na\r\n"),
            ("ZRANGEBYLEX z (b (b", "*0\r\n"),
            ("ZRANGEBYLEX z b c", "-ERR min or max not valid string range item\r\n"),
            ("ZRANGEBYLEX z - + WITHSCORES", "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
            ("ZLEXCOUNT z (a +", ":3\r\n"),
            ("ZADD y 1 a 2 b 0 c 3 d", ":4\r\n"),
            ("ZRANGEBYLEX y [b +", "*4\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nd\r\n"),
            ("ZREVRANGEBYLEX y + [b", "*2\r\n$1\r\nd\r\n$1\r\nb\r\n"),
        ],
    ),
    (
        "zrank zrevrank",
        &[
            ("ZADD z 1 b 1 a 2 c", ":3\r\n"),
            ("ZRANK z a", ":0\r\n"),
            ("ZRANK z c", ":2\r\n"),
            ("ZREVRANK z a", ":2\r\n"),
            ("ZRANK z x", "$-1\r\n"),
            ("ZRANK missing a", "$-1\r\n"),
            ("ZRANK z a b", "-ERR wrong number of arguments for 'zrank' command\r\n"),
        ],
    ),
    (
        "zrangestore",
        &[
            ("ZADD z 1 a 2 b 3 c", ":3\r\n"),
            ("SET d v", "+OK\r\n"),
            ("ZRANGESTORE d z 1 -1", ":2\r\n"),
            ("ZRANGE d 0 -1 WITHSCORES", "*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
            ("ZRANGESTORE d z (1 +inf BYSCORE REV LIMIT 0 1", ":0\r\n"),
            ("ZRANGE d 0 -1 WITHSCORES", "*0\r\n"),
            ("ZRANGESTORE d z 5 6", ":0\r\n"),
            ("EXISTS d", ":0\r\n"),
            ("ZRANGESTORE d z 0 -1 WITHSCORES", "-ERR syntax error\r\n"),
            ("SET s v", "+OK\r\n"),
            ("ZRANGESTORE d s 0 -1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ],
    ),
    (
        "zremrangeby",
        &[
            ("ZADD z 1 a 2 b 3 c 4 d 5 e", ":5\r\n"),
            ("ZREMRANGEBYRANK z -1 -1", ":1\r\n"),
            ("ZREMRANGEBYSCORE z (1 2", ":1\r\n"),
            ("ZREMRANGEBYLEX z [c [c", ":1\r\n"),
            ("ZRANGE z 0 -1", "*2\r\n$1\r\na\r\n$1\r\nd\r\n"),
            ("ZREMRANGEBYRANK z x 1", "-ERR value is not an integer or out of range\r\n"),
            ("ZREMRANGEBYSCORE z x 1", "-ERR min or max is not a float\r\n"),
            ("ZREMRANGEBYLEX z x y", "-ERR min or max not valid string range item\r\n"),
            ("ZREMRANGEBYRANK z 0 -1", ":2\r\n"),
            ("EXISTS z", ":0\r\n"),
            ("ZREMRANGEBYSCORE missing 0 1", ":0\r\n"),
        ],
    ),
    (
        "zunion zinter zdiff",
        &[
            ("ZADD a 1 x 2 y 3 z", ":3\r\n"),
            ("ZADD b 10 y 20 z 30 w", ":3\r\n"),
            (
                "ZUNION 2 a b WITHSCORES",
                "*8\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$2\r\n12\r\n$1\r\nz\r\n$2\r\n23\r\n$1\r\nw\r\n$2\r\n30\r\n",
            ),
            (
                "ZUNION 2 a b WEIGHTS 2 0.5 AGGREGATE MIN WITHSCORES",
                "*8\r\n$1\r\nx\r\n$1\r\n2\r\n$1\r\ny\r\n$1\r\n4\r\n$1\r\nz\r\n$1\r\n6\r\n$1\r\nw\r\n$2\r\n15\r\n",
            ),
            ("ZINTER 2 a b AGGREGATE MAX WITHSCORES", "*4\r\n$1\r\ny\r\n$2\r\n10\r\n$1\r\nz\r\n$2\r\n20\r\n"),
            ("ZINTER 2 a missing", "*0\r\n"),
            ("ZDIFF 2 a b WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n1\r\n"),
            ("ZUNION 0 a", "-ERR at least 1 input key is needed for 'zunion' command\r\n"),
            ("ZUNION 2 a", "-ERR syntax error\r\n"),
            ("ZUNION 1 a WEIGHTS x", "-ERR weight value is not a float\r\n"),
            ("ZUNION 1 a AGGREGATE AVG", "-ERR syntax error\r\n"),
            ("ZDIFF 1 a WEIGHTS 1", "-ERR syntax error\r\n"),
            ("SET s v", "+OK\r\n"),
            ("ZUNION 2 a s FOO", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ],
    ),
    (
        "store forms and zintercard",
        &[
            ("ZADD a 1 x 2 y", ":2\r\n"),
            ("ZADD b 3 y 4 z", ":2\r\n"),
            ("SET d v", "+OK\r\n"),
            ("ZUNIONSTORE d 2 a b", ":3\r\n"),
            ("ZRANGE d 0 -1 WITHSCORES", "*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\nz\r\n$1\r\n4\r\n$1\r\ny\r\n$1\r\n5\r\n"),
            ("ZINTERSTORE d 2 a b WEIGHTS 2 1", ":1\r\n"),
            ("ZRANGE d 0 -1 WITHSCORES", "*2\r\n$1\r\ny\r\n$1\r\n7\r\n"),
            ("ZDIFFSTORE d 2 a a", ":0\r\n"),
            ("EXISTS d", ":0\r\n"),
            ("ZUNIONSTORE d 1 a WITHSCORES", "-ERR syntax error\r\n"),
            ("ZINTERCARD 2 a b", ":1\r\n"),
            ("ZINTERCARD 2 a b LIMIT 1", ":1\r\n"),
            ("ZINTERCARD 1 a LIMIT -1", "-ERR LIMIT can't be negative\r\n"),
            ("ZINTERCARD 0 a", "-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
        ],
    ),
    (
        "zrandmember and zscan deterministic replies",
        &[
            ("ZADD z 1 a 2.5 b", ":2\r\n"),
            ("ZRANDMEMBER z 0", "*0\r\n"),
            ("ZRANDMEMBER missing", "$-1\r\n"),
            ("ZRANDMEMBER missing 1", "*0\r\n"),
            ("ZRANDMEMBER z x", "-ERR value is not an integer or out of range\r\n"),
            ("ZRANDMEMBER z 1 FOO", "-ERR syntax error\r\n"),
            ("ZSCAN z 0", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"),
            ("ZSCAN z 0 MATCH a", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
            ("ZSCAN z x", "-ERR invalid cursor\r\n"),
            ("ZSCAN z 0 COUNT 0", "-ERR syntax error\r\n"),
            ("ZSCAN missing 0", "*2\r\n$1\r\n0\r\n*0\r\n"),
        ],
    ),
    (
        "lex ranges on mixed scores follow the compact encoding",
        &[
            ("ZADD m 0 d 1 a", ":2\r\n"),
            ("ZRANGEBYLEX m [c +", "*0\r\n"),
            ("ZLEXCOUNT m [c +", ":0\r\n"),
            ("ZADD k 0 b 1 z 2 c", ":3\r\n"),
            ("ZRANGEBYLEX k [a [c", "*1\r\n$1\r\nb\r\n"),
            ("ZRANGEBYLEX k [a [c LIMIT 2 5", "*1\r\n$1\r\nc\r\n"),
            ("ZREVRANGEBYLEX k [c [a LIMIT 1 5", "*2\r\n$1\r\nz\r\n$1\r\nb\r\n"),
            ("ZREMRANGEBYLEX k [a [c", ":1\r\n"),
            ("ZRANGE k 0 -1", "*2\r\n$1\r\nz\r\n$1\r\nc\r\n"),
        ],
    ),
    (
        "negative zero",
        &[
            ("ZADD z -0 a", ":1\r\n"),
            ("ZSCORE z a", "$1\r\n0\r\n"),
            ("ZADD z INCR -0 b", "$2\r\n-0\r\n"),
            ("ZINCRBY z -0 c", "$2\r\n-0\r\n"),
            ("ZADD w 0.5 f", ":1\r\n"),
            ("ZADD x 2 a -1 g", ":2\r\n"),
            ("ZUNION 2 w x WEIGHTS -1 0 WITHSCORES", "*6\r\n$1\r\nf\r\n$4\r\n-0.5\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\ng\r\n$2\r\n-0\r\n"),
        ],
    ),
    (
        "weighted NaN products",
        &[
            ("ZADD a 5 x", ":1\r\n"),
            ("ZADD b 0 x 1 y", ":2\r\n"),
            ("ZINTER 2 a b WEIGHTS 1 inf WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n0\r\n"),
            ("ZINTER 2 a b WEIGHTS 1 inf AGGREGATE MIN WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n5\r\n"),
            ("ZUNION 2 a b WEIGHTS 1 inf WITHSCORES", "*4\r\n$1\r\nx\r\n$1\r\n5\r\n$1\r\ny\r\n$3\r\ninf\r\n"),
            ("ZINTER 2 a b WEIGHTS 0 -1 AGGREGATE MAX WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n0\r\n"),
            ("ZINTER 2 b a WEIGHTS inf 1 WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n0\r\n"),
        ],
    ),
];

/// Runs one command on `plugin` and returns its reply as text.
fn run(plugin: &KvV4, command: &str) -> String {
    let mut batch = CommandBatch::new();
    batch.push(&conformance::arguments(command));
    String::from_utf8_lossy(&plugin.execute(batch.as_bytes())).into_owned()
}

#[test]
fn sorted_set_commands_reply_as_redis_7_0_15() {
    for (name, steps) in SORTED_SET_SCRIPTS {
        let (commands, replies): (Vec<&str>, Vec<&str>) = steps.iter().copied().unzip();
        println!("sorted set script: {name}");
        check(&commands, &replies);
    }
}

#[test]
fn scores_parse_as_redis_parses_them() {
    for (argument, expected) in [
        ("1", Some(1.0)),
        ("-2.5", Some(-2.5)),
        ("+3", Some(3.0)),
        (".5", Some(0.5)),
        ("5.", Some(5.0)),
        ("1e3", Some(1000.0)),
        ("1E-2", Some(0.01)),
        ("0x10", Some(16.0)),
        ("0x1.8p1", Some(3.0)),
        ("inf", Some(f64::INFINITY)),
        ("+Infinity", Some(f64::INFINITY)),
        ("-INF", Some(f64::NEG_INFINITY)),
        ("1e-310", Some(1e-310)),
        ("0e999", Some(0.0)),
        ("", None),
        (" 1", None),
        ("1 ", None),
        ("1e", None),
        ("0x", None),
        ("1e400", None),
        ("1e-400", None),
        ("nan", None),
        ("-nan", None),
        ("1_0", None),
        ("infinit", None),
        (".", None),
    ] {
        assert_eq!(parse_score(argument.as_bytes()), expected, "{argument:?}");
    }
}

#[test]
fn score_and_lexicographic_ranges_parse_as_redis_parses_them() {
    let range = |min: &str, max: &str| ScoreRange::parse(min.as_bytes(), max.as_bytes());
    assert_eq!(range("(1.5", "+inf"), Some(ScoreRange { min: 1.5, min_exclusive: true, max: f64::INFINITY, max_exclusive: false }));
    // `strtod` leniently: leading spaces, the empty text as 0, an overflow as infinity.
    assert_eq!(range(" 1", ""), Some(ScoreRange { min: 1.0, min_exclusive: false, max: 0.0, max_exclusive: false }));
    assert_eq!(range("(", "1e400"), Some(ScoreRange { min: 0.0, min_exclusive: true, max: f64::INFINITY, max_exclusive: false }));
    for (min, max) in [("a", "1"), ("1", "nan"), ("[1", "2"), ("1 ", "2"), ("((1", "2")] {
        assert_eq!(range(min, max), None, "{min} {max}");
    }
    assert!(LexRange::parse(b"[a", b"(b").is_some());
    assert!(LexRange::parse(b"-", b"+").is_some());
    for (min, max) in [("a", "+"), ("-", "b"), ("", "+"), ("--", "+"), ("-", "+x")] {
        assert!(LexRange::parse(min.as_bytes(), max.as_bytes()).is_none(), "{min} {max}");
    }
}

#[test]
fn strtod_reports_how_much_it_read() {
    let read = |text: &str| {
        let parsed = strtod(text.as_bytes());
        (parsed.value, parsed.consumed, parsed.out_of_range)
    };
    assert_eq!(read("  12.5xyz"), (12.5, 6, false));
    assert_eq!(read("0x"), (0.0, 1, false));
    assert_eq!(read("1e+"), (1.0, 1, false));
    assert_eq!(read("-1e999"), (f64::NEG_INFINITY, 6, true));
    assert_eq!(read("1e-999"), (0.0, 6, true));
    assert_eq!(read("infinityx"), (f64::INFINITY, 8, false));
    assert_eq!(read("abc"), (0.0, 0, false));
    assert!(read("nan(123)").0.is_nan() && read("nan(123)").1 == 8);
}

#[test]
fn set_operations_read_sets_as_members_scored_1() {
    // SADD belongs to the set commands; the sets go into the database directly here.
    let plugin = create::<KvV4>();
    plugin.database().insert(b"s", Entry::persistent(Value::Set(HashSet::from([b"y".to_vec(), b"z".to_vec(), b"q".to_vec()]))));
    shared::check_batch(
        &plugin,
        &[
            "ZADD a 1 x inf y -inf z",
            "ZUNION 2 a s WITHSCORES",
            "ZINTER 2 a s WITHSCORES",
            "ZDIFF 2 a s",
            "ZINTERCARD 2 s a",
            "ZRANGE s 0 -1",
        ],
        &[
            ":3\r\n",
            "*8\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\nq\r\n$1\r\n1\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$3\r\ninf\r\n",
            "*4\r\n$1\r\nz\r\n$4\r\n-inf\r\n$1\r\ny\r\n$3\r\ninf\r\n",
            "*1\r\n$1\r\nx\r\n",
            ":2\r\n",
            WRONG_TYPE,
        ],
    );
}

#[test]
fn zrandmember_draws_members_of_the_set() {
    let plugin = create::<KvV4>();
    shared::check_batch(&plugin, &["ZADD z 1 a 2 b 3 c"], &[":3\r\n"]);
    let members = ["$1\r\na\r\n", "$1\r\nb\r\n", "$1\r\nc\r\n"];
    for _ in 0..20 {
        let reply = run(&plugin, "ZRANDMEMBER z");
        assert!(members.contains(&reply.as_str()), "{reply:?}");
        let text = run(&plugin, "ZRANDMEMBER z 2");
        let drawn: Vec<&str> = members.iter().copied().filter(|member| text.contains(member)).collect();
        assert!(text.starts_with("*2\r\n") && drawn.len() == 2, "two distinct members: {text:?}");
        assert!(run(&plugin, "ZRANDMEMBER z -5 WITHSCORES").starts_with("*10\r\n"), "five members with their scores, maybe repeated");
    }
    // kv's one limit, where Redis has none: a negative count draws at most 2^20 members.
    assert_eq!(run(&plugin, "ZRANDMEMBER z -1048576").len(), "*1048576\r\n".len() + 1_048_576 * "$1\r\na\r\n".len());
    assert_eq!(run(&plugin, "ZRANDMEMBER z -1048577"), "-ERR kv draws at most 1048576 members at a time\r\n");
}

#[test]
fn zscan_walks_a_large_set_by_index() {
    let plugin = create::<KvV4>();
    let members: Vec<String> = (0..200).map(|index| format!("{index} m{index:03}")).collect();
    shared::check_batch(&plugin, &[&format!("ZADD z {}", members.join(" "))], &[":200\r\n"]);
    let (mut cursor, mut seen) = ("0".to_owned(), 0);
    loop {
        let reply = run(&plugin, &format!("ZSCAN z {cursor} COUNT 30"));
        let mut lines = reply.split("\r\n").skip(2);
        cursor = lines.next().unwrap_or_default().to_owned();
        seen += reply.matches("$4\r\nm").count();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, 200);
}

#[test]
fn random_sorted_set_commands_never_panic_and_keep_the_state_consistent() {
    // The sorted set commands, and SET to put a string where they expect a sorted set.
    let names: Vec<&str> =
        conformance::RANDOM_COMMAND_NAMES.iter().copied().filter(|name| name.starts_with('Z') || *name == "SET").collect();
    const ARGUMENTS: &[&str] = &[
        "z",
        "y",
        "a",
        "b",
        "0",
        "1",
        "-1",
        "2",
        "3",
        "(1",
        "(inf",
        "inf",
        "-inf",
        "+inf",
        "(-inf",
        "nan",
        "1e400",
        "[a",
        "(a",
        "[b",
        "-",
        "+",
        "",
        "(",
        "[",
        "NX",
        "XX",
        "GT",
        "LT",
        "CH",
        "INCR",
        "REV",
        "BYSCORE",
        "BYLEX",
        "LIMIT",
        "WITHSCORES",
        "WEIGHTS",
        "AGGREGATE",
        "MAX",
        "MATCH",
        "COUNT",
        "-9223372036854775808",
        "9223372036854775807",
    ];
    let mut random = conformance::Random(0x2545_f491_4f6c_dd1d);
    let plugin = create::<KvV4>();
    for _ in 0..20_000 {
        let mut command = vec![random.pick(&names)];
        for _ in 0..random.below(8) {
            command.push(random.pick(ARGUMENTS));
        }
        let reply = run(&plugin, &command.join(" "));
        assert!(reply.ends_with("\r\n"), "{command:?} got a reply: {reply:?}");
    }
    for entry in plugin.database().entries.values() {
        if let Value::SortedSet(sorted_set) = &entry.value {
            assert!(!sorted_set.is_empty(), "no sorted set is left empty");
            assert!(sorted_set.iter().all(|(member, score)| sorted_set.score(member) == Some(score)), "the two indexes agree");
        }
    }
}

#[test]
fn one_set_encodes_to_the_same_bytes_whatever_order_it_was_made_in() {
    // The host's round-trip check compares encoded states byte for byte.
    let encode = |commands: &[&str]| {
        let plugin = create::<KvV4>();
        let mut batch = CommandBatch::new();
        for command in commands {
            batch.push(&conformance::arguments(command));
        }
        plugin.execute(batch.as_bytes());
        let from_encode = ecdysis_plugin_api::codec::encoded_state(&plugin).expect("encode_state");
        let from_export = ecdysis_plugin_api::migrate::encode(&shared::export(&plugin)).expect("the exported state encodes");
        assert_eq!(from_encode, from_export, "encode_state and export_state encode a set alike");
        from_encode
    };
    let members: Vec<String> = (0..100).map(|index| format!("member-{index}")).collect();
    let forward = format!("SADD s {}", members.join(" "));
    let backward = format!("SADD s {}", members.iter().rev().cloned().collect::<Vec<_>>().join(" "));
    assert_eq!(encode(&[&forward]), encode(&["SADD s x", &backward, "SREM s x"]));
}

#[test]
fn list_commands_index_search_trim_and_move() {
    check(
        &[
            "RPUSH l a b a c",
            "LINDEX l -1",
            "LINDEX l 4",
            "LINDEX missing x",
            "LSET l 1 B",
            "LSET l 9 x",
            "LSET missing 0 x",
            "LINSERT l AFTER a x",
            "LINSERT l BEFORE z x",
            "LPOS l a RANK -1",
            "LPOS l a COUNT 0",
            "LPOS l a RANK 0",
            "LREM l -1 a",
            "LRANGE l 0 -1",
            "LTRIM l 1 -1",
            "LMOVE l l LEFT RIGHT",
            "LRANGE l 0 -1",
            "RPOPLPUSH l other",
            "LTRIM l 5 10",
            "EXISTS l",
            "LPUSHX l a",
            "LMPOP 2 l other RIGHT COUNT 5",
            "EXISTS other",
            "LMPOP 1 other LEFT",
            "LMPOP 0 l LEFT",
        ],
        &[
            &integer(4),
            &bulk("c"),
            NULL,
            NULL,
            conformance::OK,
            &error("ERR index out of range"),
            &error("ERR no such key"),
            &integer(5),
            &integer(-1),
            &integer(3),
            &bulks_of_integers(&[0, 3]),
            &error(
                "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
            ),
            &integer(1),
            &bulks(&["a", "x", "B", "c"]),
            conformance::OK,
            &bulk("x"),
            &bulks(&["B", "c", "x"]),
            &bulk("x"),
            conformance::OK,
            &integer(0),
            &integer(0),
            &array(&[&bulk("other"), &bulks(&["x"])]),
            &integer(0),
            conformance::NULL_ARRAY,
            &error("ERR numkeys should be greater than 0"),
        ],
    );
}

/// An array of integers, as LPOS replies with a count.
fn bulks_of_integers(values: &[i64]) -> String {
    let items: Vec<String> = values.iter().map(|value| integer(*value)).collect();
    array(&items.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn hash_commands_count_increment_and_pick() {
    check(
        &[
            "HMSET h a 1 b 2",
            "HMGET h a z",
            "HKEYS h",
            "HVALS h",
            "HEXISTS h a",
            "HSETNX h a 9",
            "HSTRLEN h a",
            "HINCRBY h a 9223372036854775806",
            "HINCRBY h a 1",
            "HINCRBYFLOAT h f 10",
            "HINCRBYFLOAT h f 1000.1",
            "HINCRBYFLOAT h f inf",
            "HINCRBYFLOAT h b x",
            "HRANDFIELD h 5 WITHVALUES",
            "HRANDFIELD h -1048577",
            "HRANDFIELD missing",
        ],
        &[
            conformance::OK,
            &array(&[&bulk("1"), NULL]),
            &bulks(&["a", "b"]),
            &bulks(&["1", "2"]),
            &integer(1),
            &integer(0),
            &integer(1),
            &integer(i64::MAX),
            &error("ERR increment or decrement would overflow"),
            &bulk("10"),
            &bulk("1010.09999999999999998"),
            &error("ERR value is NaN or Infinity"),
            &error("ERR value is not a valid float"),
            &bulks(&["a", "9223372036854775807", "b", "2", "f", "1010.09999999999999998"]),
            &error("ERR kv draws at most 1048576 members at a time"),
            NULL,
        ],
    );
}

#[test]
fn string_writes_with_conditions_and_times_to_live() {
    check(
        &[
            "SETEX k 100 v",
            "TTL k",
            "SETEX k 0 v",
            "PSETEX k x v",
            "SETNX k w",
            "SETNX n w",
            "MSETNX a 1 n 2",
            "MSETNX a 1 b 2",
            "MSETNX a",
            "GETSET k x",
            "TTL k",
            "GETDEL k",
            "GETDEL k",
            "LPUSH l a",
            "GETSET l v",
            "GETDEL l",
        ],
        &[
            "+OK\r\n",
            &integer(100),
            &error("ERR invalid expire time in 'setex' command"),
            NOT_AN_INTEGER,
            &integer(0),
            &integer(1),
            &integer(0),
            &integer(1),
            &arity("msetnx"),
            &bulk("v"),
            &integer(-1),
            &bulk("x"),
            NULL,
            &integer(1),
            WRONG_TYPE,
            WRONG_TYPE,
        ],
    );
}

#[test]
fn getex_sets_and_removes_the_time_to_live() {
    check(
        &[
            "GETEX k EX 0",
            "SET k v",
            "GETEX k EX 100",
            "TTL k",
            "GETEX k PERSIST",
            "TTL k",
            "GETEX k EX 10 PERSIST",
            "GETEX k EX -1",
            "GETEX k PXAT 1",
            "EXISTS k",
        ],
        &[
            NULL,
            "+OK\r\n",
            &bulk("v"),
            &integer(100),
            &bulk("v"),
            &integer(-1),
            SYNTAX_ERROR,
            &error("ERR invalid expire time in 'getex' command"),
            &bulk("v"),
            &integer(0),
        ],
    );
}

#[test]
fn ranges_of_strings() {
    check(
        &[
            "SETRANGE k 2 ab",
            "GET k",
            "SETRANGE k -1 a",
            "SETRANGE k 536870912 a",
            "SETRANGE missing 3 ",
            "GETRANGE k 0 -1",
            "GETRANGE k -2 -1",
            "GETRANGE k -1 -2",
            "SUBSTR k 2 100",
            "GETRANGE missing 0 -1",
            "GETRANGE k x 1",
        ],
        &[
            &integer(4),
            &bulk("\0\0ab"),
            &error("ERR offset is out of range"),
            &error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
            &integer(0),
            &bulk("\0\0ab"),
            &bulk("ab"),
            &bulk(""),
            &bulk("ab"),
            &bulk(""),
            NOT_AN_INTEGER,
        ],
    );
}

#[test]
fn incrbyfloat_adds_floats() {
    check(
        &[
            "INCRBYFLOAT k 0.1",
            "INCRBYFLOAT k 2.9",
            "SET f 3.0e3",
            "INCRBYFLOAT f 1.5e-5",
            "INCRBYFLOAT f inf",
            "INCRBYFLOAT f nan",
            "SET s x",
            "INCRBYFLOAT s 1",
        ],
        &[
            &bulk("0.1"),
            &bulk("3"),
            "+OK\r\n",
            &bulk("3000.0000150000000001"),
            &error("ERR increment would produce NaN or Infinity"),
            &error("ERR value is not a valid float"),
            "+OK\r\n",
            &error("ERR value is not a valid float"),
        ],
    );
}

#[test]
fn renames_and_copies_keep_the_time_to_live() {
    check(
        &[
            "SADD s a",
            "EXPIRE s 100",
            "RENAME s t",
            "TTL t",
            "RENAME s t",
            "SET u 1",
            "RENAMENX t u",
            "RENAMENX t v",
            "COPY v w",
            "TTL w",
            "COPY v w",
            "COPY v w REPLACE",
            "COPY v v",
            "COPY v x DB 1",
            "COPY v x DB x",
            "COPY v x FOO",
            "TYPE x",
            "TOUCH v w missing",
        ],
        &[
            &integer(1),
            &integer(1),
            "+OK\r\n",
            &integer(100),
            &error("ERR no such key"),
            "+OK\r\n",
            &integer(0),
            &integer(1),
            &integer(1),
            &integer(100),
            &integer(0),
            &integer(1),
            &error("ERR source and destination objects are the same"),
            &error("ERR DB index is out of range"),
            NOT_AN_INTEGER,
            SYNTAX_ERROR,
            "+none\r\n",
            &integer(2),
        ],
    );
}

#[test]
fn scans_and_encodings_of_the_keyspace() {
    check(
        &[
            "RANDOMKEY",
            "SET n 12",
            "RANDOMKEY",
            "SCAN 0",
            "SCAN 0 TYPE hash",
            "SCAN 0 COUNT 0",
            "HSET h f v",
            "HSCAN h 0 MATCH f",
            "HSCAN n 0",
            "HSCAN h 0 TYPE hash",
            "OBJECT ENCODING n",
            "OBJECT ENCODING h",
            "OBJECT ENCODING missing",
            "OBJECT FREQ n",
            "OBJECT ENCODING",
        ],
        &[
            NULL,
            "+OK\r\n",
            &bulk("n"),
            &scan_page("0", &["n"]),
            &scan_page("0", &[]),
            SYNTAX_ERROR,
            &integer(1),
            &scan_page("0", &["f", "v"]),
            WRONG_TYPE,
            SYNTAX_ERROR,
            &bulk("int"),
            &bulk("listpack"),
            NULL,
            &error("ERR unknown subcommand 'FREQ'. Try OBJECT HELP."),
            &arity("object|encoding"),
        ],
    );
}

#[test]
fn lcs_finds_the_longest_common_subsequence() {
    check(
        &[
            "MSET a ohmytext b mynewtext",
            "LCS a b",
            "LCS a b LEN",
            "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN",
            "LCS a b IDX LEN",
            "LPUSH l x",
            "LCS a l",
        ],
        &[
            "+OK\r\n",
            &bulk("mytext"),
            &integer(6),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
            &error("ERR If you want both the length and indexes, please just use IDX."),
            &integer(1),
            &error("ERR The specified keys must contain string values"),
        ],
    );
}

#[test]
fn expired_keys_are_missing_to_the_key_commands() {
    check(
        &[
            "SET gone v PX 10",
            "SET dest v",
            "+20ms",
            "RENAME gone other",
            "COPY gone other",
            "TOUCH gone",
            "RANDOMKEY",
            "SCAN 0",
            "SETNX gone w",
            "SET later v PX 10",
            "+20ms",
            "RENAMENX dest later",
            "GETEX later",
            "MSETNX later 1",
        ],
        &[
            "+OK\r\n",
            "+OK\r\n",
            &error("ERR no such key"),
            &integer(0),
            &integer(0),
            &bulk("dest"),
            &scan_page("0", &["dest"]),
            &integer(1),
            "+OK\r\n",
            &integer(1),
            &bulk("v"),
            &integer(0),
        ],
    );
}

#[test]
fn scan_and_hscan_page_through_every_item_once() {
    let plugin = create::<KvV4>();
    let fields: Vec<String> = (0..100).map(|index| format!("f{index} v{index}")).collect();
    run(&plugin, &format!("HSET h {}", fields.join(" ")));
    for index in 0..50 {
        run(&plugin, &format!("SET key{index} v"));
    }
    for (command, expected) in [("HSCAN h", 200), ("SCAN", 51)] {
        let mut seen = Vec::new();
        let mut cursor = "0".to_owned();
        for round in 0.. {
            assert!(round < 1000, "the iteration of {command} ends");
            let reply = run(&plugin, &format!("{command} {cursor} COUNT 7"));
            let lines: Vec<&str> = reply.split("\r\n").collect();
            cursor = lines.get(2).copied().unwrap_or_default().to_owned();
            seen.extend(lines.iter().skip(5).step_by(2).filter(|line| !line.is_empty()).map(|item| (*item).to_owned()));
            if cursor == "0" {
                break;
            }
        }
        let unique: HashSet<&String> = seen.iter().collect();
        // Every field, value and key is distinct, and each comes exactly once.
        assert_eq!((seen.len(), unique.len()), (expected, expected), "{command}");
    }
}

/// The names v4's dispatch answers, read from its source, so that this test sees every command
/// added there.
fn dispatched_command_names() -> Vec<String> {
    let source = include_str!("lib.rs");
    let dispatch = &source[source.find("fn execute_command").expect("the dispatch")..];
    let dispatch = &dispatch[..dispatch.find("\n}\n").expect("the end of the dispatch")];
    dispatch
        .lines()
        .filter(|line| line.trim_start().starts_with("b\""))
        .flat_map(|line| {
            line.split("=>")
                .next()
                .unwrap_or_default()
                .split('|')
                .map(|name| name.trim().trim_start_matches("b\"").trim_end_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn every_command_v4_answers_is_in_the_command_table_that_transactions_check_and_the_other_way_round() {
    let plugin = create::<KvV4>();
    let dispatched = dispatched_command_names();
    assert!(dispatched.len() > 130, "the dispatch was read: {dispatched:?}");
    for name in &dispatched {
        let transaction_command = ["multi", "queue", "watch", "unwatch", "discard", "exec"].contains(&name.as_str());
        assert_eq!(kv_common::command::spec(name.as_bytes()).is_some(), !transaction_command || name == "unwatch", "{name}");
    }
    for (name, _) in kv_common::command::COMMAND_TABLE {
        let name = String::from_utf8_lossy(name);
        assert!(dispatched.contains(&name.to_string()), "{name} is in the table but not dispatched");
        let reply = run(&plugin, &name);
        assert!(!reply.contains("unknown command"), "{name}: {reply}");
    }
}

#[test]
fn watch_and_exec_in_the_plugin_run_the_queue_once_and_only_while_the_watched_keys_are_unchanged() {
    let plugin = create::<KvV4>();
    let mut queued = CommandBatch::new();
    queued.push(&["INCR", "counter"]);
    queued.push(&["UNWATCH"]);
    queued.push(&["GET", "counter"]);
    let exec = |queued: &CommandBatch, watches: &[&[u8]]| {
        let mut arguments: Vec<&[u8]> = vec![b"EXEC", queued.as_bytes()];
        arguments.extend_from_slice(watches);
        let mut batch = CommandBatch::new();
        batch.push(&arguments);
        String::from_utf8_lossy(&plugin.execute(batch.as_bytes())).into_owned()
    };
    assert_eq!(exec(&queued, &[]), "*3\r\n:1\r\n+OK\r\n$1\r\n1\r\n");
    // A token for `counter`, then a write to it: EXEC fails and runs nothing.
    let reply = run(&plugin, "WATCH counter");
    let token = reply.split("\r\n").nth(1).expect("a bulk string").rsplit_once(':').expect("token:flags").0.to_owned();
    assert_eq!(exec(&queued, &[b"counter", token.as_bytes(), b"1"]), "*3\r\n:2\r\n+OK\r\n$1\r\n2\r\n", "nothing changed since WATCH");
    let reply = run(&plugin, "WATCH counter");
    let token = reply.split("\r\n").nth(1).expect("a bulk string").rsplit_once(':').expect("token:flags").0.to_owned();
    assert_eq!(run(&plugin, "SET counter 10"), "+OK\r\n");
    assert_eq!(exec(&queued, &[b"counter", token.as_bytes(), b"1"]), "*-1\r\n");
    assert_eq!(run(&plugin, "GET counter"), "$2\r\n10\r\n");
    // EXEC released both watches: the table is empty again.
    assert_eq!(plugin.database().watches.watched_key_count(), 0);
    // A queue holding a command that cannot be queued is discarded whole.
    queued.push(&["GET"]);
    assert_eq!(exec(&queued, &[]), "-EXECABORT Transaction discarded because of previous errors.\r\n");
    assert_eq!(run(&plugin, "GET counter"), "$2\r\n10\r\n");
}

#[test]
fn entries_that_leave_or_come_back_make_the_instance_forget_its_watches() {
    use ecdysis_plugin_api::keyed::KeyedState;
    let plugin = create::<KvV4>();
    run(&plugin, "SET k v");
    let reply = run(&plugin, "WATCH k");
    let token = reply.split("\r\n").nth(1).expect("a bulk string").rsplit_once(':').expect("token:flags").0.to_owned();
    let entry = plugin.take_entry(b"other");
    assert!(entry.is_none());
    assert_eq!(plugin.database().watches.watched_key_count(), 0, "a lazy update's move forgets every watch");
    // The token taken before is not honoured, even for a key watched again since.
    run(&plugin, "WATCH k");
    let mut queued = CommandBatch::new();
    queued.push(&["GET", "k"]);
    let mut batch = CommandBatch::new();
    batch.push(&[&b"EXEC"[..], queued.as_bytes(), b"k", token.as_bytes(), b"1"]);
    assert_eq!(String::from_utf8_lossy(&plugin.execute(batch.as_bytes())), "*-1\r\n");
}

#[test]
fn blocking_list_commands_pop_what_is_there_and_reply_the_timeout_null_otherwise() {
    check(
        &[
            "BLPOP missing other 0",
            "BRPOP missing 0.5",
            "RPUSH l a b c",
            "BLPOP missing l 0",
            "BRPOP l missing 1",
            "BLPOP l 0",
            "EXISTS l",
            "RPUSH source x y",
            "BLMOVE source destination RIGHT LEFT 0",
            "BRPOPLPUSH source destination 0",
            "LRANGE destination 0 -1",
            "EXISTS source",
            "BLMOVE source destination LEFT LEFT 0.01",
            "BRPOPLPUSH source destination 0.01",
            "RPUSH m 1 2 3",
            "BLMPOP 0 2 missing m RIGHT COUNT 2",
            "BLMPOP 0 1 m LEFT COUNT 5",
            "BLMPOP 0.01 2 m missing LEFT",
        ],
        &[
            "*-1\r\n",
            "*-1\r\n",
            &integer(3),
            &bulks(&["l", "a"]),
            &bulks(&["l", "c"]),
            &bulks(&["l", "b"]),
            &integer(0),
            &integer(2),
            &bulk("y"),
            &bulk("x"),
            &bulks(&["x", "y"]),
            &integer(0),
            NULL,
            NULL,
            &integer(3),
            &array(&[&bulk("m"), &bulks(&["3", "2"])]),
            &array(&[&bulk("m"), &bulks(&["1"])]),
            "*-1\r\n",
        ],
    );
}

#[test]
fn blocking_commands_check_their_arguments_as_redis_7_0_does() {
    const NOT_A_FLOAT: &str = "-ERR timeout is not a float or out of range\r\n";
    const NEGATIVE: &str = "-ERR timeout is negative\r\n";
    check(
        &[
            "BLPOP",
            "BLPOP l",
            "BRPOP l x",
            "BLPOP l -1",
            "BLPOP l inf",
            "BZPOPMIN z nan",
            "BZPOPMAX z",
            "BLMOVE a b LEFT RIGHT",
            "BLMOVE a b UP RIGHT x",
            "BLMOVE a b LEFT RIGHT x",
            "BRPOPLPUSH a b",
            "BRPOPLPUSH a b -5",
            "BLMPOP 0 1 l",
            "BLMPOP 0 0 l LEFT",
            "BLMPOP 0 2 l LEFT",
            "BLMPOP 0 1 l UP",
            "BLMPOP 0 1 l LEFT COUNT 0",
            "BLMPOP 0 1 l LEFT COUNT 1 COUNT 1",
            "BLMPOP x 1 l UP",
            "BLMPOP x 1 l LEFT",
            "SET s v",
            "BLPOP missing s 0",
            "BZPOPMIN s 0",
            "BLMOVE s d LEFT LEFT 0",
            "RPUSH l a",
            "BRPOPLPUSH l s 0",
            "BLMPOP 0 2 s l LEFT",
            "BLPOP l s 0",
        ],
        &[
            &arity("blpop"),
            &arity("blpop"),
            NOT_A_FLOAT,
            NEGATIVE,
            NEGATIVE,
            NOT_A_FLOAT,
            &arity("bzpopmax"),
            &arity("blmove"),
            SYNTAX_ERROR,
            NOT_A_FLOAT,
            &arity("brpoplpush"),
            NEGATIVE,
            &arity("blmpop"),
            &error("ERR numkeys should be greater than 0"),
            SYNTAX_ERROR,
            SYNTAX_ERROR,
            &error("ERR count should be greater than 0"),
            SYNTAX_ERROR,
            SYNTAX_ERROR,
            NOT_A_FLOAT,
            "+OK\r\n",
            WRONG_TYPE,
            WRONG_TYPE,
            WRONG_TYPE,
            &integer(1),
            WRONG_TYPE,
            WRONG_TYPE,
            &bulks(&["l", "a"]),
        ],
    );
}

#[test]
fn bzpopmin_and_bzpopmax_pop_one_member_with_its_score() {
    check(
        &[
            "BZPOPMIN missing 0",
            "ZADD z 1 a 2.5 b 3 c",
            "BZPOPMIN missing z 0",
            "BZPOPMAX z 0",
            "BZPOPMAX z 0",
            "EXISTS z",
            "BZPOPMIN z 0.01",
        ],
        &["*-1\r\n", &integer(3), &bulks(&["z", "a", "1"]), &bulks(&["z", "c", "3"]), &bulks(&["z", "b", "2.5"]), &integer(0), "*-1\r\n"],
    );
}
