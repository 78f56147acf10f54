//! The commands on keys of any kind: TYPE, RENAME, RENAMENX, COPY, TOUCH, RANDOMKEY, SCAN and
//! OBJECT ENCODING, which depend on this version's values or database, and DEL (and UNLINK),
//! EXISTS, KEYS, DBSIZE and FLUSHALL (and FLUSHDB), which do not and come from
//! `kv_common::keyspace`.

pub(crate) use kv_common::keyspace::{dbsize, del, exists, flush, keys};
use kv_common::scan;
use kv_interface::resp;

use crate::database::{Database, Value};
use crate::random::random_below;

/// `TYPE key`: `+string`, `+list`, `+hash`, `+set`, `+zset`, or `+none` when the key is missing.
pub(crate) fn type_of(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"type");
    };
    resp::simple(out, database.live(key).map_or("none", |entry| entry.value.type_name()));
}

/// `RENAME source destination` (`only_if_missing` false) and `RENAMENX source destination`
/// (true): moves the value with its time to live, replacing whatever `destination` held (RENAME)
/// or only when it is missing (RENAMENX, 1 when moved, 0 when not). A missing source is Redis's
/// `ERR no such key`; renaming a key to itself changes nothing.
pub(crate) fn rename(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, only_if_missing: bool) {
    let &[_, source, destination] = arguments else {
        return resp::wrong_arity(out, if only_if_missing { b"renamenx" } else { b"rename" });
    };
    if database.live(source).is_none() {
        return resp::error(out, "ERR no such key");
    }
    let reply_moved = |out: &mut Vec<u8>| if only_if_missing { resp::integer(out, 1) } else { resp::ok(out) };
    if source == destination {
        return if only_if_missing { resp::integer(out, 0) } else { resp::ok(out) };
    }
    if only_if_missing && database.live(destination).is_some() {
        return resp::integer(out, 0);
    }
    if let Some(entry) = database.remove(source) {
        database.insert(destination, entry);
    }
    reply_moved(out);
}

/// `COPY source destination [DB destination-db] [REPLACE]`: 1 after copying the value with its
/// time to live, 0 when the source is missing or the destination exists without REPLACE. kv has
/// one database: `DB 0` names it, any other index is Redis's out-of-range error.
pub(crate) fn copy(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"copy");
    };
    let mut replace = false;
    let mut database_index = 0;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        if option.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"db")
            && let Some(index) = options.next()
        {
            // As Redis's `getIntFromObjectOrReply`: an integer, then one that fits in 32 bits.
            match kv_common::parse_integer(index).map(i32::try_from) {
                Some(Ok(index)) => database_index = index,
                Some(Err(_)) => return resp::error(out, "ERR value is out of range, value must between -2147483648 and 2147483647"),
                None => return resp::not_an_integer(out),
            }
        } else {
            return resp::syntax_error(out);
        }
    }
    if database_index != 0 {
        return resp::error(out, "ERR DB index is out of range");
    }
    if source == destination {
        return resp::error(out, "ERR source and destination objects are the same");
    }
    let Some(entry) = database.live(source).map(|entry| entry.clone()) else {
        return resp::integer(out, 0);
    };
    if !replace && database.live(destination).is_some() {
        return resp::integer(out, 0);
    }
    database.insert(destination, entry);
    resp::integer(out, 1);
}

/// `TOUCH key [key ...]`: how many of the keys exist (a key named twice counts twice). kv keeps no
/// access times, so touching changes nothing else.
pub(crate) fn touch(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let keys = arguments.get(1..).unwrap_or_default();
    if keys.is_empty() {
        return resp::wrong_arity(out, b"touch");
    }
    let existing = keys.iter().filter(|key| database.live(key).is_some()).count();
    resp::count(out, existing);
}

