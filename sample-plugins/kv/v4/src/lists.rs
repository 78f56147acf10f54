//! The list commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LRANGE, LLEN, LINDEX, LSET,
//! LINSERT, LPOS, LREM, LTRIM, LMOVE, RPOPLPUSH and LMPOP, and the blocking BLPOP, BRPOP, BLMOVE,
//! BRPOPLPUSH and BLMPOP, each answered as one attempt that does not block (`kv-server` makes the
//! client wait). Each replies WRONGTYPE on a key that holds another type; a list that a command
//! empties is deleted.

use std::collections::VecDeque;

use kv_common::blocking::{keys_before_timeout, parse_timeout_milliseconds};
use kv_interface::resp;

use crate::database::{Database, Entry, Value};

/// The error of a key that holds another type than a list.
struct WrongType;

/// The list at `key`: `None` when the key is missing, [`WrongType`] when it holds another type.
fn list_at<'a>(database: &'a mut Database, key: &[u8]) -> Result<Option<&'a mut VecDeque<Vec<u8>>>, WrongType> {
    match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::List(list)) => Ok(Some(list)),
        Some(Value::String(_) | Value::Hash(_) | Value::Set(_) | Value::SortedSet(_)) => Err(WrongType),
        None => Ok(None),
    }
}

/// Deletes the list at `key` when a command has emptied it.
fn delete_if_empty(database: &mut Database, key: &[u8]) {
    if matches!(database.live(key).map(|entry| &entry.value), Some(Value::List(list)) if list.is_empty()) {
        database.remove(key);
    }
}

/// The end of a list a command works at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Head,
    Tail,
}

/// `LPUSH key element [element ...]`: pushes each element at the head, in order (so the last one
/// ends up first), creating the list when missing; replies with the new length.
pub(crate) fn lpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"lpush", End::Head, WhenMissing::Create);
}

/// `RPUSH key element [element ...]`: pushes each element at the tail, creating the list when
/// missing; replies with the new length.
pub(crate) fn rpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"rpush", End::Tail, WhenMissing::Create);
}

/// Whether a push creates the list when the key is missing (LPUSH, RPUSH) or replies 0 (LPUSHX,
/// RPUSHX).
#[derive(Clone, Copy, PartialEq, Eq)]
enum WhenMissing {
    Create,
    Skip,
}

/// Pushes the elements of a LPUSH, RPUSH, LPUSHX or RPUSHX at `end`.
fn push(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End, when_missing: WhenMissing) {
    let &[_, key, ref elements @ ..] = arguments else {
        return resp::wrong_arity(out, command);
    };
    if elements.is_empty() {
        return resp::wrong_arity(out, command);
    }
    match list_at(database, key) {
        Ok(Some(list)) => {
            push_all(list, elements, end);
            resp::count(out, list.len());
        }
        Ok(None) if when_missing == WhenMissing::Skip => resp::count(out, 0),
        Ok(None) => {
            let mut list = VecDeque::with_capacity(elements.len());
            push_all(&mut list, elements, end);
            let length = list.len();
            database.insert(key, Entry::persistent(Value::List(list)));
            resp::count(out, length);
        }
        Err(WrongType) => resp::wrong_type(out),
    }
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
    match requested {
        None => match pop_at(list, end) {
            Some(element) => resp::bulk(out, &element),
            None => resp::null(out),
        },
        Some(0) => resp::empty_array(out),
        Some(requested) => write_elements(out, &pop_many(list, end, requested)),
    }
    if list.is_empty() {
        database.remove(key);
    }
}

/// Pops one element from `end` of `list`.
fn pop_at(list: &mut VecDeque<Vec<u8>>, end: End) -> Option<Vec<u8>> {
    match end {
        End::Head => list.pop_front(),
        End::Tail => list.pop_back(),
    }
}

/// Pops up to `count` elements from `end` of `list`, in the order they come off.
fn pop_many(list: &mut VecDeque<Vec<u8>>, end: End, count: usize) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| pop_at(list, end)).take(count).collect()
}

