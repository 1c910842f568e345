//! What the intake reads of other services' events: the fields of matching's and the
//! follow-up's events that move a request along (a tolerant reader: other fields are ignored).

use serde::Deserialize;

/// The kinds the intake answers.
pub(crate) const KINDS: [&str; 4] =
    ["matching.match.confirmed", "matching.match.accepted", "followup.referral.failed", "followup.referral.closed"];

/// The fields of matching's and the follow-up's events the intake needs.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Answered {
    Confirmed {
        match_id: String,
        request_id: String,
    },
    Accepted {
        match_id: String,
        request_id: String,
        offer_id: String,
        /// Other nodes hosting an offer of the match: they get the client's contact details.
        #[serde(default)]
        nodes: Vec<String>,
    },
    /// The follow-up found the help not going well, or stopped.
    ReferralFailed {
        match_id: String,
        request_id: String,
        outcome: String,
    },
    /// The follow-up closed the referral: the help is done.
    ReferralClosed {
        match_id: String,
        request_id: String,
        category: String,
        /// When, by the follow-up's clock.
        #[serde(default)]
        at_micros: i64,
    },
    #[serde(other)]
    Other,
}

impl Answered {
    /// The match and the request it is about.
    pub(crate) fn ids(&self) -> Option<(&str, &str)> {
        match self {
            Answered::Confirmed { match_id, request_id }
            | Answered::Accepted { match_id, request_id, .. }
            | Answered::ReferralFailed { match_id, request_id, .. }
            | Answered::ReferralClosed { match_id, request_id, .. } => Some((match_id, request_id)),
            Answered::Other => None,
        }
    }
}
