//! The sorted set of version 4: members ordered by score, then by member bytes, as Redis orders
//! them, with each member's score found by hashing; and the score and lexicographic ranges the
//! range commands select members with.
//!
//! Redis keeps its large sorted sets in a skiplist whose links count the members they skip, so it
//! finds a rank in O(log n). A `BTreeSet` does not count, so here a rank (ZRANK, ZRANGE by index,
//! an offset) costs O(rank): accepted for a sample plugin, whose sets are small.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

/// A score: a double that is never NaN, ordered by value (`-0` and `0` are the same score, as in
/// Redis, which compares scores with `<` and `==`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Score(f64);

impl Score {
    /// The score `value`, or `None` for NaN, which no sorted set holds.
    pub(crate) fn new(value: f64) -> Option<Score> {
        (!value.is_nan()).then_some(Score(value))
    }

    /// The score as a double.
    pub(crate) fn value(self) -> f64 {
        self.0
    }
}

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        // Never NaN, so `partial_cmp` always answers.
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

/// A sorted set: each member once, with its score. Never empty in a database: the command that
/// empties it deletes the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SortedSet {
    /// Each member's score.
    scores: HashMap<Vec<u8>, Score>,
    /// The members in Redis's order: by score, then by member bytes.
    order: BTreeSet<(Score, Vec<u8>)>,
}

impl SortedSet {
    /// An empty sorted set.
    pub(crate) fn new() -> SortedSet {
        SortedSet::default()
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }

