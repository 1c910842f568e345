//! Offers: what an organisation does, for whom, where and when; and their validation.

use samenspel_domain::{Complexity, Postcode4, PostcodeRange, SupportFunction, SupportKind, Weekday};
use samenspel_eventlog::FieldViolation;
use serde::{Deserialize, Serialize};

use crate::model::{MAX_DESCRIPTION, MAX_NAME, MAX_TEXT, Slot, weekly_slots};

/// Most codes (support functions, kinds, target groups, languages) an offer lists.
const MAX_CODES: usize = 20;
/// Most postcode ranges of an offer's area.
const MAX_RANGES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetGroup {
    Client,
    Mantelzorger,
    YoungCarer,
}

/// The heaviest request an offer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxComplexity {
    Low,
    Medium,
    High,
}

impl From<MaxComplexity> for Complexity {
    fn from(c: MaxComplexity) -> Self {
        match c {
            MaxComplexity::Low => Complexity::Low,
            MaxComplexity::Medium => Complexity::Medium,
            MaxComplexity::High => Complexity::High,
        }
    }
}

/// Whether an offer takes referrals now, as its organisation says (HSDS 3.1 `service_capacity`
/// with samenspel's `samenspel:availability` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// It takes referrals while it has free places.
    #[default]
    Available,
    /// It takes referrals onto a waiting list: help starts after the expected wait.
    Waitlist,
    /// It takes no referrals now.
    NoCapacity,
    /// It takes referrals after an assessment of its own (an intake interview, a visit).
    AssessmentRequired,
}

impl Availability {
    pub const ALL: [Availability; 4] =
        [Availability::Available, Availability::Waitlist, Availability::NoCapacity, Availability::AssessmentRequired];

    pub fn code(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Waitlist => "waitlist",
            Availability::NoCapacity => "no_capacity",
            Availability::AssessmentRequired => "assessment_required",
        }
    }
}

/// The longest expected wait a waiting list may name, in days.
pub const MAX_WAIT_DAYS: u32 = 730;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceArea {
    /// Inclusive ranges of 4-digit postcode areas.
    pub ranges: Vec<(u16, u16)>,
    pub municipality: String,
    pub wijk: String,
}

