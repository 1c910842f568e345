//! HSDS import and export. An import checks every row against the directory as it is, then
//! appends all changes in one atomic write guarded by each entry's version, or writes nothing.

use std::collections::HashMap;

use samenspel_eventlog::{Error as LogError, ExpectedVersion, FieldViolation, NewEvent};

use samenspel_kit::ServiceEvent;

use crate::error::Error;
use crate::events::DirectoryEvent;
use crate::hsds::{self, HsdsContact, HsdsOrganization, HsdsPage, HsdsService};
use crate::model::OrganisationKind;
use crate::service::DirectoryService;
use crate::state::DirectoryState;

/// How rows are reported while an import is checked.
const PROGRESS_EVERY: usize = 100;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Write the rows that are fine and report the others; without it one bad row stops all.
    pub skip_invalid: bool,
    /// Check and report only; write nothing.
    pub dry_run: bool,
    /// The kind of organisations whose row names none.
    pub default_kind: Option<OrganisationKind>,
}

/// What an import did (or would do) per kind of entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    /// Services listed as inactive, defunct or temporarily closed whose offer was archived.
    pub archived: u32,
    /// Services not active and not in the directory: nothing to do.
    pub skipped: u32,
    pub rejected: u32,
}

/// A row that cannot be imported, and every reason why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where the row is in the document, such as `organizations[3].services[1]`.
    pub path: String,
    /// "organization", "contact" or "service".
    pub entity: &'static str,
    pub source_id: String,
    pub name: String,
    pub violations: Vec<FieldViolation>,
}

/// What a row held that the directory does not keep (it was imported without it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Where the row is in the document, such as `organizations[3].services[1]`.
    pub path: String,
    /// The elements left out, relative to the row: `eligibility_description`, `languages[0].name`.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub organisations: ImportCounts,
    pub contacts: ImportCounts,
    pub offers: ImportCounts,
    pub rejected: Vec<Rejection>,
    /// Rows taken in without some of what they held, each with what was left out.
    pub dropped: Vec<Dropped>,
    /// Whether the changes were appended to the log.
    pub written: bool,
    /// The log position of the last event written (0 when nothing was written).
    pub position: u64,
}

impl ImportReport {
    /// Field violations for an error status: each rejected row's, under the row's path.
    pub fn violations(&self) -> Vec<FieldViolation> {
        self.rejected
            .iter()
            .flat_map(|r| {
                r.violations.iter().map(move |v| {
                    let field = if v.field.is_empty() { r.path.clone() } else { format!("{}.{}", r.path, v.field) };
                    FieldViolation::new(field, v.description.clone())
                })
            })
            .collect()
    }
}

/// How far an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProgress {
    /// Organizations (with everything listed under them) checked, of `total`.
    Checking { done: u64, total: u64 },
    /// Appending this many events in one write.
    Writing { events: u64 },
}

/// The events an import will append, and its report so far.
struct Plan<'a> {
    state: &'a DirectoryState,
    /// This node: it changes only the entries it hosts.
    own: samenspel_eventlog::NodeId,
    options: &'a ImportOptions,
    /// The node's clock when the import began: when its entries were created or updated.
    now: i64,
    events: Vec<NewEvent>,
    report: ImportReport,
    /// Each id met so far, with the row it came with: an identical copy (one contact listed
    /// under its organization and under a service, as nested HSDS does) is the same entry.
    seen: HashMap<String, String>,
}

