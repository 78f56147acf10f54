//! Versioned state schemas and the migration chain between them.
//!
//! A plugin's state is a [`Schema`]: a serde type with a name and a version. When the schema
//! changes, the author keeps a frozen copy of the old type and writes one [`Migrate`] step per pair
//! of neighbouring versions, upwards (for updates) and downwards (for validation and rollback).
//! [`MigrationStep`]s are listed once in `export_plugin!`; the chain then runs `v1 → v2 → v3` by
//! composing them, so each step is written exactly once.

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::PluginError;

/// A versioned state type.
pub trait Schema: Serialize + DeserializeOwned + 'static {
    /// The schema's name. Host and plugins refuse to move state between schemas of different
    /// names.
    const NAME: &'static str;
    /// The schema's version. Versions are small integers that increase with every change.
    const VERSION: u32;
}

/// Options of one migration, chosen by the operator for the update that runs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationOptions {
    /// Go ahead even where the target schema cannot hold everything (a downgrade that must drop
    /// data). Steps that would lose data refuse unless this is set.
    pub force: bool,
}

impl MigrationOptions {
    const FORCE: u32 = 1;

    /// Options with `force` set as given.
    #[must_use]
    pub const fn forced(force: bool) -> MigrationOptions {
        MigrationOptions { force }
    }

    /// The options as the flag word that crosses the boundary.
    #[must_use]
    pub const fn to_flags(self) -> u32 {
        if self.force { Self::FORCE } else { 0 }
    }

    /// Reads a flag word; unknown bits are ignored.
    #[must_use]
    pub const fn from_flags(flags: u32) -> MigrationOptions {
        MigrationOptions { force: flags & Self::FORCE != 0 }
    }
}

/// One migration step from `Self` to `To`, upwards or downwards.
pub trait Migrate<To: Schema>: Schema {
    /// Converts a value of this schema into `To`.
    ///
    /// # Errors
    /// When the value cannot be represented in `To` (e.g. a downgrade that would lose data), unless
    /// `options.force` says to drop what does not fit.
    fn migrate(self, options: &MigrationOptions) -> Result<To, PluginError>;
}

type ErasedValue = Box<dyn Any>;

/// A type-erased [`Migrate`] step, as listed in `export_plugin!`.
#[derive(Clone, Copy)]
pub struct MigrationStep {
    /// The version the step reads.
    pub from: u32,
    /// The version the step produces.
    pub to: u32,
    decode_from: fn(&[u8]) -> Result<ErasedValue, String>,
    run: fn(ErasedValue, &MigrationOptions) -> Result<ErasedValue, PluginError>,
    encode_to: fn(&dyn Any) -> Result<Vec<u8>, String>,
}

impl MigrationStep {
    /// The step `From → To`.
    #[must_use]
    pub const fn new<From: Migrate<To>, To: Schema>() -> MigrationStep {
        MigrationStep {
            from: From::VERSION,
            to: To::VERSION,
            decode_from: decode_erased::<From>,
            run: run_erased::<From, To>,
            encode_to: encode_erased::<To>,
        }
    }
}

fn decode_erased<S: Schema>(bytes: &[u8]) -> Result<ErasedValue, String> {
    decode::<S>(bytes).map(|value| Box::new(value) as ErasedValue)
}

fn run_erased<From: Migrate<To>, To: Schema>(value: ErasedValue, options: &MigrationOptions) -> Result<ErasedValue, PluginError> {
    let value = value.downcast::<From>().map_err(|_| PluginError::new("migration chain is broken: a step got the wrong type"))?;
    Ok(Box::new(value.migrate(options)?))
}

fn encode_erased<S: Schema>(value: &dyn Any) -> Result<Vec<u8>, String> {
    let value = value.downcast_ref::<S>().ok_or_else(|| "migration chain is broken: encoder got the wrong type".to_owned())?;
    encode(value)
}

