//! What the FHIR views read of other services' events: tolerant readers of the intake's,
//! matching's, the follow-up's and the directory's JSON payloads. Services share no code, only
//! the log; these read the fields a FHIR resource needs and ignore the rest.

use serde::Deserialize;

/// A person as the intake writes one; an erased value reads as empty.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PersonIn {
    pub subject_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
    /// "YYYY-MM-DD", or empty.
    pub birth_date: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct InvolvedIn {
    pub person: PersonIn,
    /// `mantelzorger`, `volunteer`, `professional`.
    pub role: String,
    /// `partner`, `help_seeker`, `personal_relation`, `expert`, for a mantelzorger.
    pub mantelzorger_role: Option<String>,
    pub organisation_id: String,
}

/// A request's fields as the intake writes them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FieldsIn {
    /// `client`, `mantelzorger`, `professional`.
    pub asked_by: String,
    pub asking_organisation_id: String,
    pub client: PersonIn,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub description: String,
    pub postcode: String,
    /// `low`, `normal`, `high`.
    pub urgency: String,
    pub languages: Vec<String>,
    pub involved: Vec<InvolvedIn>,
}

/// One organisation (`{"organisation": id}`) or every organisation of a kind
/// (`{"organisation_kind": code}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ScopeIn {
    Organisation(String),
    OrganisationKind(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConsentIn {
    pub scopes: Vec<ScopeIn>,
    /// `matching`, `follow_up`, `evaluation`.
    pub purposes: Vec<String>,
    /// The last day, `YYYY-MM-DD`.
    pub until: String,
    pub expires_micros: i64,
}

/// An identifier of the system a request came from (a FHIR Bundle's or ServiceRequest's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct IdentifierIn {
    #[serde(default)]
    pub system: String,
    pub value: String,
}

/// The intake's events (`intake.request.*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum IntakeIn {
    Submitted {
        fields: FieldsIn,
        #[serde(default)]
        consent: Option<ConsentIn>,
        #[serde(default)]
        source_identifiers: Vec<IdentifierIn>,
    },
    Amended {
        fields: FieldsIn,
    },
    ConsentChanged {
        consent: ConsentIn,
    },
    ConsentWithdrawn {},
    MatchingStarted {},
    Matched {},
    Reopened {},
    Closed {},
    Withdrawn {},
    #[serde(other)]
    Other,
}

/// Matching's events on a request's stream (`matching.*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum MatchingIn {
    Confirmed {
        match_id: String,
        request_id: String,
        offer_id: String,
        organisation_id: String,
        #[serde(default)]
        support_offer_id: Option<String>,
        #[serde(default)]
        support_organisation_id: Option<String>,
        #[serde(default)]
        reason: String,
    },
    Accepted {
        match_id: String,
        request_id: String,
    },
    Declined {
        match_id: String,
        request_id: String,
        #[serde(default)]
        reason: String,
    },
    Expired {
        match_id: String,
        request_id: String,
    },
    Failed {
        match_id: String,
        request_id: String,
        #[serde(default)]
        reason: String,
    },
    Ended {
        match_id: String,
        request_id: String,
        #[serde(default)]
        reason: String,
    },
    AnswerGiven {
        match_id: String,
        request_id: String,
        accept: bool,
    },
    /// The receipt, written on the node hosting the receiving organisation.
    Received {
        match_id: String,
        request_id: String,
    },
    /// A change written on another node, noticed in this node's log (its cause names it).
    Noticed {
        match_id: String,
        #[serde(default)]
        request_id: String,
    },
    #[serde(other)]
    Other,
}

impl MatchingIn {
    /// The match and request an event on a request's stream is about.
    pub(crate) fn ids(&self) -> Option<(&str, &str)> {
        match self {
            Self::Confirmed { match_id, request_id, .. }
            | Self::Accepted { match_id, request_id }
            | Self::Declined { match_id, request_id, .. }
            | Self::Expired { match_id, request_id }
            | Self::Failed { match_id, request_id, .. }
            | Self::Ended { match_id, request_id, .. }
            | Self::AnswerGiven { match_id, request_id, .. }
            | Self::Received { match_id, request_id } => Some((match_id, request_id)),
            Self::Noticed { match_id, request_id } if !request_id.is_empty() => Some((match_id, request_id)),
            Self::Noticed { .. } | Self::Other => None,
        }
    }
}

/// The follow-up's events on a referral's stream (`followup.*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FollowUpIn {
    CheckinsScheduled {
        match_id: String,
        request_id: String,
    },
    CheckinDue {
        match_id: String,
    },
    CheckinOverdue {
        match_id: String,
    },
    CheckinEscalated {
        match_id: String,
    },
    CheckinAnswered {
        match_id: String,
        answer: AnswerIn,
    },
    ReferralFailed {
        match_id: String,
    },
    ReferralClosed {
        match_id: String,
        /// `goal_reached`, `partly_reached`, `not_reached`, `no_longer_needed`, `other`.
        category: String,
    },
    #[serde(other)]
    Other,
}

impl FollowUpIn {
    pub(crate) fn match_id(&self) -> Option<&str> {
        match self {
            Self::CheckinsScheduled { match_id, .. }
            | Self::CheckinDue { match_id }
            | Self::CheckinOverdue { match_id }
            | Self::CheckinEscalated { match_id }
            | Self::CheckinAnswered { match_id, .. }
            | Self::ReferralFailed { match_id, .. }
            | Self::ReferralClosed { match_id, .. } => Some(match_id),
            Self::Other => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AnswerIn {
    /// `contact_made`, `no_contact_yet`, `going_well`, `not_going_well`, `stopped`.
    pub outcome: String,
}

/// The directory's organisation and offer events: names and the kind, nothing else.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum DirectoryIn {
    OrganisationCreated {
        fields: OrganisationIn,
    },
    OrganisationUpdated {
        fields: OrganisationIn,
    },
    OfferCreated {
        organisation_id: String,
        fields: OfferIn,
    },
    OfferUpdated {
        fields: OfferIn,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OrganisationIn {
    pub name: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OfferIn {
    pub title: String,
    pub kinds: Vec<String>,
    pub functions: Vec<String>,
}