impl Plan<'_> {
    fn reject(
        &mut self,
        path: String,
        entity: &'static str,
        source_id: &str,
        name: &str,
        violations: Vec<FieldViolation>,
    ) {
        let counts = match entity {
            "organization" => &mut self.report.organisations,
            "contact" => &mut self.report.contacts,
            _ => &mut self.report.offers,
        };
        counts.rejected += 1;
        let violations = violations
            .into_iter()
            .map(|v| {
                let ours = v.field.strip_prefix("fields.").unwrap_or(&v.field);
                let (field, taxonomy) = hsds::hsds_field(entity, ours);
                match taxonomy {
                    Some(t) if !v.description.contains(t) => {
                        FieldViolation::new(field, format!("{} (attributes of taxonomy {t})", v.description))
                    }
                    _ => FieldViolation::new(field, v.description),
                }
            })
            .collect();
        self.report.rejected.push(Rejection {
            path,
            entity,
            source_id: source_id.to_string(),
            name: name.trim().to_string(),
            violations,
        });
    }

    /// The local id of a row, with violations for a missing id, one repeated with other content,
    /// or one that names another kind of entry; `None` for an identical copy of a row met before
    /// (nothing more to do for it).
    fn claim_id(
        &mut self,
        source_id: &str,
        entity: &str,
        row: &impl serde::Serialize,
        violations: &mut Vec<FieldViolation>,
    ) -> Option<String> {
        if source_id.trim().is_empty() {
            violations.push(FieldViolation::new("id", "must be set: every HSDS row has an id"));
            return Some(String::new());
        }
        let id = hsds::local_id(source_id.trim());
        let content = serde_json::to_string(row).unwrap_or_default();
        match self.seen.get(&id) {
            Some(first) if *first == content => return None,
            Some(_) => {
                let why = format!(
                    "{} appears more than once in the document, with different content",
                    samenspel_kit::shown(source_id)
                );
                violations.push(FieldViolation::new("id", why));
            }
            None => {
                self.seen.insert(id.clone(), content);
            }
        }
        let s = self.state;
        let taken_by = [
            ("organization", s.organisation(&id).is_some()),
            ("contact", s.contact(&id).is_some()),
            ("service", s.offer(&id).is_some()),
        ]
        .into_iter()
        .find(|(kind, taken)| *taken && *kind != entity);
        if let Some((other, _)) = taken_by {
            violations.push(FieldViolation::new(
                "id",
                format!("{} is the id of a {other} in this directory", samenspel_kit::shown(source_id)),
            ));
        }
        Some(id)
    }

    fn push(&mut self, event: DirectoryEvent, expected: u64) {
        self.events.push(event.to_new(ExpectedVersion::Exact(expected)));
    }

    fn organisation(&mut self, path: String, org: HsdsOrganization) {
        let mut v = Vec::new();
        let raw = hsds::organisation_fields(&org, self.options.default_kind, &mut v);
        let fields = raw.validate("fields", &mut v);
        for x in v.iter_mut().filter(|x| x.field == "fields.kind") {
            let why = format!(
                "no organisation kind: add an attribute of taxonomy {:?}, or import with a default kind",
                hsds::TAXONOMY_ORGANISATION_KIND
            );
            *x = FieldViolation::new("attributes", why);
        }
        let Some(id) = self.claim_id(&org.id, "organization", &org, &mut v) else { return };
        let existing = self.state.organisation(&id);
        if existing.is_some_and(|o| o.archived) {
            v.push(FieldViolation::new("id", "this organisation is archived here; it is not imported again"));
        }
        if existing.is_some_and(|o| o.hosting_node.0 != self.own) {
            v.push(FieldViolation::new("id", "this organisation is hosted by another node; it is changed there"));
        }
        let fields = match fields {
            Some(f) if v.is_empty() => f,
            _ => {
                self.reject(path.clone(), "organization", &org.id, &org.name, v);
                self.reject_children(&path, &org);
                return;
            }
        };
        match existing {
            None => {
                self.report.organisations.created += 1;
                self.push(DirectoryEvent::OrganisationCreated { id: id.clone(), fields, at_micros: self.now }, 0);
            }
            Some(o) if o.fields == fields => self.report.organisations.unchanged += 1,
            Some(o) => {
                self.report.organisations.updated += 1;
                let version = o.version;
                self.push(DirectoryEvent::OrganisationUpdated { id: id.clone(), fields, at_micros: self.now }, version);
            }
        }
        for (j, c) in org.contacts.iter().enumerate() {
            self.contact(format!("{path}.contacts[{j}]"), &id, &org.id, c);
        }
        for (k, s) in org.services.iter().enumerate() {
            for (j, c) in s.contacts.iter().enumerate() {
                self.contact(format!("{path}.services[{k}].contacts[{j}]"), &id, &org.id, c);
            }
            self.service(format!("{path}.services[{k}]"), &id, &org.id, s);
        }
    }

    /// Rows under a rejected organisation cannot be imported either; each is reported.
    fn reject_children(&mut self, path: &str, org: &HsdsOrganization) {
        let why = || vec![FieldViolation::new("", "its organization was rejected")];
        for (j, c) in org.contacts.iter().enumerate() {
            self.reject(format!("{path}.contacts[{j}]"), "contact", &c.id, &c.name, why());
        }
        for (k, s) in org.services.iter().enumerate() {
            for (j, c) in s.contacts.iter().enumerate() {
                self.reject(format!("{path}.services[{k}].contacts[{j}]"), "contact", &c.id, &c.name, why());
            }
            self.reject(format!("{path}.services[{k}]"), "service", &s.id, &s.name, why());
        }
    }

    fn check_parent(given: &str, org_source_id: &str, v: &mut Vec<FieldViolation>) {
        if !given.trim().is_empty() && hsds::local_id(given.trim()) != hsds::local_id(org_source_id.trim()) {
            v.push(FieldViolation::new("organization_id", "is not the organization it is listed under"));
        }
    }

    fn contact(&mut self, path: String, org_id: &str, org_source_id: &str, contact: &HsdsContact) {
        let mut v = Vec::new();
        let raw = hsds::contact_fields(contact, &mut v);
        let fields = raw.validate("fields", &mut v);
        Self::check_parent(&contact.organization_id, org_source_id, &mut v);
        let Some(id) = self.claim_id(&contact.id, "contact", contact, &mut v) else { return };
        let existing = self.state.contact(&id);
        match existing {
            Some(c) if c.organisation_id != org_id => {
                v.push(FieldViolation::new("id", "this contact person belongs to another organisation here"));
            }
            Some(c) if c.archived => {
                v.push(FieldViolation::new("id", "this contact person is archived here; it is not imported again"));
            }
            _ => {}
        }
        let fields = match fields {
            Some(f) if v.is_empty() => f,
            _ => return self.reject(path, "contact", &contact.id, &contact.name, v),
        };
        match existing {
            None => {
                self.report.contacts.created += 1;
                let organisation_id = org_id.to_string();
                self.push(DirectoryEvent::ContactCreated { id, organisation_id, fields, at_micros: self.now }, 0);
            }
            Some(c) if c.fields == fields => self.report.contacts.unchanged += 1,
            Some(c) => {
                self.report.contacts.updated += 1;
                let version = c.version;
                self.push(DirectoryEvent::ContactUpdated { id, fields, at_micros: self.now }, version);
            }
        }
    }

    fn service(&mut self, path: String, org_id: &str, org_source_id: &str, service: &HsdsService) {
        let mut v = Vec::new();
        let active = matches!(service.status.trim(), "" | "active");
        if !active && !["inactive", "defunct", "temporarily closed"].contains(&service.status.trim()) {
            v.push(FieldViolation::new("status", "must be active, inactive, defunct or temporarily closed"));
        }
        let raw = hsds::offer_fields(service, &mut v);
        // An offer that is no longer active is archived; its other fields need not be valid.
        let fields = if active { raw.validate("fields", &mut v) } else { None };
        Self::check_parent(&service.organization_id, org_source_id, &mut v);
        let Some(id) = self.claim_id(&service.id, "service", service, &mut v) else { return };
        let existing = self.state.offer(&id);
        match existing {
            Some(o) if o.organisation_id != org_id => {
                v.push(FieldViolation::new("id", "this service is an offer of another organisation here"));
            }
            Some(o) if o.archived && active => {
                v.push(FieldViolation::new("id", "this offer is archived here; it is not imported again"));
            }
            _ => {}
        }
        if !active {
            // Only the problems with the id and status count for a service that is not active.
            v.retain(|x| x.field == "id" || x.field == "status" || x.field == "organization_id");
            if !v.is_empty() {
                return self.reject(path, "service", &service.id, &service.name, v);
            }
            match existing {
                Some(o) if !o.archived => {
                    self.report.offers.archived += 1;
                    let version = o.version;
                    self.push(DirectoryEvent::OfferArchived { id }, version);
                }
                _ => self.report.offers.skipped += 1,
            }
            return;
        }
        let fields = match fields {
            Some(f) if v.is_empty() => f,
            _ => return self.reject(path, "service", &service.id, &service.name, v),
        };
        match existing {
            None => {
                self.report.offers.created += 1;
                let organisation_id = org_id.to_string();
                self.push(DirectoryEvent::OfferCreated { id, organisation_id, fields }, 0);
            }
            Some(o) if o.fields == fields => self.report.offers.unchanged += 1,
            Some(o) => {
                self.report.offers.updated += 1;
                let version = o.version;
                self.push(DirectoryEvent::OfferUpdated { id, fields }, version);
            }
        }
    }
}

