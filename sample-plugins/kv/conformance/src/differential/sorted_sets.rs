//! The differential table of the sorted set commands: every command, its options, its errors, and
//! the edges (missing keys, infinite scores, equal scores ordered by member, keys deleted when
//! emptied, STORE forms replacing a key of another type).

use super::{Script, script};

/// Every script of the sorted set family.
#[must_use]
pub fn sorted_sets() -> Vec<Script> {
    let mut scripts = adding();
    scripts.extend(reading_and_popping());
    scripts.extend(ranges());
    scripts.extend(removing_ranges());
    scripts.extend(set_operations());
    scripts.extend(random_and_scan());
    scripts.extend(large_sets());
    scripts
}

/// ZADD with its options, ZINCRBY, and score parsing and formatting.
fn adding() -> Vec<Script> {
    vec![
        script("ZADD adds members and ZRANGE lists them by score").exact(&["ZADD z 2 b 1 a", "ZRANGE z 0 -1 WITHSCORES"]),
        script("ZADD counts new members only, CH counts changed ones too").exact(&[
            "ZADD z 1 a 2 b",
            "ZADD z 1 a 3 b 4 c",
            "ZADD z CH 1 a 5 b 6 d",
            "ZADD z ch 6 d",
            "ZRANGE z 0 -1 WITHSCORES",
        ]),
        script("ZADD NX and XX").exact(&[
            "ZADD z XX 1 a",
            "EXISTS z",
            "ZADD z NX 1 a",
            "ZADD z NX 5 a 2 b",
            "ZADD z XX CH 7 a 8 c",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZADD z XX NX 1 a",
            "ZADD z nx xx 1 a",
        ]),
        script("ZADD GT and LT update only upwards or downwards but add new members").exact(&[
            "ZADD z 5 a",
            "ZADD z GT CH 3 a 1 b",
            "ZADD z GT CH 7 a",
            "ZADD z LT CH 9 a 0 b",
            "ZADD z LT 2 a",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZADD z GT LT 1 a",
            "ZADD z GT NX 1 a",
            "ZADD z LT NX 1 a",
            "ZADD z GT XX 100 a 100 x",
            "ZRANGE z 0 -1 WITHSCORES",
        ]),
        script("ZADD INCR replies with the new score, or null when an option refuses").exact(&[
            "ZADD z INCR 1.5 a",
            "ZADD z INCR 2 a",
            "ZADD z NX INCR 2 a",
            "ZADD z XX INCR 2 b",
            "ZADD z GT INCR -1 a",
            "ZADD z LT INCR -1 a",
            "ZADD z INCR 1 a 2 b",
            "ZADD z INCR 0 a",
            "ZADD missing XX INCR 1 a",
            "EXISTS missing",
        ]),
        script("ZADD syntax and arity errors").exact(&[
            "ZADD z",
            "ZADD z 1",
            "ZADD z NX 1",
            "ZADD z 1 a 2",
            "ZADD z CH INCR",
            "ZADD z 1 a FOO",
            "ZADD z FOO 1 a",
            "EXISTS z",
        ]),
        script("ZADD reads scores as strtod does and refuses NaN").exact(&[
            "ZADD z 1.1 a",
            "ZSCORE z a",
            "ZADD z +inf b -inf c .5 d 1e3 e 0x10 f 5. g -0 h",
            "ZRANGE z 0 -1 WITHSCORES",
            "ZADD z nan x",
            "ZADD z 1e400 x",
            "ZADD z 1e-400 x",
            "ZADD z  x",
            "ZADD z 1x x",
            "ZADD z 1_0 x",
            "ZADD z Infinity i",
            "ZADD z -INF j",
            "ZSCORE z i",
            "ZSCORE z j",
            "ZADD z 0.1 k 1e-5 l 123456789012345678 m 1e17 n",
            "ZMSCORE z k l m n",
        ]),
        script("ZADD scores in the order of all the checks").exact(&[
            "SET s v",
            "ZADD s 1 a",
            "ZADD s x a",
            "ZADD s NX XX x a",
            "ZADD s 1 a 2",
        ]),
        script("ZINCRBY adds to scores and refuses NaN").exact(&[
            "ZINCRBY z 2 a",
            "ZINCRBY z 2.5 a",
            "ZINCRBY z -10 a",
            "ZINCRBY z x a",
            "ZINCRBY z inf b",
            "ZINCRBY z -inf b",
            "ZADD z INCR -inf b",
            "ZSCORE z b",
            "ZINCRBY z 1",
            "ZINCRBY z NX 1",
            "ZINCRBY z incr a",
            "ZINCRBY z 1 NX",
            "ZSCORE z NX",
            "ZINCRBY z -0 c",
            "ZSCORE z c",
            "SET s v",
            "ZINCRBY s 1 a",
        ]),
    ]
}

