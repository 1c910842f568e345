//! Matching over gRPC, driven by the directory's and the intake's events on one node: explained
//! proposals, confirmation, the receiving organisation's answer, re-matching without a declined
//! offer, the safety rule for complex requests, the timeout, and the resumable match stream.

use std::time::Duration;

use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

fn precondition_type(status: &tonic::Status) -> String {
    status.get_details_precondition_failure().unwrap().violations[0].r#type.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propose_confirm_accept_and_a_decline_rematches_without_that_offer() {
    let node = TestNode::start().await;
    let oost =
        organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let noord = organisation(&node, "Buurthulp Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 CD").await;
    let kerk = organisation(&node, "Kerk", pb::OrganisationKind::KerkMoskee, "6411 EF").await;
    let wide = offer(&node, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;
    let local = offer(&node, &noord, "Boodschappen om de hoek", "6411", 2, pb::Complexity::Low).await;
    offer(&node, &kerk, "Boodschappen van de kerk", "6411", 5, pb::Complexity::Low).await;
    let request = help_request(&node, 2).await;

    let first = proposals(&node, &request).await;
    let order: Vec<&str> = first.proposals.iter().map(|p| p.offer_id.as_str()).collect();
    assert_eq!(order, [local.as_str(), wide.as_str()], "the local offer first; {:?}", first.notes);
    assert!(
        first.notes.iter().any(|n| n.contains("1 offer left out: is not covered by the consent")),
        "{:?}",
        first.notes
    );
    let best = &first.proposals[0];
    let names: Vec<&str> = best.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["need_fit", "distance", "schedule_overlap", "load", "continuity", "local_preference"]);
    assert_eq!(best.factors[0].explanation, "covers boodschappen (1 of 1 asked)");
    assert_eq!(best.factors[5].explanation, "works in this very postcode area");
    assert!(best.score > first.proposals[1].score);

    let m = confirm(&node, &request, &best.token).await.unwrap();
    assert_eq!(
        (m.status(), m.offer_id.as_str(), m.organisation_id.as_str()),
        (pb::MatchStatus::Offered, local.as_str(), noord.as_str())
    );
    intake_status(&node, &request, pb::HelpRequestStatus::Matching).await;
    let summary = m.request.as_ref().unwrap();
    assert_eq!((summary.postcode_area.as_str(), summary.support_kinds.len()), ("6411", 1), "a summary, no names");
    assert!(proposals(&node, &request).await.proposals.is_empty(), "a matched request gets no proposals");
    let written = node.written().await.len();
    let twice = confirm(&node, &request, &first.proposals[1].token).await.unwrap_err();
    assert_eq!((twice.code(), precondition_type(&twice).as_str()), (Code::FailedPrecondition, "NOT_OPEN"));
    let wrong = node.matching_client().await.accept_match(answer(&m.id, &oost)).await.unwrap_err();
    assert_eq!(wrong.code(), Code::PermissionDenied);
    let info = wrong.get_details_error_info().expect("an ErrorInfo says why");
    assert_eq!((info.reason.as_str(), info.metadata["match_id"].as_str()), ("NOT_ADDRESSED", m.id.as_str()));
    assert_eq!(node.written().await.len(), written, "refused calls append nothing");
    let refusal = node.access_records().await.pop().unwrap();
    assert_eq!(
        (refusal.rpc.as_str(), refusal.data),
        ("/samenspel.v1.Matching/AcceptMatch", samenspel_kit::DataKind::MatchContact)
    );
    assert!(matches!(refusal.outcome, samenspel_kit::Outcome::Denied { .. }), "the refusal is on record");

    let declined = node.matching_client().await.decline_match(answer(&m.id, &noord)).await.unwrap().into_inner();
    assert_eq!(declined.status(), pb::MatchStatus::Declined);
    let again = proposals(&node, &request).await;
    let order: Vec<&str> = again.proposals.iter().map(|p| p.offer_id.as_str()).collect();
    assert_eq!(order, [wide.as_str()], "the declined offer is excluded");
    // The request moved on (the intake follows the match), so earlier tokens are stale; picking
    // the declined offer by hand is refused with the reason.
    let stale = confirm(&node, &request, &best.token).await.unwrap_err();
    assert_eq!(precondition_type(&stale), "STALE_PROPOSAL");
    let pick_declined = pb::PickOfferRequest {
        request_id: request.clone(),
        offer_id: local.clone(),
        lead_offer_id: String::new(),
        reason: "toch vragen".into(),
        confirmed_by: String::new(),
    };
    let declined_before = node.matching_client().await.pick_offer(pick_declined).await.unwrap_err();
    assert_eq!(precondition_type(&declined_before), "UNSUITABLE");
    assert!(declined_before.message().contains("declined this request before"), "{}", declined_before.message());

    let other = help_request(&node, 0).await;
    let other_wide = proposals(&node, &other).await.proposals.into_iter().find(|p| p.offer_id == wide).unwrap();
    let m = confirm(&node, &request, &again.proposals[0].token).await.unwrap();
    let accepted = node.matching_client().await.accept_match(answer(&m.id, &oost)).await.unwrap().into_inner();
    assert_eq!(accepted.status(), pb::MatchStatus::Accepted);
    let owned = intake_status(&node, &request, pb::HelpRequestStatus::Matched).await;
    assert_eq!(owned.matched_offer_id, wide, "the owner's lifecycle follows the accepted match");
    let full = confirm(&node, &other, &other_wide.token).await.unwrap_err();
    assert_eq!((full.code(), precondition_type(&full).as_str()), (Code::FailedPrecondition, "UNSUITABLE"));
    assert!(full.message().contains("has no room"), "{}", full.message());
    let late = node.matching_client().await.decline_match(answer(&m.id, &oost)).await.unwrap_err();
    assert_eq!(precondition_type(&late), "ANSWERED");

    // Capacity: the wide offer's only place is taken now; the local one has room again.
    let next = help_request(&node, 0).await;
    let p = proposals(&node, &next).await;
    assert_eq!(p.proposals.iter().map(|p| p.offer_id.as_str()).collect::<Vec<_>>(), [local.as_str()]);
    assert!(p.notes.iter().any(|n| n == "1 offer left out: has no room"), "{:?}", p.notes);
    let load = &p.proposals[0].factors[3];
    assert_eq!(load.explanation, "2 of 2 places free");

    // An amended request makes its earlier proposals stale.
    let token = p.proposals[0].token.clone();
    let current = node.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: next.clone() }).await;
    let current = current.unwrap().into_inner();
    let mut fields = current.fields.unwrap();
    fields.description = "ook op zaterdag".into();
    let amend =
        pb::AmendHelpRequestRequest { id: next.clone(), fields: Some(fields), expected_version: current.version };
    node.intake_client().await.amend_help_request(amend).await.unwrap();
    let head = node.log_head().await;
    let stale = confirm(&node, &next, &token).await.unwrap_err();
    assert_eq!(precondition_type(&stale), "STALE_PROPOSAL");
    assert_eq!(node.log_head().await, head);

    // By hand: a reason is required; an offer without room is refused with the reason.
    let mut matching = node.matching_client().await;
    let pick = |offer_id: &str, reason: &str| pb::PickOfferRequest {
        request_id: next.clone(),
        offer_id: offer_id.into(),
        lead_offer_id: String::new(),
        reason: reason.into(),
        confirmed_by: "coördinator".into(),
    };
    let status = matching.pick_offer(pick(&local, "")).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "reason");
    let status = matching.pick_offer(pick(&wide, "kent mevrouw al")).await.unwrap_err();
    assert!(status.message().contains("has no room"), "{}", status.message());
    let manual = matching.pick_offer(pick(&local, "kent mevrouw al")).await.unwrap().into_inner();
    assert_eq!((manual.how.as_str(), manual.reason.as_str()), ("manual", "kent mevrouw al"));

    // An archived offer drops out of the proposals, and its earlier proposals are stale.
    let third = help_request(&node, 0).await;
    let before = proposals(&node, &third).await;
    let token = before.proposals.iter().find(|p| p.offer_id == local).unwrap().token.clone();
    let archive = pb::ArchiveOfferRequest { id: local.clone(), expected_version: 1 };
    node.directory_client().await.archive_offer(archive).await.unwrap();
    let after = proposals(&node, &third).await;
    assert!(after.proposals.iter().all(|p| p.offer_id != local), "{:?}", after.proposals);
    assert!(after.notes.iter().any(|n| n.ends_with("archived")), "{:?}", after.notes);
    let stale = confirm(&node, &third, &token).await.unwrap_err();
    assert_eq!(precondition_type(&stale), "STALE_PROPOSAL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complex_request_gets_a_formal_lead_alone_or_with_informal_support() {
    let node = TestNode::start().await;
    let volunteers =
        organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let homecare = organisation(&node, "Thuiszorg Zuid", pb::OrganisationKind::Thuiszorg, "6412 AA").await;
    let informal = offer(&node, &volunteers, "Boodschappenmaatje", "6411", 3, pb::Complexity::High).await;
    let formal = offer(&node, &homecare, "Huishoudelijke hulp", "6400-6499", 3, pb::Complexity::High).await;
    let request = help_request(&node, 9).await;

    let p = proposals(&node, &request).await;
    assert_eq!(p.complexity(), pb::Complexity::High);
    assert!(!p.proposals.is_empty());
    for proposal in &p.proposals {
        assert!(proposal.formal && proposal.offer_id == formal, "never informal help alone: {proposal:?}");
    }
    let joint = p.proposals.iter().find(|p| !p.support_offer_id.is_empty()).expect("a joint proposal");
    assert_eq!(joint.support_offer_id, informal);
    assert!(joint.factors.iter().any(|f| f.name == "joint_support"));
    // What a coordinator is shown is the arithmetic of the score.
    for proposal in &p.proposals {
        let weights: f64 = proposal.factors.iter().map(|f| f.weight).sum();
        let sum: f64 = proposal.factors.iter().map(|f| f.value * f.weight).sum();
        assert!((weights - 1.0).abs() < 1e-9, "weights add up to {weights}: {proposal:?}");
        assert!((sum - proposal.score).abs() < 1e-9, "score {} is not Σ value × weight {sum}", proposal.score);
    }

    let mut matching = node.matching_client().await;
    let pick = |offer_id: &str, lead: &str| pb::PickOfferRequest {
        request_id: request.clone(),
        offer_id: offer_id.into(),
        lead_offer_id: lead.into(),
        reason: "bekend in de buurt".into(),
        confirmed_by: String::new(),
    };
    let alone = matching.pick_offer(pick(&informal, "")).await.unwrap_err();
    assert_eq!((alone.code(), precondition_type(&alone).as_str()), (Code::FailedPrecondition, "UNSUITABLE"));
    let m = matching.pick_offer(pick(&informal, &formal)).await.unwrap().into_inner();
    assert_eq!((m.offer_id.as_str(), m.support_offer_id.as_str()), (formal.as_str(), informal.as_str()));
    assert_eq!(
        (m.organisation_id.as_str(), m.support_organisation_id.as_str()),
        (homecare.as_str(), volunteers.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_match_expires_and_the_request_goes_back_without_that_offer() {
    let node = TestNode::start_with(|c| {
        c.matching.answer_timeout_secs = 1;
        c.matching.sweep_interval_millis = 50;
    })
    .await;
    let org = organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let first = offer(&node, &org, "Eerste", "6411", 1, pb::Complexity::Low).await;
    let second = offer(&node, &org, "Tweede", "6400-6499", 1, pb::Complexity::Low).await;
    let request = help_request(&node, 0).await;
    let p = proposals(&node, &request).await;
    assert_eq!(p.proposals[0].offer_id, first);
    let m = confirm(&node, &request, &p.proposals[0].token).await.unwrap();
    let mut matching = node.matching_client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = matching.get_match(pb::GetMatchRequest { match_id: m.id.clone() }).await.unwrap().into_inner();
        if now.status() == pb::MatchStatus::Expired {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the match never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = proposals(&node, &request).await;
    assert_eq!(again.proposals.iter().map(|p| p.offer_id.as_str()).collect::<Vec<_>>(), [second.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_platform_resumes_its_match_stream_without_loss_or_duplicates() {
    let node = TestNode::start().await;
    let ours = organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let theirs = organisation(&node, "Thuiszorg", pb::OrganisationKind::Thuiszorg, "6411 AA").await;
    let our_offer = offer(&node, &ours, "Boodschappen", "6411", 10, pb::Complexity::Low).await;
    let their_offer = offer(&node, &theirs, "Thuiszorg boodschappen", "6411", 10, pb::Complexity::Low).await;
    let watch = |from: u64| {
        let ours = ours.clone();
        let (node_url, admin) = (node.url(), node.admin_secret().to_string());
        async move {
            let mut client =
                pb::matching_client::MatchingClient::new(samenspel_e2e::connect_with(node_url, admin).await);
            client
                .watch_matches(pb::WatchMatchesRequest { organisation_id: ours, from_position: from })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let mut stream = watch(0).await;
    let mut made = Vec::new();
    for i in 0..6 {
        let request = help_request(&node, 0).await;
        let target = if i % 3 == 2 { &their_offer } else { &our_offer };
        let request_offer = pb::PickOfferRequest {
            request_id: request,
            offer_id: target.clone(),
            lead_offer_id: String::new(),
            reason: "test".into(),
            confirmed_by: String::new(),
        };
        let m = node.matching_client().await.pick_offer(request_offer).await.unwrap().into_inner();
        if target == &our_offer {
            made.push(m.id);
        }
    }
    let mut seen = Vec::new();
    let mut last = 0;
    for _ in 0..2 {
        let notice = stream.message().await.unwrap().unwrap();
        last = notice.position;
        seen.push(notice.r#match.unwrap().id);
    }
    drop(stream);
    let node = node.restart().await;
    let mut resumed = {
        let mut client = node.matching_client().await;
        let request = pb::WatchMatchesRequest { organisation_id: ours.clone(), from_position: last + 1 };
        client.watch_matches(request).await.unwrap().into_inner()
    };
    while seen.len() < made.len() {
        let notice = tokio::time::timeout(Duration::from_secs(10), resumed.message()).await.unwrap().unwrap().unwrap();
        assert!(notice.position > last);
        last = notice.position;
        let m = notice.r#match.unwrap();
        assert_eq!(m.organisation_id, ours, "only matches addressed to this organisation");
        seen.push(m.id);
    }
    assert_eq!(seen, made, "every match once, in order, across a disconnect and a restart");
    let quiet = tokio::time::timeout(Duration::from_millis(300), resumed.message()).await;
    assert!(quiet.is_err(), "nothing more, no duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_assigned_for_the_best_total_where_greedy_falls_short() {
    let node = TestNode::start().await;
    let near = organisation(&node, "Buren", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let far = organisation(&node, "Regio", pb::OrganisationKind::Vrijwilligersorganisatie, "6499 AA").await;
    let x = offer_speaking(&node, &near, "Buren helpen", "6411-6412", 1, pb::Complexity::Low, &["nl", "tr"]).await;
    let y = offer_speaking(&node, &far, "Regionale hulp", "6400-6499", 1, pb::Complexity::Low, &["nl"]).await;
    // The first request likes x best but can do with y; the second can only use x (Turkish).
    let first = help_request_at(&node, 0, "6411 AB", &["nl"]).await;
    let second = help_request_at(&node, 0, "6412 AB", &["tr"]).await;

    let mut matching = node.matching_client().await;
    let backlog = matching.assign_backlog(pb::AssignBacklogRequest { region: "6400-6499".into() }).await.unwrap();
    let backlog = backlog.into_inner();
    assert_eq!(backlog.open_requests, 2);
    let got: Vec<(&str, &str)> = backlog
        .assignments
        .iter()
        .map(|a| (a.request_id.as_str(), a.proposal.as_ref().unwrap().offer_id.as_str()))
        .collect();
    assert!(got.contains(&(first.as_str(), y.as_str())) && got.contains(&(second.as_str(), x.as_str())), "{got:?}");
    assert!(backlog.greedy_score < backlog.total_score, "{} < {}", backlog.greedy_score, backlog.total_score);
    let sum: f64 = backlog.assignments.iter().map(|a| a.proposal.as_ref().unwrap().score).sum();
    assert!((sum - backlog.total_score).abs() < 1e-6);

    // The assignments are proposals: a coordinator confirms each.
    for a in &backlog.assignments {
        confirm(&node, &a.request_id, &a.proposal.as_ref().unwrap().token).await.unwrap();
    }
    let after = matching.assign_backlog(pb::AssignBacklogRequest { region: "6400-6499".into() }).await.unwrap();
    assert_eq!(after.into_inner().open_requests, 0, "matched requests are no longer in the backlog");
    let status = matching.assign_backlog(pb::AssignBacklogRequest { region: "64".into() }).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "region");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_confirmations_never_match_a_request_twice_or_overbook_an_offer() {
    let node = TestNode::start().await;
    let org = organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let confirm_both = |a: (String, String), b: (String, String)| {
        let spawn = |(request, token): (String, String)| {
            let (url, admin) = (node.url(), node.admin_secret().to_string());
            tokio::spawn(async move {
                let mut client =
                    pb::matching_client::MatchingClient::new(samenspel_e2e::connect_with(url, admin).await);
                let r = pb::ConfirmProposalRequest { request_id: request, token, confirmed_by: String::new() };
                client.confirm_proposal(r).await
            })
        };
        let (a, b) = (spawn(a), spawn(b));
        async move { [a.await.unwrap(), b.await.unwrap()] }
    };
    for round in 0..5 {
        // Two requests, one place: one confirmation wins.
        let offer_id = offer(&node, &org, &format!("Eén plek {round}"), "6411", 1, pb::Complexity::Low).await;
        let (first, second) = (help_request(&node, 0).await, help_request(&node, 0).await);
        let token =
            |p: pb::GetProposalsResponse| p.proposals.into_iter().find(|p| p.offer_id == offer_id).unwrap().token;
        let a = (first.clone(), token(proposals(&node, &first).await));
        let b = (second.clone(), token(proposals(&node, &second).await));
        let results = confirm_both(a, b).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: one place, one match");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.code(), Code::FailedPrecondition, "round {round}: {lost:?}");

        // One request, two coordinators confirming different offers: one match.
        let other = offer(&node, &org, &format!("Andere plek {round}"), "6411", 1, pb::Complexity::Low).await;
        let spare = offer(&node, &org, &format!("Derde plek {round}"), "6411", 1, pb::Complexity::Low).await;
        let request = help_request(&node, 0).await;
        let p = proposals(&node, &request).await;
        let pick = |id: &str| p.proposals.iter().find(|x| x.offer_id == id).unwrap().token.clone();
        let results = confirm_both((request.clone(), pick(&other)), (request.clone(), pick(&spare))).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: one request, one match");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.code(), Code::FailedPrecondition, "round {round}: {lost:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_request_ends_its_match_and_frees_the_place() {
    let node = TestNode::start().await;
    let oost =
        organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let only = offer(&node, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;
    let (first, second) = (help_request(&node, 0).await, help_request(&node, 0).await);
    let m = confirm_offer(&node, &first, &only, "anna").await;
    answer_match(&node, &m.id, &oost, true).await;
    let full = proposals(&node, &second).await;
    assert!(full.notes.iter().any(|n| n == "1 offer left out: has no room"), "{:?}", full.notes);
    // The sociale kaart says the same: the place is taken.
    let room = || async {
        let search = pb::SearchOffersRequest { support_kind: "boodschappen".into(), ..Default::default() };
        let hits = node.directory_client().await.search_offers(search).await.unwrap().into_inner().hits;
        hits.into_iter().find(|h| h.offer.as_ref().is_some_and(|o| o.id == only)).unwrap().reasons.last().cloned()
    };
    assert_eq!(room().await.unwrap(), "no room: its one place is taken");

    // The intake follows the acceptance on its own; withdraw what it shows then.
    intake_status(&node, &first, pb::HelpRequestStatus::Matched).await;
    let withdraw = pb::TransitionRequest { id: first.clone(), reason: "overleden".into() };
    node.intake_client().await.withdraw_help_request(withdraw).await.unwrap();
    let ended = eventually("the match ended", || async {
        let m = node.matching_client().await.get_match(pb::GetMatchRequest { match_id: m.id.clone() }).await;
        Some(m.unwrap().into_inner()).filter(|m| m.status() == pb::MatchStatus::Ended)
    })
    .await;
    assert_eq!(ended.reason, "the request was withdrawn");
    assert!(ended.ended_micros >= ended.answered_micros && ended.answered_micros > 0);
    let free = proposals(&node, &second).await;
    assert_eq!(
        free.proposals.iter().map(|p| p.offer_id.as_str()).collect::<Vec<_>>(),
        [only.as_str()],
        "the place is free again"
    );
    assert_eq!(room().await.unwrap(), "can take 1 more (0 of 1 places taken)");
}

/// An offer for boodschappen in 6411 with `availability` (and its wait).
async fn offer_with(
    node: &TestNode,
    org: &str,
    title: &str,
    capacity: u32,
    availability: pb::Availability,
    wait: u32,
) -> Result<String, tonic::Status> {
    let fields = pb::OfferFields {
        title: title.into(),
        support_kinds: vec!["boodschappen".into()],
        area: Some(pb::ServiceArea { postcode_ranges: vec!["6411".into()], ..Default::default() }),
        capacity,
        max_complexity: pb::Complexity::Low.into(),
        availability: availability.into(),
        expected_wait_days: wait,
        ..Default::default()
    };
    let request =
        pb::CreateOfferRequest { organisation_id: org.into(), fields: Some(fields), request_id: String::new() };
    node.directory_client().await.create_offer(request).await.map(|r| r.into_inner().id)
}

async fn get_offer(node: &TestNode, id: &str) -> pb::Offer {
    node.directory_client().await.get_offer(pb::GetOfferRequest { id: id.into() }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_list_is_proposed_with_its_wait_and_an_offer_without_capacity_never() {
    let node = TestNode::start().await;
    let kind = pb::OrganisationKind::Vrijwilligersorganisatie;
    let a = organisation(&node, "Wachtlijst", kind, "6411 AA").await;
    let b = organisation(&node, "Vol", kind, "6411 AB").await;
    let c = organisation(&node, "Eerst kennismaken", kind, "6411 AC").await;
    let waiting = offer_with(&node, &a, "Boodschappen (wachtlijst)", 0, pb::Availability::Waitlist, 14).await.unwrap();
    let closed = offer_with(&node, &b, "Boodschappen (dicht)", 3, pb::Availability::NoCapacity, 0).await.unwrap();
    let assessed =
        offer_with(&node, &c, "Boodschappen na intake", 2, pb::Availability::AssessmentRequired, 0).await.unwrap();

    // A waiting list names its wait; only a waiting list has one.
    for (availability, wait, why) in [
        (pb::Availability::Waitlist, 0, "a waiting list names its expected wait"),
        (pb::Availability::Available, 7, "only a waiting list has an expected wait"),
    ] {
        let e = offer_with(&node, &a, "x", 1, availability, wait).await.unwrap_err();
        let v = e.get_details_bad_request().unwrap().field_violations;
        assert_eq!(
            (v[0].field.as_str(), v[0].description.starts_with(why)),
            ("fields.expected_wait_days", true),
            "{v:?}"
        );
    }
    let e = offer_with(&node, &a, "x", 1, pb::Availability::Available, 0).await;
    assert!(e.is_ok());

    // The sociale kaart shows it before anyone refers.
    let w = get_offer(&node, &waiting).await;
    assert_eq!(
        (w.fields.as_ref().unwrap().availability(), w.fields.as_ref().unwrap().expected_wait_days, w.free_places),
        (pb::Availability::Waitlist, 14, 0)
    );
    assert_eq!(get_offer(&node, &assessed).await.free_places, 2);
    let search = pb::SearchOffersRequest {
        support_kind: "boodschappen".into(),
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let hits = node.directory_client().await.search_offers(search).await.unwrap().into_inner().hits;
    let reasons = |id: &str| hits.iter().find(|h| h.offer.as_ref().unwrap().id == id).unwrap().reasons.join("; ");
    assert!(reasons(&waiting).contains("waiting list: help starts after about 14 days"), "{}", reasons(&waiting));
    assert!(reasons(&closed).contains("no capacity"), "{}", reasons(&closed));

    // Proposed: the waiting list with its wait said, never as if it had room; no capacity never.
    let request = help_request(&node, 2).await;
    let found = proposals(&node, &request).await;
    let ids: Vec<&str> = found.proposals.iter().map(|p| p.offer_id.as_str()).collect();
    assert!(!ids.contains(&closed.as_str()), "{ids:?}");
    assert!(found.notes.iter().any(|n| n.contains("1 offer left out: takes no referrals now")), "{:?}", found.notes);
    let p = found.proposals.iter().find(|p| p.offer_id == waiting).expect("the waiting list is proposed");
    assert_eq!((p.availability(), p.expected_wait_days), (pb::Availability::Waitlist, 14));
    let load = p.factors.iter().find(|f| f.name == "load").unwrap();
    assert_eq!(load.value, 0.0, "no place free now");
    assert!(load.explanation.contains("waiting list: help starts after about 14 days"), "{}", load.explanation);
    let q = found.proposals.iter().find(|p| p.offer_id == assessed).unwrap();
    assert_eq!(q.availability(), pb::Availability::AssessmentRequired);
    assert!(q.factors.iter().any(|f| f.explanation.contains("assesses each referral first")));

    // Confirmed and accepted onto the waiting list, though it has no place now.
    let m = confirm(&node, &request, &p.token).await.unwrap();
    let accepted = answer_match(&node, &m.id, &a, true).await;
    assert_eq!(accepted.status(), pb::MatchStatus::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_stream_for_an_organisation_the_directory_does_not_have_is_not_found_at_once() {
    let node = TestNode::start().await;
    let known = organisation(&node, "Vrijwilligers", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let mut client = node.matching_client().await;
    let unknown = "0123456789abcdef0123456789abcdef".to_string();
    let asked = client.watch_matches(pb::WatchMatchesRequest { organisation_id: unknown.clone(), from_position: 0 });
    let status = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .expect("answered, not left waiting")
        .expect_err("no stream for an organisation nobody has");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains(&unknown), "{status:?}");
    // One created just before is known at once (matching catches up first).
    let fresh = organisation(&node, "Nieuw", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    for id in [known, fresh] {
        let r = pb::WatchMatchesRequest { organisation_id: id, from_position: 0 };
        assert!(client.watch_matches(r).await.is_ok());
    }
}
