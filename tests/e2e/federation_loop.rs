//! The whole referral loop across three organisations' nodes, with no central server: a wijkteam
//! takes a request in and refers, a volunteer organisation and a mantelzorgsteunpunt publish their
//! offers and answer on their own nodes. Each node sees the whole federation's sociale kaart; the
//! owner decides every step of its request; the receiving organisation sees the consented summary,
//! and the client's contact details only once it accepted; the others see nothing of it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use samenspel_domain::ManualClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::replay;
use samenspel_e2e::world::*;
use samenspel_eventlog::{Audience, NewEvent, NodeId};
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);

/// Waits until `node` shows the match in `status`.
async fn match_in(node: &TestNode, id: &str, status: pb::MatchStatus) -> pb::Match {
    eventually(&format!("match {id} {status:?}"), || async {
        get_match(node, id).await.ok().filter(|m| m.status() == status)
    })
    .await
}

/// The first step of `kind` that `origin` wrote.
fn step_of<'a>(steps: &'a [pb::TimelineStep], kind: &str, origin: NodeId) -> &'a pb::TimelineStep {
    steps.iter().find(|s| s.kind == kind && s.origin == origin.0).unwrap_or_else(|| panic!("{kind} is missing"))
}

/// The names of the organisations that wrote a step.
fn names(step: &pb::TimelineStep) -> Vec<&str> {
    step.organisations.iter().map(|o| o.name.as_str()).collect()
}

