//! Matching's view of the world: organisations, offers and requests as read from other services'
//! events, and the matches it made itself.

use std::collections::BTreeSet;

use samenspel_domain::{CaregiverStrainIndex, Complexity, EdizPlus};
use serde::{Deserialize, Serialize};

/// Snapshots store the domain's complexity by name.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Complexity", rename_all = "snake_case")]
enum ComplexityDef {
    Low,
    Medium,
    High,
}

mod optional_complexity {
    use samenspel_domain::Complexity;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrap(#[serde(with = "super::ComplexityDef")] Complexity);

    pub(super) fn serialize<S: Serializer>(c: &Option<Complexity>, s: S) -> Result<S::Ok, S::Error> {
        c.map(Wrap).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Complexity>, D::Error> {
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

pub use samenspel_domain::{Slot, overlap_minutes, total_minutes};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    pub id: String,
    /// The node that hosts it (hex node id): its offers' capacity is claimed there.
    #[serde(default)]
    pub node: String,
    /// The directory's kind code, such as "vrijwilligersorganisatie".
    pub kind: String,
    pub formal: bool,
    /// The 4-digit area of its address, where it is based.
    pub area: Option<u16>,
    pub archived: bool,
}

/// Formal care, by the directory's kind code.
pub(crate) fn is_formal(kind: &str) -> bool {
    matches!(kind, "sociaal_wijkteam" | "thuiszorg" | "huisarts" | "ggz" | "gemeente" | "mantelzorgsteunpunt")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub id: String,
    pub organisation_id: String,
    pub title: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    /// Inclusive ranges of 4-digit postcode areas.
    pub ranges: Vec<(u16, u16)>,
    pub schedule: Vec<Slot>,
    pub languages: Vec<String>,
    pub capacity: u32,
    #[serde(with = "ComplexityDef")]
    pub max_complexity: Complexity,
    /// Whether it takes referrals now, as its organisation says.
    #[serde(default)]
    pub availability: Availability,
    /// For a waiting list: the expected wait in days.
    #[serde(default)]
    pub expected_wait_days: u32,
    pub archived: bool,
    /// The directory's version of the offer: a proposal is for one version.
    pub version: u64,
    /// The directory event that made the offer as it is (origin hex, seq, hash hex): a match of
    /// it on another node names that event as its cause, so every node applies the offer first.
    #[serde(default)]
    pub source: Option<(String, u64, String)>,
}

/// Whether an offer takes referrals now (the directory's `availability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// While it has room.
    #[default]
    Available,
    /// Onto a waiting list: proposed without room, with the wait in its explanation.
    Waitlist,
    /// Not now: never proposed.
    NoCapacity,
    /// After the organisation's own assessment: proposed as usual, and said so.
    AssessmentRequired,
}

impl Availability {
    /// From the directory's code; an unknown code counts as available (a tolerant reader).
    pub(crate) fn from_code(code: &str) -> Self {
        match code {
            "waitlist" => Self::Waitlist,
            "no_capacity" => Self::NoCapacity,
            "assessment_required" => Self::AssessmentRequired,
            _ => Self::Available,
        }
    }

    /// Whether it needs a free place to take a referral.
    pub fn needs_room(self) -> bool {
        matches!(self, Self::Available | Self::AssessmentRequired)
    }
}

impl Offer {
    /// The narrowest range that covers `area`, as its number of areas.
    pub fn covering_width(&self, area: u16) -> Option<u16> {
        self.ranges.iter().filter(|(a, b)| (*a..=*b).contains(&area)).map(|(a, b)| b - a + 1).min()
    }
}

/// A consent as matching needs it: who may see the request for matching, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub organisations: Vec<String>,
    pub kinds: Vec<String>,
    pub for_matching: bool,
    pub expires_micros: i64,
}

impl Consent {
    pub fn allows(&self, organisation: &Organisation, now_micros: i64) -> bool {
        self.for_matching
            && now_micros < self.expires_micros
            && (self.organisations.contains(&organisation.id) || self.kinds.contains(&organisation.kind))
    }
}

/// One mantelzorger's latest strain answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Strain {
    pub caregiver_subject_id: String,
    pub csi: Vec<bool>,
    pub ediz_plus: Option<Vec<bool>>,
}

