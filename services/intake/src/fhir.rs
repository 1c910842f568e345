//! A referral that comes in as a FHIR R4 Bundle, read into the request it asks for: one
//! ServiceRequest, the Patient it is for, the RelatedPersons who are its mantelzorgers, and a
//! Consent. Every element read is remembered with its FHIRPath, so the intake's own checks of the
//! request name the element the sender wrote (`Bundle.entry[1].resource.address[0].postalCode`),
//! not a field of ours. The inverse of the Fhir service's export (ARCHITECTURE.md, "FHIR R4
//! mapping"): a round trip keeps the request's meaning.

use std::collections::HashMap;

use samenspel_eventlog::FieldViolation;
use samenspel_fhir::codes;
use samenspel_fhir::{At, Violation};
use serde_json::Value;

use crate::model::{
    Asker, ConsentScope, InvolvedRole, MantelzorgerRole, Purpose, RawConsent, RawInvolved, RawPerson, RawRequest,
    Urgency,
};

/// An identifier of the system a referral came from: the key that makes a Bundle sent twice
/// create one request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceIdentifier {
    pub system: String,
    pub value: String,
}

/// What a Bundle asks for, before the intake checks it as it checks every request.
#[derive(Debug)]
pub(crate) struct Referral {
    pub fields: RawRequest,
    pub consent: Option<RawConsent>,
    /// The Bundle's identifier first, then the ServiceRequest's.
    pub identifiers: Vec<SourceIdentifier>,
    /// What is wrong with the Bundle's elements themselves (a priority FHIR does not know, an
    /// unresolved reference), named by FHIRPath; the intake's checks of the request add theirs.
    pub problems: Vec<FieldViolation>,
    /// Where each field of ours came from: `fields.postcode` → its FHIRPath.
    origins: HashMap<String, String>,
}

/// Longest identifiers and most of them kept.
const MAX_IDENTIFIER: usize = 200;
const MAX_IDENTIFIERS: usize = 10;
/// The most entries a Bundle may hold (a referral is a handful of resources).
const MAX_ENTRIES: usize = 200;

impl Referral {
    /// The key the request is made under: the first identifier, system and value.
    pub(crate) fn key(&self) -> String {
        let i = &self.identifiers[0];
        format!("fhir:{}|{}", i.system, i.value)
    }

    /// The intake's violations, renamed to the FHIRPath of the element they came from (the
    /// longest field path known), so the sender can find them.
    pub(crate) fn rename(&self, violations: Vec<FieldViolation>) -> Vec<FieldViolation> {
        violations
            .into_iter()
            .map(|v| {
                let mut at = v.field.as_str();
                loop {
                    if let Some(path) = self.origins.get(at) {
                        let rest = &v.field[at.len()..];
                        // An index or member below the element we mapped stays on.
                        let rest = if rest.starts_with('.') || rest.starts_with('[') { rest } else { "" };
                        let path = if rest.is_empty() || path.ends_with(rest) {
                            path.clone()
                        } else {
                            format!("{path}{rest}")
                        };
                        return FieldViolation::new(path, v.description);
                    }
                    match at.rfind(['.', '[']) {
                        Some(i) => at = &at[..i],
                        None => return FieldViolation::new("Bundle", format!("{}: {}", v.field, v.description)),
                    }
                }
            })
            .collect()
    }
}

fn violations(bad: Vec<Violation>) -> Vec<FieldViolation> {
    bad.into_iter().map(|v| FieldViolation::new(v.path, v.why)).collect()
}

/// The resources of a Bundle by the ways a reference may name them.
struct Resources<'a> {
    by_ref: HashMap<String, At<'a>>,
}

