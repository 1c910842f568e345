//! A request's history as FHIR R4 resources: the Bundle of a request and its referrals, and each
//! referral's Task. The mapping of every element is in ARCHITECTURE.md ("FHIR R4 mapping");
//! what the audience may not see is left out, never blanked: a receiver's Bundle holds no Patient,
//! no RelatedPerson and no description.

use samenspel_fhir::codes::{self, coding};
use samenspel_fhir::{full_url, reference};
use serde_json::{Value, json};

use crate::history::{MatchHistory, RequestHistory, RequestStatus};
use crate::inputs::{PersonIn, ScopeIn};
use crate::task;

/// Who a Bundle is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The organisation that took the request in: all this node holds.
    Own,
    /// A receiving organisation before the client's details are shared: the consented summary.
    Receiver,
}

use samenspel_fhir::derived_id;
pub(crate) use samenspel_fhir::instant;

fn entry(resource: Value) -> Value {
    let kind = resource["resourceType"].as_str().unwrap_or_default().to_string();
    let id = resource["id"].as_str().unwrap_or_default().to_string();
    json!({ "fullUrl": full_url(&kind, &id), "resource": resource })
}

fn identifier(system: &str, value: &str) -> Value {
    json!({ "system": system, "value": value })
}

/// The resources of one export, with what the access record names.
#[derive(Debug)]
pub struct Exported {
    pub json: Value,
    /// The data subjects whose personal data the export holds.
    pub subjects: Vec<String>,
}

struct Builder<'a> {
    h: &'a RequestHistory,
    audience: Audience,
    now_micros: i64,
}

