//! Ids and references inside a Bundle. samenspel's ids are 128 random bits in hex, so each is
//! also a UUID: a resource's `fullUrl` is `urn:uuid:` and that UUID, and references point at it,
//! which keeps a Bundle self-contained wherever it is stored.

/// The UUID form (8-4-4-4-12) of a 32-hex-digit id; `None` for anything else.
pub fn uuid_of(id: &str) -> Option<String> {
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let id = id.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &id[..8], &id[8..12], &id[12..16], &id[16..20], &id[20..]))
}

/// The `fullUrl` of a resource whose id is `id`: its UUID URN, or, when the id is not a UUID, the
/// URN of a UUID derived from its type and id (a fullUrl is absolute: a relative `Type/id` is
/// refused by validators).
pub fn full_url(resource_type: &str, id: &str) -> String {
    let uuid = uuid_of(id).or_else(|| uuid_of(&derived_id(resource_type, id))).unwrap_or_default();
    format!("urn:uuid:{uuid}")
}

/// A Reference to a resource of the same Bundle.
pub fn reference(resource_type: &str, id: &str) -> serde_json::Value {
    serde_json::json!({ "reference": full_url(resource_type, id), "type": resource_type })
}

/// A FHIR instant from microseconds since the epoch.
pub fn instant(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map_or_else(|_| "1970-01-01T00:00:00Z".into(), |t| t.to_string())
}

/// A resource id for something samenspel names otherwise (a subject's Patient, a request's
/// Consent, an event's Provenance): derived, so the same thing has the same id in every export.
pub fn derived_id(what: &str, of: &str) -> String {
    let mut h = blake3::Hasher::new_derive_key("samenspel fhir resource id v1");
    h.update(what.as_bytes());
    h.update(&[0]);
    h.update(of.as_bytes());
    hex::encode(&h.finalize().as_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hex_id_is_a_uuid_and_anything_else_the_urn_of_a_derived_one() {
        assert_eq!(uuid_of("0123456789abcdef0123456789ABCDEF").unwrap(), "01234567-89ab-cdef-0123-456789abcdef");
        assert_eq!(uuid_of("0123"), None);
        let other = full_url("Task", "x-1");
        assert!(other.starts_with("urn:uuid:") && other.len() == 45, "{other}");
        assert_eq!(other, full_url("Task", "x-1"));
        assert_ne!(other, full_url("Patient", "x-1"));
        assert_eq!(
            reference("Organization", &"a".repeat(32))["reference"],
            format!("urn:uuid:{}", uuid_of(&"a".repeat(32)).unwrap())
        );
    }
}
