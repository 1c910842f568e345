//! The same person taken in twice, noticed without sharing who it is: two nodes share a
//! fingerprint key; a request taken in on one tells the intake worker on the other which
//! organisation already has an open request for that person, also with a typo in the name, and
//! nothing more. Another person with the same name at another postcode is not flagged; a closed
//! request no longer counts; each check is on record, and a credential checks so many an hour.

use std::sync::Arc;

use samenspel_domain::SystemClock;
use samenspel_e2e::world::*;
use samenspel_e2e::{Authed, TestNode};
use samenspel_intake::DuplicateKeyConfig;
use samenspel_proto::v1 as pb;

/// A request for `name`, born on 7 March 1948, at `postcode`, referred by `organisation`.
async fn take_in(node: &TestNode, organisation: &str, name: &str, postcode: &str) -> pb::HelpRequest {
    take_in_as(&mut node.intake_client().await, organisation, name, postcode).await
}

/// [`take_in`], with the credential of `intake`.
async fn take_in_as(
    intake: &mut pb::intake_client::IntakeClient<Authed>,
    organisation: &str,
    name: &str,
    postcode: &str,
) -> pb::HelpRequest {
    let kind = pb::OrganisationKind::Vrijwilligersorganisatie;
    let consent = pb::Consent {
        scopes: vec![pb::ConsentScope { scope: Some(pb::consent_scope::Scope::OrganisationKind(kind.into())) }],
        purposes: vec![pb::Purpose::Matching.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: organisation.into(),
        client: Some(pb::Person { name: name.into(), birth_date: "1948-03-07".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: postcode.into(),
        ..Default::default()
    };
    let request = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    intake.submit_help_request(request).await.unwrap().into_inner()
}

/// Waits until `to` holds everything `from` wrote.
async fn replicated(from: &TestNode, to: &TestNode) {
    let head = from.log_head().await;
    eventually("replicated", || async { (to.head_of(from.node_id()).await >= head).then_some(()) }).await;
}

fn hints(r: &pb::HelpRequest) -> Vec<(String, String, String)> {
    r.possible_duplicates.iter().map(|d| (d.organisation_id.clone(), d.node_id.clone(), d.strength.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_person_taken_in_at_two_nodes_is_noticed_and_another_with_the_same_name_elsewhere_is_not() {
    let key = DuplicateKeyConfig { id: "2026".into(), key: "7e".repeat(32) };
    let nodes = TestNode::cluster(2, Arc::new(SystemClock), |_, c| {
        c.intake.duplicate_keys = vec![key.clone()];
        c.intake.duplicate_checks_per_hour = 3;
    })
    .await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(a, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let steunpunt = organisation(b, "Steunpunt Mantelzorg", pb::OrganisationKind::Mantelzorgsteunpunt, "6411 AB").await;
    let first = take_in(a, &wijkteam, "Jan de Vries", "6411 AB").await;
    assert!(first.possible_duplicates.is_empty(), "nobody had him before");
    replicated(a, b).await;

    // The same man at the steunpunt, his name with a typo: the wijkteam on node A has him.
    let again = take_in(b, &steunpunt, "J. de Vriez", "6411AB").await;
    assert_eq!(hints(&again), [(wijkteam.clone(), a.node_id().to_hex(), "name".into())], "z for s is one sound");
    let typo = take_in(b, &steunpunt, "Jan de Vires", "6411 AB").await;
    let hinted = hints(&typo);
    assert!(
        hinted.contains(&(wijkteam.clone(), a.node_id().to_hex(), "initial".into())),
        "a typo the sound key misses: {hinted:?}"
    );
    assert!(
        hinted.contains(&(steunpunt.clone(), b.node_id().to_hex(), "initial".into())),
        "and the steunpunt's own: {hinted:?}"
    );
    // Nothing else about the other request comes along.
    let answer = format!("{:?}", again.possible_duplicates);
    assert!(!answer.contains(&first.id) && !answer.contains("Vries"), "{answer}");

    // Another Jan de Vries, born the same day, at another postcode: not flagged.
    let other = take_in(b, &steunpunt, "Jan de Vries", "6412 CD").await;
    assert!(other.possible_duplicates.is_empty(), "{:?}", other.possible_duplicates);

    // Each reported match is on record as a read of the other request.
    let records = b.access_records().await;
    assert!(records.iter().any(|r| r.subjects.contains(&format!("request/{}", first.id))), "the check is logged");

    // A credential checks so many an hour; past that the request is taken in, unchecked, and says so.
    let skipped = take_in(b, &steunpunt, "Jan de Vries", "6411 AB").await;
    assert!(skipped.possible_duplicates.is_empty());
    assert!(skipped.status_reason.contains("without a duplicate check"), "{}", skipped.status_reason);

    // Once the wijkteam's request is withdrawn, it no longer counts.
    let withdraw = pb::TransitionRequest { id: first.id.clone(), reason: "dubbel".into() };
    a.intake_client().await.withdraw_help_request(withdraw).await.unwrap();
    eventually("the fingerprints withdrawn", || async {
        a.written().await.iter().any(|e| e.header.kind == "intake.request.fingerprint_ended").then_some(())
    })
    .await;
    replicated(a, b).await;
    let fresh = b.channel_as(samenspel_e2e::Role::IntakeWorker, Some(&steunpunt)).await;
    let mut intake = pb::intake_client::IntakeClient::new(fresh);
    let after = take_in_as(&mut intake, &steunpunt, "Jan de Vries", "6411 AB").await;
    let from_a: Vec<_> = hints(&after).into_iter().filter(|(_, node, _)| *node == a.node_id().to_hex()).collect();
    assert!(from_a.is_empty(), "a withdrawn request is no duplicate: {from_a:?}");
    assert!(!hints(&after).is_empty(), "the steunpunt's own open requests for him still are");

    // Erasing the client of an open request ends its fingerprints too, and the key they were
    // sealed under goes on every node that got them.
    let subject = after.fields.as_ref().unwrap().client.as_ref().unwrap().subject_id.clone();
    let prints = samenspel_kit::fingerprints_of(&subject);
    let held = eventually("the fingerprints' key on node A", || async { a.subject_key(b.node_id(), &prints) }).await;
    assert_eq!(b.subject_key(b.node_id(), &prints), Some(held));
    assert_eq!(a.subject_key(b.node_id(), &subject), None, "node A never got the client's own key");
    let erase = pb::EraseSubjectRequest {
        subject_id: subject.clone(),
        reason: pb::ErasureReason::SubjectRequest.into(),
        reference: "AVG-2026-19".into(),
    };
    b.privacy_client().await.erase_subject(erase).await.unwrap();
    eventually("the erased client's fingerprints ended", || async {
        b.written()
            .await
            .iter()
            .any(|e| e.header.kind == "intake.request.fingerprint_ended" && e.header.stream.ends_with(&after.id))
            .then_some(())
    })
    .await;
    eventually("the fingerprints' key gone on both nodes", || async {
        (a.subject_key(b.node_id(), &prints).is_none() && b.subject_key(b.node_id(), &prints).is_none()).then_some(())
    })
    .await;
    let request = pb::GetErasureRequest { subject_id: subject };
    let erasure = b.privacy_client().await.get_erasure(request).await.unwrap().into_inner();
    assert_eq!(erasure.nodes_told, vec![a.node_id().to_hex()], "node A, which held the fingerprints, is told");
}