    /// Whether the sorted set has no member.
    pub(crate) fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`, if it is one.
    pub(crate) fn score(&self, member: &[u8]) -> Option<Score> {
        self.scores.get(member).copied()
    }

    /// Sets the score of `member`, adding it if needed; returns its previous score. A score of
    /// `-0` is stored as `0`, as Redis's compact encoding (every set of up to 128 short members)
    /// stores it, so that ZSCORE replies `0` as Redis does.
    pub(crate) fn insert(&mut self, member: &[u8], score: Score) -> Option<Score> {
        let score = Score(score.0 + 0.0);
        let previous = self.scores.insert(member.to_vec(), score);
        if let Some(previous) = previous {
            self.order.remove(&(previous, member.to_vec()));
        }
        self.order.insert((score, member.to_vec()));
        previous
    }

    /// Removes `member`; returns its score if it was one.
    pub(crate) fn remove(&mut self, member: &[u8]) -> Option<Score> {
        let score = self.scores.remove(member)?;
        self.order.remove(&(score, member.to_vec()));
        Some(score)
    }

    /// The members and their scores, lowest score first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], Score)> {
        self.order.iter().map(|(score, member)| (member.as_slice(), *score))
    }

    /// Removes and returns the member with the lowest score (the first in Redis's order).
    pub(crate) fn pop_first(&mut self) -> Option<(Vec<u8>, Score)> {
        let (score, member) = self.order.pop_first()?;
        self.scores.remove(&member);
        Some((member, score))
    }

    /// Removes and returns the member with the highest score (the last in Redis's order).
    pub(crate) fn pop_last(&mut self) -> Option<(Vec<u8>, Score)> {
        let (score, member) = self.order.pop_last()?;
        self.scores.remove(&member);
        Some((member, score))
    }

    /// The rank of `member` (0 for the lowest score), if it is one. O(rank): the tree does not
    /// count the members it holds below a node.
    pub(crate) fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        Some(self.order.range(..(score, member.to_vec())).count())
    }

    /// The members whose score is in `range`, lowest score first (iterate backwards for the
    /// highest first). O(log n) to find the first one.
    pub(crate) fn in_score_range<'a>(&'a self, range: &ScoreRange) -> impl DoubleEndedIterator<Item = (&'a [u8], Score)> + use<'a> {
        // Every score range is a half-open interval [low, high) of doubles: an excluded minimum
        // moves to the next double up, and so does an included maximum (but +inf, which is then
        // no bound at all).
        let low = if range.min_exclusive { range.min.next_up() } else { range.min };
        let upper = if range.max == f64::INFINITY && !range.max_exclusive {
            Some(Bound::Unbounded)
        } else {
            let high = if range.max_exclusive { range.max } else { range.max.next_up() };
            // `BTreeSet::range` panics on a start above its end.
            (low <= high).then_some(Bound::Excluded((Score(high), Vec::new())))
        };
        let nothing_above_infinity = range.min_exclusive && range.min == f64::INFINITY;
        let bounds = upper.filter(|_| !nothing_above_infinity).map(|upper| (Bound::Included((Score(low), Vec::new())), upper));
        bounds.into_iter().flat_map(|bounds| self.order.range(bounds)).map(|(score, member)| (member.as_slice(), *score))
    }

    /// The members whose bytes are in `range`, in Redis's order (highest first with `reverse`),
    /// after the first `offset` of them.
    ///
    /// Redis defines lexicographic ranges for sets whose members all have the same score; on
    /// others this answers as Redis's compact encoding (every set of up to 128 short members)
    /// does: nothing unless the last member is at or above the minimum and the first at or below
    /// the maximum; else from the first member at or above the minimum (the last at or below the
    /// maximum, with `reverse`), if it is in the range, skip `offset` members, then take members
    /// while they stay at or below the maximum (at or above the minimum). O(n).
    pub(crate) fn in_lex_range<'a>(
        &'a self,
        range: &'a LexRange,
        reverse: bool,
        offset: usize,
    ) -> impl Iterator<Item = (&'a [u8], Score)> + use<'a> {
        let in_range = !range.is_empty()
            && self.iter().next_back().is_some_and(|(member, _)| range.min.admits_as_minimum(member))
            && self.iter().next().is_some_and(|(member, _)| range.max.admits_as_maximum(member));
        let (start, end) = if reverse { (range.max.clone(), range.min.clone()) } else { (range.min.clone(), range.max.clone()) };
        let admits =
            move |bound: &LexBound, member: &[u8]| if reverse { bound.admits_as_maximum(member) } else { bound.admits_as_minimum(member) };
        let ends_before =
            move |bound: &LexBound, member: &[u8]| if reverse { bound.admits_as_minimum(member) } else { bound.admits_as_maximum(member) };
        let ordered: Box<dyn Iterator<Item = (&'a [u8], Score)> + 'a> =
            if reverse { Box::new(self.iter().rev()) } else { Box::new(self.iter()) };
        let mut members = ordered.filter(move |_| in_range).skip_while(move |(member, _)| !admits(&start, member)).peekable();
        let first_in_range = members.peek().is_some_and(|(member, _)| ends_before(&end, member));
        members.filter(move |_| first_in_range).skip(offset).take_while(move |(member, _)| ends_before(&end, member))
    }
}

/// A range of scores, as ZRANGEBYSCORE, ZCOUNT, ... take it: `1.5`, `(1.5` (excluded), `-inf`,
/// `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ScoreRange {
    /// The lowest score.
    pub(crate) min: f64,
    /// Whether the lowest score itself is left out.
    pub(crate) min_exclusive: bool,
    /// The highest score.
    pub(crate) max: f64,
    /// Whether the highest score itself is left out.
    pub(crate) max_exclusive: bool,
}

impl ScoreRange {
    /// Parses a range's two bounds as Redis does (`zslParseRange`): `(` excludes the score, and
    /// the score is read by `strtod` leniently (leading spaces, an empty text meaning 0, an
    /// overflow meaning infinity); `None` when a bound is not a number or is NaN.
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_exclusive) = parse_score_bound(min)?;
        let (max, max_exclusive) = parse_score_bound(max)?;
        Some(ScoreRange { min, min_exclusive, max, max_exclusive })
    }
}

/// One bound of a score range: the score, and whether it is excluded.
fn parse_score_bound(bound: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match bound.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (bound, false),
    };
    let parsed = strtod(text);
    (parsed.consumed == text.len() && !parsed.value.is_nan()).then_some((parsed.value, exclusive))
}

/// One end of a lexicographic range: `-` (below everything), `+` (above everything), `[member`
/// (included) or `(member` (excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LexBound {
    /// `-`: below every member.
    Lowest,
    /// `+`: above every member.
    Highest,
    /// `[member`: the member is in the range.
    Included(Vec<u8>),
    /// `(member`: the member is not in the range.
    Excluded(Vec<u8>),
}

