//! The list commands: LPUSH, RPUSH, LPOP, RPOP, LRANGE and LLEN. Each replies WRONGTYPE on a key
//! that holds a string or a hash; a list that a pop empties is deleted.

use std::collections::VecDeque;

use kv_interface::resp;

use crate::database::{Database, Entry, Value};

/// The end of a list a command works at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Head,
    Tail,
}

/// `LPUSH key element [element ...]`: pushes each element at the head, in order (so the last one
/// ends up first), creating the list when missing; replies with the new length.
pub(crate) fn lpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"lpush", End::Head);
}

/// `RPUSH key element [element ...]`: pushes each element at the tail, creating the list when
/// missing; replies with the new length.
pub(crate) fn rpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"rpush", End::Tail);
}

/// Pushes the elements of a LPUSH or RPUSH at `end`.
fn push(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let &[_, key, ref elements @ ..] = arguments else {
        return resp::wrong_arity(out, command);
    };
    if elements.is_empty() {
        return resp::wrong_arity(out, command);
    }
    let list = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::List(list)) => list,
        Some(Value::String(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => {
            let mut list = VecDeque::with_capacity(elements.len());
            push_all(&mut list, elements, end);
            let length = list.len();
            database.insert(key, Entry::persistent(Value::List(list)));
            return resp::count(out, length);
        }
    };
    push_all(list, elements, end);
    resp::count(out, list.len());
}

/// Pushes each of `elements` at `end` of `list`, in order.
fn push_all(list: &mut VecDeque<Vec<u8>>, elements: &[&[u8]], end: End) {
    for element in elements {
        match end {
            End::Head => list.push_front(element.to_vec()),
            End::Tail => list.push_back(element.to_vec()),
        }
    }
}

/// `LPOP key [count]`: removes and returns the first element (null when the key is missing), or
/// with a count an array of up to that many (a null array when the key is missing).
pub(crate) fn lpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop(database, arguments, out, b"lpop", End::Head);
}

/// `RPOP key [count]`: as LPOP, from the tail.
pub(crate) fn rpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop(database, arguments, out, b"rpop", End::Tail);
}

/// Pops from `end` for LPOP or RPOP, with or without a count, and deletes the list if it ends
/// up empty.
fn pop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let (key, requested) = match *arguments {
        [_, key] => (key, None),
        [_, key, requested] => (key, Some(requested)),
        _ => return resp::wrong_arity(out, command),
    };
    // Redis parses the count before it looks at the key, and words every bad count the same way,
    // whether negative or not an integer at all.
    let requested = match requested {
        None => None,
        Some(requested) => match kv_common::parse_integer(requested).and_then(|requested| usize::try_from(requested).ok()) {
            Some(requested) => Some(requested),
            None => return resp::error(out, "ERR value is out of range, must be positive"),
        },
    };
    let list = match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::List(list)) => list,
        Some(Value::String(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None if requested.is_some() => return resp::null_array(out),
        None => return resp::null(out),
    };
    let mut take_one = || match end {
        End::Head => list.pop_front(),
        End::Tail => list.pop_back(),
    };
    match requested {
        None => match take_one() {
            Some(element) => resp::bulk(out, &element),
            None => resp::null(out),
        },
        Some(0) => resp::empty_array(out),
        Some(requested) => {
            let popped: Vec<Vec<u8>> = std::iter::from_fn(take_one).take(requested).collect();
            resp::array_header(out, popped.len());
            for element in &popped {
                resp::bulk(out, element);
            }
        }
    }
    if list.is_empty() {
        database.remove(key);
    }
}

/// `LRANGE key start stop`: the elements from `start` to `stop`, both included; negative indexes
/// count from the tail (-1 is the last element), and out-of-range indexes are clamped as Redis does.
pub(crate) fn lrange(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, start, stop] = arguments else {
        return resp::wrong_arity(out, b"lrange");
    };
    let (Some(start), Some(stop)) = (kv_common::parse_integer(start), kv_common::parse_integer(stop)) else {
        return resp::not_an_integer(out);
    };
    let list = match database.live(key).map(|entry| &entry.value) {
        Some(Value::List(list)) => list,
        Some(Value::String(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => return resp::wrong_type(out),
        None => return resp::empty_array(out),
    };
    let length = i64::try_from(list.len()).unwrap_or(i64::MAX);
    let start = if start < 0 { start.saturating_add(length).max(0) } else { start };
    let stop = if stop < 0 { stop.saturating_add(length) } else { stop.min(length - 1) };
    if start > stop || start >= length {
        return resp::empty_array(out);
    }
    let (Ok(start), Ok(stop)) = (usize::try_from(start), usize::try_from(stop)) else {
        return resp::empty_array(out);
    };
    resp::array_header(out, stop - start + 1);
    for element in list.range(start..=stop) {
        resp::bulk(out, element);
    }
}

/// `LLEN key`: the length of the list, 0 when the key is missing.
pub(crate) fn llen(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"llen");
    };
    match database.live(key).map(|entry| &entry.value) {
        Some(Value::List(list)) => resp::count(out, list.len()),
        Some(Value::String(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => resp::wrong_type(out),
        None => resp::count(out, 0),
    }
}
