//! The tests every kv plugin version shares beyond conformance cases: batches as bytes, INFO's
//! version lines, expiry on the real clock and the sweeps, the state round trip and randomized
//! commands. Each takes the version as a type that implements [`Version`], and the facts that
//! differ between versions (INFO's version, what a version stores) as arguments; each version's
//! unit tests call them from tests of the same names.

use std::fmt::Debug;

use ecdysis_plugin_api::Plugin;
use kv_interface::{CommandBatch, Kv};

use crate::{OK, RANDOM_ARGUMENTS, RANDOM_COMMAND_NAMES, Random, START_MS, arguments, bulk, check, integer, set_test_clock, test_clock};

/// A kv plugin version under test: its lifecycle (create, export, import) and its interface.
pub trait Version: Plugin<State: Clone + PartialEq + Debug> + Kv {
    /// Makes the instance read the test clock instead of the system's. Versions without expiry
    /// read no clock and keep the default, which does nothing.
    fn read_test_clock(&self) {}
}

/// An instance made by `Plugin::create`, reading the test clock.
///
/// # Panics
/// When the plugin does not start.
#[must_use]
pub fn create<V: Version>() -> V {
    let plugin = V::create().expect("the plugin starts");
    plugin.read_test_clock();
    plugin
}

/// An instance made by `Plugin::from_state`, reading the test clock.
///
/// # Panics
/// When the plugin refuses the state.
#[must_use]
pub fn import<V: Version>(state: V::State) -> V {
    let plugin = V::from_state(state).expect("the plugin takes the state");
    plugin.read_test_clock();
    plugin
}

/// A snapshot of the instance's state.
///
/// # Panics
/// When the export fails.
#[must_use]
pub fn export<V: Version>(plugin: &V) -> V::State {
    let state = plugin.export_state().expect("export");
    // The export entry point encodes the plugin's own schema with `encode_state`: it must give the
    // same state.
    let encoded = ecdysis_plugin_api::codec::encoded_state(plugin).expect("encode_state");
    let decoded: V::State = ecdysis_plugin_api::migrate::decode(&encoded).expect("what encode_state writes decodes as the schema");
    assert_eq!(decoded, state, "encode_state encodes what export_state returns");
    state
}

/// Runs `commands` as one batch on `plugin` and compares the replies.
///
/// # Panics
/// When the replies differ.
pub fn check_batch<K: Kv>(plugin: &K, commands: &[&str], expected_replies: &[&str]) {
    let mut batch = CommandBatch::new();
    for command in commands {
        batch.push(&arguments(command));
    }
    assert_eq!(String::from_utf8_lossy(&plugin.execute(batch.as_bytes())), expected_replies.concat());
}

/// INFO, INFO all and INFO with sections name the version (`version`, e.g. `1.0.0`) and its state
/// schema (`schema`) in the server section, have a keyspace section, and are one bulk string.
///
/// # Panics
/// When INFO replies otherwise.
pub fn info_reports_the_version<V: Version>(version: &str, schema: u32) {
    let plugin = create::<V>();
    let server = format!("\r\n# Server\r\nredis_version:7.0.15\r\necdysis_kv_version:{version}\r\necdysis_kv_schema:{schema}\r\n");
    for command in ["INFO", "INFO all", "INFO server keyspace"] {
        let mut batch = CommandBatch::new();
        batch.push(&arguments(command));
        let reply = String::from_utf8(plugin.execute(batch.as_bytes())).expect("INFO is text");
        assert!(reply.contains(&server), "{reply:?}");
        assert!(reply.contains("\r\n\r\n# Keyspace\r\n"), "{reply:?}");
        let length: usize = reply[1..reply.find("\r\n").expect("a header")].parse().expect("a length");
        assert_eq!(length + format!("${length}\r\n\r\n").len(), reply.len(), "{reply:?}");
    }
}

