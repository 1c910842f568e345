//! A request's audit trail as FHIR R4: each step of its timeline a Provenance (what was written,
//! by which node, when, and the event that holds it), each access record about it an AuditEvent
//! after IHE Basic Audit Log Patterns (BALP: a read, a query, a create; who, for which
//! organisation, for what purpose, with what outcome). Identifiers only — subject ids, request ids,
//! node ids, credential ids — never a name: the trail outlives an erasure.

use samenspel_fhir::codes::{self, coding};
use samenspel_fhir::{derived_id, instant};
use samenspel_kit::Outcome;
use serde_json::{Value, json};

use crate::service::Entry;
use crate::timeline::Step;

/// A node, by its id (hex).
const NODE_ID: &str = "https://samenspel.nl/fhir/NamingSystem/node";
/// An event of a node's log, as "{node}/{seq}".
const EVENT_ID: &str = "https://samenspel.nl/fhir/NamingSystem/event";
/// A credential the node issued (or a certificate it knows).
const CREDENTIAL_ID: &str = "https://samenspel.nl/fhir/NamingSystem/credential";
/// The kinds of event of samenspel's services (`intake.request.submitted`, …).
const EVENT_KIND: &str = "https://samenspel.nl/fhir/CodeSystem/event-kind";
/// The purposes a call names (NEN 7513).
const PURPOSE: &str = "https://samenspel.nl/fhir/CodeSystem/access-purpose";

/// What a step was written about: the request, or one of its referrals (a Task).
fn target(request_id: &str, step: &Step) -> Value {
    let referral = ["followup/referral/", "followup/observed/", "matching/noticed/", "matching/received/"]
        .iter()
        .find_map(|p| step.stream.strip_prefix(p));
    match referral {
        Some(m) => json!({ "type": "Task", "identifier": { "system": codes::MATCH_ID, "value": m } }),
        None => {
            json!({ "type": "ServiceRequest", "identifier": { "system": codes::HELP_REQUEST_ID, "value": request_id } })
        }
    }
}

fn provenance(request_id: &str, step: &Step) -> Value {
    let event = format!("{}/{}", step.origin.to_hex(), step.seq);
    let mut p = json!({
        "resourceType": "Provenance",
        "id": derived_id("provenance", &event),
        "target": [target(request_id, step)],
        "recorded": instant(step.time_micros),
        "activity": { "coding": [coding(EVENT_KIND, &step.kind, Some(&step.summary))] },
        "agent": [{
            "type": { "coding": [coding("http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", Some("Author"))] },
            "who": { "identifier": { "system": NODE_ID, "value": step.origin.to_hex() }, "display": format!("samenspel node {}", step.origin.short()) },
        }],
        "entity": [{
            "role": "source",
            "what": { "identifier": { "system": EVENT_ID, "value": event }, "display": format!("event hash {}", step.hash.to_hex()) },
        }],
    });
    if let Some(problem) = &step.problem {
        p["reason"] = json!([{ "text": format!("does not verify: {problem}") }]);
    }
    p
}

/// BALP's kind of access from the RPC called: a create, a query (lists and streams) or a read.
fn subtype(rpc: &str) -> (&'static str, &'static str, &'static str) {
    let method = rpc.rsplit('/').next().unwrap_or_default();
    let starts = |p: &[&str]| p.iter().any(|p| method.starts_with(p));
    if starts(&["Submit", "Import", "Create", "Open"]) {
        ("create", "create", "C")
    } else if starts(&["List", "Watch", "Search", "GetTimeline"]) {
        ("search-type", "search", "E")
    } else if starts(&["Get", "Export"]) {
        ("read", "read", "R")
    } else {
        ("update", "update", "U")
    }
}

