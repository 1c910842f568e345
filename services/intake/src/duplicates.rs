//! The index of open requests' fingerprints across the federation: from every origin's
//! `intake.request.fingerprinted` and `…fingerprint_ended` events (each origin writes only about
//! its own requests), which organisation on which node has an open request for a fingerprint.
//! A read model of its own over every origin, beside the intake's own one (which reads only this
//! node's log).

use std::collections::{BTreeMap, BTreeSet};

use samenspel_eventlog::StoredEvent;
use samenspel_kit::{Projection, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::events::{FINGERPRINT_ENDED, FINGERPRINTED, IntakeEvent};
use crate::fingerprint::{Fingerprint, Strength};

/// An open request somewhere that holds a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holder {
    /// The node that took it in (hex).
    pub node: String,
    pub request_id: String,
    /// Its asking organisation ("" when it named none).
    pub organisation_id: String,
}

/// A possible duplicate: who holds it, and how sure the match is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PossibleDuplicate {
    pub holder: Holder,
    pub strength: Strength,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Duplicates {
    /// Fingerprint value → the open requests holding it.
    by_value: BTreeMap<String, BTreeSet<Holder>>,
    /// "node/request" → its fingerprints, to drop them when it ends.
    of_request: BTreeMap<String, Vec<Fingerprint>>,
}

impl Duplicates {
    /// The open requests elsewhere (not `except`, this request itself) holding any of
    /// `fingerprints`, each once with the strongest match.
    pub(crate) fn find(&self, fingerprints: &[Fingerprint], except: (&str, &str)) -> Vec<PossibleDuplicate> {
        let mut found: BTreeMap<Holder, Strength> = BTreeMap::new();
        for f in fingerprints {
            for h in self.by_value.get(&f.value).into_iter().flatten() {
                if (h.node.as_str(), h.request_id.as_str()) == except {
                    continue;
                }
                let best = found.entry(h.clone()).or_insert(f.strength);
                *best = (*best).min(f.strength);
            }
        }
        found.into_iter().map(|(holder, strength)| PossibleDuplicate { holder, strength }).collect()
    }

    /// Whether this node's request `id` has fingerprints out.
    pub(crate) fn has(&self, node: &str, id: &str) -> bool {
        self.of_request.contains_key(&format!("{node}/{id}"))
    }
}

impl Projection for Duplicates {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        if h.kind != FINGERPRINTED && h.kind != FINGERPRINT_ENDED {
            return;
        }
        let Some(payload) = &event.payload else { return };
        let node = h.origin.to_hex();
        match IntakeEvent::decode(&h.kind, &payload.data) {
            Some(Ok(IntakeEvent::Fingerprinted { id, organisation_id, fingerprints, .. })) => {
                let holder = Holder { node: node.clone(), request_id: id.clone(), organisation_id };
                for f in &fingerprints {
                    self.by_value.entry(f.value.clone()).or_default().insert(holder.clone());
                }
                self.of_request.insert(format!("{node}/{id}"), fingerprints);
            }
            Some(Ok(IntakeEvent::FingerprintEnded { id })) => {
                if let Some(fingerprints) = self.of_request.remove(&format!("{node}/{id}")) {
                    for f in fingerprints {
                        if let Some(holders) = self.by_value.get_mut(&f.value) {
                            holders.retain(|h| !(h.node == node && h.request_id == id));
                            if holders.is_empty() {
                                self.by_value.remove(&f.value);
                            }
                        }
                    }
                }
            }
            Some(Err(e)) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "fingerprint event does not decode")
            }
            _ => {}
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the duplicate index serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }
}
