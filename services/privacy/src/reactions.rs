//! Every node answers an erasure it receives: it destroys its copy of the subject's key (the
//! owner does too, again, in case it stopped between appending the erasure and destroying the
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
        let about = samenspel_kit::about(&subject.origin.to_hex(), &subject.subject);
        let forgot = tokio::task::spawn_blocking(move || {
            // What this node (or another, whose key it holds a copy of) wrote about the subject
            // under a key of its own goes with it.
            let forgot = keys.forget(&subject, at, position)?;
            keys.forget_named(&about, at, position)?;
            Ok::<_, samenspel_keys::Error>(forgot)
        })
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
