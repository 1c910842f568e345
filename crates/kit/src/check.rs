//! Checks of a request's fields, all of them before anything is looked up: every problem is
//! collected under its field's path (`fields.client.name`, `events[2].stream`), so a caller
//! learns of all of them in one answer, and no long value is repeated back in a message.

use samenspel_eventlog::FieldViolation;

pub use samenspel_domain::shown;

/// Entity ids (organisations, offers, requests, matches, …) are 32 lowercase hex digits.
pub const ID_LEN: usize = 32;
/// Free text: reasons, notes, descriptions (in characters).
pub const MAX_TEXT: usize = 1000;
/// Who did something: a person's or a user's name (in characters).
pub const MAX_NAME: usize = 200;
/// Opaque tokens a client passes back (page tokens, proposal tokens), in bytes.
pub const MAX_TOKEN: usize = 256;
/// A client's idempotency key for a create (`request_id`), in bytes.
pub const MAX_REQUEST_ID: usize = 128;

/// Whether `s` has the form of an entity id.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The problems found in one request so far.
#[derive(Debug, Default)]
pub struct Check {
    violations: Vec<FieldViolation>,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a problem with `field`.
    pub fn bad(&mut self, field: impl Into<String>, why: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, why));
    }

    /// Takes over the problems another check found.
    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.violations.extend(violations);
    }

    /// The origin log a request names: 32 bytes (a node id), or empty for this node, `own`. A
    /// malformed one is noted and stands in as zeroes, which no log has.
    pub fn origin(&mut self, field: &str, bytes: &[u8], own: samenspel_eventlog::NodeId) -> samenspel_eventlog::NodeId {
        if bytes.is_empty() {
            return own;
        }
        samenspel_eventlog::NodeId::from_slice(bytes).unwrap_or_else(|| {
            self.bad(field, format!("must be 32 bytes, got {}", bytes.len()));
            samenspel_eventlog::NodeId([0; 32])
        })
    }

    /// A required entity id: set, and 32 lowercase hex digits. The value is never shown.
    pub fn id(&mut self, field: &str, value: &str) -> bool {
        if value.is_empty() {
            self.bad(field, "must be set");
            false
        } else if !is_id(value) {
            self.bad(field, format!("is not an id ({ID_LEN} lowercase hexadecimal characters)"));
            false
        } else {
            true
        }
    }

    /// An entity id that may be left empty.
    pub fn optional_id(&mut self, field: &str, value: &str) -> bool {
        value.is_empty() || self.id(field, value)
    }

    /// Text of at most `max` characters, trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        // Counting characters is linear; a value of more than four bytes per allowed character
        // is too long whatever it holds.
        if value.len() > max.saturating_mul(4) || value.chars().count() > max {
            self.bad(field, format!("at most {max} characters"));
            return String::new();
        }
        value.trim().to_string()
    }

    /// Text that must be given: 1 to `max` characters once trimmed.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> String {
        let before = self.violations.len();
        let text = self.text(field, value, max);
        if text.is_empty() && self.violations.len() == before {
            self.bad(field, format!("must be 1 to {max} characters"));
        }
        text
    }

    /// Printable ASCII of at most `max` bytes (tokens, idempotency keys); empty is allowed.
    pub fn ascii(&mut self, field: &str, value: &str, max: usize) -> bool {
        if value.len() > max || !value.bytes().all(|b| b.is_ascii_graphic()) {
            self.bad(field, format!("at most {max} printable ascii characters"));
            return false;
        }
        true
    }

    /// A list of at most `max` items.
    pub fn list<T>(&mut self, field: &str, items: &[T], max: usize) -> bool {
        if items.len() > max {
            self.bad(field, format!("at most {max} items, got {}", items.len()));
            return false;
        }
        true
    }

    /// An enum field decoded to `value`; `raw` is the number on the wire. A number the protocol
    /// has no value for is named; 0 (unspecified) gives `None` quietly.
    pub fn known<T>(&mut self, field: &str, raw: i32, value: Option<T>) -> Option<T> {
        if value.is_none() && raw != 0 {
            self.bad(field, format!("unknown value {raw}"));
        }
        value
    }

    /// An enum field that must be set.
    pub fn required<T>(&mut self, field: &str, raw: i32, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.bad(field, if raw == 0 { "must be set".to_string() } else { format!("unknown value {raw}") });
        }
        value
    }

    /// The value of a check done elsewhere, with its problems taken over.
    pub fn absorb<T>(&mut self, result: Result<T, Vec<FieldViolation>>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(v) => {
                self.violations.extend(v);
                None
            }
        }
    }

    /// The problems found so far.
    pub fn violations(&self) -> &[FieldViolation] {
        &self.violations
    }

    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// Problems found by code that collects them in a plain list, taken over.
    pub fn push_all(&mut self, violations: &mut Vec<FieldViolation>) {
        self.violations.append(violations);
    }

    /// `Ok` when nothing was wrong; otherwise every problem found, one per field (the first
    /// found: a field that is unknown and therefore missing is named once).
    pub fn finish(self) -> Result<(), Vec<FieldViolation>> {
        if self.violations.is_empty() {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        Err(self.violations.into_iter().filter(|v| seen.insert(v.field.clone())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_collected_and_no_value_repeated() {
        let long = "x".repeat(100_000);
        let mut c = Check::new();
        assert!(!c.id("request_id", ""));
        assert!(!c.id("match_id", &long));
        assert!(c.id("offer_id", "0123456789abcdef0123456789abcdef"));
        assert!(!c.id("organisation_id", "0123456789ABCDEF0123456789ABCDEF"));
        assert!(c.optional_id("lead_offer_id", ""));
        assert_eq!(c.text("reason", "  kort  ", 10), "kort");
        assert_eq!(c.text("notes", &long, MAX_TEXT), "");
        assert_eq!(c.text("name", &"é".repeat(11), 10), "");
        c.required_text("confirmed_by", "   ", 10);
        assert!(!c.ascii("page_token", "with space", 10));
        assert!(!c.list("postcode_ranges", &[0; 3], 2));
        assert_eq!(c.known::<u8>("kind", 99, None), None);
        assert_eq!(c.known::<u8>("kind", 0, None), None);
        c.required::<u8>("outcome", 0, None);
        let fields: Vec<&str> = c.violations().iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "request_id",
                "match_id",
                "organisation_id",
                "notes",
                "name",
                "confirmed_by",
                "page_token",
                "postcode_ranges",
                "kind",
                "outcome"
            ]
        );
        assert!(c.violations().iter().all(|v| v.description.len() < 100), "no value repeated back");
        c.bad("kind", "must be set");
        assert_eq!(c.finish().unwrap_err().len(), 10, "one problem per field");
        assert!(Check::new().finish().is_ok());
    }

    #[test]
    fn a_shown_value_is_cut_after_a_prefix() {
        assert_eq!(shown("6411 AB"), "\"6411 AB\"");
        let long = shown(&"ä".repeat(1000));
        assert!(long.chars().count() < 50 && long.ends_with('…'), "{long}");
    }
}
