//! Property tests of the counter's migrations: every v1 state comes back unchanged from v2, and a
//! v2 state that v1 can hold (no per-counter increments recorded) comes back from v1.

#![forbid(unsafe_code)]

use counter_interface::{CounterStateV1, CounterStateV2};
use ecdysis_plugin_api::assert_round_trip;
use proptest::prelude::*;

fn counters() -> impl Strategy<Value = std::collections::BTreeMap<String, i64>> {
    proptest::collection::btree_map("[a-zé0-9 ]{0,12}", any::<i64>(), 0..24)
}

proptest! {
    #[test]
    fn every_v1_state_survives_v2(counters in counters(), total_increments in any::<u64>()) {
        assert_round_trip::<CounterStateV1, CounterStateV2>(CounterStateV1 { counters, total_increments });
    }

    #[test]
    fn a_v2_state_without_increment_counts_survives_v1(values in counters(), total_increments in any::<u64>()) {
        let increments = values.keys().map(|key| (key.clone(), 0)).collect();
        assert_round_trip::<CounterStateV2, CounterStateV1>(CounterStateV2 { values, total_increments, increments });
    }
}
