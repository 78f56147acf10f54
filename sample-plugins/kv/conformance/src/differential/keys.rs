//! The differential table of the key commands kv v4 added: RENAME, RENAMENX, COPY, TOUCH,
//! RANDOMKEY, SCAN and OBJECT ENCODING, on every value type, with times to live kept and their
//! errors; and the scans of the keyspace and of hashes (SCAN and HSCAN), which share the cursor walk
//! of SSCAN.
//!
//! Redis lists keys and fields in its hash tables' order: scans that return everything in one page
//! are compared unordered, and pages that depend on each server's cursors are not compared.

use super::{SCAN_CURSORS, Script, script};

/// Why HSCAN with a COUNT below a small hash's size differs.
const LISTPACK_WHOLE: &str = "Redis returns a small hash (a listpack) whole whatever COUNT says; kv pages by COUNT";

/// Why RANDOMKEY among several keys is not compared.
const RANDOM_KEY: &str = "the key is drawn at random";

/// Why COPY to another database differs.
const ONE_DATABASE: &str = "kv has one database, 0: COPY to another index is kv's `DB index is out of range`, Redis copies";

/// Why OBJECT's other subcommands differ.
const ENCODING_ONLY: &str = "kv keeps no access times, frequencies or reference counts: OBJECT knows ENCODING only";

/// Why OBJECT ENCODING differs for strings written in place.
const ENCODING_OF_VALUE: &str = "kv derives the encoding from the value as if written in one go; Redis keeps `raw` for a \
                                 string APPEND or SETRANGE wrote, and never converts a hash or set back";

/// Every script of the key family.
#[must_use]
pub fn keys() -> Vec<Script> {
    let mut scripts = renames();
    scripts.extend(copies());
    scripts.extend(others());
    scripts.extend(scans());
    scripts
}

/// The commands that give each value type a key, `<prefix>string`, `<prefix>list`, ...
fn every_type(prefix: &str) -> Vec<String> {
    vec![
        format!("SET {prefix}string v"),
        format!("RPUSH {prefix}list a b"),
        format!("HSET {prefix}hash f v"),
        format!("SADD {prefix}set a b"),
        format!("ZADD {prefix}zset 1 a 2 b"),
    ]
}

/// The commands of [`every_type`] without prefix, then for each type's key the commands `then`
/// makes of its name.
fn every_type_then(then: impl Fn(&str) -> [String; 5]) -> Vec<String> {
    let mut commands = every_type("");
    for name in ["string", "list", "hash", "set", "zset"] {
        commands.extend(then(name));
    }
    commands
}

/// A script of `commands` given as owned strings.
fn owned(name: &'static str, commands: &[String]) -> Script {
    let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
    script(name).exact(&commands)
}

/// RENAME and RENAMENX.
fn renames() -> Vec<Script> {
    let mut every_type_renamed = every_type_then(|name| {
        [
            format!("EXPIRE {name} 100"),
            format!("RENAME {name} new{name}"),
            format!("EXISTS {name}"),
            format!("TYPE new{name}"),
            format!("TTL new{name}"),
        ]
    });
    every_type_renamed
        .extend(["LRANGE newlist 0 -1", "HGETALL newhash", "ZRANGE newzset 0 -1 WITHSCORES", "GET newstring"].map(String::from));
    vec![
        owned("RENAME moves every type with its time to live", &every_type_renamed),
        script("RENAME replaces the destination of any type; RENAMENX does not").exact(&[
            "SET a 1",
            "SADD s m",
            "RENAME a s",
            "TYPE s",
            "GET s",
            "RENAME a s",
            "SET b 2 EX 100",
            "SET c 3",
            "RENAMENX b c",
            "RENAMENX b d",
            "TTL d",
            "GET d",
            "RENAMENX missing d",
            "RENAME missing d",
            "RENAME d d",
            "RENAMENX d d",
            "RENAME gone gone",
            "RENAMENX gone gone",
            "SET p 1 EX 100",
            "RENAME c p",
            "TTL p",
            "RENAME a",
            "RENAME a b c",
            "RENAMENX a",
            "RENAMENX",
        ]),
    ]
}

