//! The sorted set commands, answered as Redis 7.0.15 answers them: ZADD, ZINCRBY, ZREM, ZSCORE,
//! ZMSCORE, ZCARD, ZPOPMIN, ZPOPMAX, the ZRANGE family (by index, score or member bytes, in either
//! direction, stored by ZRANGESTORE), ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK, the ZREMRANGEBY family,
//! ZUNION, ZINTER, ZDIFF and their STORE forms, ZINTERCARD, ZRANDMEMBER and ZSCAN; and the
//! blocking BZPOPMIN and BZPOPMAX, each answered as one attempt that does not block (`kv-server`
//! makes the client wait).
//!
//! Each replies WRONGTYPE on a key of another type (ZUNION, ZINTER, ZDIFF and ZINTERCARD also read
//! sets, each member with score 1, as Redis does); a sorted set a command empties is deleted.
//! Scores are written as Redis 7.0 writes doubles (`%.17g`, see [`resp::double`]).

use std::collections::{HashMap, HashSet};

use kv_common::blocking::keys_before_timeout;
use kv_interface::resp;

use crate::database::{Database, Entry, Value};
use crate::random::{parse_random_request, pick_random, random_below};
use crate::sorted_set::{LexRange, Score, ScoreRange, SortedSet, parse_score};

/// Redis's error for a score argument that is not a double.
const NOT_A_FLOAT: &str = "ERR value is not a valid float";
/// Redis's error for an increment that makes a score NaN (`inf` plus `-inf`).
const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
/// Redis's error for a score range whose bounds are not doubles.
const BAD_SCORE_RANGE: &str = "ERR min or max is not a float";
/// Redis's error for a lexicographic range whose ends are not `-`, `+`, `[...` or `(...`.
const BAD_LEX_RANGE: &str = "ERR min or max not valid string range item";
/// Redis's error for a count that must not be negative.
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// A key holds a value of another type than the command works on: the command replies WRONGTYPE.
struct WrongType;

/// The sorted set at `key`: `Ok(None)` when the key is missing, `Err(WrongType)` when it holds
/// another type.
fn read<'a>(database: &'a mut Database, key: &[u8]) -> Result<Option<&'a mut SortedSet>, WrongType> {
    match database.live(key).map(|entry| &mut entry.value) {
        Some(Value::SortedSet(sorted_set)) => Ok(Some(sorted_set)),
        Some(Value::String(_) | Value::List(_) | Value::Hash(_) | Value::Set(_)) => Err(WrongType),
        None => Ok(None),
    }
}

/// Writes members and, with `with_scores`, each one's score after it, as one flat array.
fn reply_members(out: &mut Vec<u8>, members: &[(&[u8], f64)], with_scores: bool) {
    resp::array_header(out, if with_scores { members.len() * 2 } else { members.len() });
    for (member, score) in members {
        resp::bulk(out, member);
        if with_scores {
            resp::double(out, *score);
        }
    }
}

/// Replaces whatever `key` holds with a sorted set of `members` (deleting the key when there is
/// none), for the STORE commands, and replies with the new set's size.
fn store<'a>(database: &mut Database, key: &[u8], members: impl IntoIterator<Item = (&'a [u8], f64)>, out: &mut Vec<u8>) {
    let sorted_set: SortedSet = members.into_iter().filter_map(|(member, score)| Some((member.to_vec(), Score::new(score)?))).collect();
    let size = sorted_set.len();
    if sorted_set.is_empty() {
        database.remove(key);
    } else {
        database.insert(key, Entry::persistent(Value::SortedSet(sorted_set)));
    }
    resp::count(out, size);
}

