//! A request for help (hulpvraag) and its parts, as received and as checked.

use samenspel_domain::{
    CaregiverStrainIndex, Complexity, EdizPlus, EmailAddress, PhoneNumber, Postcode, SupportFunction, SupportKind,
    Weekday, WeeklyHours,
};
use samenspel_eventlog::FieldViolation;
use serde::{Deserialize, Serialize};

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
const MAX_SUBJECT_ID: usize = 64;
const MAX_INVOLVED: usize = 50;
/// Longest lists of need areas, languages, schedule slots, consent scopes and purposes.
const MAX_CODES: usize = 20;
const MAX_SLOTS: usize = 50;
const MAX_SCOPES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Asker {
    Client,
    Mantelzorger,
    Professional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    Normal,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvolvedRole {
    Mantelzorger,
    Volunteer,
    Professional,
}

/// How a mantelzorger stands toward the professionals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MantelzorgerRole {
    Partner,
    HelpSeeker,
    PersonalRelation,
    Expert,
}

/// The complexity a professional assessed; stored apart from the domain type so events keep a
/// stable spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessed {
    Low,
    Medium,
    High,
}

impl From<Assessed> for Complexity {
    fn from(a: Assessed) -> Self {
        match a {
            Assessed::Low => Complexity::Low,
            Assessed::Medium => Complexity::Medium,
            Assessed::High => Complexity::High,
        }
    }
}

/// A person in a request. Only the subject id is pseudonymous; the rest is personal data and lives
/// only in payloads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Person {
    pub subject_id: String,
    pub name: String,
    /// E.164, or empty.
    pub phone: String,
    pub email: String,
    /// "YYYY-MM-DD", or empty.
    #[serde(default)]
    pub birth_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Involved {
    pub person: Person,
    pub role: InvolvedRole,
    pub mantelzorger_role: Option<MantelzorgerRole>,
    pub organisation_id: String,
}

/// A time slot as stored: day 0 is Monday, times in minutes after midnight.
pub use samenspel_domain::Slot;

/// What the one who asks tells: checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFields {
    pub asked_by: Asker,
    pub asking_organisation_id: String,
    pub client: Person,
    /// Codes of support functions, including those implied by the kinds; sorted, unique.
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub description: String,
    /// Normalised "1234 AB".
    pub postcode: String,
    pub urgency: Urgency,
    pub wanted_schedule: Vec<Slot>,
    pub languages: Vec<String>,
    pub involved: Vec<Involved>,
    pub assessed_complexity: Option<Assessed>,
}

impl RequestFields {
    /// The 4-digit postcode area.
    pub fn area(&self) -> u16 {
        self.postcode.parse::<Postcode>().map_or(0, |p| p.area().get())
    }

    /// Whether `subject_id` is one of the request's mantelzorgers.
    pub fn is_caregiver(&self, subject_id: &str) -> bool {
        self.involved.iter().any(|i| i.role == InvolvedRole::Mantelzorger && i.person.subject_id == subject_id)
    }
}

/// A person as received; `None` for an enum value the protocol does not know.
#[derive(Debug, Clone, Default)]
pub struct RawPerson {
    pub subject_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    pub birth_date: String,
}

#[derive(Debug, Clone, Default)]
pub struct RawInvolved {
    pub person: RawPerson,
    pub role: Option<InvolvedRole>,
    pub mantelzorger_role: Option<MantelzorgerRole>,
    pub organisation_id: String,
}

/// A request's fields as received, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub asked_by: Option<Asker>,
    pub asking_organisation_id: String,
    pub client: RawPerson,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub description: String,
    pub postcode: String,
    pub urgency: Option<Urgency>,
    pub wanted_schedule: Vec<(Option<Weekday>, String, String)>,
    pub languages: Vec<String>,
    pub involved: Vec<RawInvolved>,
    pub assessed_complexity: RawComplexity,
}

/// A professional's complexity assessment as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RawComplexity {
    #[default]
    NotGiven,
    Given(Assessed),
    /// A value the protocol does not know.
    Unknown(i32),
}

/// What a field naming a directory entry must look like.
const ID_WHY: &str = "is not an id (32 lowercase hexadecimal characters)";

