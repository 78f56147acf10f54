//! The pseudo-random numbers SPOP, SRANDMEMBER and ZRANDMEMBER draw with, and the most members a
//! negative count may draw.

use std::sync::atomic::{AtomicU64, Ordering};

use kv_interface::resp;

/// The most members a negative count draws (SRANDMEMBER, ZRANDMEMBER), where Redis sets no limit
/// and would build a reply of any size, up to 2^63 - 1 members, until it runs out of memory; kv
/// refuses more with [`too_many_drawn`] (a deliberate difference). With scores, a reply of 2^20
/// members is some 30 MB.
pub(crate) const MOST_DRAWN_MEMBERS: u64 = 1 << 20;

/// Replies the error of a negative count beyond [`MOST_DRAWN_MEMBERS`].
pub(crate) fn too_many_drawn(out: &mut Vec<u8>) {
    resp::error(out, &format!("ERR kv draws at most {MOST_DRAWN_MEMBERS} members at a time"));
}

/// The state of the xorshift64* generator SPOP, SRANDMEMBER and ZRANDMEMBER draw from; 0 until it is first
/// seeded. No dependency is needed for so little, and members need not be unpredictable, only
/// spread: the generator is seeded from the host's clocks on first use and then runs on. Commands
/// run under the database lock, so plain loads and stores suffice; a version replaced by a live
/// update takes its generator with it, and the next one seeds its own.
static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);

/// A seed for [`RANDOM_STATE`]: the host's monotonic and wall clocks, mixed by splitmix64's
/// finalizer; never 0, which xorshift cannot leave.
fn random_seed() -> u64 {
    let monotonic_nanos = u64::try_from(ecdysis_plugin_api::clock::monotonic().as_nanos()).unwrap_or(u64::MAX);
    let mut mixed = monotonic_nanos ^ ecdysis_plugin_api::clock::unix_millis().rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (mixed ^ (mixed >> 31)) | 1
}

/// A pseudo-random index below `bound` (0 when `bound` is 0), from the next output of the
/// xorshift64* generator, scaled by a 128-bit multiplication rather than a biased remainder.
pub(crate) fn random_below(bound: usize) -> usize {
    let mut state = RANDOM_STATE.load(Ordering::Relaxed);
    if state == 0 {
        state = random_seed();
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    RANDOM_STATE.store(state, Ordering::Relaxed);
    let random = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let bound = u64::try_from(bound).unwrap_or(u64::MAX);
    usize::try_from((u128::from(random) * u128::from(bound)) >> 64).unwrap_or(0)
}

/// What a `NAME key [count [OPTION]]` command of random picks (ZRANDMEMBER, HRANDFIELD) asks for.
pub(crate) struct RandomRequest<'a> {
    /// The key.
    pub(crate) key: &'a [u8],
    /// The count, when given.
    pub(crate) count: Option<i64>,
    /// Whether the option (WITHSCORES, WITHVALUES) was given.
    pub(crate) with_option: bool,
}

/// Parses `NAME key [count [OPTION]]` as Redis 7.0 does for ZRANDMEMBER and HRANDFIELD: the count
/// first (`-2^63` is out of range), then the option (anything else a syntax error), and with the
/// option a count within ±2^62; `None`, with the error written, when something is wrong.
pub(crate) fn parse_random_request<'a>(
    arguments: &[&'a [u8]],
    out: &mut Vec<u8>,
    command: &[u8],
    option: &[u8],
) -> Option<RandomRequest<'a>> {
    match *arguments {
        [_, key] => Some(RandomRequest { key, count: None, with_option: false }),
        [_, key, count, ref rest @ ..] => {
            let Some(count) = kv_common::parse_integer(count) else {
                resp::not_an_integer(out);
                return None;
            };
            if count == i64::MIN {
                resp::error(out, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
                return None;
            }
            let with_option = match rest {
                [] => false,
                [given] if given.eq_ignore_ascii_case(option) => true,
                _ => {
                    resp::syntax_error(out);
                    return None;
                }
            };
            if with_option && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
                resp::error(out, "ERR value is out of range");
                return None;
            }
            Some(RandomRequest { key, count: Some(count), with_option })
        }
        _ => {
            resp::wrong_arity(out, command);
            None
        }
    }
}

/// Picks `count` of `items` as ZRANDMEMBER and HRANDFIELD do: distinct ones for a positive count
/// (all of them, in the order given, when there are no more), or drawn independently, so possibly
/// repeated, for a negative one; `None`, with the error written, for a negative count beyond
/// [`MOST_DRAWN_MEMBERS`].
pub(crate) fn pick_random<T: Copy>(mut items: Vec<T>, count: i64, out: &mut Vec<u8>) -> Option<Vec<T>> {
    match usize::try_from(count) {
        Err(_) if count.unsigned_abs() > MOST_DRAWN_MEMBERS => {
            too_many_drawn(out);
            None
        }
        Err(_) => {
            let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
            Some((0..wanted).filter_map(|_| items.get(random_below(items.len())).copied()).collect())
        }
        Ok(wanted) if wanted >= items.len() => Some(items),
        // Distinct: a partial Fisher-Yates shuffle picks the first `wanted`.
        Ok(wanted) => {
            for index in 0..wanted {
                let other = index + random_below(items.len() - index);
                items.swap(index, other);
            }
            items.truncate(wanted);
            Some(items)
        }
    }
}
