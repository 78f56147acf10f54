//! What every kv version needs to be updated lazily: which keys a command touches, and moving those
//! keys' entries in from the previous version before the command runs.

use std::collections::HashMap;

use ecdysis_plugin_api::keyed::Migration;
use ecdysis_plugin_api::{PluginError, Schema};

use crate::command::LowercaseName;

/// The keys a command reads or writes.
#[derive(Debug, PartialEq, Eq)]
pub enum KeysTouched<'a> {
    /// These keys (possibly none).
    Listed(Vec<&'a [u8]>),
    /// The whole keyspace (KEYS, DBSIZE, FLUSHALL, INFO's key counts), and commands this table
    /// does not know, to be safe.
    All,
}

/// The keys `arguments` (a command's name, then its arguments) touches.
#[must_use]
pub fn keys_touched<'a>(arguments: &[&'a [u8]]) -> KeysTouched<'a> {
    let Some(name) = arguments.first() else {
        return KeysTouched::Listed(Vec::new());
    };
    let rest = &arguments[1..];
    match LowercaseName::new(name).as_bytes() {
        b"ping" | b"echo" | b"select" | b"config" | b"command" | b"client" => KeysTouched::Listed(Vec::new()),
        b"get" | b"set" | b"incr" | b"incrby" | b"decr" | b"decrby" | b"append" | b"strlen" | b"expire" | b"pexpire" | b"expireat"
        | b"pexpireat" | b"ttl" | b"pttl" | b"expiretime" | b"pexpiretime" | b"persist" | b"lpush" | b"rpush" | b"lpop" | b"rpop"
        | b"lrange" | b"llen" | b"hset" | b"hget" | b"hdel" | b"hgetall" | b"hlen" | b"type" | b"sadd" | b"srem" | b"smembers"
        | b"sismember" | b"smismember" | b"scard" | b"spop" | b"srandmember" | b"sscan" | b"setex" | b"psetex" | b"setnx" | b"getset"
        | b"getex" | b"getdel" | b"incrbyfloat" | b"setrange" | b"getrange" | b"substr" | b"hscan" | b"lpushx" | b"rpushx" | b"lindex"
        | b"lset" | b"linsert" | b"lpos" | b"lrem" | b"ltrim" | b"hmset" | b"hmget" | b"hincrby" | b"hincrbyfloat" | b"hkeys"
        | b"hvals" | b"hexists" | b"hsetnx" | b"hstrlen" | b"hrandfield" | b"zadd" | b"zincrby" | b"zrem" | b"zscore" | b"zmscore"
        | b"zcard" | b"zpopmin" | b"zpopmax" | b"zrange" | b"zrevrange" | b"zrangebyscore" | b"zrevrangebyscore" | b"zrangebylex"
        | b"zrevrangebylex" | b"zcount" | b"zlexcount" | b"zrank" | b"zrevrank" | b"zremrangebyrank" | b"zremrangebyscore"
        | b"zremrangebylex" | b"zrandmember" | b"zscan" => KeysTouched::Listed(rest.first().copied().into_iter().collect()),
        b"object" => KeysTouched::Listed(rest.get(1).copied().into_iter().collect()),
        b"smove" | b"zrangestore" | b"lmove" | b"rpoplpush" | b"rename" | b"renamenx" | b"copy" | b"lcs" | b"blmove" | b"brpoplpush" => {
            KeysTouched::Listed(rest.iter().take(2).copied().collect())
        }
        b"sintercard" | b"zunion" | b"zinter" | b"zdiff" | b"zintercard" | b"lmpop" => KeysTouched::Listed(counted_keys(rest, 0)),
        b"zunionstore" | b"zinterstore" | b"zdiffstore" => {
            KeysTouched::Listed(rest.first().copied().into_iter().chain(counted_keys(rest, 1)).collect())
        }
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" => {
            KeysTouched::Listed(rest.split_last().map(|(_, keys)| keys.to_vec()).unwrap_or_default())
        }
        b"blmpop" => KeysTouched::Listed(counted_keys(rest, 1)),
        b"mget" | b"del" | b"unlink" | b"exists" | b"sinter" | b"sunion" | b"sdiff" | b"sinterstore" | b"sunionstore" | b"sdiffstore"
        | b"touch" => KeysTouched::Listed(rest.to_vec()),
        b"mset" | b"msetnx" => KeysTouched::Listed(rest.iter().step_by(2).copied().collect()),
        // The plugin's transaction commands (`crate::transaction`).
        b"multi" | b"queue" | b"unwatch" | b"discard" => KeysTouched::Listed(Vec::new()),
        b"watch" => KeysTouched::Listed(rest.to_vec()),
        b"exec" => crate::transaction::exec_keys_touched(rest),
        _ => KeysTouched::All,
    }
}

