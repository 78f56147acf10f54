//! The hash commands: HSET, HGET, HDEL, HGETALL and HLEN. Each replies WRONGTYPE on a key that holds
//! a string or a list; a hash that HDEL empties is deleted.

use std::collections::HashMap;

use kv_interface::resp;

use crate::database::{Database, Entry, Value};

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
