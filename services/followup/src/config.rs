//! Settings of the FollowUp service, with defaults.

use serde::{Deserialize, Serialize};

/// One check-in of the plan: how many days after the match was accepted it is due (on that Dutch
/// calendar day), a code for it, and the question the referrer asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    pub after_days: u32,
    pub step: String,
    pub question: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollowUpConfig {
    /// The check-ins scheduled for every accepted match, in order of `after_days`.
    pub plan: Vec<PlanStep>,
    /// A check-in unanswered this long after it became due is overdue.
    pub overdue_after_hours: u64,
    /// A check-in unanswered this long after it became due is escalated (an event, and a notice
    /// on the organisation's stream).
    pub escalate_after_hours: u64,
    /// A referral its receiving organisation has not been shown this long after it was made is
    /// flagged on the referring organisation's due list (`ListDue.not_received`).
    pub not_received_after_hours: u64,
    /// How often due, overdue and escalated check-ins are looked for.
    pub sweep_interval_millis: u64,
    /// The organisation that referred when a request names no asking organisation: the node's
    /// own (empty: unknown).
    pub home_organisation_id: String,
    /// Check-ins per page when a request does not say, and the most one page returns.
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Events applied between two snapshots of the read model.
    pub snapshot_every: u64,
}

impl Default for FollowUpConfig {
    fn default() -> Self {
        let step = |after_days, step: &str, question: &str| PlanStep {
            after_days,
            step: step.into(),
            question: question.into(),
        };
        Self {
            plan: vec![
                step(3, "contact", "Has there been contact between the helper and the client?"),
                step(14, "going_well", "Is it going well?"),
                step(42, "evaluation", "Evaluation: did the help do what was asked, and does it go on?"),
            ],
            overdue_after_hours: 48,
            escalate_after_hours: 168,
            not_received_after_hours: 24,
            sweep_interval_millis: 60_000,
            home_organisation_id: String::new(),
            default_page_size: 50,
            max_page_size: 500,
            snapshot_every: 1000,
        }
    }
}

impl FollowUpConfig {
    /// Why the settings cannot work, if they cannot.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.plan.is_empty() {
            out.push("followup.plan needs at least one check-in".to_string());
        }
        for (i, s) in self.plan.iter().enumerate() {
            if s.step.trim().is_empty() || s.question.trim().is_empty() {
                out.push(format!("followup.plan[{i}] needs a step code and a question"));
            }
            if self.plan[..i].iter().any(|p| p.step == s.step) {
                out.push(format!("followup.plan[{i}]: step {:?} comes twice", s.step));
            }
            if i > 0 && s.after_days < self.plan[i - 1].after_days {
                out.push(format!("followup.plan[{i}] is due before the check-in before it"));
            }
        }
        if self.escalate_after_hours < self.overdue_after_hours {
            out.push("followup.escalate_after_hours must not be less than overdue_after_hours".to_string());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_is_day_3_14_and_42_and_bad_plans_are_named() {
        let c = FollowUpConfig::default();
        assert!(c.problems().is_empty());
        assert_eq!(c.plan.iter().map(|s| s.after_days).collect::<Vec<_>>(), [3, 14, 42]);
        let mut bad = c.clone();
        bad.plan.swap(0, 1);
        bad.plan[1].step = "going_well".into();
        bad.escalate_after_hours = 1;
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
    }
}
