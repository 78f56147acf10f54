//! Command names, read the way every kv version dispatches them.

/// The longest command name any version knows, in bytes; longer names are unknown commands.
const LONGEST_COMMAND_NAME: usize = 16;

/// A command name in ASCII lowercase, held on the stack so that dispatch allocates nothing.
pub struct LowercaseName {
    buffer: [u8; LONGEST_COMMAND_NAME],
    length: usize,
}

impl LowercaseName {
    /// Lowercases `name`. A name longer than any command becomes the empty name, which no command
    /// has, so it is reported as unknown.
    #[must_use]
    pub fn new(name: &[u8]) -> LowercaseName {
        let mut buffer = [0; LONGEST_COMMAND_NAME];
        let Some(prefix) = buffer.get_mut(..name.len()) else {
            return LowercaseName { buffer, length: 0 };
        };
        prefix.copy_from_slice(name);
        prefix.make_ascii_lowercase();
        LowercaseName { buffer, length: name.len() }
    }

    /// The lowercase name.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.get(..self.length).unwrap_or_default()
    }
}

/// What Redis's command table says of a command that kv answers: how many arguments it takes
/// (its name included; negative: at least that many) and whether it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Redis's arity: the exact argument count when positive, the least when negative.
    pub arity: i32,
    /// Whether Redis flags the command `write`.
    pub writes: bool,
}

