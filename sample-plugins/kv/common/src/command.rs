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

/// The [`CommandSpec`] of the command named `lowercase_name` (as [`LowercaseName`] reads it), as
/// Redis 7.0's `COMMAND INFO` gives it, for every command kv v4 answers; `None` for any other
/// name. A transaction checks its commands' arity with it before it queues them, and WATCH
/// counts the writes with it.
#[must_use]
pub fn spec(lowercase_name: &[u8]) -> Option<CommandSpec> {
    let (arity, writes) = match lowercase_name {
        b"append" => (3, true),
        b"blmove" => (6, true),
        b"blmpop" => (-5, true),
        b"blpop" => (-3, true),
        b"brpop" => (-3, true),
        b"brpoplpush" => (4, true),
        b"bzpopmax" => (-3, true),
        b"bzpopmin" => (-3, true),
        b"client" => (-2, false),
        b"command" => (-1, false),
        b"config" => (-2, false),
        b"copy" => (-3, true),
        b"dbsize" => (1, false),
        b"decr" => (2, true),
        b"decrby" => (3, true),
        b"del" => (-2, true),
        b"echo" => (2, false),
        b"exists" => (-2, false),
        b"expire" => (-3, true),
        b"expireat" => (-3, true),
        b"expiretime" => (2, false),
        b"flushall" => (-1, true),
        b"flushdb" => (-1, true),
        b"get" => (2, false),
        b"getdel" => (2, true),
        b"getex" => (-2, true),
        b"getrange" => (4, false),
        b"getset" => (3, true),
        b"hdel" => (-3, true),
        b"hexists" => (3, false),
        b"hget" => (3, false),
        b"hgetall" => (2, false),
        b"hincrby" => (4, true),
        b"hincrbyfloat" => (4, true),
        b"hkeys" => (2, false),
        b"hlen" => (2, false),
        b"hmget" => (-3, false),
        b"hmset" => (-4, true),
        b"hrandfield" => (-2, false),
        b"hscan" => (-3, false),
        b"hset" => (-4, true),
        b"hsetnx" => (4, true),
        b"hstrlen" => (3, false),
        b"hvals" => (2, false),
        b"incr" => (2, true),
        b"incrby" => (3, true),
        b"incrbyfloat" => (3, true),
        b"info" => (-1, false),
        b"keys" => (2, false),
        b"lcs" => (-3, false),
        b"lindex" => (3, false),
        b"linsert" => (5, true),
        b"llen" => (2, false),
        b"lmove" => (5, true),
        b"lmpop" => (-4, true),
        b"lpop" => (-2, true),
        b"lpos" => (-3, false),
        b"lpush" => (-3, true),
        b"lpushx" => (-3, true),
        b"lrange" => (4, false),
        b"lrem" => (4, true),
        b"lset" => (4, true),
        b"ltrim" => (4, true),
        b"mget" => (-2, false),
        b"mset" => (-3, true),
        b"msetnx" => (-3, true),
        b"object" => (-2, false),
        b"persist" => (2, true),
        b"pexpire" => (-3, true),
        b"pexpireat" => (-3, true),
        b"pexpiretime" => (2, false),
        b"ping" => (-1, false),
        b"psetex" => (4, true),
        b"pttl" => (2, false),
        b"randomkey" => (1, false),
        b"rename" => (3, true),
        b"renamenx" => (3, true),
        b"rpop" => (-2, true),
        b"rpoplpush" => (3, true),
        b"rpush" => (-3, true),
        b"rpushx" => (-3, true),
        b"sadd" => (-3, true),
        b"scan" => (-2, false),
        b"scard" => (2, false),
        b"sdiff" => (-2, false),
        b"sdiffstore" => (-3, true),
        b"select" => (2, false),
        b"set" => (-3, true),
        b"setex" => (4, true),
        b"setnx" => (3, true),
        b"setrange" => (4, true),
        b"sinter" => (-2, false),
        b"sintercard" => (-3, false),
        b"sinterstore" => (-3, true),
        b"sismember" => (3, false),
        b"smembers" => (2, false),
        b"smismember" => (-3, false),
        b"smove" => (4, true),
        b"spop" => (-2, true),
        b"srandmember" => (-2, false),
        b"srem" => (-3, true),
        b"sscan" => (-3, false),
        b"strlen" => (2, false),
        b"substr" => (4, false),
        b"sunion" => (-2, false),
        b"sunionstore" => (-3, true),
        b"touch" => (-2, false),
        b"ttl" => (2, false),
        b"type" => (2, false),
        b"unlink" => (-2, true),
        b"unwatch" => (1, false),
        b"zadd" => (-4, true),
        b"zcard" => (2, false),
        b"zcount" => (4, false),
        b"zdiff" => (-3, false),
        b"zdiffstore" => (-4, true),
        b"zincrby" => (4, true),
        b"zinter" => (-3, false),
        b"zintercard" => (-3, false),
        b"zinterstore" => (-4, true),
        b"zlexcount" => (4, false),
        b"zmscore" => (-3, false),
        b"zpopmax" => (-2, true),
        b"zpopmin" => (-2, true),
        b"zrandmember" => (-2, false),
        b"zrange" => (-4, false),
        b"zrangebylex" => (-4, false),
        b"zrangebyscore" => (-4, false),
        b"zrangestore" => (-5, true),
        b"zrank" => (3, false),
        b"zrem" => (-3, true),
        b"zremrangebylex" => (4, true),
        b"zremrangebyrank" => (4, true),
        b"zremrangebyscore" => (4, true),
        b"zrevrange" => (-4, false),
        b"zrevrangebylex" => (-4, false),
        b"zrevrangebyscore" => (-4, false),
        b"zrevrank" => (3, false),
        b"zscan" => (-3, false),
        b"zscore" => (3, false),
        b"zunion" => (-3, false),
        b"zunionstore" => (-4, true),
        _ => return None,
    };
    Some(CommandSpec { arity, writes })
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
}
