//! The access log (NEN 7513): a record of every call that handed out personal data, or was
//! refused it — who (credential, organisation, role, the user named in the call), which subjects
//! (pseudonymous ids, never names), which RPC and what kind of data, for what purpose, the
//! outcome, when and from where. Records are events on the node's own log (audience local), one
//! stream per Dutch calendar day, so they are as durable and tamper-evident as the data; an answer
//! leaves the node only after its record is durable. They hold no personal data themselves, so
//! they outlive a subject's erasure.

use std::sync::Arc;

use samenspel_domain::{Clock, LocalDate};
use samenspel_eventlog::{Audience, Error as LogError, EventLog, NewEvent, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, DataKind, Role};

/// The kind of an access record's event.
pub const ACCESS_RECORDED: &str = "access.recorded";

/// The stream of a day's access records.
pub fn access_stream(day: LocalDate) -> String {
    format!("access/{day}")
}

/// Allowed, or refused and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Allowed,
    Denied { reason: String },
}

/// One call that handed out personal data, or was refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// When, by the node's clock.
    pub at_micros: i64,
    pub credential: String,
    /// The organisation the caller acts for (on whose behalf); none for the admin or auditor.
    pub organisation: Option<String>,
    pub role: Role,
    /// The user the call named.
    pub user: String,
    /// `/samenspel.v1.Intake/GetHelpRequest`.
    pub rpc: String,
    pub data: DataKind,
    /// Pseudonymous subject ids (a person's subject id, or `request/{id}` where no person is
    /// named): never a name.
    pub subjects: Vec<String>,
    pub purpose: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The network address the call came from.
    pub peer: Option<String>,
}

impl AccessRecord {
    /// The record an event holds, if it is one.
    pub fn of(event: &StoredEvent) -> Option<AccessRecord> {
        if event.header.kind != ACCESS_RECORDED {
            return None;
        }
        serde_json::from_slice(&event.payload.as_ref()?.data).ok()
    }
}

/// Writes access records to the node's log.
#[derive(Debug, Clone)]
pub struct AccessLog {
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    /// Records made durable through this log and its clones: allowed, denied (for metrics).
    written: Arc<[std::sync::atomic::AtomicU64; 2]>,
}

impl AccessLog {
    pub fn new(log: Arc<dyn EventLog>, clock: Arc<dyn Clock>) -> Self {
        Self { log, clock, written: Arc::default() }
    }

    /// How many records were made durable through this log and its clones: (allowed, denied).
    pub fn written(&self) -> (u64, u64) {
        let [allowed, denied] = &*self.written;
        (allowed.load(std::sync::atomic::Ordering::Relaxed), denied.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Records that `caller` called `rpc` for `data` of `subjects`, with `outcome`; returns once
    /// the record is durable.
    pub async fn record(
        &self,
        caller: &Caller,
        rpc: &str,
        data: DataKind,
        subjects: Vec<String>,
        outcome: Outcome,
    ) -> Result<(), LogError> {
        let at_micros = self.clock.now_micros();
        let record = AccessRecord {
            at_micros,
            credential: caller.credential.clone(),
            organisation: caller.organisation.clone(),
            role: caller.role,
            user: caller.user.clone(),
            rpc: rpc.to_string(),
            data,
            subjects,
            purpose: caller.purpose.clone(),
            outcome,
            peer: caller.peer.map(|p| p.to_string()),
        };
        self.append(record).await
    }

    /// Appends one record as it is.
    pub async fn append(&self, record: AccessRecord) -> Result<(), LogError> {
        let day = LocalDate::of_micros(record.at_micros);
        let payload = serde_json::to_vec(&record).expect("an access record serialises");
        let event = NewEvent::new(access_stream(day), ACCESS_RECORDED, payload).with_audience(Audience::Local);
        self.log.append(vec![event]).await?;
        let which = usize::from(!matches!(record.outcome, Outcome::Allowed));
        self.written[which].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
