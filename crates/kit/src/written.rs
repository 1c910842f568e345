//! Who wrote what (NEN 7513's "who did it", for the audit timeline): the events a service appends
//! while it serves a call are kept with a record of that call — the credential, organisation,
//! role and user it named, and the RPC — on this node's log beside them, in the same append. The
//! edge sets the call ([`during`]) around the handler; the sealing log adds the records
//! ([`stamp`]), one per stream the append touches, on the stream `written/{stream}`, naming the
//! events by id (an event without one gets a random one). A record's audience is this node: who
//! at an organisation did something stays with that organisation's node, as its access log does.
//! Events a node writes by itself (reactions, sweepers) have no record: no call wrote them.

use std::collections::BTreeMap;
use std::future::Future;

use samenspel_eventlog::{Audience, Error as LogError, NewEvent, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::access::ACCESS_RECORDED;
use crate::auth::Role;
use crate::ids::{derived_id, random_id};

/// The kind of a record of who wrote events.
pub const WRITTEN: &str = "access.written";

/// The stream of the records of who wrote events on `stream`.
pub fn written_stream(stream: &str) -> String {
    format!("written/{stream}")
}

/// The call a service appends events in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    pub credential: String,
    /// The organisation the caller acts for; none for the admin and the auditor.
    pub organisation: Option<String>,
    pub role: Role,
    /// The user the call named (empty when it named none).
    pub user: String,
    /// `/samenspel.v1.Matching/ConfirmMatch`.
    pub rpc: String,
}

/// A record of who wrote events of one stream in one append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenRecord {
    #[serde(flatten)]
    pub writer: Writer,
    /// The ids of the events written.
    pub events: Vec<String>,
}

impl WrittenRecord {
    /// The record an event holds, if it is one.
    pub fn of(event: &StoredEvent) -> Option<WrittenRecord> {
        if event.header.kind != WRITTEN {
            return None;
        }
        serde_json::from_slice(&event.payload.as_ref()?.data).ok()
    }
}

tokio::task_local! {
    static CALL: Writer;
}

/// Runs `work` (a call's handler) as `writer`'s: what it appends is recorded as theirs.
pub async fn during<F: Future>(writer: Writer, work: F) -> F::Output {
    CALL.scope(writer, work).await
}

/// The call being served, if any.
fn current() -> Option<Writer> {
    CALL.try_with(Writer::clone).ok()
}

/// `events` with the records of who writes them, when they are written during a call. A
/// record's id is made from its writer and the ids it names, so the same call retried writes no
/// second record; another caller sending the same events (ids made from a client's request id)
/// writes a record of its own, and the first record that names an event is the one that wrote it.
pub(crate) fn stamp(mut events: Vec<NewEvent>) -> Result<Vec<NewEvent>, LogError> {
    let Some(writer) = current() else { return Ok(events) };
    let mut by_stream: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in events.iter_mut().filter(|e| e.kind != ACCESS_RECORDED && e.kind != WRITTEN) {
        let id = match &e.event_id {
            Some(id) => id.clone(),
            None => {
                let id = random_id()?;
                e.event_id = Some(id.clone());
                id
            }
        };
        by_stream.entry(e.stream.clone()).or_default().push(id);
    }
    for (stream, ids) in by_stream {
        let record = WrittenRecord { writer: writer.clone(), events: ids };
        let payload = serde_json::to_vec(&record).expect("a written record serialises");
        let id = derived_id("samenspel written record v1", &[&payload]);
        events.push(
            NewEvent::new(written_stream(&stream), WRITTEN, payload)
                .with_audience(Audience::Local)
                .with_id(format!("written/{id}")),
        );
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use samenspel_eventlog::ExpectedVersion;

    use super::*;

    fn writer() -> Writer {
        Writer {
            credential: "cred_1".into(),
            organisation: Some("org-1".into()),
            role: Role::Coordinator,
            user: "anna".into(),
            rpc: "/samenspel.v1.Matching/ConfirmMatch".into(),
        }
    }

    fn event(stream: &str, id: Option<&str>) -> NewEvent {
        let e = NewEvent::new(stream, "matching.match.confirmed", b"{}".to_vec()).expect(ExpectedVersion::Any);
        match id {
            Some(id) => e.with_id(id),
            None => e,
        }
    }

    #[tokio::test]
    async fn a_call_s_events_get_a_record_per_stream_and_others_none() {
        let outside = stamp(vec![event("a", None)]).unwrap();
        assert_eq!(outside.len(), 1, "no call, no record");
        assert_eq!(outside[0].event_id, None);

        let stamped =
            during(writer(), async { stamp(vec![event("a", Some("x")), event("b", None), event("a", None)]) })
                .await
                .unwrap();
        assert_eq!(stamped.len(), 5);
        let records: Vec<&NewEvent> = stamped.iter().filter(|e| e.kind == WRITTEN).collect();
        assert_eq!(records.iter().map(|r| r.stream.as_str()).collect::<Vec<_>>(), ["written/a", "written/b"]);
        assert!(records.iter().all(|r| r.audience == Audience::Local));
        let a: WrittenRecord = serde_json::from_slice(&records[0].payload).unwrap();
        assert_eq!(a.writer, writer());
        assert_eq!(a.events, ["x".to_string(), stamped[2].event_id.clone().unwrap()]);
        assert_eq!(stamped[2].event_id.as_ref().unwrap().len(), 32, "an event without an id gets one");

        // The same events again (a retry): the same record id, so the log takes it as the same;
        // from another user, a record of its own.
        let again =
            during(writer(), async { stamp(vec![event("a", Some("x")), event("b", Some("y"))]) }).await.unwrap();
        let twice =
            during(writer(), async { stamp(vec![event("a", Some("x")), event("b", Some("y"))]) }).await.unwrap();
        assert_eq!(again[2].event_id, twice[2].event_id);
        let other = Writer { user: "bert".into(), ..writer() };
        let theirs = during(other, async { stamp(vec![event("a", Some("x")), event("b", Some("y"))]) }).await.unwrap();
        assert_ne!(again[2].event_id, theirs[2].event_id);
        // Access records say who by themselves.
        let access = NewEvent::new("access/2026-12-01", ACCESS_RECORDED, b"{}".to_vec());
        assert_eq!(during(writer(), async { stamp(vec![access]) }).await.unwrap().len(), 1);
    }
}
