//! The differential table of the set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD,
//! SPOP, SRANDMEMBER, SMOVE, SINTER, SINTERCARD, SUNION, SDIFF, their STORE forms and SSCAN, with
//! their options, their errors and the edge cases of missing, emptied and overwritten keys.
//!
//! Redis gives a set's members no order (and orders small sets of integers differently from other
//! sets), so every reply that lists members is compared unordered. Which members SPOP and
//! SRANDMEMBER pick is random: where the pick is not the whole set, the step is not compared, and
//! a following SCARD checks its effect.

use super::{SCAN_CURSORS, Script, script};

/// Why the reply of a random pick of part of a set is not compared.
const RANDOM_PICK: &str = "the members picked are random: the SCARD or SMEMBERS after the step checks its effect";

/// Every script of the set family.
#[must_use]
pub fn sets() -> Vec<Script> {
    let mut scripts = members();
    scripts.extend(random_picks());
    scripts.extend(moves());
    scripts.extend(combinations());
    scripts.extend(scans());
    scripts.extend(wrong_types());
    scripts
}

/// SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER and SCARD.
fn members() -> Vec<Script> {
    vec![
        script("SADD adds members once and SMEMBERS lists them")
            .exact(&["SADD s a b a", "SADD s b c", "sadd s C", "SCARD s"])
            .unordered("SMEMBERS s")
            .exact(&["SADD s", "SADD", "SCARD missing", "SMEMBERS missing", "SMEMBERS", "SMEMBERS s t", "SCARD", "SCARD s t"]),
        script("members are binary strings: the empty one, spaces apart, case")
            .exact(&["SADD s  A a", "SISMEMBER s ", "SISMEMBER s A", "SCARD s"])
            .unordered("SMEMBERS s"),
        script("sets of integers (an intset in Redis) and their conversion")
            .exact(&["SADD ints 3 1 2 10 -5 1", "SISMEMBER ints 1", "SISMEMBER ints 01", "SISMEMBER ints +1", "SCARD ints"])
            .unordered("SMEMBERS ints")
            .exact(&["SADD ints a 3", "SISMEMBER ints 10", "SCARD ints"])
            .unordered("SMEMBERS ints")
            .exact(&["SREM ints a 1 2 3 10", "SMEMBERS ints", "SREM ints -5", "EXISTS ints"]),
        script("SREM removes members and deletes the set it empties")
            .exact(&["SADD s a b c", "SREM s a z a", "SREM s", "SREM", "SREM missing a", "SCARD s"])
            .unordered("SMEMBERS s")
            .exact(&["SREM s b c d", "EXISTS s", "TYPE s", "SMEMBERS s", "SCARD s", "SADD s again", "SMEMBERS s"]),
        script("SISMEMBER and SMISMEMBER").exact(&[
            "SADD s a b",
            "SISMEMBER s a",
            "SISMEMBER s z",
            "SISMEMBER missing a",
            "SISMEMBER s",
            "SISMEMBER s a b",
            "SMISMEMBER s a z b a",
            "SMISMEMBER s ",
            "SMISMEMBER missing a b",
            "SMISMEMBER s",
            "smismember S a",
        ]),
        script("a set keeps its time to live when members are added or removed").exact(&[
            "SADD s a b",
            "EXPIRE s 100",
            "SADD s c",
            "SREM s a",
            "TTL s",
        ]),
    ]
}