/// ZREM, ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK, ZPOPMIN and ZPOPMAX.
fn reading_and_popping() -> Vec<Script> {
    vec![
        script("ZREM removes members and deletes an emptied key").exact(&[
            "ZADD z 1 a 2 b 3 c",
            "ZREM z a x",
            "ZREM z a",
            "ZCARD z",
            "ZREM z b c",
            "EXISTS z",
            "ZREM z a",
            "ZREM z",
            "SET s v",
            "ZREM s a",
        ]),
        script("ZSCORE, ZMSCORE and ZCARD on present and missing members and keys").exact(&[
            "ZADD z 1 a 2.5 b",
            "ZSCORE z b",
            "ZSCORE z x",
            "ZSCORE missing a",
            "ZMSCORE z a x b",
            "ZMSCORE missing a b",
            "ZMSCORE z",
            "ZCARD z",
            "ZCARD missing",
            "ZCARD",
            "RPUSH l a",
            "ZSCORE l a",
            "ZMSCORE l a",
            "ZCARD l",
        ]),
        script("ZRANK and ZREVRANK count from either end, equal scores by member").exact(&[
            "ZADD z 1 b 1 a 2 c 0 d",
            "ZRANK z a",
            "ZRANK z b",
            "ZRANK z d",
            "ZREVRANK z d",
            "ZREVRANK z c",
            "ZRANK z x",
            "ZRANK missing a",
            "ZRANK z a WITHSCORE",
            "HSET h f v",
            "ZREVRANK h a",
        ]),
        script("ZPOPMIN and ZPOPMAX pop from either end and delete the emptied key").exact(&[
            "ZADD z 1 a 2 b 3 c 4 d",
            "ZPOPMIN z",
            "ZPOPMAX z",
            "ZPOPMIN z 0",
            "ZPOPMIN z 5",
            "EXISTS z",
            "ZPOPMIN z",
            "ZPOPMAX missing 2",
            "ZADD z 1 a 2 b 3 c",
            "ZPOPMAX z 2",
            "ZPOPMIN z -1",
            "ZPOPMIN z x",
            "ZPOPMIN z 1 2",
            "ZPOPMIN",
            "SET s v",
            "ZPOPMIN s",
            "ZPOPMAX s 1",
        ]),
    ]
}

