//! The differential table of the hash commands: HSET, HGET, HDEL, HGETALL, HLEN, HMSET, HMGET,
//! HINCRBY, HINCRBYFLOAT, HKEYS, HVALS, HEXISTS, HSETNX, HSTRLEN and HRANDFIELD, with their
//! options, their errors and the edge cases of missing, emptied and overwritten keys.
//!
//! Both servers list a whole hash in their own order (Redis its hash table's, kv sorted by field),
//! so HGETALL, HKEYS, HVALS and an HRANDFIELD covering the hash are compared unordered.

use super::{Script, script};

/// Why the reply of a random pick of part of a hash is not compared.
const RANDOM_PICK: &str = "the fields picked are random: the HLEN or HGETALL after the step checks that nothing changed";

/// Why kv refuses a huge negative HRANDFIELD count.
const DRAW_CAP: &str = "kv draws at most 2^20 fields at a time; Redis would build a reply of any size until memory runs out";

/// Every script of the hash family.
#[must_use]
pub fn hashes() -> Vec<Script> {
    let mut scripts = fields();
    scripts.extend(increments());
    scripts.extend(random_picks());
    scripts
}

/// HSET, HMSET, HMGET, HKEYS, HVALS, HEXISTS, HSETNX, HSTRLEN, HDEL, HGETALL and HLEN.
fn fields() -> Vec<Script> {
    vec![
        script("HMSET and HMGET")
            .exact(&["HMSET h a 1 b 2", "HMSET h b 3 c", "HMSET h", "HMSET", "HMGET h a b z", "HMGET missing a b", "HMGET h", "HLEN h"])
            .unordered("HGETALL h"),
        script("HKEYS and HVALS list the whole hash")
            .exact(&["HSET h a 1 b 2 c 3 d 1"])
            .unordered("HKEYS h")
            .unordered("HVALS h")
            .exact(&["HKEYS missing", "HVALS missing", "HKEYS", "HVALS h x", "HDEL h a b c d", "HKEYS h", "EXISTS h"]),
        script("HEXISTS, HSETNX and HSTRLEN").exact(&[
            "HSETNX h a hello",
            "HSETNX h a world",
            "HGET h a",
            "HEXISTS h a",
            "HEXISTS h z",
            "HEXISTS missing a",
            "HSTRLEN h a",
            "HSTRLEN h z",
            "HSTRLEN missing a",
            "HSET h e ",
            "HSTRLEN h e",
            "HSETNX h",
            "HSETNX h a b c",
            "HEXISTS h",
            "HSTRLEN h",
        ]),
        script("hash commands on a key of another type").exact(&[
            "SET s v",
            "HMSET s a 1",
            "HMGET s a",
            "HKEYS s",
            "HVALS s",
            "HEXISTS s a",
            "HSETNX s a 1",
            "HSTRLEN s a",
            "HINCRBY s a 1",
            "HINCRBY s a x",
            "HINCRBYFLOAT s a 1",
            "HINCRBYFLOAT s a x",
            "HRANDFIELD s",
            "HRANDFIELD s 1",
            "HRANDFIELD s x",
            "GET s",
        ]),
    ]
}

