//! The privacy service's commands and queries: erase a subject (check, tell, destroy the key),
//! show an erasure with its confirmations, and the retention sweeper.

use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::Clock;
use samenspel_eventlog::{Error as LogError, EventLog};
use samenspel_keys::{KeyStore, SubjectRef};
use samenspel_kit::{Check, Feed, Runtime};

use crate::config::PrivacyConfig;
use crate::decide::{self, Held};
use crate::error::Error;
use crate::events::Reason;
use crate::reactions::{CURSOR, Forget};
use crate::state::{ErasureView, PrivacyState};

const PROJECTION: &str = "privacy";
const MAX_SUBJECT_ID: usize = 64;
const MAX_REFERENCE: usize = 64;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A pseudonymous id or reference: short, and only characters that cannot carry much.
fn is_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[derive(Debug)]
pub struct PrivacyService {
    runtime: Runtime<PrivacyState>,
    keys: Arc<KeyStore>,
    config: PrivacyConfig,
    clock: Arc<dyn Clock>,
}

impl PrivacyService {
    /// Starts the read model (every origin: erasures come from their owners, confirmations from
    /// the nodes told), the reaction that destroys keys and confirms, and the retention sweeper.
    pub async fn start(
        log: Arc<dyn EventLog>,
        keys: Arc<KeyStore>,
        config: PrivacyConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Self>, Error> {
        let runtime = Runtime::<PrivacyState>::start(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
        runtime.react(CURSOR, Arc::new(Forget { log, keys: keys.clone() }), Feed::All).await?;
        let service = Arc::new(Self { runtime, keys, config, clock });
        if service.config.retention_days > 0 || service.config.contact_retention_days > 0 {
            let every = Duration::from_secs(service.config.sweep_every_secs.max(1));
            service.runtime.sweep(&service, every, "retention", |s| async move { s.sweep().await });
        }
        Ok(service)
    }

    pub async fn stop(&self) -> Result<(), Error> {
        Ok(self.runtime.stop().await?)
    }

    fn subject(&self, check: &mut Check, subject_id: &str) -> SubjectRef {
        if !is_token(subject_id, MAX_SUBJECT_ID) {
            check
                .bad("subject_id", format!("must be 1 to {MAX_SUBJECT_ID} characters of A-Z, a-z, 0-9, '.', '_', '-'"));
        }
        SubjectRef::new(self.runtime.log().node_id(), subject_id)
    }

    /// Erases a subject this node took in: the erasure is appended (durable, for every node the
    /// key went to), then the key destroyed. Nothing is written when the subject is unknown or
    /// erased before, or the input is bad.
    pub async fn erase(
        &self,
        mut check: Check,
        subject_id: &str,
        reason: Option<Reason>,
        reference: &str,
        by: &str,
    ) -> Result<ErasureView, Error> {
        let subject = self.subject(&mut check, subject_id);
        if reason.is_none() {
            check.bad("reason", "must say why the subject is erased");
        }
        if !reference.is_empty() && !is_token(reference, MAX_REFERENCE) {
            check.bad("reference", format!("must be up to {MAX_REFERENCE} characters of A-Z, a-z, 0-9, '.', '_', '-'"));
        }
        check.finish().map_err(Error::Invalid)?;
        let reason = reason.expect("checked");
        self.erase_checked(subject, reason, reference, by).await
    }

    async fn erase_checked(
        &self,
        subject: SubjectRef,
        reason: Reason,
        reference: &str,
        by: &str,
    ) -> Result<ErasureView, Error> {
        let subject_id = subject.subject.clone();
        let held = Held { erased: self.keys.is_erased(&subject), has_key: self.keys.has_key(&subject) };
        let own = self.runtime.log().node_id();
        let owner = own.to_hex();
        // The nodes given the subject's key, and those that wrote about the subject under a key
        // of their own (`about`) that this node holds a copy of: all of them must forget.
        let mut nodes: Vec<String> = self.keys.shared_with(&subject).iter().map(|n| n.to_hex()).collect();
        let about = samenspel_kit::about(&owner, &subject_id);
        nodes.extend(self.keys.holders_of(&about).into_iter().filter(|n| *n != own).map(|n| n.to_hex()));
        // And every node given the subject's fingerprints (all that hold its duplicate hints).
        for derived in samenspel_kit::derived_subjects(&subject_id) {
            nodes.extend(self.keys.shared_with(&SubjectRef::new(own, derived)).iter().map(|n| n.to_hex()));
        }
        nodes.sort();
        nodes.dedup();
        let event = decide::erasure(held, &subject_id, owner, nodes, reason, reference, by)?;
        // One erasure per subject: a second, racing, finds the stream taken.
        let appended = match self.runtime.append(vec![event]).await {
            Ok(appended) => appended,
            Err(LogError::WrongExpectedVersion { .. }) => return Err(Error::AlreadyErased { subject_id }),
            Err(e) => return Err(e.into()),
        };
        let (keys, at) = (self.keys.clone(), self.clock.now_micros());
        let (forget, position) = (subject.clone(), appended.first().map(|a| (subject.origin, a.seq)));
        tokio::task::spawn_blocking(move || keys.forget(&forget, at, position))
            .await
            .map_err(|e| Error::Keys(e.to_string()))?
            .map_err(|e| Error::Keys(e.to_string()))?;
        tracing::info!(reason = ?reason, "erased a subject");
        self.runtime.read().erasure(subject.origin, &subject_id).cloned().ok_or(Error::NotErased { subject_id })
    }

    /// An erasure of one of this node's subjects, with its confirmations.
    pub fn get(&self, mut check: Check, subject_id: &str) -> Result<ErasureView, Error> {
        let subject = self.subject(&mut check, subject_id);
        check.finish().map_err(Error::Invalid)?;
        let state = self.runtime.read();
        state
            .erasure(subject.origin, subject_id)
            .cloned()
            .ok_or_else(|| Error::NotErased { subject_id: subject_id.into() })
    }

    /// Erases, per kind of data, what is past its retention: the people of requests that all
    /// ended longer than `retention_days` ago, caregivers' strain answers after
    /// `strain_retention_days`, and contact persons archived longer than
    /// `contact_retention_days` ago (a period of 0 keeps that kind).
    pub async fn sweep(&self) -> Result<usize, Error> {
        let now = self.clock.now_micros();
        let before = |days: u32| now - i64::from(days) * MICROS_PER_DAY;
        let mut due = Vec::new();
        {
            let state = self.runtime.read();
            if self.config.retention_days > 0 {
                due.extend(state.due(before(self.config.retention_days)));
            }
            if self.config.contact_retention_days > 0 {
                due.extend(state.contacts_due(before(self.config.contact_retention_days)));
            }
            if self.config.strain_retention_days > 0 {
                due.extend(state.strain_due(before(self.config.strain_retention_days)));
            }
        }
        let own = self.runtime.log().node_id();
        let mut erased = 0;
        for subject_id in due {
            match self.erase_checked(SubjectRef::new(own, subject_id), Reason::Retention, "", "retention").await {
                Ok(_) => erased += 1,
                // Nothing sealed under it (a person without name or number), or erased meanwhile.
                Err(Error::UnknownSubject { .. } | Error::AlreadyErased { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(erased)
    }

    /// Waits until the read model has every event this node holds (tests, after a peer's).
    pub async fn catch_up(&self) -> Result<(), Error> {
        Ok(self.runtime.catch_up().await?)
    }
}

/// Erases again what this node erased after the backup it was restored from: its own erasures
/// that came back from its peers (`restore_own`) at `from_seq` and after. An erasure whose payload
/// came back names its subject; one that came back without it (no peer was told: the peers held
/// its outline, with the body sealed for this node, opened on the way back) is found by its
/// stream, which is derived from the subject. Run before any service reads the log, so
/// nothing is served from a key erased since.
pub async fn erase_again(log: &dyn EventLog, keys: &Arc<KeyStore>, from_seq: u64) -> Result<usize, Error> {
    let own = log.node_id();
    let owner = own.to_hex();
    let streams: std::collections::HashMap<String, String> =
        keys.subjects_of(own).into_iter().map(|s| (crate::events::PrivacyEvent::stream_for(&owner, &s), s)).collect();
    let mut erased = 0;
    let mut next = from_seq.max(1);
    loop {
        let page = log.read(own, next, 1000).await?;
        let Some(last) = page.last() else { break };
        next = last.header.seq + 1;
        for e in page.iter().filter(|e| e.header.kind == crate::events::ERASED) {
            let named = match samenspel_kit::ServiceEvent::decode_stored(e) {
                Some(Ok(crate::events::PrivacyEvent::SubjectErased { subject_id, .. })) => Some(subject_id),
                _ => streams.get(&e.header.stream).cloned(),
            };
            let Some(subject_id) = named else { continue };
            let (keys, at, position) = (keys.clone(), e.header.time_micros, Some((own, e.header.seq)));
            let subject = SubjectRef::new(own, subject_id);
            let forgot =
                tokio::task::spawn_blocking(move || crate::reactions::forget_all(&keys, &subject, at, position))
                    .await
                    .map_err(|e| Error::Keys(e.to_string()))?
                    .map_err(|e| Error::Keys(e.to_string()))?;
            erased += usize::from(forgot);
        }
    }
    Ok(erased)
}
