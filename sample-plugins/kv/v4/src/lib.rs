//! Version 4 of the `kv` module: a Redis-compatible key-value store of strings, lists, hashes, sets
//! and sorted sets with expiry, state schema v4. Takes over state from v3, and from v1 and v2
//! through v3, and can export it back down to v3, v2 and v1.
//!
//! The server hands over whole pipelines as command batches; [`KvV4::execute`](Kv::execute) runs
//! them under one lock, so every command is atomic, as in single-threaded Redis. The modules split
//! the commands by family: [`strings`] (GET, SET with its expiry options, INCR, ...), [`lists`]
//! (LPUSH, LPOP, LRANGE, BLPOP, ...), [`hashes`] (HSET, HGET, HGETALL, ...), [`sets`] (SADD, SMEMBERS,
//! SINTER, ...), [`sorted_sets`] (ZADD, ZRANGE, ZPOPMIN, ...), [`keyspace`] (TYPE, RENAME, COPY,
//! SCAN, OBJECT ENCODING, ..., and DEL, EXISTS, KEYS, ... from `kv_common`) and [`server`] (INFO). [`database`] defines the values
//! (string, list, hash, set or [`sorted_set::SortedSet`]) held in `kv_common`'s expiring database, which decides what has expired.
//! What does not depend on the value type comes from `kv_common`: the plugin's half of
//! transactions (the commands kv-server sends for MULTI, EXEC and WATCH, and the watched keys) in
//! `kv_common::transaction`, the expiry commands (EXPIRE, TTL, PERSIST, ...) in `kv_common::expiry`, and the protocol-compatibility commands every
//! version answers alike (PING, ECHO, SELECT, CONFIG, COMMAND, CLIENT) in `kv_common::compat`.

#![forbid(unsafe_code)]

mod database;
mod hashes;
mod keyspace;
mod lists;
mod random;
mod server;
mod sets;
mod sorted_set;
mod sorted_sets;
mod strings;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use ecdysis_plugin_api::keyed::{KeyedState, Migration};
use ecdysis_plugin_api::{MapFrom, Plugin, PluginError, StateEncoder};
use kv_common::strings::ExpiryOption;
use kv_common::{compat, execute_batch, expiry, lazy, transaction};
use kv_interface::schema::{EntryV3, EntryV4, KvStateV1, KvStateV2, KvStateV3, KvStateV4, StringEntryV1, StringEntryV2, ValueV4};
use kv_interface::{Kv, resp};
use serde::Serialize;
use serde_bytes::{ByteBuf, Bytes};

use crate::database::{Database, Entry, Value};
use crate::sorted_set::{Score, SortedSet};

/// The plugin instance: the database behind a `std::sync::Mutex`, locked once per batch, and the
/// slot of a lazy update's previous version.
pub struct KvV4 {
    database: Mutex<Database>,
    migration: Migration<EntryV4>,
}