/// The options of a ZADD (or ZINCRBY, which is ZADD with INCR).
#[derive(Clone, Copy, Default)]
struct AddOptions {
    /// NX: only add new members.
    only_new: bool,
    /// XX: only update existing members.
    only_existing: bool,
    /// GT: only update a score to a greater one.
    only_greater: bool,
    /// LT: only update a score to a lower one.
    only_lower: bool,
    /// CH: count the updated members with the added ones.
    count_changed: bool,
    /// INCR: add the score to the member's, and reply with the new score.
    increment: bool,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`: sets members' scores,
/// creating the sorted set when missing; replies with how many members were added (and updated,
/// with CH), or with INCR the member's new score (null when the options kept it from changing).
pub(crate) fn zadd(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref rest @ ..] = arguments else {
        return resp::wrong_arity(out, b"zadd");
    };
    if rest.len() < 2 {
        return resp::wrong_arity(out, b"zadd");
    }
    add(database, key, AddOptions::default(), rest, out);
}

/// `ZINCRBY key increment member`: adds `increment` to the member's score (from 0 when it is
/// new), creating the sorted set when missing; replies with the new score.
pub(crate) fn zincrby(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, increment, member] = arguments else {
        return resp::wrong_arity(out, b"zincrby");
    };
    add(database, key, AddOptions { increment: true, ..AddOptions::default() }, &[increment, member], out);
}

/// Runs a ZADD (or ZINCRBY, which starts with INCR) on its arguments after the key: the options
/// first (ZINCRBY reads them too, as Redis does: `ZINCRBY key NX 1` is a syntax error), then the
/// score and member pairs, checked in Redis's order: the pairs' count, conflicting options, every
/// score, then the key's type.
fn add(database: &mut Database, key: &[u8], mut options: AddOptions, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let mut option_count = 0;
    for option in arguments {
        let flag = match option.to_ascii_lowercase().as_slice() {
            b"nx" => &mut options.only_new,
            b"xx" => &mut options.only_existing,
            b"gt" => &mut options.only_greater,
            b"lt" => &mut options.only_lower,
            b"ch" => &mut options.count_changed,
            b"incr" => &mut options.increment,
            _ => break,
        };
        *flag = true;
        option_count += 1;
    }
    let pairs = &arguments[option_count..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return resp::syntax_error(out);
    }
    if options.only_new && options.only_existing {
        return resp::error(out, "ERR XX and NX options at the same time are not compatible");
    }
    if ((options.only_greater || options.only_lower) && options.only_new) || (options.only_greater && options.only_lower) {
        return resp::error(out, "ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if options.increment && pairs.len() > 2 {
        return resp::error(out, "ERR INCR option supports a single increment-element pair");
    }
    let mut scored = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        let (Some(score), &[_, member]) = (parse_score(pair[0]), pair) else {
            return resp::error(out, NOT_A_FLOAT);
        };
        scored.push((score, member));
    }
    match read(database, key) {
        Err(WrongType) => return resp::wrong_type(out),
        Ok(Some(_)) => {}
        Ok(None) if options.only_existing => {
            return if options.increment { resp::null(out) } else { resp::count(out, 0) };
        }
        Ok(None) => database.insert(key, Entry::persistent(Value::SortedSet(SortedSet::new()))),
    }
    let Ok(Some(sorted_set)) = read(database, key) else {
        return resp::wrong_type(out);
    };
    let (mut added, mut updated, mut last_score) = (0, 0, None);
    let mut failed = false;
    for (score, member) in scored {
        match add_one(sorted_set, member, score, options) {
            Err(NanScore) => {
                failed = true;
                break;
            }
            Ok(Outcome::New(score)) => (added, last_score) = (added + 1, Some(score)),
            Ok(Outcome::Updated(score)) => (updated, last_score) = (updated + 1, Some(score)),
            Ok(Outcome::Unchanged(score)) => last_score = Some(score),
            Ok(Outcome::Refused) => {}
        }
    }
    // Only an existing member's increment can fail, so a set created here is never left empty;
    // the check keeps that so whatever changes above.
    if sorted_set.is_empty() {
        database.remove(key);
    }
    if failed {
        resp::error(out, NAN_RESULT);
    } else if options.increment {
        match last_score {
            Some(score) => resp::double(out, score),
            None => resp::null(out),
        }
    } else {
        resp::count(out, if options.count_changed { added + updated } else { added });
    }
}

/// What ZADD did with one member, with its new score where it has one.
enum Outcome {
    /// The member is new.
    New(f64),
    /// The member's score changed.
    Updated(f64),
    /// The member kept its score, which was already the one given.
    Unchanged(f64),
    /// NX, XX, GT or LT kept the member from being added or updated.
    Refused,
}

/// INCR made a score NaN (`inf` plus `-inf`): the command replies with an error.
struct NanScore;

/// Adds or updates one member as `zsetAdd` does; `Err` when INCR makes the score NaN.
fn add_one(sorted_set: &mut SortedSet, member: &[u8], score: f64, options: AddOptions) -> Result<Outcome, NanScore> {
    let Some(current) = sorted_set.score(member).map(Score::value) else {
        if options.only_existing {
            return Ok(Outcome::Refused);
        }
        sorted_set.insert(member, Score::new(score).ok_or(NanScore)?);
        return Ok(Outcome::New(score));
    };
    if options.only_new {
        return Ok(Outcome::Refused);
    }
    let score = if options.increment { current + score } else { score };
    let score = Score::new(score).ok_or(NanScore)?;
    if (options.only_lower && score.value() >= current) || (options.only_greater && score.value() <= current) {
        return Ok(Outcome::Refused);
    }
    if score.value() == current {
        return Ok(Outcome::Unchanged(score.value()));
    }
    sorted_set.insert(member, score);
    Ok(Outcome::Updated(score.value()))
}

/// `ZREM key member [member ...]`: removes the members; replies with how many there were, and
/// deletes the key when none is left.
pub(crate) fn zrem(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref members @ ..] = arguments else {
        return resp::wrong_arity(out, b"zrem");
    };
    if members.is_empty() {
        return resp::wrong_arity(out, b"zrem");
    }
    let sorted_set = match read(database, key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) => return resp::count(out, 0),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let removed = members.iter().filter(|member| sorted_set.remove(member).is_some()).count();
    if sorted_set.is_empty() {
        database.remove(key);
    }
    resp::count(out, removed);
}

/// `ZSCORE key member`: the member's score, or null when the member or the key is missing.
pub(crate) fn zscore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, member] = arguments else {
        return resp::wrong_arity(out, b"zscore");
    };
    match read(database, key) {
        Ok(sorted_set) => match sorted_set.and_then(|sorted_set| sorted_set.score(member)) {
            Some(score) => resp::double(out, score.value()),
            None => resp::null(out),
        },
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `ZMSCORE key member [member ...]`: each member's score, null for a missing one (every one when
/// the key is missing).
pub(crate) fn zmscore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, ref members @ ..] = arguments else {
        return resp::wrong_arity(out, b"zmscore");
    };
    if members.is_empty() {
        return resp::wrong_arity(out, b"zmscore");
    }
    let sorted_set = match read(database, key) {
        Ok(sorted_set) => sorted_set,
        Err(WrongType) => return resp::wrong_type(out),
    };
    resp::array_header(out, members.len());
    for member in members {
        match sorted_set.as_ref().and_then(|sorted_set| sorted_set.score(member)) {
            Some(score) => resp::double(out, score.value()),
            None => resp::null(out),
        }
    }
}

/// `ZCARD key`: the number of members, 0 when the key is missing.
pub(crate) fn zcard(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key] = arguments else {
        return resp::wrong_arity(out, b"zcard");
    };
    match read(database, key) {
        Ok(sorted_set) => resp::count(out, sorted_set.map_or(0, |sorted_set| sorted_set.len())),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// Which end of a sorted set a command works from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// The lowest scores first.
    Lowest,
    /// The highest scores first.
    Highest,
}

/// `ZPOPMIN key [count]`: removes and returns the member with the lowest score (or `count` of
/// them, lowest first) with its score, as a flat array; deletes the key when none is left.
pub(crate) fn zpopmin(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop(database, arguments, out, b"zpopmin", End::Lowest);
}

/// `ZPOPMAX key [count]`: as ZPOPMIN, from the highest score down.
pub(crate) fn zpopmax(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop(database, arguments, out, b"zpopmax", End::Highest);
}

/// Pops for ZPOPMIN or ZPOPMAX from `end`.
fn pop(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let (key, count) = match *arguments {
        [_, key] => (key, None),
        [_, key, count] => (key, Some(count)),
        [_, _, _, ..] => return resp::syntax_error(out),
        _ => return resp::wrong_arity(out, command),
    };
    let count = match count.map(|count| kv_common::parse_integer(count).and_then(|count| usize::try_from(count).ok())) {
        None => 1,
        Some(Some(count)) => count,
        Some(None) => return resp::error(out, NOT_POSITIVE),
    };
    let sorted_set = match read(database, key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) => return resp::empty_array(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let popped = take_members(sorted_set, end, count);
    if sorted_set.is_empty() {
        database.remove(key);
    }
    let popped: Vec<(&[u8], f64)> = popped.iter().map(|(member, score)| (member.as_slice(), score.value())).collect();
    reply_members(out, &popped, true);
}

/// Removes up to `count` members from `end` of `sorted_set` and returns them with their scores, in
/// the order they came off.
fn take_members(sorted_set: &mut SortedSet, end: End, count: usize) -> Vec<(Vec<u8>, Score)> {
    std::iter::from_fn(|| match end {
        End::Lowest => sorted_set.pop_first(),
        End::Highest => sorted_set.pop_last(),
    })
    .take(count)
    .collect()
}

/// `BZPOPMIN key [key ...] timeout`: pops the member with the lowest score of the first non-empty
/// sorted set of the keys and replies `[key, member, score]`, or the null array of the timeout when
/// every key is missing. Like Redis, the timeout is read first, and a key of another type fails the
/// command only when no sorted set before it had members.
pub(crate) fn bzpopmin(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop_from_first_sorted_set(database, arguments, out, b"bzpopmin", End::Lowest);
}

/// `BZPOPMAX key [key ...] timeout`: as BZPOPMIN, the member with the highest score.
pub(crate) fn bzpopmax(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    pop_from_first_sorted_set(database, arguments, out, b"bzpopmax", End::Highest);
}

/// Pops one member from `end` for BZPOPMIN or BZPOPMAX.
fn pop_from_first_sorted_set(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let Some(keys) = keys_before_timeout(arguments, command, out) else { return };
    for key in keys {
        let (popped, emptied) = match read(database, key) {
            Ok(Some(sorted_set)) => (take_members(sorted_set, end, 1).pop(), sorted_set.is_empty()),
            Ok(None) => continue,
            Err(WrongType) => return resp::wrong_type(out),
        };
        if emptied {
            database.remove(key);
        }
        let Some((member, score)) = popped else { continue };
        resp::array_header(out, 3);
        resp::bulk(out, key);
        resp::bulk(out, &member);
        resp::double(out, score.value());
        return;
    }
    resp::null_array(out);
}

/// How a range command selects members: by index, by score or by member bytes.
#[derive(Clone, Debug, PartialEq)]
enum Selection {
    /// Indexes `start` to `stop`, both included; negative ones count from the end.
    Rank(i64, i64),
    /// Scores in the range.
    Score(ScoreRange),
    /// Member bytes in the range.
    Lex(LexRange),
}

/// What the range commands select: which members, in which direction, and which slice of them
/// (LIMIT offset count, a negative count meaning all).
#[derive(Clone, Debug, PartialEq)]
struct RangeRequest {
    /// Which members.
    selection: Selection,
    /// Whether the highest scores come first.
    reverse: bool,
    /// LIMIT's offset and count.
    limit: Option<(i64, i64)>,
    /// Whether each member's score follows it in the reply (or is stored, for ZRANGESTORE).
    with_scores: bool,
}

/// The selection kind a range command fixes, or leaves to BYSCORE and BYLEX (ZRANGE and
/// ZRANGESTORE).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ZRANGE and ZRANGESTORE: by index unless BYSCORE or BYLEX says otherwise.
    Chosen,
    /// By index.
    Rank,
    /// By score.
    Score,
    /// By member bytes.
    Lex,
}

/// Parses a range command's `min max [options]` as Redis's `zrangeGenericCommand` does: options
/// first (WITHSCORES unless storing, LIMIT, REV and BYSCORE/BYLEX where the command leaves them
/// open), then their conflicts, then the range itself. `reverse` is `None` where REV may be given.
/// The error is the message to reply.
fn parse_range_request(
    bounds: [&[u8]; 2],
    options: &[&[u8]],
    kind: Kind,
    reverse: Option<bool>,
    storing: bool,
) -> Result<RangeRequest, &'static str> {
    let (mut kind, mut reverse_given, mut with_scores, mut limit) = (kind, reverse, false, None);
    let mut index = 0;
    while let Some(option) = options.get(index) {
        let option = option.to_ascii_lowercase();
        match (option.as_slice(), options.get(index + 1), options.get(index + 2)) {
            (b"withscores", _, _) if !storing => with_scores = true,
            (b"limit", Some(offset), Some(count)) => {
                let (Some(offset), Some(count)) = (kv_common::parse_integer(offset), kv_common::parse_integer(count)) else {
                    return Err("ERR value is not an integer or out of range");
                };
                limit = Some((offset, count));
                index += 2;
            }
            (b"rev", _, _) if reverse_given.is_none() => reverse_given = Some(true),
            (b"bylex", _, _) if kind == Kind::Chosen => kind = Kind::Lex,
            (b"byscore", _, _) if kind == Kind::Chosen => kind = Kind::Score,
            _ => return Err("ERR syntax error"),
        }
        index += 1;
    }
    let reverse = reverse_given.unwrap_or(false);
    // Redis takes a LIMIT count of -1 for no LIMIT at all, so it lets that one by on an index range.
    if limit.is_some_and(|(_, count)| count != -1) && matches!(kind, Kind::Chosen | Kind::Rank) {
        return Err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
    }
    if with_scores && kind == Kind::Lex {
        return Err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    // Reversed score and member ranges are written highest first.
    let [low, high] = if reverse && matches!(kind, Kind::Score | Kind::Lex) { [bounds[1], bounds[0]] } else { bounds };
    let selection = match kind {
        Kind::Chosen | Kind::Rank => match (kv_common::parse_integer(low), kv_common::parse_integer(high)) {
            (Some(start), Some(stop)) => Selection::Rank(start, stop),
            _ => return Err("ERR value is not an integer or out of range"),
        },
        Kind::Score => Selection::Score(ScoreRange::parse(low, high).ok_or(BAD_SCORE_RANGE)?),
        Kind::Lex => Selection::Lex(LexRange::parse(low, high).ok_or(BAD_LEX_RANGE)?),
    };
    Ok(RangeRequest { selection, reverse, limit, with_scores: with_scores || storing })
}

/// The members a range request selects, in its order, with their scores.
fn select<'a>(sorted_set: &'a SortedSet, request: &'a RangeRequest) -> Vec<(&'a [u8], f64)> {
    let members: Vec<(&[u8], Score)> = match &request.selection {
        Selection::Rank(start, stop) => match kv_common::clamp_index_range(*start, *stop, sorted_set.len()) {
            None => Vec::new(),
            Some((start, stop)) if request.reverse => sorted_set.iter().rev().skip(start).take(stop - start + 1).collect(),
            Some((start, stop)) => sorted_set.iter().skip(start).take(stop - start + 1).collect(),
        },
        Selection::Score(range) if request.reverse => {
            apply_limit(request.limit, |offset| sorted_set.in_score_range(range).rev().skip(offset))
        }
        Selection::Score(range) => apply_limit(request.limit, |offset| sorted_set.in_score_range(range).skip(offset)),
        Selection::Lex(range) => apply_limit(request.limit, |offset| sorted_set.in_lex_range(range, request.reverse, offset)),
    };
    members.into_iter().map(|(member, score)| (member, score.value())).collect()
}

/// The LIMIT `(offset, count)` slice of the members `from_offset` gives from an offset: all of
/// them without LIMIT or with a negative count, none with a negative offset.
fn apply_limit<'a, I: Iterator<Item = (&'a [u8], Score)>>(
    limit: Option<(i64, i64)>,
    from_offset: impl FnOnce(usize) -> I,
) -> Vec<(&'a [u8], Score)> {
    let (offset, count) = limit.unwrap_or((0, -1));
    let Ok(offset) = usize::try_from(offset) else {
        return Vec::new();
    };
    from_offset(offset).take(usize::try_from(count).unwrap_or(usize::MAX)).collect()
}

/// Runs a range command that replies with the members (ZRANGE, ZRANGEBYSCORE, ZREVRANGE, ...):
/// `arguments` is the command, key, the two bounds and the options.
fn range(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], kind: Kind, reverse: Option<bool>) {
    let &[_, key, low, high, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let request = match parse_range_request([low, high], options, kind, reverse, false) {
        Ok(request) => request,
        Err(message) => return resp::error(out, message),
    };
    match read(database, key) {
        Ok(Some(sorted_set)) => reply_members(out, &select(sorted_set, &request), request.with_scores),
        Ok(None) => resp::empty_array(out),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]`: the members
/// from index `start` to `stop` (or in a score or member range), lowest first (highest first with
/// REV), with their scores with WITHSCORES.
pub(crate) fn zrange(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrange", Kind::Chosen, None);
}

/// `ZREVRANGE key start stop [WITHSCORES]`: ZRANGE with REV.
pub(crate) fn zrevrange(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrevrange", Kind::Rank, Some(true));
}

/// `ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]`: ZRANGE with BYSCORE.
pub(crate) fn zrangebyscore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrangebyscore", Kind::Score, Some(false));
}