/// The ZRANGE family, ZCOUNT, ZLEXCOUNT and ZRANGESTORE.
fn ranges() -> Vec<Script> {
    vec![
        script("ZRANGE by index, negative indexes, REV and out-of-range indexes").exact(&[
            "ZADD z 1 a 2 b 3 c 4 d 5 e",
            "ZRANGE z 0 -1",
            "ZRANGE z 1 2 WITHSCORES",
            "ZRANGE z -2 -1",
            "ZRANGE z -100 100",
            "ZRANGE z 3 1",
            "ZRANGE z 5 10",
            "ZRANGE z 0 0 REV",
            "ZRANGE z 0 -2 REV WITHSCORES",
            "ZREVRANGE z 0 1",
            "ZREVRANGE z 0 1 WITHSCORES",
            "ZREVRANGE z 0 1 REV",
            "ZRANGE z a 1",
            "ZRANGE missing 0 -1",
            "ZRANGE z 0",
            "ZRANGE z 0 -1 LIMIT 0 1",
            "ZRANGE z 0 -1 LIMIT 5 -1",
            "ZRANGE z 0 -1 LIMIT 5 -2",
            "ZREVRANGE z 0 -1 LIMIT 1 -1",
            "ZRANGE z 0 -1 FOO",
        ]),
        script("ZRANGE BYSCORE and ZRANGEBYSCORE with exclusive bounds, infinities and LIMIT").exact(&[
            "ZADD z -inf n 1 a 2 b 2 bb 3 c inf p",
            "ZRANGE z 1 3 BYSCORE",
            "ZRANGE z (1 3 BYSCORE WITHSCORES",
            "ZRANGE z (1 (3 BYSCORE",
            "ZRANGE z -inf +inf BYSCORE WITHSCORES",
            "ZRANGE z (-inf (+inf BYSCORE",
            "ZRANGE z (inf +inf BYSCORE",
            "ZRANGE z 3 1 BYSCORE",
            "ZRANGE z 2 2 BYSCORE",
            "ZRANGE z (2 2 BYSCORE",
            "ZRANGE z 3 1 BYSCORE REV",
            "ZRANGE z (3 -inf BYSCORE REV LIMIT 1 2 WITHSCORES",
            "ZRANGE z -inf +inf BYSCORE LIMIT 2 3",
            "ZRANGE z -inf +inf BYSCORE LIMIT 1 -1",
            "ZRANGE z -inf +inf BYSCORE LIMIT -1 2",
            "ZRANGE z -inf +inf BYSCORE LIMIT 10 2",
            "ZRANGE z -inf +inf BYSCORE LIMIT 0 0",
            "ZRANGEBYSCORE z 2 +inf",
            "ZRANGEBYSCORE z 2 +inf WITHSCORES LIMIT 0 2",
            "ZRANGEBYSCORE z 2 +inf LIMIT 0 2 WITHSCORES",
            "ZREVRANGEBYSCORE z +inf 2",
            "ZREVRANGEBYSCORE z 3 (1 WITHSCORES LIMIT 1 1",
            "ZREVRANGEBYSCORE z 1 3",
            "ZRANGEBYSCORE z 1.5 2.5",
            "ZRANGEBYSCORE z 1e400 +inf",
            "ZRANGEBYSCORE z  5",
            "ZRANGEBYSCORE z ( 5",
        ]),
        script("Score range errors").exact(&[
            "ZADD z 1 a",
            "ZRANGEBYSCORE z a 1",
            "ZRANGEBYSCORE z 1 (",
            "ZRANGEBYSCORE z nan 1",
            "ZRANGEBYSCORE z [1 2",
            "ZRANGEBYSCORE z 0 1 REV",
            "ZRANGEBYSCORE z 0 1 BYLEX",
            "ZRANGEBYSCORE z 0 1 LIMIT 0",
            "ZRANGEBYSCORE z 0 1 LIMIT x 1",
            "ZRANGEBYSCORE z 0 1 LIMIT 0 1.5",
            "ZRANGEBYSCORE z 0",
            "ZRANGE z 0 1 BYSCORE BYLEX",
            "ZRANGE z 0 1 BYSCORE BYSCORE",
            "ZRANGE z x 1 BYSCORE",
            "ZCOUNT z x 1",
            "SET s v",
            "ZRANGEBYSCORE s 0 1",
            "ZRANGEBYSCORE s x 1",
        ]),
        script("ZRANGE BYLEX, ZRANGEBYLEX and ZREVRANGEBYLEX on equal scores").exact(&[
            "ZADD z 0 a 0 b 0 c 0 d 0 e 0 f",
            "ZRANGE z - + BYLEX",
            "ZRANGE z [b (e BYLEX",
            "ZRANGE z (b [e BYLEX LIMIT 1 2",
            "ZRANGE z [e [b BYLEX REV",
            "ZRANGE z + - BYLEX REV LIMIT 0 3",
            "ZRANGEBYLEX z - [c",
            "ZRANGEBYLEX z [aa (d",
            "ZRANGEBYLEX z + -",
            "ZRANGEBYLEX z [c [c",
            "ZRANGEBYLEX z (c [c",
            "ZRANGEBYLEX z - -",
            "ZRANGEBYLEX z [z +",
            "ZREVRANGEBYLEX z + (c",
            "ZREVRANGEBYLEX z [e - LIMIT 2 10",
            "ZRANGEBYLEX z a c",
            "ZRANGEBYLEX z [a +a",
            "ZRANGEBYLEX z - + WITHSCORES",
            "ZRANGE z - + BYLEX WITHSCORES",
            "ZRANGEBYLEX z [",
            "ZRANGEBYLEX z ( [",
            "ZLEXCOUNT z [b (e",
            "ZLEXCOUNT z - +",
            "ZLEXCOUNT z + -",
            "ZLEXCOUNT z a b",
            "ZLEXCOUNT missing - +",
            "ZRANGEBYLEX missing - +",
        ]),
        script("BYLEX on members of different scores follows the compact encoding").exact(&[
            "ZADD z 1 a 2 b 0 c 3 d",
            "ZRANGEBYLEX z [b +",
            "ZRANGEBYLEX z - [b",
            "ZREVRANGEBYLEX z + [b",
            "ZLEXCOUNT z [b [d",
            "ZADD m 0 d 1 a",
            "ZRANGEBYLEX m [c +",
            "ZRANGEBYLEX m - [b",
            "ZLEXCOUNT m [c +",
            "ZADD k 0 b 1 z 2 c",
            "ZRANGEBYLEX k [a [c",
            "ZRANGEBYLEX k [a [c LIMIT 2 5",
            "ZREVRANGEBYLEX k [c [a LIMIT 1 5",
            "ZRANGESTORE d k [a [c BYLEX LIMIT 2 5",
            "ZREMRANGEBYLEX k [a [c",
            "ZRANGE k 0 -1",
        ]),
        script("ZCOUNT counts scores in a range").exact(&[
            "ZADD z 1 a 2 b 3 c inf d",
            "ZCOUNT z 1 3",
            "ZCOUNT z (1 3",
            "ZCOUNT z -inf +inf",
            "ZCOUNT z (3 +inf",
            "ZCOUNT z 3 1",
            "ZCOUNT missing 0 1",
            "ZCOUNT z 0",
            "HSET h f v",
            "ZCOUNT h 0 1",
        ]),
        script("ZRANGESTORE stores a range, replacing any type, and deletes on empty").exact(&[
            "ZADD z 1 a 2 b 3 c 4 d",
            "SET dst v",
            "EXPIRE dst 100",
            "ZRANGESTORE dst z 1 2",
            "TTL dst",
            "TYPE dst",
            "ZRANGE dst 0 -1 WITHSCORES",
            "ZRANGESTORE dst z (1 +inf BYSCORE REV LIMIT 0 2",
            "ZRANGE dst 0 -1 WITHSCORES",
            "ZRANGESTORE dst z [b [c BYLEX",
            "ZRANGE dst 0 -1",
            "ZRANGESTORE dst z 10 20",
            "EXISTS dst",
            "SET dst v",
            "ZRANGESTORE dst missing 0 -1",
            "EXISTS dst",
            "ZRANGESTORE dst z 0 -1 WITHSCORES",
            "ZRANGESTORE dst z 0 -1 LIMIT 0 1",
            "ZRANGESTORE dst z 0",
            "ZRANGESTORE z z 0 0",
            "ZRANGE z 0 -1",
            "SET s v",
            "ZRANGESTORE dst s 0 -1",
        ]),
    ]
}

