//! A referral's FHIR Task status from its steps: the SDOH Clinical Care IG's value set for
//! referral Tasks (draft, requested, accepted, rejected, cancelled, in-progress, on-hold, failed,
//! completed, entered-in-error; never `ready` or `received`), with the finer step as
//! `businessStatus`, why as `statusReason`, and the closure category as `output`. Pure: the
//! mapping table in ARCHITECTURE.md is this function.

use crate::history::{Step, Timed};

/// What a Task says of where its referral stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskState {
    /// A FHIR task-status code.
    pub status: &'static str,
    /// A code of `https://samenspel.nl/fhir/CodeSystem/referral-step`.
    pub business: String,
    /// A code of `…/task-status-reason` and the reason as written, for a Task that ended
    /// otherwise than completed.
    pub reason: Option<(&'static str, String)>,
    /// The closure category, for a completed Task.
    pub output: Option<String>,
}

fn is_final(status: &str) -> bool {
    matches!(status, "rejected" | "cancelled" | "failed" | "completed" | "entered-in-error")
}

/// The state after `steps`, in the order they were written.
pub(crate) fn state(steps: &[Timed]) -> TaskState {
    let mut s = TaskState { status: "draft", business: "draft".into(), reason: None, output: None };
    for Timed { step, .. } in steps {
        if is_final(s.status) {
            // Once ended, a Task stays ended: later sweeper notices change nothing.
            continue;
        }
        match step {
            Step::Confirmed => {
                s.status = "requested";
                s.business = "awaiting-answer".into();
            }
            Step::Received => {
                if s.status == "requested" {
                    s.business = "received".into();
                }
            }
            Step::AnswerGiven { accept } => {
                s.business = if *accept { "answered-yes" } else { "answered-no" }.into();
            }
            Step::Accepted => {
                s.status = "accepted";
                s.business = "accepted".into();
            }
            Step::Declined { reason } => {
                s.status = "rejected";
                s.business = "declined".into();
                s.reason = Some(("declined", reason.clone()));
            }
            Step::Expired => {
                s.status = "cancelled";
                s.business = "expired".into();
                s.reason = Some(("no-answer-in-time", String::new()));
            }
            Step::Failed { reason } => {
                s.status = "failed";
                s.business = "help-failed".into();
                s.reason = Some(("help-failed", reason.clone()));
            }
            Step::ReferralFailed => {
                s.status = "failed";
                s.business = "help-failed".into();
                s.reason = Some(("help-failed", String::new()));
            }
            Step::CheckinsScheduled => s.business = "follow-up-planned".into(),
            Step::CheckinDue => s.business = "check-in-due".into(),
            Step::CheckinOverdue => s.business = "check-in-overdue".into(),
            Step::CheckinEscalated => s.business = "check-in-escalated".into(),
            Step::CheckinAnswered { outcome } => {
                s.status = "in-progress";
                s.business = outcome.replace('_', "-");
            }
            Step::ReferralClosed { category } => {
                s.status = "completed";
                s.business = "closed".into();
                s.output = Some(category.clone());
            }
            Step::Ended { reason } => {
                s.status = "cancelled";
                s.business = "request-ended".into();
                s.reason = Some(("request-ended", reason.clone()));
            }
        }
    }
    s
}

/// The Task statuses the IG allows for a referral.
#[cfg(test)]
const STATUSES: [&str; 10] = [
    "draft",
    "requested",
    "accepted",
    "rejected",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
];

#[cfg(test)]
mod tests {
    use samenspel_eventlog::NodeId;

    use super::*;

    fn at(steps: &[Step]) -> TaskState {
        let timed: Vec<Timed> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| Timed {
                step: s.clone(),
                at_micros: i as i64,
                own: true,
                seq: i as u64 + 1,
                origin: NodeId([1; 32]),
            })
            .collect();
        state(&timed)
    }

    #[test]
    fn a_referral_goes_requested_accepted_in_progress_completed() {
        let mut steps = vec![Step::Confirmed];
        assert_eq!((at(&steps).status, at(&steps).business.as_str()), ("requested", "awaiting-answer"));
        steps.push(Step::Received);
        assert_eq!(
            (at(&steps).status, at(&steps).business.as_str()),
            ("requested", "received"),
            "the IG has no received status"
        );
        steps.push(Step::Accepted);
        assert_eq!(at(&steps).status, "accepted");
        steps.push(Step::CheckinsScheduled);
        steps.push(Step::CheckinDue);
        assert_eq!((at(&steps).status, at(&steps).business.as_str()), ("accepted", "check-in-due"));
        steps.push(Step::CheckinAnswered { outcome: "going_well".into() });
        assert_eq!((at(&steps).status, at(&steps).business.as_str()), ("in-progress", "going-well"));
        steps.push(Step::ReferralClosed { category: "goal_reached".into() });
        steps.push(Step::Ended { reason: "referral closed".into() });
        steps.push(Step::CheckinOverdue);
        let done = at(&steps);
        assert_eq!((done.status, done.output.as_deref(), done.reason), ("completed", Some("goal_reached"), None));
    }

    #[test]
    fn a_referral_that_ends_otherwise_says_why() {
        let declined =
            at(&[Step::Confirmed, Step::AnswerGiven { accept: false }, Step::Declined { reason: "vol".into() }]);
        assert_eq!((declined.status, declined.reason), ("rejected", Some(("declined", "vol".into()))));
        assert_eq!(at(&[Step::Confirmed, Step::Expired]).status, "cancelled");
        assert_eq!(at(&[Step::Confirmed, Step::Accepted, Step::Failed { reason: "x".into() }]).status, "failed");
        let ended = at(&[Step::Confirmed, Step::Accepted, Step::Ended { reason: "withdrawn".into() }]);
        assert_eq!((ended.status, ended.business.as_str()), ("cancelled", "request-ended"));
        for steps in [&[][..], &[Step::Confirmed], &[Step::Confirmed, Step::Accepted, Step::ReferralFailed]] {
            assert!(STATUSES.contains(&at(steps).status));
        }
    }
}
