//! The hash commands: HSET, HGET, HDEL, HGETALL, HLEN, HMSET, HMGET, HINCRBY, HINCRBYFLOAT,
//! HKEYS, HVALS, HEXISTS, HSETNX, HSTRLEN and HRANDFIELD. Each replies WRONGTYPE on a key that
//! holds another type; a hash that HDEL empties is deleted.

use std::collections::HashMap;

use kv_common::long_double::{LongDouble, Parsed, format_long_double, parse_long_double};
use kv_interface::resp;

use crate::database::{Database, Entry, Value};
use crate::random::{parse_random_request, pick_random, random_below};

/// `HSET key field value [field value ...]`: sets the fields, creating the hash when missing;
/// replies with how many fields are new.
pub(crate) fn hset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref pairs @ ..] = arguments else {
        return resp::wrong_arity(out, b"hset");
    };
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::wrong_arity(out, b"hset");
    }
    let hash = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::Hash(hash)) => hash,
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => {
            let mut hash = HashMap::with_capacity(pairs.len() / 2);
            let added = set_fields(&mut hash, pairs);
            database.insert(key, Entry::persistent(Value::Hash(hash)));
            return resp::count(out, added);
        }
    };
    let added = set_fields(hash, pairs);
    resp::count(out, added);
}

/// Sets each field of `pairs` (field, value, field, value, ...); returns how many were new.
fn set_fields(hash: &mut HashMap<Vec<u8>, Vec<u8>>, pairs: &[&[u8]]) -> usize {
    let mut added = 0;
    for pair in pairs.chunks_exact(2) {
        if let &[field, value] = pair {
            match hash.get_mut(field) {
                Some(existing) => *existing = value.to_vec(),
                None => {
                    hash.insert(field.to_vec(), value.to_vec());
                    added += 1;
                }
            }
        }
    }
    added
}

/// `HGET key field`: the field's value, or null when the field or the key is missing.
pub(crate) fn hget(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field] = arguments else {
        return resp::wrong_arity(out, b"hget");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::Hash(hash)) => match hash.get(field) {
            Some(value) => resp::bulk(out, value),
            None => resp::null(out),
        },
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => resp::wrong_type(out),
        None => resp::null(out),
    }
}

/// `HDEL key field [field ...]`: removes the fields and replies with how many existed; deletes the
/// key when no field is left.
pub(crate) fn hdel(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref fields @ ..] = arguments else {
        return resp::wrong_arity(out, b"hdel");
    };
    if fields.is_empty() {
        return resp::wrong_arity(out, b"hdel");
    }
    let hash = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::Hash(hash)) => hash,
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => return resp::count(out, 0),
    };
    let removed = fields.iter().filter(|field| hash.remove(**field).is_some()).count();
    if hash.is_empty() {
        database.remove(key);
    }
    resp::count(out, removed);
}

/// `HGETALL key`: every field followed by its value, in one flat array (empty when the key is
/// missing). Redis gives no order; these come sorted by field, so that replies are reproducible.
pub(crate) fn hgetall(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"hgetall");
    };
    let hash = match database.live(key).map(|entry| &entry.value) {
        Some(Value::Hash(hash)) => hash,
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => return resp::empty_array(out),
    };
    let mut pairs: Vec<(&Vec<u8>, &Vec<u8>)> = hash.iter().collect();
    pairs.sort_unstable();
    resp::array_header(out, pairs.len() * 2);
    for (field, value) in pairs {
        resp::bulk(out, field);
        resp::bulk(out, value);
    }
}

/// The error of a key that holds another type than a hash.
struct WrongType;

/// A hash: fields and their values.
type Hash = HashMap<Vec<u8>, Vec<u8>>;

/// A field and its value.
type FieldAndValue<'a> = (&'a [u8], &'a [u8]);

/// Which half of each field and value HKEYS and HVALS list.
#[derive(Clone, Copy)]
enum Part {
    Fields,
    Values,
}

/// The hash at `key`: `None` when the key is missing, [`WrongType`] when it holds another type.
fn hash_at<'a>(database: &'a mut Database, key: &[u8]) -> Result<Option<&'a mut Hash>, WrongType> {
    match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::Hash(hash)) => Ok(Some(hash)),
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => Err(WrongType),
        None => Ok(None),
    }
}

/// The hash at `key`, created empty when missing (the caller then adds a field to it).
fn hash_or_new<'a>(database: &'a mut Database, key: &[u8]) -> Result<&'a mut Hash, WrongType> {
    if hash_at(database, key)?.is_none() {
        database.insert(key, Entry::persistent(Value::Hash(HashMap::new())));
    }
    hash_at(database, key)?.ok_or(WrongType)
}