/// SPOP and SRANDMEMBER.
fn random_picks() -> Vec<Script> {
    vec![
        script("SPOP without a count pops the only member and deletes the set").exact(&[
            "SADD s one",
            "SPOP s",
            "EXISTS s",
            "SPOP s",
            "SPOP missing",
            "SPOP",
        ]),
        script("SPOP with a count covering the set pops it all")
            .exact(&["SADD s a b c", "SPOP s 0", "SCARD s"])
            .unordered("SPOP s 3")
            .exact(&["EXISTS s", "SADD s a b c 1"])
            .unordered("SPOP s 100")
            .exact(&["EXISTS s", "SPOP s 2", "SPOP s 0", "SADD ints 1 2 3"])
            .unordered("SPOP ints 3")
            .exact(&["EXISTS ints"]),
        script("SPOP with a count smaller than the set pops that many")
            .exact(&["SADD s a b c d"])
            .differs("SPOP s 3", RANDOM_PICK)
            .exact(&["SCARD s"])
            .differs("SPOP s", RANDOM_PICK)
            .exact(&["EXISTS s", "SADD ints 1 2 3 4"])
            .differs("SPOP ints 2", RANDOM_PICK)
            .exact(&["SCARD ints"]),
        script("SPOP refuses bad counts before looking at the key").exact(&[
            "SADD s a",
            "SPOP s -1",
            "SPOP s x",
            "SPOP s 1.5",
            "SPOP s 99999999999999999999",
            "SPOP missing -1",
            "SPOP s 1 2",
            "SPOP missing 1 2",
            "SCARD s",
        ]),
        script("SRANDMEMBER on a one-member set, with every kind of count").exact(&[
            "SADD s a",
            "SRANDMEMBER s",
            "SRANDMEMBER s 1",
            "SRANDMEMBER s 3",
            "SRANDMEMBER s -3",
            "SRANDMEMBER s 0",
            "SRANDMEMBER s -1",
            "SCARD s",
        ]),
        script("SRANDMEMBER with a count covering the set returns it whole and leaves it")
            .exact(&["SADD s a b c"])
            .unordered("SRANDMEMBER s 3")
            .unordered("SRANDMEMBER s 10")
            .unordered("SRANDMEMBER s 9223372036854775807")
            .differs("SRANDMEMBER s 2", RANDOM_PICK)
            .differs("SRANDMEMBER s -5", RANDOM_PICK)
            .differs("SRANDMEMBER s", RANDOM_PICK)
            .exact(&["SCARD s"]),
        script("SRANDMEMBER on a missing key, and its errors").exact(&[
            "SRANDMEMBER missing",
            "SRANDMEMBER missing 3",
            "SRANDMEMBER missing -3",
            "SRANDMEMBER missing 0",
            "SRANDMEMBER missing x",
            "SADD s a",
            "SRANDMEMBER s x",
            "SRANDMEMBER s 1.5",
            "SRANDMEMBER s 99999999999999999999",
            "SRANDMEMBER s -9223372036854775808",
            "SRANDMEMBER s 1 2",
            "SRANDMEMBER missing 1 2",
            "SRANDMEMBER",
        ]),
        script("SRANDMEMBER with a huge negative count")
            .exact(&["SADD s a"])
            .differs(
                "SRANDMEMBER s -1048577",
                "kv draws at most 2^20 members for a negative count and refuses more with an error; Redis writes them all, and for counts near 2^63 runs out of memory",
            )
            .exact(&["SCARD s"]),
    ]
}

/// SMOVE.
fn moves() -> Vec<Script> {
    vec![
        script("SMOVE moves a member, creates the destination and deletes the emptied source")
            .exact(&["SADD s a b", "SMOVE s d a", "SMEMBERS d", "SMOVE s d a", "SMOVE s d z", "SADD d b", "SMOVE s d b", "EXISTS s"])
            .unordered("SMEMBERS d")
            .exact(&["SMOVE d e a", "SMEMBERS e", "SCARD d"]),
        script("SMOVE within one set only checks membership").exact(&[
            "SADD s a b",
            "SMOVE s s a",
            "SMOVE s s z",
            "SCARD s",
            "SADD one x",
            "SMOVE one one x",
            "SMEMBERS one",
        ]),
        script("SMOVE with missing keys, keys of other types and wrong arity").exact(&[
            "SADD s a",
            "SET str v",
            "RPUSH list x",
            "SMOVE missing d a",
            "EXISTS d",
            "SMOVE missing str a",
            "SMOVE str s a",
            "SMOVE str missing a",
            "SMOVE s str a",
            "SMOVE s str z",
            "SMOVE s list a",
            "SMOVE list s x",
            "SMEMBERS s",
            "GET str",
            "SMOVE s d",
            "SMOVE s d a b",
            "SMOVE",
        ]),
        script("SMOVE keeps the destination's time to live").exact(&[
            "SADD s a b",
            "SADD d c",
            "EXPIRE d 100",
            "SMOVE s d a",
            "TTL d",
            "TTL s",
        ]),
    ]
}

