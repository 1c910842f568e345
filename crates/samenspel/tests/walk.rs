//! The referral walk as a new integrator tries it: three `samenspel node` processes on loopback
//! (a wijkteam that owns the request, a volunteer organisation, a home-care provider), peered with
//! `samenspel keys` and `samenspel peer add`, a referral walked from the sociale kaart to closure,
//! and the volunteer organisation's node killed with SIGKILL between the confirmation and its
//! answer. After its restart it answers; both sides see the owner's decision, its match stream
//! shows it, the place it claimed is freed when the help ends, and every store verifies.
//!
//! `SAMENSPEL_WALK_RUNS` repeats the walk (default 1); the acceptance loop is 20 runs.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use samenspel_proto::v1 as pb;
use samenspel_proto::v1::follow_up_client::FollowUpClient;
use samenspel_proto::v1::intake_client::IntakeClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use support::*;

async fn walk(dir: &Path) {
    let mut nodes = federation(dir);
    for node in &mut nodes {
        node.start();
    }
    let w = nodes[0].channel().await;
    let v = nodes[1].channel().await;
    let h = nodes[2].channel().await;

    // The sociale kaart: each organisation on its own node.
    let wijkteam = organisation(&w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam).await;
    let volunteers = organisation(&v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie).await;
    let homecare = organisation(&h, "Thuiszorg Zuid", pb::OrganisationKind::Thuiszorg).await;
    let volunteer_offer = offer(&v, &volunteers, "Boodschappenmaatje", 1).await;
    offer(&h, &homecare, "Hulp bij boodschappen", 2).await;

    // The wijkteam takes a request in, with consent to share it for matching.
    let consent = consent_for(&[pb::OrganisationKind::Vrijwilligersorganisatie, pb::OrganisationKind::Thuiszorg]);
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: wijkteam.clone(),
        client: Some(pb::Person { name: "Mevrouw Jansen".into(), phone: "+31455123456".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    let request = IntakeClient::new(w.clone()).submit_help_request(submit).await.unwrap().into_inner().id;
    let proposal = eventually("the volunteers' offer proposed on the wijkteam's node", || async {
        let ask = pb::GetProposalsRequest { request_id: request.clone(), limit: 10 };
        let found = MatchingClient::new(w.clone()).get_proposals(ask).await.ok()?.into_inner();
        found.proposals.into_iter().find(|p| p.offer_id == volunteer_offer && p.support_offer_id.is_empty())
    })
    .await;
    let confirm =
        pb::ConfirmProposalRequest { request_id: request.clone(), token: proposal.token, confirmed_by: "anna".into() };
    let confirmed = MatchingClient::new(w.clone()).confirm_proposal(confirm).await.unwrap().into_inner();
    notices_until(&v, &volunteers, &confirmed.id, "matching.match.confirmed").await;

    // Killed between the confirmation and its answer, and started again.
    nodes[1].kill();
    nodes[1].start();
    let v = nodes[1].channel().await;

    let answer = pb::AnswerMatchRequest {
        match_id: confirmed.id.clone(),
        organisation_id: volunteers.clone(),
        reason: String::new(),
    };
    let answered = eventually("the volunteers accept", || async {
        MatchingClient::new(v.clone()).accept_match(answer.clone()).await.ok().map(|m| m.into_inner())
    })
    .await;
    assert_eq!(answered.status(), pb::MatchStatus::Accepted, "the owner decided on the answer");
    let kinds = notices_until(&v, &volunteers, &confirmed.id, "matching.match.accepted").await;
    assert_eq!(kinds, ["matching.match.confirmed", "matching.match.accepted"]);
    eventually("accepted on the owner's node", || async {
        get_match(&w, &confirmed.id).await.filter(|m| m.status() == pb::MatchStatus::Accepted)
    })
    .await;
    let contact = eventually("contact details on the volunteers' node", || async {
        get_match(&v, &confirmed.id).await?.client_contact
    })
    .await;
    assert_eq!(contact.name, "Mevrouw Jansen");
    assert_eq!(room(&v, &volunteer_offer).await, Some("no room: its one place is taken".into()));

    // The help ends: the wijkteam closes the referral; the place is free again on both nodes.
    let close = pb::CloseReferralRequest {
        match_id: confirmed.id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        ..Default::default()
    };
    eventually("the referral closed", || async {
        FollowUpClient::new(w.clone()).close_referral(close.clone()).await.ok()
    })
    .await;
    let ended = notices_until(&v, &volunteers, &confirmed.id, "matching.match.ended").await;
    assert_eq!(ended.last().map(String::as_str), Some("matching.match.ended"));
    for (node, channel) in [("volunteers", &v), ("wijkteam", &w)] {
        eventually(&format!("the place free again on the {node}' node"), || async {
            (room(channel, &volunteer_offer).await.as_deref() == Some("can take 1 more (0 of 1 places taken)"))
                .then_some(())
        })
        .await;
    }
    let coverage = pb::GetCoverageRequest { region: "6411".into(), need: "boodschappen".into() };
    eventually("coverage counts every place free", || async {
        let c = FollowUpClient::new(w.clone()).get_coverage(coverage.clone()).await.ok()?.into_inner();
        c.totals.iter().find(|t| t.need == "boodschappen" && t.free_places == 3).map(|_| ())
    })
    .await;

    // Every store verifies after a clean stop.
    for node in &mut nodes {
        node.stop();
        let out = Command::new(BIN).args(["verify", "--data"]).arg(&node.data).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_survives_the_partner_node_killed_between_confirmation_and_answer() {
    let runs: usize = std::env::var("SAMENSPEL_WALK_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    for run in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        walk(dir.path()).await;
        eprintln!("walk {}/{runs}: {:.1} s", run + 1, started.elapsed().as_secs_f64());
    }
}