/// `HMSET key field value [field value ...]`: as HSET, replying OK.
pub(crate) fn hmset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref pairs @ ..] = arguments else {
        return resp::wrong_arity(out, b"hmset");
    };
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::wrong_arity(out, b"hmset");
    }
    match hash_or_new(database, key) {
        Ok(hash) => {
            set_fields(hash, pairs);
            resp::ok(out);
        }
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `HMGET key field [field ...]`: each field's value, null for a missing field (all null when the
/// key is missing).
pub(crate) fn hmget(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref fields @ ..] = arguments else {
        return resp::wrong_arity(out, b"hmget");
    };
    if fields.is_empty() {
        return resp::wrong_arity(out, b"hmget");
    }
    let hash = match hash_at(database, key) {
        Ok(hash) => hash.map(|hash| &*hash),
        Err(WrongType) => return resp::wrong_type(out),
    };
    resp::array_header(out, fields.len());
    for field in fields {
        match hash.and_then(|hash| hash.get(*field)) {
            Some(value) => resp::bulk(out, value),
            None => resp::null(out),
        }
    }
}

/// `HINCRBY key field increment`: adds `increment` to the field's integer (0 when missing),
/// creating the hash when missing; replies with the new value.
pub(crate) fn hincrby(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field, increment] = arguments else {
        return resp::wrong_arity(out, b"hincrby");
    };
    let Some(increment) = kv_common::parse_integer(increment) else {
        return resp::not_an_integer(out);
    };
    let Ok(hash) = hash_or_new(database, key) else {
        return resp::wrong_type(out);
    };
    let current = match hash.get(field) {
        Some(value) => match kv_common::parse_integer(value) {
            Some(current) => current,
            None => return resp::error(out, "ERR hash value is not an integer"),
        },
        None => 0,
    };
    let Some(sum) = current.checked_add(increment) else {
        return resp::error(out, "ERR increment or decrement would overflow");
    };
    hash.insert(field.to_vec(), sum.to_string().into_bytes());
    resp::integer(out, sum);
}

/// `HINCRBYFLOAT key field increment`: adds `increment` to the field's number (0 when missing) in
/// Redis's long double arithmetic, creating the hash when missing; replies with the new value as
/// Redis writes it (`%.17Lf` without trailing zeros). Infinities and NaN are refused.
pub(crate) fn hincrbyfloat(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field, increment] = arguments else {
        return resp::wrong_arity(out, b"hincrbyfloat");
    };
    let increment = match parse_long_double(increment) {
        Some(Parsed::Finite(increment)) => increment,
        Some(Parsed::Infinite) => return resp::error(out, "ERR value is NaN or Infinity"),
        None => return resp::error(out, "ERR value is not a valid float"),
    };
    let Ok(hash) = hash_or_new(database, key) else {
        return resp::wrong_type(out);
    };
    let current = match hash.get(field).map(|value| parse_long_double(value)) {
        None => LongDouble::default(),
        Some(Some(Parsed::Finite(current))) => current,
        Some(Some(Parsed::Infinite)) => return refuse_non_finite(database, key, out),
        Some(None) => return resp::error(out, "ERR hash value is not a float"),
    };
    let Some(sum) = current.checked_add(increment) else {
        return refuse_non_finite(database, key, out);
    };
    let text = format_long_double(sum);
    resp::bulk(out, text.as_bytes());
    hash.insert(field.to_vec(), text.into_bytes());
}

/// Replies HINCRBYFLOAT's error for a sum that is not finite, and deletes the hash if the command
/// created it empty.
fn refuse_non_finite(database: &mut Database, key: &[u8], out: &mut Vec<u8>) {
    delete_if_empty(database, key);
    resp::error(out, "ERR increment would produce NaN or Infinity");
}

/// Deletes the hash at `key` when it has no field left.
fn delete_if_empty(database: &mut Database, key: &[u8]) {
    if matches!(hash_at(database, key), Ok(Some(hash)) if hash.is_empty()) {
        database.remove(key);
    }
}

/// The fields and values of the hash at `key`, sorted by field (empty when the key is missing),
/// or [`WrongType`].
fn sorted_pairs<'a>(database: &'a mut Database, key: &[u8]) -> Result<Vec<FieldAndValue<'a>>, WrongType> {
    let mut pairs: Vec<FieldAndValue<'_>> = match hash_at(database, key)? {
        Some(hash) => hash.iter().map(|(field, value)| (field.as_slice(), value.as_slice())).collect(),
        None => Vec::new(),
    };
    pairs.sort_unstable();
    Ok(pairs)
}

/// `HKEYS key`: every field, sorted (Redis gives no order), empty when the key is missing.
pub(crate) fn hkeys(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    list_pairs(database, arguments, out, b"hkeys", Part::Fields);
}