/// `ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]`: ZRANGE with BYSCORE and REV.
pub(crate) fn zrevrangebyscore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrevrangebyscore", Kind::Score, Some(true));
}

/// `ZRANGEBYLEX key min max [LIMIT offset count]`: ZRANGE with BYLEX.
pub(crate) fn zrangebylex(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrangebylex", Kind::Lex, Some(false));
}

/// `ZREVRANGEBYLEX key max min [LIMIT offset count]`: ZRANGE with BYLEX and REV.
pub(crate) fn zrevrangebylex(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    range(database, arguments, out, b"zrevrangebylex", Kind::Lex, Some(true));
}

/// `ZRANGESTORE destination source min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: stores
/// what ZRANGE would reply (with the scores) at `destination`, replacing whatever it held
/// (deleting it when nothing is selected); replies with how many members it stored.
pub(crate) fn zrangestore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, destination, source, low, high, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"zrangestore");
    };
    let request = match parse_range_request([low, high], options, Kind::Chosen, None, true) {
        Ok(request) => request,
        Err(message) => return resp::error(out, message),
    };
    let selected: Vec<(Vec<u8>, f64)> = match read(database, source) {
        Ok(Some(sorted_set)) => select(sorted_set, &request).into_iter().map(|(member, score)| (member.to_vec(), score)).collect(),
        Ok(None) => Vec::new(),
        Err(WrongType) => return resp::wrong_type(out),
    };
    store(database, destination, selected.iter().map(|(member, score)| (member.as_slice(), *score)), out);
}

