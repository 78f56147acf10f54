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
        | b"sismember" | b"smismember" | b"scard" | b"spop" | b"srandmember" | b"sscan" => {
            KeysTouched::Listed(rest.first().copied().into_iter().collect())
        }
        b"mget" | b"del" | b"unlink" | b"exists" | b"sinter" | b"sunion" | b"sdiff" | b"sinterstore" | b"sunionstore" | b"sdiffstore" => {
            KeysTouched::Listed(rest.to_vec())
        }
        b"smove" => KeysTouched::Listed(rest.iter().take(2).copied().collect()),
        // SINTERCARD numkeys key [key ...] [LIMIT limit]: the `numkeys` keys; none when `numkeys` is
        // not a count, which the command refuses before touching any key.
        b"sintercard" => {
            let key_count =
                rest.first().and_then(|key_count| crate::parse_integer(key_count)).and_then(|key_count| usize::try_from(key_count).ok());
            KeysTouched::Listed(rest.iter().skip(1).take(key_count.unwrap_or(0)).copied().collect())
        }
        b"mset" => KeysTouched::Listed(rest.iter().step_by(2).copied().collect()),
        _ => KeysTouched::All,
    }
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
        check(&["sintercard", "-1", "a"], Some(&[]));
        check(&["sintercard", "x", "a"], Some(&[]));
        check(&["sintercard"], Some(&[]));
        check(&["spop"], Some(&[]));
    }
}