/// Redis 7.0's `COMMAND INFO` for every command kv v4 answers, sorted by name.
pub const COMMAND_TABLE: &[(&[u8], CommandSpec)] = &[
    (b"append", CommandSpec { arity: 3, writes: true }),
    (b"blmove", CommandSpec { arity: 6, writes: true }),
    (b"blmpop", CommandSpec { arity: -5, writes: true }),
    (b"blpop", CommandSpec { arity: -3, writes: true }),
    (b"brpop", CommandSpec { arity: -3, writes: true }),
    (b"brpoplpush", CommandSpec { arity: 4, writes: true }),
    (b"bzpopmax", CommandSpec { arity: -3, writes: true }),
    (b"bzpopmin", CommandSpec { arity: -3, writes: true }),
    (b"client", CommandSpec { arity: -2, writes: false }),
    (b"command", CommandSpec { arity: -1, writes: false }),
    (b"config", CommandSpec { arity: -2, writes: false }),
    (b"copy", CommandSpec { arity: -3, writes: true }),
    (b"dbsize", CommandSpec { arity: 1, writes: false }),
    (b"decr", CommandSpec { arity: 2, writes: true }),
    (b"decrby", CommandSpec { arity: 3, writes: true }),
    (b"del", CommandSpec { arity: -2, writes: true }),
    (b"echo", CommandSpec { arity: 2, writes: false }),
    (b"exists", CommandSpec { arity: -2, writes: false }),
    (b"expire", CommandSpec { arity: -3, writes: true }),
    (b"expireat", CommandSpec { arity: -3, writes: true }),
    (b"expiretime", CommandSpec { arity: 2, writes: false }),
    (b"flushall", CommandSpec { arity: -1, writes: true }),
    (b"flushdb", CommandSpec { arity: -1, writes: true }),
    (b"get", CommandSpec { arity: 2, writes: false }),
    (b"getdel", CommandSpec { arity: 2, writes: true }),
    (b"getex", CommandSpec { arity: -2, writes: true }),
    (b"getrange", CommandSpec { arity: 4, writes: false }),
    (b"getset", CommandSpec { arity: 3, writes: true }),
    (b"hdel", CommandSpec { arity: -3, writes: true }),
    (b"hexists", CommandSpec { arity: 3, writes: false }),
    (b"hget", CommandSpec { arity: 3, writes: false }),
    (b"hgetall", CommandSpec { arity: 2, writes: false }),
    (b"hincrby", CommandSpec { arity: 4, writes: true }),
    (b"hincrbyfloat", CommandSpec { arity: 4, writes: true }),
    (b"hkeys", CommandSpec { arity: 2, writes: false }),
    (b"hlen", CommandSpec { arity: 2, writes: false }),
    (b"hmget", CommandSpec { arity: -3, writes: false }),
    (b"hmset", CommandSpec { arity: -4, writes: true }),
    (b"hrandfield", CommandSpec { arity: -2, writes: false }),
    (b"hscan", CommandSpec { arity: -3, writes: false }),
    (b"hset", CommandSpec { arity: -4, writes: true }),
    (b"hsetnx", CommandSpec { arity: 4, writes: true }),
    (b"hstrlen", CommandSpec { arity: 3, writes: false }),
    (b"hvals", CommandSpec { arity: 2, writes: false }),
    (b"incr", CommandSpec { arity: 2, writes: true }),
    (b"incrby", CommandSpec { arity: 3, writes: true }),
    (b"incrbyfloat", CommandSpec { arity: 3, writes: true }),
    (b"info", CommandSpec { arity: -1, writes: false }),
    (b"keys", CommandSpec { arity: 2, writes: false }),
    (b"lcs", CommandSpec { arity: -3, writes: false }),
    (b"lindex", CommandSpec { arity: 3, writes: false }),
    (b"linsert", CommandSpec { arity: 5, writes: true }),
    (b"llen", CommandSpec { arity: 2, writes: false }),
    (b"lmove", CommandSpec { arity: 5, writes: true }),
    (b"lmpop", CommandSpec { arity: -4, writes: true }),
    (b"lpop", CommandSpec { arity: -2, writes: true }),
    (b"lpos", CommandSpec { arity: -3, writes: false }),
    (b"lpush", CommandSpec { arity: -3, writes: true }),
    (b"lpushx", CommandSpec { arity: -3, writes: true }),
    (b"lrange", CommandSpec { arity: 4, writes: false }),
    (b"lrem", CommandSpec { arity: 4, writes: true }),
    (b"lset", CommandSpec { arity: 4, writes: true }),
    (b"ltrim", CommandSpec { arity: 4, writes: true }),
    (b"mget", CommandSpec { arity: -2, writes: false }),
    (b"mset", CommandSpec { arity: -3, writes: true }),
    (b"msetnx", CommandSpec { arity: -3, writes: true }),
    (b"object", CommandSpec { arity: -2, writes: false }),
    (b"persist", CommandSpec { arity: 2, writes: true }),
    (b"pexpire", CommandSpec { arity: -3, writes: true }),
    (b"pexpireat", CommandSpec { arity: -3, writes: true }),
    (b"pexpiretime", CommandSpec { arity: 2, writes: false }),
    (b"ping", CommandSpec { arity: -1, writes: false }),
    (b"psetex", CommandSpec { arity: 4, writes: true }),
    (b"pttl", CommandSpec { arity: 2, writes: false }),
    (b"randomkey", CommandSpec { arity: 1, writes: false }),
    (b"rename", CommandSpec { arity: 3, writes: true }),
    (b"renamenx", CommandSpec { arity: 3, writes: true }),
    (b"rpop", CommandSpec { arity: -2, writes: true }),
    (b"rpoplpush", CommandSpec { arity: 3, writes: true }),
    (b"rpush", CommandSpec { arity: -3, writes: true }),
    (b"rpushx", CommandSpec { arity: -3, writes: true }),
    (b"sadd", CommandSpec { arity: -3, writes: true }),
    (b"scan", CommandSpec { arity: -2, writes: false }),
    (b"scard", CommandSpec { arity: 2, writes: false }),
    (b"sdiff", CommandSpec { arity: -2, writes: false }),
    (b"sdiffstore", CommandSpec { arity: -3, writes: true }),
    (b"select", CommandSpec { arity: 2, writes: false }),
    (b"set", CommandSpec { arity: -3, writes: true }),
    (b"setex", CommandSpec { arity: 4, writes: true }),
    (b"setnx", CommandSpec { arity: 3, writes: true }),
    (b"setrange", CommandSpec { arity: 4, writes: true }),
    (b"sinter", CommandSpec { arity: -2, writes: false }),
    (b"sintercard", CommandSpec { arity: -3, writes: false }),
    (b"sinterstore", CommandSpec { arity: -3, writes: true }),
    (b"sismember", CommandSpec { arity: 3, writes: false }),
    (b"smembers", CommandSpec { arity: 2, writes: false }),
    (b"smismember", CommandSpec { arity: -3, writes: false }),
    (b"smove", CommandSpec { arity: 4, writes: true }),
    (b"spop", CommandSpec { arity: -2, writes: true }),
    (b"srandmember", CommandSpec { arity: -2, writes: false }),
    (b"srem", CommandSpec { arity: -3, writes: true }),
    (b"sscan", CommandSpec { arity: -3, writes: false }),
    (b"strlen", CommandSpec { arity: 2, writes: false }),
    (b"substr", CommandSpec { arity: 4, writes: false }),
    (b"sunion", CommandSpec { arity: -2, writes: false }),
    (b"sunionstore", CommandSpec { arity: -3, writes: true }),
    (b"touch", CommandSpec { arity: -2, writes: false }),
    (b"ttl", CommandSpec { arity: 2, writes: false }),
    (b"type", CommandSpec { arity: 2, writes: false }),
    (b"unlink", CommandSpec { arity: -2, writes: true }),
    (b"unwatch", CommandSpec { arity: 1, writes: false }),
    (b"zadd", CommandSpec { arity: -4, writes: true }),
    (b"zcard", CommandSpec { arity: 2, writes: false }),
    (b"zcount", CommandSpec { arity: 4, writes: false }),
    (b"zdiff", CommandSpec { arity: -3, writes: false }),
    (b"zdiffstore", CommandSpec { arity: -4, writes: true }),
    (b"zincrby", CommandSpec { arity: 4, writes: true }),
    (b"zinter", CommandSpec { arity: -3, writes: false }),
    (b"zintercard", CommandSpec { arity: -3, writes: false }),
    (b"zinterstore", CommandSpec { arity: -4, writes: true }),
    (b"zlexcount", CommandSpec { arity: 4, writes: false }),
    (b"zmscore", CommandSpec { arity: -3, writes: false }),
    (b"zpopmax", CommandSpec { arity: -2, writes: true }),
    (b"zpopmin", CommandSpec { arity: -2, writes: true }),
    (b"zrandmember", CommandSpec { arity: -2, writes: false }),
    (b"zrange", CommandSpec { arity: -4, writes: false }),
    (b"zrangebylex", CommandSpec { arity: -4, writes: false }),
    (b"zrangebyscore", CommandSpec { arity: -4, writes: false }),
    (b"zrangestore", CommandSpec { arity: -5, writes: true }),
    (b"zrank", CommandSpec { arity: 3, writes: false }),
    (b"zrem", CommandSpec { arity: -3, writes: true }),
    (b"zremrangebylex", CommandSpec { arity: 4, writes: true }),
    (b"zremrangebyrank", CommandSpec { arity: 4, writes: true }),
    (b"zremrangebyscore", CommandSpec { arity: 4, writes: true }),
    (b"zrevrange", CommandSpec { arity: -4, writes: false }),
    (b"zrevrangebylex", CommandSpec { arity: -4, writes: false }),
    (b"zrevrangebyscore", CommandSpec { arity: -4, writes: false }),
    (b"zrevrank", CommandSpec { arity: 3, writes: false }),
    (b"zscan", CommandSpec { arity: -3, writes: false }),
    (b"zscore", CommandSpec { arity: 3, writes: false }),
    (b"zunion", CommandSpec { arity: -3, writes: false }),
    (b"zunionstore", CommandSpec { arity: -4, writes: true }),
];

