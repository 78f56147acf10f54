//! The sorted set of version 4: members ordered by score, then by member bytes, as Redis orders
//! them, with each member's score found by hashing.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

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

    /// Sets the score of `member`, adding it if needed; returns its previous score.
    pub(crate) fn insert(&mut self, member: &[u8], score: Score) -> Option<Score> {
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
