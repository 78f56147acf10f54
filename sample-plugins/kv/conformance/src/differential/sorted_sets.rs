//! The differential table of the sorted set commands.

use super::{Script, script};

/// Every script of the sorted set family.
#[must_use]
pub fn sorted_sets() -> Vec<Script> {
    vec![script("ZADD adds members and ZRANGE lists them by score").exact(&["ZADD z 2 b 1 a", "ZRANGE z 0 -1 WITHSCORES"])]
}
