//! The FHIR views: a request's Bundle, a referral's Task, and the notifications of Task changes,
//! all read from the log when asked (the service keeps no read model of its own).

use std::sync::Arc;

use samenspel_domain::Clock;
use samenspel_eventlog::{EventLog, SubscribeFrom, Subscription};

use crate::bundle::{self, Audience, Exported};
use crate::config::FhirConfig;
use crate::error::Error;
use crate::history::Histories;
use crate::notify::{self, Notice};

/// The FHIR views of one node.
#[derive(Debug, Clone)]
pub struct FhirService {
    histories: Histories,
    clock: Arc<dyn Clock>,
}

impl FhirService {
    pub fn new(log: Arc<dyn EventLog>, config: FhirConfig, clock: Arc<dyn Clock>) -> Self {
        Self { histories: Histories::new(log, config.max_stream_events), clock }
    }

    /// The Bundle of request `id` and its referrals for `audience`.
    pub async fn export(&self, id: &str, audience: Audience) -> Result<Exported, Error> {
        let h = self.histories.of(id).await?.ok_or_else(|| Error::RequestNotFound { id: id.into() })?;
        Ok(bundle::referral_bundle(&h, audience, self.clock.now_micros()))
    }

    /// The Task of match `match_id` of request `request_id`.
    pub async fn task(&self, request_id: &str, match_id: &str) -> Result<Exported, Error> {
        let (h, i) = self
            .histories
            .of_match(request_id, match_id)
            .await?
            .ok_or_else(|| Error::MatchNotFound { request_id: request_id.into(), match_id: match_id.into() })?;
        Ok(bundle::task_resource(&h, i, self.clock.now_micros()))
    }

    /// This node's log from `from_position` on, for notifications.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        let log = self.histories.log();
        Ok(log.subscribe(SubscribeFrom::origin(log.node_id(), from_position.max(1)))?)
    }

    /// The notification an event makes, if any.
    pub async fn notice_at(&self, event: &samenspel_eventlog::StoredEvent) -> Result<Option<Notice>, Error> {
        notify::notice_at(&self.histories, event).await
    }
}