/// Migrates `state` up to `High` and back down to `Low` (without force), and returns what came
/// back: for a pair of steps that lose nothing, `state` itself.
///
/// # Errors
/// When either step refuses.
pub fn round_trip<Low, High>(state: Low) -> Result<Low, PluginError>
where
    Low: Migrate<High>,
    High: Migrate<Low>,
{
    let options = MigrationOptions::default();
    state.migrate(&options)?.migrate(&options)
}

/// Checks that `state` survives the migration up to `High` and back down unchanged: the one line a
/// property test of a plugin's migrations needs.
///
/// ```
/// # use ecdysis_plugin_api::{Migrate, MigrationOptions, PluginError, Schema};
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)] struct V1 { n: u32 }
/// # #[derive(serde::Serialize, serde::Deserialize)] struct V2 { n: u64, added: bool }
/// # impl Schema for V1 { const NAME: &'static str = "s"; const VERSION: u32 = 1; }
/// # impl Schema for V2 { const NAME: &'static str = "s"; const VERSION: u32 = 2; }
/// # impl Migrate<V2> for V1 { fn migrate(self, _: &MigrationOptions) -> Result<V2, PluginError> { Ok(V2 { n: self.n.into(), added: false }) } }
/// # impl Migrate<V1> for V2 {
/// #     fn migrate(self, _: &MigrationOptions) -> Result<V1, PluginError> {
/// #         Ok(V1 { n: u32::try_from(self.n).map_err(|_| PluginError::new("too large for v1"))? })
/// #     }
/// # }
/// // In a test, for every state a property-testing crate generates:
/// ecdysis_plugin_api::assert_round_trip::<V1, V2>(V1 { n: 7 });
/// ```
///
/// # Panics
/// When a step refuses, or what comes back differs from `state`; the message shows both.
#[track_caller]
pub fn assert_round_trip<Low, High>(state: Low)
where
    Low: Migrate<High> + Clone + PartialEq + std::fmt::Debug,
    High: Migrate<Low>,
{
    match round_trip::<Low, High>(state.clone()) {
        Ok(back) => assert!(
            back == state,
            "schema v{} → v{} → v{} changed the state:\n before: {state:?}\n after:  {back:?}",
            Low::VERSION,
            High::VERSION,
            Low::VERSION
        ),
        Err(error) => panic!("schema v{} → v{} → v{} refused: {error}; state: {state:?}", Low::VERSION, High::VERSION, Low::VERSION),
    }
}

/// Encodes a schema value as MessagePack (maps with field names, so that readers can be lenient).
///
/// # Errors
/// When serde refuses the value.
pub fn encode<S: Serialize>(value: &S) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(value).map_err(|error| error.to_string())
}

/// Decodes a MessagePack value.
///
/// # Errors
/// When the bytes are not a valid encoding of `S`.
pub fn decode<S: DeserializeOwned>(bytes: &[u8]) -> Result<S, String> {
    rmp_serde::from_slice(bytes).map_err(|error| error.to_string())
}

/// The shortest route through the migration graph `edges` (pairs `(from, to)`) from schema version
/// `from` to `to`, as indexes into `edges`; `Some(vec![])` when `from == to`.
///
/// Upward routes use only upward edges and downward routes only downward edges, so that a chain
/// never wanders through a version that would lose data on the way. Host and plugin both use this
/// function, so they agree on which versions a plugin can move state between.
#[must_use]
pub fn find_route(edges: &[(u32, u32)], from: u32, to: u32) -> Option<Vec<usize>> {
    let upward = from < to;
    // Breadth-first search over a handful of versions.
    let mut frontier = vec![(from, Vec::<usize>::new())];
    let mut seen = vec![from];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (version, route) in frontier {
            if version == to {
                return Some(route);
            }
            for (index, &(edge_from, edge_to)) in edges.iter().enumerate() {
                if edge_from != version || (edge_from < edge_to) != upward || seen.contains(&edge_to) {
                    continue;
                }
                seen.push(edge_to);
                let mut longer = route.clone();
                longer.push(index);
                next.push((edge_to, longer));
            }
        }
        frontier = next;
    }
    None
}