impl Strain {
    fn heavy(&self) -> bool {
        CaregiverStrainIndex::new(&self.csi).is_ok_and(|c| c.high_strain())
            || self.ediz_plus.as_deref().is_some_and(|e| EdizPlus::new(e).is_ok_and(|e| e.overburdened()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    pub client_subject_id: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub area: u16,
    pub urgency: String,
    pub wanted: Vec<Slot>,
    pub languages: Vec<String>,
    #[serde(with = "optional_complexity")]
    pub assessed: Option<Complexity>,
    pub strain: Vec<Strain>,
    pub consent: Option<Consent>,
    pub consent_withdrawn: bool,
    /// The intake's lifecycle state: submitted, matching, matched, closed, withdrawn.
    pub intake_status: String,
    /// The intake's version of the request: a proposal is for one version.
    pub version: u64,
    /// Offers that declined it or let it expire; never proposed again for it.
    pub excluded: BTreeSet<String>,
    /// Organisations that helped this client before (accepted matches).
    pub helped_by: BTreeSet<String>,
}

impl Request {
    /// The intake's rule: the professional's assessment, raised to high by a strained mantelzorger.
    pub fn complexity(&self) -> Complexity {
        if self.strain.iter().any(Strain::heavy) { Complexity::High } else { self.assessed.unwrap_or(Complexity::Low) }
    }

    /// Taken in and not finished on the intake's side.
    pub fn intake_open(&self) -> bool {
        matches!(self.intake_status.as_str(), "submitted" | "matching")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchStatus {
    Offered,
    Accepted,
    Declined,
    Expired,
    /// The follow-up found the help not going well, or stopped.
    Failed,
    /// The help ended: referral closed, or the request closed or withdrawn.
    Ended,
}

impl MatchStatus {
    /// Holds a unit of the offers' capacity and keeps the request from being matched again.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Offered | Self::Accepted)
    }
}

/// One named part of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub name: String,
    pub value: f64,
    pub weight: f64,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub id: String,
    pub request_id: String,
    pub offer_id: String,
    pub organisation_id: String,
    pub support_offer_id: Option<String>,
    pub support_organisation_id: Option<String>,
    pub status: MatchStatus,
    /// "proposal" or "manual".
    pub how: String,
    pub reason: String,
    pub confirmed_by: String,
    pub score: f64,
    pub factors: Vec<Factor>,
    pub confirmed_micros: i64,
    pub answered_micros: i64,
    /// When it failed or ended; 0 before.
    #[serde(default)]
    pub ended_micros: i64,
    /// The node that owns it (hex): where its request was taken in and its lifecycle decided.
    #[serde(default)]
    pub owner: String,
    /// The nodes hosting its offers (hex), the owner's included when it hosts one.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The confirmation's position in the owner's log: an answer from another node names it as
    /// its cause.
    #[serde(default)]
    pub confirmed_at: Option<(String, u64, String)>,
    /// What a node hosting an offer may know of the request, when the request is not its own.
    #[serde(default)]
    pub summary: Option<Summary>,
    /// The answer this node sent to the owner, before the owner decided on it.
    #[serde(default)]
    pub answer_sent: Option<bool>,
    /// The client's contact details, on the nodes the owner shared them with after acceptance.
    #[serde(default)]
    pub contact: Option<Contact>,
    /// The client's pseudonymous id, as the confirmation names it (whose key seals its reason).
    #[serde(default)]
    pub client_subject: String,
    /// When the receiving organisation was first shown the match, on the node hosting it (the
    /// receipt); 0 before.
    #[serde(default)]
    pub received_micros: i64,
}

/// The consented minimal summary of a request: need areas, 4-digit area, urgency, wanted hours,
/// languages, complexity. No names, no contact details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub area: u16,
    pub urgency: String,
    pub wanted: Vec<Slot>,
    pub languages: Vec<String>,
    #[serde(with = "ComplexityDef")]
    pub complexity: Complexity,
}

impl Summary {
    pub fn of(r: &Request) -> Self {
        Summary {
            functions: r.functions.clone(),
            kinds: r.kinds.clone(),
            area: r.area,
            urgency: r.urgency.clone(),
            wanted: r.wanted.clone(),
            languages: r.languages.clone(),
            complexity: r.complexity(),
        }
    }
}

/// The client's contact details, shared only with the node of an accepted match partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The client's pseudonymous id: an erasure of it removes the rest.
    #[serde(default)]
    pub subject_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
}

impl Match {
    /// The offers it holds capacity of.
    pub fn offers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.offer_id.as_str()).chain(self.support_offer_id.as_deref())
    }

    /// Whether it is addressed to `organisation` (as lead or support).
    pub fn addressed_to(&self, organisation: &str) -> bool {
        self.organisation_id == organisation || self.support_organisation_id.as_deref() == Some(organisation)
    }
}