/// `ZCOUNT key min max`: how many members have a score in the range.
pub(crate) fn zcount(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, min, max] = arguments else {
        return resp::wrong_arity(out, b"zcount");
    };
    let Some(range) = ScoreRange::parse(min, max) else {
        return resp::error(out, BAD_SCORE_RANGE);
    };
    match read(database, key) {
        Ok(sorted_set) => resp::count(out, sorted_set.map_or(0, |sorted_set| sorted_set.in_score_range(&range).count())),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `ZLEXCOUNT key min max`: how many members are in the lexicographic range.
pub(crate) fn zlexcount(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, min, max] = arguments else {
        return resp::wrong_arity(out, b"zlexcount");
    };
    let Some(range) = LexRange::parse(min, max) else {
        return resp::error(out, BAD_LEX_RANGE);
    };
    match read(database, key) {
        Ok(sorted_set) => resp::count(out, sorted_set.map_or(0, |sorted_set| sorted_set.in_lex_range(&range, false, 0).count())),
        Err(WrongType) => resp::wrong_type(out),
    }
}

/// `ZRANK key member`: the member's index from the lowest score, or null when the member or the
/// key is missing.
pub(crate) fn zrank(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    rank(database, arguments, out, b"zrank", End::Lowest);
}

/// `ZREVRANK key member`: the member's index from the highest score, or null.
pub(crate) fn zrevrank(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    rank(database, arguments, out, b"zrevrank", End::Highest);
}