/// Pseudonymous subject ids: short, and only characters that cannot carry much.
pub(crate) fn is_subject_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SUBJECT_ID && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl RawPerson {
    /// Checks the person; an empty subject id is replaced by `make_id()`.
    fn validate(
        self,
        at: &str,
        name_required: bool,
        make_id: &mut dyn FnMut() -> String,
        v: &mut Vec<FieldViolation>,
    ) -> Person {
        let mut bad = |field: &str, why: String| v.push(FieldViolation::new(format!("{at}.{field}"), why));
        let subject_id = match self.subject_id.trim() {
            "" => make_id(),
            s if is_subject_id(s) => s.to_string(),
            _ => {
                bad("subject_id", format!("must be 1 to {MAX_SUBJECT_ID} characters of A-Z, a-z, 0-9, '.', '_', '-'"));
                String::new()
            }
        };
        let name = self.name.trim().to_string();
        if (name_required && name.is_empty()) || name.chars().count() > MAX_NAME {
            bad("name", format!("must be 1 to {MAX_NAME} characters"));
        }
        let phone = match self.phone.trim() {
            "" => String::new(),
            text => text.parse::<PhoneNumber>().map(|p| p.to_string()).unwrap_or_else(|e| {
                bad("phone", e.to_string());
                String::new()
            }),
        };
        let email = match self.email.trim() {
            "" => String::new(),
            text => text.parse::<EmailAddress>().map(|e| e.to_string()).unwrap_or_else(|e| {
                bad("email", e.to_string());
                String::new()
            }),
        };
        let birth_date = match self.birth_date.trim() {
            "" => String::new(),
            text => match text.parse::<samenspel_domain::LocalDate>() {
                Ok(d) if text.len() == 10 && text >= "1900-01-01" => d.to_string(),
                _ => {
                    bad("birth_date", "must be a date, \"YYYY-MM-DD\", from 1900 on".into());
                    String::new()
                }
            },
        };
        Person { subject_id, name, phone, email, birth_date }
    }
}

