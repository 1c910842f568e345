//! The Directory service over gRPC: organisations created, read, listed, updated and archived,
//! with idempotent creates, version checks, validation, and state that survives a restart.

use samenspel_e2e::TestNode;
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn fields(name: &str, kind: pb::OrganisationKind) -> pb::OrganisationFields {
    pb::OrganisationFields {
        name: name.into(),
        kind: kind.into(),
        address: Some(pb::Address {
            street: "Markt".into(),
            house_number: "1".into(),
            postcode: "6411ab".into(),
            city: "Heerlen".into(),
            province: "Limburg".into(),
        }),
        website: "https://example.nl".into(),
        description: "Ondersteuning voor mantelzorgers".into(),
    }
}

fn create(f: pb::OrganisationFields, request_id: &str) -> pb::CreateOrganisationRequest {
    pb::CreateOrganisationRequest { fields: Some(f), request_id: request_id.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_are_created_read_updated_and_archived() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let created = dir
        .create_organisation(create(fields("Steunpunt Mantelzorg", pb::OrganisationKind::Mantelzorgsteunpunt), ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.version, 1);
    assert!(created.formal);
    assert!(!created.archived);
    assert_eq!(created.fields.as_ref().unwrap().address.as_ref().unwrap().postcode, "6411 AB", "normalised");
    let node_id = node.log_client().await.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner().node_id;
    assert_eq!(created.hosting_node, node_id);

    let got = dir.get_organisation(pb::GetOrganisationRequest { id: created.id.clone() }).await.unwrap().into_inner();
    assert_eq!(got, created);

    let stale = pb::UpdateOrganisationRequest {
        id: created.id.clone(),
        fields: Some(fields("Nieuwe naam", pb::OrganisationKind::Mantelzorgsteunpunt)),
        expected_version: 7,
    };
    let status = dir.update_organisation(stale.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.get_details_error_info().unwrap().metadata["actual"], "1");
    let updated = dir
        .update_organisation(pb::UpdateOrganisationRequest { expected_version: 1, ..stale })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.version, updated.fields.as_ref().unwrap().name.as_str()), (2, "Nieuwe naam"));
    assert!(updated.updated_micros >= created.updated_micros);

    let archived = dir
        .archive_organisation(pb::ArchiveOrganisationRequest { id: created.id.clone(), expected_version: 2 })
        .await
        .unwrap()
        .into_inner();
    assert!(archived.archived);
    let listed = dir.list_organisations(pb::ListOrganisationsRequest::default()).await.unwrap().into_inner();
    assert!(listed.organisations.is_empty(), "archived organisations are left out by default");
    let all = dir
        .list_organisations(pb::ListOrganisationsRequest { include_archived: true, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.organisations, vec![archived]);

    let missing = dir.get_organisation(pb::GetOrganisationRequest { id: "0".repeat(32) }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_returns_the_same_organisation() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let f = fields("Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie);
    let first = dir.create_organisation(create(f.clone(), "req-1")).await.unwrap().into_inner();
    let head = node.log_head().await;
    let retry = dir.create_organisation(create(f, "req-1")).await.unwrap().into_inner();
    assert_eq!(retry, first);
    assert!(!first.formal);
    assert_eq!(node.written().await.len(), 1);
    assert_eq!(node.log_head().await, head, "the retry appended nothing");
    let other = fields("Iets anders", pb::OrganisationKind::Buurtvereniging);
    let status = dir.create_organisation(create(other, "req-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(node.log_head().await, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_organisations_are_refused_with_every_field_named() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let mut bad = fields(" ", pb::OrganisationKind::Unspecified);
    bad.address.as_mut().unwrap().postcode = "0123 XX".into();
    bad.website = "www.example.nl".into();
    let status = dir.create_organisation(create(bad, "")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields_named: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields_named, ["fields.name", "fields.kind", "fields.address.postcode", "fields.website"]);
    let unknown_kind = pb::OrganisationFields { kind: 99, ..fields("X", pb::OrganisationKind::Ggz) };
    let status = dir.create_organisation(create(unknown_kind, "")).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "fields.kind");
    let status = dir.create_organisation(pb::CreateOrganisationRequest::default()).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "fields");
    let status = dir
        .list_organisations(pb::ListOrganisationsRequest { page_token: "nonsense".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "page_token");
    assert_eq!(node.log_head().await, 0, "nothing was appended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_and_filter_and_the_directory_survives_a_restart() {
    let node = TestNode::start_with(|c| c.directory.snapshot_every = 3).await;
    let mut dir = node.directory_client().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let kind = if i % 2 == 0 { pb::OrganisationKind::Thuiszorg } else { pb::OrganisationKind::KerkMoskee };
        ids.push(dir.create_organisation(create(fields(&format!("Org {i}"), kind), "")).await.unwrap().into_inner().id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = dir
            .list_organisations(pb::ListOrganisationsRequest { page_size: 2, page_token: token, ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        assert!(page.organisations.len() <= 2);
        seen.extend(page.organisations.into_iter().map(|o| o.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids, "every organisation once, in id order");
    let informal = dir
        .list_organisations(pb::ListOrganisationsRequest {
            kind: pb::OrganisationKind::KerkMoskee.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(informal.organisations.len(), 2);

    drop(dir);
    let node = node.restart().await;
    let mut dir = node.directory_client().await;
    let after = dir
        .list_organisations(pb::ListOrganisationsRequest { page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.organisations.iter().map(|o| o.id.clone()).collect::<Vec<_>>(), ids);
    let sixth =
        dir.create_organisation(create(fields("Org 5", pb::OrganisationKind::Ggz), "")).await.unwrap().into_inner();
    assert_eq!(sixth.version, 1);
}

fn contact(name: &str) -> pb::ContactFields {
    pb::ContactFields {
        name: name.into(),
        role: "consulent mantelzorg".into(),
        phone: "045 - 5123456".into(),
        email: "anna@steunpunt.nl".into(),
        working_hours: vec![
            pb::TimeSlot { day: pb::Weekday::Thursday.into(), start: "13:00".into(), end: "17:00".into() },
            pb::TimeSlot { day: pb::Weekday::Tuesday.into(), start: "9:00".into(), end: "12:30".into() },
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoelenboek_knows_who_works_where_and_when() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let org = dir
        .create_organisation(create(fields("Steunpunt", pb::OrganisationKind::Mantelzorgsteunpunt), ""))
        .await
        .unwrap()
        .into_inner();
    let other = dir
        .create_organisation(create(fields("Wijkteam", pb::OrganisationKind::SociaalWijkteam), ""))
        .await
        .unwrap()
        .into_inner();
    let request = |org: &str, f: pb::ContactFields, request_id: &str| pb::CreateContactPersonRequest {
        organisation_id: org.into(),
        fields: Some(f),
        request_id: request_id.into(),
    };
    let anna = dir.create_contact_person(request(&org.id, contact("Anna de Vries"), "c-1")).await.unwrap().into_inner();
    let f = anna.fields.clone().unwrap();
    assert_eq!(f.phone, "+31455123456", "stored as E.164");
    let days: Vec<(i32, &str, &str)> =
        f.working_hours.iter().map(|s| (s.day, s.start.as_str(), s.end.as_str())).collect();
    assert_eq!(
        days,
        [(pb::Weekday::Tuesday as i32, "09:00", "12:30"), (pb::Weekday::Thursday as i32, "13:00", "17:00")]
    );
    let retry =
        dir.create_contact_person(request(&org.id, contact("Anna de Vries"), "c-1")).await.unwrap().into_inner();
    assert_eq!(retry, anna);
    dir.create_contact_person(request(&other.id, contact("Bram Jansen"), "")).await.unwrap();

    let of_org = dir
        .list_contact_persons(pb::ListContactPersonsRequest { organisation_id: org.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_org.contact_persons, vec![anna.clone()]);
    let everyone = dir.list_contact_persons(pb::ListContactPersonsRequest::default()).await.unwrap().into_inner();
    assert_eq!(everyone.contact_persons.len(), 2);

    let mut overlapping = contact("Anna de Vries");
    overlapping.working_hours.push(pb::TimeSlot {
        day: pb::Weekday::Thursday.into(),
        start: "16:00".into(),
        end: "18:00".into(),
    });
    let status = dir
        .update_contact_person(pb::UpdateContactPersonRequest {
            id: anna.id.clone(),
            fields: Some(overlapping),
            expected_version: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "fields.working_hours[2]");
    let mut bad = contact("");
    bad.phone = "12345".into();
    let status = dir.create_contact_person(request(&org.id, bad, "")).await.unwrap_err();
    let named: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(named, ["fields.name", "fields.phone"]);

    let status = dir.create_contact_person(request(&"f".repeat(32), contact("X"), "")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "a contact person belongs to a known organisation");
    dir.archive_organisation(pb::ArchiveOrganisationRequest { id: other.id.clone(), expected_version: 1 })
        .await
        .unwrap();
    let status = dir.create_contact_person(request(&other.id, contact("Y"), "")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "not to an archived one");

    let archived = dir
        .archive_contact_person(pb::ArchiveContactPersonRequest { id: anna.id.clone(), expected_version: 1 })
        .await
        .unwrap()
        .into_inner();
    assert!(archived.archived);
    assert_eq!(archived.version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_nobody_checked_for_too_long_are_listed_as_stale_by_the_nodes_clock() {
    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);
    let clock = std::sync::Arc::new(samenspel_domain::ManualClock::at(1_796_112_000_000_000));
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let mut dir = node.directory_client().await;
    let org = dir
        .create_organisation(create(fields("Steunpunt", pb::OrganisationKind::Mantelzorgsteunpunt), ""))
        .await
        .unwrap()
        .into_inner();
    clock.advance(std::time::Duration::from_secs(60));
    let anna = dir
        .create_contact_person(pb::CreateContactPersonRequest {
            organisation_id: org.id.clone(),
            fields: Some(contact("Anna de Vries")),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(org.last_verified_micros, 1_796_112_000_000_000, "stamped by the node's clock");
    let fresh = dir.list_stale(pb::ListStaleRequest::default()).await.unwrap().into_inner();
    assert!(fresh.organisations.is_empty() && fresh.contact_persons.is_empty(), "new entries are fresh for six months");

    // Past the freshness threshold (183 days) both are stale, oldest first, a page at a time.
    clock.advance(200 * DAY);
    let stale = |page_token: String| pb::ListStaleRequest { max_age_seconds: 0, page_size: 1, page_token };
    let first = dir.list_stale(stale(String::new())).await.unwrap().into_inner();
    assert_eq!((first.organisations, first.contact_persons.len()), (vec![org.clone()], 0));
    assert!(!first.next_page_token.is_empty());
    let second = dir.list_stale(stale(first.next_page_token)).await.unwrap().into_inner();
    assert_eq!((second.organisations.len(), second.contact_persons), (0, vec![anna.clone()]));
    assert!(second.next_page_token.is_empty(), "the last page");
    let bad = dir.list_stale(stale("12/not-an-id".into())).await.unwrap_err();
    assert_eq!(bad.get_details_bad_request().unwrap().field_violations[0].field, "page_token");

    let verified = dir.verify_organisation(pb::VerifyRequest { id: org.id.clone() }).await.unwrap().into_inner();
    assert_eq!(verified.last_verified_micros, samenspel_domain::Clock::now_micros(clock.as_ref()));
    assert_eq!(verified.version, org.version, "verifying changes no version, so it never conflicts with an edit");
    let all = pb::ListStaleRequest { page_size: 10, ..Default::default() };
    let stale = dir.list_stale(all.clone()).await.unwrap().into_inner();
    assert!(stale.organisations.is_empty());
    assert_eq!(stale.contact_persons.len(), 1);

    let status = dir.verify_contact_person(pb::VerifyRequest { id: org.id.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "an organisation id is no contact person");
    dir.verify_contact_person(pb::VerifyRequest { id: anna.id.clone() }).await.unwrap();
    let stale = dir.list_stale(all).await.unwrap().into_inner();
    assert!(stale.contact_persons.is_empty());
}

fn offer(title: &str, kinds: &[&str], ranges: &[&str], languages: &[&str], capacity: u32) -> pb::OfferFields {
    pb::OfferFields {
        title: title.into(),
        description: "Vrijwilligers helpen bij u thuis".into(),
        support_functions: vec![],
        support_kinds: kinds.iter().map(|s| s.to_string()).collect(),
        for_whom: vec![pb::TargetGroup::Client.into(), pb::TargetGroup::Mantelzorger.into()],
        area: Some(pb::ServiceArea {
            postcode_ranges: ranges.iter().map(|s| s.to_string()).collect(),
            municipality: "Heerlen".into(),
            wijk: String::new(),
        }),
        schedule: vec![pb::TimeSlot { day: pb::Weekday::Monday.into(), start: "09:00".into(), end: "12:00".into() }],
        languages: languages.iter().map(|s| s.to_string()).collect(),
        capacity,
        max_complexity: pb::Complexity::Low.into(),
        cost: "gratis".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_are_found_by_need_place_language_and_words_best_first() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let volunteers = dir
        .create_organisation(create(fields("Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie), ""))
        .await
        .unwrap()
        .into_inner();
    let homecare = dir
        .create_organisation(create(fields("Thuiszorg Zuid", pb::OrganisationKind::Thuiszorg), ""))
        .await
        .unwrap()
        .into_inner();
    let mut add = async |org: &str, f: pb::OfferFields| {
        let r = pb::CreateOfferRequest { organisation_id: org.into(), fields: Some(f), request_id: String::new() };
        dir.create_offer(r).await.unwrap().into_inner()
    };
    let local = add(&volunteers.id, offer("Boodschappen in de wijk", &["boodschappen"], &["6411"], &["nl"], 3)).await;
    let regional = add(
        &volunteers.id,
        offer("Boodschappen regio", &["boodschappen", "vervoer"], &["6400-6499"], &["nl", "en"], 2),
    )
    .await;
    let full = add(&homecare.id, offer("Boodschappen met zorg", &["boodschappen"], &["6000-6999"], &["nl"], 0)).await;
    add(&volunteers.id, offer("Maatje", &["maatje"], &["6411"], &["nl"], 5)).await;
    assert_eq!(local.fields.as_ref().unwrap().support_functions, ["praktische-hulp"], "a kind implies its function");
    assert!(full.formal && !local.formal);

    let searcher = dir.clone();
    let search = |req: pb::SearchOffersRequest| {
        let mut dir = searcher.clone();
        async move { dir.search_offers(req).await }
    };
    let hits = search(pb::SearchOffersRequest {
        support_kind: "boodschappen".into(),
        postcode: "6411 AB".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .hits;
    let ids: Vec<&str> = hits.iter().map(|h| h.offer.as_ref().unwrap().id.as_str()).collect();
    assert_eq!(ids, [local.id.as_str(), regional.id.as_str(), full.id.as_str()], "local first, no capacity last");
    assert!(hits[0].reasons.iter().any(|r| r.contains("serves 6411 itself")), "{:?}", hits[0].reasons);
    assert!(hits[2].reasons.iter().any(|r| r == "no room: it offers no places"));

    let english =
        search(pb::SearchOffersRequest { postcode: "6411".into(), language: "EN".into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .hits;
    assert_eq!(english.len(), 1);
    assert_eq!(english[0].offer.as_ref().unwrap().id, regional.id);

    let outside = search(pb::SearchOffersRequest {
        support_kind: "boodschappen".into(),
        postcode: "1011".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert!(outside.hits.is_empty(), "nobody serves Amsterdam here");
    let formal = search(pb::SearchOffersRequest {
        text: "boodschappen".into(),
        formal: pb::FormalFilter::Formal.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(formal.hits.len(), 1);

    let status = search(pb::SearchOffersRequest { formal: pb::FormalFilter::Informal.into(), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "a search needs a criterion");
    let status = search(pb::SearchOffersRequest {
        support_kind: "tuinieren".into(),
        postcode: "64111".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    let named: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(named, ["support_kind", "postcode"]);

    // Archived offers are no longer found.
    dir.archive_offer(pb::ArchiveOfferRequest { id: local.id.clone(), expected_version: 1 }).await.unwrap();
    let hits = search(pb::SearchOffersRequest {
        support_kind: "boodschappen".into(),
        postcode: "6411".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .hits;
    assert_eq!(hits.len(), 2);

    let mut bad = offer("", &["tuinieren"], &[], &["dutch"], 1);
    bad.max_complexity = pb::Complexity::Unspecified.into();
    let status = dir
        .create_offer(pb::CreateOfferRequest {
            organisation_id: volunteers.id.clone(),
            fields: Some(bad),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let named: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(
        named,
        [
            "fields.title",
            "fields.support_kinds[0]",
            "fields.area.postcode_ranges",
            "fields.languages[0]",
            "fields.max_complexity"
        ]
    );
    let listed = dir
        .list_offers(pb::ListOffersRequest { organisation_id: volunteers.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.offers.len(), 2, "one archived, one of another organisation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_every_change_and_resumes_from_a_position() {
    use futures::StreamExt;
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let mut live = dir.watch(pb::WatchRequest { from_position: 0, ..Default::default() }).await.unwrap().into_inner();
    let org = dir
        .create_organisation(create(fields("Steunpunt", pb::OrganisationKind::Mantelzorgsteunpunt), ""))
        .await
        .unwrap()
        .into_inner();
    let request = pb::CreateContactPersonRequest {
        organisation_id: org.id.clone(),
        fields: Some(contact("Anna")),
        request_id: String::new(),
    };
    dir.create_contact_person(request).await.unwrap();
    let offer_request = pb::CreateOfferRequest {
        organisation_id: org.id.clone(),
        fields: Some(offer("Respijt", &["respijt-aan-huis"], &["6411"], &["nl"], 1)),
        request_id: String::new(),
    };
    dir.create_offer(offer_request).await.unwrap();
    let renamed = pb::UpdateOrganisationRequest {
        id: org.id.clone(),
        fields: Some(fields("Steunpunt Heerlen", pb::OrganisationKind::Mantelzorgsteunpunt)),
        expected_version: 1,
    };
    dir.update_organisation(renamed).await.unwrap();

    let mut changes = Vec::new();
    for _ in 0..4 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), live.next()).await.unwrap();
        changes.push(next.unwrap().unwrap());
    }
    let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "directory.organisation.created",
            "directory.contact.created",
            "directory.offer.created",
            "directory.organisation.updated"
        ]
    );
    // In log order; the access records of the contact person's reads lie between them.
    let positions: Vec<u64> = changes.iter().map(|c| c.position).collect();
    assert!(positions[0] == 1 && positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(
        matches!(&changes[2].entry, Some(pb::directory_change::Entry::Offer(o)) if o.fields.as_ref().unwrap().title == "Respijt")
    );

    // A client that saw the second change resumes after it and misses nothing.
    let resumed: Vec<pb::DirectoryChange> = dir
        .watch(pb::WatchRequest { from_position: positions[1] + 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .take(2)
        .map(|c| c.unwrap())
        .collect()
        .await;
    assert_eq!(resumed, changes[2..].to_vec());
}

/// The validation matrix: each bad value is refused with INVALID_ARGUMENT naming its field, and
/// nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_matrix() {
    let node = TestNode::start().await;
    let mut dir = node.directory_client().await;
    let org = dir
        .create_organisation(create(fields("Steunpunt", pb::OrganisationKind::Mantelzorgsteunpunt), ""))
        .await
        .unwrap()
        .into_inner();
    let head = node.log_head().await;
    let slot = |day: pb::Weekday, start: &str, end: &str| pb::TimeSlot {
        day: day.into(),
        start: start.into(),
        end: end.into(),
    };

    let org_cases: Vec<(&str, pb::OrganisationFields)> = vec![
        ("fields.name", pb::OrganisationFields { name: String::new(), ..fields("x", pb::OrganisationKind::Ggz) }),
        ("fields.address.postcode", {
            let mut f = fields("x", pb::OrganisationKind::Ggz);
            f.address.as_mut().unwrap().postcode = "1234 SS".into();
            f
        }),
        ("fields.address.postcode", {
            let mut f = fields("x", pb::OrganisationKind::Ggz);
            f.address.as_mut().unwrap().postcode = "0999 AB".into();
            f
        }),
        ("fields.kind", fields("x", pb::OrganisationKind::Unspecified)),
        (
            "fields.website",
            pb::OrganisationFields { website: "javascript:alert(1)".into(), ..fields("x", pb::OrganisationKind::Ggz) },
        ),
    ];
    for (field, f) in org_cases {
        let status = dir.create_organisation(create(f, "")).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
    }

    let contact_cases: Vec<(&str, pb::ContactFields)> = vec![
        ("fields.phone", pb::ContactFields { phone: "06-1234".into(), ..contact("A") }),
        ("fields.phone", pb::ContactFields { phone: "+31 06 12345678".into(), ..contact("A") }),
        ("fields.email", pb::ContactFields { email: "anna at steunpunt.nl".into(), ..contact("A") }),
        (
            "fields.working_hours[0]",
            pb::ContactFields { working_hours: vec![slot(pb::Weekday::Monday, "17:00", "09:00")], ..contact("A") },
        ),
        (
            "fields.working_hours[1]",
            pb::ContactFields {
                working_hours: vec![
                    slot(pb::Weekday::Friday, "09:00", "13:00"),
                    slot(pb::Weekday::Friday, "12:00", "15:00"),
                ],
                ..contact("A")
            },
        ),
        (
            "fields.working_hours[0].end",
            pb::ContactFields { working_hours: vec![slot(pb::Weekday::Friday, "09:00", "25:00")], ..contact("A") },
        ),
        (
            "fields.working_hours[0].day",
            pb::ContactFields { working_hours: vec![slot(pb::Weekday::Unspecified, "09:00", "10:00")], ..contact("A") },
        ),
    ];
    for (field, f) in contact_cases {
        let request = pb::CreateContactPersonRequest {
            organisation_id: org.id.clone(),
            fields: Some(f),
            request_id: String::new(),
        };
        let status = dir.create_contact_person(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
    }

    let base = || offer("Hulp", &["klusjes"], &["6411"], &["nl"], 1);
    let offer_cases: Vec<(&str, pb::OfferFields)> = vec![
        ("fields.support_functions[0]", pb::OfferFields { support_functions: vec!["tuinieren".into()], ..base() }),
        ("fields.support_functions", pb::OfferFields { support_kinds: vec![], ..base() }),
        (
            "fields.area.postcode_ranges[0]",
            pb::OfferFields {
                area: Some(pb::ServiceArea { postcode_ranges: vec!["6499-6400".into()], ..Default::default() }),
                ..base()
            },
        ),
        ("fields.languages[0]", pb::OfferFields { languages: vec!["nederlands".into()], ..base() }),
        (
            "fields.schedule[1]",
            pb::OfferFields {
                schedule: vec![
                    slot(pb::Weekday::Monday, "09:00", "12:00"),
                    slot(pb::Weekday::Monday, "11:59", "13:00"),
                ],
                ..base()
            },
        ),
        ("fields.for_whom[0]", pb::OfferFields { for_whom: vec![42], ..base() }),
    ];
    for (field, f) in offer_cases {
        let request =
            pb::CreateOfferRequest { organisation_id: org.id.clone(), fields: Some(f), request_id: String::new() };
        let status = dir.create_offer(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
    }
    assert_eq!(node.log_head().await, head, "no refused request wrote anything");
}