/// ZREMRANGEBYRANK, ZREMRANGEBYSCORE and ZREMRANGEBYLEX.
fn removing_ranges() -> Vec<Script> {
    vec![
        script("ZREMRANGEBYRANK removes by index and deletes the emptied key").exact(&[
            "ZADD z 1 a 2 b 3 c 4 d 5 e",
            "ZREMRANGEBYRANK z 0 0",
            "ZREMRANGEBYRANK z -2 -1",
            "ZREMRANGEBYRANK z 5 10",
            "ZREMRANGEBYRANK z 1 0",
            "ZRANGE z 0 -1",
            "ZREMRANGEBYRANK z 0 -1",
            "EXISTS z",
            "ZREMRANGEBYRANK z x 1",
            "ZREMRANGEBYRANK missing 0 -1",
            "ZREMRANGEBYRANK z 0",
            "SET s v",
            "ZREMRANGEBYRANK s 0 -1",
        ]),
        script("ZREMRANGEBYSCORE removes a score range").exact(&[
            "ZADD z 1 a 2 b 3 c 4 d",
            "ZREMRANGEBYSCORE z (1 2",
            "ZREMRANGEBYSCORE z 10 20",
            "ZREMRANGEBYSCORE z x 1",
            "ZRANGE z 0 -1",
            "ZREMRANGEBYSCORE z -inf +inf",
            "EXISTS z",
            "ZREMRANGEBYSCORE missing 0 1",
            "SET s v",
            "ZREMRANGEBYSCORE s 0 1",
        ]),
        script("ZREMRANGEBYLEX removes a lexicographic range").exact(&[
            "ZADD z 0 a 0 b 0 c 0 d",
            "ZREMRANGEBYLEX z [b (d",
            "ZREMRANGEBYLEX z x y",
            "ZRANGE z 0 -1",
            "ZREMRANGEBYLEX z - +",
            "EXISTS z",
            "ZREMRANGEBYLEX missing - +",
            "ZREMRANGEBYLEX z -",
            "SET s v",
            "ZREMRANGEBYLEX s - +",
        ]),
    ]
}

/// ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD.
fn set_operations() -> Vec<Script> {
    vec![
        script("ZUNION with WEIGHTS and every AGGREGATE").exact(&[
            "ZADD a 1 x 2 y 3 z",
            "ZADD b 10 y 20 z 30 w",
            "ZUNION 2 a b",
            "ZUNION 2 a b WITHSCORES",
            "ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES",
            "ZUNION 2 a b AGGREGATE MIN WITHSCORES",
            "ZUNION 2 a b aggregate max withscores",
            "ZUNION 2 a b WEIGHTS 1 -1 AGGREGATE SUM WITHSCORES",
            "ZUNION 3 a b missing WITHSCORES",
            "ZUNION 1 missing",
        ]),
        script("ZINTER with WEIGHTS and every AGGREGATE").exact(&[
            "ZADD a 1 x 2 y 3 z",
            "ZADD b 10 y 20 z 30 w",
            "ZINTER 2 a b",
            "ZINTER 2 a b WITHSCORES",
            "ZINTER 2 a b WEIGHTS 2 3 WITHSCORES",
            "ZINTER 2 a b AGGREGATE MIN WITHSCORES",
            "ZINTER 2 a b AGGREGATE MAX WITHSCORES",
            "ZINTER 2 a missing",
            "ZINTER 1 a WITHSCORES",
            "ZADD c 5 x",
            "ZADD d 0 x 1 y",
            "ZINTER 2 c d WEIGHTS 1 inf WITHSCORES",
            "ZINTER 2 c d WEIGHTS 1 inf AGGREGATE MIN WITHSCORES",
            "ZUNION 2 c d WEIGHTS 1 inf WITHSCORES",
            "ZINTER 2 c d WEIGHTS 0 -1 AGGREGATE MAX WITHSCORES",
        ]),
        script("Set operations read sets with score 1, and infinities").exact(&[
            "ZADD a 1 x inf y -inf z",
            "SADD s y z q",
            "ZUNION 2 a s WITHSCORES",
            "ZINTER 2 a s WITHSCORES",
            "ZDIFF 2 a s WITHSCORES",
            "ZADD b -inf y inf z",
            "ZUNION 2 a b WITHSCORES",
            "ZUNION 2 a b WEIGHTS 0 1 WITHSCORES",
            "ZADD w 0.5 f",
            "ZADD x 2 a -1 g",
            "ZUNION 2 w x WEIGHTS -1 0 WITHSCORES",
            "ZUNION 2 w x WEIGHTS -1 -0.0 WITHSCORES",
            "ZINTER 1 x WEIGHTS -0.0 WITHSCORES",
        ]),
        script("ZDIFF keeps the first input's members in no other input").exact(&[
            "ZADD a 1 x 2 y 3 z",
            "ZADD b 10 y",
            "ZADD c 5 z",
            "ZDIFF 2 a b",
            "ZDIFF 3 a b c WITHSCORES",
            "ZDIFF 2 missing a",
            "ZDIFF 2 a missing WITHSCORES",
            "ZDIFF 1 a WEIGHTS 1",
            "ZDIFF 1 a AGGREGATE SUM",
        ]),
        script("Set operation errors").exact(&[
            "ZADD a 1 x",
            "SET str v",
            "ZUNION 0 a",
            "ZUNION -1 a",
            "ZUNION x a",
            "ZUNION 2 a",
            "ZUNION 1",
            "ZUNION 1 a WEIGHTS",
            "ZUNION 1 a WEIGHTS x",
            "ZUNION 1 a WEIGHTS 1 2",
            "ZUNION 1 a AGGREGATE",
            "ZUNION 1 a AGGREGATE AVG",
            "ZUNION 1 a FOO",
            "ZUNION 2 a str",
            "ZUNION 2 a str FOO",
            "ZINTER 0 a",
            "ZINTER 1 a WITHSCORES WITHSCORES",
            "ZUNIONSTORE d 0 a",
            "ZUNIONSTORE d 1 a WITHSCORES",
            "ZUNIONSTORE d 1",
            "ZINTERSTORE d 2 a",
            "ZDIFFSTORE d 0 a",
            "ZDIFFSTORE d 2 a str",
        ]),
        script("STORE forms replace any type and delete the destination when empty").exact(&[
            "ZADD a 1 x 2 y",
            "ZADD b 3 y 4 z",
            "SET d v",
            "ZUNIONSTORE d 2 a b WEIGHTS 1 2",
            "TYPE d",
            "ZRANGE d 0 -1 WITHSCORES",
            "ZINTERSTORE d 2 a b AGGREGATE MAX",
            "ZRANGE d 0 -1 WITHSCORES",
            "ZDIFFSTORE d 2 a b",
            "ZRANGE d 0 -1 WITHSCORES",
            "ZINTERSTORE d 2 a missing",
            "EXISTS d",
            "RPUSH d v",
            "ZDIFFSTORE d 2 a a",
            "EXISTS d",
            "ZUNIONSTORE a 2 a b",
            "ZRANGE a 0 -1 WITHSCORES",
        ]),
        script("ZINTERCARD counts the intersection, up to LIMIT").exact(&[
            "ZADD a 1 x 2 y 3 z",
            "ZADD b 1 x 2 y 3 w",
            "ZINTERCARD 2 a b",
            "ZINTERCARD 2 a b LIMIT 1",
            "ZINTERCARD 2 a b LIMIT 0",
            "ZINTERCARD 2 a b LIMIT 10",
            "ZINTERCARD 1 a",
            "ZINTERCARD 2 a missing",
            "ZINTERCARD 0 a",
            "ZINTERCARD x a",
            "ZINTERCARD 3 a b",
            "ZINTERCARD 1 a LIMIT -1",
            "ZINTERCARD 1 a LIMIT x",
            "ZINTERCARD 1 a LIMIT 1.5",
            "ZINTERCARD 1 a LIMIT",
            "ZINTERCARD 1 a WITHSCORES",
            "ZINTERCARD 1 a WEIGHTS 1",
            "ZINTERCARD 1",
            "SET s v",
            "ZINTERCARD 2 a s",
        ]),
    ]
}