/// SINTER, SUNION, SDIFF, their STORE forms and SINTERCARD.
fn combinations() -> Vec<Script> {
    vec![
        script("SINTER, SUNION and SDIFF combine sets")
            .exact(&["SADD a 1 2 3 x", "SADD b 2 3 4 x", "SADD c 3 x y"])
            .unordered("SINTER a b")
            .unordered("SINTER a b c")
            .unordered("SINTER a")
            .unordered("SINTER a a")
            .unordered("SUNION a b")
            .unordered("SUNION a b c")
            .unordered("SUNION c")
            .unordered("SDIFF a b")
            .unordered("SDIFF b a")
            .unordered("SDIFF a b c")
            .unordered("SDIFF a")
            .exact(&["SDIFF a a", "SDIFF c a b", "SINTER", "SUNION", "SDIFF"]),
        script("SINTER, SUNION and SDIFF with missing keys")
            .exact(&["SADD a 1 2 x"])
            .exact(&["SINTER a missing", "SINTER missing a", "SINTER missing"])
            .unordered("SUNION a missing")
            .unordered("SUNION missing a")
            .exact(&["SUNION missing other"])
            .unordered("SDIFF a missing")
            .exact(&["SDIFF missing a", "SDIFF missing"]),
        script("SINTERSTORE, SUNIONSTORE and SDIFFSTORE store the result")
            .exact(&["SADD a 1 2 3 x", "SADD b 2 3 4 x", "SINTERSTORE d a b", "TYPE d"])
            .unordered("SMEMBERS d")
            .exact(&["SUNIONSTORE d a b"])
            .unordered("SMEMBERS d")
            .exact(&["SDIFFSTORE d a b"])
            .unordered("SMEMBERS d")
            .exact(&["SUNIONSTORE d d", "SCARD d", "SDIFFSTORE d b a", "SMEMBERS d"])
            .exact(&["SUNIONSTORE a a b", "SCARD a", "SINTERSTORE b b", "SCARD b"]),
        script("a STORE form overwrites a key of another type and drops its time to live")
            .exact(&["SADD a 1 2", "SADD b 2 3", "SET str v EX 100", "SINTERSTORE str a b", "TYPE str", "TTL str", "SMEMBERS str"])
            .exact(&["RPUSH list x", "SUNIONSTORE list a b", "TYPE list"])
            .unordered("SMEMBERS list")
            .exact(&["HSET hash f v", "SDIFFSTORE hash a b", "TYPE hash", "SMEMBERS hash"])
            .exact(&["SADD d z", "EXPIRE d 100", "SUNIONSTORE d a", "TTL d"]),
        script("a STORE form with an empty result deletes the destination and replies 0").exact(&[
            "SADD a 1 2",
            "SADD b 3",
            "SET str v",
            "SINTERSTORE str a b",
            "EXISTS str",
            "SADD d x",
            "SINTERSTORE d a missing",
            "EXISTS d",
            "SADD d x",
            "SDIFFSTORE d a a",
            "EXISTS d",
            "SADD d x",
            "SUNIONSTORE d missing other",
            "EXISTS d",
            "SDIFFSTORE d missing a",
            "SUNIONSTORE nothing missing",
            "EXISTS nothing",
        ]),
        script("the STORE forms' arity and WRONGTYPE leave the destination alone").exact(&[
            "SADD a 1",
            "SET str v",
            "SADD d x",
            "SINTERSTORE d",
            "SUNIONSTORE d",
            "SDIFFSTORE d",
            "SINTERSTORE",
            "SINTERSTORE d a str",
            "SINTERSTORE d missing str",
            "SUNIONSTORE d str",
            "SDIFFSTORE d missing str",
            "SDIFFSTORE d str a",
            "SMEMBERS d",
            "SDIFFSTORE str a",
            "TYPE str",
        ]),
        script("SINTERCARD counts the intersection, up to LIMIT").exact(&[
            "SADD a 1 2 3 x",
            "SADD b 2 3 4 x",
            "SINTERCARD 2 a b",
            "SINTERCARD 1 a",
            "SINTERCARD 2 a a",
            "SINTERCARD 2 a missing",
            "SINTERCARD 1 missing",
            "SINTERCARD 2 a b LIMIT 0",
            "SINTERCARD 2 a b LIMIT 1",
            "SINTERCARD 2 a b LIMIT 3",
            "SINTERCARD 2 a b LIMIT 100",
            "SINTERCARD 2 a b limit 2",
            "SINTERCARD 2 a b LIMIT 2 LIMIT 5",
            "SINTERCARD 2 a b LIMIT 5 LIMIT 1",
            "SINTERCARD 2 a b LIMIT 9223372036854775807",
        ]),
        script("SINTERCARD's errors").exact(&[
            "SADD a 1 2",
            "SET str v",
            "SINTERCARD",
            "SINTERCARD 1",
            "SINTERCARD 0 a",
            "SINTERCARD -1 a",
            "SINTERCARD x a",
            "SINTERCARD 99999999999999999999 a",
            "SINTERCARD 2 a",
            "SINTERCARD 9223372036854775807 a",
            "SINTERCARD 1 a b",
            "SINTERCARD 1 a LIMIT",
            "SINTERCARD 1 a LIMIT 1 x",
            "SINTERCARD 1 a FOO 2",
            "SINTERCARD 1 a LIMIT -1",
            "SINTERCARD 1 a LIMIT x",
            "SINTERCARD 1 a LIMIT 1.5",
            "SINTERCARD 2 a str",
            "SINTERCARD 2 missing str",
            "SINTERCARD 2 str a LIMIT -1",
            "SINTERCARD 1 str LIMIT x",
            "SINTERCARD 1 str FOO",
        ]),
    ]
}