/// A command with no arguments at all gets an error and the batch goes on; an empty batch gets no
/// reply.
///
/// # Panics
/// When the replies differ.
pub fn empty_commands<V: Version>() {
    let plugin = create::<V>();
    let mut batch = CommandBatch::new();
    batch.push::<&str>(&[]);
    batch.push(&["PING"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"-ERR empty command\r\n+PONG\r\n");
    assert_eq!(plugin.execute(&[]), b"");
}

/// A batch cut short runs the commands before the cut and gets one error for the rest.
///
/// # Panics
/// When the replies or the key count differ.
pub fn a_malformed_batch_gets_one_error_and_stops<V: Version>() {
    let plugin = create::<V>();
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "a", "1"]);
    batch.push(&["SET", "b", "2"]);
    let bytes = batch.as_bytes();
    // Cut the second command short: the first runs, the second gets the error.
    let replies = plugin.execute(&bytes[..bytes.len() - 1]);
    assert_eq!(replies, b"+OK\r\n-ERR malformed command batch\r\n");
    assert_eq!(plugin.key_count(), 1);
}

/// Keys and values may hold any bytes, CR and LF included.
///
/// # Panics
/// When the replies differ.
pub fn keys_and_values_are_binary<V: Version>() {
    let plugin = create::<V>();
    let mut batch = CommandBatch::new();
    batch.push::<&[u8]>(&[b"SET", b"\x00key\xff", b"line\r\nbreak"]);
    batch.push::<&[u8]>(&[b"GET", b"\x00key\xff"]);
    assert_eq!(plugin.execute(batch.as_bytes()), b"+OK\r\n$11\r\nline\r\nbreak\r\n");
}

/// An instance on the test clock at [`START_MS`] holding `short` (which expires 10 ms later), `long`
/// (100 s later) and `forever`.
fn three_keys_one_expiring_in_ten_milliseconds<V: Version>() -> V {
    set_test_clock(START_MS);
    let plugin = create::<V>();
    let mut batch = CommandBatch::new();
    batch.push(&["SET", "short", "v", "PX", "10"]);
    batch.push(&["SET", "long", "v", "PX", "100000"]);
    batch.push(&["SET", "forever", "v"]);
    plugin.execute(batch.as_bytes());
    plugin
}

/// For versions with expiry: the key count leaves out a key whose time to live has passed at
/// once, while the database still stores it until a sweep removes it. `stored` counts the
/// entries the version's database stores, expired ones included.
///
/// # Panics
/// When the counts differ.
pub fn key_count_skips_expired_keys_and_sweeps_remove_them<V: Version>(stored: impl Fn(&V) -> usize) {
    let plugin = three_keys_one_expiring_in_ten_milliseconds::<V>();
    assert_eq!(plugin.key_count(), 3);
    set_test_clock(START_MS + 11);
    assert_eq!(plugin.key_count(), 2);
    assert_eq!(stored(&plugin), 3, "nothing touched the expired key yet");
    let mut pings = CommandBatch::new();
    for _ in 0..1024 {
        pings.push(&["PING"]);
    }
    plugin.execute(pings.as_bytes());
    assert_eq!(stored(&plugin), 2, "a sweep removed the expired key");
}

/// For versions with expiry: a tick sweeps every expired key, with no command, and asks to be
/// ticked again. `stored` counts the entries the version's database stores, expired ones included.
///
/// # Panics
/// When the tick leaves an expired key, removes a live one, or asks for no more ticks.
pub fn a_tick_sweeps_expired_keys<V: Version>(stored: impl Fn(&V) -> usize) {
    let plugin = three_keys_one_expiring_in_ten_milliseconds::<V>();
    assert!(plugin.tick().is_some(), "a version with expiry wants ticks");
    assert_eq!(stored(&plugin), 3, "nothing has expired yet");
    set_test_clock(START_MS + 11);
    assert!(plugin.tick().is_some(), "and goes on wanting them");
    assert_eq!(stored(&plugin), 2, "the tick removed the expired key");
    assert_eq!(plugin.key_count(), 2);
}

