//! When the receiving organisation accepts a match, the follow-up schedules its check-ins from
//! the plan as it is then: each due on a Dutch calendar day counted from the acceptance, owned by
//! the referring organisation and the person who confirmed the match. The schedule is an event,
//! so it survives restarts and a later change of the plan does not move it; its event id is made
//! from the match id, so a replay schedules nothing twice.
//!
//! The same reaction takes in the observations the node hosting the receiving organisation sends
//! about this node's referrals — only from that node, and each once (its event id names the
//! origin and position it came from).

use std::sync::Arc;

use samenspel_domain::LocalDate;
use samenspel_eventlog::{
    Error as LogError, EventLog, ExpectedVersion, Feed, ProjectionReader, Reaction, StoredEvent, TaskHandle,
    start_reactor_of,
};

use crate::config::FollowUpConfig;
use crate::events::{self, FollowUpEvent, Scheduled};
use crate::model::ReferralState;
use crate::service::FollowUpService;
use crate::state::FollowUpState;

/// The name the position of the reaction is saved under.
const CURSOR: &str = "followup.reactions";

pub(crate) async fn start(
    log: Arc<dyn EventLog>,
    state: ProjectionReader<FollowUpState>,
    config: FollowUpConfig,
) -> Result<TaskHandle, LogError> {
    start_reactor_of(log.clone(), CURSOR, Arc::new(Schedule { log, state, config }), Feed::All).await
}

struct Schedule {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<FollowUpState>,
    config: FollowUpConfig,
}

#[derive(serde::Deserialize)]
struct AcceptedIn {
    match_id: String,
}

#[async_trait::async_trait]
impl Reaction for Schedule {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let own = h.origin == self.log.node_id();
        if !own && h.kind == events::OBSERVED {
            return self.take_in(event).await;
        }
        if !own || h.kind != "matching.match.accepted" {
            return Ok(());
        }
        let Some(accepted) = event.payload.as_ref().and_then(|p| serde_json::from_slice::<AcceptedIn>(&p.data).ok())
        else {
            return Ok(());
        };
        self.state.wait_for(h.seq).await?;
        let (event, version) = {
            let state = self.state.read();
            let Some(r) = state.referral(&accepted.match_id) else { return Ok(()) };
            if r.state != ReferralState::Active || !r.check_ins.is_empty() {
                return Ok(());
            }
            let day = LocalDate::of_micros(r.accepted_micros);
            let check_ins = self
                .config
                .plan
                .iter()
                .enumerate()
                .map(|(i, step)| Scheduled {
                    id: format!("{}-{}", r.id, i + 1),
                    step: step.step.clone(),
                    question: step.question.clone(),
                    due_micros: day.plus_days(i64::from(step.after_days)).start_micros(),
                })
                .collect();
            let event = FollowUpEvent::CheckinsScheduled {
                match_id: r.id.clone(),
                request_id: r.request_id.clone(),
                owner_organisation_id: FollowUpService::referring(&self.config, r),
                owner_person: r.confirmed_by.clone(),
                check_ins,
            };
            (event, state.stream_version(&r.id))
        };
        let new = FollowUpService::new_event(&event, ExpectedVersion::Exact(version)).with_id(format!(
            "{}/{}",
            event.kind(),
            event.match_id()
        ));
        let appended = self.log.append(vec![new]).await?;
        tracing::info!(match_id = %event.match_id(), "check-ins scheduled");
        self.state.wait_for(appended[0].seq).await
    }
}

impl Schedule {
    /// Takes in another node's observation of one of this node's referrals, when that node hosts
    /// the referral's offer and the observation says so; anything else is refused with a warning.
    async fn take_in(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        let Some(payload) = &event.payload else { return Ok(()) };
        let from = h.origin.to_hex();
        let Some(Ok(FollowUpEvent::ObservationRecorded { match_id, owner_node, observation })) =
            FollowUpEvent::decode(&h.kind, &payload.data)
        else {
            tracing::warn!(origin = %from, seq = h.seq, "observation refused: it does not decode");
            return Ok(());
        };
        self.state.wait_for_origin(h.origin, h.seq).await?;
        let own = self.log.node_id().to_hex();
        let refused = {
            let state = self.state.read();
            match state.referral(&match_id) {
                _ if owner_node != own => Some("it is for another node"),
                None => Some("no such referral here"),
                Some(r) if r.accepted_micros == 0 => Some("the referral was never accepted"),
                Some(r) if state.host_of(&r.offer_id) != Some(from.as_str()) => {
                    Some("its node does not host the referral's offer")
                }
                Some(r) if observation.node != from || observation.organisation_id != r.receiving_organisation_id => {
                    Some("it names another node or organisation than the receiving one")
                }
                Some(_) => None,
            }
        };
        if let Some(why) = refused {
            tracing::warn!(origin = %from, seq = h.seq, match_id = %match_id, why, "observation refused");
            return Ok(());
        }
        let received = FollowUpEvent::ObservationReceived { match_id, observation };
        let id = format!("{}/{from}/{}", events::OBSERVATION_RECEIVED, h.seq);
        let new = FollowUpService::new_event(&received, ExpectedVersion::Any).with_id(id);
        let appended = self.log.append(vec![new]).await?;
        tracing::info!(match_id = %received.match_id(), origin = %from, "observation received");
        self.state.wait_for(appended[0].seq).await
    }
}
