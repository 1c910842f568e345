//! Matching's own events: a coordinator's confirmation, the receiving organisation's answer, and
//! the claims on offers' capacity. A confirmation and its claims are appended together, each on
//! its own stream with the version it was decided on, so neither a request nor a unit of capacity
//! can be given out twice.

use serde::{Deserialize, Serialize};

use crate::model::Factor;

pub(crate) const CONFIRMED: &str = "matching.match.confirmed";
pub(crate) const ACCEPTED: &str = "matching.match.accepted";
pub(crate) const DECLINED: &str = "matching.match.declined";
pub(crate) const EXPIRED: &str = "matching.match.expired";
pub(crate) const FAILED: &str = "matching.match.failed";
pub(crate) const ENDED: &str = "matching.match.ended";
pub(crate) const CLAIMED: &str = "matching.offer.claimed";
pub(crate) const RELEASED: &str = "matching.offer.released";
const KINDS: [&str; 8] = [CONFIRMED, ACCEPTED, DECLINED, EXPIRED, FAILED, ENDED, CLAIMED, RELEASED];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum MatchingEvent {
    Confirmed {
        match_id: String,
        request_id: String,
        offer_id: String,
        organisation_id: String,
        support_offer_id: Option<String>,
        support_organisation_id: Option<String>,
        how: String,
        reason: String,
        confirmed_by: String,
        score: f64,
        factors: Vec<Factor>,
        /// When, by matching's clock (the header's time is the log's); 0 in events from before.
        #[serde(default)]
        at_micros: i64,
    },
    /// Names the offer too, so a reader of this event alone (the intake) knows the match.
    Accepted {
        match_id: String,
        request_id: String,
        offer_id: String,
        reason: String,
        #[serde(default)]
        at_micros: i64,
    },
    Declined {
        match_id: String,
        request_id: String,
        reason: String,
        #[serde(default)]
        at_micros: i64,
    },
    Expired {
        match_id: String,
        request_id: String,
        #[serde(default)]
        at_micros: i64,
    },
    /// The follow-up found that the help is not going well or has stopped: the request goes back
    /// to matching without the offer.
    Failed { match_id: String, request_id: String, offer_id: String, reason: String, at_micros: i64 },
    /// The help has ended: the follow-up closed the referral, or the request was closed or
    /// withdrawn. The places it held are free again.
    Ended { match_id: String, request_id: String, reason: String, at_micros: i64 },
    /// One unit of an offer's capacity is held by a match.
    Claimed { offer_id: String, match_id: String },
    /// The unit is free again: the match was declined or expired.
    Released { offer_id: String, match_id: String },
}

impl MatchingEvent {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Confirmed { .. } => CONFIRMED,
            Self::Accepted { .. } => ACCEPTED,
            Self::Declined { .. } => DECLINED,
            Self::Expired { .. } => EXPIRED,
            Self::Failed { .. } => FAILED,
            Self::Ended { .. } => ENDED,
            Self::Claimed { .. } => CLAIMED,
            Self::Released { .. } => RELEASED,
        }
    }

    pub(crate) fn stream(&self) -> String {
        match self {
            Self::Confirmed { request_id, .. }
            | Self::Accepted { request_id, .. }
            | Self::Declined { request_id, .. }
            | Self::Expired { request_id, .. }
            | Self::Failed { request_id, .. }
            | Self::Ended { request_id, .. } => request_stream(request_id),
            Self::Claimed { offer_id, .. } | Self::Released { offer_id, .. } => offer_stream(offer_id),
        }
    }

    /// The match the event is about.
    pub(crate) fn match_id(&self) -> &str {
        match self {
            Self::Confirmed { match_id, .. }
            | Self::Accepted { match_id, .. }
            | Self::Declined { match_id, .. }
            | Self::Expired { match_id, .. }
            | Self::Failed { match_id, .. }
            | Self::Ended { match_id, .. }
            | Self::Claimed { match_id, .. }
            | Self::Released { match_id, .. } => match_id,
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("matching events serialise")
    }

    pub(crate) fn decode(kind: &str, payload: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        KINDS.contains(&kind).then(|| serde_json::from_slice(payload))
    }
}

pub(crate) fn request_stream(request_id: &str) -> String {
    format!("matching/request/{request_id}")
}

pub(crate) fn offer_stream(offer_id: &str) -> String {
    format!("matching/offer/{offer_id}")
}