/// COPY.
fn copies() -> Vec<Script> {
    let mut every_type_copied = every_type_then(|name| {
        [
            format!("EXPIRE {name} 100"),
            format!("COPY {name} copy{name}"),
            format!("TYPE copy{name}"),
            format!("TTL copy{name}"),
            format!("TTL {name}"),
        ]
    });
    every_type_copied.extend(
        ["RPUSH copylist c", "LRANGE list 0 -1", "LRANGE copylist 0 -1", "HGETALL copyhash", "ZRANGE copyzset 0 -1 WITHSCORES"]
            .map(String::from),
    );
    vec![
        owned("COPY copies every type with its time to live", &every_type_copied),
        script("COPY with REPLACE and DB, and its errors")
            .exact(&[
                "SET a 1",
                "SET b 2",
                "COPY a b",
                "GET b",
                "COPY a b REPLACE",
                "GET b",
                "COPY a b replace REPLACE",
                "COPY missing b",
                "COPY missing b REPLACE",
                "GET b",
                "COPY a a",
                "COPY missing missing",
                "COPY a c DB 0",
                "GET c",
                "COPY a c DB 0 REPLACE",
                "COPY a c DB x",
                "COPY a c DB 16",
                "COPY a c DB -1",
                "COPY a c DB 99999999999",
                "COPY a c DB",
                "COPY a c FOO",
                "COPY a c REPLACE FOO",
                "LPUSH l x",
                "COPY a l",
                "COPY a l REPLACE",
                "TYPE l",
                "COPY a",
                "COPY",
            ])
            .differs("COPY a d DB 1", ONE_DATABASE)
            .exact(&["COPY a a DB 0"]),
    ]
}

/// TOUCH, RANDOMKEY and OBJECT.
fn others() -> Vec<Script> {
    let mut encodings = every_type("");
    for name in ["string", "list", "hash", "set", "zset", "missing"] {
        encodings.push(format!("OBJECT ENCODING {name}"));
    }
    encodings.extend(
        [
            "SET int 12345",
            "SET negative -7",
            "SET big 9223372036854775807",
            "SET bigger 9223372036854775808",
            "SET padded 007",
            "SET plus +1",
            "SET embstr 12345678901234567890123456789012345678901234",
            "SET raw 123456789012345678901234567890123456789012345",
            "SET empty ",
            "SADD ints 1 2 3",
            "SADD mixed 1 a",
            "HSET longvalue f 12345678901234567890123456789012345678901234567890123456789012345",
            "HSET value64 f 1234567890123456789012345678901234567890123456789012345678901234",
            "ZADD longmember 1 12345678901234567890123456789012345678901234567890123456789012345",
            "INCR counter",
            "INCRBYFLOAT float 1.5",
        ]
        .map(String::from),
    );
    for name in [
        "int",
        "negative",
        "big",
        "bigger",
        "padded",
        "plus",
        "embstr",
        "raw",
        "empty",
        "ints",
        "mixed",
        "longvalue",
        "value64",
        "longmember",
        "counter",
        "float",
    ] {
        encodings.push(format!("OBJECT ENCODING {name}"));
    }
    encodings.extend(
        ["object encoding INT", "OBJECT ENCODING", "OBJECT ENCODING a b", "OBJECT", "OBJECT FOO", "OBJECT FOO a"].map(String::from),
    );
    let numbers = |count: usize, prefix: &str| (0..count).map(|number| format!("{prefix}{number}")).collect::<Vec<_>>().join(" ");
    let scored = |count: usize| (0..count).map(|number| format!("{number} m{number}")).collect::<Vec<_>>().join(" ");
    let paired = |count: usize| (0..count).map(|number| format!("f{number} v")).collect::<Vec<_>>().join(" ");
    let thresholds = [
        format!("SADD intset512 {}", numbers(512, "")),
        format!("SADD intset513 {}", numbers(513, "")),
        format!("ZADD listpack128 {}", scored(128)),
        format!("ZADD skiplist129 {}", scored(129)),
        format!("HSET listpack512 {}", paired(512)),
        format!("HSET hashtable513 {}", paired(513)),
        format!("RPUSH quicklist {}", numbers(600, "element")),
        "OBJECT ENCODING intset512".to_owned(),
        "OBJECT ENCODING intset513".to_owned(),
        "OBJECT ENCODING listpack128".to_owned(),
        "OBJECT ENCODING skiplist129".to_owned(),
        "OBJECT ENCODING listpack512".to_owned(),
        "OBJECT ENCODING hashtable513".to_owned(),
        "OBJECT ENCODING quicklist".to_owned(),
    ];
    vec![
        owned("OBJECT ENCODING at Redis 7.0's default size limits", &thresholds),
        script("TOUCH counts the keys that exist").exact(&[
            "SET a 1",
            "LPUSH l x",
            "TOUCH a",
            "TOUCH a l missing a",
            "TOUCH missing",
            "TOUCH",
        ]),
        script("RANDOMKEY")
            .exact(&["RANDOMKEY", "SET only 1", "RANDOMKEY", "RANDOMKEY x", "SET other 2"])
            .differs("RANDOMKEY", RANDOM_KEY)
            .exact(&["DEL only other", "RANDOMKEY"]),
        owned("OBJECT ENCODING of every type and size", &encodings)
            .differs("OBJECT HELP", ENCODING_ONLY)
            .differs("OBJECT REFCOUNT int", ENCODING_ONLY)
            .exact(&["APPEND appended x"])
            .differs("OBJECT ENCODING appended", ENCODING_OF_VALUE)
            .exact(&["SADD ints a", "SREM ints a"])
            .differs("OBJECT ENCODING ints", ENCODING_OF_VALUE),
    ]
}

