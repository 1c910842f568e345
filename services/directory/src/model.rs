//! Domain types of the directory and their validation.

use samenspel_domain::{EmailAddress, PhoneNumber, Postcode, Weekday, WeeklyHours};
use samenspel_eventlog::{FieldViolation, NodeId};
use serde::{Deserialize, Serialize};

pub(crate) const MAX_NAME: usize = 200;
pub(crate) const MAX_DESCRIPTION: usize = 4000;
pub(crate) const MAX_TEXT: usize = 200;

/// What kind of organisation: formal care or informal care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    SociaalWijkteam,
    Thuiszorg,
    Huisarts,
    Ggz,
    Gemeente,
    Mantelzorgsteunpunt,
    Vrijwilligersorganisatie,
    Burgerinitiatief,
    KerkMoskee,
    Buurtvereniging,
}

impl OrganisationKind {
    /// Formal care (professionals) as opposed to informal care (volunteers, neighbours).
    pub fn is_formal(self) -> bool {
        matches!(
            self,
            Self::SociaalWijkteam
                | Self::Thuiszorg
                | Self::Huisarts
                | Self::Ggz
                | Self::Gemeente
                | Self::Mantelzorgsteunpunt
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub house_number: String,
    /// Normalised "1234 AB"; empty when no address is given.
    pub postcode: String,
    pub city: String,
    /// The provincie ("Limburg"); HSDS's `state_province`. Empty in entries from before.
    #[serde(default)]
    pub province: String,
}

/// What a client sets on an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationFields {
    pub name: String,
    pub kind: OrganisationKind,
    pub address: Option<Address>,
    pub website: String,
    pub description: String,
}

/// An organisation as the directory knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: String,
    pub fields: OrganisationFields,
    pub hosting_node: NodeIdHex,
    pub version: u64,
    pub archived: bool,
    pub created_micros: i64,
    pub updated_micros: i64,
    /// Creating, changing and verifying an entry all count as checking it.
    pub last_verified_micros: i64,
}

/// A node id kept as hex in snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct NodeIdHex(pub NodeId);

impl From<NodeIdHex> for String {
    fn from(n: NodeIdHex) -> String {
        n.0.to_hex()
    }
}

impl TryFrom<String> for NodeIdHex {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        NodeId::from_hex(&s).map(NodeIdHex).ok_or_else(|| format!("{s:?} is not a node id"))
    }
}

/// Fields as received, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct RawFields {
    pub name: String,
    pub kind: Option<OrganisationKind>,
    pub address: Option<Address>,
    pub website: String,
    pub description: String,
}

impl RawFields {
    /// Checks every field, collecting all violations under `at` (such as "fields").
    pub fn validate(self, at: &str, violations: &mut Vec<FieldViolation>) -> Option<OrganisationFields> {
        let mut bad = |field: &str, why: String| violations.push(FieldViolation::new(format!("{at}.{field}"), why));
        let name = self.name.trim().to_string();
        if name.is_empty() {
            bad("name", "must not be empty".into());
        } else if name.chars().count() > MAX_NAME {
            bad("name", format!("must be at most {MAX_NAME} characters"));
        }
        if self.kind.is_none() {
            bad("kind", "must be set".into());
        }
        let address = match self.address {
            None => None,
            Some(a) => {
                let postcode = match a.postcode.trim() {
                    "" => String::new(),
                    text => match text.parse::<Postcode>() {
                        Ok(p) => p.to_string(),
                        Err(e) => {
                            bad("address.postcode", e.to_string());
                            String::new()
                        }
                    },
                };
                for (field, value) in [
                    ("street", &a.street),
                    ("house_number", &a.house_number),
                    ("city", &a.city),
                    ("province", &a.province),
                ] {
                    if value.chars().count() > MAX_TEXT {
                        bad(&format!("address.{field}"), format!("must be at most {MAX_TEXT} characters"));
                    }
                }
                Some(Address { postcode, ..a })
            }
        };
        let website = self.website.trim().to_string();
        if !website.is_empty()
            && (!(website.starts_with("https://") || website.starts_with("http://"))
                || website.len() > MAX_TEXT
                || website.chars().any(char::is_whitespace))
        {
            bad("website", "must be an http(s) address without spaces".into());
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            bad("description", format!("must be at most {MAX_DESCRIPTION} characters"));
        }
        let kind = self.kind?;
        Some(OrganisationFields { name, kind, address, website, description: self.description })
    }
}

/// Most time slots of a week's hours.
pub(crate) const MAX_SLOTS: usize = 50;

/// A time slot as stored: day 0 is Monday, times in minutes after midnight.
pub use samenspel_domain::Slot;

/// What a client sets on a contact person (smoelenboek entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFields {
    pub name: String,
    pub role: String,
    /// E.164, or empty.
    pub phone: String,
    pub email: String,
    pub working_hours: Vec<Slot>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPerson {
    pub id: String,
    pub organisation_id: String,
    pub fields: ContactFields,
    pub version: u64,
    pub archived: bool,
    pub created_micros: i64,
    pub updated_micros: i64,
    pub last_verified_micros: i64,
}

impl ContactPerson {
    /// The access-log subject of this contact person (`contact/{id}`): an id, never the name.
    pub fn subject(&self) -> String {
        format!("contact/{}", self.id)
    }
}