/// ZRANDMEMBER and ZSCAN, whose replies Redis leaves in an unspecified order (or draws at random).
fn random_and_scan() -> Vec<Script> {
    vec![
        script("ZRANDMEMBER with a count covering the set, and its errors")
            .exact(&["ZADD z 1 a 2 b 3 c", "ZRANDMEMBER missing", "ZRANDMEMBER missing 2", "ZRANDMEMBER z 0"])
            .unordered("ZRANDMEMBER z 3")
            .unordered("ZRANDMEMBER z 10 WITHSCORES")
            .differs("ZRANDMEMBER z", "a random member")
            .differs("ZRANDMEMBER z 2", "random distinct members")
            .differs("ZRANDMEMBER z -5 WITHSCORES", "members drawn at random, with repetition")
            .differs(
                "ZRANDMEMBER z -2000000",
                "kv draws at most 2^20 members for a negative count and refuses more with an error, where Redis builds a reply of any size (-9223372036854775807 would exhaust its memory)",
            )
            .exact(&[
                "ZADD one 7 only",
                "ZRANDMEMBER one",
                "ZRANDMEMBER one -3 WITHSCORES",
                "ZRANDMEMBER z x",
                "ZRANDMEMBER z 1 2",
                "ZRANDMEMBER z 1 WITHSCORES x",
                "ZRANDMEMBER z -9223372036854775808",
                "ZRANDMEMBER z -9223372036854775807 WITHSCORES",
                "ZRANDMEMBER",
                "SET s v",
                "ZRANDMEMBER s",
                "ZRANDMEMBER s 1",
                "ZRANDMEMBER s 0",
            ]),
        script("ZSCAN returns a small set whole, with MATCH and COUNT")
            .exact(&["ZADD z 1 a 2.5 b 3 c 1e17 big"])
            .unordered("ZSCAN z 0")
            .unordered("ZSCAN z 0 COUNT 1")
            .unordered("ZSCAN z 0 MATCH b*")
            .unordered("ZSCAN z 0 match [ac] count 100")
            .exact(&[
                "ZSCAN missing 0",
                "ZSCAN missing 0 COUNT 0",
                "ZSCAN z x",
                "ZSCAN z -1",
                "ZSCAN z +1",
                "ZSCAN z ",
                "ZSCAN z -",
                "ZSCAN z 99999999999999999999",
                "ZSCAN z 0 COUNT 0",
                "ZSCAN z 0 COUNT x",
                "ZSCAN z 0 MATCH",
                "ZSCAN z 0 FOO bar",
                "ZSCAN z",
                "SET s v",
                "ZSCAN s 0",
            ]),
    ]
}

