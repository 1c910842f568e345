//! FHIR JSON as samenspel writes it: `resourceType` first in every resource, as FHIR's JSON
//! format shows it and as readers that stream a resource (choosing its type before its members)
//! expect; the other members in name order, as `serde_json` keeps them.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

/// `value` as compact FHIR JSON.
pub fn to_json(value: &Value) -> String {
    serde_json::to_string(&Ordered(value)).expect("a JSON value serialises")
}

/// `value` as indented FHIR JSON, for people and files.
pub fn to_json_pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&Ordered(value)).expect("a JSON value serialises")
}

/// A value whose objects write `resourceType` before their other members.
struct Ordered<'a>(&'a Value);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                if let Some(kind) = members.get("resourceType") {
                    map.serialize_entry("resourceType", kind)?;
                }
                for (name, value) in members.iter().filter(|(name, _)| *name != "resourceType") {
                    map.serialize_entry(name, &Ordered(value))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ordered(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_resource_begins_with_its_type_and_nothing_else_changes() {
        let bundle = json!({
            "type": "collection",
            "resourceType": "Bundle",
            "entry": [{ "fullUrl": "urn:uuid:1", "resource": { "id": "1", "code": { "text": "x" }, "resourceType": "Task" } }],
        });
        let text = to_json(&bundle);
        assert!(text.starts_with(
            r#"{"resourceType":"Bundle","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Task","#
        ));
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), bundle);
        let pretty = to_json_pretty(&bundle);
        assert!(pretty.starts_with("{\n  \"resourceType\": \"Bundle\",\n"));
        assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), bundle);
        assert_eq!(to_json(&json!([1, "a", null])), r#"[1,"a",null]"#);
    }
}