/// A contact person's fields as received.
#[derive(Debug, Clone, Default)]
pub struct RawContact {
    pub name: String,
    pub role: String,
    pub phone: String,
    pub email: String,
    /// Day (`None`: not given), start and end as "HH:MM".
    pub working_hours: Vec<(Option<Weekday>, String, String)>,
}

impl RawContact {
    pub fn validate(self, at: &str, violations: &mut Vec<FieldViolation>) -> Option<ContactFields> {
        let before = violations.len();
        let mut bad = |field: String, why: String| violations.push(FieldViolation::new(format!("{at}.{field}"), why));
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            bad("name".into(), format!("must be 1 to {MAX_NAME} characters"));
        }
        if self.role.chars().count() > MAX_TEXT {
            bad("role".into(), format!("must be at most {MAX_TEXT} characters"));
        }
        let phone = match self.phone.trim() {
            "" => String::new(),
            text => text.parse::<PhoneNumber>().map(|p| p.to_string()).unwrap_or_else(|e| {
                bad("phone".into(), e.to_string());
                String::new()
            }),
        };
        let email = match self.email.trim() {
            "" => String::new(),
            text => text.parse::<EmailAddress>().map(|e| e.to_string()).unwrap_or_else(|e| {
                bad("email".into(), e.to_string());
                String::new()
            }),
        };
        if self.working_hours.len() > MAX_SLOTS {
            bad("working_hours".into(), format!("at most {MAX_SLOTS} slots"));
        }
        let working_hours = weekly_slots(self.working_hours, &format!("{at}.working_hours"), violations);
        if violations.len() > before {
            return None;
        }
        Some(ContactFields { name, role: self.role.trim().to_string(), phone, email, working_hours: working_hours? })
    }
}

/// Weekly time slots as received (day, "HH:MM", "HH:MM"), checked and in stored form; every
/// problem is reported under `field` (`fields.working_hours[2].start`, …).
pub(crate) fn weekly_slots(
    raw: Vec<(Option<Weekday>, String, String)>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<Vec<Slot>> {
    match WeeklyHours::parse(&raw) {
        Ok(hours) => Some(hours.stored()),
        Err(problems) => {
            violations.extend(problems.iter().map(|p| FieldViolation::new(p.field(field), p.why.to_string())));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_named() {
        let raw = RawFields {
            name: "  ".into(),
            kind: None,
            address: Some(Address { postcode: "12345".into(), ..Address::default() }),
            website: "ftp://x".into(),
            description: String::new(),
        };
        let mut v = Vec::new();
        assert!(raw.validate("fields", &mut v).is_none());
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["fields.name", "fields.kind", "fields.address.postcode", "fields.website"]);
    }

    #[test]
    fn contacts_are_checked_field_by_field() {
        let raw = RawContact {
            name: "Anna de Vries".into(),
            role: "consulent mantelzorg".into(),
            phone: "045 - 5123456".into(),
            email: "anna@steunpunt.nl".into(),
            working_hours: vec![
                (Some(Weekday::Tuesday), "09:00".into(), "17:00".into()),
                (Some(Weekday::Monday), "09:00".into(), "12:30".into()),
            ],
        };
        let mut v = Vec::new();
        let f = raw.clone().validate("fields", &mut v).unwrap();
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(f.phone, "+31455123456");
        assert_eq!((f.working_hours[0].day, f.working_hours[0].end_minutes), (0, 750), "sorted, Monday first");

        let bad = RawContact {
            phone: "12345".into(),
            email: "anna@".into(),
            working_hours: vec![
                (None, "9:00".into(), "10:00".into()),
                (Some(Weekday::Friday), "25:00".into(), "26:00".into()),
            ],
            ..raw.clone()
        };
        let mut v = Vec::new();
        assert!(bad.validate("fields", &mut v).is_none());
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "fields.phone",
                "fields.email",
                "fields.working_hours[0].day",
                "fields.working_hours[1].start",
                "fields.working_hours[1].end"
            ]
        );

        let overlapping = RawContact {
            working_hours: vec![
                (Some(Weekday::Monday), "09:00".into(), "12:00".into()),
                (Some(Weekday::Monday), "11:00".into(), "13:00".into()),
            ],
            ..raw
        };
        let mut v = Vec::new();
        assert!(overlapping.validate("fields", &mut v).is_none());
        assert_eq!(v[0].field, "fields.working_hours[1]");
    }

    #[test]
    fn valid_fields_are_normalised() {
        let raw = RawFields {
            name: " Buurtteam Oost ".into(),
            kind: Some(OrganisationKind::SociaalWijkteam),
            address: Some(Address { postcode: "6411ab".into(), ..Address::default() }),
            website: "https://example.nl".into(),
            description: String::new(),
        };
        let mut v = Vec::new();
        let f = raw.validate("fields", &mut v).unwrap();
        assert!(v.is_empty());
        assert_eq!((f.name.as_str(), f.address.unwrap().postcode.as_str()), ("Buurtteam Oost", "6411 AB"));
        assert!(f.kind.is_formal());
        assert!(!OrganisationKind::Vrijwilligersorganisatie.is_formal());
    }
}
