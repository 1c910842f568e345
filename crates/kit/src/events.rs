//! What a service's own events have in common: a kind, a stream, an audience, and a JSON
//! payload; each service's `events.rs` implements [`ServiceEvent`] for its event enum.

use samenspel_eventlog::{Audience, ExpectedVersion, NewEvent, StoredEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::personal::{from_payload, mark};

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

    fn encode(&self) -> Vec<u8> {
        let parts = self.personal();
        if parts.is_empty() {
            return serde_json::to_vec(self).expect("a service event serialises");
        }
        let mut value = serde_json::to_value(self).expect("a service event serialises");
        mark(&mut value, &parts);
        serde_json::to_vec(&value).expect("a json value serialises")
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

    /// The event to append, on its stream at `expected`, for its audience.
    fn to_new(&self, expected: ExpectedVersion) -> NewEvent {
        NewEvent::new(self.stream(), self.kind(), self.encode()).expect(expected).with_audience(self.audience())
    }
}