impl KvV4 {
    /// Locks the database. A poisoned lock is taken over: every command leaves the database
    /// consistent before it could panic, and a panic is impossible by construction anyway.
    fn database(&self) -> MutexGuard<'_, Database> {
        self.database.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Kv for KvV4 {
    fn execute(&self, batch: &[u8]) -> Vec<u8> {
        let mut database = self.database();
        database.read_clock();
        execute_batch(batch, |arguments, out| {
            // During a lazy update, the keys the command touches move in first.
            if let Err(error) = lazy::move_in_touched_keys(&mut database.entries, &self.migration, arguments, import_entry) {
                return resp::error(out, &format!("ERR {}", error.message()));
            }
            database.start_command();
            run_command(&mut database, arguments, out);
        })
    }

    fn key_count(&self) -> u64 {
        let mut database = self.database();
        let _ = lazy::move_in_everything(&mut database.entries, &self.migration, import_entry);
        database.read_clock();
        database.live_count() as u64
    }
}

/// Runs one command and notes what it wrote for the keys clients watch.
fn run_command(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    execute_command(database, arguments, out);
    database.watches.note_command(arguments);
}

/// Runs one command of a transaction's queue: a command like any other, counted for expiry.
fn run_queued_command(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    database.start_command();
    run_command(database, arguments, out);
}

/// Runs one command (its name first, then its arguments) and appends its reply to `out`.
pub(crate) fn execute_command(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(name) = arguments.first() else {
        return resp::unknown_command(out, arguments);
    };
    let lowercase_name = kv_common::command::LowercaseName::new(name);
    match lowercase_name.as_bytes() {
        b"ping" => compat::ping(arguments, out),
        b"echo" => compat::echo(arguments, out),
        b"select" => compat::select(arguments, out),
        b"info" => server::info(database, arguments, out),
        b"config" => compat::config(arguments, out),
        b"command" => compat::command(arguments, out),
        b"client" => compat::client(arguments, out),
        // What kv-server sends for its clients' transactions (see `kv_common::transaction`).
        b"multi" | b"queue" | b"watch" | b"unwatch" | b"discard" | b"exec" => {
            transaction::run_transaction_command(database, arguments, out, run_queued_command);
        }
        b"get" => strings::get(database, arguments, out),
        b"set" => strings::set(database, arguments, out),
        b"incr" => strings::increment(database, arguments, out, b"incr"),
        b"incrby" => strings::increment(database, arguments, out, b"incrby"),
        b"decr" => strings::increment(database, arguments, out, b"decr"),
        b"decrby" => strings::increment(database, arguments, out, b"decrby"),
        b"mget" => strings::mget(database, arguments, out),
        b"mset" => strings::mset(database, arguments, out),
        b"append" => strings::append(database, arguments, out),
        b"strlen" => strings::strlen(database, arguments, out),
        b"setex" => strings::set_with_expiry(database, arguments, out, "setex", ExpiryOption::Seconds),
        b"psetex" => strings::set_with_expiry(database, arguments, out, "psetex", ExpiryOption::Milliseconds),
        b"setnx" => strings::setnx(database, arguments, out),
        b"getset" => strings::getset(database, arguments, out),
        b"getex" => strings::getex(database, arguments, out),
        b"getdel" => strings::getdel(database, arguments, out),
        b"incrbyfloat" => strings::incrbyfloat(database, arguments, out),
        b"msetnx" => strings::msetnx(database, arguments, out),
        b"setrange" => strings::setrange(database, arguments, out),
        b"getrange" => strings::getrange(database, arguments, out, b"getrange"),
        b"substr" => strings::getrange(database, arguments, out, b"substr"),
        b"lcs" => strings::lcs(database, arguments, out),
        b"expire" => expiry::set_expiry(database, arguments, out, &expiry::EXPIRE),
        b"pexpire" => expiry::set_expiry(database, arguments, out, &expiry::PEXPIRE),
        b"expireat" => expiry::set_expiry(database, arguments, out, &expiry::EXPIREAT),
        b"pexpireat" => expiry::set_expiry(database, arguments, out, &expiry::PEXPIREAT),
        b"ttl" => expiry::report_expiry(database, arguments, out, &expiry::TTL),
        b"pttl" => expiry::report_expiry(database, arguments, out, &expiry::PTTL),
        b"expiretime" => expiry::report_expiry(database, arguments, out, &expiry::EXPIRETIME),
        b"pexpiretime" => expiry::report_expiry(database, arguments, out, &expiry::PEXPIRETIME),
        b"persist" => expiry::persist(database, arguments, out),
        b"lpush" => lists::lpush(database, arguments, out),
        b"rpush" => lists::rpush(database, arguments, out),
        b"lpop" => lists::lpop(database, arguments, out),
        b"rpop" => lists::rpop(database, arguments, out),
        b"lrange" => lists::lrange(database, arguments, out),
        b"llen" => lists::llen(database, arguments, out),
        b"lpushx" => lists::lpushx(database, arguments, out),
        b"rpushx" => lists::rpushx(database, arguments, out),
        b"lindex" => lists::lindex(database, arguments, out),
        b"lset" => lists::lset(database, arguments, out),
        b"linsert" => lists::linsert(database, arguments, out),
        b"lpos" => lists::lpos(database, arguments, out),
        b"lrem" => lists::lrem(database, arguments, out),
        b"ltrim" => lists::ltrim(database, arguments, out),
        b"lmove" => lists::lmove(database, arguments, out),
        b"rpoplpush" => lists::rpoplpush(database, arguments, out),
        b"lmpop" => lists::lmpop(database, arguments, out),
        // The blocking commands, each one attempt that does not block: `kv-server` makes the client wait.
        b"blpop" => lists::blpop(database, arguments, out),
        b"brpop" => lists::brpop(database, arguments, out),
        b"blmove" => lists::blmove(database, arguments, out),
        b"brpoplpush" => lists::brpoplpush(database, arguments, out),
        b"blmpop" => lists::blmpop(database, arguments, out),
        b"bzpopmin" => sorted_sets::bzpopmin(database, arguments, out),
        b"bzpopmax" => sorted_sets::bzpopmax(database, arguments, out),
        b"hset" => hashes::hset(database, arguments, out),
        b"hget" => hashes::hget(database, arguments, out),
        b"hdel" => hashes::hdel(database, arguments, out),
        b"hgetall" => hashes::hgetall(database, arguments, out),
        b"hlen" => hashes::hlen(database, arguments, out),
        b"hmset" => hashes::hmset(database, arguments, out),
        b"hmget" => hashes::hmget(database, arguments, out),
        b"hincrby" => hashes::hincrby(database, arguments, out),
        b"hincrbyfloat" => hashes::hincrbyfloat(database, arguments, out),
        b"hkeys" => hashes::hkeys(database, arguments, out),
        b"hvals" => hashes::hvals(database, arguments, out),
        b"hexists" => hashes::hexists(database, arguments, out),
        b"hsetnx" => hashes::hsetnx(database, arguments, out),
        b"hstrlen" => hashes::hstrlen(database, arguments, out),
        b"hrandfield" => hashes::hrandfield(database, arguments, out),
        // Sets.
        b"sadd" => sets::sadd(database, arguments, out),
        b"srem" => sets::srem(database, arguments, out),
        b"smembers" => sets::smembers(database, arguments, out),
        b"sismember" => sets::sismember(database, arguments, out),
        b"smismember" => sets::smismember(database, arguments, out),
        b"scard" => sets::scard(database, arguments, out),
        b"spop" => sets::spop(database, arguments, out),
        b"srandmember" => sets::srandmember(database, arguments, out),
        b"smove" => sets::smove(database, arguments, out),
        b"sinter" => sets::combine_and_reply(database, arguments, out, b"sinter", sets::Combination::Intersection),
        b"sintercard" => sets::sintercard(database, arguments, out),
        b"sunion" => sets::combine_and_reply(database, arguments, out, b"sunion", sets::Combination::Union),
        b"sdiff" => sets::combine_and_reply(database, arguments, out, b"sdiff", sets::Combination::Difference),
        b"sinterstore" => sets::combine_and_store(database, arguments, out, b"sinterstore", sets::Combination::Intersection),
        b"sunionstore" => sets::combine_and_store(database, arguments, out, b"sunionstore", sets::Combination::Union),
        b"sdiffstore" => sets::combine_and_store(database, arguments, out, b"sdiffstore", sets::Combination::Difference),
        b"sscan" => sets::sscan(database, arguments, out),
        // Sorted sets.
        b"zadd" => sorted_sets::zadd(database, arguments, out),
        b"zincrby" => sorted_sets::zincrby(database, arguments, out),
        b"zrem" => sorted_sets::zrem(database, arguments, out),
        b"zscore" => sorted_sets::zscore(database, arguments, out),
        b"zmscore" => sorted_sets::zmscore(database, arguments, out),
        b"zcard" => sorted_sets::zcard(database, arguments, out),
        b"zpopmin" => sorted_sets::zpopmin(database, arguments, out),
        b"zpopmax" => sorted_sets::zpopmax(database, arguments, out),
        b"zrange" => sorted_sets::zrange(database, arguments, out),
        b"zrevrange" => sorted_sets::zrevrange(database, arguments, out),
        b"zrangebyscore" => sorted_sets::zrangebyscore(database, arguments, out),
        b"zrevrangebyscore" => sorted_sets::zrevrangebyscore(database, arguments, out),
        b"zrangebylex" => sorted_sets::zrangebylex(database, arguments, out),
        b"zrevrangebylex" => sorted_sets::zrevrangebylex(database, arguments, out),
        b"zrangestore" => sorted_sets::zrangestore(database, arguments, out),
        b"zcount" => sorted_sets::zcount(database, arguments, out),
        b"zlexcount" => sorted_sets::zlexcount(database, arguments, out),
        b"zrank" => sorted_sets::zrank(database, arguments, out),
        b"zrevrank" => sorted_sets::zrevrank(database, arguments, out),
        b"zremrangebyrank" => sorted_sets::zremrangebyrank(database, arguments, out),
        b"zremrangebyscore" => sorted_sets::zremrangebyscore(database, arguments, out),
        b"zremrangebylex" => sorted_sets::zremrangebylex(database, arguments, out),
        b"zunion" => sorted_sets::zunion(database, arguments, out),
        b"zinter" => sorted_sets::zinter(database, arguments, out),
        b"zdiff" => sorted_sets::zdiff(database, arguments, out),
        b"zunionstore" => sorted_sets::zunionstore(database, arguments, out),
        b"zinterstore" => sorted_sets::zinterstore(database, arguments, out),
        b"zdiffstore" => sorted_sets::zdiffstore(database, arguments, out),
        b"zintercard" => sorted_sets::zintercard(database, arguments, out),
        b"zrandmember" => sorted_sets::zrandmember(database, arguments, out),
        b"zscan" => sorted_sets::zscan(database, arguments, out),
        b"type" => keyspace::type_of(database, arguments, out),
        b"del" => keyspace::del(database, arguments, out, b"del"),
        b"unlink" => keyspace::del(database, arguments, out, b"unlink"),
        b"exists" => keyspace::exists(database, arguments, out),
        b"keys" => keyspace::keys(database, arguments, out),
        b"dbsize" => keyspace::dbsize(database, arguments, out),
        b"flushall" | b"flushdb" => keyspace::flush(database, arguments, out),
        b"rename" => keyspace::rename(database, arguments, out, false),
        b"renamenx" => keyspace::rename(database, arguments, out, true),
        b"copy" => keyspace::copy(database, arguments, out),
        b"touch" => keyspace::touch(database, arguments, out),
        b"randomkey" => keyspace::randomkey(database, arguments, out),
        b"scan" => keyspace::scan(database, arguments, out),
        b"object" => keyspace::object(database, arguments, out),
        b"hscan" => hashes::hscan(database, arguments, out),
        _ => resp::unknown_command(out, arguments),
    }
}

impl Plugin for KvV4 {
    type State = KvStateV4;

