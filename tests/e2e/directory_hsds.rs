//! Open Referral HSDS 3 import and export over gRPC: a directory exported from one node imports
//! into another unchanged; an import is all or nothing, names every rejected row, and changes
//! nothing when run twice.

use samenspel_e2e::TestNode;
use samenspel_proto::v1 as pb;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Everything the node answered to an import: progress, the report if any, and how it ended.
struct Imported {
    progress: Vec<pb::ImportProgress>,
    report: Option<pb::ImportReport>,
    end: Result<(), Status>,
}

async fn import(node: &TestNode, document: &[u8], options: pb::ImportOptions) -> Imported {
    let mut dir = node.directory_client().await;
    // Small chunks, so the document really arrives in pieces.
    let requests: Vec<pb::ImportHsdsRequest> = document
        .chunks(1000)
        .enumerate()
        .map(|(i, c)| pb::ImportHsdsRequest { options: (i == 0).then_some(options), chunk: c.to_vec() })
        .collect();
    let mut out = Imported { progress: Vec::new(), report: None, end: Ok(()) };
    let mut stream = match dir.import_hsds(tokio_stream::iter(requests)).await {
        Ok(s) => s.into_inner(),
        Err(status) => return Imported { end: Err(status), ..out },
    };
    loop {
        match stream.message().await {
            Ok(Some(pb::ImportHsdsResponse { message: Some(m) })) => match m {
                pb::import_hsds_response::Message::Progress(p) => out.progress.push(p),
                pb::import_hsds_response::Message::Report(r) => out.report = Some(r),
            },
            Ok(Some(_)) => panic!("an empty import message"),
            Ok(None) => return out,
            Err(status) => return Imported { end: Err(status), ..out },
        }
    }
}

async fn export(node: &TestNode) -> Vec<u8> {
    let mut dir = node.directory_client().await;
    let mut chunks = dir.export_hsds(pb::ExportHsdsRequest {}).await.unwrap().into_inner();
    let mut document = Vec::new();
    while let Some(c) = chunks.message().await.unwrap() {
        document.extend_from_slice(&c.data);
    }
    document
}

fn counts(created: u32, updated: u32, unchanged: u32) -> Option<pb::ImportCounts> {
    Some(pb::ImportCounts { created, updated, unchanged, ..Default::default() })
}

fn slot(day: pb::Weekday, start: &str, end: &str) -> pb::TimeSlot {
    pb::TimeSlot { day: day.into(), start: start.into(), end: end.into() }
}

