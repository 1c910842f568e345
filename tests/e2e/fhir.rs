//! FHIR R4 in and out, as an integrator's system uses it: a referral walked through every step
//! exports a Bundle whose Task follows each step (and validates with an independent validator),
//! Task notifications resumable by position, a Bundle taken in once however often it is sent, a
//! round trip that keeps the referral's meaning, and bad Bundles refused by FHIRPath with
//! nothing written.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use samenspel_domain::ManualClock;
use samenspel_e2e::world::*;
use samenspel_e2e::{Role, TestNode, validators};
use samenspel_proto::v1 as pb;
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);

async fn export(node: &TestNode, request_id: &str, audience: pb::FhirAudience) -> Value {
    let r = pb::ExportReferralRequest { request_id: request_id.into(), audience: audience.into() };
    let resource = node.fhir_client().await.export_referral(r).await.unwrap().into_inner();
    assert_eq!((resource.resource_type.as_str(), resource.id.as_str()), ("Bundle", request_id));
    type_first(&resource.json);
    serde_json::from_str(&resource.json).unwrap()
}

/// Every resource in a Bundle as sent begins with its `resourceType`, as FHIR's JSON has it.
fn type_first(json: &str) {
    assert!(json.starts_with(r#"{"resourceType":"Bundle","#), "{}", &json[..json.len().min(80)]);
    let resources = json.matches(r#""resource":{"#).count();
    assert!(resources > 0);
    assert_eq!(
        json.matches(r#""resource":{"resourceType":"#).count(),
        resources,
        "each entry's resource begins with its type"
    );
}

/// The resources of a Bundle of one type.
fn of_type<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).filter(|r| r["resourceType"] == kind).collect()
}

fn task<'a>(bundle: &'a Value, match_id: &str) -> &'a Value {
    of_type(bundle, "Task").into_iter().find(|t| t["id"] == match_id).expect("the match's Task")
}