/// HINCRBY and HINCRBYFLOAT.
fn increments() -> Vec<Script> {
    vec![
        script("HINCRBY and its overflows").exact(&[
            "HINCRBY h n 5",
            "HINCRBY h n -10",
            "HINCRBY h n x",
            "HINCRBY h n 1.5",
            "HINCRBY h n 01",
            "HINCRBY h max 9223372036854775807",
            "HINCRBY h max 1",
            "HINCRBY h min -9223372036854775808",
            "HINCRBY h min -1",
            "HSET h text abc space  1 empty ",
            "HINCRBY h text 1",
            "HINCRBY h space 1",
            "HINCRBY h empty 1",
            "HINCRBY missing f x",
            "EXISTS missing",
            "HINCRBY h n",
            "HGET h n",
        ]),
        script("HINCRBYFLOAT writes long doubles as Redis does").exact(&[
            "HSET h f 1.5",
            "HINCRBYFLOAT h f 0.1",
            "HINCRBYFLOAT h n 3.0e3",
            "HINCRBYFLOAT h m 1.5e-5",
            "HINCRBYFLOAT h p 0.1",
            "HINCRBYFLOAT h p 0.2",
            "HINCRBYFLOAT h i 10",
            "HINCRBYFLOAT h i 1000.1",
            "HINCRBYFLOAT h t 12345678.9",
            "HINCRBYFLOAT h q 1e300",
            "HINCRBYFLOAT h r 1e-30",
            "HINCRBYFLOAT h r -1e-30",
            "HINCRBYFLOAT h z -2.5",
            "HINCRBYFLOAT h z 2.5",
            "HINCRBYFLOAT h e 5.",
            "HINCRBYFLOAT h e .5",
            "HINCRBYFLOAT h e +1E+2",
            "HINCRBYFLOAT h e -0",
            "HINCRBYFLOAT h big 1.18e4932",
            "HINCRBYFLOAT h big 1.18e4932",
            "HINCRBYFLOAT h tiny 1e-4940",
            "HGET h f",
            "HGET h big",
        ]),
        script("HINCRBYFLOAT refuses what is not a finite float").exact(&[
            "HSET h text abc space  1 empty  inf inf",
            "HINCRBYFLOAT h f inf",
            "HINCRBYFLOAT h f -Infinity",
            "HINCRBYFLOAT h f nan",
            "HINCRBYFLOAT h f x",
            "HINCRBYFLOAT h f 1e",
            "HINCRBYFLOAT h f 1e5000",
            "HINCRBYFLOAT h f 1e-5000",
            "HINCRBYFLOAT h f ",
            "HINCRBYFLOAT h text 1",
            "HINCRBYFLOAT h space 1",
            "HINCRBYFLOAT h empty 1",
            "HINCRBYFLOAT h inf 1",
            "HINCRBYFLOAT missing f inf",
            "HINCRBYFLOAT missing f 1e4932",
            "HINCRBYFLOAT missing f 1e4932",
            "HINCRBYFLOAT other f x",
            "EXISTS other",
            "HINCRBYFLOAT h f",
            "HEXISTS h f",
        ]),
        script("HINCRBYFLOAT reads C's hexadecimal floats, as strtold does").exact(&[
            "HINCRBYFLOAT h a 0x10",
            "HINCRBYFLOAT h b 0X1p3",
            "HINCRBYFLOAT h c 0x1.8p1",
            "HINCRBYFLOAT h d -0x.8",
            "HINCRBYFLOAT h e 0x1P-2",
            "HINCRBYFLOAT h f 0x1.p1",
            "HINCRBYFLOAT h g 0x1e2",
            "HINCRBYFLOAT h g +0x10",
            "HINCRBYFLOAT h i 0xffffffffffffffffff",
            "HINCRBYFLOAT h j 0x1.00000000000000018p0",
            "HINCRBYFLOAT h k 0x",
            "HINCRBYFLOAT h k 0x1p",
            "HINCRBYFLOAT h k 0xg",
            "HINCRBYFLOAT h k 0x.p1",
            "HINCRBYFLOAT h k 0x1p99999",
            "HINCRBYFLOAT h k 0x1p-99999",
            "HSET h x 0x1p4",
            "HINCRBYFLOAT h x 1",
        ]),
    ]
}

/// HRANDFIELD.
fn random_picks() -> Vec<Script> {
    vec![
        script("HRANDFIELD on a one-field hash, with every kind of count").exact(&[
            "HSET h f v",
            "HRANDFIELD h",
            "HRANDFIELD h 1",
            "HRANDFIELD h 3",
            "HRANDFIELD h -3",
            "HRANDFIELD h 0",
            "HRANDFIELD h -2 WITHVALUES",
            "HRANDFIELD h 2 withvalues",
            "HRANDFIELD h 0 WITHVALUES",
        ]),
        script("HRANDFIELD with a count covering the hash returns it whole")
            .exact(&["HSET h a 1 b 2 c 3"])
            .unordered("HRANDFIELD h 3")
            .unordered("HRANDFIELD h 10 WITHVALUES")
            .unordered("HRANDFIELD h 9223372036854775807")
            .differs("HRANDFIELD h 2", RANDOM_PICK)
            .differs("HRANDFIELD h -5 WITHVALUES", RANDOM_PICK)
            .differs("HRANDFIELD h", RANDOM_PICK)
            .differs("HRANDFIELD h -1048577", DRAW_CAP)
            .exact(&["HLEN h"])
            .unordered("HGETALL h"),
        script("HRANDFIELD on a missing key, and its errors").exact(&[
            "HRANDFIELD missing",
            "HRANDFIELD missing 3",
            "HRANDFIELD missing -3 WITHVALUES",
            "HRANDFIELD missing x",
            "HSET h a 1",
            "HRANDFIELD h x",
            "HRANDFIELD h 1.5",
            "HRANDFIELD h 99999999999999999999",
            "HRANDFIELD h -9223372036854775808",
            "HRANDFIELD h 9223372036854775807 WITHVALUES",
            "HRANDFIELD h -4611686018427387904 WITHVALUES",
            "HRANDFIELD h 1 WITHVALUE",
            "HRANDFIELD h x WITHVALUE",
            "HRANDFIELD h 1 WITHVALUES x",
            "HRANDFIELD missing 1 WITHVALUE",
            "HRANDFIELD",
        ]),
    ]
}