impl RawRequest {
    /// Checks every field, collecting all violations under `at`. `make_id` makes subject ids for
    /// people given without one.
    pub fn validate(
        self,
        at: &str,
        make_id: &mut dyn FnMut() -> String,
        v: &mut Vec<FieldViolation>,
    ) -> Option<RequestFields> {
        let before = v.len();
        let field = |f: &str| format!("{at}.{f}");
        let asked_by = self.asked_by;
        if asked_by.is_none() {
            v.push(FieldViolation::new(field("asked_by"), "must be set: client, mantelzorger or professional"));
        }
        let asking_organisation_id = self.asking_organisation_id.trim().to_string();
        if !asking_organisation_id.is_empty() && !samenspel_kit::is_id(&asking_organisation_id) {
            v.push(FieldViolation::new(field("asking_organisation_id"), ID_WHY));
        }
        if asked_by == Some(Asker::Professional) && asking_organisation_id.is_empty() {
            v.push(FieldViolation::new(
                field("asking_organisation_id"),
                "a professional asks on behalf of an organisation",
            ));
        }
        let client = self.client.validate(&field("client"), true, make_id, v);
        for (name, len, max) in [
            ("support_functions", self.functions.len(), MAX_CODES),
            ("support_kinds", self.kinds.len(), MAX_CODES),
            ("languages", self.languages.len(), MAX_CODES),
            ("wanted_schedule", self.wanted_schedule.len(), MAX_SLOTS),
        ] {
            if len > max {
                v.push(FieldViolation::new(field(name), format!("at most {max} items, got {len}")));
            }
        }
        let mut functions = Vec::new();
        for (i, code) in self.functions.iter().enumerate() {
            match code.trim().parse::<SupportFunction>() {
                Ok(f) => functions.push(f),
                Err(e) => v.push(FieldViolation::new(field(&format!("support_functions[{i}]")), e.to_string())),
            }
        }
        let mut kinds = Vec::new();
        for (i, code) in self.kinds.iter().enumerate() {
            match code.trim().parse::<SupportKind>() {
                Ok(k) => {
                    functions.push(k.function());
                    kinds.push(k);
                }
                Err(e) => v.push(FieldViolation::new(field(&format!("support_kinds[{i}]")), e.to_string())),
            }
        }
        if self.functions.is_empty() && self.kinds.is_empty() {
            v.push(FieldViolation::new(field("support_functions"), "name at least one need area (function or kind)"));
        }
        functions.sort();
        functions.dedup();
        kinds.sort();
        kinds.dedup();
        if self.description.chars().count() > MAX_DESCRIPTION {
            v.push(FieldViolation::new(field("description"), format!("must be at most {MAX_DESCRIPTION} characters")));
        }
        let postcode = match self.postcode.trim().parse::<Postcode>() {
            Ok(p) => p.to_string(),
            Err(e) => {
                v.push(FieldViolation::new(field("postcode"), e.to_string()));
                String::new()
            }
        };
        let urgency = self.urgency.unwrap_or(Urgency::Normal);
        let wanted_schedule = match WeeklyHours::parse(&self.wanted_schedule) {
            Ok(hours) => hours.stored(),
            Err(problems) => {
                let at = field("wanted_schedule");
                v.extend(problems.iter().map(|p| FieldViolation::new(p.field(&at), p.why.to_string())));
                Vec::new()
            }
        };
        let mut languages = Vec::new();
        for (i, l) in self.languages.iter().enumerate() {
            let code = l.trim().to_ascii_lowercase();
            if code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()) {
                languages.push(code);
            } else {
                let why = format!("{} is not an ISO 639-1 code such as \"nl\"", samenspel_kit::shown(l));
                v.push(FieldViolation::new(field(&format!("languages[{i}]")), why));
            }
        }
        languages.sort();
        languages.dedup();
        if self.involved.len() > MAX_INVOLVED {
            v.push(FieldViolation::new(field("involved"), format!("at most {MAX_INVOLVED} people")));
        }
        let mut involved = Vec::new();
        for (i, raw) in self.involved.into_iter().enumerate() {
            let at = field(&format!("involved[{i}]"));
            // A date of birth is kept for the client alone (it is what duplicate checks use).
            if !raw.person.birth_date.trim().is_empty() {
                v.push(FieldViolation::new(format!("{at}.person.birth_date"), "is kept for the client only"));
            }
            let mut raw_person = raw.person;
            raw_person.birth_date.clear();
            let person = raw_person.validate(&format!("{at}.person"), true, make_id, v);
            let organisation_id = raw.organisation_id.trim().to_string();
            if !organisation_id.is_empty() && !samenspel_kit::is_id(&organisation_id) {
                v.push(FieldViolation::new(format!("{at}.organisation_id"), ID_WHY));
            }
            match raw.role {
                None => {
                    v.push(FieldViolation::new(format!("{at}.role"), "must be mantelzorger, volunteer or professional"))
                }
                Some(role) => {
                    if role == InvolvedRole::Mantelzorger && raw.mantelzorger_role.is_none() {
                        let why = "say how the mantelzorger stands: partner, help-seeker, personal relation or expert";
                        v.push(FieldViolation::new(format!("{at}.mantelzorger_role"), why));
                    }
                    let mantelzorger_role = raw.mantelzorger_role.filter(|_| role == InvolvedRole::Mantelzorger);
                    involved.push(Involved { person, role, mantelzorger_role, organisation_id });
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, p) in std::iter::once(&client).chain(involved.iter().map(|i| &i.person)).enumerate() {
            if !p.subject_id.is_empty() && !seen.insert(p.subject_id.clone()) {
                let at = if i == 0 {
                    field("client.subject_id")
                } else {
                    field(&format!("involved[{}].person.subject_id", i - 1))
                };
                v.push(FieldViolation::new(at, "the same subject id is given twice"));
            }
        }
        let assessed_complexity = match self.assessed_complexity {
            RawComplexity::NotGiven => None,
            RawComplexity::Given(c) => Some(c),
            RawComplexity::Unknown(n) => {
                v.push(FieldViolation::new(field("assessed_complexity"), format!("unknown complexity {n}")));
                None
            }
        };
        if v.len() > before {
            return None;
        }
        Some(RequestFields {
            asked_by: asked_by?,
            asking_organisation_id,
            client,
            functions: functions.iter().map(|f| f.code().to_string()).collect(),
            kinds: kinds.iter().map(|k| k.code().to_string()).collect(),
            description: self.description,
            postcode,
            urgency,
            wanted_schedule,
            languages,
            involved,
            assessed_complexity,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Matching,
    FollowUp,
    Evaluation,
}

/// Who may see the request: one organisation, or every organisation of a kind (the directory's
/// kind code, such as "vrijwilligersorganisatie").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    Organisation(String),
    OrganisationKind(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub scopes: Vec<ConsentScope>,
    pub purposes: Vec<Purpose>,
    /// The last day, "YYYY-MM-DD".
    pub until: String,
    /// The first moment it no longer holds: midnight after `until`, Dutch time taken as UTC+1.
    pub expires_micros: i64,
}

impl Consent {
    /// Whether the consent lets `organisation` (of `kind`) see the request for `purpose` at `now`.
    pub fn allows(&self, organisation: &str, kind: &str, purpose: Purpose, now_micros: i64) -> bool {
        now_micros < self.expires_micros
            && self.purposes.contains(&purpose)
            && self.scopes.iter().any(|s| match s {
                ConsentScope::Organisation(id) => !organisation.is_empty() && id == organisation,
                ConsentScope::OrganisationKind(k) => !kind.is_empty() && k == kind,
            })
    }
}

/// Consent as received: scopes (`None` for an empty or unknown one), purposes (`None` for an
/// unknown one) and the last day.
#[derive(Debug, Clone, Default)]
pub struct RawConsent {
    pub scopes: Vec<Option<ConsentScope>>,
    pub purposes: Vec<Option<Purpose>>,
    pub until: String,
}

impl RawConsent {
    pub fn validate(self, at: &str, now_micros: i64, v: &mut Vec<FieldViolation>) -> Option<Consent> {
        let before = v.len();
        if self.scopes.is_empty() {
            v.push(FieldViolation::new(format!("{at}.scopes"), "consent needs a scope: which organisations or kinds"));
        }
        if self.scopes.len() > MAX_SCOPES {
            v.push(FieldViolation::new(format!("{at}.scopes"), format!("at most {MAX_SCOPES} scopes")));
        }
        if self.purposes.len() > MAX_CODES {
            v.push(FieldViolation::new(format!("{at}.purposes"), format!("at most {MAX_CODES} purposes")));
        }
        let mut scopes = Vec::new();
        for (i, s) in self.scopes.into_iter().enumerate() {
            match s {
                Some(ConsentScope::Organisation(id)) if !samenspel_kit::is_id(id.trim()) => {
                    v.push(FieldViolation::new(format!("{at}.scopes[{i}].organisation_id"), ID_WHY));
                }
                Some(s) => scopes.push(s),
                None => v.push(FieldViolation::new(format!("{at}.scopes[{i}]"), "name an organisation or a kind")),
            }
        }
        if self.purposes.is_empty() {
            v.push(FieldViolation::new(format!("{at}.purposes"), "consent is for a purpose: matching, follow-up, …"));
        }
        let mut purposes = Vec::new();
        for (i, p) in self.purposes.into_iter().enumerate() {
            match p {
                Some(p) => purposes.push(p),
                None => v.push(FieldViolation::new(format!("{at}.purposes[{i}]"), "unknown purpose")),
            }
        }
        purposes.sort();
        purposes.dedup();
        let expires_micros = match day_after_micros(self.until.trim()) {
            Some(e) if e > now_micros => e,
            Some(_) => {
                v.push(FieldViolation::new(format!("{at}.until"), "lies in the past"));
                0
            }
            None => {
                v.push(FieldViolation::new(format!("{at}.until"), "must be a date, \"YYYY-MM-DD\""));
                0
            }
        };
        if v.len() > before {
            return None;
        }
        Some(Consent { scopes, purposes, until: self.until.trim().to_string(), expires_micros })
    }
}

/// Midnight after the date "YYYY-MM-DD" in the Netherlands (taken as UTC+1), in µs since the epoch.
fn day_after_micros(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month[(m - 1) as usize] {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days + 1) * 86_400 - 3600) * 1_000_000)
}

/// One mantelzorger's strain, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strain {
    pub caregiver_subject_id: String,
    pub csi: Vec<bool>,
    pub ediz_plus: Option<Vec<bool>>,
    pub recorded_micros: i64,
}

impl Strain {
    pub fn csi(&self) -> Option<CaregiverStrainIndex> {
        CaregiverStrainIndex::new(&self.csi).ok()
    }

