//! What the follow-up reads of other services' events: tolerant readers of matching's, the
//! intake's and the directory's JSON payloads. Services share no code, only the log; these read
//! the fields the follow-up needs and ignore the rest.

use serde::Deserialize;

fn zero() -> i64 {
    0
}

/// Matching's events (`matching.*`). Times are matching's clock; 0 in events from before it
/// stamped them (then the header's time counts).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum MatchingIn {
    Confirmed {
        match_id: String,
        request_id: String,
        offer_id: String,
        organisation_id: String,
        #[serde(default)]
        confirmed_by: String,
        #[serde(default = "zero")]
        at_micros: i64,
    },
    Accepted {
        match_id: String,
        #[serde(default = "zero")]
        at_micros: i64,
    },
    Declined {
        match_id: String,
    },
    Expired {
        match_id: String,
    },
    Failed {
        match_id: String,
    },
    Ended {
        match_id: String,
    },
    Claimed {
        offer_id: String,
    },
    /// The receipt: the receiving organisation was shown the match on the node hosting it.
    Received {
        match_id: String,
        #[serde(default = "zero")]
        at_micros: i64,
    },
    Released {
        offer_id: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RequestFieldsIn {
    #[serde(default)]
    pub asking_organisation_id: String,
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub client: PersonIn,
}

/// A person as the intake names them: only the pseudonymous id is read.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PersonIn {
    #[serde(default)]
    pub subject_id: String,
}

/// The intake's events (`intake.request.*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum IntakeIn {
    Submitted {
        id: String,
        fields: RequestFieldsIn,
    },
    Amended {
        id: String,
        fields: RequestFieldsIn,
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
    /// The owner shares the client's contact details with the node of an accepted match partner:
    /// there, the referral's client is known by its pseudonymous id from then on.
    ContactShared {
        match_id: String,
        client: PersonIn,
    },
    #[serde(other)]
    Other,
}

/// The privacy service's event of a subject's erasure, by the node that took its data in.
pub(crate) const ERASED: &str = "privacy.subject.erased";

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErasedIn {
    pub subject_id: String,
    /// The node that erased (hex): only the subject's owner erases it.
    pub owner: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct AreaIn {
    #[serde(default)]
    pub ranges: Vec<(u16, u16)>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OfferFieldsIn {
    #[serde(default)]
    pub functions: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub area: AreaIn,
    #[serde(default)]
    pub capacity: u32,
}

/// The directory's events (`directory.*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum DirectoryIn {
    /// Names its host (the node that wrote it) for the host rule.
    OrganisationCreated {
        id: String,
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

pub(crate) enum Input {
    Matching(MatchingIn),
    Intake(IntakeIn),
    Directory(DirectoryIn),
    Erased(ErasedIn),
}

impl Input {
    /// Decodes a payload of another service by its kind's prefix; `None` for kinds it ignores.
    pub(crate) fn decode(kind: &str, payload: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        if kind.starts_with("matching.") {
            Some(samenspel_kit::from_payload(payload).map(Input::Matching))
        } else if kind.starts_with("intake.request.") {
            Some(samenspel_kit::from_payload(payload).map(Input::Intake))
        } else if kind.starts_with("directory.") {
            Some(samenspel_kit::from_payload(payload).map(Input::Directory))
        } else if kind == ERASED {
            Some(samenspel_kit::from_payload(payload).map(Input::Erased))
        } else {
            None
        }
    }
}