impl DirectoryService {
    /// Imports an HSDS 3 JSON document. Every row is checked first; then all changes are
    /// appended in one atomic write, or nothing is written: when a row is rejected (unless
    /// `skip_invalid`), on a dry run, or when an entry changed meanwhile (a version conflict).
    pub async fn import_hsds(
        &self,
        document: &[u8],
        options: &ImportOptions,
        progress: &mut (dyn FnMut(ImportProgress) + Send),
    ) -> Result<ImportReport, Error> {
        let rows = hsds::split_document(document).map_err(|v| Error::Invalid(vec![v]))?;
        let total = rows.len() as u64;
        let (events, mut report) = {
            let state = self.runtime.read();
            let mut plan = Plan {
                state: &state,
                own: self.runtime.log().node_id(),
                options,
                now: self.clock.now_micros(),
                events: Vec::new(),
                report: ImportReport::default(),
                seen: HashMap::new(),
            };
            for (i, row) in rows.into_iter().enumerate() {
                let path = format!("organizations[{i}]");
                if let Some(why) = hsds::not_an_organization(row) {
                    let (source_id, name) = hsds::row_label(row);
                    plan.reject(path, "organization", &source_id, &name, vec![FieldViolation::new("", why)]);
                    continue;
                }
                match hsds::parse_organization(row) {
                    Ok(org) => {
                        plan.organisation(path.clone(), org);
                        if let Ok(value) = serde_json::from_str::<serde_json::Value>(row.get()) {
                            for (at, fields) in crate::dropped::dropped(&value) {
                                let path = if at.is_empty() { path.clone() } else { format!("{path}.{at}") };
                                plan.report.dropped.push(Dropped { path, fields });
                            }
                        }
                    }
                    Err(v) => {
                        let (source_id, name) = hsds::row_label(row);
                        plan.reject(path, "organization", &source_id, &name, vec![v]);
                    }
                }
                if (i + 1) % PROGRESS_EVERY == 0 {
                    progress(ImportProgress::Checking { done: i as u64 + 1, total });
                }
            }
            progress(ImportProgress::Checking { done: total, total });
            (plan.events, plan.report)
        };
        if options.dry_run || events.is_empty() || (!report.rejected.is_empty() && !options.skip_invalid) {
            return Ok(report);
        }
        progress(ImportProgress::Writing { events: events.len() as u64 });
        let appended = match self.runtime.append(events).await {
            Ok(appended) => appended,
            Err(LogError::WrongExpectedVersion { stream, expected, actual }) => {
                let id = stream.rsplit('/').next().unwrap_or_default().to_string();
                return Err(Error::VersionConflict { id, expected, actual });
            }
            Err(e) => return Err(e.into()),
        };
        let last = appended.last().map_or(0, |a| a.seq);
        report.written = true;
        report.position = last;
        tracing::info!(
            events = appended.len(),
            position = last,
            rejected = report.rejected.len(),
            "hsds import written"
        );
        Ok(report)
    }

    /// The organisations this node hosts that are not archived, with their contact persons and
    /// offers, as one HSDS 3 JSON document (each node publishes its own part of the sociale kaart),
    /// and the access-log subjects of the contact persons in it.
    pub fn export_hsds(&self) -> (Vec<u8>, Vec<String>) {
        let mut subjects = Vec::new();
        let contents: Vec<HsdsOrganization> = {
            let state = self.runtime.read();
            state
                .for_export(self.runtime.log().node_id())
                .into_iter()
                .map(|(org, contacts, offers)| {
                    subjects.extend(contacts.iter().map(|c| c.subject()));
                    hsds::export_organisation(org, &contacts, &offers)
                })
                .collect()
        };
        let page = HsdsPage {
            total_items: contents.len(),
            total_pages: 1,
            page_number: 1,
            size: contents.len(),
            first_page: true,
            last_page: true,
            empty: contents.is_empty(),
            contents,
        };
        let mut out = serde_json::to_vec(&page).expect("hsds export serialises");
        out.push(b'\n');
        (out, subjects)
    }
}
