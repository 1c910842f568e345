//! Task notifications: each event of this node's log that changes a referral's Task becomes a
//! notification naming the Task, its request and its status as of that event — the id-only
//! pattern of FHIR Subscriptions, resumable by log position. The status is computed from the
//! history cut at the event, so a client catching up sees every step, not the latest state
//! repeated.

use samenspel_eventlog::StoredEvent;
use samenspel_fhir::full_url;
use serde_json::json;

use crate::bundle::instant;
use crate::error::Error;
use crate::history::{Histories, Timed};
use crate::inputs::{FollowUpIn, MatchingIn};
use crate::task;

/// Matching's note of a change written on another node (`Noticed`).
const NOTICED: &str = "matching.match.noticed";

/// The topic every notification is of.
pub const TOPIC: &str = "https://samenspel.nl/fhir/SubscriptionTopic/referral-task";

/// One change of a Task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub position: u64,
    pub task_id: String,
    pub request_id: String,
    pub status: String,
    pub business_status: String,
    pub at_micros: i64,
}

impl Notice {
    /// The notification as FHIR R4B writes it: a history Bundle holding a SubscriptionStatus
    /// whose event's focus is the Task.
    pub fn fhir(&self) -> serde_json::Value {
        let status_id = format!("task-{}-{}", self.task_id, self.position);
        json!({
            "resourceType": "Bundle",
            "type": "history",
            "timestamp": instant(self.at_micros),
            "entry": [{
                "fullUrl": full_url("SubscriptionStatus", &status_id),
                "resource": {
                    "resourceType": "SubscriptionStatus",
                    "id": status_id,
                    "status": "active",
                    "type": "event-notification",
                    "eventsSinceSubscriptionStart": self.position.to_string(),
                    "notificationEvent": [{
                        "eventNumber": self.position.to_string(),
                        "timestamp": instant(self.at_micros),
                        "focus": { "reference": full_url("Task", &self.task_id), "type": "Task" },
                    }],
                    "subscription": { "reference": "Subscription/referral-tasks" },
                    "topic": TOPIC,
                },
                "request": { "method": "GET", "url": "Subscription/referral-tasks/$status" },
                "response": { "status": "200" },
            }],
        })
    }
}

/// The match and request an event of this node's log concerns, when it changes a Task.
async fn concerns(histories: &Histories, event: &StoredEvent) -> Result<Option<(String, String)>, Error> {
    let h = &event.header;
    let Some(payload) = &event.payload else { return Ok(None) };
    if h.kind == NOTICED && h.causes.is_empty() {
        return Ok(None);
    }
    if h.kind.starts_with("matching.match.") || h.kind == "matching.answer.given" {
        let Ok(m) = serde_json::from_slice::<MatchingIn>(&payload.data) else { return Ok(None) };
        return Ok(m.ids().map(|(m, r)| (m.to_string(), r.to_string())));
    }
    if h.kind.starts_with("followup.") && h.stream.starts_with("followup/referral/") {
        let Ok(f) = serde_json::from_slice::<FollowUpIn>(&payload.data) else { return Ok(None) };
        let Some(match_id) = f.match_id() else { return Ok(None) };
        let request = match &f {
            FollowUpIn::CheckinsScheduled { request_id, .. } => Some(request_id.clone()),
            _ => histories.request_of_referral(match_id).await?,
        };
        return Ok(request.map(|r| (match_id.to_string(), r)));
    }
    Ok(None)
}

/// The notification an event of this node's log makes, if it changes a Task of a request taken
/// in here.
pub async fn notice_at(histories: &Histories, event: &StoredEvent) -> Result<Option<Notice>, Error> {
    let Some((match_id, request_id)) = concerns(histories, event).await? else { return Ok(None) };
    let Some((h, i)) = histories.of_match(&request_id, &match_id).await? else { return Ok(None) };
    let (seq, time) = (event.header.seq, event.header.time_micros);
    // A change written on another node and noticed here (the receipt, on the owner) is cut at
    // the event noticed, that node's steps by their position there.
    let noticed = (event.header.kind == NOTICED).then(|| event.header.causes.first()).flatten();
    let upto = |s: &Timed| match noticed {
        _ if s.own => s.seq <= seq,
        Some(cause) if cause.origin == s.origin => s.seq <= cause.seq,
        _ => s.at_micros <= time,
    };
    let steps: Vec<_> = h.matches[i].steps.iter().filter(|s| upto(s)).cloned().collect();
    if steps.is_empty() {
        return Ok(None);
    }
    let s = task::state(&steps);
    Ok(Some(Notice {
        position: seq,
        task_id: match_id,
        request_id,
        status: s.status.to_string(),
        business_status: s.business,
        at_micros: time,
    }))
}