/// For versions with expiry: an instance made by `Plugin::create` reads the system clock, and a
/// key expires as real time passes.
///
/// # Panics
/// When the plugin does not start, or the key does not expire.
pub fn the_system_clock_expires_keys<V: Version>() {
    let plugin = V::create().expect("the plugin starts");
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

/// The binary key [`export_and_import`] writes, and its value.
const BINARY_KEY: (&[u8], &[u8]) = (b"\xffbinary", b"\x00\x01");

/// The shared half of the state round trip. Runs `writes` and a write of the binary key `\xffbinary`
/// (value `\x00\x01`) on a fresh instance with the test clock at [`START_MS`], moves the clock
/// forward by `elapsed_ms` and exports the state; checks that exporting changes nothing, that an
/// instance made from the state exports the same state and that it reads the binary key back.
/// Returns the state and that instance, for the version to check what it stores and reads.
///
/// # Panics
/// When a check fails.
#[must_use]
pub fn export_and_import<V: Version>(writes: &[&str], elapsed_ms: u64) -> (V::State, V) {
    set_test_clock(START_MS);
    let plugin = create::<V>();
    let mut batch = CommandBatch::new();
    for write in writes {
        batch.push(&arguments(write));
    }
    batch.push(&[&b"SET"[..], BINARY_KEY.0, BINARY_KEY.1]);
    plugin.execute(batch.as_bytes());
    set_test_clock(START_MS + elapsed_ms);
    let state = export(&plugin);
    assert_eq!(export(&plugin), state, "exporting changes nothing");

    let imported = import::<V>(state.clone());
    assert_eq!(export(&imported), state, "importing keeps the state as it was, expired keys too");
    let mut read = CommandBatch::new();
    read.push(&[&b"GET"[..], BINARY_KEY.0]);
    assert_eq!(imported.execute(read.as_bytes()), b"$2\r\n\x00\x01\r\n");
    (state, imported)
}

/// For versions with expiry: an imported state whose key `far` (a string) expires at `u64::MAX`
/// and whose key `past` expired at 0 reads without overflow. `read_past` is a command that reads
/// `past` as the type the version stores it as, and `past_reply` its reply, the one to a missing key.
///
/// # Panics
/// When the replies differ.
pub fn state_with_far_expiries_reads_safely<V: Version>(state: V::State, read_past: &str, past_reply: &str) {
    set_test_clock(START_MS);
    let plugin = import::<V>(state);
    check_batch(
        &plugin,
        &["TTL far", "PTTL far", "EXPIRETIME far", "EXPIRE far 10 GT", "EXPIRE far 10 LT", "TTL far", read_past, "EXPIRE past 10"],
        &[
            &integer(i64::MAX / 1000),
            &integer(i64::MAX),
            &integer(i64::MAX / 1000),
            &integer(0),
            &integer(1),
            &integer(10),
            past_reply,
            &integer(0),
        ],
    );
}

/// Whether the randomized test moves the test clock between commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RandomClock {
    /// The clock stays at [`START_MS`]: for versions without expiry.
    Still,
    /// Before one command in 16 on average, the clock moves forward by up to 3 seconds.
    Moving,
}

/// Runs 20,000 random commands (from [`RANDOM_COMMAND_NAMES`] and [`RANDOM_ARGUMENTS`]), one a
/// batch: each gets a reply, none panics, and the state survives a round trip at the end. Returns
/// the instance, for the version to check its own invariants.
///
/// # Panics
/// When a reply is cut short or the state does not survive the round trip.
pub fn random_commands_never_panic_and_keep_the_state_consistent<V: Version>(clock: RandomClock) -> V {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    set_test_clock(START_MS);
    let plugin = create::<V>();
    for _ in 0..20_000 {
        if clock == RandomClock::Moving && random.below(16) == 0 {
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
    let state = export(&plugin);
    assert_eq!(export(&import::<V>(state.clone())), state);
    plugin
}

/// The runner's failure names the first command whose reply differs; the version's test expects
/// the panic.
///
/// # Panics
/// Always: that is what the test checks.
pub fn check_names_the_command_whose_reply_differs<V: Version>() {
    check(&["SET k v", "GET k", "PING"], &[OK, &bulk("w"), "+PONG\r\n"], create::<V>);
}