/// The keys a command names after a key count at `rest[numkeys_index]` (ZUNION, ZINTERSTORE,
/// ...). When the count is not a number that many arguments can hold, every argument after it: a
/// superset does no harm (those entries only move in early), and the command fails anyway.
fn counted_keys<'a>(rest: &[&'a [u8]], numkeys_index: usize) -> Vec<&'a [u8]> {
    let after = rest.get(numkeys_index + 1..).unwrap_or_default();
    let counted = rest
        .get(numkeys_index)
        .and_then(|numkeys| crate::parse_integer(numkeys))
        .and_then(|numkeys| usize::try_from(numkeys).ok())
        .and_then(|numkeys| after.get(..numkeys));
    counted.unwrap_or(after).to_vec()
}

/// Moves in, from the previous version of a lazy update, the entries of the keys `arguments`
/// touches that `entries` does not hold yet (every remaining entry for a command on the whole
/// keyspace), each converted by `convert`. Does nothing when no migration is under way.
///
/// # Errors
/// When an entry cannot be migrated or converted to this version: the command must not run.
pub fn move_in_touched_keys<T, E: Schema>(
    entries: &mut HashMap<Vec<u8>, T>,
    migration: &Migration<E>,
    arguments: &[&[u8]],
    convert: impl Fn(E) -> Result<T, PluginError>,
) -> Result<(), PluginError> {
    if !migration.is_under_way() {
        return Ok(());
    }
    match keys_touched(arguments) {
        KeysTouched::Listed(keys) => {
            for key in keys {
                if !entries.contains_key(key)
                    && let Some(entry) = migration.take(key)?
                {
                    entries.insert(key.to_vec(), convert(entry)?);
                }
            }
        }
        KeysTouched::All => move_in_everything(entries, migration, convert)?,
    }
    Ok(())
}

/// Moves in every remaining entry of the previous version.
///
/// # Errors
/// When the previous version cannot hand out entries, or one cannot be converted.
pub fn move_in_everything<T, E: Schema>(
    entries: &mut HashMap<Vec<u8>, T>,
    migration: &Migration<E>,
    convert: impl Fn(E) -> Result<T, PluginError>,
) -> Result<(), PluginError> {
    for (key, entry) in migration.take_all()? {
        entries.insert(key, convert(entry)?);
    }
    Ok(())
}

/// Moves up to `limit` entries in from the previous version; returns how many remain there.
///
/// # Errors
/// When the previous version cannot hand out entries, or one cannot be converted.
pub fn move_in_some<T, E: Schema>(
    entries: &mut HashMap<Vec<u8>, T>,
    migration: &Migration<E>,
    limit: usize,
    convert: impl Fn(E) -> Result<T, PluginError>,
) -> Result<u64, PluginError> {
    let (moved, remaining) = migration.take_some(limit)?;
    // Room for every entry still to come, made once while the table is small: growing it by
    // doubling would rehash the entries moved so far while a call waits (half a second at a
    // million keys).
    entries.reserve(moved.len() + usize::try_from(remaining).unwrap_or(0));
    for (key, entry) in moved {
        entries.insert(key, convert(entry)?);
    }
    Ok(remaining)
}

