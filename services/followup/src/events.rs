//! The follow-up's own events, one stream per referral (`followup/referral/{match id}`), JSON
//! payloads kept on this node (audience local). Headers carry only the stream and the kind; notes
//! and names stay in payloads. The one exception: an observation of the receiving organisation
//! (`followup/observed/{match id}` on its node) goes to the node that owns the referral.

use samenspel_kit::ServiceEvent;
use serde::{Deserialize, Serialize};

use crate::model::{Answer, ClosureCategory, Observation, Outcome};

pub(crate) const SCHEDULED: &str = "followup.checkins.scheduled";
pub(crate) const DUE: &str = "followup.checkin.due";
pub(crate) const OVERDUE: &str = "followup.checkin.overdue";
pub(crate) const ESCALATED: &str = "followup.checkin.escalated";
pub(crate) const ANSWERED: &str = "followup.checkin.answered";
pub(crate) const FAILED: &str = "followup.referral.failed";
pub(crate) const CLOSED: &str = "followup.referral.closed";
pub(crate) const OBSERVED: &str = "followup.observation.recorded";
pub(crate) const OBSERVATION_RECEIVED: &str = "followup.observation.received";
const KINDS: &[&str] = &[SCHEDULED, DUE, OVERDUE, ESCALATED, ANSWERED, FAILED, CLOSED, OBSERVED, OBSERVATION_RECEIVED];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Scheduled {
    pub id: String,
    pub step: String,
    pub question: String,
    pub due_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FollowUpEvent {
    /// The check-ins of an accepted match, from the plan as it was then.
    CheckinsScheduled {
        match_id: String,
        request_id: String,
        owner_organisation_id: String,
        owner_person: String,
        check_ins: Vec<Scheduled>,
    },
    /// The sweeper's announcements: the check-in became due, overdue, escalated.
    CheckinDue {
        match_id: String,
        check_in_id: String,
    },
    CheckinOverdue {
        match_id: String,
        check_in_id: String,
    },
    CheckinEscalated {
        match_id: String,
        check_in_id: String,
    },
    CheckinAnswered {
        match_id: String,
        check_in_id: String,
        answer: Answer,
        /// Whose key seals the notes (`notes_subject`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes_subject: String,
    },
    /// An answer failed the referral; matching and the intake follow (re-match without the offer).
    ReferralFailed {
        match_id: String,
        request_id: String,
        offer_id: String,
        check_in_id: String,
        outcome: Outcome,
        at_micros: i64,
    },
    /// The referral ended with a category; the intake closes the request, matching frees the place.
    ReferralClosed {
        match_id: String,
        request_id: String,
        category: ClosureCategory,
        notes: String,
        closed_by: String,
        at_micros: i64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes_subject: String,
    },
    /// The receiving organisation's observation, on its own node; `owner_node` (hex) is the node
    /// that owns the referral, the only other node that gets the payload.
    ObservationRecorded {
        match_id: String,
        owner_node: String,
        observation: Observation,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes_subject: String,
    },
    /// The owner took in an observation another node recorded, after checking that node hosts
    /// the referral's offer: it gives the observation a place in the referral's own history.
    ObservationReceived {
        match_id: String,
        observation: Observation,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes_subject: String,
    },
}

impl ServiceEvent for FollowUpEvent {
    const KINDS: &'static [&'static str] = KINDS;

    fn kind(&self) -> &'static str {
        match self {
            Self::CheckinsScheduled { .. } => SCHEDULED,
            Self::CheckinDue { .. } => DUE,
            Self::CheckinOverdue { .. } => OVERDUE,
            Self::CheckinEscalated { .. } => ESCALATED,
            Self::CheckinAnswered { .. } => ANSWERED,
            Self::ReferralFailed { .. } => FAILED,
            Self::ReferralClosed { .. } => CLOSED,
            Self::ObservationRecorded { .. } => OBSERVED,
            Self::ObservationReceived { .. } => OBSERVATION_RECEIVED,
        }
    }

    fn stream(&self) -> String {
        match self {
            Self::ObservationRecorded { match_id, .. } => observed_stream(match_id),
            _ => stream(self.match_id()),
        }
    }

    /// Free text about the client — answers' and observations' notes, the closure's — under the
    /// key of `notes_subject`: the client's own on the node that took the request in, so erasing
    /// the client erases them with the rest; on a receiving node, a key of the referral's
    /// ([`received_notes_subject`]) that it destroys when the owner erases the client.
    fn personal(&self) -> Vec<(String, String)> {
        let (subject, at) = match self {
            Self::CheckinAnswered { notes_subject, .. } => (notes_subject, "/answer/notes"),
            Self::ReferralClosed { notes_subject, .. } => (notes_subject, "/notes"),
            Self::ObservationRecorded { notes_subject, .. } | Self::ObservationReceived { notes_subject, .. } => {
                (notes_subject, "/observation/notes")
            }
            _ => return Vec::new(),
        };
        vec![(subject.clone(), at.to_string())]
    }
}

/// The subject a receiving node seals its notes on another node's referral under: bound to the
/// owner and the match (ids only), so no other node's erasure can name it.
pub(crate) fn received_notes_subject(owner_node: &str, match_id: &str) -> String {
    format!("followup-{owner_node}-{match_id}")
}

impl FollowUpEvent {
    pub(crate) fn match_id(&self) -> &str {
        match self {
            Self::CheckinsScheduled { match_id, .. }
            | Self::CheckinDue { match_id, .. }
            | Self::CheckinOverdue { match_id, .. }
            | Self::CheckinEscalated { match_id, .. }
            | Self::CheckinAnswered { match_id, .. }
            | Self::ReferralFailed { match_id, .. }
            | Self::ReferralClosed { match_id, .. }
            | Self::ObservationRecorded { match_id, .. }
            | Self::ObservationReceived { match_id, .. } => match_id,
        }
    }
}

pub(crate) fn stream(match_id: &str) -> String {
    format!("followup/referral/{match_id}")
}

/// The receiving organisation's observations of one referral, on its node.
pub(crate) fn observed_stream(match_id: &str) -> String {
    format!("followup/observed/{match_id}")
}