/// Replies with a member's rank from `end`, for ZRANK and ZREVRANK.
fn rank(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], end: End) {
    let &[_, key, member] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let sorted_set = match read(database, key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    match sorted_set.rank(member) {
        Some(rank) if end == End::Highest => resp::count(out, sorted_set.len() - 1 - rank),
        Some(rank) => resp::count(out, rank),
        None => resp::null(out),
    }
}

/// `ZREMRANGEBYRANK key start stop`: removes the members from index `start` to `stop`; replies
/// with how many it removed.
pub(crate) fn zremrangebyrank(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    remove_range(database, arguments, out, b"zremrangebyrank", Kind::Rank);
}

/// `ZREMRANGEBYSCORE key min max`: removes the members with a score in the range.
pub(crate) fn zremrangebyscore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    remove_range(database, arguments, out, b"zremrangebyscore", Kind::Score);
}

/// `ZREMRANGEBYLEX key min max`: removes the members in the lexicographic range.
pub(crate) fn zremrangebylex(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    remove_range(database, arguments, out, b"zremrangebylex", Kind::Lex);
}

/// Removes the members a range selects, for the ZREMRANGEBY commands, deleting the key when none
/// is left.
fn remove_range(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, command: &[u8], kind: Kind) {
    let &[_, key, low, high] = arguments else {
        return resp::wrong_arity(out, command);
    };
    let request = match parse_range_request([low, high], &[], kind, Some(false), false) {
        Ok(request) => request,
        Err(message) => return resp::error(out, message),
    };
    let sorted_set = match read(database, key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) => return resp::count(out, 0),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let selected: Vec<Vec<u8>> = select(sorted_set, &request).into_iter().map(|(member, _)| member.to_vec()).collect();
    for member in &selected {
        sorted_set.remove(member);
    }
    if sorted_set.is_empty() {
        database.remove(key);
    }
    resp::count(out, selected.len());
}

/// A set operation on sorted sets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// ZUNION: the members of any input.
    Union,
    /// ZINTER: the members of every input.
    Intersection,
    /// ZDIFF: the members of the first input in no other.
    Difference,
}