fn status_of(bundle: &Value, match_id: &str) -> (String, String) {
    let t = task(bundle, match_id);
    (t["status"].as_str().unwrap().into(), t["businessStatus"]["coding"][0]["code"].as_str().unwrap().into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_walked_through_every_step_exports_a_task_that_follows_it_and_validates() {
    let test = "a_referral_walked_through_every_step_exports_a_task_that_follows_it_and_validates";
    let clock = Arc::new(ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.followup.sweep_interval_millis = 20;
        c.matching.sweep_interval_millis = 20;
    })
    .await;
    let wijkteam = organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let a = organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let b = organisation(&node, "Buurthulp Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 CD").await;
    let offer_a = offer(&node, &a, "Boodschappen Oost", "6400-6419", 5, pb::Complexity::Low).await;
    let offer_b = offer(&node, &b, "Boodschappen om de hoek", "6411", 5, pb::Complexity::Low).await;
    let request = referred_request(&node, &wijkteam, "6411 AB").await;
    let mut exported: Vec<(String, String)> = Vec::new();
    let mut keep = |name: &str, bundle: &Value| exported.push((name.to_string(), bundle.to_string()));

    let submitted = export(&node, &request, pb::FhirAudience::Own).await;
    keep("submitted", &submitted);
    let sr = of_type(&submitted, "ServiceRequest")[0];
    assert_eq!((sr["status"].as_str(), sr["intent"].as_str()), (Some("active"), Some("order")));
    assert_eq!(sr["code"]["coding"][0]["code"], "boodschappen");
    assert_eq!(sr["category"][0]["coding"][0]["code"], "praktische-hulp");
    assert_eq!(sr["requester"]["display"], "Wijkteam Centrum");
    let patient = of_type(&submitted, "Patient")[0];
    assert_eq!(patient["name"][0]["text"], "Meneer De Vries");
    assert_eq!(sr["subject"]["reference"], submitted["entry"][1]["fullUrl"]);
    let consent = of_type(&submitted, "Consent")[0];
    assert_eq!(consent["status"], "active");
    let purposes: Vec<&str> =
        consent["provision"]["purpose"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(purposes, ["matching", "follow-up"]);
    assert!(of_type(&submitted, "Task").is_empty(), "no referral yet");

    // Notifications from the start: every change of every Task, in log order.
    let watch = pb::WatchTasksRequest { from_position: 1 };
    let mut notices = node.fhir_client().await.watch_tasks(watch).await.unwrap().into_inner();

    // Referred to A, who declines.
    let first = confirm_offer(&node, &request, &offer_a, "anna").await;
    let b1 = export(&node, &request, pb::FhirAudience::Own).await;
    assert_eq!(status_of(&b1, &first.id), ("requested".into(), "awaiting-answer".into()));
    let t = task(&b1, &first.id);
    assert_eq!((t["intent"].as_str(), t["code"]["coding"][0]["code"].as_str()), (Some("order"), Some("fulfill")));
    assert_eq!(t["focus"]["reference"], b1["entry"][0]["fullUrl"]);
    assert_eq!(t["owner"]["display"], "Vrijwilligers Oost");
    keep("requested", &b1);
    answer_match(&node, &first.id, &a, false).await;
    let b2 = eventually("the first Task rejected", || async {
        let b = export(&node, &request, pb::FhirAudience::Own).await;
        (status_of(&b, &first.id).0 == "rejected").then_some(b)
    })
    .await;
    assert_eq!(task(&b2, &first.id)["statusReason"]["coding"][0]["code"], "declined");
    keep("rejected", &b2);

    // Referred to B, who accepts; the follow-up's check-ins come due and are answered.
    let second = confirm_offer(&node, &request, &offer_b, "anna").await;
    answer_match(&node, &second.id, &b, true).await;
    intake_status(&node, &request, pb::HelpRequestStatus::Matched).await;
    let b3 = eventually("the check-ins planned", || async {
        let b = export(&node, &request, pb::FhirAudience::Own).await;
        (status_of(&b, &second.id) == ("accepted".into(), "follow-up-planned".into())).then_some(b)
    })
    .await;
    let sr = of_type(&b3, "ServiceRequest")[0];
    assert_eq!(sr["performer"][0]["display"], "Buurthulp Noord");
    keep("accepted", &b3);
    clock.advance(3 * DAY);
    let referral = get_referral(&node, &second.id).await.unwrap();
    let b4 = eventually("the contact check-in due", || async {
        let b = export(&node, &request, pb::FhirAudience::Own).await;
        (status_of(&b, &second.id).1 == "check-in-due").then_some(b)
    })
    .await;
    keep("due", &b4);
    let answer = pb::RecordOutcomeRequest {
        check_in_id: referral.check_ins[0].id.clone(),
        outcome: pb::Outcome::GoingWell.into(),
        answered_by: pb::Respondent::Volunteer.into(),
        notes: String::new(),
        recorded_by: "anna".into(),
        contact_on: "2026-12-03".into(),
    };
    node.followup_client().await.record_outcome(answer).await.unwrap();
    let b5 = export(&node, &request, pb::FhirAudience::Own).await;
    assert_eq!(status_of(&b5, &second.id), ("in-progress".into(), "going-well".into()));
    keep("in-progress", &b5);

    // Closed: the goal was reached.
    let close = pb::CloseReferralRequest {
        match_id: second.id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        notes: String::new(),
        closed_by: "anna".into(),
    };
    node.followup_client().await.close_referral(close).await.unwrap();
    intake_status(&node, &request, pb::HelpRequestStatus::Closed).await;
    let done = eventually("the request completed", || async {
        let b = export(&node, &request, pb::FhirAudience::Own).await;
        (of_type(&b, "ServiceRequest")[0]["status"] == "completed").then_some(b)
    })
    .await;
    assert_eq!(status_of(&done, &second.id), ("completed".into(), "closed".into()));
    assert_eq!(task(&done, &second.id)["output"][0]["valueCodeableConcept"]["coding"][0]["code"], "goal-reached");
    assert_eq!(status_of(&done, &first.id).0, "rejected", "an ended Task stays ended");
    keep("completed", &done);

    // The receiver's view: no Patient, no RelatedPerson, no description.
    let receiver = export(&node, &request, pb::FhirAudience::Receiver).await;
    assert!(of_type(&receiver, "Patient").is_empty() && of_type(&receiver, "RelatedPerson").is_empty());
    assert!(!receiver.to_string().contains("De Vries"));
    assert!(of_type(&receiver, "ServiceRequest")[0].get("note").is_none());
    keep("receiver", &receiver);

    // The Task alone, as a notification's reader fetches it.
    let get = pb::GetTaskRequest { request_id: request.clone(), match_id: second.id.clone() };
    let alone = node.fhir_client().await.get_task(get).await.unwrap().into_inner();
    let alone_json: Value = serde_json::from_str(&alone.json).unwrap();
    assert_eq!((alone.resource_type.as_str(), alone_json["status"].as_str()), ("Task", Some("completed")));
    keep("task", &alone_json);

    // Every step came as a notification, in order, each with its status at that step.
    let mut seen: Vec<(String, String, String)> = Vec::new();
    let mut last = 0;
    while !seen.iter().any(|(m, s, _)| m == &second.id && s == "completed") {
        let n = tokio::time::timeout(Duration::from_secs(20), notices.next())
            .await
            .expect("a notification")
            .unwrap()
            .unwrap();
        assert!(n.position > last, "notifications come in log order");
        last = n.position;
        assert_eq!(n.service_request_id, request);
        type_first(&n.notification_json);
        let fhir: Value = serde_json::from_str(&n.notification_json).unwrap();
        let event = &fhir["entry"][0]["resource"]["notificationEvent"][0];
        assert_eq!(event["eventNumber"], n.position.to_string());
        if seen.len() < 2 {
            keep(&format!("notification-{}", seen.len()), &fhir);
        }
        seen.push((n.task_id, n.status, n.business_status));
    }
    let statuses = |m: &str| -> Vec<String> {
        let mut s: Vec<String> = seen.iter().filter(|(id, ..)| id == m).map(|(_, s, _)| s.clone()).collect();
        s.dedup();
        s
    };
    assert_eq!(statuses(&first.id), ["requested", "rejected"]);
    assert_eq!(statuses(&second.id), ["requested", "accepted", "in-progress", "completed"]);

    // Resumed at the last position seen: that notification again, nothing before it.
    let from = pb::WatchTasksRequest { from_position: last };
    let mut again = node.fhir_client().await.watch_tasks(from).await.unwrap().into_inner();
    let n = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
    assert_eq!((n.position, n.status.as_str()), (last, "completed"));

    // The audit trail as FHIR: a Provenance per step, an AuditEvent per read of the request.
    let ask = pb::ExportAuditTrailRequest { request_id: request.clone() };
    let trail = node.audit_client().await.export_audit_trail(ask).await.unwrap().into_inner();
    type_first(&trail.json);
    let trail: Value = serde_json::from_str(&trail.json).unwrap();
    let steps = pb::GetTimelineRequest { request_id: request.clone(), page_size: 1000, page_token: String::new() };
    let timeline = node.audit_client().await.get_timeline(steps).await.unwrap().into_inner();
    assert_eq!(of_type(&trail, "Provenance").len(), timeline.steps.len());
    let reads: Vec<&Value> = of_type(&trail, "AuditEvent")
        .into_iter()
        .filter(|a| a["subtype"][1]["code"] == "/samenspel.v1.Fhir/ExportReferral")
        .collect();
    let about = format!("request/{request}");
    let recorded = node
        .access_records()
        .await
        .iter()
        .filter(|r| r.rpc == "/samenspel.v1.Fhir/ExportReferral" && r.subjects.contains(&about))
        .count();
    assert!(reads.len() >= 8 && reads.len() == recorded, "every export is on record: {} of {recorded}", reads.len());
    assert_eq!((reads[0]["action"].as_str(), reads[0]["subtype"][0]["code"].as_str()), (Some("R"), Some("read")));
    assert!(!trail.to_string().contains("De Vries"), "identifiers only");
    keep("audit-trail", &trail);

    validators::fhir(test, &exported);
}

/// A Bundle as a wijkteam's system sends it: a ServiceRequest for a Patient, a mantelzorger as
/// RelatedPerson, and a Consent for volunteer organisations.
fn incoming(identifier: &str, wijkteam: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "identifier": { "system": "urn:oid:2.16.528.1.1007.3.3.1234", "value": identifier },
        "entry": [
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000001", "request": { "method": "POST", "url": "ServiceRequest" }, "resource": {
                "resourceType": "ServiceRequest",
                "status": "active",
                "intent": "order",
                "priority": "urgent",
                "category": [{ "coding": [{ "system": "https://samenspel.nl/fhir/CodeSystem/support-function", "code": "respijtzorg" }] }],
                "code": { "coding": [{ "system": "https://samenspel.nl/fhir/CodeSystem/support-kind", "code": "boodschappen" }] },
                "orderDetail": [{ "coding": [{ "system": "https://samenspel.nl/fhir/CodeSystem/support-kind", "code": "vervoer" }] }],
                "subject": { "reference": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000002" },
                "requester": { "identifier": { "system": "https://samenspel.nl/fhir/NamingSystem/organisation", "value": wijkteam } },
                "note": [{ "text": "Mevrouw kan niet meer zelf naar de winkel." }]
            }},
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000002", "request": { "method": "POST", "url": "Patient" }, "resource": {
                "resourceType": "Patient",
                "name": [{ "given": ["Aaltje"], "family": "Jansen" }],
                "birthDate": "1938-11-02",
                "telecom": [{ "system": "phone", "value": "+31612345678" }],
                "address": [{ "postalCode": "6411 AB" }],
                "communication": [{ "language": { "coding": [{ "system": "urn:ietf:bcp:47", "code": "nl-NL" }] } }]
            }},
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000003", "request": { "method": "POST", "url": "RelatedPerson" }, "resource": {
                "resourceType": "RelatedPerson",
                "patient": { "reference": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000002" },
                "name": [{ "text": "Kees Jansen" }]
            }},
            { "fullUrl": "urn:uuid:6b0e9c5c-0000-4000-8000-000000000004", "request": { "method": "POST", "url": "Consent" }, "resource": {
                "resourceType": "Consent",
                "status": "active",
                "scope": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy" }] },
                "category": [{ "coding": [{ "system": "http://loinc.org", "code": "59284-0" }] }],
                "provision": {
                    "period": { "end": "2099-06-30" },
                    "actor": [{ "role": { "text": "ontvanger" }, "reference": {
                        "identifier": { "system": "https://samenspel.nl/fhir/CodeSystem/organisation-kind", "value": "vrijwilligersorganisatie" } } }],
                    "purpose": [{ "system": "https://samenspel.nl/fhir/CodeSystem/consent-purpose", "code": "matching" }]
                }
            }}
        ]
    })
}

