//! Personal data in a service's payloads, set apart for sealing. A service names the parts of its
//! event that are a data subject's (`ServiceEvent::personal`); they leave the payload, an empty
//! value of their shape in their place, and travel beside it to [`crate::SealingLog`], which seals
//! them under the subject's key before the payload is hashed and stored, and puts them back when
//! it is read — the empty value staying once the key is gone. (A payload may also mark them as
//! `{"personal_for": subject, "value": …}`, as earlier versions wrote; they are set apart the same.)

use serde_json::Value;

/// The member that marks a personal value in a payload as its service writes and reads it.
pub const PERSONAL_FOR: &str = "personal_for";

/// The subject under which a node seals what it writes itself about another node's data subject
/// (`owner`'s `subject`: a reason the receiving organisation gave for its answer, say): bound to
/// the owner, so only the owner's erasure of that subject names it, and then on every node.
pub fn about(owner_hex: &str, subject: &str) -> String {
    if subject.is_empty() { String::new() } else { format!("about-{owner_hex}-{subject}") }
}

/// The subject a data subject's fingerprints (`intake`'s duplicate hints, which go to every node)
/// are sealed under: a key of their own, so every node may hold it without holding the key of the
/// subject's other data; erasing the subject erases it too.
pub fn fingerprints_of(subject: &str) -> String {
    if subject.is_empty() { String::new() } else { format!("fingerprints-{subject}") }
}

/// The subject a caregiver's strain answers (EDIZ-plus, CSI) are sealed under: a key of their
/// own, so they can be kept shorter than the caregiver's name (`privacy.strain_retention_days`);
/// erasing the caregiver erases it too.
pub fn strain_of(subject: &str) -> String {
    if subject.is_empty() { String::new() } else { format!("strain-{subject}") }
}

/// The keys that go with a data subject's own, bound to it by name: its fingerprints' and its
/// strain answers'. Erasing the subject erases them, on every node that holds them.
pub fn derived_subjects(subject: &str) -> [String; 2] {
    [fingerprints_of(subject), strain_of(subject)]
}

/// The caregiver whose strain answers `name` (a [`strain_of`] subject) seals, if it is one.
pub fn strained_by(name: &str) -> Option<&str> {
    name.strip_prefix("strain-")
}

/// Whether `payload` may hold marked or sealed values: `marker` as a quoted JSON member name
/// (a fast scan, on every event every reader takes, before any parsing).
pub fn has_marker(payload: &[u8], marker: &str) -> bool {
    let marker = marker.as_bytes();
    memchr::memmem::find_iter(payload, marker)
        .any(|at| at > 0 && payload[at - 1] == b'"' && payload.get(at + marker.len()) == Some(&b'"'))
}

/// Decodes a payload of any service, reading each marked personal value as its value (an empty
/// one where the subject was erased).
pub fn from_payload<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, serde_json::Error> {
    if !has_marker(payload, PERSONAL_FOR) {
        return serde_json::from_slice(payload);
    }
    let mut value: Value = serde_json::from_slice(payload)?;
    unmark(&mut value);
    serde_json::from_value(value)
}

/// The payload with every marked value replaced by the value itself.
pub fn unmark(value: &mut Value) {
    match value {
        Value::Object(map) if map.contains_key(PERSONAL_FOR) && map.contains_key("value") => {
            let inner = map.remove("value").unwrap_or(Value::Null);
            *value = inner;
            unmark(value);
        }
        Value::Object(map) => map.values_mut().for_each(unmark),
        Value::Array(items) => items.iter_mut().for_each(unmark),
        _ => {}
    }
}

/// A value of the same shape with nothing in it: what an erased part reads as, so that the
/// service's types still decode it.
pub fn emptied(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Bool(_) => Value::Bool(false),
        Value::Number(_) => Value::from(0),
        Value::String(_) => Value::String(String::new()),
        Value::Array(_) => Value::Array(Vec::new()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), emptied(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unmarks_and_empties() {
        let mut marked = json!({"id": "r1", "client": {"name": {"personal_for": "c1", "value": "Jansen"}}});
        unmark(&mut marked);
        assert_eq!(marked, json!({"id": "r1", "client": {"name": "Jansen"}}));
        assert_eq!(
            emptied(&json!({"a": [1], "b": "x", "c": 3, "d": true})),
            json!({"a": [], "b": "", "c": 0, "d": false})
        );
    }
}
