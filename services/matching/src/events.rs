//! Matching's own events: a coordinator's confirmation, the receiving organisation's answer, and
//! the claims on offers' capacity. A confirmation and its claims are appended together, each on
//! its own stream with the version it was decided on, so neither a request nor a unit of capacity
//! can be given out twice. The node that took a request in owns its matches; a unit of an offer's
//! capacity is claimed on the node that hosts the offer.

use samenspel_eventlog::Audience;
use samenspel_kit::ServiceEvent;
use serde::{Deserialize, Serialize};

use crate::model::{Factor, Summary};

pub(crate) const CONFIRMED: &str = "matching.match.confirmed";
pub(crate) const ACCEPTED: &str = "matching.match.accepted";
pub(crate) const DECLINED: &str = "matching.match.declined";
pub(crate) const EXPIRED: &str = "matching.match.expired";
pub(crate) const FAILED: &str = "matching.match.failed";
pub(crate) const ENDED: &str = "matching.match.ended";
pub(crate) const CLAIMED: &str = "matching.offer.claimed";
pub(crate) const RELEASED: &str = "matching.offer.released";
pub(crate) const ANSWER_GIVEN: &str = "matching.answer.given";
pub(crate) const NOTICED: &str = "matching.match.noticed";
pub(crate) const RECEIVED: &str = "matching.match.received";
const KINDS: &[&str] =
    &[CONFIRMED, ACCEPTED, DECLINED, EXPIRED, FAILED, ENDED, CLAIMED, RELEASED, ANSWER_GIVEN, NOTICED, RECEIVED];

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
        /// For an offer another node hosts: what that node may know of the request, the consented
        /// minimal summary (no names, no contact details).
        #[serde(default)]
        summary: Option<Box<Summary>>,
        /// The nodes hosting the match's offers (hex), so that a reader knows them without
        /// having applied the sociale kaart first; empty in events from before.
        #[serde(default)]
        hosts: Vec<String>,
        /// Whose key seals the reason (free text about the request): the client's, on the owner.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    /// Names the offer too, so a reader of this event alone (the intake) knows the match.
    Accepted {
        match_id: String,
        request_id: String,
        offer_id: String,
        reason: String,
        #[serde(default)]
        at_micros: i64,
        /// The other nodes hosting an offer of the match (hex node ids): the intake shares the
        /// client's contact details with them.
        #[serde(default)]
        nodes: Vec<String>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    Declined {
        match_id: String,
        request_id: String,
        reason: String,
        #[serde(default)]
        at_micros: i64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
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
    /// The receiving organisation's answer, given on its own node to a match another node owns;
    /// the owner decides on it (accepted or declined) in an event of its own.
    /// Its reason is sealed under the receiving node's own key about the client
    /// (`samenspel_kit::about`), which goes when the owner erases the client.
    AnswerGiven {
        match_id: String,
        request_id: String,
        accept: bool,
        reason: String,
        at_micros: i64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    /// A change to a match written on another node, noticed here: on a node hosting the match's
    /// offer, the owner's change (a position in this node's log for WatchMatches); on the owner,
    /// the hosting node's receipt (a position for the referrer's Task notifications).
    Noticed {
        match_id: String,
        kind: String,
        /// The request of the match; empty in events from before.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        request_id: String,
    },
    /// The receipt: the match was shown to its receiving organisation (a caller of that
    /// organisation read it), on the node that hosts it. Once per match and node; the owner is
    /// the only other node that gets it.
    Received { match_id: String, request_id: String, organisation_id: String, at_micros: i64 },
}

impl ServiceEvent for MatchingEvent {
    const KINDS: &'static [&'static str] = KINDS;

    fn kind(&self) -> &'static str {
        match self {
            Self::Confirmed { .. } => CONFIRMED,
            Self::Accepted { .. } => ACCEPTED,
            Self::Declined { .. } => DECLINED,
            Self::Expired { .. } => EXPIRED,
            Self::Failed { .. } => FAILED,
            Self::Ended { .. } => ENDED,
            Self::Claimed { .. } => CLAIMED,
            Self::Released { .. } => RELEASED,
            Self::AnswerGiven { .. } => ANSWER_GIVEN,
            Self::Noticed { .. } => NOTICED,
            Self::Received { .. } => RECEIVED,
        }
    }

    fn stream(&self) -> String {
        match self {
            Self::Confirmed { request_id, .. }
            | Self::Accepted { request_id, .. }
            | Self::Declined { request_id, .. }
            | Self::Expired { request_id, .. }
            | Self::Failed { request_id, .. }
            | Self::Ended { request_id, .. }
            | Self::AnswerGiven { request_id, .. } => request_stream(request_id),
            Self::Claimed { offer_id, .. } | Self::Released { offer_id, .. } => offer_stream(offer_id),
            Self::Noticed { match_id, .. } => format!("matching/noticed/{match_id}"),
            Self::Received { match_id, .. } => received_stream(match_id),
        }
    }

    /// A match's events stay here unless their writer names the nodes hosting its offers;
    /// claims and releases go to every node, since they say only how full an offer is and every
    /// node proposes it.
    fn audience(&self) -> Audience {
        match self {
            Self::Claimed { .. } | Self::Released { .. } => Audience::Federation,
            _ => Audience::Local,
        }
    }

    /// A reason is free text a person wrote about the request (why this offer, why not): sealed
    /// under `reason_subject`.
    fn personal(&self) -> Vec<(String, String)> {
        match self {
            Self::Confirmed { reason_subject, .. }
            | Self::Accepted { reason_subject, .. }
            | Self::Declined { reason_subject, .. }
            | Self::AnswerGiven { reason_subject, .. } => vec![(reason_subject.clone(), "/reason".into())],
            _ => Vec::new(),
        }
    }
}

impl MatchingEvent {
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
            | Self::Released { match_id, .. }
            | Self::AnswerGiven { match_id, .. }
            | Self::Noticed { match_id, .. }
            | Self::Received { match_id, .. } => match_id,
        }
    }
}

pub(crate) fn request_stream(request_id: &str) -> String {
    format!("matching/request/{request_id}")
}

/// A match's receipt on the node that hosts its organisation: a stream of its own, so the receipt
/// never competes with the owner's decisions on the request's stream.
pub(crate) fn received_stream(match_id: &str) -> String {
    format!("matching/received/{match_id}")
}

pub(crate) fn offer_stream(offer_id: &str) -> String {
    format!("matching/offer/{offer_id}")
}
