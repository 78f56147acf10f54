//! The cursor walk SCAN, SSCAN and HSCAN share: items are visited in the order of a fixed hash of
//! their names, and the cursor is the hash to continue from.
//!
//! Each call hashes every item with [`item_hash`] (FNV-1a, fixed across processes and versions, so
//! that a cursor stays valid whatever happens to the collection, or to the process, between calls)
//! and keeps those at or after the cursor. A page holds `count` items, stretched to the last item
//! sharing the hash of its last one, so that a page boundary never splits equal hashes; MATCH (and
//! SCAN's TYPE) then filter the page. Each hash range is visited exactly once, so an item present
//! for the whole iteration is returned at least once, as Redis guarantees. A collection that fits
//! in one page comes whole with cursor 0, as Redis 7.0 answers for small collections. A call costs
//! O(N log N) on the collection's size N.

use kv_interface::resp;

/// The position of an item's name in the walk: FNV-1a.
#[must_use]
pub fn item_hash(name: &[u8]) -> u64 {
    name.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3))
}

/// The options of a SCAN-like command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions<'a> {
    /// COUNT: how many items a page holds before filtering (10 by default).
    pub count: usize,
    /// MATCH: the glob the names must match.
    pub pattern: Option<&'a [u8]>,
    /// TYPE (SCAN only): the type name the values must have, compared without regard to ASCII case.
    pub type_name: Option<&'a [u8]>,
}

impl ScanOptions<'_> {
    /// Whether `name` passes MATCH.
    #[must_use]
    pub fn matches(&self, name: &[u8]) -> bool {
        self.pattern.is_none_or(|pattern| crate::glob_match(pattern, name))
    }
}

/// Reads the options after the cursor as Redis 7.0 does: `COUNT count` (an integer of at least 1),
/// `MATCH pattern` and, when `accepts_type`, `TYPE type`, in any order, the last one counting. On an
/// error, writes it to `out` and returns `None`.
pub fn parse_scan_options<'a>(options: &[&'a [u8]], accepts_type: bool, out: &mut Vec<u8>) -> Option<ScanOptions<'a>> {
    let mut parsed = ScanOptions { count: 10, pattern: None, type_name: None };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match options.next() {
            Some(value) if option.eq_ignore_ascii_case(b"count") => match crate::parse_integer(value) {
                Some(value) if value >= 1 => parsed.count = usize::try_from(value).unwrap_or(usize::MAX),
                Some(_) => {
                    resp::syntax_error(out);
                    return None;
                }
                None => {
                    resp::not_an_integer(out);
                    return None;
                }
            },
            Some(value) if option.eq_ignore_ascii_case(b"match") => parsed.pattern = Some(value),
            Some(value) if accepts_type && option.eq_ignore_ascii_case(b"type") => parsed.type_name = Some(value),
            _ => {
                resp::syntax_error(out);
                return None;
            }
        }
    }
    Some(parsed)
}

/// One page of the walk over `items` (each named by `name_of`) from `cursor`: the page's items, in
/// hash order and not yet filtered, and the cursor to continue from (0 when the walk is over).
pub fn scan_page<T>(items: impl Iterator<Item = T>, name_of: impl Fn(&T) -> &[u8], cursor: u64, count: usize) -> (Vec<T>, u64) {
    let mut remaining: Vec<(u64, T)> = items.map(|item| (item_hash(name_of(&item)), item)).filter(|&(hash, _)| hash >= cursor).collect();
    remaining.sort_unstable_by_key(|&(hash, _)| hash);
    let (page_end, next_cursor) = match remaining.get(count.saturating_sub(1)) {
        Some(&(last_hash, _)) => {
            let page_end = remaining.partition_point(|&(hash, _)| hash <= last_hash);
            // `last_hash` is below the hash of an item after the page, so adding 1 cannot overflow.
            (page_end, if page_end < remaining.len() { last_hash + 1 } else { 0 })
        }
        None => (remaining.len(), 0),
    };
    remaining.truncate(page_end);
    (remaining.into_iter().map(|(_, item)| item).collect(), next_cursor)
}

/// Writes a scan's reply header: a two-element array whose first element is `next_cursor` as a
/// bulk string; the caller writes the second, the array of items.
pub fn reply_header(out: &mut Vec<u8>, next_cursor: u64) {
    resp::array_header(out, 2);
    resp::bulk(out, next_cursor.to_string().as_bytes());
}

/// Writes the reply of a scan over a missing key: cursor 0 and no item.
pub fn reply_empty(out: &mut Vec<u8>) {
    reply_header(out, 0);
    resp::empty_array(out);
}

#[cfg(test)]
mod tests {
    use super::{item_hash, scan_page};

    #[test]
    fn pages_cover_every_item_once_and_end_with_cursor_zero() {
        let items: Vec<String> = (0..50).map(|number| format!("item:{number}")).collect();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let (page, next) = scan_page(items.iter(), |item| item.as_bytes(), cursor, 7);
            assert!(page.len() >= 7 || next == 0);
            seen.extend(page.into_iter().cloned());
            if next == 0 {
                break;
            }
            cursor = next;
        }
        seen.sort();
        let mut expected = items.clone();
        expected.sort();
        assert_eq!(seen, expected);
        let (whole, next) = scan_page(items.iter(), |item| item.as_bytes(), 0, 50);
        assert_eq!((whole.len(), next), (50, 0));
        assert_ne!(item_hash(b"a"), item_hash(b"b"));
    }
}
