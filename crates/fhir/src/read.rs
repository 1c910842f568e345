//! Reading a resource that came in: a cursor that knows the FHIRPath of where it stands, so that
//! every bad element is named the way the sender's tools name it
//! (`Bundle.entry[1].resource.code.coding[0].code`), and all of them are reported at once.

use serde_json::Value;

/// One bad element of a resource that came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Its FHIRPath.
    pub path: String,
    pub why: String,
}

/// A place in a resource: its FHIRPath and the value there, if any.
#[derive(Debug, Clone)]
pub struct At<'a> {
    path: String,
    value: Option<&'a Value>,
}

impl<'a> At<'a> {
    /// The root of a resource, named by its type (`Bundle`).
    pub fn root(value: &'a Value, name: &str) -> Self {
        Self { path: name.to_string(), value: Some(value) }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn value(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    pub fn is_present(&self) -> bool {
        self.value().is_some()
    }

    /// A violation at this place.
    pub fn bad(&self, why: impl Into<String>) -> Violation {
        Violation { path: self.path.clone(), why: why.into() }
    }

    /// The element `name` of this one (absent when this is not an object).
    pub fn get(&self, name: &str) -> At<'a> {
        At { path: format!("{}.{name}", self.path), value: self.value().and_then(|v| v.get(name)) }
    }

    /// The items of a repeating element: none when absent; a single value where an array was
    /// due is reported.
    pub fn items(&self, bad: &mut Vec<Violation>) -> Vec<At<'a>> {
        match self.value() {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| At { path: format!("{}[{i}]", self.path), value: Some(v) })
                .collect(),
            Some(_) => {
                bad.push(self.bad("must be an array"));
                Vec::new()
            }
        }
    }

    /// A string element; absent gives `None`, another type is reported.
    pub fn str(&self, bad: &mut Vec<Violation>) -> Option<&'a str> {
        match self.value() {
            None => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                bad.push(self.bad("must be a string"));
                None
            }
        }
    }

    /// A string element that must be there and not blank.
    pub fn required_str(&self, bad: &mut Vec<Violation>) -> Option<&'a str> {
        match self.str(bad) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                bad.push(self.bad("must not be empty"));
                None
            }
            None if self.is_present() => None,
            None => {
                bad.push(self.bad("is required"));
                None
            }
        }
    }

    /// The codes of a CodeableConcept's codings in `system`, each with its place.
    pub fn codes(&self, system: &str, bad: &mut Vec<Violation>) -> Vec<(String, At<'a>)> {
        let mut out = Vec::new();
        for coding in self.get("coding").items(bad) {
            if coding.get("system").str(bad) == Some(system) {
                let code = coding.get("code");
                if let Some(c) = code.required_str(bad) {
                    out.push((c.to_string(), code));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_bad_element_is_named_by_its_fhirpath() {
        let bundle = json!({
            "resourceType": "Bundle",
            "entry": [{}, {"resource": {"code": {"coding": [{"system": "s", "code": 7}, {"system": "s", "code": "a"}]}}}],
            "type": 3
        });
        let at = At::root(&bundle, "Bundle");
        let mut bad = Vec::new();
        assert_eq!(at.get("type").str(&mut bad), None);
        let entries = at.get("entry").items(&mut bad);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].get("resource").get("id").required_str(&mut bad), None);
        let codes = entries[1].get("resource").get("code").codes("s", &mut bad);
        assert_eq!(codes.len(), 1);
        assert_eq!(codes[0].1.path(), "Bundle.entry[1].resource.code.coding[1].code");
        let paths: Vec<&str> = bad.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(
            paths,
            ["Bundle.type", "Bundle.entry[0].resource.id", "Bundle.entry[1].resource.code.coding[0].code"]
        );
        at.get("entry").get("x").items(&mut bad);
        assert_eq!(at.get("resourceType").items(&mut bad).len(), 0);
        assert_eq!(bad.last().unwrap().why, "must be an array");
    }
}
