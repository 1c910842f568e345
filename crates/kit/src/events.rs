//! What a service's own events have in common: a kind, a stream, an audience, and a JSON
//! payload; each service's `events.rs` implements [`ServiceEvent`] for its event enum.

use samenspel_eventlog::{Audience, ExpectedVersion, NewEvent, StoredEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::personal::from_payload;
use crate::split::split;

/// The kinds the services write (and the access log's). The raw log takes none of them from a
/// client: a service's events are written by the service, after its rules.
pub const SERVICE_KIND_PREFIXES: [&str; 7] =
    ["directory.", "intake.", "matching.", "followup.", "access.", "privacy.", "federation."];

/// A service's own event.
pub trait ServiceEvent: Serialize + DeserializeOwned + Sized {
    /// Every kind of the service's events.
    const KINDS: &'static [&'static str];

    fn kind(&self) -> &'static str;

    fn stream(&self) -> String;

    /// Who may see its payload when its writer says nothing else: this node only.
    fn audience(&self) -> Audience {
        Audience::Local
    }

    /// The parts of the payload that are a data subject's personal data: each subject id with a
    /// JSON pointer into the encoded event. They are sealed under that subject's key
    /// ([`crate::SealingLog`]); the rest of the payload stays readable to its audience.
    fn personal(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The event as plain JSON, its personal values in place: for an event without any (the
    /// privacy service's), or to compare with what a reader gets back.
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a service event serialises")
    }

    /// The event of `kind` in `payload`; `None` when `kind` is not one of this service's. Marked
    /// personal values read as their value (an empty one where the subject was erased).
    fn decode(kind: &str, payload: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        Self::KINDS.contains(&kind).then(|| from_payload(payload))
    }

    /// The event a stored one holds, if it is one of this service's and its payload is here.
    fn decode_stored(event: &StoredEvent) -> Option<Result<Self, serde_json::Error>> {
        Self::decode(&event.header.kind, &event.payload.as_ref()?.data)
    }

    /// The event to append, on its stream at `expected`, for its audience, with its personal
    /// values set apart for sealing.
    fn to_new(&self, expected: ExpectedVersion) -> NewEvent {
        let parts = self.personal();
        let (payload, personal) = match parts.is_empty() {
            true => (self.encode(), Vec::new()),
            // serde_json's text always scans; were it not to, nothing is stored unsealed.
            false => split(&self.encode(), &parts).expect("a service event's JSON scans"),
        };
        NewEvent::new(self.stream(), self.kind(), payload)
            .expect(expected)
            .with_audience(self.audience())
            .with_personal(personal)
    }
}