    pub fn ediz_plus(&self) -> Option<EdizPlus> {
        self.ediz_plus.as_deref().and_then(|e| EdizPlus::new(e).ok())
    }

    /// High strain (CSI) or overburdened (EDIZ-plus).
    pub fn heavy(&self) -> bool {
        self.csi().is_some_and(|c| c.high_strain()) || self.ediz_plus().is_some_and(|e| e.overburdened())
    }
}

/// A strain assessment as received.
#[derive(Debug, Clone, Default)]
pub struct RawStrain {
    pub caregiver_subject_id: String,
    pub csi: Vec<bool>,
    pub ediz_plus: Vec<bool>,
}

impl RawStrain {
    /// Checks the item counts and that the caregiver is one of `fields`' mantelzorgers.
    pub fn validate(self, at: &str, fields: Option<&RequestFields>, v: &mut Vec<FieldViolation>) -> Option<Strain> {
        let before = v.len();
        let caregiver = self.caregiver_subject_id.trim().to_string();
        if !is_subject_id(&caregiver) {
            let why = format!("must be a subject id: 1 to {MAX_SUBJECT_ID} characters of A-Z, a-z, 0-9, '.', '_', '-'");
            v.push(FieldViolation::new(format!("{at}.caregiver_subject_id"), why));
        } else if fields.is_some_and(|f| !f.is_caregiver(&caregiver)) {
            let why = "must be the subject id of one of the request's mantelzorgers (involved, role mantelzorger)";
            v.push(FieldViolation::new(format!("{at}.caregiver_subject_id"), why));
        }
        if let Err(e) = CaregiverStrainIndex::new(&self.csi) {
            v.push(FieldViolation::new(format!("{at}.csi"), e.to_string()));
        }
        if !self.ediz_plus.is_empty()
            && let Err(e) = EdizPlus::new(&self.ediz_plus)
        {
            v.push(FieldViolation::new(format!("{at}.ediz_plus"), e.to_string()));
        }
        if v.len() > before {
            return None;
        }
        let ediz_plus = Some(self.ediz_plus).filter(|e| !e.is_empty());
        Some(Strain { caregiver_subject_id: caregiver, csi: self.csi, ediz_plus, recorded_micros: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_dates_end_at_dutch_midnight() {
        // 2027-01-01T00:00+01:00 is 2026-12-31T23:00Z: 1798758000 s.
        assert_eq!(day_after_micros("2026-12-31"), Some(1_798_758_000_000_000));
        assert!(day_after_micros("2028-02-29").is_some(), "a leap day");
        for bad in ["2027-02-29", "2026-13-01", "26-01-01", "2026-1-01", "", "2026-01-01-01"] {
            assert_eq!(day_after_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn consent_allows_only_its_scopes_purposes_and_time() {
        let consent = Consent {
            scopes: vec![
                ConsentScope::Organisation("org-a".into()),
                ConsentScope::OrganisationKind("thuiszorg".into()),
            ],
            purposes: vec![Purpose::Matching],
            until: "2026-12-31".into(),
            expires_micros: 1000,
        };
        assert!(consent.allows("org-a", "vrijwilligersorganisatie", Purpose::Matching, 999));
        assert!(consent.allows("org-x", "thuiszorg", Purpose::Matching, 0));
        assert!(!consent.allows("org-x", "vrijwilligersorganisatie", Purpose::Matching, 0), "not in scope");
        assert!(!consent.allows("org-a", "", Purpose::Evaluation, 0), "not for that purpose");
        assert!(!consent.allows("org-a", "", Purpose::Matching, 1000), "expired");
    }
}
