//! Every node answers an erasure it receives: it destroys its copy of the subject's key and the
//! keys that go with it (`forget_all`; the owner does too, again, in case it stopped between appending the erasure and destroying the
//! key) and, when the erasure came from another node, confirms it back to the owner once (the
//! confirmation's event id is made from the erasure's stream, so a replay appends nothing twice).
//! A node that was away does this when the erasure reaches it.

use std::sync::Arc;

use samenspel_eventlog::{Error as LogError, EventLog, StoredEvent};
use samenspel_keys::{KeyStore, SubjectRef};
use samenspel_kit::{Reaction, ServiceEvent};

use crate::decide;
use crate::events::{ERASED, PrivacyEvent};

pub(crate) const CURSOR: &str = "privacy.reactions";

pub(crate) struct Forget {
    pub log: Arc<dyn EventLog>,
    pub keys: Arc<KeyStore>,
}

#[async_trait::async_trait]
impl Reaction for Forget {
    async fn react(&self, event: &StoredEvent) -> Result<(), LogError> {
        let h = &event.header;
        if h.kind != ERASED {
            return Ok(());
        }
        let Some(Ok(erased)) = PrivacyEvent::decode_stored(event) else { return Ok(()) };
        let PrivacyEvent::SubjectErased { subject_id, owner, .. } = &erased else { return Ok(()) };
        if *owner != h.origin.to_hex() {
            tracing::warn!(seq = h.seq, origin = %h.origin.short(), "an erasure of another node's subject; ignored");
            return Ok(());
        }
        let (keys, subject, at) = (self.keys.clone(), SubjectRef::new(h.origin, subject_id.clone()), h.time_micros);
        let position = Some((h.origin, h.seq));
        let forgot = tokio::task::spawn_blocking(move || forget_all(&keys, &subject, at, position))
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?
            .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?;
        if forgot && h.origin != self.log.node_id() {
            tracing::info!(origin = %h.origin.short(), seq = h.seq, "destroyed this node's copy of an erased subject's key");
        }
        if let Some(confirmation) = decide::confirmation(h, &erased, &self.log.node_id().to_hex()) {
            self.log.append(vec![confirmation]).await?;
        }
        Ok(())
    }
}

/// Destroys this node's copy of an erased subject's key, and the keys that go with it: its
/// fingerprints' (`samenspel_kit::fingerprints_of`) and strain answers' (`strain_of`), and what
/// any node wrote about the subject under a key of its own (`samenspel_kit::about`) that this
/// node holds. Whether the subject's own key was still here. Blocks on key store syncs.
pub(crate) fn forget_all(
    keys: &KeyStore,
    subject: &SubjectRef,
    at: i64,
    position: Option<(samenspel_eventlog::NodeId, u64)>,
) -> Result<bool, samenspel_keys::Error> {
    let mut subjects = vec![subject.clone()];
    let derived = samenspel_kit::derived_subjects(&subject.subject);
    subjects.extend(derived.into_iter().map(|d| SubjectRef::new(subject.origin, d)));
    let about = [samenspel_kit::about(&subject.origin.to_hex(), &subject.subject)];
    keys.forget_all(&subjects, &about, at, position)
}
