//! The set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP, SRANDMEMBER, SMOVE,
//! SINTER, SINTERCARD, SUNION, SDIFF, their STORE forms and SSCAN, as Redis 7.0 answers them. Each
//! replies WRONGTYPE on a key that holds another type; a set that a command empties is deleted.
//!
//! Redis gives no order to a set's members. Where a reply lists a whole set or the result of a
//! combination (SMEMBERS, SINTER, SUNION, SDIFF, and SPOP or SRANDMEMBER asked for at least the whole
//! set), the members come sorted, so that replies are reproducible; SSCAN lists them in the order of
//! `kv_common::scan::item_hash`. SPOP and SRANDMEMBER draw from the version's small generator ([`random_below`]).
//! Picking a random member costs O(N): the members are a `HashSet`, which has no random access.

use std::collections::HashSet;

use kv_common::scan;
use kv_interface::resp;

use crate::database::{Database, Entry, Value};
use crate::random::{MOST_DRAWN_MEMBERS, random_below, too_many_drawn};

/// A key holds a value that is not a set.
struct WrongType;

/// The set at `key`: `Ok(None)` when the key is missing (or has expired), `Err` when it holds
/// another type.
fn set_at<'a>(database: &'a mut Database, key: &[u8]) -> Result<Option<&'a mut HashSet<Vec<u8>>>, WrongType> {
    match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::Set(set)) => Ok(Some(set)),
        Some(Value::String(_) | Value::List(_) | Value::Hash(_) | Value::SortedSet(_)) => Err(WrongType),
        None => Ok(None),
    }
}

/// The sets at `keys`, in order, `None` for a missing key. Like Redis, every key's type is checked
/// before any set is read: one key of another type fails the whole command, even after a missing key.
fn sets_at<'a>(database: &'a mut Database, keys: &[&[u8]]) -> Result<Vec<Option<&'a HashSet<Vec<u8>>>>, WrongType> {
    for key in keys {
        // This also removes the expired keys, so that what is left in `entries` is live.
        set_at(database, key)?;
    }
    let entries = &database.entries;
    Ok(keys
        .iter()
        .map(|key| match entries.get(*key).map(|entry| &entry.value) {
            Some(Value::Set(set)) => Some(set),
            _ => None,
        })
        .collect())
}

/// Writes `members` as an array of bulk strings, sorted so that the reply is reproducible.
fn write_sorted_members(out: &mut Vec<u8>, mut members: Vec<&[u8]>) {
    members.sort_unstable();
    write_members(out, &members);
}

/// Writes `members` as an array of bulk strings, in the order given.
fn write_members(out: &mut Vec<u8>, members: &[&[u8]]) {
    resp::array_header(out, members.len());
    for member in members {
        resp::bulk(out, member);
    }
}