/// The [`CommandSpec`] of the command named `lowercase_name` (as [`LowercaseName`] reads it), from
/// [`COMMAND_TABLE`]; `None` for any other name. A transaction checks its commands' arity with it
/// before it queues them, and WATCH counts the writes with it.
#[must_use]
pub fn spec(lowercase_name: &[u8]) -> Option<CommandSpec> {
    let index = COMMAND_TABLE.binary_search_by(|(name, _)| (*name).cmp(lowercase_name)).ok()?;
    Some(COMMAND_TABLE[index].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_and_overlong_names_become_empty() {
        assert_eq!(LowercaseName::new(b"GeT").as_bytes(), b"get");
        assert_eq!(LowercaseName::new(b"").as_bytes(), b"");
        assert_eq!(LowercaseName::new(&[b'A'; 17]).as_bytes(), b"");
    }

    #[test]
    fn the_command_table_is_sorted_and_found_by_name() {
        assert!(COMMAND_TABLE.windows(2).all(|pair| pair[0].0 < pair[1].0), "sorted, without duplicates");
        assert_eq!(spec(b"get"), Some(CommandSpec { arity: 2, writes: false }));
        assert_eq!(spec(b"set"), Some(CommandSpec { arity: -3, writes: true }));
        assert_eq!(spec(b"GET"), None, "names are looked up lowercase");
        assert_eq!(spec(b"nosuch"), None);
    }
}