/// A small sociale kaart with every field filled somewhere, built through the API.
async fn fill(node: &TestNode) {
    let mut dir = node.directory_client().await;
    let org = |name: &str, kind: pb::OrganisationKind, address: bool| pb::CreateOrganisationRequest {
        fields: Some(pb::OrganisationFields {
            name: name.into(),
            kind: kind.into(),
            address: address.then(|| pb::Address {
                street: "Akerstraat".into(),
                house_number: "94a".into(),
                postcode: "6411HB".into(),
                city: "Heerlen".into(),
                province: "Limburg".into(),
            }),
            website: if address { "https://wijkteam.example.nl".into() } else { String::new() },
            description: format!("{name}: hulp en ondersteuning"),
        }),
        request_id: String::new(),
    };
    let wijkteam = dir.create_organisation(org("Wijkteam Noord", pb::OrganisationKind::SociaalWijkteam, true)).await;
    let wijkteam = wijkteam.unwrap().into_inner();
    let volunteers =
        dir.create_organisation(org("Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, false)).await;
    let volunteers = volunteers.unwrap().into_inner();
    let contact = pb::ContactFields {
        name: "Anna de Vries".into(),
        role: "consulent mantelzorg".into(),
        phone: "045-5123456".into(),
        email: "anna@wijkteam.example.nl".into(),
        working_hours: vec![
            slot(pb::Weekday::Monday, "08:30", "12:30"),
            slot(pb::Weekday::Monday, "13:00", "17:00"),
            slot(pb::Weekday::Thursday, "09:00", "24:00"),
        ],
    };
    let request = pb::CreateContactPersonRequest {
        organisation_id: wijkteam.id.clone(),
        fields: Some(contact),
        request_id: String::new(),
    };
    dir.create_contact_person(request).await.unwrap();
    let bare = pb::ContactFields { name: "Piet".into(), ..Default::default() };
    let request = pb::CreateContactPersonRequest {
        organisation_id: volunteers.id.clone(),
        fields: Some(bare),
        request_id: "p".into(),
    };
    dir.create_contact_person(request).await.unwrap();
    let offers = [
        (
            &wijkteam,
            pb::OfferFields {
                title: "Keukentafelgesprek".into(),
                description: "Wat heeft u als mantelzorger nodig?".into(),
                support_functions: vec!["advies-en-begeleiding".into(), "informatie".into()],
                support_kinds: vec![],
                for_whom: vec![pb::TargetGroup::Mantelzorger.into(), pb::TargetGroup::YoungCarer.into()],
                area: Some(pb::ServiceArea {
                    postcode_ranges: vec!["6411-6419".into(), "6422".into()],
                    municipality: "Heerlen".into(),
                    wijk: "Heerlen-Noord".into(),
                }),
                schedule: vec![
                    slot(pb::Weekday::Tuesday, "09:00", "17:00"),
                    slot(pb::Weekday::Friday, "09:00", "12:00"),
                ],
                languages: vec!["nl".into(), "tr".into()],
                capacity: 12,
                max_complexity: pb::Complexity::High.into(),
                cost: "gratis".into(),
                availability: pb::Availability::AssessmentRequired.into(),
                expected_wait_days: 0,
            },
        ),
        (
            &volunteers,
            pb::OfferFields {
                title: "Boodschappenmaatje".into(),
                description: String::new(),
                support_functions: vec![],
                support_kinds: vec!["boodschappen".into(), "maatje".into()],
                for_whom: vec![pb::TargetGroup::Client.into()],
                area: Some(pb::ServiceArea { postcode_ranges: vec!["6431-6439".into()], ..Default::default() }),
                schedule: vec![],
                languages: vec![],
                capacity: 0,
                max_complexity: pb::Complexity::Low.into(),
                cost: String::new(),
                availability: pb::Availability::Waitlist.into(),
                expected_wait_days: 21,
            },
        ),
    ];
    for (org, fields) in offers {
        let request =
            pb::CreateOfferRequest { organisation_id: org.id.clone(), fields: Some(fields), request_id: String::new() };
        dir.create_offer(request).await.unwrap();
    }
    // Archived entries are not part of the published kaart.
    let gone = dir.create_organisation(org("Opgeheven", pb::OrganisationKind::Buurtvereniging, false)).await;
    let gone = gone.unwrap().into_inner();
    dir.archive_organisation(pb::ArchiveOrganisationRequest { id: gone.id, expected_version: 1 }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_into_another_node_unchanged_and_twice_changes_nothing() {
    let a = TestNode::start().await;
    fill(&a).await;
    let document = export(&a).await;
    let parsed: serde_json::Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(parsed["total_items"], 2, "archived organisations are not exported");
    let contents = parsed["contents"].as_array().unwrap();
    assert!(contents.iter().all(|o| o["id"].as_str().unwrap().len() == 36), "HSDS ids are UUIDs");
    let wijkteam = contents.iter().find(|o| o["name"] == "Wijkteam Noord").unwrap();
    assert_eq!(wijkteam["locations"][0]["addresses"][0]["address_1"], "Akerstraat 94a");
    assert_eq!(wijkteam["services"][0]["status"], "active");
    assert_eq!(wijkteam["services"][0]["capacities"][0]["available"], 12.0);

    let b = TestNode::start().await;
    let first = import(&b, &document, pb::ImportOptions::default()).await;
    first.end.unwrap();
    let report = first.report.unwrap();
    assert!(report.written && report.rejected.is_empty(), "{report:?}");
    assert_eq!(report.organisations, counts(2, 0, 0));
    assert_eq!(report.contact_persons, counts(2, 0, 0));
    assert_eq!(report.offers, counts(2, 0, 0));
    assert_eq!(report.position, b.log_head().await);
    let checked = first.progress.iter().find(|p| p.phase == "checking").unwrap();
    assert_eq!(checked.total, 2);
    assert!(first.progress.iter().any(|p| p.phase == "writing" && p.total == 6), "{:?}", first.progress);

    assert_eq!(
        without_updated(&export(&b).await),
        without_updated(&document),
        "the round trip keeps every field and id (but when each node last changed the capacity)"
    );
    // The imported offers are searchable like any other.
    let mut dir = b.directory_client().await;
    let found = dir
        .search_offers(pb::SearchOffersRequest {
            postcode: "6413 AA".into(),
            language: "tr".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.hits.len(), 1);
    assert_eq!(found.hits[0].offer.as_ref().unwrap().fields.as_ref().unwrap().title, "Keukentafelgesprek");

    let head = b.log_head().await;
    let again = import(&b, &document, pb::ImportOptions::default()).await;
    again.end.unwrap();
    let report = again.report.unwrap();
    assert!(!report.written);
    assert_eq!((report.organisations, report.offers), (counts(0, 0, 2), counts(0, 0, 2)));
    assert_eq!(b.log_head().await, head, "importing the same document twice writes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_document_updates_entries_and_an_inactive_service_archives_its_offer() {
    let node = TestNode::start().await;
    fill(&node).await;
    let mut document: serde_json::Value = serde_json::from_slice(&export(&node).await).unwrap();
    let org = &mut document["contents"][0];
    org["name"] = "Hernoemd".into();
    org["services"][0]["status"] = "defunct".into();
    let offer_id = org["services"][0]["id"].as_str().unwrap().replace('-', "");
    let org_id = org["id"].as_str().unwrap().replace('-', "");
    let imported = import(&node, &serde_json::to_vec(&document).unwrap(), pb::ImportOptions::default()).await;
    imported.end.unwrap();
    let report = imported.report.unwrap();
    assert_eq!(report.organisations, counts(0, 1, 1));
    assert_eq!(report.offers.unwrap().archived, 1);
    let mut dir = node.directory_client().await;
    let renamed = dir.get_organisation(pb::GetOrganisationRequest { id: org_id }).await.unwrap().into_inner();
    assert_eq!((renamed.fields.unwrap().name.as_str(), renamed.version), ("Hernoemd", 2));
    let offer = dir.get_offer(pb::GetOfferRequest { id: offer_id }).await.unwrap().into_inner();
    assert!(offer.archived);
}

/// A document of two organizations; the second one's service has a bad postcode range and its
/// contact a bad phone number.
fn document_with_bad_rows() -> Vec<u8> {
    let kind = |code: &str| {
        serde_json::json!([{"id": code, "taxonomy_term_id": code,
            "taxonomy_term": {"id": code, "code": code, "taxonomy": "samenspel:organisation-kind"}}])
    };
    let service = |id: &str, extent: &str| {
        serde_json::json!({
            "id": id, "name": format!("dienst {id}"), "status": "active",
            "attributes": [
                {"id": "k", "taxonomy_term_id": "k", "taxonomy_term": {"code": "vervoer", "taxonomy": "samenspel:support-kind"}},
                {"id": "c", "taxonomy_term_id": "c", "taxonomy_term": {"code": "low", "taxonomy": "samenspel:max-complexity"}}
            ],
            "service_areas": [{"id": "a", "name": "gebied", "extent": extent, "extent_type": "text"}],
            "schedules": [{"id": "s", "freq": "WEEKLY", "byday": "MO,WE", "opens_at": "09:00:00", "closes_at": "12:00:00"}]
        })
    };
    serde_json::to_vec(&serde_json::json!([
        {"id": "org-good", "name": "Goed", "description": null, "attributes": kind("buurtvereniging"),
         "services": [service("s-good", "6411")]},
        {"id": "org-mixed", "name": "Gemengd", "attributes": kind("vrijwilligersorganisatie"),
         "contacts": [{"id": "c-bad", "name": "Jan", "phones": [{"id": "p", "number": "12345"}]}],
         "services": [service("s-ok", "6400-6499"), service("s-bad", "64111")]}
    ]))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_row_stops_the_import_and_every_bad_field_is_named() {
    let node = TestNode::start().await;
    let document = document_with_bad_rows();

    let refused = import(&node, &document, pb::ImportOptions::default()).await;
    let status = refused.end.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["organizations[1].contacts[0].phones[0].number", "organizations[1].services[1].service_areas"]);
    let report = refused.report.expect("the report comes before the error");
    assert!(!report.written);
    let rejected: Vec<(&str, &str, &str)> =
        report.rejected.iter().map(|r| (r.path.as_str(), r.entity.as_str(), r.source_id.as_str())).collect();
    assert_eq!(
        rejected,
        [("organizations[1].contacts[0]", "contact", "c-bad"), ("organizations[1].services[1]", "service", "s-bad")]
    );
    assert_eq!(node.log_head().await, 0, "nothing was written");

    let dry =
        import(&node, &document, pb::ImportOptions { dry_run: true, skip_invalid: true, ..Default::default() }).await;
    dry.end.unwrap();
    assert_eq!(dry.report.unwrap().organisations, counts(2, 0, 0));
    assert_eq!(node.log_head().await, 0, "a dry run writes nothing");

    let partial = import(&node, &document, pb::ImportOptions { skip_invalid: true, ..Default::default() }).await;
    partial.end.unwrap();
    let report = partial.report.unwrap();
    assert!(report.written);
    assert_eq!(report.rejected.len(), 2);
    assert_eq!(report.organisations, counts(2, 0, 0));
    assert_eq!(report.offers, Some(pb::ImportCounts { created: 2, rejected: 1, ..Default::default() }));
    assert_eq!(node.log_head().await, 4, "two organisations and two offers, in one write");
    let mut dir = node.directory_client().await;
    let offers = dir.list_offers(pb::ListOffersRequest::default()).await.unwrap().into_inner().offers;
    let schedule = &offers.iter().find(|o| o.fields.as_ref().unwrap().title == "dienst s-ok").unwrap().fields;
    assert_eq!(schedule.as_ref().unwrap().schedule.len(), 2, "\"MO,WE\" is two weekly slots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_that_are_no_hsds_are_refused_whole() {
    let node = TestNode::start_with(|c| c.directory.import_max_bytes = 10_000).await;
    let cases: [(&[u8], &str); 4] = [
        (b"{\"contents\": [", "document"),
        (b"42", "document"),
        (b"{\"total_items\": 0}", "document"),
        (&[b' '; 10_001], "chunk"),
    ];
    for (document, field) in cases {
        let refused = import(&node, document, pb::ImportOptions::default()).await;
        let status = refused.end.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
        assert!(refused.report.is_none());
    }
    let unknown_kind = pb::ImportOptions { default_kind: 99, ..Default::default() };
    let refused = import(&node, b"[]", unknown_kind).await;
    let status = refused.end.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "options.default_kind");

    let typed_wrong = br#"[{"id": "x", "name": "X", "services": [{"id": "s", "name": ["not", "text"]}]}]"#;
    let refused = import(&node, typed_wrong, pb::ImportOptions::default()).await;
    let status = refused.end.unwrap_err();
    assert_eq!(
        status.get_details_bad_request().unwrap().field_violations[0].field,
        "organizations[0].services[0].name"
    );
    assert_eq!(node.log_head().await, 0);
}

/// A document with its capacities' `updated` left out: when this node last changed the figures,
/// which an import elsewhere does at its own time.
fn without_updated(document: &[u8]) -> String {
    let mut value: serde_json::Value = serde_json::from_slice(document).unwrap();
    for org in value["contents"].as_array_mut().unwrap() {
        for service in org["services"].as_array_mut().unwrap() {
            for c in service["capacities"].as_array_mut().unwrap() {
                c.as_object_mut().unwrap().remove("updated");
            }
        }
    }
    value.to_string()
}

/// The organizations of an HSDS document (an array of them, or a page of an API).
fn organizations(document: &[u8]) -> Vec<(String, String)> {
    let value: serde_json::Value = serde_json::from_slice(document).unwrap();
    let items = match &value {
        serde_json::Value::Array(items) => items.clone(),
        other => other["contents"].as_array().cloned().unwrap_or_else(|| vec![other.clone()]),
    };
    items.iter().enumerate().map(|(i, o)| (format!("organization-{i}"), o.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_export_and_the_example_kaart_validate_against_the_official_hsds_schema() {
    let test = "every_export_and_the_example_kaart_validate_against_the_official_hsds_schema";
    let node = TestNode::start().await;
    fill(&node).await;
    let exported = organizations(&export(&node).await);
    assert_eq!(exported.len(), 2);
    // Capacity status as HSDS 3.1 service_capacity, and samenspel's availability attribute.
    let services: Vec<serde_json::Value> = exported
        .iter()
        .flat_map(|(_, o)| {
            serde_json::from_str::<serde_json::Value>(o).unwrap()["services"].as_array().cloned().unwrap()
        })
        .collect();
    let keukentafel = services.iter().find(|s| s["name"] == "Keukentafelgesprek").unwrap();
    let c = &keukentafel["capacities"][0];
    assert_eq!((c["available"].as_f64(), c["maximum"].as_f64()), (Some(12.0), Some(12.0)));
    assert!(c["updated"].as_str().is_some_and(|u| u.starts_with("20")), "{c}");
    let maatje = services.iter().find(|s| s["name"] == "Boodschappenmaatje").unwrap();
    let availability = maatje["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["taxonomy_term"]["taxonomy"] == "samenspel:availability")
        .unwrap();
    assert_eq!(
        (availability["taxonomy_term"]["code"].as_str(), availability["value"].as_str()),
        (Some("waitlist"), Some("21"))
    );
    let example =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/sociale-kaart.hsds.json")).unwrap();
    let mut documents = exported;
    documents.extend(organizations(&example).into_iter().map(|(n, o)| (format!("example-{n}"), o)));
    samenspel_e2e::validators::hsds(test, &documents);
}

#[test]
fn the_hsds_validator_refuses_an_organization_the_schema_does_not_allow() {
    let test = "the_hsds_validator_refuses_an_organization_the_schema_does_not_allow";
    let good =
        serde_json::json!({ "id": "3f0c6a52-8a4e-4c53-9a43-1b1f0e6c2a01", "name": "Wijkteam", "description": "d" });
    let Some(ok) = samenspel_e2e::validators::hsds_report(&[("good".into(), good.to_string())]) else {
        samenspel_e2e::validators::hsds(test, &[]);
        return;
    };
    assert_eq!(ok, Ok(()));
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("description");
    let report = samenspel_e2e::validators::hsds_report(&[("bad".into(), bad.to_string())]).unwrap().unwrap_err();
    assert!(report.contains("'description' is a required property"), "{report}");
}

/// An organization as Open Referral's publishers write one: a contact listed twice (under the
/// organization and under its service), a shape beside postcodes, only a postal address, and
/// elements samenspel has no place for.
fn published() -> serde_json::Value {
    let contact =
        serde_json::json!({ "id": "c-1", "name": "Ria Peters", "title": "coördinator", "email": "ria@example.nl" });
    serde_json::json!({
        "id": "org-1", "name": "Buurtzorg Voerendaal", "description": "Hulp in de buurt", "email": "info@example.nl",
        "phones": [{ "id": "p-1", "number": "045-5000000" }],
        "attributes": [
            { "id": "a1", "taxonomy_term": { "id": "t1", "code": "vrijwilligersorganisatie", "taxonomy": "samenspel:organisation-kind" } },
            { "id": "a2", "taxonomy_term": { "id": "t2", "code": "senior", "taxonomy": "open-eligibility" } }
        ],
        "locations": [{ "id": "l-1", "location_type": "postal", "addresses": [{
            "id": "ad-1", "address_1": "Postbus 12", "city": "Voerendaal", "state_province": "Limburg",
            "postal_code": "6367 ZG", "country": "NL", "address_type": "postal" }] }],
        "contacts": [contact.clone()],
        "services": [{
            "id": "svc-1", "name": "Boodschappen", "status": "active", "eligibility_description": "65 jaar en ouder",
            "attributes": [
                { "id": "b1", "taxonomy_term": { "id": "k1", "code": "boodschappen", "taxonomy": "samenspel:support-kind" } },
                { "id": "b2", "taxonomy_term": { "id": "k2", "code": "low", "taxonomy": "samenspel:max-complexity" } }
            ],
            "service_areas": [
                { "id": "sa-1", "extent": "6367", "extent_type": "text" },
                { "id": "sa-2", "extent": "{\"type\":\"Polygon\",\"coordinates\":[]}", "extent_type": "geojson" }
            ],
            "languages": [{ "id": "la-1", "code": "nl", "name": "Nederlands" }],
            "capacities": [{ "id": "cap", "available": 2, "unit": { "id": "u", "name": "open cases" } }],
            "contacts": [contact]
        }]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_referral_documents_are_read_as_published_and_what_is_not_kept_is_reported() {
    let node = TestNode::start().await;
    let options = pb::ImportOptions::default;

    // A service, a location, a taxonomy on their own are no organization: refused, with why.
    for (document, what) in [
        (serde_json::json!({ "id": "s", "name": "Maaltijden", "organization_id": "o", "status": "active" }), "service"),
        (serde_json::json!({ "id": "l", "name": "Gemeenschapshuis", "location_type": "physical" }), "location"),
        (
            serde_json::json!({ "id": "t", "name": "Open Eligibility", "version": "2.0", "uri": "https://x" }),
            "taxonomy",
        ),
        (
            serde_json::json!({ "id": "sal", "service": { "id": "s" }, "location": { "id": "l" } }),
            "service at a location",
        ),
    ] {
        let refused = import(&node, document.to_string().as_bytes(), options()).await;
        let e = refused.end.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().contains(&format!("is an HSDS {what}, not an organization")), "{what}: {}", e.message());
    }
    let mixed = serde_json::json!([published(), { "id": "t2", "name": "x", "code": "c", "taxonomy": "y" }]);
    let refused = import(&node, mixed.to_string().as_bytes(), options()).await;
    let report = refused.report.unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].path, "organizations[1]");
    assert!(report.rejected[0].violations[0].description.contains("is an HSDS taxonomy term"));
    assert!(!report.written);

    // The organization itself: the contact listed twice is one, the shape beside postcodes is
    // left out and said, the postal address is kept, and what samenspel has no place for is listed.
    let imported = import(&node, published().to_string().as_bytes(), options()).await;
    imported.end.unwrap();
    let report = imported.report.unwrap();
    assert!(report.written && report.rejected.is_empty(), "{report:?}");
    assert_eq!((report.contact_persons.unwrap().created, report.offers.unwrap().created), (1, 1));
    let dropped: Vec<(String, Vec<String>)> =
        report.dropped.iter().map(|d| (d.path.clone(), d.fields.clone())).collect();
    assert_eq!(
        dropped[0],
        (
            "organizations[0]".into(),
            vec!["email".into(), "phones".into(), "attributes[1] (taxonomy open-eligibility)".into()]
        )
    );
    assert_eq!(dropped[1].0, "organizations[0].services[0]");
    assert_eq!(
        dropped[1].1,
        [
            "eligibility_description",
            "languages[0].name",
            "service_areas[1] (extent_type geojson: samenspel reads postcodes as text)"
        ]
    );
    let mut dir = node.directory_client().await;
    let orgs =
        dir.list_organisations(pb::ListOrganisationsRequest::default()).await.unwrap().into_inner().organisations;
    let address = orgs[0].fields.as_ref().unwrap().address.clone().unwrap();
    assert_eq!((address.postcode.as_str(), address.province.as_str()), ("6367 ZG", "Limburg"));
    let offers = dir.list_offers(pb::ListOffersRequest::default()).await.unwrap().into_inner().offers;
    assert_eq!(offers[0].fields.as_ref().unwrap().area.as_ref().unwrap().postcode_ranges, ["6367"]);

    // A rejected row names the HSDS elements, not samenspel's fields.
    let mut bad = published();
    bad["id"] = "org-2".into();
    bad["contacts"][0]["id"] = "c-2".into();
    bad["services"][0]["id"] = "svc-2".into();
    bad["services"][0]["contacts"][0]["id"] = "c-2".into();
    bad["services"][0]["service_areas"] = serde_json::json!([]);
    bad["services"][0]["languages"][0]["code"] = "nederlands".into();
    let refused = import(&node, bad.to_string().as_bytes(), options()).await;
    let report = refused.report.unwrap();
    let row = report.rejected.iter().find(|r| r.entity == "service").unwrap();
    let fields: Vec<&str> = row.violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["service_areas", "languages[0].code"], "{row:?}");

    // Two copies of one id with different content are refused.
    let mut twice = published();
    twice["id"] = "org-3".into();
    twice["services"][0]["id"] = "svc-3".into();
    twice["contacts"][0]["id"] = "c-3".into();
    twice["services"][0]["contacts"][0]["id"] = "c-3".into();
    twice["services"][0]["contacts"][0]["title"] = "iets anders".into();
    let refused = import(&node, twice.to_string().as_bytes(), options()).await;
    let report = refused.report.unwrap();
    let row = report.rejected.iter().find(|r| r.entity == "contact").unwrap();
    assert!(row.violations[0].description.contains("appears more than once in the document, with different content"));
}