/// The steps of the shortest route from schema version `from` to `to` (see [`find_route`]).
#[must_use]
pub fn find_path(steps: &[MigrationStep], from: u32, to: u32) -> Option<Vec<MigrationStep>> {
    let edges: Vec<(u32, u32)> = steps.iter().map(|step| (step.from, step.to)).collect();
    find_route(&edges, from, to).map(|route| route.into_iter().map(|index| steps[index]).collect())
}

/// Decodes state bytes of schema version `version` into the current schema `S`, running the
/// migration chain when `version` is older.
///
/// # Errors
/// When no chain leads from `version` to `S::VERSION`, when the bytes do not decode, or when a step
/// fails.
pub fn decode_from_version<S: Schema>(
    steps: &[MigrationStep],
    version: u32,
    bytes: &[u8],
    options: &MigrationOptions,
) -> Result<S, MigrateFailure> {
    if version == S::VERSION {
        return decode::<S>(bytes).map_err(MigrateFailure::Codec);
    }
    let path = find_path(steps, version, S::VERSION).ok_or_else(|| {
        MigrateFailure::Failed(PluginError::new(format!(
            "schema `{}` v{} cannot be migrated to v{}: no migration steps lead there",
            S::NAME,
            version,
            S::VERSION
        )))
    })?;
    let mut value = (path[0].decode_from)(bytes).map_err(MigrateFailure::Codec)?;
    for step in &path {
        value = (step.run)(value, options).map_err(|error| {
            MigrateFailure::Failed(PluginError::new(format!("migration v{} → v{} failed: {}", step.from, step.to, error.message())))
        })?;
    }
    value
        .downcast::<S>()
        .map(|value| *value)
        .map_err(|_| MigrateFailure::Failed(PluginError::new("migration chain is broken: it did not end in the current schema")))
}

/// Encodes `state` in schema version `version`, running the downward chain when `version` is
/// older than `S::VERSION`.
///
/// # Errors
/// When no chain leads down to `version`, or a step fails.
pub fn encode_to_version<S: Schema>(
    steps: &[MigrationStep],
    state: S,
    version: u32,
    options: &MigrationOptions,
) -> Result<Vec<u8>, MigrateFailure> {
    if version == S::VERSION {
        return encode(&state).map_err(MigrateFailure::Codec);
    }
    let path = find_path(steps, S::VERSION, version).ok_or_else(|| {
        MigrateFailure::Failed(PluginError::new(format!(
            "schema `{}` v{} cannot be exported as v{}: no migration steps lead there",
            S::NAME,
            S::VERSION,
            version
        )))
    })?;
    let mut value: ErasedValue = Box::new(state);
    for step in &path {
        value = (step.run)(value, options).map_err(|error| {
            MigrateFailure::Failed(PluginError::new(format!("migration v{} → v{} failed: {}", step.from, step.to, error.message())))
        })?;
    }
    let last = path.last().expect("a path between different versions has a step");
    (last.encode_to)(value.as_ref()).map_err(MigrateFailure::Codec)
}

/// Why a migration did not produce a value.
#[derive(Debug)]
pub enum MigrateFailure {
    /// The bytes were not a valid encoding.
    Codec(String),
    /// No path, or a step failed.
    Failed(PluginError),
}

impl std::fmt::Display for MigrateFailure {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrateFailure::Codec(message) => write!(formatter, "it does not decode: {message}"),
            MigrateFailure::Failed(error) => formatter.write_str(error.message()),
        }
    }
}

