//! Structural comparison of two MessagePack documents, which validates a state transfer
//! (time-traveling state transfer): the new version exports its state (or an entry) back in the old
//! schema, and the result must equal what the old version exported. The host compares whole states;
//! a keyed plugin compares each entry it migrates lazily.
//!
//! Equality is structural, on decoded MessagePack: maps compare as sets of entries, so two
//! versions that iterate a hash map in different orders still agree.

use std::collections::{HashMap, HashSet};

use rmpv::Value;

/// Compares two MessagePack documents. Returns the first difference, described with its path.
///
/// # Errors
/// The first difference, or that a document does not decode.
pub fn compare(running: &[u8], candidate: &[u8]) -> Result<(), String> {
    if running == candidate {
        return Ok(());
    }
    let running = decode(running).map_err(|error| format!("the running version's export does not decode: {error}"))?;
    let candidate = decode(candidate).map_err(|error| format!("the candidate's export does not decode: {error}"))?;
    match first_difference(&running, &candidate, "$") {
        None => Ok(()),
        Some(difference) => Err(difference),
    }
}

fn decode(mut bytes: &[u8]) -> Result<Value, rmpv::decode::Error> {
    let value = rmpv::decode::read_value(&mut bytes)?;
    Ok(value)
}

fn first_difference(running: &Value, candidate: &Value, path: &str) -> Option<String> {
    match (running, candidate) {
        (Value::Map(running), Value::Map(candidate)) => {
            // Entries are matched by their encoded keys, in linear time: exported states are maps
            // of tens of thousands of keys, which a pairwise search would compare quadratically.
            let candidate_by_key: HashMap<Vec<u8>, &Value> = candidate.iter().map(|(key, value)| (encode_key(key), value)).collect();
            let mut running_keys = HashSet::with_capacity(running.len());
            for (key, running_value) in running {
                let encoded = encode_key(key);
                let entry_path = || format!("{path}.{}", describe_key(key));
                match candidate_by_key.get(&encoded) {
                    None => {
                        return Some(format!(
                            "at `{}`: the running version has {}, the candidate has nothing",
                            entry_path(),
                            describe(running_value)
                        ));
                    }
                    Some(candidate_value) => {
                        if running_value != *candidate_value
                            && let Some(difference) = first_difference(running_value, candidate_value, &entry_path())
                        {
                            return Some(difference);
                        }
                    }
                }
                running_keys.insert(encoded);
            }
            candidate.iter().find(|(key, _)| !running_keys.contains(&encode_key(key))).map(|(key, value)| {
                format!("at `{path}.{}`: the running version has nothing, the candidate has {}", describe_key(key), describe(value))
            })
        }
        (Value::Array(running), Value::Array(candidate)) => {
            if running.len() != candidate.len() {
                return Some(format!("at `{path}`: the running version has {} items, the candidate {}", running.len(), candidate.len()));
            }
            running
                .iter()
                .zip(candidate)
                .enumerate()
                .find_map(|(index, (running, candidate))| first_difference(running, candidate, &format!("{path}[{index}]")))
        }
        (running, candidate) if running == candidate => None,
        (running, candidate) => {
            Some(format!("at `{path}`: the running version has {}, the candidate has {}", describe(running), describe(candidate)))
        }
    }
}

/// A map key's MessagePack encoding, by which equal keys are found.
fn encode_key(key: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Writing to a vector cannot fail.
    let _ = rmpv::encode::write_value(&mut bytes, key);
    bytes
}

fn describe_key(key: &Value) -> String {
    match key {
        Value::String(text) => text.as_str().map(str::to_owned).unwrap_or_else(|| key.to_string()),
        other => other.to_string(),
    }
}

fn describe(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 { format!("{}…", &text[..text.floor_char_boundary(80)]) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> Vec<u8> {
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, value).unwrap();
        bytes
    }

    fn map(entries: &[(&str, i64)]) -> Value {
        Value::Map(entries.iter().map(|(key, value)| (Value::from(*key), Value::from(*value))).collect())
    }

    #[track_caller]
    fn check(running: Value, candidate: Value, expected: Result<(), &str>) {
        assert_eq!(compare(&encode(&running), &encode(&candidate)), expected.map_err(str::to_owned));
    }

    #[test]
    fn differences_are_found_and_named() {
        check(map(&[("a", 1), ("b", 2)]), map(&[("b", 2), ("a", 1)]), Ok(()));
        check(map(&[("a", 1)]), map(&[("a", 2)]), Err("at `$.a`: the running version has 1, the candidate has 2"));
        check(map(&[("a", 1), ("b", 2)]), map(&[("a", 1)]), Err("at `$.b`: the running version has 2, the candidate has nothing"));
        check(map(&[("a", 1)]), map(&[("a", 1), ("c", 3)]), Err("at `$.c`: the running version has nothing, the candidate has 3"));
        check(Value::Array(vec![1.into()]), Value::Array(vec![]), Err("at `$`: the running version has 1 items, the candidate 0"));
    }
}
