//! What makes an eager state transfer cost about one encode and one decode: a [`StateEncoder`]
//! through which a plugin serializes its state straight from its own data structures (see
//! [`Plugin::encode_state`]), [`MapFrom`] to serialize a borrowed map
//! as a schema's map, and [`StateMap`], the map type for state schemas, which decodes without
//! hashing so that migration steps move entries instead of rebuilding hash tables.
//!
//! Every state crosses as MessagePack with named struct fields, as [`encode`](crate::migrate::encode)
//! writes it.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::error::{PluginError, ShimFailure};
use crate::export::Plugin;
use crate::ffi::ByteSink;

/// How many bytes an encoder gathers before it copies them into the host's sink: large enough that
/// crossing the boundary costs nothing measurable, small enough that the plugin never holds a
/// second copy of a large state.
const ENCODER_BUFFER_BYTES: usize = 64 * 1024;

/// The most memory a decoded map reserves up front from the length its encoding announces; a
/// longer map grows as it is read, so that a damaged length cannot make the decoder reserve more
/// than this.
const MAXIMUM_RESERVATION_BYTES: usize = 16 * 1024 * 1024;

/// Writes a state's MessagePack encoding into the host's buffer as it is produced.
///
/// A plugin gets one in [`Plugin::encode_state`] and calls
/// [`StateEncoder::encode`] once, with a value that serializes exactly as its
/// [`Plugin::State`] would.
pub struct StateEncoder<'sink, 'buffer> {
    writer: BufWriter<SinkWriter<'sink, 'buffer>>,
    encoded: bool,
}

/// A [`ByteSink`] as an [`std::io::Write`].
struct SinkWriter<'sink, 'buffer>(&'sink mut ByteSink<'buffer>);

impl Write for SinkWriter<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'sink, 'buffer> StateEncoder<'sink, 'buffer> {
    /// An encoder that writes into `sink`.
    pub(crate) fn new(sink: &'sink mut ByteSink<'buffer>) -> StateEncoder<'sink, 'buffer> {
        StateEncoder { writer: BufWriter::with_capacity(ENCODER_BUFFER_BYTES, SinkWriter(sink)), encoded: false }
    }

    /// Encodes `state`, which must serialize exactly as the plugin's state schema does (the same
    /// struct field names, maps where the schema has maps, `serde_bytes` where it has bytes).
    ///
    /// # Errors
    /// When serde refuses the value, or a state was already encoded.
    pub fn encode<T: Serialize + ?Sized>(&mut self, state: &T) -> Result<(), PluginError> {
        if self.encoded {
            return Err(PluginError::new("a state encoder encodes one state; `encode` was called twice"));
        }
        self.encoded = true;
        rmp_serde::encode::write_named(&mut self.writer, state)
            .map_err(|error| PluginError::new(format!("encoding the state failed: {error}")))
    }

    /// Copies what is still buffered into the sink, and checks that a state was encoded.
    pub(crate) fn finish(mut self) -> Result<(), ShimFailure> {
        if !self.encoded {
            return Err(ShimFailure::Failed("the plugin's `encode_state` returned without encoding a state".to_owned()));
        }
        self.writer.flush().map_err(|error| ShimFailure::Codec(format!("encoding the state failed: {error}")))
    }
}

/// What an export of `plugin` in its own schema writes: [`Plugin::encode_state`] through a
/// [`StateEncoder`]. For tests, which check that it encodes what [`Plugin::export_state`] returns.
///
/// # Errors
/// When the plugin's `encode_state` fails.
pub fn encoded_state<P: Plugin>(plugin: &P) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut sink = ByteSink::for_vec(&mut bytes);
    let mut encoder = StateEncoder::new(&mut sink);
    plugin.encode_state(&mut encoder).map_err(|error| error.message().to_owned())?;
    encoder.finish().map_err(|(ShimFailure::Failed(message) | ShimFailure::Codec(message))| message)?;
    Ok(bytes)
}

/// Serializes the entries that `entries` yields as a MessagePack map of `len` entries, so that a
/// plugin can encode a map of its own (a `HashMap<Vec<u8>, …>`, say) as its schema's map without
/// copying it. `entries` is called once per serialization, and must yield exactly `len` entries.
pub struct MapFrom<F> {
    len: usize,
    entries: F,
}

impl<F> MapFrom<F> {
    /// The map of the `len` entries `entries` yields.
    pub fn new(len: usize, entries: F) -> MapFrom<F> {
        MapFrom { len, entries }
    }
}

impl<F, I, K, V> Serialize for MapFrom<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (K, V)>,
    K: Serialize,
    V: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        let mut written = 0;
        for (key, value) in (self.entries)() {
            map.serialize_entry(&key, &value)?;
            written += 1;
        }
        if written != self.len {
            return Err(serde::ser::Error::custom(format!("a map announced {} entries and yielded {written}", self.len)));
        }
        map.end()
    }
}