async fn import(node: &TestNode, bundle: &Value) -> Result<pb::ImportFhirReferralResponse, tonic::Status> {
    let r = pb::ImportFhirReferralRequest { bundle_json: bundle.to_string() };
    node.intake_client().await.import_fhir_referral(r).await.map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_is_taken_in_once_however_often_it_is_sent_and_round_trips_to_another_node() {
    let test = "a_bundle_is_taken_in_once_however_often_it_is_sent_and_round_trips_to_another_node";
    let node = TestNode::start().await;
    let wijkteam = organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let bundle = incoming("verwijzing-2026-0042", &wijkteam);
    let first = import(&node, &bundle).await.unwrap();
    assert!(first.created);
    let r = first.help_request.unwrap();
    let f = r.fields.as_ref().unwrap();
    assert_eq!(f.client.as_ref().unwrap().name, "Aaltje Jansen");
    assert_eq!(f.client.as_ref().unwrap().phone, "+31612345678");
    assert_eq!(f.client.as_ref().unwrap().birth_date, "1938-11-02");
    assert_eq!((f.postcode.as_str(), f.asking_organisation_id.as_str()), ("6411 AB", wijkteam.as_str()));
    assert_eq!(f.support_kinds, ["boodschappen", "vervoer"]);
    assert_eq!((f.urgency(), f.asked_by()), (pb::Urgency::High, pb::Asker::Professional));
    assert_eq!(f.languages, ["nl"]);
    assert_eq!(f.involved.len(), 1);
    assert_eq!(f.involved[0].person.as_ref().unwrap().name, "Kees Jansen");
    assert_eq!(r.status(), pb::HelpRequestStatus::Submitted);

    // Sent again (a retry, or the EHR's resend): the same request, nothing written.
    let head = intake_events(&node).await;
    let again = import(&node, &bundle).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.help_request.unwrap().id, r.id);
    assert_eq!(intake_events(&node).await, head, "a Bundle sent twice writes nothing the second time");
    let listed = node.intake_client().await.list_help_requests(pb::ListHelpRequestsRequest::default()).await;
    assert_eq!(listed.unwrap().into_inner().help_requests.len(), 1);

    // Out again: the referral's meaning, and the sender's identifier kept.
    let out = export(&node, &r.id, pb::FhirAudience::Own).await;
    let sr = of_type(&out, "ServiceRequest")[0];
    assert_eq!(sr["priority"], "urgent");
    assert_eq!(sr["code"]["coding"][0]["code"], "boodschappen");
    assert_eq!(sr["orderDetail"][0]["coding"][0]["code"], "vervoer");
    assert_eq!(sr["note"][0]["text"], "Mevrouw kan niet meer zelf naar de winkel.");
    let ids: Vec<&str> = sr["identifier"].as_array().unwrap().iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert!(ids.contains(&"verwijzing-2026-0042"));
    assert_eq!(of_type(&out, "Patient")[0]["name"][0]["text"], "Aaltje Jansen");
    assert_eq!(of_type(&out, "Patient")[0]["birthDate"], "1938-11-02");
    assert_eq!(of_type(&out, "RelatedPerson")[0]["name"][0]["text"], "Kees Jansen");
    let consent = of_type(&out, "Consent")[0];
    assert_eq!(consent["provision"]["actor"][0]["reference"]["identifier"]["value"], "vrijwilligersorganisatie");
    assert_eq!(consent["provision"]["period"]["end"], "2099-06-30");

    // Into another node as it came out of this one: the same request there.
    let other = TestNode::start().await;
    let there = import(&other, &out).await.unwrap();
    assert!(there.created);
    let g = there.help_request.unwrap().fields.unwrap();
    let mut f = f.clone();
    // Subject ids travel as the pseudonymous identifier; the rest is the request as written.
    assert_eq!(g.client.as_ref().unwrap().subject_id, f.client.as_ref().unwrap().subject_id);
    f.support_functions.sort();
    let mut gf = g.support_functions.clone();
    gf.sort();
    assert_eq!(gf, f.support_functions);
    assert_eq!(
        (&g.client, &g.support_kinds, &g.description, &g.postcode, g.urgency, &g.languages, &g.involved),
        (&f.client, &f.support_kinds, &f.description, &f.postcode, f.urgency, &f.languages, &f.involved)
    );
    let back = export(&other, &there_id(&other).await, pb::FhirAudience::Own).await;

    // FHIR has no priority below routine: a low urgency travels as routine with samenspel's
    // urgency beside it, and comes back low; a routine request from elsewhere is normal.
    let mut low = incoming("verwijzing-2026-0043", &wijkteam);
    low["entry"][0]["resource"]["priority"] = "routine".into();
    let urgency = json!([{ "url": "https://samenspel.nl/fhir/StructureDefinition/urgency", "valueCode": "low" }]);
    low["entry"][0]["resource"]["extension"] = urgency.clone();
    let taken = import(&node, &low).await.unwrap().help_request.unwrap();
    assert_eq!(taken.fields.as_ref().unwrap().urgency(), pb::Urgency::Low);
    let low_out = export(&node, &taken.id, pb::FhirAudience::Own).await;
    let sr = of_type(&low_out, "ServiceRequest")[0];
    assert_eq!((&sr["priority"], &sr["extension"]), (&json!("routine"), &urgency));
    let there = import(&other, &low_out).await.unwrap().help_request.unwrap();
    assert_eq!(there.fields.unwrap().urgency(), pb::Urgency::Low);
    let mut routine = incoming("verwijzing-2026-0044", &wijkteam);
    routine["entry"][0]["resource"]["priority"] = "routine".into();
    let taken = import(&node, &routine).await.unwrap().help_request.unwrap();
    assert_eq!(taken.fields.unwrap().urgency(), pb::Urgency::Normal);
    validators::fhir(
        test,
        &[
            ("incoming".into(), bundle.to_string()),
            ("out".into(), out.to_string()),
            ("back".into(), back.to_string()),
            ("low".into(), low_out.to_string()),
        ],
    );
}