    fn create() -> Result<Self, PluginError> {
        Ok(KvV4 { database: Mutex::new(Database::with_entries(Default::default())), migration: Migration::new() })
    }

    fn export_state(&self) -> Result<KvStateV4, PluginError> {
        // Expired entries are exported too: expiry is data, and the importer decides.
        let database = self.database();
        let entries = database
            .entries
            .iter()
            .map(|(key, entry)| {
                let exported = EntryV4 { value: export_value(&entry.value), expires_at_ms: entry.expires_at_ms };
                (ByteBuf::from(key.clone()), exported)
            })
            .collect();
        Ok(KvStateV4 { entries })
    }

    fn encode_state(&self, encoder: &mut StateEncoder<'_, '_>) -> Result<(), PluginError> {
        // Straight from the entries under the lock, encoded exactly as `KvStateV4`: no copy.
        let database = self.database();
        let entries = &database.entries;
        encoder.encode(&KvStateV4View {
            entries: MapFrom::new(entries.len(), || {
                entries.iter().map(|(key, entry)| {
                    (Bytes::new(key), EntryV4View { value: ValueV4View::of(&entry.value), expires_at_ms: entry.expires_at_ms })
                })
            }),
        })
    }

    fn from_state(state: KvStateV4) -> Result<Self, PluginError> {
        let (mut lists, mut hashes, mut sets, mut sorted_sets, mut with_expiry) = (0, 0, 0, 0, 0);
        for entry in state.entries.values() {
            match entry.value {
                ValueV4::String(_) => {}
                ValueV4::List(_) => lists += 1,
                ValueV4::Hash(_) => hashes += 1,
                ValueV4::Set(_) => sets += 1,
                ValueV4::SortedSet(_) => sorted_sets += 1,
            }
            with_expiry += usize::from(entry.expires_at_ms.is_some());
        }
        ecdysis_plugin_api::info!(
            "kv v4 took over {} keys ({lists} lists, {hashes} hashes, {sets} sets, {sorted_sets} sorted sets), {with_expiry} of them with a time to live",
            state.entries.len()
        );
        // The keys and values move into a table sized once.
        let mut entries = HashMap::with_capacity(state.entries.len());
        for (key, entry) in state.entries {
            entries.insert(key.into_vec(), import_entry(entry)?);
        }
        Ok(KvV4 { database: Mutex::new(Database::with_entries(entries)), migration: Migration::new() })
    }