/// A map as a state schema holds it: its entries in the order they were decoded, encoded as a
/// MessagePack map.
///
/// Decoding one allocates its entries and nothing else (no hashing), and a migration step that maps
/// entries to entries moves them, so a chain of steps costs a pass over the entries each, and the
/// one hash table built is the plugin's own, in [`Plugin::from_state`].
/// Equality is a map's: the order of entries does not matter. A key is meant to appear once; the
/// plugin's own map decides what a repeated key means (with `HashMap::extend`, the last one wins).
#[derive(Clone, Debug)]
pub struct StateMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> StateMap<K, V> {
    /// An empty map.
    #[must_use]
    pub const fn new() -> StateMap<K, V> {
        StateMap { entries: Vec::new() }
    }

    /// An empty map with room for `capacity` entries.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> StateMap<K, V> {
        StateMap { entries: Vec::with_capacity(capacity) }
    }

    /// The number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry (the caller keeps keys unique).
    pub fn push(&mut self, key: K, value: V) {
        self.entries.push((key, value));
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&K, &V)> {
        self.entries.iter().map(|(key, value)| (key, value))
    }

    /// The values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &V> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The value of `key` (a linear search: for tests and small maps).
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.entries.iter().find(|(candidate, _)| candidate.borrow() == key).map(|(_, value)| value)
    }

    /// The value of `key`, to change (a linear search: for tests and small maps).
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: std::borrow::Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.entries.iter_mut().find(|(candidate, _)| candidate.borrow() == key).map(|(_, value)| value)
    }

    /// The entries as a vector, in order.
    #[must_use]
    pub fn into_vec(self) -> Vec<(K, V)> {
        self.entries
    }
}

impl<K, V, Q> std::ops::Index<&Q> for StateMap<K, V>
where
    K: std::borrow::Borrow<Q>,
    Q: PartialEq + ?Sized,
{
    type Output = V;

    /// The value of `key` (a linear search: for tests and small maps).
    ///
    /// # Panics
    /// When there is no entry for `key`.
    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("no entry for this key in the state map")
    }
}

impl<K, V> Default for StateMap<K, V> {
    fn default() -> Self {
        StateMap::new()
    }
}

impl<K, V> From<Vec<(K, V)>> for StateMap<K, V> {
    fn from(entries: Vec<(K, V)>) -> Self {
        StateMap { entries }
    }
}

impl<K, V, const N: usize> From<[(K, V); N]> for StateMap<K, V> {
    fn from(entries: [(K, V); N]) -> Self {
        StateMap { entries: entries.into() }
    }
}

impl<K, V> FromIterator<(K, V)> for StateMap<K, V> {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(entries: T) -> Self {
        StateMap { entries: entries.into_iter().collect() }
    }
}

impl<K, V> IntoIterator for StateMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Eq + Hash, V: PartialEq> PartialEq for StateMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        fn index<K: Eq + Hash, V>(map: &StateMap<K, V>) -> HashMap<&K, &V> {
            map.entries.iter().map(|(key, value)| (key, value)).collect()
        }
        index(self) == index(other)
    }
}

impl<K: Eq + Hash, V: Eq> Eq for StateMap<K, V> {}

impl<K: Serialize, V: Serialize> Serialize for StateMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for StateMap<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<K, V> {
            type Value = StateMap<K, V>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let most = MAXIMUM_RESERVATION_BYTES / size_of::<(K, V)>().max(1);
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(most));
                while let Some(entry) = access.next_entry()? {
                    entries.push(entry);
                }
                Ok(StateMap { entries })
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::{Deserialize, Serialize};

    use super::{MapFrom, StateMap};
    use crate::migrate::{decode, encode};

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Owned {
        map: StateMap<String, u32>,
    }

    #[test]
    fn a_state_map_encodes_as_a_map_and_compares_as_one() {
        let owned = Owned { map: StateMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]) };
        let bytes = encode(&owned).unwrap();
        let as_hash_map: HashMap<String, HashMap<String, u32>> = decode(&bytes).unwrap();
        assert_eq!(as_hash_map["map"], HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]));
        let back: Owned = decode(&bytes).unwrap();
        assert_eq!(back, owned);
        let reordered = Owned { map: StateMap::from([("b".to_owned(), 2), ("a".to_owned(), 1)]) };
        assert_eq!(reordered, owned);
        assert_ne!(Owned { map: StateMap::from([("a".to_owned(), 1)]) }, owned);
        assert_eq!(owned.map.get("b"), Some(&2));
    }

    #[test]
    fn a_borrowed_map_encodes_as_the_owned_one() {
        #[derive(Serialize)]
        struct Borrowed<M> {
            map: M,
        }
        let source = vec![("a".to_owned(), 1_u32), ("b".to_owned(), 2)];
        let borrowed = Borrowed { map: MapFrom::new(source.len(), || source.iter().map(|(key, value)| (key, value))) };
        let owned = Owned { map: StateMap::from(source.clone()) };
        assert_eq!(encode(&borrowed).unwrap(), encode(&owned).unwrap());
        let lying = Borrowed { map: MapFrom::new(3, || source.iter().map(|(key, value)| (key, value))) };
        assert!(encode(&lying).unwrap_err().contains("announced 3 entries and yielded 2"));
    }
}
