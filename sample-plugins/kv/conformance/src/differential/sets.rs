//! The differential table of the set commands.

use super::{Script, script};

/// Every script of the set family.
#[must_use]
pub fn sets() -> Vec<Script> {
    vec![script("SADD adds members once and SMEMBERS lists them").exact(&["SADD s a b a", "SCARD s"]).unordered("SMEMBERS s")]
}
