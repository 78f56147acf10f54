//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SCARD, ... on sets of byte strings.