/// `ZADD key` with 200 members `m000` to `m199`, scored by `score` of their index: more than the
/// 128 members Redis keeps compact, so that Redis answers from its skiplist.
fn large_zadd(key: &str, score: impl Fn(usize) -> usize) -> String {
    let pairs: Vec<String> = (0..200).map(|index| format!("{} m{index:03}", score(index))).collect();
    format!("ZADD {key} {}", pairs.join(" "))
}

/// Sets larger than Redis keeps compact, which Redis answers from its skiplist and hash table.
fn large_sets() -> Vec<Script> {
    vec![
        script("Large sets of equal scores: ranks, lexicographic ranges and pops").exact(&[
            &large_zadd("z", |_| 0),
            "ZRANGEBYLEX z [m050 (m055",
            "ZREVRANGEBYLEX z (m100 [m095",
            "ZLEXCOUNT z [m050 [m100",
            "ZREMRANGEBYLEX z [m000 [m009",
            "ZCARD z",
            "ZRANK z m150",
            "ZREVRANK z m150",
            "ZRANGE z 100 102 WITHSCORES",
            "ZRANGE z -3 -1 REV",
            "ZPOPMAX z 2",
            "ZRANGEBYSCORE z 0 0 LIMIT 180 5",
        ]),
        script("Large sets of mixed scores: score ranges, stores and scans")
            .exact(&[
                &large_zadd("z", |index| index % 7),
                "ZRANGEBYSCORE z (5 6 LIMIT 3 4 WITHSCORES",
                "ZREVRANGEBYSCORE z 3 (1 LIMIT 50 3",
                "ZCOUNT z (2 4",
                "ZRANK z m013",
                "ZUNIONSTORE d 2 z z",
                "ZRANGE d 0 2 WITHSCORES",
                "ZREMRANGEBYSCORE z 6 6",
                "ZCARD z",
            ])
            .unordered("ZSCAN z 0 MATCH m00* COUNT 1000")
            .differs(
                "ZSCAN z 0",
                "on a set larger than Redis keeps compact, kv's cursor is an index into the score order and Redis's a position in its hash table, so the two return other members at each step (a whole scan returns the same members)",
            )
            .differs(
                "ZRANGEBYLEX z [m050 [m100 LIMIT 0 5",
                "lexicographic ranges are defined for members of equal scores only; on others kv answers as Redis's compact encoding does (from the first member at or above the minimum in score order), where Redis's skiplist search lands elsewhere",
            )
            .differs(
                "ZLEXCOUNT z [m050 [m100",
                "lexicographic ranges are defined for members of equal scores only; on others kv answers as Redis's compact encoding does (counting from the first member in range while members stay in range), where Redis's skiplist subtracts the ranks of the first and the last member it finds",
            )
            .exact(&["ZADD z -0 negative-zero"])
            .differs(
                "ZSCORE z negative-zero",
                "kv stores a score of -0 as 0, as Redis's compact encoding does; Redis's skiplist keeps -0 and replies -0",
            ),
    ]
}
