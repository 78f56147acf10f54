//! The sorted set commands: ZADD, ZREM, ZSCORE, ZRANGE, ZPOPMIN, ... on [`SortedSet`]s.

#[allow(unused_imports, reason = "the commands are still to come")]
use crate::sorted_set::SortedSet;