/// Removes up to `limit` entries (any of them) and returns them.
pub fn take_entries<T>(entries: &mut HashMap<Vec<u8>, T>, limit: usize) -> Vec<(Vec<u8>, T)> {
    entries.extract_if(|_, _| true).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(command: &[&str], expected: Option<&[&str]>) {
        let arguments: Vec<&[u8]> = command.iter().map(|argument| argument.as_bytes()).collect();
        let expected = match expected {
            Some(keys) => KeysTouched::Listed(keys.iter().map(|key| key.as_bytes()).collect()),
            None => KeysTouched::All,
        };
        assert_eq!(keys_touched(&arguments), expected, "{command:?}");
    }

    #[test]
    fn commands_name_the_keys_they_touch() {
        check(&["PING"], Some(&[]));
        check(&["get", "a"], Some(&["a"]));
        check(&["SET", "a", "1", "EX", "10"], Some(&["a"]));
        check(&["mget", "a", "b"], Some(&["a", "b"]));
        check(&["MSET", "a", "1", "b", "2"], Some(&["a", "b"]));
        check(&["del", "a", "b", "c"], Some(&["a", "b", "c"]));
        check(&["hset", "h", "f", "v"], Some(&["h"]));
        check(&["KEYS", "*"], None);
        check(&["dbsize"], None);
        check(&["FLUSHALL"], None);
        check(&["info", "keyspace"], None);
        check(&["sadd", "s", "m"], Some(&["s"]));
        check(&["SPOP", "s", "2"], Some(&["s"]));
        check(&["sscan", "s", "0", "MATCH", "a*", "COUNT", "5"], Some(&["s"]));
        check(&["SMOVE", "source", "destination", "m"], Some(&["source", "destination"]));
        check(&["smove", "source"], Some(&["source"]));
        check(&["SINTER", "a", "b", "c"], Some(&["a", "b", "c"]));
        check(&["sunionstore", "destination", "a", "b"], Some(&["destination", "a", "b"]));
        check(&["SDIFFSTORE", "destination", "a"], Some(&["destination", "a"]));
        check(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"], Some(&["a", "b"]));
        check(&["sintercard", "5", "a"], Some(&["a"]));
        check(&["sintercard", "-1", "a"], Some(&["a"]));
        check(&["sintercard", "x", "a"], Some(&["a"]));
        check(&["sintercard"], Some(&[]));
        check(&["spop"], Some(&[]));
        check(&["ZADD", "z", "NX", "1", "a"], Some(&["z"]));
        check(&["zpopmin", "z", "2"], Some(&["z"]));
        check(&["ZRANGEBYSCORE", "z", "-inf", "+inf"], Some(&["z"]));
        check(&["zscan", "z", "0", "MATCH", "*"], Some(&["z"]));
        check(&["zadd"], Some(&[]));
        check(&["RENAME", "a", "b"], Some(&["a", "b"]));
        check(&["LCS", "a", "b", "IDX"], Some(&["a", "b"]));
        check(&["renamenx", "a", "b"], Some(&["a", "b"]));
        check(&["COPY", "source", "destination", "REPLACE"], Some(&["source", "destination"]));
        check(&["msetnx", "a", "1", "b", "2"], Some(&["a", "b"]));
        check(&["TOUCH", "a", "b"], Some(&["a", "b"]));
        check(&["getex", "k", "EX", "10"], Some(&["k"]));
        check(&["SETEX", "k", "10", "v"], Some(&["k"]));
        check(&["incrbyfloat", "k", "0.5"], Some(&["k"]));
        check(&["hscan", "h", "0"], Some(&["h"]));
        check(&["OBJECT", "ENCODING", "k"], Some(&["k"]));
        check(&["object"], Some(&[]));
        check(&["SCAN", "0"], None);
        check(&["randomkey"], None);
        check(&["ZRANGESTORE", "dst", "src", "0", "-1"], Some(&["dst", "src"]));
        check(&["zrangestore", "dst"], Some(&["dst"]));
        check(&["ZUNION", "2", "a", "b", "WEIGHTS", "1", "2"], Some(&["a", "b"]));
        check(&["zintercard", "1", "a", "LIMIT", "1"], Some(&["a"]));
        check(&["ZDIFF", "x", "a", "b"], Some(&["a", "b"]));
        check(&["zinter", "5", "a", "b"], Some(&["a", "b"]));
        check(&["zinter"], Some(&[]));
        check(&["ZUNIONSTORE", "d", "2", "a", "b", "AGGREGATE", "MAX"], Some(&["d", "a", "b"]));
        check(&["zdiffstore", "d", "-1", "a"], Some(&["d", "a"]));
        check(&["zinterstore", "d"], Some(&["d"]));
        check(&["LINDEX", "l", "0"], Some(&["l"]));
        check(&["lpos", "l", "a", "RANK", "2"], Some(&["l"]));
        check(&["RPUSHX", "l", "a", "b"], Some(&["l"]));
        check(&["LMOVE", "source", "destination", "LEFT", "RIGHT"], Some(&["source", "destination"]));
        check(&["rpoplpush", "l", "l"], Some(&["l", "l"]));
        check(&["LMPOP", "2", "a", "b", "LEFT", "COUNT", "3"], Some(&["a", "b"]));
        check(&["lmpop", "5", "a", "RIGHT"], Some(&["a", "RIGHT"]));
        check(&["lmpop"], Some(&[]));
        check(&["BLPOP", "a", "b", "0.5"], Some(&["a", "b"]));
        check(&["brpop", "a", "0"], Some(&["a"]));
        check(&["brpop", "a"], Some(&[]));
        check(&["blpop"], Some(&[]));
        check(&["BZPOPMIN", "z", "y", "1"], Some(&["z", "y"]));
        check(&["bzpopmax", "z", "0"], Some(&["z"]));
        check(&["BLMOVE", "source", "destination", "LEFT", "RIGHT", "0"], Some(&["source", "destination"]));
        check(&["brpoplpush", "source", "destination", "0"], Some(&["source", "destination"]));
        check(&["BLMPOP", "0.1", "2", "a", "b", "LEFT", "COUNT", "2"], Some(&["a", "b"]));
        check(&["blmpop", "0", "x", "a", "RIGHT"], Some(&["a", "RIGHT"]));
        check(&["blmpop", "0"], Some(&[]));
        check(&["HMGET", "h", "f", "g"], Some(&["h"]));
        check(&["hincrbyfloat", "h", "f", "0.5"], Some(&["h"]));
        check(&["HRANDFIELD", "h", "-5", "WITHVALUES"], Some(&["h"]));
    }
}