    /// Sweeps every expired key, once every [`kv_common::database::SWEEP_EVERY`] on the host's
    /// clock: with no thread of the plugin's own, nothing keeps a replaced version's library mapped.
    fn tick(&self) -> Option<std::time::Duration> {
        self.database().sweep();
        Some(kv_common::database::SWEEP_EVERY)
    }
}

/// [`KvStateV4`] borrowed from the database: it encodes exactly as `KvStateV4` does.
#[derive(Serialize)]
struct KvStateV4View<M> {
    entries: M,
}

/// [`EntryV4`] borrowed from an entry: it encodes exactly as `EntryV4` does.
#[derive(Serialize)]
struct EntryV4View<'a> {
    value: ValueV4View<'a>,
    expires_at_ms: Option<u64>,
}

/// [`ValueV4`] borrowed from a value: it encodes exactly as `ValueV4` does.
#[derive(Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
enum ValueV4View<'a> {
    String(&'a Bytes),
    List(ListView<'a>),
    Hash(HashView<'a>),
    Set(SetView<'a>),
    SortedSet(SortedSetView<'a>),
}

impl<'a> ValueV4View<'a> {
    fn of(value: &'a Value) -> ValueV4View<'a> {
        match value {
            Value::String(bytes) => ValueV4View::String(Bytes::new(bytes)),
            Value::List(list) => ValueV4View::List(ListView(list)),
            Value::Hash(hash) => ValueV4View::Hash(HashView(hash)),
            Value::Set(set) => ValueV4View::Set(SetView(set)),
            Value::SortedSet(sorted_set) => ValueV4View::SortedSet(SortedSetView(sorted_set)),
        }
    }
}

/// A list's elements as the schema's sequence of byte strings.
struct ListView<'a>(&'a VecDeque<Vec<u8>>);

impl Serialize for ListView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|element| Bytes::new(element)))
    }
}