/// `HVALS key`: every value, in the order of their sorted fields, empty when the key is missing.
pub(crate) fn hvals(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    list_pairs(database, arguments, out, b"hvals", Part::Values);
}

/// Replies the fields or the values (`part`) of the whole hash, for HKEYS and HVALS.
fn list_pairs(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], part: Part) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let Ok(pairs) = sorted_pairs(database, key) else {
        return resp::wrong_type(out);
    };
    resp::array_header(out, pairs.len());
    for (field, value) in pairs {
        resp::bulk(
            out,
            match part {
                Part::Fields => field,
                Part::Values => value,
            },
        );
    }
}

/// `HEXISTS key field`: 1 when the field exists, 0 otherwise.
pub(crate) fn hexists(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field] = arguments else {
        return resp::wrong_arity(out, b"hexists");
    };
    match hash_at(database, key) {
        Ok(hash) => resp::count(out, usize::from(hash.is_some_and(|hash| hash.contains_key(field)))),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `HSETNX key field value`: sets the field only when it is missing (creating the hash when
/// missing); replies 1 when it did, 0 otherwise.
pub(crate) fn hsetnx(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field, value] = arguments else {
        return resp::wrong_arity(out, b"hsetnx");
    };
    match hash_or_new(database, key) {
        Ok(hash) if hash.contains_key(field) => resp::count(out, 0),
        Ok(hash) => {
            hash.insert(field.to_vec(), value.to_vec());
            resp::count(out, 1);
        }
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `HSTRLEN key field`: the length of the field's value, 0 when the field or the key is missing.
pub(crate) fn hstrlen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, field] = arguments else {
        return resp::wrong_arity(out, b"hstrlen");
    };
    match hash_at(database, key) {
        Ok(hash) => resp::count(out, hash.and_then(|hash| hash.get(field)).map_or(0, Vec::len)),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]`: a random field (null when the key is missing); with a
/// count, that many distinct fields (the whole hash, sorted, when it has no more), or with a
/// negative count that many fields drawn independently (so possibly repeated; at most
/// [`crate::random::MOST_DRAWN_MEMBERS`], where Redis has no limit), each followed by its value
/// with WITHVALUES.
pub(crate) fn hrandfield(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(request) = parse_random_request(arguments, out, b"hrandfield", b"withvalues") else {
        return;
    };
    let pairs = match sorted_pairs(database, request.key) {
        Ok(pairs) if pairs.is_empty() && request.count.is_some() => return resp::empty_array(out),
        Ok(pairs) => pairs,
        Err(WrongType) => return resp::wrong_type(out),
    };
    let Some(count) = request.count else {
        return match pairs.get(random_below(pairs.len())) {
            Some((field, _)) => resp::bulk(out, field),
            None => resp::null(out),
        };
    };
    let Some(picked) = pick_random(pairs, count, out) else {
        return;
    };
    resp::array_header(out, if request.with_option { picked.len() * 2 } else { picked.len() });
    for (field, value) in picked {
        resp::bulk(out, field);
        if request.with_option {
            resp::bulk(out, value);
        }
    }
}

/// `HLEN key`: the number of fields, 0 when the key is missing.
pub(crate) fn hlen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"hlen");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::Hash(hash)) => resp::count(out, hash.len()),
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => resp::wrong_type(out),
        None => resp::count(out, 0),
    }
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: a page of the hash's fields, each followed by
/// its value, and the cursor to continue from (0 when the iteration is over), walked as
/// `kv_common::scan` describes; MATCH filters the fields. As in Redis, a missing key or a key of
/// another type answers before the options are read.
pub(crate) fn hscan(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, cursor, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"hscan");
    };
    let Some(cursor) = kv_common::parse_cursor(cursor) else {
        return resp::error(out, "ERR invalid cursor");
    };
    let hash = match database.live(key).map(|entry| &entry.value) {
        Some(Value::Hash(hash)) => hash,
        Some(Value::String(_) | Value::List(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => return kv_common::scan::reply_empty(out),
    };
    let Some(options) = kv_common::scan::parse_scan_options(options, false, out) else {
        return;
    };
    let (page, next_cursor) = kv_common::scan::scan_page(hash.iter(), |(field, _)| field.as_slice(), cursor, options.count);
    let fields: Vec<(&Vec<u8>, &Vec<u8>)> = page.into_iter().filter(|(field, _)| options.matches(field)).collect();
    kv_common::scan::reply_header(out, next_cursor);
    resp::array_header(out, fields.len() * 2);
    for (field, value) in fields {
        resp::bulk(out, field);
        resp::bulk(out, value);
    }
}