/// The intake's events in the node's log (access records aside).
async fn intake_events(node: &TestNode) -> usize {
    node.written().await.iter().filter(|e| e.header.kind.starts_with("intake.")).count()
}

async fn there_id(node: &TestNode) -> String {
    let listed = node.intake_client().await.list_help_requests(pb::ListHelpRequestsRequest::default()).await;
    listed.unwrap().into_inner().help_requests[0].id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bundle_is_refused_naming_every_bad_element_by_fhirpath_and_writes_nothing() {
    let node = TestNode::start().await;
    let wijkteam = organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let head = intake_events(&node).await;
    let mut bad = incoming("x-1", &wijkteam);
    bad["entry"][1]["resource"]["address"][0]["postalCode"] = "64 AB".into();
    bad["entry"][0]["resource"]["code"]["coding"][0]["code"] = "ruzie".into();
    bad["entry"][0]["resource"]["priority"] = "soon".into();
    bad["entry"][3]["resource"]["provision"]["purpose"][0]["code"] = "marketing".into();
    let e = import(&node, &bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    let mut fields: Vec<String> =
        e.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "Bundle.entry[0].resource.code.coding[0].code",
            "Bundle.entry[0].resource.priority",
            "Bundle.entry[1].resource.address[0].postalCode",
            "Bundle.entry[3].resource.provision.purpose[0]",
        ],
        "every bad element at once, by the sender's names"
    );
    assert!(!e.message().contains("Jansen"), "no personal data in the error");

    // samenspel's urgency extension: a code it does not know, and one that contradicts the
    // priority beside it.
    let urgency = "https://samenspel.nl/fhir/StructureDefinition/urgency";
    let mut bad = incoming("x-3", &wijkteam);
    bad["entry"][0]["resource"]["extension"] = json!([
        { "url": "https://example.org/other", "valueString": "elsewhere" },
        { "url": urgency, "valueCode": "soon" },
    ]);
    let e = import(&node, &bad).await.unwrap_err();
    let fields: Vec<String> =
        e.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["Bundle.entry[0].resource.extension[1].valueCode"]);
    bad["entry"][0]["resource"]["extension"] = json!([{ "url": urgency, "valueCode": "low" }]);
    let e = import(&node, &bad).await.unwrap_err();
    let fields: Vec<String> =
        e.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["Bundle.entry[0].resource.priority"], "urgent, yet low");

    // Not a referral at all, and a referral nobody could recognise when sent again.
    let e = import(&node, &json!({ "resourceType": "Patient" })).await.unwrap_err();
    assert_eq!(e.get_details_bad_request().unwrap().field_violations[0].field, "Bundle.resourceType");
    let mut anonymous = incoming("x", &wijkteam);
    anonymous.as_object_mut().unwrap().remove("identifier");
    let e = import(&node, &anonymous).await.unwrap_err();
    assert_eq!(e.get_details_bad_request().unwrap().field_violations[0].field, "Bundle.identifier");
    let e = import(&node, &json!("{")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(intake_events(&node).await, head, "a refused Bundle writes nothing");

    // Only those who take requests in may send one.
    let volunteer = node.channel_as(Role::VolunteerPlatform, Some(&wijkteam)).await;
    let r = pb::ImportFhirReferralRequest { bundle_json: incoming("x-2", &wijkteam).to_string() };
    let e = pb::intake_client::IntakeClient::new(volunteer).import_fhir_referral(r).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
}

