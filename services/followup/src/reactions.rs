//! When the receiving organisation accepts a match, the follow-up schedules its check-ins from
//! the plan as it is then: each due on a Dutch calendar day counted from the acceptance, owned by
//! the referring organisation and the person who confirmed the match. The schedule is an event,
//! so it survives restarts and a later change of the plan does not move it; its event id is made
//! from the match id, so a replay schedules nothing twice.

use std::sync::Arc;

use samenspel_domain::LocalDate;
use samenspel_eventlog::{
    Error as LogError, EventLog, ExpectedVersion, ProjectionReader, Reaction, ReactorHandle, StoredEvent, start_reactor,
};

use crate::config::FollowUpConfig;
use crate::events::{FollowUpEvent, Scheduled};
use crate::model::ReferralState;
use crate::service::FollowUpService;
use crate::state::FollowUpState;

/// The name the position of the reaction is saved under.
const CURSOR: &str = "followup.reactions";

pub(crate) async fn start(
    log: Arc<dyn EventLog>,
    state: ProjectionReader<FollowUpState>,
    config: FollowUpConfig,
) -> Result<ReactorHandle, LogError> {
    start_reactor(log.clone(), CURSOR, Arc::new(Schedule { log, state, config })).await
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
        if h.kind != "matching.match.accepted" {
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