impl From<MigrateFailure> for crate::error::ShimFailure {
    fn from(failure: MigrateFailure) -> Self {
        match failure {
            MigrateFailure::Codec(message) => crate::error::ShimFailure::Codec(message),
            MigrateFailure::Failed(error) => crate::error::ShimFailure::Failed(error.message().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct V1 {
        n: u32,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct V2 {
        count: u32,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct V3 {
        count: u64,
        label: String,
    }
    impl Schema for V1 {
        const NAME: &'static str = "t";
        const VERSION: u32 = 1;
    }
    impl Schema for V2 {
        const NAME: &'static str = "t";
        const VERSION: u32 = 2;
    }
    impl Schema for V3 {
        const NAME: &'static str = "t";
        const VERSION: u32 = 3;
    }
    impl Migrate<V2> for V1 {
        fn migrate(self, _: &MigrationOptions) -> Result<V2, PluginError> {
            Ok(V2 { count: self.n })
        }
    }
    impl Migrate<V3> for V2 {
        fn migrate(self, _: &MigrationOptions) -> Result<V3, PluginError> {
            Ok(V3 { count: u64::from(self.count), label: "migrated".into() })
        }
    }
    impl Migrate<V2> for V3 {
        fn migrate(self, options: &MigrationOptions) -> Result<V2, PluginError> {
            if options.force {
                return Ok(V2 { count: u32::try_from(self.count).unwrap_or(u32::MAX) });
            }
            u32::try_from(self.count).map(|count| V2 { count }).map_err(|_| PluginError::new("count does not fit in v2"))
        }
    }
    impl Migrate<V1> for V2 {
        fn migrate(self, _: &MigrationOptions) -> Result<V1, PluginError> {
            Ok(V1 { n: self.count })
        }
    }

    const STEPS: &[MigrationStep] =
        &[MigrationStep::new::<V1, V2>(), MigrationStep::new::<V2, V3>(), MigrationStep::new::<V3, V2>(), MigrationStep::new::<V2, V1>()];

    #[test]
    fn the_round_trip_helper_passes_what_survives_and_names_what_does_not() {
        // V2 → V3 → V2 loses nothing.
        assert_round_trip::<V2, V3>(V2 { count: 7 });
        // V3 → V2 → V3 loses the label: the helper says so.
        let lossy = std::panic::catch_unwind(|| assert_round_trip::<V3, V2>(V3 { count: 7, label: "kept?".into() }));
        let message = *lossy.expect_err("a lossy round trip fails").downcast::<String>().unwrap();
        assert!(message.contains("schema v3 → v2 → v3 changed the state") && message.contains("kept?"), "{message}");
        // A step that refuses is named too.
        let refused = std::panic::catch_unwind(|| assert_round_trip::<V3, V2>(V3 { count: u64::MAX, label: String::new() }));
        let message = *refused.expect_err("a refused step fails").downcast::<String>().unwrap();
        assert!(message.contains("refused: count does not fit in v2"), "{message}");
    }

    #[test]
    fn chains_run_in_both_directions() {
        let v1 = encode(&V1 { n: 7 }).unwrap();
        let v3: V3 = decode_from_version(STEPS, 1, &v1, &MigrationOptions::default()).unwrap();
        assert_eq!(v3, V3 { count: 7, label: "migrated".into() });
        let back = encode_to_version(STEPS, v3, 1, &MigrationOptions::default()).unwrap();
        assert_eq!(decode::<V1>(&back).unwrap(), V1 { n: 7 });
    }

    #[test]
    fn a_failing_step_names_itself() {
        let error = encode_to_version(STEPS, V3 { count: u64::MAX, label: String::new() }, 1, &MigrationOptions::default()).unwrap_err();
        let MigrateFailure::Failed(error) = error else { panic!("expected a step failure") };
        assert_eq!(error.message(), "migration v3 → v2 failed: count does not fit in v2");
        let forced = encode_to_version(STEPS, V3 { count: u64::MAX, label: String::new() }, 1, &MigrationOptions::forced(true)).unwrap();
        assert_eq!(decode::<V1>(&forced).unwrap(), V1 { n: u32::MAX });
    }

    #[test]
    fn missing_paths_are_reported() {
        assert!(find_path(&STEPS[..1], 1, 3).is_none());
        let error = decode_from_version::<V3>(&STEPS[..1], 1, &[], &MigrationOptions::default()).unwrap_err();
        assert!(matches!(error, MigrateFailure::Failed(e) if e.message().contains("no migration steps")));
    }
}