/// A hash's fields as the schema's map of byte strings.
struct HashView<'a>(&'a HashMap<Vec<u8>, Vec<u8>>);

impl Serialize for HashView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(field, value)| (Bytes::new(field), Bytes::new(value))))
    }
}

/// A set's members as the schema's sequence of byte strings, in byte order: two exports of one set
/// are then the same bytes, which the host's round-trip check compares (a hash table's order
/// differs between two instances holding the same members).
struct SetView<'a>(&'a HashSet<Vec<u8>>);

impl Serialize for SetView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(sorted_members(self.0).into_iter().map(|member| Bytes::new(member)))
    }
}

/// A set's members in byte order.
fn sorted_members(set: &HashSet<Vec<u8>>) -> Vec<&Vec<u8>> {
    let mut members: Vec<&Vec<u8>> = set.iter().collect();
    members.sort_unstable();
    members
}

/// A sorted set's members and scores as the schema's sequence of pairs.
struct SortedSetView<'a>(&'a SortedSet);

impl Serialize for SortedSetView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(member, score)| (Bytes::new(member), score.value())))
    }
}

/// A value in the state schema's form.
fn export_value(value: &Value) -> ValueV4 {
    match value {
        Value::String(bytes) => ValueV4::String(ByteBuf::from(bytes.clone())),
        Value::List(list) => ValueV4::List(list.iter().map(|element| ByteBuf::from(element.clone())).collect()),
        Value::Hash(hash) => {
            ValueV4::Hash(hash.iter().map(|(field, value)| (ByteBuf::from(field.clone()), ByteBuf::from(value.clone()))).collect())
        }
        Value::Set(set) => ValueV4::Set(set.iter().map(|member| ByteBuf::from(member.clone())).collect()),
        Value::SortedSet(sorted_set) => {
            ValueV4::SortedSet(sorted_set.iter().map(|(member, score)| (ByteBuf::from(member.to_vec()), score.value())).collect())
        }
    }
}