impl<'a> Resources<'a> {
    /// The resource a Reference points at, when it is in the Bundle.
    fn resolve(&self, reference: &At<'a>, bad: &mut Vec<Violation>) -> Option<At<'a>> {
        let r = reference.get("reference");
        let target = r.str(bad)?;
        match self.by_ref.get(target) {
            Some(at) => Some(at.clone()),
            None => {
                bad.push(r.bad("points at no resource of the Bundle"));
                None
            }
        }
    }
}

fn person_name(at: &At<'_>, bad: &mut Vec<Violation>) -> String {
    let Some(name) = at.get("name").items(bad).into_iter().next() else { return String::new() };
    if let Some(text) = name.get("text").str(bad)
        && !text.trim().is_empty()
    {
        return text.trim().to_string();
    }
    let mut parts: Vec<String> =
        name.get("given").items(bad).iter().filter_map(|g| g.str(bad)).map(str::to_string).collect();
    if let Some(family) = name.get("family").str(bad) {
        parts.push(family.to_string());
    }
    parts.join(" ")
}

/// A value read and the FHIRPath it was read at.
type Placed = Option<(String, String)>;

/// Phone and e-mail from `telecom`, with where each came from.
fn telecom(at: &At<'_>, bad: &mut Vec<Violation>) -> (Placed, Placed) {
    let (mut phone, mut email) = (None, None);
    for t in at.get("telecom").items(bad) {
        let value = t.get("value");
        match (t.get("system").str(bad), value.str(bad)) {
            (Some("phone" | "sms"), Some(v)) if phone.is_none() => {
                phone = Some((v.to_string(), value.path().to_string()))
            }
            (Some("email"), Some(v)) if email.is_none() => email = Some((v.to_string(), value.path().to_string())),
            _ => {}
        }
    }
    (phone, email)
}

/// The pseudonymous subject id a person carries (samenspel's identifier system), if any.
fn subject_id(at: &At<'_>, bad: &mut Vec<Violation>) -> Option<(String, String)> {
    at.get("identifier").items(bad).into_iter().find_map(|i| {
        (i.get("system").str(bad) == Some(codes::SUBJECT_ID))
            .then(|| i.get("value"))
            .and_then(|v| v.str(bad).map(|s| (s.to_string(), v.path().to_string())))
    })
}

fn identifier(at: &At<'_>, bad: &mut Vec<Violation>) -> Option<SourceIdentifier> {
    let value = at.get("value");
    let v = value.str(bad)?.trim();
    let system = at.get("system").str(bad).unwrap_or_default().trim();
    if v.is_empty() {
        return None;
    }
    if v.len() > MAX_IDENTIFIER || system.len() > MAX_IDENTIFIER {
        bad.push(at.bad(format!("an identifier's system and value are at most {MAX_IDENTIFIER} characters")));
        return None;
    }
    Some(SourceIdentifier { system: system.to_string(), value: v.to_string() })
}

/// An organisation of the sociale kaart a Reference names: by an identifier of samenspel's
/// organisation system on the Reference or on the Organization it points at.
fn organisation_id(reference: &At<'_>, resources: &Resources<'_>, bad: &mut Vec<Violation>) -> Option<String> {
    let of = |at: &At<'_>, bad: &mut Vec<Violation>| {
        let ids = at.get("identifier");
        let items = if ids.value().is_some_and(Value::is_array) { ids.items(bad) } else { vec![ids] };
        items.into_iter().find_map(|i| {
            (i.get("system").str(bad) == Some(codes::ORGANISATION_ID))
                .then(|| i.get("value").str(bad).map(str::to_string))
                .flatten()
        })
    };
    if let Some(id) = of(reference, bad) {
        return Some(id);
    }
    if reference.get("reference").is_present() {
        let target = resources.resolve(reference, bad)?;
        if let Some(id) = of(&target, bad) {
            return Some(id);
        }
    }
    bad.push(
        reference
            .bad(format!("names no organisation of the sociale kaart (an identifier of {})", codes::ORGANISATION_ID)),
    );
    None
}

