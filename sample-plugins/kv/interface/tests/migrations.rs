//! Property tests of the kv schema's migrations: a v1 state comes back unchanged from v2 and from
//! v3, a v2 state (with or without expiries) from v3, a v2 state without expiries from v1, a v3
//! state (strings, lists, hashes, expiries) from v4, and a v4 state without sets or sorted sets
//! from v3.

#![forbid(unsafe_code)]

use ecdysis_plugin_api::{MigrationOptions, assert_round_trip, round_trip};
use kv_interface::schema::{EntryV3, EntryV4, KvStateV1, KvStateV2, KvStateV3, KvStateV4, StringEntryV2, ValueV3};
use proptest::prelude::*;
use serde_bytes::ByteBuf;

fn bytes() -> impl Strategy<Value = ByteBuf> {
    proptest::collection::vec(any::<u8>(), 0..24).prop_map(ByteBuf::from)
}

fn v1_state() -> impl Strategy<Value = KvStateV1> {
    proptest::collection::hash_map(bytes(), bytes(), 0..32).prop_map(|strings| KvStateV1 { strings: strings.into_iter().collect() })
}

fn v2_state(expiries: bool) -> impl Strategy<Value = KvStateV2> {
    let expiry = if expiries { proptest::option::of(any::<u64>()).boxed() } else { Just(None).boxed() };
    proptest::collection::hash_map(bytes(), (bytes(), expiry), 0..32).prop_map(|entries| KvStateV2 {
        entries: entries.into_iter().map(|(key, (value, expires_at_ms))| (key, StringEntryV2 { value, expires_at_ms })).collect(),
    })
}

fn v3_value() -> impl Strategy<Value = ValueV3> {
    prop_oneof![
        bytes().prop_map(ValueV3::String),
        proptest::collection::vec(bytes(), 1..8).prop_map(ValueV3::List),
        proptest::collection::hash_map(bytes(), bytes(), 1..8).prop_map(ValueV3::Hash),
    ]
}

fn v3_state() -> impl Strategy<Value = KvStateV3> {
    proptest::collection::hash_map(bytes(), (v3_value(), proptest::option::of(any::<u64>())), 0..32).prop_map(|entries| KvStateV3 {
        entries: entries.into_iter().map(|(key, (value, expires_at_ms))| (key, EntryV3 { value, expires_at_ms })).collect(),
    })
}

proptest! {
    #[test]
    fn every_v3_state_survives_v4(state in v3_state()) {
        assert_round_trip::<KvStateV3, KvStateV4>(state);
    }

    #[test]
    fn a_v4_state_without_sets_or_sorted_sets_survives_v3(state in v3_state()) {
        let v4 = KvStateV4 { entries: state.entries.into_iter().map(|(key, entry)| (key, EntryV4::from(entry))).collect() };
        assert_round_trip::<KvStateV4, KvStateV3>(v4);
    }

    #[test]
    fn every_v1_state_survives_v2(state in v1_state()) {
        assert_round_trip::<KvStateV1, KvStateV2>(state);
    }

    #[test]
    fn every_v2_state_survives_v3(state in v2_state(true)) {
        assert_round_trip::<KvStateV2, KvStateV3>(state);
    }

    #[test]
    fn a_v2_state_without_expiries_survives_v1(state in v2_state(false)) {
        assert_round_trip::<KvStateV2, KvStateV1>(state);
    }

    #[test]
    fn every_v1_state_survives_the_chain_to_v3_and_back(state in v1_state()) {
        let options = MigrationOptions::default();
        let up = round_trip::<KvStateV2, KvStateV3>(ecdysis_plugin_api::Migrate::<KvStateV2>::migrate(state.clone(), &options).unwrap()).unwrap();
        let back: KvStateV1 = ecdysis_plugin_api::Migrate::<KvStateV1>::migrate(up, &options).unwrap();
        prop_assert_eq!(back, state);
    }
}