/// `RANDOMKEY`: a key drawn at random among the live ones, or null when there is none.
pub(crate) fn randomkey(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_] = arguments else {
        return resp::wrong_arity(out, b"randomkey");
    };
    let live_count = database.live_count();
    if live_count == 0 {
        return resp::null(out);
    }
    match database.live_entries().nth(random_below(live_count)) {
        Some((key, _)) => resp::bulk(out, key),
        None => resp::null(out),
    }
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`: a page of the live keys and the cursor
/// to continue from (0 when the iteration is over), walked as `kv_common::scan` describes; TYPE
/// keeps the keys whose TYPE is `type`, without regard to ASCII case (an unknown type keeps none,
/// as in Redis 7.0).
pub(crate) fn scan(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, cursor, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"scan");
    };
    let Some(cursor) = kv_common::parse_cursor(cursor) else {
        return resp::error(out, "ERR invalid cursor");
    };
    let Some(options) = scan::parse_scan_options(options, true, out) else {
        return;
    };
    let (page, next_cursor) = scan::scan_page(database.live_entries(), |(key, _)| key.as_slice(), cursor, options.count);
    let keys: Vec<&[u8]> = page
        .into_iter()
        .filter(|(key, entry)| {
            options.matches(key)
                && options.type_name.is_none_or(|type_name| type_name.eq_ignore_ascii_case(entry.value.type_name().as_bytes()))
        })
        .map(|(key, _)| key.as_slice())
        .collect();
    scan::reply_header(out, next_cursor);
    resp::array_header(out, keys.len());
    for key in keys {
        resp::bulk(out, key);
    }
}

/// The most entries of a hash Redis 7.0 keeps in a listpack (`hash-max-listpack-entries`).
const HASH_LISTPACK_ENTRIES: usize = 512;
/// The most entries of a sorted set Redis 7.0 keeps in a listpack (`zset-max-listpack-entries`).
const SORTED_SET_LISTPACK_ENTRIES: usize = 128;
/// The longest field, value or member Redis 7.0 keeps in a listpack (`*-max-listpack-value`).
const LISTPACK_VALUE_LENGTH: usize = 64;
/// The most members of a set of integers Redis 7.0 keeps in an intset (`set-max-intset-entries`).
const INTSET_ENTRIES: usize = 512;
/// The longest string Redis 7.0 keeps in one allocation with its header (`embstr`).
const EMBSTR_LENGTH: usize = 44;

/// The encoding Redis 7.0 would give `value` if it had been written in one go with the default
/// limits: `int`, `embstr` or `raw` for a string, `quicklist` for a list, `listpack` or `hashtable`
/// for a hash, `intset` or `hashtable` for a set, `listpack` or `skiplist` for a sorted set.
fn encoding_of(value: &Value) -> &'static str {
    match value {
        Value::String(bytes) if bytes.len() <= 20 && kv_common::parse_integer(bytes).is_some() => "int",
        Value::String(bytes) if bytes.len() <= EMBSTR_LENGTH => "embstr",
        Value::String(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Hash(hash)
            if hash.len() <= HASH_LISTPACK_ENTRIES
                && hash.iter().all(|(field, value)| field.len() <= LISTPACK_VALUE_LENGTH && value.len() <= LISTPACK_VALUE_LENGTH) =>
        {
            "listpack"
        }
        Value::Hash(_) => "hashtable",
        Value::Set(set) if set.len() <= INTSET_ENTRIES && set.iter().all(|member| kv_common::parse_integer(member).is_some()) => "intset",
        Value::Set(_) => "hashtable",
        Value::SortedSet(sorted_set)
            if sorted_set.len() <= SORTED_SET_LISTPACK_ENTRIES
                && sorted_set.iter().all(|(member, _)| member.len() <= LISTPACK_VALUE_LENGTH) =>
        {
            "listpack"
        }
        Value::SortedSet(_) => "skiplist",
    }
}

/// `OBJECT ENCODING key`: the encoding Redis 7.0 reports for the value (see [`encoding_of`]), or
/// null when the key is missing. kv keeps no access times, frequencies or reference counts: the
/// other subcommands are unknown to it.
pub(crate) fn object(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(subcommand) = arguments.get(1) else {
        return resp::wrong_arity(out, b"object");
    };
    if !subcommand.eq_ignore_ascii_case(b"encoding") {
        let subcommand = String::from_utf8_lossy(subcommand);
        return resp::error(out, &format!("ERR unknown subcommand '{subcommand}'. Try OBJECT HELP."));
    }
    let &[_, _, key] = arguments else {
        return resp::wrong_arity(out, b"object|encoding");
    };
    match database.live(key) {
        Some(entry) => resp::bulk(out, encoding_of(&entry.value).as_bytes()),
        None => resp::null(out),
    }
}
