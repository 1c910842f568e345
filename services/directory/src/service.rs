//! The directory's commands and queries: commands append events to the log and wait until the
//! projection has applied them, so a caller reads its own writes; queries read the projection.

use std::sync::{Arc, Mutex};

use samenspel_eventlog::{
    Audience, Error as LogError, EventLog, ExpectedVersion, FieldViolation, NewEvent, ProjectionHandle,
    ProjectionReader, start_projection,
};

use crate::config::DirectoryConfig;
use crate::error::Error;
use crate::events::DirectoryEvent;
use crate::model::{Organisation, OrganisationKind, RawFields};
use crate::state::DirectoryState;

/// The name the directory's snapshots are saved under.
const PROJECTION: &str = "directory";
const MAX_REQUEST_ID: usize = 128;

#[derive(Debug)]
pub struct DirectoryService {
    log: Arc<dyn EventLog>,
    config: DirectoryConfig,
    state: ProjectionReader<DirectoryState>,
    projection: Mutex<Option<ProjectionHandle<DirectoryState>>>,
}

impl DirectoryService {
    /// Restores the directory from its last snapshot and follows the log from there.
    pub async fn start(log: Arc<dyn EventLog>, config: DirectoryConfig) -> Result<Self, Error> {
        let projection = start_projection::<DirectoryState>(log.clone(), PROJECTION, config.snapshot_every).await?;
        Ok(Self { log, config, state: projection.reader(), projection: Mutex::new(Some(projection)) })
    }

    /// Stops following the log and saves a snapshot; call it before the log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        let projection = self.projection.lock().expect("projection lock").take();
        if let Some(p) = projection {
            p.stop().await?;
        }
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Result<Organisation, Error> {
        self.state.read().organisation(id).cloned().ok_or_else(|| Error::NotFound { id: id.to_string() })
    }

    pub(crate) fn list(
        &self,
        page_size: u32,
        page_token: &str,
        kind: Option<OrganisationKind>,
        include_archived: bool,
    ) -> Result<(Vec<Organisation>, String), Error> {
        if !page_token.is_empty() && !is_id(page_token) {
            return Err(Error::Invalid(vec![FieldViolation::new("page_token", "is not a token from a previous page")]));
        }
        let size = match page_size {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        }
        .max(1) as usize;
        let after = Some(page_token).filter(|t| !t.is_empty());
        let (page, more) = self.state.read().list(after, kind, include_archived, size);
        let next = if more { page.last().map(|o| o.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    pub(crate) async fn create(&self, raw: RawFields, request_id: &str) -> Result<Organisation, Error> {
        let mut violations = Vec::new();
        let fields = raw.validate("fields", &mut violations);
        if request_id.len() > MAX_REQUEST_ID || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
            violations.push(FieldViolation::new(
                "request_id",
                format!("at most {MAX_REQUEST_ID} printable ascii characters"),
            ));
        }
        let (Some(fields), true) = (fields, violations.is_empty()) else { return Err(Error::Invalid(violations)) };
        // A retry must produce the same event, so an id from a request id is derived from it.
        let id =
            if request_id.is_empty() { random_id()? } else { derived_id(self.log.node_id().as_bytes(), request_id) };
        let event = DirectoryEvent::OrganisationCreated { id: id.clone(), fields };
        let mut new = self.event(&event, ExpectedVersion::Exact(0));
        if !request_id.is_empty() {
            new = new.with_id(format!("directory.create/{request_id}"));
        }
        match self.log.append(vec![new]).await {
            Ok(appended) => self.state.wait_for(appended[0].seq).await?,
            Err(LogError::EventIdReused { .. }) => {
                return Err(Error::RequestIdReused { request_id: request_id.to_string() });
            }
            Err(e) => return Err(e.into()),
        }
        self.get(&id)
    }

    pub(crate) async fn update(&self, id: &str, raw: RawFields, expected_version: u64) -> Result<Organisation, Error> {
        let mut violations = Vec::new();
        let fields = raw.validate("fields", &mut violations);
        let Some(fields) = fields.filter(|_| violations.is_empty()) else { return Err(Error::Invalid(violations)) };
        let event = DirectoryEvent::OrganisationUpdated { id: id.to_string(), fields };
        self.change(id, event, expected_version).await
    }

    pub(crate) async fn archive(&self, id: &str, expected_version: u64) -> Result<Organisation, Error> {
        let current = self.get(id)?;
        if current.archived {
            return Ok(current);
        }
        self.change(id, DirectoryEvent::OrganisationArchived { id: id.to_string() }, expected_version).await
    }

    /// Appends a change guarded by the organisation's version.
    async fn change(&self, id: &str, event: DirectoryEvent, expected: u64) -> Result<Organisation, Error> {
        let actual = self.get(id)?.version;
        if actual != expected {
            return Err(Error::VersionConflict { id: id.to_string(), expected, actual });
        }
        match self.log.append(vec![self.event(&event, ExpectedVersion::Exact(expected))]).await {
            Ok(appended) => self.state.wait_for(appended[0].seq).await?,
            Err(LogError::WrongExpectedVersion { actual, .. }) => {
                return Err(Error::VersionConflict { id: id.to_string(), expected, actual });
            }
            Err(e) => return Err(e.into()),
        }
        self.get(id)
    }

    fn event(&self, event: &DirectoryEvent, expected: ExpectedVersion) -> NewEvent {
        // The sociale kaart is shared with the whole federation.
        NewEvent::new(event.stream(), event.kind(), event.encode()).expect(expected).with_audience(Audience::Federation)
    }
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Log(LogError::Key(format!("no randomness: {e}"))))?;
    Ok(hex::encode(bytes))
}

fn derived_id(node: &[u8; 32], request_id: &str) -> String {
    let mut hasher = blake3::Hasher::new_derive_key("samenspel directory organisation id v1");
    hasher.update(node);
    hasher.update(request_id.as_bytes());
    hex::encode(&hasher.finalize().as_bytes()[..16])
}
