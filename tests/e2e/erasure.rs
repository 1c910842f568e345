//! Erasure (BRIEF rule 7): personal data entered through the public API on a three-node
//! federation, shared with the match partner, then erased on the owner, is in no file of any
//! node's data directory once they are stopped — nor is the erased subject's key — while every
//! node's log still verifies and the request's history still lists every step. The partner
//! confirms; a node that was away erases when it is back; retention erases on schedule; erasing
//! twice, an unknown subject or without a reason is refused and writes nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::ManualClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_eventlog::LocalLog;
use samenspel_proto::v1 as pb;
use tonic::Code;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;
const DAY: i64 = 86_400_000_000;

const CLIENT: &str = "client-zw";
const CAREGIVER: &str = "mz-zw";
// Distinctive enough that no other bytes of a data directory hold them by chance.
const NAME: &str = "Zwaluwstaart Markeerling";
const EMAIL: &str = "zwaluwstaart@voorbeeld.nl";
/// The phone number as stored (E.164: +31 649871234).
const PHONE_DIGITS: &str = "649871234";
const NOTE: &str = "Notitie Kwikstaart-42 over de trap";
const CAREGIVER_NAME: &str = "Merelzang Mantelzorger";
/// What the receiving organisation writes of its visit, and the wijkteam of the referral's end.
const OBSERVED: &str = "Roodborst-7 deed open, trap is lastig";
const CLOSING: &str = "Afsluiting Goudvink-3: hulp loopt";