/// The key and the members (at least one) of a command written `NAME key member [member ...]`, or
/// `None` when the arity is wrong.
fn key_and_members<'a, 'b>(arguments: &'b [&'a [u8]]) -> Option<(&'a [u8], &'b [&'a [u8]])> {
    match arguments {
        [_, key, members @ ..] if !members.is_empty() => Some((key, members)),
        _ => None,
    }
}

/// `SADD key member [member ...]`: adds the members, creating the set when missing; replies with
/// how many were not members yet.
pub(crate) fn sadd(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some((key, members)) = key_and_members(arguments) else {
        return resp::wrong_arity(out, b"sadd");
    };
    match set_at(database, key) {
        Ok(Some(set)) => {
            let added = members.iter().filter(|member| set.insert(member.to_vec())).count();
            resp::count(out, added);
        }
        Ok(None) => {
            let set: HashSet<Vec<u8>> = members.iter().map(|member| member.to_vec()).collect();
            resp::count(out, set.len());
            database.insert(key, Entry::persistent(Value::Set(set)));
        }
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SREM key member [member ...]`: removes the members and replies with how many were members;
/// deletes the key when no member is left.
pub(crate) fn srem(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some((key, members)) = key_and_members(arguments) else {
        return resp::wrong_arity(out, b"srem");
    };
    match set_at(database, key) {
        Ok(Some(set)) => {
            let removed = members.iter().filter(|member| set.remove(**member)).count();
            if set.is_empty() {
                database.remove(key);
            }
            resp::count(out, removed);
        }
        Ok(None) => resp::count(out, 0),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SMEMBERS key`: every member (sorted), an empty array when the key is missing.
pub(crate) fn smembers(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"smembers");
    };
    match set_at(database, key) {
        Ok(Some(set)) => write_sorted_members(out, set.iter().map(Vec::as_slice).collect()),
        Ok(None) => resp::empty_array(out),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SISMEMBER key member`: 1 when `member` is a member, 0 when not or when the key is missing.
pub(crate) fn sismember(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, member] = arguments else {
        return resp::wrong_arity(out, b"sismember");
    };
    match set_at(database, key) {
        Ok(set) => resp::count(out, usize::from(set.is_some_and(|set| set.contains(member)))),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SMISMEMBER key member [member ...]`: for each member in order, 1 when it is a member and 0 when
/// not (all 0 when the key is missing).
pub(crate) fn smismember(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some((key, members)) = key_and_members(arguments) else {
        return resp::wrong_arity(out, b"smismember");
    };
    let set = match set_at(database, key) {
        Ok(set) => set,
        Err(WrongType) => return resp::wrong_type(out),
    };
    resp::array_header(out, members.len());
    for member in members {
        resp::count(out, usize::from(set.as_ref().is_some_and(|set| set.contains(*member))));
    }
}

/// `SCARD key`: the number of members, 0 when the key is missing.
pub(crate) fn scard(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"scard");
    };
    match set_at(database, key) {
        Ok(set) => resp::count(out, set.map_or(0, |set| set.len())),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// Moves `count` distinct members, picked at random, to the front of `members` (a partial
/// Fisher-Yates shuffle) and returns them; all of them when `count` is at least their number.
fn pick_distinct<T>(members: &mut [T], count: usize) -> &[T] {
    let count = count.min(members.len());
    for index in 0..count {
        let picked = index + random_below(members.len() - index);
        members.swap(index, picked);
    }
    members.get(..count).unwrap_or_default()
}

/// One member of `set` picked at random, or `None` when it is empty.
fn random_member(set: &HashSet<Vec<u8>>) -> Option<&Vec<u8>> {
    set.iter().nth(random_below(set.len()))
}

/// The key and the optional count of a command written `NAME key [count]`; `None`, with the error
/// written, when the arity is wrong (too many arguments is a syntax error, as in Redis).
fn key_and_count<'a>(arguments: &[&'a [u8]], out: &mut Vec<u8>, command: &[u8]) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    match *arguments {
        [_, key] => Some((key, None)),
        [_, key, count] => Some((key, Some(count))),
        [_, _, _, ..] => {
            resp::syntax_error(out);
            None
        }
        _ => {
            resp::wrong_arity(out, command);
            None
        }
    }
}