/// How a union or intersection combines a member's weighted scores.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    /// The sum of the weighted scores.
    Sum,
    /// The lowest weighted score.
    Min,
    /// The highest weighted score.
    Max,
}

impl Aggregate {
    /// Combines `current` with `score` as Redis's `zunionInterAggregate` does (a sum of `inf` and
    /// `-inf` is 0).
    fn combine(self, current: f64, score: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = current + score;
                if sum.is_nan() { 0.0 } else { sum }
            }
            // Exactly Redis's comparisons: a NaN score, or a `-0` against a `0`, keeps `current`.
            Aggregate::Min => {
                if score < current {
                    score
                } else {
                    current
                }
            }
            Aggregate::Max => {
                if score > current {
                    score
                } else {
                    current
                }
            }
        }
    }
}

/// An input of ZUNION, ZINTER, ZDIFF and ZINTERCARD: a sorted set, a set (each member scored 1),
/// or nothing (a missing key).
enum Source<'a> {
    /// A sorted set.
    Sorted(&'a SortedSet),
    /// A set: each member scored 1.
    Plain(&'a HashSet<Vec<u8>>),
    /// A missing key: an empty input.
    Missing,
}

impl Source<'_> {
    /// The number of members.
    fn len(&self) -> usize {
        match self {
            Source::Sorted(sorted_set) => sorted_set.len(),
            Source::Plain(set) => set.len(),
            Source::Missing => 0,
        }
    }

    /// The score of `member`, if it is one.
    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Source::Sorted(sorted_set) => sorted_set.score(member).map(Score::value),
            Source::Plain(set) => set.contains(member).then_some(1.0),
            Source::Missing => None,
        }
    }

    /// The members with their scores.
    fn members(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            Source::Sorted(sorted_set) => Box::new(sorted_set.iter().map(|(member, score)| (member, score.value()))),
            Source::Plain(set) => Box::new(set.iter().map(|member| (member.as_slice(), 1.0))),
            Source::Missing => Box::new(std::iter::empty()),
        }
    }
}

/// What a set operation command asks for, once parsed.
struct OperationRequest<'a> {
    /// The input keys.
    keys: &'a [&'a [u8]],
    /// Each input's weight (WEIGHTS; 1 by default).
    weights: Vec<f64>,
    /// How a member's scores combine (AGGREGATE; SUM by default).
    aggregate: Aggregate,
    /// WITHSCORES.
    with_scores: bool,
    /// ZINTERCARD's LIMIT; 0 for none.
    limit: usize,
}

/// What the set operation commands share besides the operation: where their keys start, whether
/// they store (no WITHSCORES), whether they only count (ZINTERCARD: LIMIT, no WEIGHTS nor
/// AGGREGATE), and their name for errors.
struct OperationCommand {
    /// The command's name, lowercase, for errors.
    name: &'static str,
    /// Where the key count is among the arguments (the command's name being at 0).
    numkeys_index: usize,
    /// Whether the command stores its result (no WITHSCORES then).
    storing: bool,
    /// Whether the command only counts (ZINTERCARD).
    counting: bool,
}

/// Parses a set operation command as Redis's `zunionInterDiffGenericCommand` does: the key count,
/// the keys (each must be missing, a sorted set or a set: the type is checked before the options),
/// then WEIGHTS, AGGREGATE, WITHSCORES or LIMIT. Replies and returns `None` on an error. Leaves
/// the keys expired where they have, so that the caller can read the live ones straight from the
/// table.
fn parse_operation<'a>(
    database: &mut Database,
    arguments: &'a [&'a [u8]],
    operation: Operation,
    command: &OperationCommand,
    out: &mut Vec<u8>,
) -> Option<OperationRequest<'a>> {
    let numkeys = arguments.get(command.numkeys_index)?;
    let Some(numkeys) = kv_common::parse_integer(numkeys) else {
        resp::not_an_integer(out);
        return None;
    };
    if numkeys < 1 {
        resp::error(out, &format!("ERR at least 1 input key is needed for '{}' command", command.name));
        return None;
    }
    let first_key = command.numkeys_index + 1;
    let Some(keys) = usize::try_from(numkeys).ok().and_then(|numkeys| arguments.get(first_key..first_key.checked_add(numkeys)?)) else {
        resp::syntax_error(out);
        return None;
    };
    for key in keys {
        if !matches!(database.live(key).map(|entry| &entry.value), None | Some(Value::SortedSet(_) | Value::Set(_))) {
            resp::wrong_type(out);
            return None;
        }
    }
    let mut request = OperationRequest { keys, weights: vec![1.0; keys.len()], aggregate: Aggregate::Sum, with_scores: false, limit: 0 };
    let mut index = first_key + keys.len();
    let weighing = operation != Operation::Difference && !command.counting;
    while let Some(option) = arguments.get(index) {
        let remaining = arguments.len() - index;
        let option = option.to_ascii_lowercase();
        match option.as_slice() {
            b"weights" if weighing && remaining > keys.len() => {
                for (weight, argument) in request.weights.iter_mut().zip(&arguments[index + 1..]) {
                    let Some(parsed) = parse_score(argument) else {
                        resp::error(out, "ERR weight value is not a float");
                        return None;
                    };
                    *weight = parsed;
                }
                index += 1 + keys.len();
            }
            b"aggregate" if weighing && remaining >= 2 => {
                request.aggregate = match arguments[index + 1].to_ascii_lowercase().as_slice() {
                    b"sum" => Aggregate::Sum,
                    b"min" => Aggregate::Min,
                    b"max" => Aggregate::Max,
                    _ => {
                        resp::syntax_error(out);
                        return None;
                    }
                };
                index += 2;
            }
            b"limit" if command.counting && remaining >= 2 => {
                // Redis words a LIMIT that is not an integer as it words a negative one.
                let Some(limit) = kv_common::parse_integer(arguments[index + 1]).and_then(|limit| usize::try_from(limit).ok()) else {
                    resp::error(out, "ERR LIMIT can't be negative");
                    return None;
                };
                request.limit = limit;
                index += 2;
            }
            b"withscores" if !command.storing && !command.counting => {
                request.with_scores = true;
                index += 1;
            }
            _ => {
                resp::syntax_error(out);
                return None;
            }
        }
    }
    Some(request)
}