impl Builder<'_> {
    fn patient_id(&self) -> Option<String> {
        let subject = &self.h.fields.client.subject_id;
        (self.audience == Audience::Own && !subject.is_empty()).then(|| derived_id("patient", subject))
    }

    fn subject_ref(&self) -> Value {
        match self.patient_id() {
            Some(id) => reference("Patient", &id),
            None => json!({ "display": "cliënt (gegevens niet gedeeld)" }),
        }
    }

    fn organisation_ref(&self, id: &str) -> Value {
        let mut r = reference("Organization", id);
        if let Some(o) = self.h.organisations.get(id)
            && !o.name.is_empty()
        {
            r["display"] = o.name.clone().into();
        }
        r
    }

    fn consent_id(&self) -> String {
        derived_id("consent", &self.h.id)
    }

    fn telecom(p: &PersonIn) -> Vec<Value> {
        let mut t = Vec::new();
        if !p.phone.is_empty() {
            t.push(json!({ "system": "phone", "value": p.phone }));
        }
        if !p.email.is_empty() {
            t.push(json!({ "system": "email", "value": p.email }));
        }
        t
    }

    fn patient(&self, id: &str) -> Value {
        let c = &self.h.fields.client;
        let mut p = json!({
            "resourceType": "Patient",
            "id": id,
            "identifier": [identifier(codes::SUBJECT_ID, &c.subject_id)],
        });
        // An erased subject's name and contact details read as empty: left out.
        if !c.name.is_empty() {
            p["name"] = json!([{ "text": c.name }]);
        }
        let telecom = Self::telecom(c);
        if !telecom.is_empty() {
            p["telecom"] = telecom.into();
        }
        if !c.birth_date.is_empty() {
            p["birthDate"] = c.birth_date.clone().into();
        }
        if !self.h.fields.postcode.is_empty() {
            p["address"] = json!([{ "postalCode": self.h.fields.postcode, "country": "NL" }]);
        }
        if !self.h.fields.languages.is_empty() {
            p["communication"] = self
                .h
                .fields
                .languages
                .iter()
                .map(|l| json!({ "language": { "coding": [{ "system": "urn:ietf:bcp:47", "code": l }] } }))
                .collect::<Vec<_>>()
                .into();
        }
        p
    }

    fn related_people(&self, patient: &str) -> Vec<(String, Value)> {
        self.h
            .fields
            .involved
            .iter()
            .filter(|i| i.role == "mantelzorger" && !i.person.subject_id.is_empty())
            .map(|i| {
                let id = derived_id("related-person", &i.person.subject_id);
                let mut r = json!({
                    "resourceType": "RelatedPerson",
                    "id": id,
                    "identifier": [identifier(codes::SUBJECT_ID, &i.person.subject_id)],
                    "patient": reference("Patient", patient),
                    "relationship": [{ "coding": [coding(codes::ROLE_CODE, "CAREGIVER", Some("caregiver"))], "text": "mantelzorger" }],
                });
                if let Some(role) = &i.mantelzorger_role {
                    r["relationship"]
                        .as_array_mut()
                        .expect("built as an array")
                        .push(json!({ "coding": [coding(codes::MANTELZORGER_ROLE, &role.replace('_', "-"), None)] }));
                }
                if !i.person.name.is_empty() {
                    r["name"] = json!([{ "text": i.person.name }]);
                }
                let telecom = Self::telecom(&i.person);
                if !telecom.is_empty() {
                    r["telecom"] = telecom.into();
                }
                (i.person.subject_id.clone(), r)
            })
            .collect()
    }

    fn service_request(&self) -> Value {
        let f = &self.h.fields;
        let status = match self.h.status {
            RequestStatus::Submitted | RequestStatus::Matching | RequestStatus::Matched => "active",
            RequestStatus::Closed => "completed",
            RequestStatus::Withdrawn => "revoked",
        };
        let mut identifiers = vec![identifier(codes::HELP_REQUEST_ID, &self.h.id)];
        for i in &self.h.source_identifiers {
            let mut id = json!({ "value": i.value });
            if !i.system.is_empty() {
                id["system"] = i.system.clone().into();
            }
            identifiers.push(id);
        }
        let mut sr = json!({
            "resourceType": "ServiceRequest",
            "id": self.h.id,
            "meta": { "lastUpdated": instant(self.h.updated_micros) },
            "identifier": identifiers,
            "status": status,
            "intent": "order",
            "priority": if f.urgency == "high" { "urgent" } else { "routine" },
            "subject": self.subject_ref(),
            "authoredOn": instant(self.h.submitted_micros),
        });
        if !f.urgency.is_empty() {
            sr["extension"] = json!([{ "url": codes::URGENCY_EXTENSION, "valueCode": f.urgency }]);
        }
        if !f.functions.is_empty() {
            sr["category"] = f
                .functions
                .iter()
                .map(|c| json!({ "coding": [coding(codes::SUPPORT_FUNCTION, c, codes::function_display(c))] }))
                .collect::<Vec<_>>()
                .into();
        }
        let kind = |c: &String| json!({ "coding": [coding(codes::SUPPORT_KIND, c, codes::kind_display(c))] });
        // ServiceRequest.code holds one concept: the first kind of help asked; the others are
        // order details.
        if let Some((first, rest)) = f.kinds.split_first() {
            sr["code"] = kind(first);
            if !rest.is_empty() {
                sr["orderDetail"] = rest.iter().map(kind).collect::<Vec<_>>().into();
            }
        }
        if !f.asking_organisation_id.is_empty() {
            sr["requester"] = self.organisation_ref(&f.asking_organisation_id);
        }
        let performers: Vec<Value> = self
            .h
            .matches
            .iter()
            .filter(|m| matches!(task::state(&m.steps).status, "accepted" | "in-progress" | "completed"))
            .map(|m| self.organisation_ref(&m.organisation_id))
            .collect();
        if !performers.is_empty() {
            sr["performer"] = performers.into();
        }
        if self.h.consent.is_some() {
            sr["supportingInfo"] = json!([reference("Consent", &self.consent_id())]);
        }
        if self.audience == Audience::Own && !f.description.is_empty() {
            sr["note"] = json!([{ "text": f.description }]);
        }
        sr
    }

    fn consent(&self) -> Option<Value> {
        let c = self.h.consent.as_ref()?;
        let active = !self.h.consent_withdrawn && self.now_micros < c.expires_micros;
        let actors: Vec<Value> = c
            .scopes
            .iter()
            .map(|s| {
                let who = match s {
                    ScopeIn::Organisation(id) => self.organisation_ref(id),
                    ScopeIn::OrganisationKind(kind) => json!({
                        "identifier": identifier(codes::ORGANISATION_KIND, kind),
                        "display": format!("elke organisatie van soort {kind}"),
                    }),
                };
                json!({ "role": { "coding": [coding(codes::PARTICIPATION_TYPE, "IRCP", Some("information recipient"))] }, "reference": who })
            })
            .collect();
        let mut provision = json!({
            "type": "permit",
            "purpose": c.purposes.iter().map(|p| coding(codes::CONSENT_PURPOSE, &p.replace('_', "-"), None)).collect::<Vec<_>>(),
        });
        if !actors.is_empty() {
            provision["actor"] = actors.into();
        }
        if !c.until.is_empty() {
            provision["period"] = json!({ "end": c.until });
        }
        let mut consent = json!({
            "resourceType": "Consent",
            "id": self.consent_id(),
            "status": if active { "active" } else { "inactive" },
            "scope": { "coding": [coding(codes::CONSENT_SCOPE, "patient-privacy", Some("Privacy Consent"))] },
            "category": [{ "coding": [coding(codes::LOINC, "59284-0", Some("Patient Consent"))] }],
            "dateTime": instant(self.h.updated_micros),
            "policyRule": { "coding": [coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN", Some("opt-in"))] },
            "provision": provision,
        });
        if let Some(p) = self.patient_id() {
            consent["patient"] = reference("Patient", &p);
        }
        if !self.h.fields.asking_organisation_id.is_empty() {
            consent["organization"] = json!([self.organisation_ref(&self.h.fields.asking_organisation_id)]);
        }
        Some(consent)
    }

    fn task(&self, m: &MatchHistory) -> Value {
        let s = task::state(&m.steps);
        let mut t = json!({
            "resourceType": "Task",
            "id": m.id,
            "meta": { "lastUpdated": instant(m.updated_micros()), "profile": [codes::REFERRAL_TASK_PROFILE] },
            "identifier": [identifier(codes::MATCH_ID, &m.id)],
            "basedOn": [reference("ServiceRequest", &self.h.id)],
            "status": s.status,
            "businessStatus": { "coding": [coding(codes::REFERRAL_STEP, &s.business, None)] },
            "intent": "order",
            "code": { "coding": [coding(codes::TASK_CODE, "fulfill", Some("Fulfill the focal request"))] },
            "focus": reference("ServiceRequest", &self.h.id),
            "authoredOn": instant(m.confirmed_micros()),
            "lastModified": instant(m.updated_micros()),
            "owner": self.organisation_ref(&m.organisation_id),
        });
        if let Some(p) = self.patient_id() {
            t["for"] = reference("Patient", &p);
        }
        if self.audience == Audience::Own && !m.reason.is_empty() {
            t["reasonCode"] = json!({ "text": m.reason });
        }
        if !self.h.fields.asking_organisation_id.is_empty() {
            t["requester"] = self.organisation_ref(&self.h.fields.asking_organisation_id);
        }
        if let Some((code, text)) = &s.reason {
            let mut reason = json!({ "coding": [coding(codes::STATUS_REASON, code, None)] });
            if !text.is_empty() {
                reason["text"] = text.clone().into();
            }
            t["statusReason"] = reason;
        }
        if let Some(category) = &s.output {
            t["output"] = json!([{
                "type": { "coding": [coding(codes::REFERRAL_STEP, "closure-category", None)], "text": "hoe de verwijzing eindigde" },
                "valueCodeableConcept": { "coding": [coding(codes::CLOSURE_CATEGORY, &category.replace('_', "-"), None)] },
            }]);
        }
        let mut offers = vec![reference("HealthcareService", &m.offer_id)];
        offers.extend(m.support_offer_id.as_deref().map(|o| reference("HealthcareService", o)));
        t["input"] = offers
            .into_iter()
            .map(|o| json!({ "type": { "text": "aanbod" }, "valueReference": o }))
            .collect::<Vec<_>>()
            .into();
        t
    }

    fn organisation(&self, id: &str) -> Value {
        let mut o = json!({
            "resourceType": "Organization",
            "id": id,
            "identifier": [identifier(codes::ORGANISATION_ID, id)],
            "active": true,
        });
        if let Some(org) = self.h.organisations.get(id) {
            if !org.name.is_empty() {
                o["name"] = org.name.clone().into();
            }
            if !org.kind.is_empty() {
                o["type"] = json!([{ "coding": [coding(codes::ORGANISATION_KIND, &org.kind, None)] }]);
            }
        }
        o
    }

    fn healthcare_service(&self, id: &str) -> Value {
        let mut s = json!({
            "resourceType": "HealthcareService",
            "id": id,
            "identifier": [identifier(codes::OFFER_ID, id)],
            "active": true,
        });
        if let Some((org, offer)) = self.h.offers.get(id) {
            s["providedBy"] = self.organisation_ref(org);
            if !offer.title.is_empty() {
                s["name"] = offer.title.clone().into();
            }
            if !offer.functions.is_empty() {
                s["category"] = offer
                    .functions
                    .iter()
                    .map(|c| json!({ "coding": [coding(codes::SUPPORT_FUNCTION, c, codes::function_display(c))] }))
                    .collect::<Vec<_>>()
                    .into();
            }
            if !offer.kinds.is_empty() {
                s["type"] = offer
                    .kinds
                    .iter()
                    .map(|c| json!({ "coding": [coding(codes::SUPPORT_KIND, c, codes::kind_display(c))] }))
                    .collect::<Vec<_>>()
                    .into();
            }
        }
        s
    }
}

/// The Bundle of a request and its referrals for `audience`.
pub fn referral_bundle(h: &RequestHistory, audience: Audience, now_micros: i64) -> Exported {
    let b = Builder { h, audience, now_micros };
    let mut entries = vec![entry(b.service_request())];
    let mut subjects = vec![format!("request/{}", h.id)];
    if let Some(pid) = b.patient_id() {
        entries.push(entry(b.patient(&pid)));
        subjects.push(h.fields.client.subject_id.clone());
        for (subject, r) in b.related_people(&pid) {
            entries.push(entry(r));
            subjects.push(subject);
        }
    }
    if let Some(c) = b.consent() {
        entries.push(entry(c));
    }
    for m in &h.matches {
        entries.push(entry(b.task(m)));
    }
    let mut orgs: Vec<&str> = Vec::new();
    let mut candidates: Vec<&str> = vec![&h.fields.asking_organisation_id];
    candidates.extend(h.matches.iter().map(|m| m.organisation_id.as_str()));
    candidates.extend(h.offers.values().map(|(org, _)| org.as_str()));
    if let Some(c) = &h.consent {
        candidates.extend(c.scopes.iter().filter_map(|s| match s {
            ScopeIn::Organisation(id) => Some(id.as_str()),
            ScopeIn::OrganisationKind(_) => None,
        }));
    }
    for id in candidates {
        if !id.is_empty() && !orgs.contains(&id) {
            orgs.push(id);
        }
    }
    let offers: Vec<&String> = h.offers.keys().collect();
    let mut missing: Vec<&String> = Vec::new();
    for m in &h.matches {
        for o in [Some(&m.offer_id), m.support_offer_id.as_ref()].into_iter().flatten() {
            if !offers.contains(&o) && !missing.contains(&o) {
                missing.push(o);
            }
        }
    }
    for id in orgs {
        entries.push(entry(b.organisation(id)));
    }
    for id in offers.into_iter().chain(missing) {
        entries.push(entry(b.healthcare_service(id)));
    }
    let json = json!({
        "resourceType": "Bundle",
        "id": h.id,
        "meta": { "lastUpdated": instant(h.updated_micros) },
        "identifier": identifier(codes::HELP_REQUEST_ID, &h.id),
        "type": "collection",
        "timestamp": instant(now_micros),
        "entry": entries,
    });
    Exported { json, subjects }
}

/// One referral's Task.
pub fn task_resource(h: &RequestHistory, index: usize, now_micros: i64) -> Exported {
    let b = Builder { h, audience: Audience::Own, now_micros };
    let subjects = vec![format!("request/{}", h.id)];
    Exported { json: b.task(&h.matches[index]), subjects }
}