impl LexBound {
    /// Parses a bound as Redis does; `None` for anything else.
    fn parse(bound: &[u8]) -> Option<LexBound> {
        match bound {
            b"-" => Some(LexBound::Lowest),
            b"+" => Some(LexBound::Highest),
            [b'[', member @ ..] => Some(LexBound::Included(member.to_vec())),
            [b'(', member @ ..] => Some(LexBound::Excluded(member.to_vec())),
            _ => None,
        }
    }

    /// Whether `member` is at or above this bound, taken as the minimum of a range.
    fn admits_as_minimum(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Lowest => true,
            LexBound::Highest => false,
            LexBound::Included(bound) => member >= bound.as_slice(),
            LexBound::Excluded(bound) => member > bound.as_slice(),
        }
    }

    /// Whether `member` is at or below this bound, taken as the maximum of a range.
    fn admits_as_maximum(&self, member: &[u8]) -> bool {
        match self {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Included(bound) => member <= bound.as_slice(),
            LexBound::Excluded(bound) => member < bound.as_slice(),
        }
    }
}

/// A lexicographic range, as ZRANGEBYLEX, ZLEXCOUNT, ... take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LexRange {
    /// The lower end.
    pub(crate) min: LexBound,
    /// The upper end.
    pub(crate) max: LexBound,
}

impl LexRange {
    /// Parses a range's two ends; `None` when either is not `-`, `+`, `[...` or `(...`.
    pub(crate) fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange { min: LexBound::parse(min)?, max: LexBound::parse(max)? })
    }

    /// Whether no member can be in the range, as Redis decides before it looks at members: the
    /// minimum above the maximum, or both the same with one of them excluded.
    fn is_empty(&self) -> bool {
        match (&self.min, &self.max) {
            (LexBound::Highest, _) | (_, LexBound::Lowest) => true,
            (LexBound::Lowest, _) | (_, LexBound::Highest) => false,
            (LexBound::Included(min), LexBound::Included(max)) => min > max,
            (LexBound::Included(min) | LexBound::Excluded(min), LexBound::Included(max) | LexBound::Excluded(max)) => min >= max,
        }
    }
}

/// What `strtod` reads at the start of a text: the value, how many bytes it took (0 when no number
/// starts the text), and whether the value overflowed or underflowed to zero (`ERANGE`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Strtod {
    /// The value read (0 when none was).
    pub(crate) value: f64,
    /// How many bytes the number took, leading white space included.
    pub(crate) consumed: usize,
    /// Whether a finite number was too large (read as infinity) or too small (read as zero).
    pub(crate) out_of_range: bool,
}

/// Reads a double at the start of `text` as C's `strtod` does in the C locale: leading white
/// space, an optional sign, then `inf`/`infinity`/`nan` in any case, a hexadecimal `0x1.8p3`, or a
/// decimal `12.5e-3` (`.5` and `5.` included).
pub(crate) fn strtod(text: &[u8]) -> Strtod {
    let nothing = Strtod { value: 0.0, consumed: 0, out_of_range: false };
    let start = text.iter().take_while(|byte| matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')).count();
    let mut position = start;
    let negative = match text.get(position) {
        Some(b'-') => {
            position += 1;
            true
        }
        Some(b'+') => {
            position += 1;
            false
        }
        _ => false,
    };
    let signed = |value: f64| if negative { -value } else { value };
    let rest = text.get(position..).unwrap_or_default();
    let starts_with = |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts_with(b"infinity") {
        return Strtod { value: signed(f64::INFINITY), consumed: position + 8, out_of_range: false };
    }
    if starts_with(b"inf") {
        return Strtod { value: signed(f64::INFINITY), consumed: position + 3, out_of_range: false };
    }
    if starts_with(b"nan") {
        let mut consumed = position + 3;
        // `nan(chars)` takes the parenthesized letters, digits and underscores too.
        if text.get(consumed) == Some(&b'(') {
            let inside = text[consumed + 1..].iter().take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_').count();
            if text.get(consumed + 1 + inside) == Some(&b')') {
                consumed += inside + 2;
            }
        }
        return Strtod { value: f64::NAN, consumed, out_of_range: false };
    }
    let hexadecimal = (starts_with(b"0x")).then(|| read_hexadecimal(&rest[2..])).flatten();
    if let Some((magnitude, length)) = hexadecimal {
        return Strtod { value: signed(magnitude), consumed: position + 2 + length, out_of_range: magnitude.is_infinite() };
    }
    let digits = |from: usize| rest.get(from..).unwrap_or_default().iter().take_while(|byte| byte.is_ascii_digit()).count();
    let integer_digits = digits(0);
    let mut length = integer_digits;
    let mut fraction_digits = 0;
    if rest.get(length) == Some(&b'.') {
        fraction_digits = digits(length + 1);
        if integer_digits + fraction_digits > 0 {
            length += 1 + fraction_digits;
        }
    }
    if integer_digits + fraction_digits == 0 {
        return nothing;
    }
    if matches!(rest.get(length), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(rest.get(length + 1), Some(b'+' | b'-')));
        let exponent_digits = digits(length + 1 + sign);
        if exponent_digits > 0 {
            length += 1 + sign + exponent_digits;
        }
    }
    let number = &rest[..length];
    let Some(magnitude) = std::str::from_utf8(number).ok().and_then(|number| number.parse::<f64>().ok()) else {
        return nothing;
    };
    let mantissa_is_zero = number.iter().take_while(|byte| !matches!(byte, b'e' | b'E')).all(|byte| matches!(byte, b'0' | b'.'));
    let out_of_range = magnitude.is_infinite() || (magnitude == 0.0 && !mantissa_is_zero);
    Strtod { value: signed(magnitude), consumed: position + length, out_of_range }
}