/// Writes `elements` as an array of bulk strings.
fn write_elements(out: &mut Vec<u8>, elements: &[Vec<u8>]) {
    resp::array_header(out, elements.len());
    for element in elements {
        resp::bulk(out, element);
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
    let Some((start, stop)) = kv_common::clamp_index_range(start, stop, list.len()) else {
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

/// `LPUSHX key element [element ...]`: as LPUSH, on an existing list only; replies 0 when the key
/// is missing.
pub(crate) fn lpushx(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"lpushx", End::Head, WhenMissing::Skip);
}

/// `RPUSHX key element [element ...]`: as RPUSH, on an existing list only; replies 0 when the key
/// is missing.
pub(crate) fn rpushx(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    push(database, arguments, out, b"rpushx", End::Tail, WhenMissing::Skip);
}

/// The position in a list of `length` elements that `index` names (negative indexes count from the
/// tail), or `None` when it is out of range.
fn position(index: i64, length: usize) -> Option<usize> {
    let length = i64::try_from(length).ok()?;
    let index = if index < 0 { index.checked_add(length)? } else { index };
    if index >= length {
        return None;
    }
    usize::try_from(index).ok()
}

/// `LINDEX key index`: the element at `index` (negative from the tail), or null when it is out of
/// range or the key is missing. Like Redis, a missing key replies null before the index is read.
pub(crate) fn lindex(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, index] = arguments else {
        return resp::wrong_arity(out, b"lindex");
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => list,
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let Some(index) = kv_common::parse_integer(index) else {
        return resp::not_an_integer(out);
    };
    match position(index, list.len()).and_then(|position| list.get(position)) {
        Some(element) => resp::bulk(out, element),
        None => resp::null(out),
    }
}

/// `LSET key index element`: replaces the element at `index`; `ERR no such key` when the key is
/// missing, `ERR index out of range` when the index is.
pub(crate) fn lset(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, index, element] = arguments else {
        return resp::wrong_arity(out, b"lset");
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => list,
        Ok(None) => return resp::error(out, "ERR no such key"),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let Some(index) = kv_common::parse_integer(index) else {
        return resp::not_an_integer(out);
    };
    match position(index, list.len()).and_then(|position| list.get_mut(position)) {
        Some(slot) => {
            *slot = element.to_vec();
            resp::ok(out);
        }
        None => resp::error(out, "ERR index out of range"),
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: inserts `element` next to the first `pivot`; replies
/// with the new length, -1 when `pivot` is not in the list, 0 when the key is missing.
pub(crate) fn linsert(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, where_to, pivot, element] = arguments else {
        return resp::wrong_arity(out, b"linsert");
    };
    let after = if where_to.eq_ignore_ascii_case(b"after") {
        true
    } else if where_to.eq_ignore_ascii_case(b"before") {
        false
    } else {
        return resp::syntax_error(out);
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => list,
        Ok(None) => return resp::count(out, 0),
        Err(WrongType) => return resp::wrong_type(out),
    };
    match list.iter().position(|candidate| candidate.as_slice() == pivot) {
        Some(found) => {
            list.insert(found + usize::from(after), element.to_vec());
            resp::count(out, list.len());
        }
        None => resp::integer(out, -1),
    }
}

/// The options of an LPOS command.
struct PositionOptions {
    /// Which match to start from: 1 the first from the head, -1 the first from the tail.
    rank: i64,
    /// How many matches to list (0 for all), or `None` for a single index without an array.
    count: Option<usize>,
    /// How many elements to compare at most (0 for all).
    most_compared: usize,
}

/// Parses the options of LPOS after the element; `None`, with the error written, when one is
/// wrong. Like Redis, a bad COUNT or MAXLEN, negative or not an integer, is called negative.
fn parse_position_options(options: &[&[u8]], out: &mut Vec<u8>) -> Option<PositionOptions> {
    let mut parsed = PositionOptions { rank: 1, count: None, most_compared: 0 };
    let mut remaining = options.iter();
    while let Some(option) = remaining.next() {
        let lowercase_option = option.to_ascii_lowercase();
        let Some(value) = remaining.next() else {
            resp::syntax_error(out);
            return None;
        };
        match lowercase_option.as_slice() {
            b"rank" => match kv_common::parse_integer(value) {
                None => {
                    resp::not_an_integer(out);
                    return None;
                }
                Some(0) => {
                    resp::error(
                        out,
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    );
                    return None;
                }
                Some(rank) => parsed.rank = rank,
            },
            b"count" | b"maxlen" => {
                let Some(value) = kv_common::parse_integer(value).and_then(|value| usize::try_from(value).ok()) else {
                    let name = if lowercase_option == b"count" { "COUNT" } else { "MAXLEN" };
                    resp::error(out, &format!("ERR {name} can't be negative"));
                    return None;
                };
                if lowercase_option == b"count" {
                    parsed.count = Some(value);
                } else {
                    parsed.most_compared = value;
                }
            }
            _ => {
                resp::syntax_error(out);
                return None;
            }
        }
    }
    Some(parsed)
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`: the index of the `rank`-th
/// match of `element` (from the tail when `rank` is negative), or null; with COUNT an array of up
/// to that many indexes (all with 0); MAXLEN compares only that many elements. Like Redis, a rank
/// of -2^63 finds the matches from the tail and lists them all whatever the COUNT.
pub(crate) fn lpos(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, element, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"lpos");
    };
    let Some(options) = parse_position_options(options, out) else {
        return;
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => &*list,
        Ok(None) if options.count.is_some() => return resp::empty_array(out),
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let from_tail = options.rank < 0;
    // Redis negates a negative rank, which leaves -2^63 negative: every match then counts.
    let skipped = if options.rank == i64::MIN { 0 } else { usize::try_from(options.rank.unsigned_abs() - 1).unwrap_or(usize::MAX) };
    let compared = if options.most_compared == 0 { list.len() } else { options.most_compared.min(list.len()) };
    let in_order: Box<dyn Iterator<Item = (usize, &Vec<u8>)>> =
        if from_tail { Box::new(list.iter().enumerate().rev()) } else { Box::new(list.iter().enumerate()) };
    let mut matches = in_order.take(compared).filter(|(_, candidate)| candidate.as_slice() == element).map(|(index, _)| index);
    let Some(count) = options.count else {
        return match matches.nth(skipped) {
            Some(index) => resp::count(out, index),
            None => resp::null(out),
        };
    };
    let unlimited = count == 0 || options.rank == i64::MIN;
    let found: Vec<usize> = matches.skip(skipped).take(if unlimited { usize::MAX } else { count }).collect();
    resp::array_header(out, found.len());
    for index in found {
        resp::count(out, index);
    }
}

/// `LREM key count element`: removes the first `count` occurrences of `element` from the head
/// (from the tail when `count` is negative, all of them when 0); replies with how many went, and
/// deletes the list it empties.
pub(crate) fn lrem(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, count, element] = arguments else {
        return resp::wrong_arity(out, b"lrem");
    };
    let Some(count) = kv_common::parse_integer(count) else {
        return resp::not_an_integer(out);
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => list,
        Ok(None) => return resp::count(out, 0),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let most_removed = if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
    let mut removed = 0;
    let kept: VecDeque<Vec<u8>> = if count < 0 {
        let mut kept: VecDeque<Vec<u8>> = VecDeque::with_capacity(list.len());
        for candidate in list.drain(..).rev() {
            if removed < most_removed && candidate.as_slice() == element {
                removed += 1;
            } else {
                kept.push_front(candidate);
            }
        }
        kept
    } else {
        list.drain(..)
            .filter(|candidate| {
                let remove = removed < most_removed && candidate.as_slice() == element;
                removed += usize::from(remove);
                !remove
            })
            .collect()
    };
    *list = kept;
    delete_if_empty(database, key);
    resp::count(out, removed);
}

/// `LTRIM key start stop`: keeps only the elements from `start` to `stop` (as LRANGE selects
/// them), deleting the list when none is left; replies OK, also when the key is missing.
pub(crate) fn ltrim(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, start, stop] = arguments else {
        return resp::wrong_arity(out, b"ltrim");
    };
    let (Some(start), Some(stop)) = (kv_common::parse_integer(start), kv_common::parse_integer(stop)) else {
        return resp::not_an_integer(out);
    };
    let list = match list_at(database, key) {
        Ok(Some(list)) => list,
        Ok(None) => return resp::ok(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    match kv_common::clamp_index_range(start, stop, list.len()) {
        Some((start, stop)) => {
            list.truncate(stop + 1);
            list.drain(..start);
        }
        None => list.clear(),
    }
    delete_if_empty(database, key);
    resp::ok(out);
}

/// Reads `LEFT` or `RIGHT`, in any case.
fn parse_end(argument: &[u8]) -> Option<End> {
    if argument.eq_ignore_ascii_case(b"left") {
        Some(End::Head)
    } else if argument.eq_ignore_ascii_case(b"right") {
        Some(End::Tail)
    } else {
        None
    }
}

/// `LMOVE source destination LEFT|RIGHT LEFT|RIGHT`: pops an element from one end of `source`,
/// pushes it at one end of `destination` (created when missing) and replies with it; null when
/// `source` is missing. `source` may be `destination`, which rotates the list.
pub(crate) fn lmove(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination, from, to] = arguments else {
        return resp::wrong_arity(out, b"lmove");
    };
    let (Some(from), Some(to)) = (parse_end(from), parse_end(to)) else {
        return resp::syntax_error(out);
    };
    move_element(database, source, destination, from, to, out);
}

/// `RPOPLPUSH source destination`: `LMOVE source destination RIGHT LEFT`.
pub(crate) fn rpoplpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination] = arguments else {
        return resp::wrong_arity(out, b"rpoplpush");
    };
    move_element(database, source, destination, End::Tail, End::Head, out);
}

/// Moves one element for LMOVE and RPOPLPUSH. Like Redis, a missing source replies null whatever
/// `destination` holds; otherwise `destination` must be a list or missing.
fn move_element(database: &mut Database, source: &[u8], destination: &[u8], from: End, to: End, out: &mut Vec<u8>) {
    match list_at(database, source) {
        Ok(Some(_)) => {}
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    }
    if list_at(database, destination).is_err() {
        return resp::wrong_type(out);
    }
    let Ok(Some(source_list)) = list_at(database, source) else {
        return resp::null(out);
    };
    let Some(element) = pop_at(source_list, from) else {
        return resp::null(out);
    };
    resp::bulk(out, &element);
    match list_at(database, destination) {
        Ok(Some(destination_list)) => push_all(destination_list, &[&element], to),
        _ => database.insert(destination, Entry::persistent(Value::List(VecDeque::from([element])))),
    }
    delete_if_empty(database, source);
}

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`: pops up to `count` (default 1)
/// elements from the first non-empty list of the keys and replies `[key, [elements]]`, or a null
/// array when every key is missing; deletes the list it empties. Like Redis, a key of another type
/// fails the command only when no list before it had elements.
pub(crate) fn lmpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, numkeys, ref rest @ ..] = arguments else {
        return resp::wrong_arity(out, b"lmpop");
    };
    if rest.len() < 2 {
        return resp::wrong_arity(out, b"lmpop");
    }
    pop_from_first_list(database, numkeys, rest, None, out);
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`: LMPOP, whose null array is
/// the reply at the timeout. Like Redis, the timeout is read after the other arguments.
pub(crate) fn blmpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, timeout, numkeys, ref rest @ ..] = arguments else {
        return resp::wrong_arity(out, b"blmpop");
    };
    if rest.len() < 2 {
        return resp::wrong_arity(out, b"blmpop");
    }
    pop_from_first_list(database, numkeys, rest, Some(timeout), out);
}

/// Pops for LMPOP and BLMPOP (whose `timeout` is checked once the other arguments are); `rest` is
/// what follows `numkeys`.
fn pop_from_first_list(database: &mut Database, numkeys: &[u8], rest: &[&[u8]], timeout: Option<&[u8]>, out: &mut Vec<u8>) {
    let Some(numkeys) = kv_common::parse_integer(numkeys).and_then(|numkeys| usize::try_from(numkeys).ok()).filter(|numkeys| *numkeys > 0)
    else {
        return resp::error(out, "ERR numkeys should be greater than 0");
    };
    let (Some(keys), Some((end, options))) = (rest.get(..numkeys), rest.get(numkeys..).and_then(<[&[u8]]>::split_first)) else {
        return resp::syntax_error(out);
    };
    let Some(end) = parse_end(end) else {
        return resp::syntax_error(out);
    };
    let count = match options {
        [] => 1,
        [option, count] if option.eq_ignore_ascii_case(b"count") => {
            match kv_common::parse_integer(count).and_then(|count| usize::try_from(count).ok()).filter(|count| *count > 0) {
                Some(count) => count,
                None => return resp::error(out, "ERR count should be greater than 0"),
            }
        }
        _ => return resp::syntax_error(out),
    };
    if let Some(Err(error)) = timeout.map(parse_timeout_milliseconds) {
        return resp::error(out, error.message());
    }
    for key in keys {
        let list = match list_at(database, key) {
            Ok(Some(list)) => list,
            Ok(None) => continue,
            Err(WrongType) => return resp::wrong_type(out),
        };
        let popped = pop_many(list, end, count);
        resp::array_header(out, 2);
        resp::bulk(out, key);
        write_elements(out, &popped);
        delete_if_empty(database, key);
        return;
    }
    resp::null_array(out);
}

/// `BLPOP key [key ...] timeout`: pops the first element of the first non-empty list of the keys
/// and replies `[key, element]`, or the null array of the timeout when every key is missing. Like
/// Redis, the timeout is read first, and a key of another type fails the command only when no
/// list before it had elements.
pub(crate) fn blpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop_from_first_list_of_keys(database, arguments, out, b"blpop", End::Head);
}

/// `BRPOP key [key ...] timeout`: as BLPOP, from the tail.
pub(crate) fn brpop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop_from_first_list_of_keys(database, arguments, out, b"brpop", End::Tail);
}

/// Pops one element from `end` for BLPOP or BRPOP.
fn pop_from_first_list_of_keys(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let Some(keys) = keys_before_timeout(arguments, command, out) else { return };
    for key in keys {
        let element = match list_at(database, key) {
            Ok(Some(list)) => pop_at(list, end),
            Ok(None) => continue,
            Err(WrongType) => return resp::wrong_type(out),
        };
        let Some(element) = element else { continue };
        resp::array_header(out, 2);
        resp::bulk(out, key);
        resp::bulk(out, &element);
        delete_if_empty(database, key);
        return;
    }
    resp::null_array(out);
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`: LMOVE, whose null is Redis's reply
/// inside MULTI/EXEC (at a timeout, `kv-server` replies a null array, as Redis does). Like Redis,
/// the ends are read before the timeout.
pub(crate) fn blmove(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination, from, to, timeout] = arguments else {
        return resp::wrong_arity(out, b"blmove");
    };
    let (Some(from), Some(to)) = (parse_end(from), parse_end(to)) else {
        return resp::syntax_error(out);
    };
    if let Err(error) = parse_timeout_milliseconds(timeout) {
        return resp::error(out, error.message());
    }
    move_element(database, source, destination, from, to, out);
}

/// `BRPOPLPUSH source destination timeout`: RPOPLPUSH, whose null is Redis's reply inside
/// MULTI/EXEC (at a timeout, `kv-server` replies a null array, as Redis does).
pub(crate) fn brpoplpush(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, source, destination, timeout] = arguments else {
        return resp::wrong_arity(out, b"brpoplpush");
    };
    if let Err(error) = parse_timeout_milliseconds(timeout) {
        return resp::error(out, error.message());
    }
    move_element(database, source, destination, End::Tail, End::Head, out);
}