#[test]
fn the_fhir_validator_refuses_what_fhir_and_the_referral_ig_do_not_allow() {
    let test = "the_fhir_validator_refuses_what_fhir_and_the_referral_ig_do_not_allow";
    let good = json!({ "resourceType": "Task", "status": "requested", "intent": "order",
        "meta": { "profile": ["https://samenspel.nl/fhir/StructureDefinition/referral-task"] },
        "code": { "coding": [{ "system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill", "display": "Fulfill" }] },
        "focus": { "reference": "ServiceRequest/x" }, "owner": { "reference": "Organization/y" } });
    let Some(ok) = validators::fhir_report(&[("good".into(), good.to_string())]) else {
        validators::fhir(test, &[]);
        return;
    };
    assert_eq!(ok, Ok(()));
    // What the profile-aware validator's known mistakes would refuse, though FHIR allows it.
    let mut rejected = good.clone();
    rejected["status"] = "rejected".into();
    let speaking = json!({ "resourceType": "Patient",
        "communication": [{ "language": { "coding": [{ "system": "urn:ietf:bcp:47", "code": "nl" }] } }] });
    // samenspel's published profiles, extensions, value sets and code systems are FHIR too.
    let mut allowed = vec![("rejected".into(), rejected.to_string()), ("speaking".into(), speaking.to_string())];
    let published = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/fhir");
    for file in std::fs::read_dir(&published).expect("deploy/fhir") {
        let path = file.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        allowed.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    assert!(allowed.len() >= 7, "the published conformance resources are there");
    assert_eq!(validators::fhir_report(&allowed).unwrap(), Ok(()));

    let mut received = good.clone();
    received["status"] = "received".into();
    let mut unknown = good.clone();
    unknown["colour"] = "blue".into();
    let mut approve = good.clone();
    approve["code"]["coding"][0]["code"] = "approve".into();
    let mut ownerless = good.clone();
    ownerless.as_object_mut().unwrap().remove("owner");
    let mut unclaimed = good.clone();
    unclaimed.as_object_mut().unwrap().remove("meta");
    let urgency = json!({ "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "subject": { "reference": "Patient/x" },
        "extension": [{ "url": "https://samenspel.nl/fhir/StructureDefinition/urgency", "valueCode": "soon" }] });
    let dangling = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
        { "fullUrl": "urn:uuid:01234567-89ab-cdef-0123-456789abcdef", "resource": good } ] });
    let relative = json!({ "resourceType": "Bundle", "type": "history", "entry": [
        { "fullUrl": "Task/x", "resource": good, "request": { "method": "GET", "url": "Task/x" } } ] });
    let mut bad_ones = Vec::new();
    for (name, bad, says) in [
        ("received", received, "is not in the required value set"),
        ("received-profiled", bad_status(&good), "not in required profile ValueSet"),
        ("unknown", unknown, "Extra inputs are not permitted"),
        ("approve", approve, "Profile pattern mismatch for Task.code"),
        ("ownerless", ownerless, "Task.owner"),
        ("unclaimed", unclaimed, "must declare at least one enforced profile"),
        ("urgency", urgency, "is not a samenspel urgency"),
        ("dangling", dangling, "resolves to no entry of the Bundle"),
        ("relative", relative, "The fullUrl must be an absolute URL"),
    ] {
        bad_ones.push((name, bad.to_string(), says));
    }
    // One run for all (the validators take seconds to start); each file's lines are its own.
    let documents: Vec<_> = bad_ones.iter().map(|(name, bad, _)| (name.to_string(), bad.clone())).collect();
    let report = validators::fhir_report(&documents).unwrap().unwrap_err();
    for (name, _, says) in bad_ones {
        let file = format!("/{name}.json: ");
        let lines: Vec<_> = report.lines().filter(|l| l.contains(&file)).collect();
        assert!(lines.iter().any(|l| l.contains(says)), "{name}: {report}");
    }
}

/// A referral Task whose status the referral IG leaves out (`received`, told as a business
/// status instead).
fn bad_status(good: &Value) -> Value {
    let mut t = good.clone();
    t["status"] = "received".into();
    t
}