/// Computes a set operation on the live keys of `request` (which [`parse_operation`] checked):
/// the members and their scores, in Redis's order.
fn compute(database: &Database, request: &OperationRequest<'_>, operation: Operation) -> Vec<(Vec<u8>, f64)> {
    let mut sources: Vec<(Source<'_>, f64)> = request
        .keys
        .iter()
        .zip(&request.weights)
        .map(|(key, weight)| {
            let source = match database.entries.get(*key).map(|entry| &entry.value) {
                Some(Value::SortedSet(sorted_set)) => Source::Sorted(sorted_set),
                Some(Value::Set(set)) => Source::Plain(set),
                _ => Source::Missing,
            };
            (source, *weight)
        })
        .collect();
    // Redis works from the smallest input up (but for a difference, whose first input is special);
    // the order decides the order of a sum's additions.
    if operation != Operation::Difference {
        sources.sort_by_key(|(source, _)| source.len());
    }
    let weighted = |score: f64, weight: f64| {
        let product = score * weight;
        if product.is_nan() { 0.0 } else { product }
    };
    let mut result: HashMap<&[u8], f64> = HashMap::new();
    let Some(((first, first_weight), others)) = sources.split_first() else {
        return Vec::new();
    };
    match operation {
        Operation::Union => {
            for (source, weight) in &sources {
                for (member, score) in source.members() {
                    let score = weighted(score, *weight);
                    result.entry(member).and_modify(|current| *current = request.aggregate.combine(*current, score)).or_insert(score);
                }
            }
        }
        Operation::Intersection => {
            'members: for (member, score) in first.members() {
                let mut combined = weighted(score, *first_weight);
                for (source, weight) in others {
                    let Some(score) = source.score(member) else {
                        continue 'members;
                    };
                    // Unlike the first input's, these products may be NaN (`inf` times 0), as in
                    // Redis: a sum then makes 0, a minimum or maximum keeps the score so far.
                    combined = request.aggregate.combine(combined, score * weight);
                }
                result.insert(member, combined);
            }
        }
        Operation::Difference => {
            for (member, score) in first.members() {
                if others.iter().all(|(source, _)| source.score(member).is_none()) {
                    result.insert(member, score);
                }
            }
        }
    }
    let mut members: Vec<(Vec<u8>, f64)> = result.into_iter().map(|(member, score)| (member.to_vec(), score)).collect();
    // Redis's order: by score (`-0` and `0` being the same score), then by member.
    members.sort_by(|(member_a, score_a), (member_b, score_b)| {
        score_a.partial_cmp(score_b).unwrap_or(std::cmp::Ordering::Equal).then_with(|| member_a.cmp(member_b))
    });
    members
}

/// Runs ZUNION, ZINTER, ZDIFF (replying with the members) or their STORE forms (storing them at
/// the first argument).
fn operate(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>, operation: Operation, name: &'static str, storing: bool) {
    let minimum = if storing { 4 } else { 3 };
    if arguments.len() < minimum {
        return resp::wrong_arity(out, name.as_bytes());
    }
    let command = OperationCommand { name, numkeys_index: if storing { 2 } else { 1 }, storing, counting: false };
    let Some(request) = parse_operation(database, arguments, operation, &command, out) else {
        return;
    };
    let members = compute(database, &request, operation);
    let members = members.iter().map(|(member, score)| (member.as_slice(), *score));
    match arguments.get(1) {
        Some(destination) if storing => store(database, destination, members, out),
        _ => reply_members(out, &members.collect::<Vec<_>>(), request.with_scores),
    }
}

/// `ZUNION numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`:
/// every member of any input, its weighted scores combined.
pub(crate) fn zunion(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Union, "zunion", false);
}

/// `ZINTER numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`: the
/// members of every input, their weighted scores combined.
pub(crate) fn zinter(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Intersection, "zinter", false);
}

/// `ZDIFF numkeys key [key ...] [WITHSCORES]`: the members of the first input in no other one,
/// with their scores there.
pub(crate) fn zdiff(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Difference, "zdiff", false);
}

/// `ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]`:
/// stores ZUNION's result at `destination`; replies with its size.
pub(crate) fn zunionstore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Union, "zunionstore", true);
}

/// `ZINTERSTORE destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]`:
/// stores ZINTER's result at `destination`; replies with its size.
pub(crate) fn zinterstore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Intersection, "zinterstore", true);
}

/// `ZDIFFSTORE destination numkeys key [key ...]`: stores ZDIFF's result at `destination`;
/// replies with its size.
pub(crate) fn zdiffstore(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    operate(database, arguments, out, Operation::Difference, "zdiffstore", true);
}