/// A request from the wijkteam with the markers in it, shared with volunteer organisations.
async fn marked_request(node: &TestNode, asking: &str) -> String {
    let consent = pb::Consent {
        scopes: vec![pb::ConsentScope {
            scope: Some(pb::consent_scope::Scope::OrganisationKind(
                pb::OrganisationKind::Vrijwilligersorganisatie.into(),
            )),
        }],
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    };
    let caregiver = pb::Involved {
        person: Some(pb::Person {
            subject_id: CAREGIVER.into(),
            name: CAREGIVER_NAME.into(),
            phone: "06-11223344".into(),
            email: "merelzang@voorbeeld.nl".into(),
            birth_date: String::new(),
        }),
        role: pb::InvolvedRole::Mantelzorger.into(),
        mantelzorger_role: pb::MantelzorgerRole::Partner.into(),
        organisation_id: String::new(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: asking.into(),
        client: Some(pb::Person {
            subject_id: CLIENT.into(),
            name: NAME.into(),
            phone: "06-49871234".into(),
            email: EMAIL.into(),
            birth_date: "1941-05-17".into(),
        }),
        description: NOTE.into(),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        involved: vec![caregiver],
        ..Default::default()
    };
    let request = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    node.intake_client().await.submit_help_request(request).await.unwrap().into_inner().id
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The key a node holds for a subject of `owner`'s.
fn key_of(node: &TestNode, owner: &TestNode, subject: &str) -> Option<[u8; 32]> {
    node.subject_key(owner.node_id(), subject)
}

/// The kinds of the events on a request's stream, in order: its history.
async fn history(node: &TestNode, request: &str) -> Vec<String> {
    let read = pb::ReadStreamRequest {
        origin: node.node_id().0.to_vec(),
        stream: format!("intake/request/{request}"),
        from_stream_seq: 1,
        page_size: 100,
    };
    let events = node.log_client().await.read_stream(read).await.unwrap().into_inner().events;
    events.into_iter().map(|e| e.header.unwrap().kind).collect()
}

/// The request's timeline on `node`: each step's kind, whether it verified, and what it says of
/// its personal data.
async fn personal_steps(node: &TestNode, request: &str) -> Vec<(String, bool, pb::PersonalData)> {
    let asked = pb::GetTimelineRequest { request_id: request.into(), page_size: 500, ..Default::default() };
    let steps = node.audit_client().await.get_timeline(asked).await.unwrap().into_inner().steps;
    steps.into_iter().map(|s| (s.kind.clone(), s.verified, s.personal_data())).collect()
}

async fn contact_person(node: &TestNode, id: &str) -> Option<pb::ContactPerson> {
    let request = pb::GetContactPersonRequest { id: id.into() };
    node.directory_client().await.get_contact_person(request).await.ok().map(|c| c.into_inner())
}

async fn erase(node: &TestNode, subject: &str) -> Result<pb::Erasure, tonic::Status> {
    let request = pb::EraseSubjectRequest {
        subject_id: subject.into(),
        reason: pb::ErasureReason::SubjectRequest.into(),
        reference: "AVG-2026-17".into(),
    };
    node.privacy_client().await.erase_subject(request).await.map(|r| r.into_inner())
}

async fn erasure(node: &TestNode, subject: &str) -> Result<pb::Erasure, tonic::Status> {
    let request = pb::GetErasureRequest { subject_id: subject.into() };
    node.privacy_client().await.get_erasure(request).await.map(|r| r.into_inner())
}

/// The marked request taken in on node W, with the partner's offer on node V proposed for it:
/// the partner organisation, its offer and the request.
async fn proposed_to(w: &TestNode, v: &TestNode) -> (String, String, String) {
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let oost_offer = offer(v, &oost, "Boodschappen Oost", "6400-6419", 1, pb::Complexity::Low).await;
    let request = marked_request(w, &wijkteam).await;
    eventually("the partner's offer proposed", || async {
        proposals(w, &request).await.proposals.iter().any(|p| p.offer_id == oost_offer).then_some(())
    })
    .await;
    (oost, oost_offer, request)
}

/// A referral walked to the partner's acceptance: the partner (node V) holds the client's contact
/// details. Returns the request and the match.
async fn referral_to(w: &TestNode, v: &TestNode) -> (String, String) {
    let (oost, oost_offer, request) = proposed_to(w, v).await;
    let matched = confirm_offer(w, &request, &oost_offer, "anna").await;
    eventually("the match on the partner's node", || async { get_match(v, &matched.id).await.ok() }).await;
    answer_match(v, &matched.id, &oost, true).await;
    let contact = eventually("contact details on the partner's node", || async {
        get_match(v, &matched.id).await.ok()?.client_contact
    })
    .await;
    assert_eq!(contact.name, NAME);
    (request, matched.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subject_is_in_no_file_of_any_node_and_the_history_stays() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(3, clock.clone(), |_, _| {}).await;
    let (w, v, m) = (&nodes[0], &nodes[1], &nodes[2]);
    let (request, match_id) = referral_to(w, v).await;
    let got = w.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await;
    assert_eq!(got.unwrap().into_inner().fields.unwrap().client.unwrap().name, NAME, "readable before");
    let keys = (key_of(w, w, CLIENT).expect("the owner's key"), key_of(v, w, CLIENT).expect("the partner's copy"));
    assert_eq!(keys.0, keys.1);
    assert_eq!(key_of(m, w, CLIENT), None, "the third node never got it");
    // The receiving organisation records what it saw, the wijkteam takes it in and closes the
    // referral: free text about the client on both nodes, readable before the erasure.
    let observe = pb::RecordObservationRequest {
        match_id: match_id.clone(),
        outcome: pb::Outcome::ContactMade.into(),
        notes: OBSERVED.into(),
        recorded_by: "piet".into(),
        contact_on: "2026-12-01".into(),
    };
    v.followup_client().await.record_observation(observe).await.unwrap();
    eventually("the observation on the owner", || async {
        get_referral(w, &match_id).await.ok().filter(|r| r.observations.first().is_some_and(|o| o.notes == OBSERVED))
    })
    .await;
    let close = pb::CloseReferralRequest {
        match_id: match_id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        notes: CLOSING.into(),
        closed_by: "anna".into(),
    };
    let closed = w.followup_client().await.close_referral(close).await.unwrap().into_inner();
    assert_eq!(closed.closure.unwrap().notes, CLOSING);
    assert_eq!(get_referral(v, &match_id).await.unwrap().observations[0].notes, OBSERVED, "readable on its node");
    // The receiving node sealed its notes under a key of the referral's, which the owner holds too.
    let notes_subject = format!("followup-{}-{match_id}", w.node_id().to_hex());
    let notes_key = key_of(v, v, &notes_subject).expect("the receiving node's key of its notes");
    assert_eq!(key_of(w, v, &notes_subject), Some(notes_key), "the owner's copy");
    let steps = history(w, &request).await;
    let timelines_before = [personal_steps(w, &request).await, personal_steps(v, &request).await];
    for before in &timelines_before {
        let submitted = before.iter().find(|(kind, ..)| kind == "intake.request.submitted");
        assert!(submitted.is_none_or(|s| s.2 == pb::PersonalData::Sealed), "{before:?}");
        assert!(before.iter().any(|s| s.2 == pb::PersonalData::Sealed), "{before:?}");
        assert!(before.iter().all(|s| s.1 && s.2 != pb::PersonalData::Erased), "{before:?}");
    }

    // Refusals first: each names what is wrong and writes nothing.
    let head = w.log_head().await;
    assert_eq!(erase(w, "nobody-here").await.unwrap_err().code(), Code::NotFound);
    let no_reason = pb::EraseSubjectRequest { subject_id: CLIENT.into(), ..Default::default() };
    let refused = w.privacy_client().await.erase_subject(no_reason).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("reason"), "{}", refused.message());
    let bad = pb::EraseSubjectRequest { subject_id: "a b".into(), reason: 99, reference: "x y".into() };
    let refused = w.privacy_client().await.erase_subject(bad).await.unwrap_err();
    for field in ["subject_id", "reason", "reference"] {
        assert!(refused.message().contains(field), "{field}: {}", refused.message());
    }
    assert_eq!(erasure(w, CLIENT).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(w.log_head().await, head, "nothing written");

    // The privacy officer erases the client; the partner is told, destroys its copy, confirms.
    let (officer_id, officer) = w.issue(samenspel_e2e::Role::PrivacyOfficer, None);
    let mut privacy = pb::privacy_client::PrivacyClient::new(w.channel_with(&officer).await);
    let request_erasure = pb::EraseSubjectRequest {
        subject_id: CLIENT.into(),
        reason: pb::ErasureReason::SubjectRequest.into(),
        reference: "AVG-2026-17".into(),
    };
    let erased = privacy.erase_subject(request_erasure).await.unwrap().into_inner();
    assert_eq!(erased.nodes_told, vec![v.node_id().to_hex()]);
    assert_eq!(erased.erased_by, officer_id, "who erased is on record");
    assert_eq!(erased.reason(), pb::ErasureReason::SubjectRequest);
    let confirmed = eventually("the partner's confirmation", || async {
        erasure(w, CLIENT).await.ok().filter(|e| e.pending.is_empty())
    })
    .await;
    assert_eq!(confirmed.confirmed.iter().map(|c| c.node.clone()).collect::<Vec<_>>(), vec![v.node_id().to_hex()]);
    let head = w.log_head().await;
    assert_eq!(erase(w, CLIENT).await.unwrap_err().code(), Code::FailedPrecondition, "erasing twice");
    // An erased subject id takes no new data: the person comes back under a new one.
    let again = pb::SubmitHelpRequestRequest {
        fields: Some(pb::HelpRequestFields {
            asked_by: pb::Asker::Client.into(),
            client: Some(pb::Person { subject_id: CLIENT.into(), name: "Iemand".into(), ..Default::default() }),
            support_kinds: vec!["boodschappen".into()],
            postcode: "6411 AB".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let refused = w.intake_client().await.submit_help_request(again).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("subject_id") && refused.message().contains("erased"), "{}", refused.message());
    assert_eq!(w.log_head().await, head, "nothing written");

    // The read models: the client's data reads empty and marked erased; the mantelzorger stays.
    let got = eventually("the intake drops the client", || async {
        let r = w.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await;
        r.ok().map(|r| r.into_inner()).filter(|r| !r.erased_subjects.is_empty())
    })
    .await;
    assert_eq!(got.erased_subjects, vec![CLIENT.to_string()]);
    let fields = got.fields.unwrap();
    let client = fields.client.unwrap();
    assert_eq!((client.name.as_str(), client.email.as_str(), fields.description.as_str()), ("", "", ""));
    assert_eq!(client.subject_id, CLIENT, "the pseudonymous id stays");
    assert_eq!(fields.involved[0].person.as_ref().unwrap().name, CAREGIVER_NAME, "another subject's data stays");
    eventually("the partner drops the contact details", || async {
        get_match(v, &match_id).await.ok().filter(|m| m.client_contact.is_none())
    })
    .await;
    // The notes about the client read empty on both nodes; what was observed and when stays.
    let owner_view = eventually("the owner's notes about the client gone", || async {
        get_referral(w, &match_id).await.ok().filter(|r| r.observations.first().is_some_and(|o| o.notes.is_empty()))
    })
    .await;
    assert_eq!(owner_view.closure.unwrap().notes, "", "the closure's notes");
    assert_eq!(owner_view.observations[0].outcome(), pb::Outcome::ContactMade);
    eventually("the receiving node's notes gone", || async {
        get_referral(v, &match_id).await.ok().filter(|r| r.observations.first().is_some_and(|o| o.notes.is_empty()))
    })
    .await;
    let gone =
        || async { (key_of(v, v, &notes_subject).is_none() && key_of(w, v, &notes_subject).is_none()).then_some(()) };
    eventually("both copies of the notes' key destroyed", gone).await;
    // What happened when stays: every step of the request, in order, verified, on the owner and
    // the partner, with "erased" where the personal data was.
    let after = history(w, &request).await;
    assert_eq!(after[..steps.len()], steps[..]);
    assert!(steps.len() >= 3, "{steps:?}");
    for (node, before) in [w, v].into_iter().zip(&timelines_before) {
        let after = personal_steps(node, &request).await;
        assert_eq!(after.len(), before.len(), "{after:?}");
        for (was, is) in before.iter().zip(&after) {
            assert_eq!((&was.0, is.1), (&is.0, true), "the same step, verified");
            let expected = if was.2 == pb::PersonalData::Sealed { pb::PersonalData::Erased } else { was.2 };
            assert_eq!(is.2, expected, "{}: {after:?}", is.0);
        }
    }

    // Stopped, no file of any node holds the client's data or its key; the log verifies.
    let mut dirs = Vec::new();
    for node in nodes {
        dirs.push(node.stop().await);
    }
    let (mut files_scanned, mut kaart_seen) = (0, false);
    for (config, _keep) in &dirs {
        let report = LocalLog::verify_dir(&config.data_dir).unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        for (path, bytes) in files(&config.data_dir) {
            files_scanned += 1;
            kaart_seen |= holds(&bytes, b"Boodschappen Oost");
            let markers =
                [NAME, EMAIL, PHONE_DIGITS, NOTE, "1941-05-17", "Kwikstaart", "Zwaluwstaart", "Roodborst", "Goudvink"];
            for marker in markers {
                assert!(!holds(&bytes, marker.as_bytes()), "{marker:?} in {path}");
            }
            assert!(!holds(&bytes, &keys.0) && !holds(&bytes, hex::encode(keys.0).as_bytes()), "the key in {path}");
            assert!(!holds(&bytes, hex::encode(notes_key).as_bytes()), "the notes' key in {path}");
        }
    }
    // The scan reads what the nodes wrote: what is not personal is there in the clear.
    assert!(files_scanned > 10 && kaart_seen, "{files_scanned} files; the sociale kaart not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_away_during_an_erasure_erases_when_it_is_back() {
    let clock = Arc::new(ManualClock::at(START));
    let mut nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (request, match_id) = referral_to(&nodes[0], &nodes[1]).await;
    let (config, dir) = nodes.pop().unwrap().stop().await;
    let w = &nodes[0];
    let erased = erase(w, CLIENT).await.unwrap();
    assert_eq!(erased.pending, erased.nodes_told, "the partner is away");
    assert_eq!(erased.pending.len(), 1);
    let v = TestNode::start_again(config, dir, clock.clone()).await;
    eventually("the partner's confirmation once it is back", || async {
        erasure(w, CLIENT).await.ok().filter(|e| e.pending.is_empty())
    })
    .await;
    assert!(get_match(&v, &match_id).await.unwrap().client_contact.is_none());
    assert_eq!(key_of(&v, w, CLIENT), None);
    let r = w.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request }).await.unwrap();
    assert_eq!(r.into_inner().erased_subjects, vec![CLIENT.to_string()]);
    // A restart reads the same: the snapshot from before the erasure no longer opens.
    let v = v.restart().await;
    assert!(get_match(&v, &match_id).await.unwrap().client_contact.is_none());
}

async fn read(node: &TestNode, id: &str) -> pb::HelpRequest {
    let r = node.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: id.into() }).await;
    r.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_the_people_of_a_request_ended_long_enough_ago() {
    let clock = Arc::new(ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.privacy.retention_days = 30;
        c.privacy.strain_retention_days = 10;
        c.privacy.sweep_every_secs = 1;
    })
    .await;
    let wijkteam = organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let ended = marked_request(&node, &wijkteam).await;
    let strained = help_request(&node, 9).await;
    for id in [&ended, &strained] {
        let withdraw = pb::TransitionRequest { id: id.clone(), reason: "geen hulp meer nodig".into() };
        node.intake_client().await.withdraw_help_request(withdraw).await.unwrap();
    }
    assert!(read(&node, &strained).await.strain[0].csi_score > 0, "strain answers before");
    // Past 10 days the caregiver's strain answers go; their name stays.
    clock.advance(Duration::from_micros((11 * DAY) as u64));
    let e = eventually("strain answers erased by retention", || async { erasure(&node, "strain-mz").await.ok() }).await;
    assert_eq!(e.reason(), pb::ErasureReason::Retention);
    let after = read(&node, &strained).await;
    assert_eq!(after.strain[0].csi_score, 0, "{after:?}");
    assert_eq!(after.fields.unwrap().involved[0].person.as_ref().unwrap().name, "Peter", "the name stays");
    assert_eq!(erasure(&node, "mz").await.unwrap_err().code(), Code::NotFound, "the caregiver is not erased");
    // Rebuilt from the log after a restart, the answers do not open any more; the name does.
    let node = node.restart().await;
    let rebuilt = read(&node, &strained).await;
    assert_eq!(rebuilt.strain[0].csi_score, 0, "{rebuilt:?}");
    assert_eq!(rebuilt.fields.unwrap().involved[0].person.as_ref().unwrap().name, "Peter");
    // 29 days on, nothing else is erased yet.
    clock.advance(Duration::from_micros((18 * DAY) as u64));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(erasure(&node, CLIENT).await.unwrap_err().code(), Code::NotFound);
    // Past 30 days the sweeper erases both people of the request.
    clock.advance(Duration::from_micros((2 * DAY) as u64));
    for subject in [CLIENT, CAREGIVER] {
        let e = eventually("erased by retention", || async { erasure(&node, subject).await.ok() }).await;
        assert_eq!((e.reason(), e.erased_by.as_str()), (pb::ErasureReason::Retention, "retention"));
    }
    let r = node.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: ended }).await.unwrap();
    let mut erased = r.into_inner().erased_subjects;
    erased.sort();
    assert_eq!(erased, vec![CLIENT.to_string(), CAREGIVER.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restored_from_a_backup_older_than_an_erasure_erases_again_before_it_serves() {
    let clock = Arc::new(ManualClock::at(START));
    let mut nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (request, _) = referral_to(&nodes[0], &nodes[1]).await;
    let w = nodes.remove(0);
    let (config, dir) = w.stop().await;
    let backup = tempfile::tempdir().unwrap();
    let backup_dir = backup.path().join("backup");
    let copied = samenspel_node::backup::backup(&config.data_dir, &backup_dir).unwrap();
    assert!(copied.report.is_ok() && copied.files > 3);
    let w = TestNode::start_again(config, dir, clock.clone()).await;
    // Erased after the backup: the client (whose key went to the partner, so the partner holds
    // the erasure's payload) and the mantelzorger (whose key stayed here: the partner holds the
    // erasure's outline only, its body sealed for the owner, who opens it on the restore).
    erase(&w, CLIENT).await.unwrap();
    erase(&w, CAREGIVER).await.unwrap();
    let head = w.log_head().await;
    eventually("the partner holds the owner's log", || async {
        (nodes[0].head_of(w.node_id()).await >= head).then_some(())
    })
    .await;
    let (config, dir) = w.stop().await;
    assert!(samenspel_node::backup::restore(&backup_dir, &config.data_dir, false).is_err(), "not over a data dir");
    let (_, aside) = samenspel_node::backup::restore(&backup_dir, &config.data_dir, true).unwrap();
    assert!(aside.is_some_and(|a| a.is_dir()), "the old data directory set aside, not deleted");
    // Before it serves, the restored node took its erasures back and destroyed both keys again.
    let w = TestNode::start_again(config, dir, clock.clone()).await;
    assert_eq!(key_of(&w, &w, CLIENT), None);
    assert_eq!(key_of(&w, &w, CAREGIVER), None);
    let r = w.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request }).await.unwrap();
    let fields = r.into_inner().fields.unwrap();
    assert_eq!(fields.client.unwrap().name, "");
    assert_eq!(fields.involved[0].person.as_ref().unwrap().name, "");
    assert_eq!(erase(&w, CLIENT).await.unwrap_err().code(), Code::FailedPrecondition, "erased, as before the restore");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_person_of_the_sociale_kaart_is_erased_on_every_node_that_has_the_kaart() {
    const CONTACT_NAME: &str = "Roodborst Contactpersoon";
    const CONTACT_EMAIL: &str = "roodborst@voorbeeld.nl";
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let oost = organisation(v, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let fields = pb::ContactFields {
        name: CONTACT_NAME.into(),
        role: "coördinator".into(),
        phone: "045-5711223".into(),
        email: CONTACT_EMAIL.into(),
        ..Default::default()
    };
    let create = pb::CreateContactPersonRequest { organisation_id: oost, fields: Some(fields), ..Default::default() };
    let contact = v.directory_client().await.create_contact_person(create).await.unwrap().into_inner();
    // The other node reads it in the kaart it replicates (the key came with it).
    let there = eventually("the contact person on the other node", || async {
        contact_person(w, &contact.id).await.filter(|c| c.fields.as_ref().is_some_and(|f| f.name == CONTACT_NAME))
    })
    .await;
    assert_eq!(there.fields.unwrap().role, "coördinator");

    let subject = format!("contact-{}", contact.id);
    let erased = erase(v, &subject).await.unwrap();
    assert_eq!(erased.nodes_told, vec![w.node_id().to_hex()]);
    eventually("confirmed by the other node", || async {
        erasure(v, &subject).await.ok().filter(|e| e.pending.is_empty())
    })
    .await;
    for node in [v, w] {
        let c = eventually("the contact person erased", || async {
            contact_person(node, &contact.id).await.filter(|c| c.fields.as_ref().is_some_and(|f| f.name.is_empty()))
        })
        .await;
        let f = c.fields.unwrap();
        assert_eq!((f.email.as_str(), f.phone.as_str(), f.role.as_str()), ("", "", "coördinator"));
    }
    let mut dirs = Vec::new();
    for node in nodes {
        dirs.push(node.stop().await);
    }
    for (config, _keep) in &dirs {
        assert!(LocalLog::verify_dir(&config.data_dir).unwrap().is_ok());
        for (path, bytes) in files(&config.data_dir) {
            for marker in [CONTACT_NAME, CONTACT_EMAIL, "5711223", "Roodborst"] {
                assert!(!holds(&bytes, marker.as_bytes()), "{marker:?} in {path}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_erases_a_contact_person_archived_long_enough_ago() {
    let clock = Arc::new(ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.privacy.retention_days = 0;
        c.privacy.contact_retention_days = 10;
        c.privacy.sweep_every_secs = 1;
    })
    .await;
    let oost =
        organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let contact = |name: &str| pb::CreateContactPersonRequest {
        organisation_id: oost.clone(),
        fields: Some(pb::ContactFields { name: name.into(), phone: "045-5711223".into(), ..Default::default() }),
        ..Default::default()
    };
    let mut directory = node.directory_client().await;
    let leaving = directory.create_contact_person(contact("Vertrekt Binnenkort")).await.unwrap().into_inner();
    let staying = directory.create_contact_person(contact("Blijft Hier")).await.unwrap().into_inner();
    let archive = pb::ArchiveContactPersonRequest { id: leaving.id.clone(), expected_version: leaving.version };
    directory.archive_contact_person(archive).await.unwrap();
    clock.advance(Duration::from_micros((9 * DAY) as u64));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(erasure(&node, &format!("contact-{}", leaving.id)).await.unwrap_err().code(), Code::NotFound);
    clock.advance(Duration::from_micros((2 * DAY) as u64));
    let e = eventually("the archived contact person erased", || async {
        erasure(&node, &format!("contact-{}", leaving.id)).await.ok()
    })
    .await;
    assert_eq!(e.reason(), pb::ErasureReason::Retention);
    let gone = eventually("read empty", || async {
        contact_person(&node, &leaving.id).await.filter(|c| c.fields.as_ref().is_some_and(|f| f.name.is_empty()))
    })
    .await;
    assert!(gone.archived);
    assert_eq!(
        contact_person(&node, &staying.id).await.unwrap().fields.unwrap().name,
        "Blijft Hier",
        "not archived: kept"
    );
    assert_eq!(erasure(&node, &format!("contact-{}", staying.id)).await.unwrap_err().code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reason_a_request_was_withdrawn_is_erased_with_its_client() {
    let node = TestNode::start().await;
    let wijkteam = organisation(&node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let request = marked_request(&node, &wijkteam).await;
    let reason = "mevrouw Zwaluwstaart is naar Huize Pimpelmees verhuisd";
    let withdraw = pb::TransitionRequest { id: request.clone(), reason: reason.into() };
    let withdrawn = node.intake_client().await.withdraw_help_request(withdraw).await.unwrap().into_inner();
    assert_eq!(withdrawn.status_reason, reason, "readable before");
    erase(&node, CLIENT).await.unwrap();
    let got = eventually("the reason gone with the client", || async {
        let r = node.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await;
        r.ok().map(|r| r.into_inner()).filter(|r| !r.erased_subjects.is_empty())
    })
    .await;
    assert_eq!((got.status(), got.status_reason.as_str()), (pb::HelpRequestStatus::Withdrawn, ""));
    let (config, _keep) = node.stop().await;
    for (path, bytes) in files(&config.data_dir) {
        assert!(!holds(&bytes, b"Pimpelmees"), "the reason in {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reasons_given_for_a_match_and_its_answer_are_erased_with_the_client_on_both_nodes() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let (oost, oost_offer, request) = proposed_to(w, v).await;
    // The coordinator picks the offer by hand with a reason; the partner declines with one.
    let pick = pb::PickOfferRequest {
        request_id: request.clone(),
        offer_id: oost_offer.clone(),
        reason: "Keuze Putter-5: zij kent de buurvrouw".into(),
        confirmed_by: "anna".into(),
        ..Default::default()
    };
    let picked = w.matching_client().await.pick_offer(pick).await.unwrap().into_inner();
    let seen = eventually("the match on the partner's node", || async { get_match(v, &picked.id).await.ok() }).await;
    assert!(seen.reason.contains("Putter"), "the partner reads why it was picked: {}", seen.reason);
    let decline = pb::AnswerMatchRequest {
        match_id: picked.id.clone(),
        organisation_id: oost.clone(),
        reason: "Afwijzing Sijsje-9: te zwaar voor onze vrijwilligers".into(),
    };
    v.matching_client().await.decline_match(decline).await.unwrap();
    eventually("the decline on the owner", || async {
        get_match(w, &picked.id).await.ok().filter(|m| m.reason.contains("Sijsje"))
    })
    .await;
    let about = format!("about-{}-{CLIENT}", w.node_id().to_hex());
    let answer_key = key_of(v, v, &about).expect("the partner sealed its reason under its own key about the client");
    assert_eq!(key_of(w, v, &about), Some(answer_key), "the owner's copy");

    let erased = erase(w, CLIENT).await.unwrap();
    assert_eq!(erased.nodes_told, vec![v.node_id().to_hex()]);
    for node in [w, v] {
        eventually("the reasons gone", || async {
            get_match(node, &picked.id).await.ok().filter(|m| m.reason.is_empty())
        })
        .await;
    }
    eventually("both copies of the partner's key gone", || async {
        (key_of(v, v, &about).is_none() && key_of(w, v, &about).is_none()).then_some(())
    })
    .await;
    eventually("the partner confirmed", || async { erasure(w, CLIENT).await.ok().filter(|e| e.pending.is_empty()) })
        .await;
    let mut dirs = Vec::new();
    for node in nodes {
        dirs.push(node.stop().await);
    }
    for (config, _keep) in &dirs {
        for (path, bytes) in files(&config.data_dir) {
            for marker in ["Putter", "Sijsje"] {
                assert!(!holds(&bytes, marker.as_bytes()), "{marker:?} in {path}");
            }
            assert!(!holds(&bytes, hex::encode(answer_key).as_bytes()), "the partner's key in {path}");
        }
    }
}
