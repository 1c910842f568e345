//! The directory's commands and queries: commands append events to the log and wait until the
//! projection has applied them, so a caller reads its own writes; queries read the projection.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use samenspel_eventlog::{
    Audience, Error as LogError, EventLog, ExpectedVersion, Feed, FieldViolation, NewEvent, NodeId, ProjectionHandle,
    ProjectionReader, StoredEvent, SubscribeFrom, Subscription, start_projection_of,
};

use samenspel_kit::Check;

use crate::config::DirectoryConfig;
use crate::error::Error;
use crate::events::DirectoryEvent;
use crate::model::{ContactPerson, Organisation, OrganisationKind, RawContact, RawFields};
use crate::offer::{Offer, RawOffer, is_language, parse_area};
use crate::search::{Hit, Query, words};
use crate::state::DirectoryState;

/// The name the directory's snapshots are saved under.
const PROJECTION: &str = "directory";

#[derive(Debug)]
pub struct DirectoryService {
    pub(crate) log: Arc<dyn EventLog>,
    config: DirectoryConfig,
    pub(crate) state: ProjectionReader<DirectoryState>,
    projection: Mutex<Option<ProjectionHandle<DirectoryState>>>,
}

impl DirectoryService {
    /// Restores the directory from its last snapshot and follows the log from there.
    pub async fn start(log: Arc<dyn EventLog>, config: DirectoryConfig) -> Result<Self, Error> {
        let projection =
            start_projection_of::<DirectoryState>(log.clone(), PROJECTION, config.snapshot_every, Feed::All).await?;
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

    pub fn import_max_bytes(&self) -> usize {
        self.config.import_max_bytes
    }

    pub fn get(&self, id: &str) -> Result<Organisation, Error> {
        let found = self.state.read().organisation(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "organisation", id: id.to_string() })
    }

