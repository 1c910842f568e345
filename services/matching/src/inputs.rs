//! What matching reads of other services' events: tolerant readers of the directory's and the
//! intake's JSON payloads. Services share no code, only the log; these read the fields matching
//! needs and ignore the rest, so a producer may add fields without breaking matching.

use serde::Deserialize;

/// A time slot as the producers store it (the domain's stored form).
pub(crate) use samenspel_domain::Slot as SlotIn;

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AddressIn {
    #[serde(default)]
    pub postcode: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OrganisationFieldsIn {
    pub kind: String,
    #[serde(default)]
    pub address: Option<AddressIn>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AreaIn {
    #[serde(default)]
    pub ranges: Vec<(u16, u16)>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OfferFieldsIn {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub area: AreaIn,
    #[serde(default)]
    pub schedule: Vec<SlotIn>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub capacity: u32,
    pub max_complexity: String,
    /// `available` (also when absent), `waitlist`, `no_capacity`, `assessment_required`.
    #[serde(default)]
    pub availability: String,
    #[serde(default)]
    pub expected_wait_days: u32,
}

/// The directory's events matching cares about (`directory.*` kinds).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum DirectoryIn {
    OrganisationCreated {
        id: String,
        fields: OrganisationFieldsIn,
    },
    OrganisationUpdated {
        id: String,
        fields: OrganisationFieldsIn,
    },
    OrganisationArchived {
        id: String,
    },
    OfferCreated {
        id: String,
        organisation_id: String,
        fields: OfferFieldsIn,
    },
    OfferUpdated {
        id: String,
        fields: OfferFieldsIn,
    },
    OfferArchived {
        id: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PersonIn {
    #[serde(default)]
    pub subject_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RequestFieldsIn {
    #[serde(default)]
    pub client: PersonIn,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub wanted_schedule: Vec<SlotIn>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub assessed_complexity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScopeIn {
    Organisation(String),
    OrganisationKind(String),
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConsentIn {
    pub scopes: Vec<ScopeIn>,
    pub purposes: Vec<String>,
    pub expires_micros: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StrainIn {
    pub caregiver_subject_id: String,
    pub csi: Vec<bool>,
    #[serde(default)]
    pub ediz_plus: Option<Vec<bool>>,
}

/// The intake's events matching cares about (`intake.request.*` kinds).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum IntakeIn {
    Submitted {
        id: String,
        fields: RequestFieldsIn,
        #[serde(default)]
        consent: Option<ConsentIn>,
        #[serde(default)]
        strain: Vec<StrainIn>,
    },
    Amended {
        id: String,
        fields: RequestFieldsIn,
    },
    StrainRecorded {
        id: String,
        strain: StrainIn,
    },
    ConsentChanged {
        id: String,
        consent: ConsentIn,
    },
    ConsentWithdrawn {
        id: String,
    },
    MatchingStarted {
        id: String,
    },
    Matched {
        id: String,
    },
    Reopened {
        id: String,
    },
    Closed {
        id: String,
    },
    Withdrawn {
        id: String,
    },
    /// The owner shares the client's contact details with the node of an accepted match partner.
    ContactShared {
        match_id: String,
        client: ContactIn,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ContactIn {
    /// The client's pseudonymous id (whose key seals the rest).
    #[serde(default)]
    pub subject_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
}

/// The privacy service's event of a subject's erasure (`privacy.subject.erased`).
pub(crate) const ERASED: &str = "privacy.subject.erased";

/// A subject's erasure, by the node that took its data in.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErasedIn {
    pub subject_id: String,
}

/// Decodes a payload of another service by its kind's prefix; `None` for kinds matching ignores.
pub(crate) enum Input {
    Directory(DirectoryIn),
    Intake(IntakeIn),
}

impl Input {
    pub(crate) fn decode(kind: &str, payload: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        if kind.starts_with("directory.") {
            Some(samenspel_kit::from_payload(payload).map(Input::Directory))
        } else if kind.starts_with("intake.request.") {
            Some(samenspel_kit::from_payload(payload).map(Input::Intake))
        } else {
            None
        }
    }
}

/// The kinds of the follow-up's and the intake's events that end a match.
pub(crate) const ENDING: [&str; 4] =
    ["followup.referral.failed", "followup.referral.closed", "intake.request.closed", "intake.request.withdrawn"];

/// The fields of the follow-up's and the intake's events that end a match.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Ended {
    ReferralFailed {
        match_id: String,
        outcome: String,
    },
    ReferralClosed {
        match_id: String,
        category: String,
    },
    #[serde(rename = "closed")]
    RequestClosed {
        id: String,
    },
    #[serde(rename = "withdrawn")]
    RequestWithdrawn {
        id: String,
    },
}