/// A value of the state schema in this version's form.
///
/// # Errors
/// When a sorted set holds a NaN score, which no sorted set can hold: the state was not made by a
/// kv version.
fn import_value(value: ValueV4) -> Result<Value, PluginError> {
    Ok(match value {
        ValueV4::String(bytes) => Value::String(bytes.into_vec()),
        ValueV4::List(list) => Value::List(list.into_iter().map(ByteBuf::into_vec).collect()),
        ValueV4::Hash(hash) => Value::Hash(hash.into_iter().map(|(field, value)| (field.into_vec(), value.into_vec())).collect()),
        ValueV4::Set(set) => Value::Set(set.into_iter().map(ByteBuf::into_vec).collect()),
        ValueV4::SortedSet(members) => Value::SortedSet(
            members
                .into_iter()
                .map(|(member, score)| {
                    let score = Score::new(score).ok_or_else(|| PluginError::new("a sorted set member has a NaN score"))?;
                    Ok((member.into_vec(), score))
                })
                .collect::<Result<_, PluginError>>()?,
        ),
    })
}

impl KeyedState for KvV4 {
    type Entry = EntryV4;

    fn migration(&self) -> &Migration<EntryV4> {
        &self.migration
    }

    // Entries that leave (or come back) are changed by another instance, where this one cannot see:
    // its watches are forgotten, and EXEC fails for every client that watched here.
    fn take_entry(&self, key: &[u8]) -> Option<EntryV4> {
        let mut database = self.database();
        database.watches.forget_all();
        database.entries.remove(key).map(|entry| export_entry(&entry))
    }

    fn take_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV4)> {
        let mut database = self.database();
        database.watches.forget_all();
        lazy::take_entries(&mut database.entries, limit).into_iter().map(|(key, entry)| (key, export_entry(&entry))).collect()
    }

    fn export_entries(&self, limit: usize) -> Vec<(Vec<u8>, EntryV4)> {
        self.database().entries.iter().take(limit).map(|(key, entry)| (key.clone(), export_entry(entry))).collect()
    }

    fn put_entries(&self, entries: Vec<(Vec<u8>, EntryV4)>) -> Result<(), PluginError> {
        let entries = entries.into_iter().map(|(key, entry)| Ok((key, import_entry(entry)?))).collect::<Result<Vec<_>, PluginError>>()?;
        let mut database = self.database();
        database.watches.forget_all();
        database.entries.extend(entries);
        Ok(())
    }

    fn entry_count(&self) -> usize {
        self.database().entries.len()
    }

    fn migrate_entries(&self, limit: usize) -> Result<u64, PluginError> {
        lazy::move_in_some(&mut self.database().entries, &self.migration, limit, import_entry)
    }
}

/// An entry in the entry schema's form.
fn export_entry(entry: &Entry) -> EntryV4 {
    EntryV4 { value: export_value(&entry.value), expires_at_ms: entry.expires_at_ms }
}

/// An entry of the entry schema in this version's form.
///
/// # Errors
/// As [`import_value`].
fn import_entry(entry: EntryV4) -> Result<Entry, PluginError> {
    Ok(Entry { value: import_value(entry.value)?, expires_at_ms: entry.expires_at_ms })
}

ecdysis_plugin_api::export_plugin! {
    module: "kv",
    plugin: KvV4,
    interface: dyn Kv,
    migrations: [
        KvStateV1 => KvStateV2, KvStateV2 => KvStateV3, KvStateV3 => KvStateV4,
        KvStateV4 => KvStateV3, KvStateV3 => KvStateV2, KvStateV2 => KvStateV1,
    ],
    entry_migrations: [
        StringEntryV1 => StringEntryV2, StringEntryV2 => EntryV3, EntryV3 => EntryV4,
        EntryV4 => EntryV3, EntryV3 => StringEntryV2, StringEntryV2 => StringEntryV1,
    ],
}