/// SSCAN. A COUNT compared here is above the set's size: Redis 7.0 stops walking its hash table
/// once it has COUNT members, which can be before its last (empty) buckets, so a COUNT equal to the
/// size may end on a cursor other than 0, depending on the server's random hash seed.
fn scans() -> Vec<Script> {
    vec![
        script("SSCAN returns a small set whole with cursor 0")
            .exact(&["SADD s a b c ab"])
            .unordered("SSCAN s 0")
            .unordered("SSCAN s 0 COUNT 5")
            .unordered("SSCAN s 0 COUNT 1000")
            .unordered("SSCAN s 0 MATCH a*")
            .unordered("sscan s 0 match *b count 10")
            .unordered("SSCAN s 0 MATCH *")
            .exact(&["SSCAN s 0 MATCH z*", "SSCAN s 0 MATCH a COUNT 5 MATCH c"])
            .exact(&["SADD ints 1 2 3"])
            .unordered("SSCAN ints 0")
            .differs("SSCAN ints 0 COUNT 1", "Redis returns a set of integers (an intset) whole whatever the COUNT; kv pages it")
            .differs("SSCAN s 0 COUNT 1", SCAN_CURSORS)
            .differs("SSCAN s 5", SCAN_CURSORS),
        script("SSCAN with COUNT covering a larger set")
            .exact(&["SADD s m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 m11 m12 m13 m14 m15 m16 m17 m18 m19 m20"])
            .unordered("SSCAN s 0 COUNT 100")
            .unordered("SSCAN s 0 COUNT 21")
            .unordered("SSCAN s 0 MATCH m1* COUNT 50")
            .differs("SSCAN s 0", SCAN_CURSORS),
        script("SSCAN on a missing key, and its errors").exact(&[
            "SSCAN missing 0",
            "SSCAN missing 0 COUNT 0",
            "SSCAN missing 0 FOO",
            "SSCAN missing x",
            "SSCAN",
            "SSCAN s",
            "SADD s a",
            "SSCAN s x",
            "SSCAN s 1.0",
            "SSCAN s 0x1",
            "SSCAN s 18446744073709551616",
            "SSCAN s -18446744073709551616",
            "SSCAN s 0 COUNT 0",
            "SSCAN s 0 COUNT -1",
            "SSCAN s 0 COUNT x",
            "SSCAN s 0 COUNT 99999999999999999999",
            "SSCAN s 0 COUNT",
            "SSCAN s 0 MATCH",
            "SSCAN s 0 FOO bar",
            "SSCAN s 0 TYPE set",
            "SSCAN s 0 NOVALUES",
            "SSCAN s 0 COUNT 1 COUNT 0",
            "SSCAN s 0 MATCH a COUNT 0",
        ]),
        script("SSCAN reads cursors as C's strtoul does")
            .exact(&["SADD s a"])
            .exact(&["SSCAN s 0", "SSCAN s ", "SSCAN s -0", "SSCAN s +0", "SSCAN s 00"])
            .differs("SSCAN s -1", "a negative cursor wraps around in both; where that lands is each server's own")
            .exact(&["SSCAN s  0", "SSCAN s - ", "SSCAN s +"]),
    ]
}

/// Every set command on keys of other types.
fn wrong_types() -> Vec<Script> {
    let on_other_types: Vec<String> = [
        "SADD {} m",
        "SREM {} m",
        "SMEMBERS {}",
        "SISMEMBER {} m",
        "SMISMEMBER {} m n",
        "SCARD {}",
        "SPOP {}",
        "SPOP {} 0",
        "SPOP {} 2",
        "SRANDMEMBER {}",
        "SRANDMEMBER {} 0",
        "SRANDMEMBER {} -2",
        "SMOVE {} s m",
        "SMOVE s {} a",
        "SINTER {}",
        "SINTER s {}",
        "SINTER missing {}",
        "SUNION {} s",
        "SDIFF s {}",
        "SDIFF missing {}",
        "SINTERSTORE d s {}",
        "SUNIONSTORE d {}",
        "SDIFFSTORE d {} s",
        "SINTERCARD 2 s {}",
        "SINTERCARD 1 {} LIMIT 1",
        "SSCAN {} 0",
        "SSCAN {} 0 COUNT 0",
        "SSCAN {} 0 MATCH *",
    ]
    .iter()
    .flat_map(|command| ["str", "list", "hash"].map(|key| command.replace("{}", key)))
    .collect();
    let on_other_types: Vec<&str> = on_other_types.iter().map(String::as_str).collect();
    vec![
        script("every set command replies WRONGTYPE on a string, a list or a hash")
            .exact(&["SET str v", "RPUSH list x", "HSET hash f v", "SADD s a"])
            .exact(&on_other_types)
            .exact(&["GET str", "LRANGE list 0 -1", "HGETALL hash", "SMEMBERS s", "EXISTS d"]),
    ]
}