    pub fn get_contact(&self, id: &str) -> Result<ContactPerson, Error> {
        let found = self.state.read().contact(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "contact person", id: id.to_string() })
    }

    /// Page size within the configured bounds, and the id to continue after.
    fn paging<'a>(&self, page_size: u32, page_token: &'a str) -> Result<(usize, Option<&'a str>), Error> {
        if !page_token.is_empty() && !is_id(page_token) {
            return Err(Error::Invalid(vec![FieldViolation::new("page_token", "is not a token from a previous page")]));
        }
        let size = match page_size {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        };
        Ok((size.max(1) as usize, Some(page_token).filter(|t| !t.is_empty())))
    }

    pub fn list(
        &self,
        page_size: u32,
        page_token: &str,
        kind: Option<OrganisationKind>,
        include_archived: bool,
    ) -> Result<(Vec<Organisation>, String), Error> {
        let (size, after) = self.paging(page_size, page_token)?;
        let (page, more) = self.state.read().list(after, kind, include_archived, size);
        let next = if more { page.last().map(|o| o.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    pub fn list_contacts(
        &self,
        page_size: u32,
        page_token: &str,
        organisation_id: &str,
        include_archived: bool,
    ) -> Result<(Vec<ContactPerson>, String), Error> {
        let (size, after) = self.paging(page_size, page_token)?;
        let organisation = Some(organisation_id).filter(|o| !o.is_empty());
        let (page, more) = self.state.read().list_contacts(after, organisation, include_archived, size);
        let next = if more { page.last().map(|c| c.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    /// `check` holds what the edge found wrong already; every problem is named at once.
    pub async fn create(&self, check: Check, raw: RawFields, request_id: &str) -> Result<Organisation, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        let id = self.new_id("organisation", request_id)?;
        self.append_new(DirectoryEvent::OrganisationCreated { id: id.clone(), fields }, request_id).await?;
        self.get(&id)
    }

    pub async fn update(
        &self,
        check: Check,
        id: &str,
        raw: RawFields,
        expected_version: u64,
    ) -> Result<Organisation, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        let actual = self.get(id)?.version;
        self.hosted_here(id)?;
        let event = DirectoryEvent::OrganisationUpdated { id: id.to_string(), fields };
        self.append_change(id, event, expected_version, actual).await?;
        self.get(id)
    }

    pub async fn archive(&self, id: &str, expected_version: u64) -> Result<Organisation, Error> {
        let current = self.get(id)?;
        self.hosted_here(id)?;
        if !current.archived {
            let event = DirectoryEvent::OrganisationArchived { id: id.to_string() };
            self.append_change(id, event, expected_version, current.version).await?;
        }
        self.get(id)
    }

    pub async fn create_contact(
        &self,
        check: Check,
        organisation_id: &str,
        raw: RawContact,
        request_id: &str,
    ) -> Result<ContactPerson, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        if self.get(organisation_id)?.archived {
            return Err(Error::Archived { what: "organisation", id: organisation_id.to_string() });
        }
        self.hosted_here(organisation_id)?;
        let id = self.new_id("contact", request_id)?;
        let event =
            DirectoryEvent::ContactCreated { id: id.clone(), organisation_id: organisation_id.to_string(), fields };
        self.append_new(event, request_id).await?;
        self.get_contact(&id)
    }

    pub async fn update_contact(
        &self,
        check: Check,
        id: &str,
        raw: RawContact,
        expected_version: u64,
    ) -> Result<ContactPerson, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        let actual = self.get_contact(id)?.version;
        self.hosted_here(id)?;
        let event = DirectoryEvent::ContactUpdated { id: id.to_string(), fields };
        self.append_change(id, event, expected_version, actual).await?;
        self.get_contact(id)
    }

    pub async fn archive_contact(&self, id: &str, expected_version: u64) -> Result<ContactPerson, Error> {
        let current = self.get_contact(id)?;
        self.hosted_here(id)?;
        if !current.archived {
            let event = DirectoryEvent::ContactArchived { id: id.to_string() };
            self.append_change(id, event, expected_version, current.version).await?;
        }
        self.get_contact(id)
    }

    pub fn get_offer(&self, id: &str) -> Result<Offer, Error> {
        let found = self.state.read().offer(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "offer", id: id.to_string() })
    }

    pub fn list_offers(
        &self,
        page_size: u32,
        page_token: &str,
        organisation_id: &str,
        include_archived: bool,
    ) -> Result<(Vec<Offer>, String), Error> {
        let (size, after) = self.paging(page_size, page_token)?;
        let organisation = Some(organisation_id).filter(|o| !o.is_empty());
        let (page, more) = self.state.read().list_offers(after, organisation, include_archived, size);
        let next = if more { page.last().map(|o| o.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    pub async fn create_offer(
        &self,
        check: Check,
        organisation_id: &str,
        raw: RawOffer,
        request_id: &str,
    ) -> Result<Offer, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        if self.get(organisation_id)?.archived {
            return Err(Error::Archived { what: "organisation", id: organisation_id.to_string() });
        }
        self.hosted_here(organisation_id)?;
        let id = self.new_id("offer", request_id)?;
        let event =
            DirectoryEvent::OfferCreated { id: id.clone(), organisation_id: organisation_id.to_string(), fields };
        self.append_new(event, request_id).await?;
        self.get_offer(&id)
    }

    pub async fn update_offer(
        &self,
        check: Check,
        id: &str,
        raw: RawOffer,
        expected_version: u64,
    ) -> Result<Offer, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        let actual = self.get_offer(id)?.version;
        self.hosted_here(id)?;
        self.append_change(id, DirectoryEvent::OfferUpdated { id: id.to_string(), fields }, expected_version, actual)
            .await?;
        self.get_offer(id)
    }

    pub async fn archive_offer(&self, id: &str, expected_version: u64) -> Result<Offer, Error> {
        let current = self.get_offer(id)?;
        self.hosted_here(id)?;
        if !current.archived {
            let event = DirectoryEvent::OfferArchived { id: id.to_string() };
            self.append_change(id, event, expected_version, current.version).await?;
        }
        self.get_offer(id)
    }

    /// Offers that fit, best first. Criteria are checked like any input: a bad one is named.
    pub fn search(&self, mut check: Check, criteria: SearchCriteria, page_size: u32) -> Result<Vec<Hit>, Error> {
        let mut violations = Vec::new();
        let mut bad = |field: &str, why: String| violations.push(FieldViolation::new(field, why));
        let some = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let function = some(criteria.function);
        if let Some(f) = &function
            && let Err(e) = f.parse::<samenspel_domain::SupportFunction>()
        {
            bad("support_function", e.to_string());
        }
        let kind = some(criteria.kind);
        if let Some(k) = &kind
            && let Err(e) = k.parse::<samenspel_domain::SupportKind>()
        {
            bad("support_kind", e.to_string());
        }
        let area = match some(criteria.postcode) {
            Some(p) => parse_area(&p).map_err(|e| bad("postcode", e)).ok(),
            None => None,
        };
        let language = some(criteria.language).map(|l| l.to_ascii_lowercase());
        if language.as_ref().is_some_and(|l| !is_language(l)) {
            bad("language", "is not an ISO 639-1 code such as \"nl\"".into());
        }
        let query = Query { function, kind, area, language, words: words(&criteria.text), formal: criteria.formal };
        check.push_all(&mut violations);
        check.finish().map_err(Error::Invalid)?;
        let size = match page_size {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        };
        self.state.read().search(&query, size.max(1) as usize).ok_or_else(|| {
            let why = "give a support function or kind, a postcode, a language or words to search for";
            Error::Invalid(vec![FieldViolation::new("support_function", why)])
        })
    }

    /// The node's log from `from_position` on (catch-up, then live); turn each event into a
    /// change with [`DirectoryService::change_at`].
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        Ok(self.log.subscribe(SubscribeFrom::origin(self.log.node_id(), from_position.max(1)))?)
    }

    /// Every node's log this node holds: its own from `from_position`, the others from their
    /// position in `resume` (their first event when not named), each event after its causes.
    pub fn watch_federation(&self, from_position: u64, resume: &[(NodeId, u64)]) -> Result<Subscription, Error> {
        let own = self.log.node_id();
        let mut from: Vec<(NodeId, u64)> =
            resume.iter().filter(|(n, _)| *n != own).map(|(n, p)| (*n, (*p).max(1))).collect();
        from.push((own, from_position.max(1)));
        Ok(self.log.subscribe_all(from)?)
    }

    /// The change an event made to the directory; `None` for events of other services.
    pub async fn change_at(&self, event: &StoredEvent) -> Result<Option<Change>, Error> {
        let h = &event.header;
        let Some(Ok(decoded)) = event.payload.as_ref().and_then(|p| DirectoryEvent::decode(&h.kind, &p.data)) else {
            return Ok(None);
        };
        // The projection may be a step behind the subscription: let it catch up first.
        self.state.wait_for_origin(h.origin, h.seq).await?;
        let id = decoded.id();
        let state = self.state.read();
        // An event about an entry another node hosts changed nothing (the projection ignored it).
        if state.host_of(id) != Some(h.origin) {
            return Ok(None);
        }
        let entry = state
            .organisation(id)
            .cloned()
            .map(Entry::Organisation)
            .or_else(|| state.contact(id).cloned().map(Entry::Contact))
            .or_else(|| state.offer(id).cloned().map(Entry::Offer));
        Ok(entry.map(|entry| Change { position: h.seq, kind: h.kind.clone(), entry, hosting_node: h.origin }))
    }

    /// Records that someone checked the entry (an organisation or a contact person).
    pub async fn verify(&self, id: &str) -> Result<(), Error> {
        let known = {
            let state = self.state.read();
            state.organisation(id).is_some() || state.contact(id).is_some()
        };
        if !known {
            return Err(Error::NotFound { what: "entry", id: id.to_string() });
        }
        self.hosted_here(id)?;
        let event = DirectoryEvent::EntryVerified { id: id.to_string() };
        let appended = self.log.append(vec![Self::new_event(&event, ExpectedVersion::Any)]).await?;
        Ok(self.state.wait_for(appended[0].seq).await?)
    }

    pub fn stale(&self, max_age_secs: u64, page_size: u32) -> (Vec<Organisation>, Vec<ContactPerson>) {
        let max_age = if max_age_secs == 0 { self.config.stale_after_secs } else { max_age_secs };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        let cutoff = now.saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX).saturating_mul(1_000_000));
        let size = match page_size {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        };
        self.state.read().stale(cutoff, size.max(1) as usize)
    }

    /// A new entity's id; a retry must produce the same event, so one made for a request id is
    /// derived from it.
    fn new_id(&self, entity: &str, request_id: &str) -> Result<String, Error> {
        if request_id.is_empty() {
            return random_id();
        }
        let mut hasher = blake3::Hasher::new_derive_key("samenspel directory id v1");
        hasher.update(self.log.node_id().as_bytes());
        hasher.update(entity.as_bytes());
        hasher.update(&[0]);
        hasher.update(request_id.as_bytes());
        Ok(hex::encode(&hasher.finalize().as_bytes()[..16]))
    }

    /// Appends the creation of a new stream and waits until the projection has it.
    async fn append_new(&self, event: DirectoryEvent, request_id: &str) -> Result<(), Error> {
        let mut new = Self::new_event(&event, ExpectedVersion::Exact(0));
        if !request_id.is_empty() {
            new = new.with_id(format!("{}/{request_id}", event.kind()));
        }
        match self.log.append(vec![new]).await {
            Ok(appended) => Ok(self.state.wait_for(appended[0].seq).await?),
            Err(LogError::EventIdReused { .. }) => Err(Error::RequestIdReused { request_id: request_id.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends a change guarded by the entity's version and waits until the projection has it.
    async fn append_change(&self, id: &str, event: DirectoryEvent, expected: u64, actual: u64) -> Result<(), Error> {
        if actual != expected {
            return Err(Error::VersionConflict { id: id.to_string(), expected, actual });
        }
        match self.log.append(vec![Self::new_event(&event, ExpectedVersion::Exact(expected))]).await {
            Ok(appended) => Ok(self.state.wait_for(appended[0].seq).await?),
            Err(LogError::WrongExpectedVersion { actual, .. }) => {
                Err(Error::VersionConflict { id: id.to_string(), expected, actual })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Each node changes only the entries it hosts; another node's are changed there.
    fn hosted_here(&self, id: &str) -> Result<(), Error> {
        match self.state.read().host_of(id) {
            Some(host) if host != self.log.node_id() => {
                Err(Error::HostedElsewhere { id: id.to_string(), host: host.to_hex() })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn new_event(event: &DirectoryEvent, expected: ExpectedVersion) -> NewEvent {
        // The sociale kaart is shared with the whole federation.
        NewEvent::new(event.stream(), event.kind(), event.encode()).expect(expected).with_audience(Audience::Federation)
    }
}

/// An entry of the directory, of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Organisation(Organisation),
    Contact(ContactPerson),
    Offer(Offer),
}

/// One change to the directory: the log position and kind of its event, and the entry now.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub position: u64,
    pub kind: String,
    pub entry: Entry,
    /// The node whose log `position` is in: the entry's host.
    pub hosting_node: NodeId,
}

/// A search as asked, before it is checked.
#[derive(Debug, Default)]
pub struct SearchCriteria {
    pub function: String,
    pub kind: String,
    pub postcode: String,
    pub language: String,
    pub text: String,
    pub formal: Option<bool>,
}

/// Runs a validation (and checks the request id of a create): the value, or every violation.
/// The value `validate` makes of a request's fields, or every problem: those it found and those
/// the edge found before (`check`).
fn checked<T>(mut check: Check, validate: impl FnOnce(&mut Vec<FieldViolation>) -> Option<T>) -> Result<T, Error> {
    let mut violations = Vec::new();
    let value = validate(&mut violations);
    check.push_all(&mut violations);
    check.finish().map_err(Error::Invalid)?;
    value.ok_or_else(|| Error::Invalid(Vec::new()))
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Log(LogError::Key(format!("no randomness: {e}"))))?;
    Ok(hex::encode(bytes))
}