/// Reads `json` as a referral Bundle. `Err` when it is no referral at all (not JSON, not a
/// Bundle, no one ServiceRequest, no identifier); otherwise the request it asks for with the
/// problems found on the way, every one at once.
pub(crate) fn read(json: &str) -> Result<Referral, Vec<FieldViolation>> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| vec![FieldViolation::new("bundle_json", format!("is not JSON: {e}"))])?;
    let mut bad = Vec::new();
    let bundle = At::root(&value, "Bundle");
    if bundle.get("resourceType").str(&mut bad) != Some("Bundle") {
        bad.push(bundle.get("resourceType").bad("must be \"Bundle\": a referral comes in as a Bundle"));
        return Err(violations(bad));
    }
    match bundle.get("type").str(&mut bad) {
        Some("collection" | "transaction" | "batch" | "message" | "document") => {}
        Some(other) => bad.push(bundle.get("type").bad(format!("a {other} Bundle is not a referral to take in"))),
        None => bad.push(bundle.get("type").bad("is required")),
    }
    let entries = bundle.get("entry").items(&mut bad);
    if entries.len() > MAX_ENTRIES {
        bad.push(bundle.get("entry").bad(format!("at most {MAX_ENTRIES} entries")));
        return Err(violations(bad));
    }
    let mut by_ref = HashMap::new();
    let mut requests = Vec::new();
    let mut consents = Vec::new();
    let mut related = Vec::new();
    for e in &entries {
        let resource = e.get("resource");
        let Some(kind) = resource.get("resourceType").required_str(&mut bad) else { continue };
        if let Some(url) = e.get("fullUrl").str(&mut bad) {
            by_ref.insert(url.to_string(), resource.clone());
        }
        if let Some(id) = resource.get("id").str(&mut bad) {
            by_ref.insert(format!("{kind}/{id}"), resource.clone());
        }
        match kind {
            "ServiceRequest" => requests.push(resource),
            "Consent" => consents.push(resource),
            "RelatedPerson" => related.push(resource),
            _ => {}
        }
    }
    let resources = Resources { by_ref };
    let sr = match requests.as_slice() {
        [one] => one.clone(),
        [] => {
            bad.push(bundle.get("entry").bad("holds no ServiceRequest: a referral is one ServiceRequest"));
            return Err(violations(bad));
        }
        [_, second, ..] => {
            bad.push(second.bad("a second ServiceRequest: send one referral per Bundle"));
            return Err(violations(bad));
        }
    };
    let mut origins = HashMap::new();
    let mut from = |field: &str, path: &str| {
        origins.insert(field.to_string(), path.to_string());
    };
    let mut fields = RawRequest::default();
    match sr.get("status").str(&mut bad) {
        Some("active" | "draft") => {}
        Some(s) => bad.push(sr.get("status").bad(format!("a ServiceRequest that is {s} is not a referral to take in"))),
        None => bad.push(sr.get("status").bad("is required")),
    }
    // Any intent is taken in as a request: the sender asks for help either way.
    let _ = sr.get("intent").required_str(&mut bad);

    // The identifiers that make the Bundle sent twice one request.
    let mut identifiers = Vec::new();
    if let Some(i) = identifier(&bundle.get("identifier"), &mut bad) {
        identifiers.push(i);
    }
    for i in sr.get("identifier").items(&mut bad) {
        if let Some(i) = identifier(&i, &mut bad)
            && !identifiers.contains(&i)
        {
            identifiers.push(i);
        }
    }
    identifiers.truncate(MAX_IDENTIFIERS);
    if identifiers.is_empty() {
        bad.push(
            bundle.get("identifier").bad(
                "is required (or ServiceRequest.identifier): it makes the same Bundle sent twice create one request",
            ),
        );
    }

    // The need: category (support functions) and code and orderDetail (kinds of help).
    for (code, at) in sr.get("category").items(&mut bad).iter().flat_map(|c| c.codes(codes::SUPPORT_FUNCTION, &mut bad))
    {
        from(&format!("fields.support_functions[{}]", fields.functions.len()), at.path());
        fields.functions.push(code);
    }
    let mut concepts = vec![sr.get("code")];
    concepts.extend(sr.get("orderDetail").items(&mut bad));
    for (code, at) in concepts.iter().flat_map(|c| c.codes(codes::SUPPORT_KIND, &mut bad)) {
        from(&format!("fields.support_kinds[{}]", fields.kinds.len()), at.path());
        fields.kinds.push(code);
    }
    from("fields.support_functions", &format!("{}.code", sr.path()));
    from("fields.support_kinds", &format!("{}.code", sr.path()));
    if fields.functions.is_empty() && fields.kinds.is_empty() {
        // Coded in another system only (SNOMED, a local one): say what is understood.
        let mut all = concepts.clone();
        all.extend(sr.get("category").items(&mut bad));
        let mut others: Vec<String> = Vec::new();
        for coding in all.iter().flat_map(|c| c.get("coding").items(&mut Vec::new())) {
            if let Some(system) = coding.get("system").str(&mut Vec::new())
                && !others.iter().any(|o| o == system)
            {
                others.push(system.to_string());
            }
        }
        if !others.is_empty() {
            bad.push(sr.get("code").bad(format!(
                "codes of {} are not mapped to a need: add a coding of {} (boodschappen, vervoer, maatje, …) or a category of {}",
                others.join(", "),
                codes::SUPPORT_KIND,
                codes::SUPPORT_FUNCTION
            )));
        }
    }
    let priority = match sr.get("priority").str(&mut bad) {
        None | Some("routine") => Some(Urgency::Normal),
        Some("urgent" | "asap" | "stat") => Some(Urgency::High),
        Some(other) => {
            bad.push(
                sr.get("priority").bad(format!("{other} is not a request priority (routine, urgent, asap, stat)")),
            );
            None
        }
    };
    // samenspel's own urgency, where a node wrote it, says what routine cannot: low or normal.
    let mut urgency = None;
    for e in sr.get("extension").items(&mut bad) {
        if e.get("url").str(&mut bad) != Some(codes::URGENCY_EXTENSION) {
            continue;
        }
        let code = e.get("valueCode");
        urgency = match code.str(&mut bad) {
            Some("low") => Some(Urgency::Low),
            Some("normal") => Some(Urgency::Normal),
            Some("high") => Some(Urgency::High),
            other => {
                bad.push(code.bad(format!("{} is not an urgency (low, normal, high)", other.unwrap_or("nothing"))));
                None
            }
        };
    }
    if let (Some(u), Some(p)) = (urgency, priority)
        && (u == Urgency::High) != (p == Urgency::High)
    {
        bad.push(sr.get("priority").bad("disagrees with the urgency extension beside it"));
    }
    fields.urgency = urgency.or(priority);
    let notes: Vec<String> =
        sr.get("note").items(&mut bad).iter().filter_map(|n| n.get("text").str(&mut bad).map(str::to_string)).collect();
    fields.description = notes.join("\n");
    from("fields.description", &format!("{}.note", sr.path()));

    // Who asks: an organisation, or the client.
    let requester = sr.get("requester");
    if requester.is_present() {
        fields.asked_by = Some(Asker::Professional);
        if let Some(id) = organisation_id(&requester, &resources, &mut bad) {
            fields.asking_organisation_id = id;
        }
        from("fields.asking_organisation_id", requester.path());
    } else {
        fields.asked_by = Some(Asker::Client);
    }

    // The client: the Patient the ServiceRequest is for.
    let subject = sr.get("subject");
    let mut patient_urls = Vec::new();
    match resources.resolve(&subject, &mut bad) {
        Some(p) if p.get("resourceType").str(&mut bad) == Some("Patient") => {
            patient_urls.push(subject.get("reference").str(&mut bad).unwrap_or_default().to_string());
            if let Some(id) = p.get("id").str(&mut bad) {
                patient_urls.push(format!("Patient/{id}"));
            }
            let mut client = RawPerson { name: person_name(&p, &mut bad), ..RawPerson::default() };
            from("fields.client.name", &format!("{}.name", p.path()));
            if let Some((id, path)) = subject_id(&p, &mut bad) {
                client.subject_id = id;
                from("fields.client.subject_id", &path);
            }
            let (phone, email) = telecom(&p, &mut bad);
            if let Some((v, path)) = phone {
                client.phone = v;
                from("fields.client.phone", &path);
            }
            let born = p.get("birthDate");
            if let Some(d) = born.str(&mut bad) {
                client.birth_date = d.to_string();
                from("fields.client.birth_date", born.path());
            }
            if let Some((v, path)) = email {
                client.email = v;
                from("fields.client.email", &path);
            }
            let address = p.get("address").items(&mut bad).into_iter().next();
            let postcode = address.as_ref().map(|a| a.get("postalCode"));
            match postcode {
                Some(pc) => {
                    fields.postcode = pc.str(&mut bad).unwrap_or_default().to_string();
                    from("fields.postcode", pc.path());
                }
                None => from("fields.postcode", &format!("{}.address", p.path())),
            }
            for c in p.get("communication").items(&mut bad) {
                for coding in c.get("language").get("coding").items(&mut bad) {
                    if let Some(code) = coding.get("code").str(&mut bad) {
                        from(&format!("fields.languages[{}]", fields.languages.len()), coding.get("code").path());
                        fields.languages.push(code.split('-').next().unwrap_or(code).to_string());
                        break;
                    }
                }
            }
            fields.client = client;
        }
        Some(other) => bad.push(other.bad("ServiceRequest.subject must be a Patient")),
        None if !subject.is_present() => bad.push(subject.bad("is required: the Patient the referral is for")),
        None => {}
    }

    // Mantelzorgers: RelatedPersons of that Patient.
    for r in related {
        let of_patient =
            r.get("patient").get("reference").str(&mut bad).is_some_and(|p| patient_urls.iter().any(|u| u == p));
        if !of_patient {
            continue;
        }
        let at = format!("fields.involved[{}]", fields.involved.len());
        let mut person = RawPerson { name: person_name(&r, &mut bad), ..RawPerson::default() };
        from(&format!("{at}.person.name"), &format!("{}.name", r.path()));
        from(&at, r.path());
        if let Some((id, path)) = subject_id(&r, &mut bad) {
            person.subject_id = id;
            from(&format!("{at}.person.subject_id"), &path);
        }
        let (phone, email) = telecom(&r, &mut bad);
        if let Some((v, path)) = phone {
            person.phone = v;
            from(&format!("{at}.person.phone"), &path);
        }
        if let Some((v, path)) = email {
            person.email = v;
            from(&format!("{at}.person.email"), &path);
        }
        let relationship = r.get("relationship");
        let role = relationship
            .items(&mut bad)
            .iter()
            .flat_map(|c| c.codes(codes::MANTELZORGER_ROLE, &mut bad))
            .map(|(code, _)| code)
            .next();
        let mantelzorger_role = match role.as_deref() {
            Some("partner") => Some(MantelzorgerRole::Partner),
            Some("help-seeker") => Some(MantelzorgerRole::HelpSeeker),
            Some("expert") => Some(MantelzorgerRole::Expert),
            // A RelatedPerson is someone with a personal relationship to the patient.
            Some("personal-relation") | None => Some(MantelzorgerRole::PersonalRelation),
            Some(other) => {
                bad.push(relationship.bad(format!(
                    "{other} is not a mantelzorger role (partner, help-seeker, personal-relation, expert)"
                )));
                None
            }
        };
        fields.involved.push(RawInvolved {
            person,
            role: Some(InvolvedRole::Mantelzorger),
            mantelzorger_role,
            organisation_id: String::new(),
        });
    }

    // Consent: the one the ServiceRequest points at, or the Bundle's only one.
    let consent = match consents.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [_, second, ..] => {
            bad.push(second.bad("a second Consent: send the one that holds for this referral"));
            None
        }
    };
    let consent = consent.and_then(|c| {
        match c.get("status").str(&mut bad) {
            Some("active") => {}
            Some(s) => {
                bad.push(c.get("status").bad(format!("a Consent that is {s} lets nothing be shared; leave it out")));
                return None;
            }
            None => bad.push(c.get("status").bad("is required")),
        }
        let provision = c.get("provision");
        let mut raw = RawConsent::default();
        from("consent", c.path());
        from("consent.scopes", &format!("{}.actor", provision.path()));
        for (i, actor) in provision.get("actor").items(&mut bad).iter().enumerate() {
            let who = actor.get("reference");
            from(&format!("consent.scopes[{i}]"), who.path());
            let kind = who.get("identifier");
            if kind.get("system").str(&mut bad) == Some(codes::ORGANISATION_KIND) {
                raw.scopes.push(kind.get("value").str(&mut bad).map(|k| ConsentScope::OrganisationKind(k.to_string())));
            } else {
                raw.scopes.push(organisation_id(&who, &resources, &mut bad).map(ConsentScope::Organisation));
            }
        }
        from("consent.purposes", &format!("{}.purpose", provision.path()));
        for (i, p) in provision.get("purpose").items(&mut bad).iter().enumerate() {
            from(&format!("consent.purposes[{i}]"), p.path());
            let purpose = match (p.get("system").str(&mut bad), p.get("code").str(&mut bad)) {
                (Some(codes::CONSENT_PURPOSE), Some("matching")) => Some(Purpose::Matching),
                (Some(codes::CONSENT_PURPOSE), Some("follow-up")) => Some(Purpose::FollowUp),
                (Some(codes::CONSENT_PURPOSE), Some("evaluation")) => Some(Purpose::Evaluation),
                _ => None,
            };
            raw.purposes.push(purpose);
        }
        let end = provision.get("period").get("end");
        from("consent.until", end.path());
        raw.until = end.str(&mut bad).map(|d| d.chars().take(10).collect()).unwrap_or_default();
        Some(raw)
    });
    if identifiers.is_empty() {
        // Without a key the Bundle cannot be recognised when sent again: nothing is taken in.
        return Err(violations(bad));
    }
    Ok(Referral { fields, consent, identifiers, problems: violations(bad), origins })
}
