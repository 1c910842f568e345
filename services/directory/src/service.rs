//! The directory's commands and queries: commands append events to the log and wait until the
//! projection has applied them, so a caller reads its own writes; queries read the projection.

use std::sync::Arc;

use samenspel_domain::Clock;
use samenspel_eventlog::{
    Error as LogError, EventLog, FieldViolation, NewEvent, NodeId, StoredEvent, SubscribeFrom, Subscription,
};
use samenspel_kit::{Check, Feed, Runtime, ServiceEvent, derived_id, is_id, page_size, random_id};

use crate::config::DirectoryConfig;
use crate::decide::{self, Entity};
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
    pub(crate) runtime: Runtime<DirectoryState>,
    config: DirectoryConfig,
    /// What freshness is measured against; the node's clock, so a test clock moves it too.
    pub(crate) clock: Arc<dyn Clock>,
}

impl DirectoryService {
    /// Restores the directory from its last snapshot and follows the log from there.
    pub async fn start(log: Arc<dyn EventLog>, config: DirectoryConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let runtime = Runtime::<DirectoryState>::start(log, PROJECTION, config.snapshot_every, Feed::All).await?;
        Ok(Self { runtime, config, clock })
    }

    /// Stops following the log and saves a snapshot; call it before the log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        Ok(self.runtime.stop().await?)
    }

    pub fn import_max_bytes(&self) -> usize {
        self.config.import_max_bytes
    }

    pub fn get(&self, id: &str) -> Result<Organisation, Error> {
        let found = self.runtime.read().organisation(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "organisation", id: id.to_string() })
    }

    pub fn get_contact(&self, id: &str) -> Result<ContactPerson, Error> {
        let found = self.runtime.read().contact(id).cloned();
        found.ok_or_else(|| Error::NotFound { what: "contact person", id: id.to_string() })
    }

    /// Page size within the configured bounds, and the id to continue after.
    fn paging<'a>(&self, page_size_asked: u32, page_token: &'a str) -> Result<(usize, Option<&'a str>), Error> {
        if !page_token.is_empty() && !is_id(page_token) {
            return Err(Error::Invalid(vec![FieldViolation::new("page_token", "is not a token from a previous page")]));
        }
        let size = page_size(page_size_asked, self.config.default_page_size, self.config.max_page_size);
        Ok((size, Some(page_token).filter(|t| !t.is_empty())))
    }

    pub fn list(
        &self,
        page_size: u32,
        page_token: &str,
        kind: Option<OrganisationKind>,
        include_archived: bool,
    ) -> Result<(Vec<Organisation>, String), Error> {
        let (size, after) = self.paging(page_size, page_token)?;
        let (page, more) = self.runtime.read().list(after, kind, include_archived, size);
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
        let (page, more) = self.runtime.read().list_contacts(after, organisation, include_archived, size);
        let next = if more { page.last().map(|c| c.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    /// `check` holds what the edge found wrong already; every problem is named at once.
    pub async fn create(&self, check: Check, raw: RawFields, request_id: &str) -> Result<Organisation, Error> {
        let fields = checked(check, |v| raw.validate("fields", v))?;
        let id = self.new_id("organisation", request_id)?;
        let event = DirectoryEvent::OrganisationCreated { id: id.clone(), fields, at_micros: self.clock.now_micros() };
        if !self.retried(request_id, &event).await? {
            self.append_new(decide::created(event.clone(), request_id), request_id, &event).await?;
        }
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
        let event =
            DirectoryEvent::OrganisationUpdated { id: id.to_string(), fields, at_micros: self.clock.now_micros() };
        self.change(Entity::Organisation, id, event, expected_version).await?;
        self.get(id)
    }

    pub async fn archive(&self, id: &str, expected_version: u64) -> Result<Organisation, Error> {
        let event = DirectoryEvent::OrganisationArchived { id: id.to_string() };
        self.change(Entity::Organisation, id, event, expected_version).await?;
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
        let id = self.new_id("contact", request_id)?;
        let event = DirectoryEvent::ContactCreated {
            id: id.clone(),
            organisation_id: organisation_id.to_string(),
            fields,
            at_micros: self.clock.now_micros(),
        };
        self.new_entry(organisation_id, event, request_id).await?;
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
        let event = DirectoryEvent::ContactUpdated { id: id.to_string(), fields, at_micros: self.clock.now_micros() };
        self.change(Entity::Contact, id, event, expected_version).await?;
        self.get_contact(id)
    }

    pub async fn archive_contact(&self, id: &str, expected_version: u64) -> Result<ContactPerson, Error> {
        let event = DirectoryEvent::ContactArchived { id: id.to_string(), at_micros: self.clock.now_micros() };
        self.change(Entity::Contact, id, event, expected_version).await?;
        self.get_contact(id)
    }

    pub fn get_offer(&self, id: &str) -> Result<Offer, Error> {
        let found = self.runtime.read().offer(id).cloned();
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
        let (page, more) = self.runtime.read().list_offers(after, organisation, include_archived, size);
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
        let id = self.new_id("offer", request_id)?;
        let event =
            DirectoryEvent::OfferCreated { id: id.clone(), organisation_id: organisation_id.to_string(), fields };
        self.new_entry(organisation_id, event, request_id).await?;
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
        let event = DirectoryEvent::OfferUpdated { id: id.to_string(), fields };
        self.change(Entity::Offer, id, event, expected_version).await?;
        self.get_offer(id)
    }

    pub async fn archive_offer(&self, id: &str, expected_version: u64) -> Result<Offer, Error> {
        let event = DirectoryEvent::OfferArchived { id: id.to_string() };
        self.change(Entity::Offer, id, event, expected_version).await?;
        self.get_offer(id)
    }

    /// Offers that fit, best first. Criteria are checked like any input: a bad one is named.
    pub fn search(&self, mut check: Check, criteria: SearchCriteria, page_size_asked: u32) -> Result<Vec<Hit>, Error> {
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
        let size = page_size(page_size_asked, self.config.default_page_size, self.config.max_page_size);
        self.runtime.read().search(&query, size).ok_or_else(|| {
            let why = "give a support function or kind, a postcode, a language or words to search for";
            Error::Invalid(vec![FieldViolation::new("support_function", why)])
        })
    }

    /// The node's log from `from_position` on (catch-up, then live); turn each event into a
    /// change with [`DirectoryService::change_at`].
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        let log = self.runtime.log();
        Ok(log.subscribe(SubscribeFrom::origin(log.node_id(), from_position.max(1)))?)
    }

    /// Every node's log this node holds: its own from `from_position`, the others from their
    /// position in `resume` (their first event when not named), each event after its causes.
    pub fn watch_federation(&self, from_position: u64, resume: &[(NodeId, u64)]) -> Result<Subscription, Error> {
        let own = self.runtime.log().node_id();
        let mut from: Vec<(NodeId, u64)> =
            resume.iter().filter(|(n, _)| *n != own).map(|(n, p)| (*n, (*p).max(1))).collect();
        from.push((own, from_position.max(1)));
        Ok(self.runtime.log().subscribe_all(from)?)
    }

    /// The change an event made to the directory; `None` for events of other services.
    pub async fn change_at(&self, event: &StoredEvent) -> Result<Option<Change>, Error> {
        let h = &event.header;
        let Some(Ok(decoded)) = DirectoryEvent::decode_stored(event) else {
            return Ok(None);
        };
        // The projection may be a step behind the subscription: let it catch up first.
        self.runtime.reader().wait_for_origin(h.origin, h.seq).await?;
        let id = decoded.id();
        let state = self.runtime.read();
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
        let (own, now) = (self.runtime.log().node_id(), self.clock.now_micros());
        self.runtime.decide(|s| decide::verify(s, own, id, now)).await?;
        Ok(())
    }

    /// Organisations and contact persons not verified for `max_age_secs` (the configured
    /// threshold when 0) by the node's clock, oldest first, a page at a time; with the token of
    /// the next page when one follows.
    pub fn stale(
        &self,
        max_age_secs: u64,
        page_size_asked: u32,
        page_token: &str,
    ) -> Result<(Vec<Organisation>, Vec<ContactPerson>, String), Error> {
        let after = match page_token {
            "" => None,
            t => Some(stale_token(t).ok_or_else(|| {
                Error::Invalid(vec![FieldViolation::new("page_token", "is not a token from a previous page")])
            })?),
        };
        let max_age = if max_age_secs == 0 { self.config.stale_after_secs } else { max_age_secs };
        let now = self.clock.now_micros();
        let cutoff = now.saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX).saturating_mul(1_000_000));
        let size = page_size(page_size_asked, self.config.default_page_size, self.config.max_page_size);
        let (organisations, contacts, next) = self.runtime.read().stale(cutoff, after, size);
        let next = next.map(|(micros, id)| format!("{micros}/{id}")).unwrap_or_default();
        Ok((organisations, contacts, next))
    }

    /// A new entity's id; a retry must produce the same event, so one made for a request id is
    /// derived from it.
    fn new_id(&self, entity: &str, request_id: &str) -> Result<String, Error> {
        if request_id.is_empty() {
            return Ok(random_id()?);
        }
        let node = self.runtime.log().node_id();
        Ok(derived_id("samenspel directory id v1", &[node.as_bytes(), entity.as_bytes(), &[0], request_id.as_bytes()]))
    }

    /// Whether a create with `request_id` was made before: its entry's first event, made for the
    /// same request id, holds the same fields (a retry: nothing to append). The same request id
    /// with other fields is `RequestIdReused`. A retry is recognised however the entry changed
    /// since, and whatever the clock says now.
    async fn retried(&self, request_id: &str, event: &DirectoryEvent) -> Result<bool, Error> {
        if request_id.is_empty() {
            return Ok(false);
        }
        let log = self.runtime.log();
        let first = log.read_stream(log.node_id(), &event.stream(), 1, 1).await?;
        let Some(first) = first.first() else { return Ok(false) };
        match DirectoryEvent::decode_stored(first) {
            Some(Ok(earlier)) if earlier.same_create(event) => {
                self.runtime.reader().wait_for(first.header.seq).await?;
                Ok(true)
            }
            _ => Err(Error::RequestIdReused { request_id: request_id.to_string() }),
        }
    }

    /// Appends the first event of a new entry and waits until the read model has it; a
    /// concurrent retry that got there first is taken for this one.
    async fn append_new(&self, new: NewEvent, request_id: &str, event: &DirectoryEvent) -> Result<(), Error> {
        match self.runtime.append(vec![new]).await {
            Ok(_) => Ok(()),
            Err(LogError::EventIdReused { .. }) if self.retried(request_id, event).await? => Ok(()),
            Err(LogError::EventIdReused { .. }) => Err(Error::RequestIdReused { request_id: request_id.to_string() }),
            Err(e) => Err(e.into()),
        }
    }

    /// A new contact person or offer of `organisation_id` (see `decide::new_entry`), unless it is
    /// a retry of one made before.
    async fn new_entry(&self, organisation_id: &str, event: DirectoryEvent, request_id: &str) -> Result<(), Error> {
        if self.retried(request_id, &event).await? {
            return Ok(());
        }
        let own = self.runtime.log().node_id();
        let decided = self.runtime.decide(|s| decide::new_entry(s, own, organisation_id, event.clone(), request_id));
        match decided.await {
            Ok(_) => Ok(()),
            Err(Error::Log(LogError::EventIdReused { .. })) if self.retried(request_id, &event).await? => Ok(()),
            Err(Error::Log(LogError::EventIdReused { .. })) => {
                Err(Error::RequestIdReused { request_id: request_id.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    /// A change of an entry at the version the caller read (see `decide::change`).
    async fn change(&self, entity: Entity, id: &str, event: DirectoryEvent, expected: u64) -> Result<(), Error> {
        let own = self.runtime.log().node_id();
        self.runtime.decide(|s| decide::change(s, own, entity, id, event.clone(), expected)).await?;
        Ok(())
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
/// A page token of ListStale: the last entry's verification time and id.
fn stale_token(token: &str) -> Option<(i64, String)> {
    let (micros, id) = token.split_once('/')?;
    Some((micros.parse().ok()?, id.to_string())).filter(|(_, id)| is_id(id))
}

/// The value `validate` makes of a request's fields, or every problem: those it found and those
/// the edge found before (`check`).
fn checked<T>(mut check: Check, validate: impl FnOnce(&mut Vec<FieldViolation>) -> Option<T>) -> Result<T, Error> {
    let mut violations = Vec::new();
    let value = validate(&mut violations);
    check.push_all(&mut violations);
    check.finish().map_err(Error::Invalid)?;
    value.ok_or_else(|| Error::Invalid(Vec::new()))
}