/// SCAN and HSCAN.
fn scans() -> Vec<Script> {
    let mut keyspace = every_type("");
    keyspace.extend(["SET key:1 a", "SET key:2 b", "SET other c"].map(String::from));
    let mut scans = owned("SCAN lists the keyspace, filtered by MATCH and TYPE", &keyspace)
        .unordered("SCAN 0")
        .unordered("SCAN 0 COUNT 100")
        .unordered("SCAN 0 MATCH key:*")
        .unordered("SCAN 0 match *t* count 50")
        .unordered("SCAN 0 TYPE string")
        .unordered("SCAN 0 TYPE LIST")
        .unordered("SCAN 0 TYPE zset MATCH *")
        .exact(&[
            "SCAN 0 TYPE nosuchtype",
            "SCAN 0 MATCH nomatch",
            "SCAN x",
            "SCAN 1.5",
            "SCAN 0 COUNT 0",
            "SCAN 0 COUNT -1",
            "SCAN 0 COUNT x",
            "SCAN 0 COUNT",
            "SCAN 0 MATCH",
            "SCAN 0 FOO bar",
            "SCAN",
        ])
        .differs("SCAN 0 COUNT 2", SCAN_CURSORS);
    let mut many = Vec::new();
    for number in 0..30 {
        many.push(format!("SET k{number} v"));
    }
    let many = owned("SCAN with more keys than COUNT", &many).differs("SCAN 0 COUNT 5", SCAN_CURSORS).unordered("SCAN 0 COUNT 1000");
    scans = scans.exact(&["FLUSHALL", "SCAN 0"]);
    vec![
        scans,
        many,
        script("HSCAN lists fields and values")
            .exact(&["HSET h f1 v1 f2 v2 g3 v3"])
            .unordered("HSCAN h 0")
            .unordered("HSCAN h 0 COUNT 100")
            .unordered("HSCAN h 0 MATCH f*")
            .unordered("HSCAN h 0 match g? COUNT 10")
            .differs("HSCAN h 0 COUNT 1", LISTPACK_WHOLE)
            .exact(&["HSET big f0 12345678901234567890123456789012345678901234567890123456789012345 f1 v1"])
            .unordered("HSCAN big 0")
            .unordered("HSCAN big 0 MATCH f1")
            .exact(&[
                "HSCAN h 0 MATCH nomatch",
                "HSCAN missing 0",
                "HSCAN missing 0 FOO",
                "HSCAN missing x",
                "HSCAN h x",
                "HSCAN h 0 COUNT 0",
                "HSCAN h 0 COUNT x",
                "HSCAN h 0 TYPE string",
                "HSCAN h 0 MATCH",
                "SET s v",
                "HSCAN s 0",
                "HSCAN s x",
                "HSCAN h",
                "HSCAN",
            ]),
    ]
}