/// Reads the digits of a hexadecimal double after its `0x`: hexadecimal digits with an optional
/// `.` and fraction, then an optional binary exponent `p-3`. Returns the value and the bytes
/// taken, or `None` when no digit follows (then `strtod` reads just the `0`).
fn read_hexadecimal(text: &[u8]) -> Option<(f64, usize)> {
    let mut mantissa = 0.0_f64;
    let mut exponent: i64 = 0;
    let mut position = 0;
    let mut any_digit = false;
    let mut in_fraction = false;
    while let Some(&byte) = text.get(position) {
        if byte == b'.' && !in_fraction {
            in_fraction = true;
        } else if let Some(digit) = char::from(byte).to_digit(16) {
            any_digit = true;
            mantissa = mantissa * 16.0 + f64::from(digit);
            if in_fraction {
                exponent -= 4;
            }
        } else {
            break;
        }
        position += 1;
    }
    if !any_digit {
        return None;
    }
    if matches!(text.get(position), Some(b'p' | b'P')) {
        let sign = usize::from(matches!(text.get(position + 1), Some(b'+' | b'-')));
        let digits: Vec<u8> = text.get(position + 1 + sign..).unwrap_or_default().iter().copied().take_while(u8::is_ascii_digit).collect();
        if !digits.is_empty() {
            let value: i64 = std::str::from_utf8(&digits).ok().and_then(|digits| digits.parse().ok()).unwrap_or(i64::MAX).min(100_000);
            exponent += if text.get(position + 1) == Some(&b'-') { -value } else { value };
            position += 1 + sign + digits.len();
        }
    }
    // Two steps, so that a denormal result does not go through an infinite or zero power.
    let exponent = i32::try_from(exponent.clamp(-100_000, 100_000)).unwrap_or_default();
    let half = exponent / 2;
    Some((mantissa * 2_f64.powi(half) * 2_f64.powi(exponent - half), position))
}

/// Parses a score argument as Redis does (`getDoubleFromObject`): the whole text a `strtod`
/// number, with no leading white space, not out of range (`1e400`; `inf` itself is fine) and not
/// NaN.
pub(crate) fn parse_score(argument: &[u8]) -> Option<f64> {
    let parsed = strtod(argument);
    let leading_space = argument.first().is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'));
    let valid =
        !argument.is_empty() && !leading_space && parsed.consumed == argument.len() && !parsed.out_of_range && !parsed.value.is_nan();
    valid.then_some(parsed.value)
}

impl FromIterator<(Vec<u8>, Score)> for SortedSet {
    /// A sorted set of these members; a member given twice keeps its last score.
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Score)>>(members: I) -> SortedSet {
        let mut sorted_set = SortedSet::new();
        for (member, score) in members {
            sorted_set.insert(&member, score);
        }
        sorted_set
    }
}