/// The purpose as a v3 ActReason where one says the same.
fn purpose(p: &str) -> Value {
    let reason = match p {
        "care" => Some(("TREAT", "treatment")),
        "matching" | "follow_up" => Some(("COC", "coordination of care")),
        "evaluation" => Some(("HQUALIMP", "health quality improvement")),
        "audit" => Some(("HOPERAT", "healthcare operations")),
        _ => None,
    };
    let mut codings = vec![coding(PURPOSE, p, None)];
    if let Some((code, display)) = reason {
        codings.push(coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", code, Some(display)));
    }
    json!({ "coding": codings, "text": p })
}

fn audit_event(node: &str, e: &Entry) -> Value {
    let r = &e.record;
    let (code, display, action) = subtype(&r.rpc);
    let (outcome, description) = match &r.outcome {
        Outcome::Allowed => ("0", None),
        Outcome::Denied { reason } => ("4", Some(reason.clone())),
    };
    let mut agent = json!({
        "type": { "coding": [coding("http://dicom.nema.org/resources/ontology/DCM", "110153", Some("Source Role ID"))], "text": r.role.as_str() },
        "who": { "identifier": { "system": CREDENTIAL_ID, "value": r.credential } },
        "requestor": true,
    });
    if !r.user.is_empty() {
        agent["altId"] = r.user.clone().into();
    }
    if let Some(peer) = &r.peer {
        agent["network"] = json!({ "address": peer, "type": "2" });
    }
    let mut agents = vec![agent];
    if let Some(org) = &r.organisation {
        agents.push(json!({
            "type": { "text": "on behalf of" },
            "who": { "identifier": { "system": codes::ORGANISATION_ID, "value": org } },
            "requestor": false,
        }));
    }
    let entities: Vec<Value> = r
        .subjects
        .iter()
        .map(|s| match s.strip_prefix("request/") {
            Some(id) => json!({ "what": { "identifier": { "system": codes::HELP_REQUEST_ID, "value": id } },
                "type": coding("http://hl7.org/fhir/resource-types", "ServiceRequest", None) }),
            None => json!({ "what": { "identifier": { "system": codes::SUBJECT_ID, "value": s } },
                "type": coding("http://hl7.org/fhir/resource-types", "Patient", None),
                "role": coding("http://terminology.hl7.org/CodeSystem/object-role", "1", Some("Patient")) }),
        })
        .collect();
    let mut a = json!({
        "resourceType": "AuditEvent",
        "id": derived_id("audit-event", &format!("{node}/{}", e.seq)),
        "type": coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", Some("RESTful Operation")),
        "subtype": [coding("http://hl7.org/fhir/restful-interaction", code, Some(display)), coding(EVENT_KIND, &r.rpc, None)],
        "action": action,
        "recorded": instant(r.at_micros),
        "outcome": outcome,
        "agent": agents,
        "source": {
            "observer": { "identifier": { "system": NODE_ID, "value": node }, "display": "samenspel node" },
            "type": [coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", Some("Application Server"))],
        },
        "entity": entities,
    });
    if let Some(d) = description {
        a["outcomeDesc"] = d.into();
    }
    if let Some(p) = &r.purpose {
        a["purposeOfEvent"] = json!([purpose(p)]);
    }
    a
}

/// The audit trail of request `request_id` held here: a Provenance per step, an AuditEvent per
/// access record, in one Bundle of type collection.
pub fn audit_trail(node: &str, request_id: &str, steps: &[Step], access: &[Entry], now_micros: i64) -> Value {
    let mut entries: Vec<Value> = Vec::new();
    for s in steps {
        let p = provenance(request_id, s);
        entries.push(json!({ "fullUrl": samenspel_fhir::full_url("Provenance", p["id"].as_str().unwrap_or_default()), "resource": p }));
    }
    for e in access {
        let a = audit_event(node, e);
        entries.push(json!({ "fullUrl": samenspel_fhir::full_url("AuditEvent", a["id"].as_str().unwrap_or_default()), "resource": a }));
    }
    json!({
        "resourceType": "Bundle",
        "id": derived_id("audit-trail", request_id),
        "identifier": { "system": codes::HELP_REQUEST_ID, "value": request_id },
        "type": "collection",
        "timestamp": instant(now_micros),
        "entry": entries,
    })
}
