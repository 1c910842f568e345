//! What an HSDS row holds that the sociale kaart does not keep, so an import says so row by row
//! instead of dropping it without a word: elements samenspel has no place for (an organization's
//! e-mail and phones, a service's eligibility, a language's name…), attributes of taxonomies other
//! than samenspel's, and service areas given other than as postcodes. Ids of sub-rows (schedules,
//! areas, languages, addresses) are not listed: samenspel derives its own from the entry's id.

use serde_json::Value;

/// The elements the directory reads, per kind of row.
const ORGANIZATION: &[&str] =
    &["id", "name", "description", "website", "attributes", "locations", "contacts", "services"];
const SERVICE: &[&str] = &[
    "id",
    "organization_id",
    "name",
    "description",
    "status",
    "fees_description",
    "attributes",
    "service_areas",
    "schedules",
    "languages",
    "capacities",
    "contacts",
];
const CONTACT: &[&str] = &["id", "organization_id", "service_id", "name", "title", "email", "phones", "attributes"];
const LOCATION: &[&str] = &["id", "location_type", "name", "addresses", "organization_id"];
const ADDRESS: &[&str] =
    &["id", "location_id", "address_1", "city", "state_province", "postal_code", "country", "address_type"];
const PHONE: &[&str] = &["id", "number", "type", "contact_id", "organization_id", "service_id", "location_id"];
const LANGUAGE: &[&str] = &["id", "code", "service_id", "location_id", "phone_id"];
const SCHEDULE: &[&str] = &["id", "freq", "interval", "byday", "opens_at", "closes_at", "service_id"];
const AREA: &[&str] = &["id", "name", "description", "extent", "extent_type", "service_id"];
const CAPACITY: &[&str] = &["id", "available", "maximum", "description", "updated", "unit", "service_id"];

/// A value that says something: not null, not "", not an empty list or object.
fn said(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// The elements of `row` outside `known` that say something, under `at`.
fn unknown(row: &Value, known: &[&str], at: &str, out: &mut Vec<String>) {
    if let Value::Object(o) = row {
        for (k, v) in o {
            if !known.contains(&k.as_str()) && said(v) {
                out.push(format!("{at}{k}"));
            }
        }
    }
}

fn items<'a>(row: &'a Value, name: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    row.get(name).and_then(Value::as_array).into_iter().flatten().enumerate()
}

fn sub_rows(row: &Value, name: &str, known: &[&str], at: &str, out: &mut Vec<String>) {
    for (i, item) in items(row, name) {
        unknown(item, known, &format!("{at}{name}[{i}]."), out);
    }
}

/// Attributes of taxonomies other than samenspel's.
fn foreign_attributes(row: &Value, at: &str, out: &mut Vec<String>) {
    for (i, a) in items(row, "attributes") {
        let taxonomy = a.pointer("/taxonomy_term/taxonomy").and_then(Value::as_str).unwrap_or_default();
        if !taxonomy.starts_with("samenspel:") {
            let named =
                if taxonomy.is_empty() { "no samenspel taxonomy".to_string() } else { format!("taxonomy {taxonomy}") };
            out.push(format!("{at}attributes[{i}] ({named})"));
        }
    }
}

fn contact(row: &Value, at: &str, out: &mut Vec<String>) {
    unknown(row, CONTACT, at, out);
    sub_rows(row, "phones", PHONE, at, out);
    foreign_attributes(row, at, out);
}

/// Where in one organization row something is not kept: (the path of the row within it, the
/// elements dropped there), for every row that drops something.
pub(crate) fn dropped(org: &Value) -> Vec<(String, Vec<String>)> {
    let mut rows = Vec::new();
    let mut push = |path: String, out: Vec<String>| {
        if !out.is_empty() {
            rows.push((path, out));
        }
    };
    let mut out = Vec::new();
    unknown(org, ORGANIZATION, "", &mut out);
    foreign_attributes(org, "", &mut out);
    for (i, l) in items(org, "locations") {
        let at = format!("locations[{i}].");
        unknown(l, LOCATION, &at, &mut out);
        sub_rows(l, "addresses", ADDRESS, &at, &mut out);
    }
    push(String::new(), out);
    for (j, c) in items(org, "contacts") {
        let mut out = Vec::new();
        contact(c, "", &mut out);
        push(format!("contacts[{j}]"), out);
    }
    for (k, s) in items(org, "services") {
        let mut out = Vec::new();
        unknown(s, SERVICE, "", &mut out);
        foreign_attributes(s, "", &mut out);
        sub_rows(s, "languages", LANGUAGE, "", &mut out);
        sub_rows(s, "schedules", SCHEDULE, "", &mut out);
        sub_rows(s, "service_areas", AREA, "", &mut out);
        sub_rows(s, "capacities", CAPACITY, "", &mut out);
        for (i, a) in items(s, "service_areas") {
            let kind = a.get("extent_type").and_then(Value::as_str).unwrap_or_default();
            if !matches!(kind, "" | "text") && a.get("extent").is_some_and(said) {
                out.push(format!("service_areas[{i}] (extent_type {kind}: samenspel reads postcodes as text)"));
            }
        }
        push(format!("services[{k}]"), out);
        for (j, c) in items(s, "contacts") {
            let mut out = Vec::new();
            contact(c, "", &mut out);
            push(format!("services[{k}].contacts[{j}]"), out);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_samenspel_does_not_keep_is_named_row_by_row() {
        let org = json!({
            "id": "o", "name": "n", "description": "d", "email": "info@example.nl", "tax_id": null,
            "phones": [{"number": "1"}],
            "attributes": [{"taxonomy_term": {"taxonomy": "samenspel:organisation-kind"}}, {"taxonomy_term": {"taxonomy": "open-eligibility"}}],
            "locations": [{"id": "l", "latitude": 50.9, "addresses": [{"address_1": "a", "address_2": "bus 2"}]}],
            "services": [{"id": "s", "name": "x", "eligibility_description": "65+", "languages": [{"code": "nl", "name": "Nederlands"}],
                          "service_areas": [{"extent": "6411", "extent_type": "text"}, {"extent": "{}", "extent_type": "geojson"}],
                          "contacts": [{"name": "c", "department": "zorg"}]}]
        });
        let rows = dropped(&org);
        assert_eq!(
            rows[0],
            (
                String::new(),
                vec![
                    "email".into(),
                    "phones".into(),
                    "attributes[1] (taxonomy open-eligibility)".into(),
                    "locations[0].latitude".into(),
                    "locations[0].addresses[0].address_2".into(),
                ]
            )
        );
        assert_eq!(rows[1].0, "services[0]");
        assert_eq!(
            rows[1].1,
            [
                "eligibility_description",
                "languages[0].name",
                "service_areas[1] (extent_type geojson: samenspel reads postcodes as text)"
            ]
        );
        assert_eq!(rows[2], ("services[0].contacts[0]".into(), vec!["department".into()]));
        assert!(dropped(&json!({"id": "o", "name": "n", "description": "", "email": null})).is_empty());
    }
}