/// `SPOP key [count]`: removes and returns a random member (null when the key is missing), or with
/// a count an array of up to that many distinct members (empty when the key is missing); deletes
/// the key when no member is left.
pub(crate) fn spop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some((key, requested)) = key_and_count(arguments, out, b"spop") else {
        return;
    };
    // Redis parses the count before it looks at the key, and words every bad count the same way.
    let requested = match requested {
        None => None,
        Some(requested) => match kv_common::parse_integer(requested).and_then(|requested| usize::try_from(requested).ok()) {
            Some(requested) => Some(requested),
            None => return resp::error(out, "ERR value is out of range, must be positive"),
        },
    };
    let set = match set_at(database, key) {
        Ok(Some(set)) => set,
        Ok(None) if requested.is_some() => return resp::empty_array(out),
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    match requested {
        None => {
            if let Some(member) = random_member(set).cloned() {
                set.remove(&member);
                resp::bulk(out, &member);
            }
        }
        Some(requested) if requested >= set.len() => {
            let members: Vec<Vec<u8>> = set.drain().collect();
            write_sorted_members(out, members.iter().map(Vec::as_slice).collect());
        }
        Some(requested) => {
            let mut members: Vec<Vec<u8>> = set.iter().cloned().collect();
            let popped = pick_distinct(&mut members, requested);
            for member in popped {
                set.remove(member);
            }
            write_members(out, &popped.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
    }
    if set.is_empty() {
        database.remove(key);
    }
}

/// `SRANDMEMBER key [count]`: a random member (null when the key is missing), or with a count an
/// array: of up to `count` distinct members when it is positive, of exactly `-count` members, maybe
/// repeated, when it is negative (empty when the key is missing). The set is left as it is.
pub(crate) fn srandmember(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some((key, requested)) = key_and_count(arguments, out, b"srandmember") else {
        return;
    };
    let requested = match requested.map(kv_common::parse_integer) {
        None => None,
        Some(None) => return resp::not_an_integer(out),
        Some(Some(i64::MIN)) => {
            return resp::error(out, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
        }
        Some(Some(requested)) if requested < 0 && requested.unsigned_abs() > MOST_DRAWN_MEMBERS => return too_many_drawn(out),
        Some(Some(requested)) => Some(requested),
    };
    let set = match set_at(database, key) {
        Ok(Some(set)) => &*set,
        Ok(None) if requested.is_some() => return resp::empty_array(out),
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let Some(requested) = requested else {
        return match random_member(set) {
            Some(member) => resp::bulk(out, member),
            None => resp::null(out),
        };
    };
    let mut members: Vec<&[u8]> = set.iter().map(Vec::as_slice).collect();
    let magnitude = usize::try_from(requested.unsigned_abs()).unwrap_or(usize::MAX);
    if requested < 0 {
        resp::array_header(out, magnitude);
        for _ in 0..magnitude {
            let member = members.get(random_below(members.len())).copied().unwrap_or_default();
            resp::bulk(out, member);
        }
    } else if magnitude >= members.len() {
        write_sorted_members(out, members);
    } else {
        write_members(out, pick_distinct(&mut members, magnitude));
    }
}

/// `SMOVE source destination member`: moves `member` from the set at `source` to the set at
/// `destination` (created when missing); replies 1 when `member` was in `source`, 0 otherwise.
/// Deletes `source` when it ends up empty. Like Redis, a missing source replies 0 whatever
/// `destination` holds, and a move within one set only checks membership.
pub(crate) fn smove(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination, member] = arguments else {
        return resp::wrong_arity(out, b"smove");
    };
    let source_exists = set_at(database, source).map(|set| set.is_some());
    let destination_is_a_set_or_missing = set_at(database, destination).is_ok();
    match source_exists {
        Ok(false) => return resp::count(out, 0),
        Err(WrongType) => return resp::wrong_type(out),
        Ok(true) if !destination_is_a_set_or_missing => return resp::wrong_type(out),
        Ok(true) => {}
    }
    let Ok(Some(source_set)) = set_at(database, source) else {
        return resp::count(out, 0);
    };
    if source == destination {
        return resp::count(out, usize::from(source_set.contains(member)));
    }
    if !source_set.remove(member) {
        return resp::count(out, 0);
    }
    if source_set.is_empty() {
        database.remove(source);
    }
    match set_at(database, destination) {
        Ok(Some(destination_set)) => {
            destination_set.insert(member.to_vec());
        }
        Ok(None) | Err(WrongType) => database.insert(destination, Entry::persistent(Value::Set(HashSet::from([member.to_vec()])))),
    }
    resp::count(out, 1);
}

/// How SINTER, SUNION and SDIFF (and their STORE forms) combine their sets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combination {
    /// The members in every set (none when a key is missing).
    Intersection,
    /// The members in any set.
    Union,
    /// The members of the first set in none of the others.
    Difference,
}

/// The members `combination` of `sets` (missing keys as `None`, that is empty sets) yields, in no
/// particular order.
fn combine<'a>(sets: &[Option<&'a HashSet<Vec<u8>>>], combination: Combination) -> Vec<&'a [u8]> {
    match combination {
        Combination::Intersection => intersection(sets, usize::MAX),
        Combination::Union => {
            let union: HashSet<&[u8]> = sets.iter().flatten().flat_map(|set| set.iter().map(Vec::as_slice)).collect();
            union.into_iter().collect()
        }
        Combination::Difference => {
            let Some((Some(first), others)) = sets.split_first() else {
                return Vec::new();
            };
            let others: Vec<&HashSet<Vec<u8>>> = others.iter().flatten().copied().collect();
            first.iter().filter(|member| !others.iter().any(|other| other.contains(*member))).map(Vec::as_slice).collect()
        }
    }
}