/// Every step of a request's timeline as `node` holds it, read in small pages.
async fn timeline(node: &TestNode, request: &str) -> Vec<pb::TimelineStep> {
    let mut audit = node.audit_client().await;
    let (mut out, mut token) = (Vec::new(), String::new());
    loop {
        let page = pb::GetTimelineRequest { request_id: request.into(), page_size: 5, page_token: token.clone() };
        let page = audit.get_timeline(page).await.unwrap().into_inner();
        out.extend(page.steps);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

async fn organisations(node: &TestNode) -> Vec<String> {
    let request = pb::ListOrganisationsRequest { page_size: 100, ..Default::default() };
    let list = node.directory_client().await.list_organisations(request).await.unwrap().into_inner();
    let mut ids: Vec<String> = list.organisations.into_iter().map(|o| o.id).collect();
    ids.sort();
    ids
}

/// Every origin's head and header bytes a node holds.
async fn logs(node: &TestNode) -> Vec<(NodeId, Vec<Vec<u8>>)> {
    node.logs().await
}

fn observation(match_id: &str, outcome: pb::Outcome, notes: &str) -> pb::RecordObservationRequest {
    pb::RecordObservationRequest {
        match_id: match_id.into(),
        outcome: outcome.into(),
        notes: notes.into(),
        recorded_by: "piet".into(),
        contact_on: "2026-12-01".into(),
    }
}

/// The receiving organisation on node V records what it saw of referral `id` that node W owns:
/// W takes it in and the owner of the next check-in hears of it; node M, outside the referral,
/// holds the outline only; an observation from a node not hosting the offer is refused.
async fn observations_reach_the_owner(w: &TestNode, v: &TestNode, m: &TestNode, id: &str, receiving: &str) {
    let (w_id, v_id, m_id) = (w.node_id(), v.node_id(), m.node_id());
    // Node V knows the referral as far as it concerns the organisation it hosts.
    let seen = eventually("the referral active on node V", || async {
        get_referral(v, id).await.ok().filter(|r| r.state() == pb::ReferralState::Active)
    })
    .await;
    assert_eq!(seen.owner_node_id, w_id.to_hex());
    assert_eq!(seen.receiving_organisation_id, receiving);
    assert!(
        seen.check_ins.is_empty() && seen.referring_organisation_id.is_empty(),
        "the owner's follow-up stays there"
    );

    // Bad input is refused with the fields named, and changes nothing.
    let bad = pb::RecordObservationRequest { match_id: id.into(), contact_on: "gisteren".into(), ..Default::default() };
    let refused = v.followup_client().await.record_observation(bad).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields: Vec<String> =
        refused.get_details_bad_request().unwrap().field_violations.into_iter().map(|f| f.field).collect();
    fields.sort();
    assert_eq!(fields, ["contact_on", "outcome"]);
    // Observed only where the receiving organisation is hosted; unknown where it is not involved.
    let elsewhere = w.followup_client().await.record_observation(observation(id, pb::Outcome::GoingWell, "")).await;
    let elsewhere = elsewhere.unwrap_err();
    assert_eq!(elsewhere.get_details_precondition_failure().unwrap().violations[0].r#type, "OBSERVE_ELSEWHERE");
    let unknown = m.followup_client().await.record_observation(observation(id, pb::Outcome::GoingWell, "")).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);

    let mut client = v.followup_client().await;
    let recorded = client.record_observation(observation(id, pb::Outcome::ContactMade, "eerste bezoek")).await.unwrap();
    let recorded = recorded.into_inner().observations;
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].id.clone(), recorded[0].node_id.clone()), (format!("{id}/observation/1"), v_id.to_hex()));

    // The owner takes it in; the owner of the next check-in hears of it.
    let taken = eventually("the observation on node W", || async {
        get_referral(w, id).await.ok().filter(|r| !r.observations.is_empty())
    })
    .await;
    assert_eq!(taken.observations, recorded);
    assert_eq!(taken.observations[0].organisation_id, receiving);
    let owner = taken.check_ins[0].owner_organisation_id.clone();
    let watch = pb::WatchDueRequest { organisation_id: owner, from_position: 1, ..Default::default() };
    let mut notices = w.followup_client().await.watch_due(watch).await.unwrap().into_inner();
    let notice = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(n) = notices.next().await {
            let n = n.unwrap();
            if n.kind == "followup.observation.received" {
                return n;
            }
        }
        panic!("watch ended")
    })
    .await
    .unwrap();
    assert_eq!(notice.observation.unwrap().notes, "eerste bezoek");
    assert_eq!(notice.check_in.unwrap().id, taken.check_ins[0].id, "the next open check-in");

    // Node M, outside the referral, holds V's chain whole, but of the observation only its
    // outline: not the notes, nor even that it is an observation, of which stream, or when.
    let v_head = v.log_head().await;
    eventually("node V's log on node M", || async { (m.head_of(v_id).await >= v_head).then_some(()) }).await;
    eventually("node V's log on node W", || async { (w.head_of(v_id).await >= v_head).then_some(()) }).await;
    let request = pb::ReadRequest { origin: v_id.0.to_vec(), from_seq: 1, page_size: 1000 };
    let on_m = m.log_client().await.read(request.clone()).await.unwrap().into_inner().events;
    let on_w = w.log_client().await.read(request).await.unwrap().into_inner().events;
    let seq_of = |events: &[pb::Event], kind: &str| {
        events.iter().find(|e| e.header.as_ref().unwrap().kind == kind).map(|e| e.header.as_ref().unwrap().seq)
    };
    let observed = seq_of(&on_w, "followup.observation.recorded").expect("node W, in the audience, sees it");
    assert_eq!(seq_of(&on_m, "followup.observation.recorded"), None, "node M does not learn the kind");
    let outline = on_m.iter().find(|e| e.header.as_ref().unwrap().seq == observed).unwrap();
    let header = outline.header.as_ref().unwrap();
    assert!(outline.payload.is_none() && !header.withheld_body_hash.is_empty());
    assert!(header.stream.is_empty() && header.time_micros == 0 && header.audience.is_none());
    assert_eq!(outline.hash, on_w.iter().find(|e| e.header.as_ref().unwrap().seq == observed).unwrap().hash);

    // Node M signs an observation of the same referral and sends it to the owner: it does not host
    // the offer, so the owner refuses it. A genuine one recorded after it is taken in.
    let forged = format!(
        r#"{{"type":"observation_recorded","match_id":"{id}","owner_node":"{w}","observation":{{"id":"{id}/observation/1","organisation_id":"{receiving}","node":"{m}","outcome":"stopped","notes":"vervalst","recorded_by":"x","contact_on":null,"recorded_micros":1}}}}"#,
        w = w_id.to_hex(),
        m = m_id.to_hex(),
    );
    // (A rogue node writes past its own services: its raw log takes no service events.)
    let new = NewEvent::new(format!("followup/observed/{id}"), "followup.observation.recorded", forged.into_bytes())
        .with_audience(Audience::Nodes(vec![w_id]));
    let at = m.rogue_append(vec![new]).await[0].seq;
    eventually("the forged observation on node W", || async { (w.head_of(m_id).await >= at).then_some(()) }).await;
    client.record_observation(observation(id, pb::Outcome::GoingWell, "gaat goed")).await.unwrap();
    let taken = eventually("the second observation on node W", || async {
        get_referral(w, id).await.ok().filter(|r| r.observations.len() >= 2)
    })
    .await;
    let notes: Vec<&str> = taken.observations.iter().map(|o| o.notes.as_str()).collect();
    assert_eq!(notes, ["eerste bezoek", "gaat goed"], "the forged observation is not taken in");
    assert!(taken.observations.iter().all(|o| o.node_id == v_id.to_hex()));
    assert_eq!(taken.state(), pb::ReferralState::Active, "an observation answers no check-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_travels_between_three_organisations_nodes_and_closes_the_loop() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(3, clock.clone(), |_, c| {
        c.followup.sweep_interval_millis = 20;
        c.matching.sweep_interval_millis = 20;
    })
    .await;
    let (w, v, m) = (&nodes[0], &nodes[1], &nodes[2]);
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();

    // Each organisation publishes its part of the sociale kaart on its own node.
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let steunpunt = organisation(m, "Steunpunt Mantelzorg", pb::OrganisationKind::Mantelzorgsteunpunt, "6411 CD").await;
    let oost_offer = offer(v, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;
    let steunpunt_offer =
        offer(m, &steunpunt, "Boodschappen met het steunpunt", "6400-6419", 2, pb::Complexity::Low).await;
    let mut all = vec![wijkteam.clone(), oost.clone(), steunpunt.clone()];
    all.sort();
    for node in &nodes {
        eventually("the whole federation's directory", || async { (organisations(node).await == all).then_some(()) })
            .await;
    }
    // Only the hosting node changes an entry.
    let update = pb::UpdateOrganisationRequest {
        id: oost.clone(),
        fields: Some(pb::OrganisationFields {
            name: "Overgenomen".into(),
            kind: pb::OrganisationKind::Vrijwilligersorganisatie.into(),
            ..Default::default()
        }),
        expected_version: 1,
    };
    let refused = w.directory_client().await.update_organisation(update).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(refused.get_details_precondition_failure().unwrap().violations[0].r#type, "HOSTED_ELSEWHERE");

    // The wijkteam takes a request in; its matching proposes the volunteers' offer on node V.
    let kinds = [pb::OrganisationKind::Vrijwilligersorganisatie, pb::OrganisationKind::Mantelzorgsteunpunt];
    let request = referred_request_for(w, &wijkteam, "6411 AB", &kinds).await;
    eventually("remote offers proposed", || async {
        let offered: Vec<String> = proposals(w, &request).await.proposals.into_iter().map(|p| p.offer_id).collect();
        (offered.contains(&oost_offer) && offered.contains(&steunpunt_offer)).then_some(())
    })
    .await;
    let watch = pb::WatchMatchesRequest { organisation_id: oost.clone(), from_position: 1 };
    let mut notices = v.matching_client().await.watch_matches(watch).await.unwrap().into_inner();
    let first = confirm_offer(w, &request, &oost_offer, "anna").await;
    assert_eq!(first.owner_node, ids[0].to_hex());

    // Node V learns of the match: the summary of the request, no names, no contact details.
    let notice = tokio::time::timeout(Duration::from_secs(20), notices.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(notice.kind, "matching.match.confirmed");
    let offered = notice.r#match.unwrap();
    assert_eq!((offered.id.as_str(), offered.status()), (first.id.as_str(), pb::MatchStatus::Offered));
    let summary = offered.request.unwrap();
    assert_eq!(
        (summary.postcode_area.as_str(), summary.support_kinds.clone()),
        ("6411", vec!["boodschappen".to_string()])
    );
    assert!(offered.client_contact.is_none(), "no contact details before the match is accepted");
    assert_eq!(get_match(m, &first.id).await.unwrap_err().code(), Code::NotFound, "node M is not in this match");
    // The answer is given where the organisation is hosted.
    let elsewhere = w.matching_client().await.accept_match(answer(&first.id, &oost)).await.unwrap_err();
    assert_eq!(elsewhere.get_details_precondition_failure().unwrap().violations[0].r#type, "ANSWER_ELSEWHERE");
    let accepted = answer_match(v, &first.id, &oost, true).await;
    assert_eq!(accepted.status(), pb::MatchStatus::Accepted, "the owner decided on the answer");
    intake_status(w, &request, pb::HelpRequestStatus::Matched).await;
    let contact =
        eventually("contact details on node V", || async { get_match(v, &first.id).await.ok()?.client_contact }).await;
    assert_eq!(contact.name, "Meneer De Vries");
    let accepted_notice =
        tokio::time::timeout(Duration::from_secs(20), notices.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(accepted_notice.kind, "matching.match.accepted");

    // The wijkteam follows up; at day 14 it is not going well.
    let referral = eventually("check-ins scheduled", || async {
        let r = w.followup_client().await.get_referral(pb::GetReferralRequest { match_id: first.id.clone() }).await;
        r.ok().map(|r| r.into_inner()).filter(|r| !r.check_ins.is_empty())
    })
    .await;
    assert_eq!(
        (referral.referring_organisation_id.as_str(), referral.receiving_organisation_id.as_str()),
        (wijkteam.as_str(), oost.as_str())
    );

    observations_reach_the_owner(w, v, m, &first.id, &oost).await;
    clock.advance(14 * DAY);
    let outcome = pb::RecordOutcomeRequest {
        check_in_id: referral.check_ins[1].id.clone(),
        outcome: pb::Outcome::NotGoingWell.into(),
        answered_by: pb::Respondent::Client.into(),
        ..Default::default()
    };
    w.followup_client().await.record_outcome(outcome).await.unwrap();
    intake_status(w, &request, pb::HelpRequestStatus::Matching).await;
    match_in(v, &first.id, pb::MatchStatus::Failed).await;
    // The hosting node learnt that the referral failed: nothing more to observe there.
    eventually("the referral failed on node V", || async {
        get_referral(v, &first.id).await.ok().filter(|r| r.state() == pb::ReferralState::Failed)
    })
    .await;
    let late = v.followup_client().await.record_observation(observation(&first.id, pb::Outcome::GoingWell, "")).await;
    assert_eq!(
        late.unwrap_err().get_details_precondition_failure().unwrap().violations[0].r#type,
        "REFERRAL_NOT_ACTIVE"
    );

    // Node M was party to nothing of this request yet: its timeline is empty.
    assert!(timeline(m, &request).await.is_empty(), "node M holds no step of the request");

    // Re-matched with the steunpunt on node M, which accepts; the help ends well.
    let offered: Vec<String> = proposals(w, &request).await.proposals.into_iter().map(|p| p.offer_id).collect();
    assert_eq!(offered, std::slice::from_ref(&steunpunt_offer), "the failed offer is not proposed again");
    let second = confirm_offer(w, &request, &steunpunt_offer, "anna").await;
    match_in(m, &second.id, pb::MatchStatus::Offered).await;
    assert_eq!(answer_match(m, &second.id, &steunpunt, true).await.status(), pb::MatchStatus::Accepted);
    intake_status(w, &request, pb::HelpRequestStatus::Matched).await;
    eventually("check-ins of the second referral", || async {
        let r = w.followup_client().await.get_referral(pb::GetReferralRequest { match_id: second.id.clone() }).await;
        r.ok().filter(|r| !r.get_ref().check_ins.is_empty()).map(|_| ())
    })
    .await;
    let close = pb::CloseReferralRequest {
        match_id: second.id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        ..Default::default()
    };
    w.followup_client().await.close_referral(close).await.unwrap();
    intake_status(w, &request, pb::HelpRequestStatus::Closed).await;
    match_in(m, &second.id, pb::MatchStatus::Ended).await;
    assert_eq!(get_match(v, &second.id).await.unwrap_err().code(), Code::NotFound, "node V is not in the second match");
    assert!(get_match(m, &second.id).await.unwrap().client_contact.is_some());

    // The owner's timeline: every step of every node, verified, in causal order; each partner's
    // is the steps it was party to, in the same order.
    let owner = eventually("the owner's timeline holds the partners' steps", || async {
        let steps = timeline(w, &request).await;
        let origins: std::collections::HashSet<&[u8]> = steps.iter().map(|s| s.origin.as_slice()).collect();
        (origins.len() == 3 && steps.iter().any(|s| s.kind == "followup.referral.closed")).then_some(steps)
    })
    .await;
    for s in &owner {
        assert!(s.verified, "{} at {}: {}", s.kind, s.seq, s.problem);
    }
    // Who wrote each step: the call that wrote it, on the node it was made to; the organisations
    // that wrote it, by the sociale kaart.
    let confirmed = step_of(&owner, "matching.match.confirmed", ids[0]);
    let author = confirmed.author.as_ref().expect("the confirmation was a call to the owner");
    assert_eq!((author.rpc.as_str(), author.role.as_str()), ("/samenspel.v1.Matching/ConfirmProposal", "admin"));
    assert_eq!(names(confirmed), ["Wijkteam Centrum"]);
    let answered = step_of(&owner, "matching.answer.given", ids[1]);
    assert!(answered.author.is_none(), "who at node V answered stays on node V");
    assert_eq!(names(answered), ["Vrijwilligers Oost"]);
    let v_timeline = timeline(v, &request).await;
    let on_v = step_of(&v_timeline, "matching.answer.given", ids[1]);
    assert_eq!(on_v.author.as_ref().unwrap().rpc, "/samenspel.v1.Matching/AcceptMatch");
    assert!(step_of(&owner, "matching.match.accepted", ids[0]).author.is_none(), "the owner decided by itself");
    assert!(owner.iter().any(|s| s.kind.starts_with("intake.request.")));
    let position = |kind: &str, origin: NodeId| {
        owner.iter().position(|s| s.kind == kind && s.origin == origin.0).unwrap_or_else(|| panic!("{kind} is missing"))
    };
    let confirmed = position("matching.match.confirmed", ids[0]);
    let v_first = owner.iter().position(|s| s.origin == ids[1].0).unwrap();
    assert!(confirmed < v_first, "node V's answer comes after the confirmation it answers");
    for origin in &ids {
        let seqs: Vec<u64> = owner.iter().filter(|s| s.origin == origin.0).map(|s| s.seq).collect();
        assert!(seqs.windows(2).all(|p| p[0] < p[1]), "an origin's steps in its order");
    }
    let with_access = w
        .audit_client()
        .await
        .get_timeline(pb::GetTimelineRequest { request_id: request.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert!(!with_access.access.is_empty(), "who read the request is on the first page");
    for (partner, name) in [(v, "V"), (m, "M")] {
        let seen = timeline(partner, &request).await;
        assert!(!seen.is_empty() && seen.iter().all(|s| s.verified), "node {name} sees its part, verified");
        // What the owner lacks is the partner's own bookkeeping (such as its match notices,
        // audience local); every other step is the owner's too, in the owner's order.
        let shared: Vec<usize> = seen
            .iter()
            .filter_map(|s| {
                let at = owner.iter().position(|o| o.event_hash == s.event_hash);
                assert!(at.is_some() || s.origin == partner.node_id().0, "node {name}: {} is nobody's", s.kind);
                at
            })
            .collect();
        assert!(shared.len() < owner.len(), "node {name} sees part of it, not all");
        assert!(shared.windows(2).all(|p| p[0] < p[1]), "node {name}'s steps in the owner's order");
    }
    let v_seen = timeline(v, &request).await;
    assert!(v_seen.iter().all(|s| s.origin != ids[2].0), "node V sees nothing of the second referral");

    // Every node ends up with the same logs of every origin (compared at one moment: a stream
    // still open records each item it sends, so a log may still grow).
    eventually("identical logs", || async {
        let expected = logs(w).await;
        (expected.len() == 3 && logs(v).await == expected && logs(m).await == expected).then_some(())
    })
    .await;

    // Each node's read models come out the same in every order causal delivery allows, also
    // when the other nodes' events come as early as their causes let them (a restart with no
    // snapshot yet).
    for node in nodes {
        let (_, dir) = node.stop().await;
        replays_agree(&dir.path().join("node")).await;
    }
}

/// A service's read model built from events in a given order, as JSON.
type ReadModel = fn(NodeId, &[Arc<samenspel_eventlog::StoredEvent>]) -> serde_json::Value;

/// Every service's read model, built from the store at `data_dir` in each order of
/// `replay::orders`, is the same.
async fn replays_agree(data_dir: &std::path::Path) {
    let (own, stored) = replay::read_store(data_dir).await;
    let models: [(&str, ReadModel); 4] = [
        ("directory", samenspel_directory::replay_read_model),
        ("intake", samenspel_intake::replay_read_model),
        ("matching", samenspel_matching::replay_read_model),
        ("followup", samenspel_followup::replay_read_model),
    ];
    let natural: Vec<_> = stored.values().flatten().cloned().collect();
    for order in replay::orders() {
        let events = replay::causal_order(own, &stored, order);
        assert_eq!(events.len(), natural.len(), "every stored event is delivered in {order:?}");
        for (name, model) in models {
            let reference = model(own, &replay::causal_order(own, &stored, replay::Order::OwnFirst));
            assert_eq!(model(own, &events), reference, "the {name} read model of node {own} in {order:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_left_unanswered_expires_on_the_hosting_node_too() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, c| c.matching.sweep_interval_millis = 20).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let oost_offer = offer(v, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;
    let request =
        referred_request_for(w, &wijkteam, "6411 AB", &[pb::OrganisationKind::Vrijwilligersorganisatie]).await;
    eventually("the remote offer proposed", || async {
        proposals(w, &request).await.proposals.iter().any(|p| p.offer_id == oost_offer).then_some(())
    })
    .await;
    let watch = pb::WatchMatchesRequest { organisation_id: oost.clone(), from_position: 1 };
    let mut notices = v.matching_client().await.watch_matches(watch).await.unwrap().into_inner();
    let offered = confirm_offer(w, &request, &oost_offer, "anna").await;
    match_in(v, &offered.id, pb::MatchStatus::Offered).await;

    // A week and a day without an answer: the owner lets it expire, and the host hears of it.
    clock.advance(8 * DAY);
    match_in(w, &offered.id, pb::MatchStatus::Expired).await;
    match_in(v, &offered.id, pb::MatchStatus::Expired).await;
    let kinds = tokio::time::timeout(Duration::from_secs(20), async {
        let mut kinds = Vec::new();
        while let Some(n) = notices.next().await {
            kinds.push(n.unwrap().kind);
            if kinds.last().is_some_and(|k| k == "matching.match.expired") {
                return kinds;
            }
        }
        panic!("watch ended")
    })
    .await
    .unwrap();
    assert_eq!(kinds, ["matching.match.confirmed", "matching.match.expired"]);
    let late = v.matching_client().await.accept_match(answer(&offered.id, &oost)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition, "an expired match takes no answer");
}

/// The next `n` changes of a directory watch, failing after 20 s.
async fn next_changes(
    stream: &mut tonic::Streaming<pb::DirectoryChange>,
    n: usize,
) -> Vec<(String, String, Vec<u8>, u64)> {
    let mut out = Vec::new();
    while out.len() < n {
        let c = tokio::time::timeout(Duration::from_secs(20), stream.next()).await.unwrap().unwrap().unwrap();
        let id = match c.entry.unwrap() {
            pb::directory_change::Entry::Organisation(o) => o.id,
            pb::directory_change::Entry::ContactPerson(p) => p.id,
            pb::directory_change::Entry::Offer(o) => o.id,
        };
        out.push((c.kind, id, c.hosting_node, c.position));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_nodes_directory_watch_follows_the_whole_federations_sociale_kaart() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock, |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let (w_id, v_id) = (w.node_id().0.to_vec(), v.node_id().0.to_vec());
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let oost_offer = offer(v, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;

    // On node V: its own entries and node W's, each with its host and its position there.
    let watch = pb::WatchRequest { federation: true, ..Default::default() };
    let mut changes = v.directory_client().await.watch(watch).await.unwrap().into_inner();
    let mut seen = next_changes(&mut changes, 3).await;
    seen.sort();
    assert_eq!(seen.iter().map(|(k, id, host, _)| (k.as_str(), id.as_str(), host.clone())).collect::<Vec<_>>(), {
        let mut expected = vec![
            ("directory.offer.created", oost_offer.as_str(), v_id.clone()),
            ("directory.organisation.created", oost.as_str(), v_id.clone()),
            ("directory.organisation.created", wijkteam.as_str(), w_id.clone()),
        ];
        expected.sort();
        expected
    });
    let w_position = seen.iter().find(|c| c.1 == wijkteam).unwrap().3;
    let v_position = seen.iter().map(|c| if c.2 == v_id { c.3 } else { 0 }).max().unwrap();

    // Node W signs an archive of node V's organisation: V's read model ignores it, and the
    // watch shows nothing of it; W's next genuine change, later in W's log, does come through.
    let payload = format!(r#"{{"type":"organisation_archived","id":"{oost}"}}"#).into_bytes();
    let forged = NewEvent::new(format!("directory/organisation/{oost}"), "directory.organisation.archived", payload)
        .with_audience(Audience::Federation);
    w.rogue_append(vec![forged]).await;
    let later = organisation(w, "Huisartsenpraktijk Zuid", pb::OrganisationKind::Huisarts, "6411 EF").await;
    let next = next_changes(&mut changes, 1).await;
    assert_eq!((next[0].0.as_str(), next[0].1.as_str()), ("directory.organisation.created", later.as_str()));
    assert_eq!(next[0].2, w_id);

    // Resumed per node after what it saw: only what came later, nothing twice.
    let resume = pb::WatchRequest {
        from_position: v_position + 1,
        federation: true,
        resume: vec![pb::NodePosition { node: w_id.clone(), position: w_position + 1 }],
    };
    let mut resumed = v.directory_client().await.watch(resume).await.unwrap().into_inner();
    assert_eq!(next_changes(&mut resumed, 1).await, next);
    let request = pb::GetOrganisationRequest { id: oost.clone() };
    let archived = v.directory_client().await.get_organisation(request).await.unwrap().into_inner().archived;
    assert!(!archived, "only the host archives its entries");

    // A node id that is no node id is named.
    let bad = pb::WatchRequest {
        federation: true,
        resume: vec![pb::NodePosition { node: vec![1, 2, 3], position: 1 }],
        ..Default::default()
    };
    let refused = v.directory_client().await.watch(bad).await.unwrap_err();
    assert_eq!(refused.get_details_bad_request().unwrap().field_violations[0].field, "resume[0].node");
}

/// What a node's read models make of the sociale kaart: its directory lists the offers, its
/// coverage counts them, its matching proposes them.
async fn kaart_counts(node: &TestNode, request: &str) -> (usize, u32, usize) {
    let list = pb::ListOffersRequest { page_size: 100, ..Default::default() };
    let listed = node.directory_client().await.list_offers(list).await.unwrap().into_inner().offers.len();
    let coverage = pb::GetCoverageRequest { region: "6411".into(), need: "boodschappen".into() };
    let c = node.followup_client().await.get_coverage(coverage).await.unwrap().into_inner();
    let offers = c.totals.iter().find(|t| t.need == "boodschappen").map_or(0, |t| t.offers);
    let proposed = proposals(node, request).await.proposals.len();
    (listed, offers, proposed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_written_by_a_node_that_does_not_host_its_organisation_counts_nowhere() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock, |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    offer(v, &oost, "Boodschappen Oost", "6400-6419", 2, pb::Complexity::Low).await;
    let request =
        referred_request_for(w, &wijkteam, "6411 AB", &[pb::OrganisationKind::Vrijwilligersorganisatie]).await;
    let honest = eventually("node V's offer on node W", || async {
        let counts = kaart_counts(w, &request).await;
        (counts == (1, 1, 1)).then_some(counts)
    })
    .await;

    // Node W signs an offer for node V's organisation: no read model of W or V takes it in.
    let forged_id = "f".repeat(32);
    let payload = serde_json::json!({
        "type": "offer_created", "id": forged_id, "organisation_id": oost,
        "fields": {"title": "Vervalst", "description": "", "functions": [], "kinds": ["boodschappen"], "for_whom": [],
                   "area": {"ranges": [[6400, 6419]], "municipality": "", "wijk": ""}, "schedule": [], "languages": [],
                   "capacity": 9, "max_complexity": "low", "cost": ""}
    });
    let forged = NewEvent::new(
        format!("directory/offer/{forged_id}"),
        "directory.offer.created",
        serde_json::to_vec(&payload).unwrap(),
    )
    .with_audience(Audience::Federation);
    let at = w.rogue_append(vec![forged]).await[0].seq;
    let later = organisation(w, "Huisartsenpraktijk Zuid", pb::OrganisationKind::Huisarts, "6411 EF").await;
    for node in [w, v] {
        eventually("the later organisation applied", || async {
            let request = pb::GetOrganisationRequest { id: later.clone() };
            node.directory_client().await.get_organisation(request).await.ok()
        })
        .await;
        assert!(node.head_of(w.node_id()).await > at);
    }
    assert_eq!(kaart_counts(w, &request).await, honest, "node W's read models ignore its own forged offer");
    let coverage = pb::GetCoverageRequest { region: "6411".into(), need: "boodschappen".into() };
    let on_v = v.followup_client().await.get_coverage(coverage).await.unwrap().into_inner();
    assert_eq!(on_v.totals.iter().find(|t| t.need == "boodschappen").map(|t| t.offers), Some(1), "nor node V's");

    // Origins page like every other list: one at a time, in origin order.
    let mut client = v.log_client().await;
    let page = |page_token: String| pb::ListOriginsRequest { page_size: 1, page_token };
    let first = client.list_origins(page(String::new())).await.unwrap().into_inner();
    let second = client.list_origins(page(first.next_page_token.clone())).await.unwrap().into_inner();
    assert_eq!((first.origins.len(), second.origins.len()), (1, 1));
    assert!(first.origins[0].origin < second.origins[0].origin);
    assert!(!first.next_page_token.is_empty() && second.next_page_token.is_empty());
}

/// The due list of `organisation` on `node`, with its not-received referrals.
async fn not_received(node: &TestNode, organisation: &str) -> Vec<String> {
    let request = pb::ListDueRequest { organisation_id: organisation.into(), ..Default::default() };
    let due = node.followup_client().await.list_due(request).await.unwrap().into_inner();
    due.not_received.into_iter().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiving_node_confirms_receipt_and_the_referrer_flags_what_was_not_received() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let oost_offer = offer(v, &oost, "Boodschappen Oost", "6400-6419", 2, pb::Complexity::Low).await;
    let kinds = [pb::OrganisationKind::Vrijwilligersorganisatie];
    let first = referred_request_for(w, &wijkteam, "6411 AB", &kinds).await;
    let second = referred_request_for(w, &wijkteam, "6412 AB", &kinds).await;
    eventually("the remote offer proposed", || async {
        proposals(w, &first).await.proposals.iter().any(|p| p.offer_id == oost_offer).then_some(())
    })
    .await;
    let m1 = confirm_offer(w, &first, &oost_offer, "anna").await;
    let m2 = confirm_offer(w, &second, &oost_offer, "anna").await;
    match_in(v, &m2.id, pb::MatchStatus::Offered).await;
    assert_eq!(m1.received_micros, 0);
    // The node's admin looking is not the organisation being shown it.
    assert_eq!(get_match(v, &m1.id).await.unwrap().received_micros, 0);
    assert!(not_received(w, &wijkteam).await.is_empty(), "not yet flagged: a day has not passed");
    // The referrer's system follows its Tasks from here on.
    let last = w.written().await.last().map_or(1, |e| e.header.seq + 1);
    let watch = pb::WatchTasksRequest { from_position: last };
    let mut tasks = w.fhir_client().await.watch_tasks(watch).await.unwrap().into_inner();

    // A day and an hour on, neither was shown to the volunteer organisation: both flagged.
    clock.advance(DAY + Duration::from_secs(3600));
    let mut flagged = not_received(w, &wijkteam).await;
    flagged.sort();
    let mut both = vec![m1.id.clone(), m2.id.clone()];
    both.sort();
    assert_eq!(flagged, both);

    // The volunteer platform reads the first: its node confirms receipt, the owner sees it.
    let platform = v.channel_as(samenspel_e2e::Role::VolunteerPlatform, Some(&oost)).await;
    let mut matching = pb::matching_client::MatchingClient::new(platform);
    let mut shown = tonic::Request::new(pb::GetMatchRequest { match_id: m1.id.clone() });
    shown.metadata_mut().insert("user", "kees".parse().unwrap());
    let shown = matching.get_match(shown).await.unwrap().into_inner();
    assert!(shown.received_micros > 0, "the receipt is recorded on the first read");
    // The receipt is the platform's call's, user and all, on its node.
    let receipt = eventually("the receipt on node V's timeline", || async {
        timeline(v, &first).await.into_iter().find(|s| s.kind == "matching.match.received")
    })
    .await;
    let author = receipt.author.as_ref().unwrap();
    assert_eq!(
        (author.user.as_str(), author.organisation_id.as_str(), author.role.as_str(), author.rpc.as_str()),
        ("kees", oost.as_str(), "volunteer_platform", "/samenspel.v1.Matching/GetMatch")
    );
    assert_eq!(names(&receipt), ["Vrijwilligers Oost"]);
    let received = eventually("the owner sees the receipt", || async {
        get_match(w, &m1.id).await.ok().filter(|m| m.received_micros > 0)
    })
    .await;
    assert_eq!(received.received_micros, shown.received_micros);
    eventually("the referral knows it", || async {
        get_referral(w, &m1.id).await.ok().filter(|r| r.received_micros > 0).map(|_| ())
    })
    .await;
    assert_eq!(not_received(w, &wijkteam).await, std::slice::from_ref(&m2.id));
    let export = pb::ExportReferralRequest { request_id: first.clone(), audience: pb::FhirAudience::Own.into() };
    let bundle = w.fhir_client().await.export_referral(export).await.unwrap().into_inner();
    let bundle: serde_json::Value = serde_json::from_str(&bundle.json).unwrap();
    let task = bundle["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "Task").unwrap();
    assert_eq!(task["resource"]["status"], "requested");
    assert_eq!(task["resource"]["businessStatus"]["coding"][0]["code"], "received");
    // The receipt was written on the other node; the owner's Task notifications tell it all the
    // same, at a position of the owner's log, and a watch resumed there tells it again.
    let notice = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = tasks.next().await.unwrap().unwrap();
            if n.task_id == m1.id && n.business_status == "received" {
                return n;
            }
        }
    })
    .await
    .expect("a Task notification of the remote receipt");
    assert_eq!((notice.status.as_str(), notice.service_request_id.as_str()), ("requested", first.as_str()));
    let noticed = w.written().await.into_iter().find(|e| e.header.seq == notice.position).unwrap();
    assert_eq!(noticed.header.origin, w.node_id(), "a position in the owner's own log");
    let again = pb::WatchTasksRequest { from_position: notice.position };
    let mut again = w.fhir_client().await.watch_tasks(again).await.unwrap().into_inner();
    let n = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(
        (n.position, n.task_id.as_str(), n.business_status.as_str()),
        (notice.position, m1.id.as_str(), "received")
    );

    // The second reaches the platform on its match stream: that is a showing too.
    let watch = pb::WatchMatchesRequest { organisation_id: oost.clone(), from_position: 1 };
    let mut notices = matching.watch_matches(watch).await.unwrap().into_inner();
    let n = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = notices.next().await.unwrap().unwrap();
            if n.r#match.as_ref().is_some_and(|m| m.id == m2.id) {
                return n;
            }
        }
    })
    .await
    .unwrap();
    assert!(n.r#match.unwrap().received_micros > 0);
    eventually("nothing left unreceived", || async { not_received(w, &wijkteam).await.is_empty().then_some(()) }).await;
    // Read again: one receipt per match, not one per read.
    matching.get_match(pb::GetMatchRequest { match_id: m1.id.clone() }).await.unwrap();
    let receipts = v.written().await.iter().filter(|e| e.header.kind == "matching.match.received").count();
    assert_eq!(receipts, 2);
}
