//! Open Referral HSDS 3 JSON as the directory reads and writes it: organizations with their
//! locations, contacts and services. What HSDS has no field for (an organisation's kind, support
//! functions, target groups, accepted complexity, working hours) travels as `attributes` with a
//! taxonomy term of one of the `samenspel:` taxonomies below, so an export imports back unchanged.

use std::collections::BTreeMap;

use samenspel_domain::Weekday;
use samenspel_eventlog::FieldViolation;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::model::{Address, ContactFields, ContactPerson, Organisation, OrganisationKind, RawContact, RawFields};
use crate::offer::{Availability, MaxComplexity, Offer, RawOffer, TargetGroup};

pub(crate) const TAXONOMY_ORGANISATION_KIND: &str = "samenspel:organisation-kind";
pub(crate) const TAXONOMY_SUPPORT_FUNCTION: &str = "samenspel:support-function";
pub(crate) const TAXONOMY_SUPPORT_KIND: &str = "samenspel:support-kind";
pub(crate) const TAXONOMY_TARGET_GROUP: &str = "samenspel:target-group";
pub(crate) const TAXONOMY_MAX_COMPLEXITY: &str = "samenspel:max-complexity";
pub(crate) const TAXONOMY_WORKING_HOURS: &str = "samenspel:working-hours";
/// Whether an offer takes referrals now (code `available`, `waitlist` with the expected wait in
/// days as its value, `no_capacity`, `assessment_required`).
pub(crate) const TAXONOMY_AVAILABILITY: &str = "samenspel:availability";
/// `service_area.description` values that name a municipality or a wijk instead of postcodes.
const AREA_MUNICIPALITY: &str = "gemeente";
const AREA_WIJK: &str = "wijk";
const CAPACITY_UNIT: &str = "open cases";
const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// JSON `null` and a missing field both mean "empty": HSDS publishers write either.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsOrganization {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub website: String,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<HsdsAttribute>,
    #[serde(default, deserialize_with = "nullable")]
    pub locations: Vec<HsdsLocation>,
    #[serde(default, deserialize_with = "nullable")]
    pub contacts: Vec<HsdsContact>,
    #[serde(default, deserialize_with = "nullable")]
    pub services: Vec<HsdsService>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsAttribute {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub taxonomy_term_id: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub value: String,
    #[serde(default, deserialize_with = "nullable")]
    pub taxonomy_term: HsdsTaxonomyTerm,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsTaxonomyTerm {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Required by HSDS 3: what the term means, in words.
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub taxonomy: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsLocation {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub location_type: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<HsdsAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address_1: String,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    /// Required by HSDS 3; empty when the entry names no provincie.
    #[serde(default, deserialize_with = "nullable")]
    pub state_province: String,
    #[serde(default, deserialize_with = "nullable")]
    pub postal_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsContact {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub organization_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub title: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub phones: Vec<HsdsPhone>,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<HsdsAttribute>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsPhone {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub number: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub r#type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsService {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub organization_id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    /// "active", "inactive", "defunct" or "temporarily closed"; only active services are offers.
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub fees_description: String,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<HsdsAttribute>,
    #[serde(default, deserialize_with = "nullable")]
    pub service_areas: Vec<HsdsServiceArea>,
    #[serde(default, deserialize_with = "nullable")]
    pub schedules: Vec<HsdsSchedule>,
    #[serde(default, deserialize_with = "nullable")]
    pub languages: Vec<HsdsLanguage>,
    /// HSDS 3.1 `service_capacity`: how many more cases the service can take.
    #[serde(default, deserialize_with = "nullable")]
    pub capacities: Vec<HsdsCapacity>,
    #[serde(default, deserialize_with = "nullable", skip_serializing)]
    pub contacts: Vec<HsdsContact>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsServiceArea {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub description: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub extent: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub extent_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsSchedule {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub freq: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing)]
    pub interval: Option<f64>,
    #[serde(default, deserialize_with = "nullable")]
    pub byday: String,
    #[serde(default, deserialize_with = "nullable")]
    pub opens_at: String,
    #[serde(default, deserialize_with = "nullable")]
    pub closes_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsLanguage {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub code: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsCapacity {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub available: f64,
    /// HSDS 3.1: the most it can take; samenspel's capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub description: String,
    /// HSDS 3.1 requires it: when the figures were last brought up to date.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_empty")]
    pub updated: String,
    #[serde(default, deserialize_with = "nullable")]
    pub unit: HsdsUnit,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HsdsUnit {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// An export: one page holding every organization, in the shape of the HSDS API's paginated lists.
#[derive(Debug, Serialize)]
pub(crate) struct HsdsPage {
    pub total_items: usize,
    pub total_pages: usize,
    pub page_number: usize,
    pub size: usize,
    pub first_page: bool,
    pub last_page: bool,
    pub empty: bool,
    pub contents: Vec<HsdsOrganization>,
}

/// A document's organizations, each still as JSON text (borrowed from the document, so a large
/// import is not held twice) so that one bad row is one rejection. A document is one
/// organization, an array of them, or a page with `contents`.
pub(crate) fn split_document(bytes: &[u8]) -> Result<Vec<&RawValue>, FieldViolation> {
    let not_json = |e: serde_json::Error| FieldViolation::new("document", format!("is not JSON: {e}"));
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(bytes).map_err(not_json),
        Some(b'{') => {
            let fields: BTreeMap<String, &RawValue> = serde_json::from_slice(bytes).map_err(not_json)?;
            match fields.get("contents") {
                Some(contents) => serde_json::from_str(contents.get())
                    .map_err(|_| FieldViolation::new("document.contents", "must be an array of organizations")),
                None => {
                    let row: &RawValue = serde_json::from_slice(bytes).map_err(not_json)?;
                    match not_an_organization(row) {
                        Some(why) => Err(FieldViolation::new("document", why)),
                        None if fields.contains_key("name") => Ok(vec![row]),
                        None => Err(FieldViolation::new(
                            "document",
                            "must be an HSDS organization, an array of them, or a page with \"contents\"",
                        )),
                    }
                }
            }
        }
        _ => Err(FieldViolation::new("document", "must be a JSON object or array")),
    }
}

/// Why a row is not an HSDS organization, when its elements say it is another kind of row (a
/// service, a location, a taxonomy or one of its terms, as Open Referral publishes them apart).
pub(crate) fn not_an_organization(row: &RawValue) -> Option<String> {
    let Ok(keys) = serde_json::from_str::<BTreeMap<String, serde::de::IgnoredAny>>(row.get()) else { return None };
    let has = |k: &[&str]| k.iter().any(|k| keys.contains_key(*k));
    // Elements only an organization has (a service and a location list contacts too).
    if has(&[
        "services",
        "locations",
        "tax_status",
        "tax_id",
        "legal_status",
        "year_incorporated",
        "parent_organization_id",
        "organization_identifiers",
    ]) {
        return None;
    }
    let what = if keys.contains_key("service") && keys.contains_key("location") {
        "service at a location"
    } else if has(&[
        "organization_id",
        "program_id",
        "service_areas",
        "service_at_locations",
        "status",
        "eligibility_description",
        "application_process",
        "fees_description",
    ]) {
        "service"
    } else if has(&["location_type", "latitude", "longitude", "transportation", "external_identifier"]) {
        "location"
    } else if has(&["taxonomy_id", "term_uri", "parent_id", "code", "taxonomy"]) {
        "taxonomy term"
    } else if has(&["version"]) {
        "taxonomy"
    } else {
        return None;
    };
    Some(format!(
        "is an HSDS {what}, not an organization: import organizations, with their services, locations and contacts nested in them"
    ))
}

/// The HSDS path of a field of ours that a row's check named (`area.postcode_ranges` →
/// `service_areas`), so a rejection names what the publisher wrote; for a field HSDS carries as a
/// samenspel attribute, which taxonomy it is.
pub(crate) fn hsds_field(entity: &str, field: &str) -> (String, Option<&'static str>) {
    let table: &[(&str, &str, Option<&'static str>)] = match entity {
        "organization" => &[
            ("address.postcode", "locations.addresses.postal_code", None),
            ("address.street", "locations.addresses.address_1", None),
            ("address.house_number", "locations.addresses.address_1", None),
            ("address.city", "locations.addresses.city", None),
            ("address.province", "locations.addresses.state_province", None),
            ("kind", "attributes", Some(TAXONOMY_ORGANISATION_KIND)),
        ],
        "contact" => &[
            ("role", "title", None),
            ("phone", "phones[0].number", None),
            ("working_hours", "attributes", Some(TAXONOMY_WORKING_HOURS)),
        ],
        _ => &[
            ("title", "name", None),
            ("support_functions", "attributes", Some("samenspel:support-kind or samenspel:support-function")),
            ("support_kinds", "attributes", Some(TAXONOMY_SUPPORT_KIND)),
            ("for_whom", "attributes", Some(TAXONOMY_TARGET_GROUP)),
            ("max_complexity", "attributes", Some(TAXONOMY_MAX_COMPLEXITY)),
            ("availability", "attributes", Some(TAXONOMY_AVAILABILITY)),
            ("expected_wait_days", "attributes", Some(TAXONOMY_AVAILABILITY)),
            ("area", "service_areas", None),
            ("schedule", "schedules", None),
            ("capacity", "capacities[0].maximum", None),
            ("cost", "fees_description", None),
        ],
    };
    for (ours, theirs, taxonomy) in table {
        if field == *ours || field.starts_with(&format!("{ours}.")) || field.starts_with(&format!("{ours}[")) {
            return ((*theirs).to_string(), *taxonomy);
        }
    }
    // A language is named by its code: languages[2] → languages[2].code.
    if entity == "service" && field.starts_with("languages[") && !field.contains('.') {
        return (format!("{field}.code"), None);
    }
    (field.to_string(), None)
}

/// What a row calls itself, as far as it can be read: for naming a row that cannot be parsed.
pub(crate) fn row_label(row: &RawValue) -> (String, String) {
    #[derive(Deserialize)]
    struct Label {
        #[serde(default)]
        id: serde_json::Value,
        #[serde(default)]
        name: serde_json::Value,
    }
    let text = |v: serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
    serde_json::from_str::<Label>(row.get()).map(|l| (text(l.id), text(l.name))).unwrap_or_default()
}

/// One organization row of a document, or why it cannot be read, naming the field.
pub(crate) fn parse_organization(row: &RawValue) -> Result<HsdsOrganization, FieldViolation> {
    let mut de = serde_json::Deserializer::from_str(row.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        FieldViolation::new(if field == "." { String::new() } else { field }, e.into_inner().to_string())
    })
}

/// Our id for an HSDS id: a UUID keeps its 128 bits (so an export imports under the same ids);
/// any other id is hashed.
pub(crate) fn local_id(source_id: &str) -> String {
    let hex: String = source_id.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
    let uuid_shaped = source_id.len() == 36
        && source_id
            .char_indices()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if uuid_shaped {
        return hex;
    }
    let hash = blake3::derive_key("samenspel hsds id v1", source_id.as_bytes());
    hex::encode(&hash[..16])
}

/// Our 32-hex-digit id written as a UUID.
pub(crate) fn uuid(id: &str) -> String {
    if id.len() != 32 {
        return id.to_string();
    }
    format!("{}-{}-{}-{}-{}", &id[..8], &id[8..12], &id[12..16], &id[16..20], &id[20..])
}

/// A stable UUID for a part of an entry (its location, an attribute, …), so exports are repeatable.
fn part_uuid(owner: &str, part: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("samenspel hsds part id v1");
    hasher.update(owner.as_bytes());
    hasher.update(&[0]);
    hasher.update(part.as_bytes());
    let mut bytes: [u8; 16] = hasher.finalize().as_bytes()[..16].try_into().expect("16 bytes");
    // RFC 9562 version 8 (custom) and variant bits, so the id is a valid UUID.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid(&hex::encode(bytes))
}

/// What a term of one of samenspel's taxonomies means, for its required `description`.
fn term_description(taxonomy: &str, code: &str) -> String {
    let what = match taxonomy {
        TAXONOMY_ORGANISATION_KIND => "Soort organisatie in de sociale kaart",
        TAXONOMY_SUPPORT_FUNCTION => "Basisfunctie mantelzorgondersteuning",
        TAXONOMY_SUPPORT_KIND => "Soort hulp",
        TAXONOMY_TARGET_GROUP => "Voor wie het aanbod is",
        TAXONOMY_MAX_COMPLEXITY => "Hoogste complexiteit van een hulpvraag die het aanbod aankan",
        TAXONOMY_WORKING_HOURS => "Werktijden van een contactpersoon (dag en tijden)",
        TAXONOMY_AVAILABILITY => "Of het aanbod nu verwijzingen aanneemt",
        other => other,
    };
    format!("{what}: {}", code.replace(['_', '-'], " "))
}

fn attribute(owner: &str, taxonomy: &str, code: &str, value: &str) -> HsdsAttribute {
    let term_id = part_uuid(taxonomy, code);
    HsdsAttribute {
        id: part_uuid(owner, &format!("{taxonomy}/{code}/{value}")),
        taxonomy_term_id: term_id.clone(),
        value: value.to_string(),
        taxonomy_term: HsdsTaxonomyTerm {
            id: term_id,
            code: code.to_string(),
            name: code.replace(['_', '-'], " "),
            description: term_description(taxonomy, code),
            taxonomy: taxonomy.to_string(),
        },
    }
}

/// The codes (or values) of the attributes in `taxonomy`, with their index in `attributes`.
fn codes<'a>(attributes: &'a [HsdsAttribute], taxonomy: &'a str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    attributes.iter().enumerate().filter(move |(_, a)| a.taxonomy_term.taxonomy == taxonomy).map(|(i, a)| {
        let code = if a.taxonomy_term.code.is_empty() { a.value.as_str() } else { a.taxonomy_term.code.as_str() };
        (i, code.trim())
    })
}

fn kind_code(kind: OrganisationKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn parse_kind(code: &str) -> Option<OrganisationKind> {
    serde_json::from_value(serde_json::Value::String(code.to_string())).ok()
}

/// The organisation's fields as received; violations of the HSDS mapping itself are added.
pub(crate) fn organisation_fields(
    org: &HsdsOrganization,
    default_kind: Option<OrganisationKind>,
    violations: &mut Vec<FieldViolation>,
) -> RawFields {
    let mut kind = None;
    for (i, code) in codes(&org.attributes, TAXONOMY_ORGANISATION_KIND) {
        match parse_kind(code) {
            Some(k) if kind.is_none() => kind = Some(k),
            Some(_) => violations.push(FieldViolation::new(format!("attributes[{i}]"), "a second organisation kind")),
            None => violations.push(FieldViolation::new(
                format!("attributes[{i}].taxonomy_term.code"),
                format!("{code:?} is not an organisation kind (sociaal_wijkteam, vrijwilligersorganisatie, …)"),
            )),
        }
    }
    let address = org
        .locations
        .iter()
        .flat_map(|l| l.addresses.iter())
        .min_by_key(|a| match a.address_type.as_str() {
            // A visiting address first; a postal one where that is all there is.
            "" | "physical" => 0,
            "postal" => 1,
            _ => 2,
        })
        .map(|a| {
            let (street, house_number) = split_address_line(&a.address_1);
            Address {
                street,
                house_number,
                postcode: a.postal_code.clone(),
                city: a.city.clone(),
                province: a.state_province.trim().to_string(),
            }
        });
    RawFields {
        name: org.name.clone(),
        kind: kind.or(default_kind),
        address,
        website: org.website.clone(),
        description: org.description.clone(),
    }
}

/// "Kerkstraat 12a" → ("Kerkstraat", "12a"): a Dutch address line ends in its house number.
fn split_address_line(line: &str) -> (String, String) {
    let line = line.trim();
    match line.rsplit_once(' ') {
        Some((street, number)) if number.starts_with(|c: char| c.is_ascii_digit()) => {
            (street.trim().to_string(), number.to_string())
        }
        _ => (line.to_string(), String::new()),
    }
}

/// "09:00", "09:00:00", "09:00Z" or "09:00+01:00" → "09:00": times are Dutch local time.
fn clock(text: &str) -> String {
    let text = text.trim();
    let end = text.find(['Z', '+']).unwrap_or(text.len());
    let text = &text[..end];
    match text.len() {
        8 if text.as_bytes()[5] == b':' => text[..5].to_string(),
        _ => text.to_string(),
    }
}

/// Weekly slots from HSDS schedules ("MO,TU" 09:00–17:00 is two slots); an unsupported
/// recurrence is named.
fn schedule_slots(
    schedules: &[HsdsSchedule],
    at: &str,
    violations: &mut Vec<FieldViolation>,
) -> Vec<(Option<Weekday>, String, String)> {
    let mut slots = Vec::new();
    for (i, s) in schedules.iter().enumerate() {
        let mut bad = |field: &str, why: String| violations.push(FieldViolation::new(format!("{at}[{i}]{field}"), why));
        if !(s.freq.is_empty() || s.freq.eq_ignore_ascii_case("WEEKLY")) {
            bad(".freq", format!("{:?}: only weekly schedules are supported", s.freq));
            continue;
        }
        if s.interval.is_some_and(|n| n != 1.0) {
            bad(".interval", "only every week (interval 1) is supported".into());
            continue;
        }
        if s.byday.trim().is_empty() {
            bad(".byday", "name the days, such as \"MO,TU\"".into());
            continue;
        }
        for day in s.byday.split(',') {
            let day = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day.trim())).map(|d| Weekday::ALL[d]);
            if day.is_none() {
                bad(".byday", format!("{:?} holds a day that is not MO, TU, WE, TH, FR, SA or SU", s.byday));
            }
            slots.push((day, clock(&s.opens_at), clock(&s.closes_at)));
        }
    }
    slots
}

fn working_hours(attributes: &[HsdsAttribute], violations: &mut Vec<FieldViolation>) -> Vec<HsdsSchedule> {
    let mut schedules = Vec::new();
    let hours = attributes.iter().enumerate().filter(|(_, a)| a.taxonomy_term.taxonomy == TAXONOMY_WORKING_HOURS);
    for (i, a) in hours {
        // "MO 09:00-17:00"
        let value = a.value.trim();
        let parsed = value.split_once(' ').and_then(|(day, hours)| Some((day, hours.split_once('-')?)));
        match parsed {
            Some((day, (opens, closes))) => schedules.push(HsdsSchedule {
                byday: day.into(),
                opens_at: opens.into(),
                closes_at: closes.into(),
                ..HsdsSchedule::default()
            }),
            None => violations.push(FieldViolation::new(
                format!("attributes[{i}].value"),
                "working hours look like \"MO 09:00-17:00\"",
            )),
        }
    }
    schedules
}

pub(crate) fn contact_fields(contact: &HsdsContact, violations: &mut Vec<FieldViolation>) -> RawContact {
    let schedules = working_hours(&contact.attributes, violations);
    RawContact {
        name: contact.name.clone(),
        role: contact.title.clone(),
        phone: contact.phones.first().map(|p| p.number.clone()).unwrap_or_default(),
        email: contact.email.clone(),
        working_hours: schedule_slots(&schedules, "working_hours", violations),
    }
}

pub(crate) fn offer_fields(service: &HsdsService, violations: &mut Vec<FieldViolation>) -> RawOffer {
    let attrs = &service.attributes;
    let mut for_whom = Vec::new();
    for (_, code) in codes(attrs, TAXONOMY_TARGET_GROUP) {
        for_whom.push(serde_json::from_value::<TargetGroup>(serde_json::Value::String(code.into())).ok());
    }
    let mut max_complexity = None;
    for (i, code) in codes(attrs, TAXONOMY_MAX_COMPLEXITY) {
        match serde_json::from_value::<MaxComplexity>(serde_json::Value::String(code.into())) {
            Ok(c) => max_complexity = Some(c),
            Err(_) => violations.push(FieldViolation::new(
                format!("attributes[{i}].taxonomy_term.code"),
                format!("{code:?} is not a complexity (low, medium, high)"),
            )),
        }
    }
    let mut ranges = Vec::new();
    let (mut municipality, mut wijk) = (String::new(), String::new());
    // An area given as a shape (geojson, wkt, …) beside postcodes is left out (the report says
    // so); a service with shapes only cannot be placed.
    let has_text = service
        .service_areas
        .iter()
        .any(|a| !a.extent.trim().is_empty() && matches!(a.extent_type.as_str(), "" | "text"));
    for (i, area) in service.service_areas.iter().enumerate() {
        if has_text && !area.extent.trim().is_empty() && !matches!(area.extent_type.as_str(), "" | "text") {
            continue;
        }
        match area.description.trim().to_ascii_lowercase().as_str() {
            AREA_MUNICIPALITY | "municipality" => municipality = area.name.trim().to_string(),
            AREA_WIJK | "district" => wijk = area.name.trim().to_string(),
            _ if !area.extent.trim().is_empty() && matches!(area.extent_type.as_str(), "" | "text") => {
                ranges.extend(area.extent.split(',').map(|r| r.trim().to_string()));
            }
            _ => violations.push(FieldViolation::new(
                format!("service_areas[{i}]"),
                format!(
                    "give postcodes as extent_type \"text\" with an extent such as \"6411-6419\", or a description \"{AREA_MUNICIPALITY}\" or \"{AREA_WIJK}\""
                ),
            )),
        }
    }
    // The capacity is the most it takes (3.1's `maximum`); a document without one gives the
    // places available, as samenspel exports did before.
    let mut capacity = 0;
    if let Some(c) = service.capacities.first() {
        let (field, value) = match c.maximum {
            Some(m) => ("capacities[0].maximum", m),
            None => ("capacities[0].available", c.available),
        };
        if value >= 0.0 && value.fract() == 0.0 && value <= f64::from(u32::MAX) {
            capacity = value as u32;
        } else {
            violations.push(FieldViolation::new(field, "must be a whole number of cases, 0 or more"));
        }
    }
    let (mut availability, mut expected_wait_days) = (Some(Availability::Available), 0);
    for (i, code) in codes(attrs, TAXONOMY_AVAILABILITY) {
        match Availability::ALL.into_iter().find(|a| a.code() == code) {
            Some(a) => {
                availability = Some(a);
                if a == Availability::Waitlist {
                    match attrs[i].value.trim().parse::<u32>() {
                        Ok(days) => expected_wait_days = days,
                        Err(_) => violations.push(FieldViolation::new(
                            format!("attributes[{i}].value"),
                            "a waiting list gives its expected wait in days as the attribute's value",
                        )),
                    }
                }
            }
            None => violations.push(FieldViolation::new(
                format!("attributes[{i}].taxonomy_term.code"),
                format!("{code:?} is not an availability (available, waitlist, no_capacity, assessment_required)"),
            )),
        }
    }
    RawOffer {
        title: service.name.clone(),
        description: service.description.clone(),
        functions: codes(attrs, TAXONOMY_SUPPORT_FUNCTION).map(|(_, c)| c.to_string()).collect(),
        kinds: codes(attrs, TAXONOMY_SUPPORT_KIND).map(|(_, c)| c.to_string()).collect(),
        for_whom,
        ranges,
        municipality,
        wijk,
        schedule: schedule_slots(&service.schedules, "schedules", violations),
        languages: service.languages.iter().map(|l| l.code.clone()).collect(),
        capacity,
        max_complexity,
        cost: service.fees_description.clone(),
        availability,
        expected_wait_days,
    }
}

fn time(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// An organisation with its contact persons and offers, as HSDS.
pub(crate) fn export_organisation(
    org: &Organisation,
    contacts: &[&ContactPerson],
    offers: &[&Offer],
) -> HsdsOrganization {
    let f = &org.fields;
    let locations = f
        .address
        .iter()
        .map(|a| HsdsLocation {
            id: part_uuid(&org.id, "location"),
            location_type: "physical".into(),
            name: f.name.clone(),
            addresses: vec![HsdsAddress {
                id: part_uuid(&org.id, "address"),
                address_1: format!("{} {}", a.street, a.house_number).trim().to_string(),
                city: a.city.clone(),
                state_province: a.province.clone(),
                postal_code: a.postcode.clone(),
                country: "NL".into(),
                address_type: "physical".into(),
            }],
        })
        .collect();
    HsdsOrganization {
        id: uuid(&org.id),
        name: f.name.clone(),
        description: f.description.clone(),
        website: f.website.clone(),
        attributes: vec![attribute(&org.id, TAXONOMY_ORGANISATION_KIND, &kind_code(f.kind), "")],
        locations,
        contacts: contacts.iter().map(|c| export_contact(org, c)).collect(),
        services: offers.iter().map(|o| export_offer(org, o)).collect(),
    }
}

fn export_contact(org: &Organisation, c: &ContactPerson) -> HsdsContact {
    let ContactFields { name, role, phone, email, working_hours } = &c.fields;
    HsdsContact {
        id: uuid(&c.id),
        organization_id: uuid(&org.id),
        name: name.clone(),
        title: role.clone(),
        email: email.clone(),
        phones: (!phone.is_empty())
            .then(|| HsdsPhone { id: part_uuid(&c.id, "phone"), number: phone.clone(), r#type: "voice".into() })
            .into_iter()
            .collect(),
        attributes: working_hours
            .iter()
            .map(|s| {
                let value = format!("{} {}-{}", DAYS[s.day as usize], time(s.start_minutes), time(s.end_minutes));
                attribute(&c.id, TAXONOMY_WORKING_HOURS, "working-hours", &value)
            })
            .collect(),
    }
}

fn export_offer(org: &Organisation, o: &Offer) -> HsdsService {
    let f = &o.fields;
    let mut attributes: Vec<HsdsAttribute> = Vec::new();
    attributes.extend(f.functions.iter().map(|c| attribute(&o.id, TAXONOMY_SUPPORT_FUNCTION, c, "")));
    attributes.extend(f.kinds.iter().map(|c| attribute(&o.id, TAXONOMY_SUPPORT_KIND, c, "")));
    for g in &f.for_whom {
        let code = serde_json::to_value(g).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        attributes.push(attribute(&o.id, TAXONOMY_TARGET_GROUP, &code, ""));
    }
    let complexity = serde_json::to_value(f.max_complexity).ok().and_then(|v| v.as_str().map(str::to_string));
    attributes.push(attribute(&o.id, TAXONOMY_MAX_COMPLEXITY, &complexity.unwrap_or_default(), ""));
    let wait = if f.availability == Availability::Waitlist { f.expected_wait_days.to_string() } else { String::new() };
    attributes.push(attribute(&o.id, TAXONOMY_AVAILABILITY, f.availability.code(), &wait));
    let mut areas: Vec<HsdsServiceArea> = f
        .area
        .ranges
        .iter()
        .map(|(a, b)| {
            let extent = if a == b { format!("{a:04}") } else { format!("{a:04}-{b:04}") };
            HsdsServiceArea {
                id: part_uuid(&o.id, &format!("area/{extent}")),
                name: format!("postcode {extent}"),
                description: String::new(),
                extent,
                extent_type: "text".into(),
            }
        })
        .collect();
    for (description, name) in [(AREA_MUNICIPALITY, &f.area.municipality), (AREA_WIJK, &f.area.wijk)] {
        if !name.is_empty() {
            areas.push(HsdsServiceArea {
                id: part_uuid(&o.id, &format!("area/{description}")),
                name: name.clone(),
                description: description.into(),
                extent: String::new(),
                extent_type: String::new(),
            });
        }
    }
    HsdsService {
        id: uuid(&o.id),
        organization_id: uuid(&org.id),
        name: f.title.clone(),
        description: f.description.clone(),
        status: "active".into(),
        fees_description: f.cost.clone(),
        attributes,
        service_areas: areas,
        schedules: f
            .schedule
            .iter()
            .enumerate()
            .map(|(i, s)| HsdsSchedule {
                id: part_uuid(&o.id, &format!("schedule/{i}")),
                freq: "WEEKLY".into(),
                interval: None,
                byday: DAYS[s.day as usize].into(),
                opens_at: time(s.start_minutes),
                closes_at: time(s.end_minutes),
            })
            .collect(),
        languages: f
            .languages
            .iter()
            .map(|code| HsdsLanguage {
                id: part_uuid(&o.id, &format!("language/{code}")),
                name: String::new(),
                code: code.clone(),
            })
            .collect(),
        capacities: vec![HsdsCapacity {
            id: part_uuid(&o.id, "capacity"),
            available: f64::from(o.free_places()),
            maximum: Some(f64::from(f.capacity)),
            description: match f.availability {
                Availability::Available => String::new(),
                Availability::Waitlist => format!("wachtlijst: verwachte wachttijd {} dagen", f.expected_wait_days),
                Availability::NoCapacity => "neemt nu geen verwijzingen aan".into(),
                Availability::AssessmentRequired => "neemt verwijzingen aan na een eigen beoordeling".into(),
            },
            updated: jiff::Timestamp::from_microsecond(o.updated_micros).map(|t| t.to_string()).unwrap_or_default(),
            unit: HsdsUnit { id: part_uuid("unit", CAPACITY_UNIT), name: CAPACITY_UNIT.into() },
        }],
        contacts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_keep_their_bits_and_other_ids_are_hashed() {
        assert_eq!(local_id("D9D5E0F5-D3CE-4F73-9A2F-4DD0ECC6C610"), "d9d5e0f5d3ce4f739a2f4dd0ecc6c610");
        assert_eq!(uuid(&local_id("d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610")), "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610");
        let hashed = local_id("org-17");
        assert_eq!(hashed.len(), 32);
        assert_ne!(hashed, local_id("org-18"));
        assert_eq!(hashed, local_id("org-17"), "the same source id maps to the same entry on every import");
    }

    #[test]
    fn documents_come_in_three_shapes() {
        let one = br#"{"id": "a", "name": "Buurtteam"}"#;
        let many = br#"[{"id": "a", "name": "Buurtteam"}, {"id": "b", "name": "Steunpunt"}]"#;
        let page = br#"{"total_items": 1, "contents": [{"id": "a", "name": "Buurtteam"}]}"#;
        assert_eq!(split_document(one).unwrap().len(), 1);
        assert_eq!(split_document(many).unwrap().len(), 2);
        assert_eq!(split_document(page).unwrap().len(), 1);
        assert_eq!(split_document(b"{\"total\": 3}").unwrap_err().field, "document");
        assert_eq!(split_document(b"[1, 2").unwrap_err().field, "document");
    }

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let doc = br#"[{"id": "a", "name": "X", "services": [{"id": "s", "name": 5}]},
                      {"id": "b", "name": "Y", "website": null, "services": null}]"#;
        let rows = split_document(doc).unwrap();
        let e = parse_organization(rows[0]).unwrap_err();
        assert_eq!(e.field, "services[0].name");
        assert_eq!(row_label(rows[0]), ("a".into(), "X".into()));
        assert!(parse_organization(rows[1]).unwrap().services.is_empty(), "null reads as empty");
    }

    #[test]
    fn schedules_and_addresses_map_to_the_dutch_shapes() {
        let schedules = vec![HsdsSchedule {
            freq: "WEEKLY".into(),
            byday: "MO,WE".into(),
            opens_at: "09:00:00".into(),
            closes_at: "12:30Z".into(),
            ..HsdsSchedule::default()
        }];
        let mut v = Vec::new();
        let slots = schedule_slots(&schedules, "schedules", &mut v);
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(
            slots,
            [
                (Some(Weekday::Monday), "09:00".into(), "12:30".into()),
                (Some(Weekday::Wednesday), "09:00".into(), "12:30".into())
            ]
        );
        let monthly = vec![HsdsSchedule { freq: "MONTHLY".into(), byday: "1MO".into(), ..HsdsSchedule::default() }];
        schedule_slots(&monthly, "schedules", &mut v);
        assert_eq!(v[0].field, "schedules[0].freq");
        assert_eq!(split_address_line("Akerstraat 94 b"), ("Akerstraat 94 b".into(), String::new()), "kept whole");
        assert_eq!(split_address_line("Kerkstraat 12a"), ("Kerkstraat".into(), "12a".into()));
        assert_eq!(split_address_line("Postbus"), ("Postbus".into(), String::new()));
    }
}