impl ServiceArea {
    /// The narrowest range that covers `area`, as its number of postcode areas.
    pub fn covering_width(&self, area: u16) -> Option<u16> {
        self.ranges.iter().filter(|(a, b)| (*a..=*b).contains(&area)).map(|(a, b)| b - a + 1).min()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferFields {
    pub title: String,
    pub description: String,
    /// Codes of support functions, including those implied by the kinds; sorted, unique.
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub for_whom: Vec<TargetGroup>,
    pub area: ServiceArea,
    pub schedule: Vec<Slot>,
    pub languages: Vec<String>,
    pub capacity: u32,
    pub max_complexity: MaxComplexity,
    pub cost: String,
    /// Whether it takes referrals now; available in offers from before.
    #[serde(default)]
    pub availability: Availability,
    /// For a waiting list: the expected wait in days; 0 otherwise.
    #[serde(default)]
    pub expected_wait_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: String,
    pub organisation_id: String,
    pub fields: OfferFields,
    pub formal: bool,
    pub version: u64,
    pub archived: bool,
    pub created_micros: i64,
    pub updated_micros: i64,
    /// Places held by open matches (matching's claims, from the node hosting the offer).
    #[serde(default)]
    pub taken: u32,
}

impl Offer {
    /// The places it can still give out: none when it takes no referrals now or only onto a
    /// waiting list.
    pub fn free_places(&self) -> u32 {
        match self.fields.availability {
            Availability::Available | Availability::AssessmentRequired => {
                self.fields.capacity.saturating_sub(self.taken)
            }
            Availability::Waitlist | Availability::NoCapacity => 0,
        }
    }
}

/// An offer's fields as received.
#[derive(Debug, Clone)]
pub struct RawOffer {
    pub title: String,
    pub description: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    /// `None` for a value the protocol does not know.
    pub for_whom: Vec<Option<TargetGroup>>,
    pub ranges: Vec<String>,
    pub municipality: String,
    pub wijk: String,
    pub schedule: Vec<(Option<Weekday>, String, String)>,
    pub languages: Vec<String>,
    pub capacity: u32,
    pub max_complexity: Option<MaxComplexity>,
    pub cost: String,
    /// `None` for a value the protocol does not know.
    pub availability: Option<Availability>,
    pub expected_wait_days: u32,
}

impl Default for RawOffer {
    fn default() -> Self {
        Self {
            title: String::new(),
            description: String::new(),
            functions: Vec::new(),
            kinds: Vec::new(),
            for_whom: Vec::new(),
            ranges: Vec::new(),
            municipality: String::new(),
            wijk: String::new(),
            schedule: Vec::new(),
            languages: Vec::new(),
            capacity: 0,
            max_complexity: None,
            cost: String::new(),
            availability: Some(Availability::Available),
            expected_wait_days: 0,
        }
    }
}

/// An ISO 639-1 language code: two lowercase letters.
pub(crate) fn is_language(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase())
}

impl RawOffer {
    pub fn validate(self, at: &str, violations: &mut Vec<FieldViolation>) -> Option<OfferFields> {
        let before = violations.len();
        let mut bad = |field: String, why: String| violations.push(FieldViolation::new(format!("{at}.{field}"), why));
        let title = self.title.trim().to_string();
        if title.is_empty() || title.chars().count() > MAX_NAME {
            bad("title".into(), format!("must be 1 to {MAX_NAME} characters"));
        }
        for (field, len, max) in [
            ("support_functions", self.functions.len(), MAX_CODES),
            ("support_kinds", self.kinds.len(), MAX_CODES),
            ("for_whom", self.for_whom.len(), MAX_CODES),
            ("area.postcode_ranges", self.ranges.len(), MAX_RANGES),
            ("schedule", self.schedule.len(), crate::model::MAX_SLOTS),
            ("languages", self.languages.len(), MAX_CODES),
        ] {
            if len > max {
                bad(field.into(), format!("at most {max} items, got {len}"));
            }
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            bad("description".into(), format!("must be at most {MAX_DESCRIPTION} characters"));
        }
        let mut functions = Vec::new();
        for (i, code) in self.functions.iter().enumerate() {
            match code.parse::<SupportFunction>() {
                Ok(f) => functions.push(f),
                Err(e) => bad(format!("support_functions[{i}]"), e.to_string()),
            }
        }
        let mut kinds = Vec::new();
        for (i, code) in self.kinds.iter().enumerate() {
            match code.parse::<SupportKind>() {
                Ok(k) => {
                    functions.push(k.function());
                    kinds.push(k);
                }
                Err(e) => bad(format!("support_kinds[{i}]"), e.to_string()),
            }
        }
        if self.functions.is_empty() && self.kinds.is_empty() {
            bad("support_functions".into(), "name at least one support function or kind".into());
        }
        functions.sort();
        functions.dedup();
        kinds.sort();
        kinds.dedup();
        let mut for_whom = Vec::new();
        for (i, g) in self.for_whom.iter().enumerate() {
            match g {
                Some(g) => for_whom.push(*g),
                None => bad(format!("for_whom[{i}]"), "unknown target group".into()),
            }
        }
        for_whom.sort();
        for_whom.dedup();
        let mut ranges = Vec::new();
        for (i, r) in self.ranges.iter().enumerate() {
            match r.parse::<PostcodeRange>() {
                Ok(r) => ranges.push((r.from.get(), r.to.get())),
                Err(e) => bad(format!("area.postcode_ranges[{i}]"), e.to_string()),
            }
        }
        if self.ranges.is_empty() {
            bad("area.postcode_ranges".into(), "name at least one postcode area or range".into());
        }
        for (field, value) in
            [("area.municipality", &self.municipality), ("area.wijk", &self.wijk), ("cost", &self.cost)]
        {
            if value.chars().count() > MAX_TEXT {
                bad(field.into(), format!("must be at most {MAX_TEXT} characters"));
            }
        }
        let schedule = weekly_slots(self.schedule, &format!("{at}.schedule"), violations);
        let mut bad = |field: String, why: String| violations.push(FieldViolation::new(format!("{at}.{field}"), why));
        let mut languages: Vec<String> = Vec::new();
        for (i, l) in self.languages.iter().enumerate() {
            let code = l.trim().to_ascii_lowercase();
            if is_language(&code) {
                languages.push(code);
            } else {
                bad(
                    format!("languages[{i}]"),
                    format!("{} is not an ISO 639-1 code such as \"nl\"", samenspel_kit::shown(l)),
                );
            }
        }
        languages.sort();
        languages.dedup();
        if self.max_complexity.is_none() {
            bad("max_complexity".into(), "must be set".into());
        }
        match self.availability {
            None => bad("availability".into(), "unknown availability".into()),
            Some(Availability::Waitlist) if !(1..=MAX_WAIT_DAYS).contains(&self.expected_wait_days) => bad(
                "expected_wait_days".into(),
                format!("a waiting list names its expected wait: 1 to {MAX_WAIT_DAYS} days"),
            ),
            Some(a) if a != Availability::Waitlist && self.expected_wait_days != 0 => {
                bad("expected_wait_days".into(), "only a waiting list has an expected wait".into())
            }
            _ => {}
        }
        if violations.len() > before {
            return None;
        }
        Some(OfferFields {
            title,
            description: self.description,
            functions: functions.iter().map(|f| f.code().to_string()).collect(),
            kinds: kinds.iter().map(|k| k.code().to_string()).collect(),
            for_whom,
            area: ServiceArea { ranges, municipality: self.municipality.trim().into(), wijk: self.wijk.trim().into() },
            schedule: schedule?,
            languages,
            capacity: self.capacity,
            max_complexity: self.max_complexity?,
            cost: self.cost.trim().into(),
            availability: self.availability?,
            expected_wait_days: self.expected_wait_days,
        })
    }
}

/// Where a search asks for help: a full postcode or a 4-digit area.
pub(crate) fn parse_area(text: &str) -> Result<u16, String> {
    let text = text.trim();
    if text.len() == 4 {
        return text.parse::<Postcode4>().map(Postcode4::get).map_err(|e| e.to_string());
    }
    text.parse::<samenspel_domain::Postcode>().map(|p| p.area().get()).map_err(|e| e.to_string())
}
