//! The follow-up's view: referrals (confirmed matches), their check-ins and answers, closures.

use serde::{Deserialize, Serialize};

/// An answer to a check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    ContactMade,
    NoContactYet,
    GoingWell,
    NotGoingWell,
    Stopped,
}

impl Outcome {
    /// The answer fails the referral: the request goes back to matching without the offer.
    pub fn fails(self) -> bool {
        matches!(self, Self::NotGoingWell | Self::Stopped)
    }

    /// The answer says helper and client have been in touch.
    pub fn reports_contact(self) -> bool {
        matches!(self, Self::ContactMade | Self::GoingWell | Self::NotGoingWell)
    }

    /// The answer says how the help goes.
    pub fn about_progress(self) -> bool {
        matches!(self, Self::GoingWell | Self::NotGoingWell | Self::Stopped)
    }
}

/// Who answered a check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Respondent {
    Client,
    Mantelzorger,
    Volunteer,
    Professional,
}

/// How a referral ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosureCategory {
    GoalReached,
    PartlyReached,
    NotReached,
    NoLongerNeeded,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub outcome: Outcome,
    pub answered_by: Respondent,
    pub notes: String,
    pub recorded_by: String,
    /// The day contact was first made, "YYYY-MM-DD", when the answer says.
    pub contact_on: Option<String>,
    pub recorded_micros: i64,
}

/// How many open check-ins are in each late state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCheckIns {
    pub due: u64,
    pub overdue: u64,
    pub escalated: u64,
}

impl OpenCheckIns {
    /// Each late state by name, with its count.
    pub fn by_state(&self) -> [(&'static str, u64); 3] {
        [("due", self.due), ("overdue", self.overdue), ("escalated", self.escalated)]
    }
}

/// Where a check-in stands. Upcoming, due, overdue and escalated follow from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckInState {
    Upcoming,
    Due,
    Overdue,
    Escalated,
    Answered,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckIn {
    pub id: String,
    pub match_id: String,
    pub request_id: String,
    pub step: String,
    pub question: String,
    pub due_micros: i64,
    pub owner_organisation_id: String,
    pub owner_person: String,
    pub receiving_organisation_id: String,
    pub answer: Option<Answer>,
    /// The referral failed or closed before this check-in was answered.
    pub cancelled: bool,
    /// How far the sweeper has announced it: 0 nothing, 1 due, 2 overdue, 3 escalated.
    pub announced: u8,
}

impl CheckIn {
    /// Its state at `now`, with the service's thresholds (hours after the due time).
    pub fn state(&self, now_micros: i64, overdue_after_hours: u64, escalate_after_hours: u64) -> CheckInState {
        if self.answer.is_some() {
            return CheckInState::Answered;
        }
        if self.cancelled {
            return CheckInState::Cancelled;
        }
        let hours = |h: u64| i64::try_from(h).unwrap_or(i64::MAX / 3_600_000_000).saturating_mul(3_600_000_000);
        let late = now_micros.saturating_sub(self.due_micros);
        if late < 0 {
            CheckInState::Upcoming
        } else if late >= hours(escalate_after_hours) {
            CheckInState::Escalated
        } else if late >= hours(overdue_after_hours) {
            CheckInState::Overdue
        } else {
            CheckInState::Due
        }
    }

    pub fn is_open(&self) -> bool {
        self.answer.is_none() && !self.cancelled
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    Offered,
    Active,
    Declined,
    Expired,
    Failed,
    Closed,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub category: ClosureCategory,
    pub notes: String,
    pub closed_by: String,
    pub closed_micros: i64,
}

/// What the receiving organisation saw of the help it gives, recorded on its own node and sent to
/// the node that owns the referral; the owner's check-ins stay the owner's to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// `{match id}/observation/{n}`, numbered on the node that recorded it.
    pub id: String,
    /// The receiving organisation, and the node it is hosted on (hex node id).
    pub organisation_id: String,
    pub node: String,
    pub outcome: Outcome,
    pub notes: String,
    pub recorded_by: String,
    /// The day contact was first made, "YYYY-MM-DD", when the observation says.
    pub contact_on: Option<String>,
    pub recorded_micros: i64,
}

/// A confirmed match, followed up by the organisation that referred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The match id.
    pub id: String,
    pub request_id: String,
    pub offer_id: String,
    /// The request's asking organisation ("" when it named none).
    pub referring_organisation_id: String,
    pub receiving_organisation_id: String,
    pub confirmed_by: String,
    pub state: ReferralState,
    pub confirmed_micros: i64,
    pub accepted_micros: i64,
    /// Its check-ins, in plan order (none before it is accepted).
    pub check_ins: Vec<String>,
    pub closure: Option<Closure>,
    pub failed_with: Option<Outcome>,
    /// The receiving organisation's observations, oldest first.
    #[serde(default)]
    pub observations: Vec<Observation>,
    /// The node that owns it (hex node id); empty for this node's own referrals. On the node of
    /// the receiving organisation a referral of another node shows no check-ins, and no
    /// referring organisation (that stays with the owner's intake).
    #[serde(default)]
    pub owner_node: String,
    /// When the receiving organisation was first shown it (matching's receipt); 0 before.
    #[serde(default)]
    pub received_micros: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_in_moves_from_upcoming_to_escalated_with_the_clock() {
        let hour = 3_600_000_000;
        let mut c = CheckIn {
            id: "c".into(),
            match_id: "m".into(),
            request_id: "r".into(),
            step: "contact".into(),
            question: "?".into(),
            due_micros: 100 * hour,
            owner_organisation_id: "o".into(),
            owner_person: "p".into(),
            receiving_organisation_id: "v".into(),
            answer: None,
            cancelled: false,
            announced: 0,
        };
        let at = |h: i64| c.state(h * hour, 48, 168);
        assert_eq!(
            [at(99), at(100), at(147), at(148), at(267), at(268)],
            [
                CheckInState::Upcoming,
                CheckInState::Due,
                CheckInState::Due,
                CheckInState::Overdue,
                CheckInState::Overdue,
                CheckInState::Escalated
            ]
        );
        c.cancelled = true;
        assert_eq!(c.state(0, 48, 168), CheckInState::Cancelled);
    }
}