/// Up to `limit` members of the intersection of `sets` (empty when one is missing), found by
/// walking the smallest set.
fn intersection<'a>(sets: &[Option<&'a HashSet<Vec<u8>>>], limit: usize) -> Vec<&'a [u8]> {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&HashSet<Vec<u8>>>>>() else {
        return Vec::new();
    };
    sets.sort_unstable_by_key(|set| set.len());
    let Some((smallest, others)) = sets.split_first() else {
        return Vec::new();
    };
    smallest.iter().filter(|member| others.iter().all(|other| other.contains(*member))).map(Vec::as_slice).take(limit).collect()
}

/// `SINTER key [key ...]`, `SUNION key [key ...]` and `SDIFF key [key ...]`: replies with the
/// members `combination` of the sets yields, sorted.
pub(crate) fn combine_and_reply(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], combination: Combination) {
    let Some(keys) = arguments.get(1..).filter(|keys| !keys.is_empty()) else {
        return resp::wrong_arity(out, command);
    };
    match sets_at(database, keys) {
        Ok(sets) => write_sorted_members(out, combine(&sets, combination)),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SINTERSTORE destination key [key ...]`, and SUNIONSTORE and SDIFFSTORE alike: stores the
/// members `combination` of the sets yields at `destination` as a new set without expiry, whatever
/// the key held before, or deletes `destination` when there are none; replies with their number.
pub(crate) fn combine_and_store(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], combination: Combination) {
    let &[_, destination, ref keys @ ..] = arguments else {
        return resp::wrong_arity(out, command);
    };
    if keys.is_empty() {
        return resp::wrong_arity(out, command);
    }
    let combined: HashSet<Vec<u8>> = match sets_at(database, keys) {
        Ok(sets) => combine(&sets, combination).into_iter().map(<[u8]>::to_vec).collect(),
        Err(WrongType) => return resp::wrong_type(out),
    };
    resp::count(out, combined.len());
    if combined.is_empty() {
        database.remove(destination);
    } else {
        database.insert(destination, Entry::persistent(Value::Set(combined)));
    }
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the number of members of the intersection of
/// the `numkeys` sets, counting no further than `limit` when it is not 0.
pub(crate) fn sintercard(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key_count, ref rest @ ..] = arguments else {
        return resp::wrong_arity(out, b"sintercard");
    };
    if rest.is_empty() {
        return resp::wrong_arity(out, b"sintercard");
    }
    let Some(key_count) = kv_common::parse_integer(key_count).filter(|&count| count > 0) else {
        return resp::error(out, "ERR numkeys should be greater than 0");
    };
    let Some((keys, options)) = usize::try_from(key_count).ok().and_then(|key_count| rest.split_at_checked(key_count)) else {
        return resp::error(out, "ERR Number of keys can't be greater than number of args");
    };
    // 0 means no limit; like Redis, the last LIMIT given wins.
    let mut limit = 0;
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match options.next() {
            Some(value) if option.eq_ignore_ascii_case(b"limit") => {
                match kv_common::parse_integer(value).and_then(|value| usize::try_from(value).ok()) {
                    Some(value) => limit = value,
                    None => return resp::error(out, "ERR LIMIT can't be negative"),
                }
            }
            _ => return resp::syntax_error(out),
        }
    }
    match sets_at(database, keys) {
        Ok(sets) => resp::count(out, intersection(&sets, if limit == 0 { usize::MAX } else { limit }).len()),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: a page of the set's members and the cursor to
/// continue from (0 when the iteration is over), walked as `kv_common::scan` describes.
pub(crate) fn sscan(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, cursor, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"sscan");
    };
    let Some(cursor) = kv_common::parse_cursor(cursor) else {
        return resp::error(out, "ERR invalid cursor");
    };
    // Like Redis, a missing key or a key of another type answers before the options are read.
    let set = match set_at(database, key) {
        Ok(Some(set)) => &*set,
        Ok(None) => return scan::reply_empty(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let Some(options) = scan::parse_scan_options(options, false, out) else {
        return;
    };
    let (page, next_cursor) = scan::scan_page(set.iter().map(Vec::as_slice), |member| member, cursor, options.count);
    let page: Vec<&[u8]> = page.into_iter().filter(|member| options.matches(member)).collect();
    scan::reply_header(out, next_cursor);
    write_members(out, &page);
}