/// `ZINTERCARD numkeys key [key ...] [LIMIT limit]`: the size of ZINTER's result, counting no
/// further than `limit` when it is not 0.
pub(crate) fn zintercard(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    if arguments.len() < 3 {
        return resp::wrong_arity(out, b"zintercard");
    }
    let command = OperationCommand { name: "zintercard", numkeys_index: 1, storing: false, counting: true };
    let Some(request) = parse_operation(database, arguments, Operation::Intersection, &command, out) else {
        return;
    };
    let size = compute(database, &request, Operation::Intersection).len();
    resp::count(out, if request.limit == 0 { size } else { size.min(request.limit) });
}

/// `ZRANDMEMBER key [count [WITHSCORES]]`: a random member (null when the key is missing); with a
/// count, that many distinct members (the whole set, in order, when it has no more), or with a
/// negative count that many members drawn independently (so possibly repeated; at most
/// [`crate::random::MOST_DRAWN_MEMBERS`], where Redis has no limit), with their scores with WITHSCORES.
pub(crate) fn zrandmember(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let Some(request) = parse_random_request(arguments, out, b"zrandmember", b"withscores") else {
        return;
    };
    let sorted_set = match read(database, request.key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) if request.count.is_some() => return resp::empty_array(out),
        Ok(None) => return resp::null(out),
        Err(WrongType) => return resp::wrong_type(out),
    };
    let members: Vec<(&[u8], f64)> = sorted_set.iter().map(|(member, score)| (member, score.value())).collect();
    let Some(count) = request.count else {
        return match members.get(random_below(members.len())) {
            Some((member, _)) => resp::bulk(out, member),
            None => resp::null(out),
        };
    };
    if let Some(picked) = pick_random(members, count, out) {
        reply_members(out, &picked, request.with_option);
    }
}

/// How many members a sorted set may have for Redis to keep it compact (`zset-max-listpack-entries`),
/// and how long each may be (`zset-max-listpack-value`): ZSCAN returns such a set whole.
const COMPACT_MEMBERS: usize = 128;
/// See [`COMPACT_MEMBERS`].
const COMPACT_MEMBER_BYTES: usize = 64;

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: the next members (with their scores) from
/// `cursor`, and the cursor to continue from (0 when done). A set Redis keeps compact comes whole
/// in one reply, as in Redis; a larger one comes `count` (default 10) members at a time, the
/// cursor being the index of the next member, where Redis walks its hash table.
pub(crate) fn zscan(database: &mut Database, arguments: &[&[u8]], out: &mut Vec<u8>) {
    let &[_, key, cursor, ref options @ ..] = arguments else {
        return resp::wrong_arity(out, b"zscan");
    };
    let Some(cursor) = kv_common::parse_cursor(cursor) else {
        return resp::error(out, "ERR invalid cursor");
    };
    let sorted_set = match read(database, key) {
        Ok(Some(sorted_set)) => sorted_set,
        Ok(None) => {
            resp::array_header(out, 2);
            resp::bulk(out, b"0");
            return resp::empty_array(out);
        }
        Err(WrongType) => return resp::wrong_type(out),
    };
    let (mut count, mut pattern) = (10_usize, None);
    for pair in options.chunks(2) {
        match (pair[0].to_ascii_lowercase().as_slice(), pair.get(1)) {
            (b"count", Some(value)) => match kv_common::parse_integer(value) {
                None => return resp::not_an_integer(out),
                Some(value) if value < 1 => return resp::syntax_error(out),
                Some(value) => count = usize::try_from(value).unwrap_or(usize::MAX),
            },
            (b"match", Some(value)) => pattern = Some(*value),
            _ => return resp::syntax_error(out),
        }
    }
    let compact = sorted_set.len() <= COMPACT_MEMBERS && sorted_set.iter().all(|(member, _)| member.len() <= COMPACT_MEMBER_BYTES);
    let start = usize::try_from(cursor).unwrap_or(usize::MAX);
    let (batch, next): (Vec<(&[u8], Score)>, usize) = if compact {
        (sorted_set.iter().collect(), 0)
    } else {
        let batch: Vec<(&[u8], Score)> = sorted_set.iter().skip(start).take(count).collect();
        let next = start.saturating_add(batch.len());
        (batch, if next >= sorted_set.len() { 0 } else { next })
    };
    let matching: Vec<(&[u8], Score)> =
        batch.into_iter().filter(|(member, _)| pattern.is_none_or(|pattern| kv_common::glob_match(pattern, member))).collect();
    resp::array_header(out, 2);
    resp::bulk(out, next.to_string().as_bytes());
    resp::array_header(out, matching.len() * 2);
    for (member, score) in matching {
        resp::bulk(out, member);
        resp::bulk(out, compact_score_text(score.value()).as_bytes());
    }
}

/// A score as ZSCAN writes it from a compact set, which holds integral scores as integers: those
/// as integers (`100000000000000000`, where ZSCORE writes `1e+17`), others as doubles.
fn compact_score_text(score: f64) -> String {
    const HALF_RANGE: f64 = (i64::MAX / 2) as f64;
    if score.fract() == 0.0 && (-HALF_RANGE..=HALF_RANGE).contains(&score) { format!("{score:.0}") } else { resp::format_double(score) }
}
