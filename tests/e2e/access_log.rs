//! The access log (NEN 7513) along a referral between two organisations' nodes: each read of
//! personal data leaves exactly one record — who, for whom, which subjects, which RPC, what kind
//! of data, the purpose, the outcome, when and from where — each refusal too; an auditor pages
//! them by subject, organisation, credential and time, and that read is recorded as well; records
//! past their retention are redacted.

use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::ManualClock;
use samenspel_e2e::world::*;
use samenspel_e2e::{Authed, Bearer, Role, TestNode};
use samenspel_kit::{AccessRecord, DataKind, Outcome};
use samenspel_proto::v1 as pb;
use tonic::Code;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;

/// `request` with the metadata a caller sets: its purpose and the user it acts as.
fn as_user<T>(message: T, purpose: &str, user: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("purpose", purpose.parse().unwrap());
    request.metadata_mut().insert("user", user.parse().unwrap());
    request
}

/// The records of `credential`, oldest first.
async fn records_of(node: &TestNode, credential: &str) -> Vec<AccessRecord> {
    node.access_records().await.into_iter().filter(|r| r.credential == credential).collect()
}

fn summary(r: &AccessRecord) -> (&str, DataKind, Vec<&str>, Option<&str>, bool) {
    let rpc = r.rpc.trim_start_matches("/samenspel.v1.");
    let subjects = r.subjects.iter().map(String::as_str).collect();
    (rpc, r.data, subjects, r.purpose.as_deref(), r.outcome == Outcome::Allowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personal_read_of_a_referral_leaves_one_record_and_an_auditor_pages_them() {
    let clock = Arc::new(ManualClock::at(START));
    let nodes = TestNode::cluster(2, clock.clone(), |_, _| {}).await;
    let (w, v) = (&nodes[0], &nodes[1]);
    let wijkteam = organisation(w, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let noord = organisation(v, "Vrijwilligers Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let noord_offer = offer(v, &noord, "Boodschappen", "6400-6419", 2, pb::Complexity::Low).await;
    let (intake_id, intake_secret) = w.issue(Role::IntakeWorker, Some(&wijkteam));
    let (coordinator_id, coordinator_secret) = w.issue(Role::Coordinator, Some(&wijkteam));
    let (followup_id, followup_secret) = w.issue(Role::FollowUpWorker, Some(&wijkteam));
    let (platform_id, platform_secret) = v.issue(Role::VolunteerPlatform, Some(&noord));
    let (_, auditor_secret) = w.issue(Role::Auditor, None);

    // The intake worker takes the request in: its client and mantelzorger have subject ids.
    let mut intake = pb::intake_client::IntakeClient::new(w.channel_with(&intake_secret).await);
    let consent = pb::Consent {
        scopes: vec![pb::ConsentScope {
            scope: Some(pb::consent_scope::Scope::OrganisationKind(
                pb::OrganisationKind::Vrijwilligersorganisatie.into(),
            )),
        }],
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: wijkteam.clone(),
        client: Some(pb::Person {
            subject_id: "c-17".into(),
            name: "Meneer De Vries".into(),
            phone: "0455712345".into(),
            ..Default::default()
        }),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    let request = intake.submit_help_request(as_user(submit, "care", "j.devries")).await.unwrap().into_inner().id;
    let subject = format!("request/{request}");

    // The coordinator matches (proposals name nobody: no record).
    let mut matching = pb::matching_client::MatchingClient::new(w.channel_with(&coordinator_secret).await);
    let token = eventually("node V's offer proposed on node W", || async {
        let ask = pb::GetProposalsRequest { request_id: request.clone(), limit: 5 };
        let found = matching.clone().get_proposals(ask).await.ok()?.into_inner();
        found.proposals.into_iter().find(|p| p.offer_id == noord_offer).map(|p| p.token)
    })
    .await;
    let confirm = pb::ConfirmProposalRequest { request_id: request.clone(), token, confirmed_by: "anna".into() };
    let m = matching.confirm_proposal(confirm).await.unwrap().into_inner();

    // The volunteer platform accepts — the answer holds the client's contact details only when
    // the owner's node sent them already, and is recorded only then — and reads them.
    eventually("the match on node V", || async { get_match(v, &m.id).await.ok() }).await;
    let mut platform = pb::matching_client::MatchingClient::new(v.channel_with(&platform_secret).await);
    let accept = as_user(answer(&m.id, &noord), "matching", "p.jansen");
    let accepted_with_contact = platform.accept_match(accept).await.unwrap().into_inner().client_contact.is_some();
    eventually("the contact details on node V", || async {
        get_match(v, &m.id).await.ok().filter(|m| m.client_contact.is_some())
    })
    .await;
    let seen =
        platform.get_match(as_user(pb::GetMatchRequest { match_id: m.id.clone() }, "matching", "p.jansen")).await;
    assert_eq!(seen.unwrap().into_inner().client_contact.unwrap().name, "Meneer De Vries");

    // The follow-up worker reads the referral once it is active.
    eventually("the referral active on node W", || async {
        get_referral(w, &m.id).await.ok().filter(|r| r.state() == pb::ReferralState::Active)
    })
    .await;
    let mut followup = pb::follow_up_client::FollowUpClient::new(w.channel_with(&followup_secret).await);
    let referral = pb::GetReferralRequest { match_id: m.id.clone() };
    followup.get_referral(as_user(referral.clone(), "follow_up", "k.smit")).await.unwrap();

    // Two refusals: the intake worker may not read referrals, and a read needs a purpose.
    let mut as_intake = pb::follow_up_client::FollowUpClient::new(w.channel_with(&intake_secret).await);
    assert_eq!(as_intake.get_referral(referral).await.unwrap_err().code(), Code::PermissionDenied);
    let bare = Authed::new(w.plain_channel().await, Bearer::new(&intake_secret, None));
    let refused = pb::intake_client::IntakeClient::new(bare)
        .get_help_request(pb::GetHelpRequestRequest { id: request.clone() })
        .await;
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);

    // Exactly one record per read, with the subjects, purposes and outcomes of the calls.
    let submitted = records_of(w, &intake_id).await;
    let submitted: Vec<_> = submitted.iter().map(summary).collect();
    assert_eq!(
        submitted,
        [
            ("Intake/SubmitHelpRequest", DataKind::HelpRequest, vec!["c-17", subject.as_str()], Some("care"), true),
            ("FollowUp/GetReferral", DataKind::Referral, vec![], Some("care"), false),
            ("Intake/GetHelpRequest", DataKind::HelpRequest, vec![], None, false),
        ]
    );
    assert!(records_of(w, &coordinator_id).await.is_empty(), "proposals and a confirmation hand out no personal data");
    let followed: Vec<_> = records_of(w, &followup_id).await;
    assert_eq!(
        followed.iter().map(summary).collect::<Vec<_>>(),
        [("FollowUp/GetReferral", DataKind::Referral, vec![subject.as_str()], Some("follow_up"), true)]
    );
    let on_v = records_of(v, &platform_id).await;
    let read = ("Matching/GetMatch", DataKind::MatchContact, vec![subject.as_str()], Some("matching"), true);
    let mut expected = vec![read.clone()];
    if accepted_with_contact {
        expected.insert(0, ("Matching/AcceptMatch", read.1, read.2.clone(), read.3, read.4));
    }
    assert_eq!(on_v.iter().map(summary).collect::<Vec<_>>(), expected);
    let first = &records_of(w, &intake_id).await[0];
    assert_eq!(
        (first.organisation.as_deref(), first.role, first.user.as_str()),
        (Some(wijkteam.as_str()), Role::IntakeWorker, "j.devries")
    );
    assert!(first.peer.as_deref().is_some_and(|p| p.starts_with("127.0.0.1:")), "{first:?}");
    assert_eq!(first.at_micros, START, "by the node's clock");
    assert_eq!(on_v[0].organisation.as_deref(), Some(noord.as_str()));

    // The auditor pages them by subject; by credential; by organisation.
    let mut audit = pb::audit_client::AuditClient::new(w.channel_with(&auditor_secret).await);
    let list = |r: pb::ListAccessRequest| {
        let mut audit = audit.clone();
        async move { audit.list_access(as_user(r, "audit", "auditor")).await.unwrap().into_inner() }
    };
    let by_subject =
        list(pb::ListAccessRequest { subject: subject.clone(), page_size: 100, ..Default::default() }).await;
    assert!(by_subject.next_page_token.is_empty());
    let mine: Vec<_> = by_subject.entries.iter().filter(|e| e.role != "admin").collect();
    assert_eq!(
        mine.iter().map(|e| e.rpc.as_str()).collect::<Vec<_>>(),
        ["/samenspel.v1.Intake/SubmitHelpRequest", "/samenspel.v1.FollowUp/GetReferral"]
    );
    assert_eq!(mine[0].purpose, "care");
    assert_eq!(mine[0].outcome(), pb::AccessOutcome::Allowed);
    let by_credential = list(pb::ListAccessRequest { credential_id: intake_id.clone(), ..Default::default() }).await;
    assert_eq!(by_credential.entries.len(), 3);
    assert_eq!(by_credential.entries[2].outcome(), pb::AccessOutcome::Denied);
    assert_eq!(by_credential.entries[2].reason, "no purpose given");
    let denied =
        list(pb::ListAccessRequest { credential_id: intake_id.clone(), denied_only: true, ..Default::default() }).await;
    assert_eq!(denied.entries.len(), 2);
    let by_organisation = list(pb::ListAccessRequest { organisation_id: wijkteam.clone(), ..Default::default() }).await;
    assert_eq!(by_organisation.entries.len(), 4);
    // Page by page, the same records (up to now: each page's read is recorded a second later).
    clock.advance(Duration::from_secs(1));
    let (mut paged, mut token) = (Vec::new(), String::new());
    loop {
        let page =
            pb::ListAccessRequest { page_size: 1, page_token: token, to_micros: START + 1, ..Default::default() };
        let page = list(page).await;
        paged.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let whole = list(pb::ListAccessRequest { page_size: 1000, to_micros: START + 1, ..Default::default() }).await;
    assert_eq!(paged, whole.entries);
    assert!(whole.entries.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    // A time range that holds none of them.
    let later =
        list(pb::ListAccessRequest { from_micros: START + 1, to_micros: START + 2, ..Default::default() }).await;
    assert!(later.entries.is_empty());

    // The auditor's reads are on record; the care data is not the auditor's to read.
    let audited: Vec<_> = w.access_records().await.into_iter().filter(|r| r.data == DataKind::AccessLog).collect();
    assert!(audited.len() >= 6 && audited.iter().all(|r| r.role == Role::Auditor && r.user == "auditor"));
    assert!(audited[0].subjects.contains(&subject));
    let mut as_auditor = pb::intake_client::IntakeClient::new(w.channel_with(&auditor_secret).await);
    let refused = as_auditor.get_help_request(pb::GetHelpRequestRequest { id: request }).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let bad = pb::ListAccessRequest { from_micros: 5, to_micros: 5, page_token: "nope".into(), ..Default::default() };
    let refused = audit.list_access(as_user(bad, "audit", "auditor")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_records_past_their_retention_are_redacted_and_the_chain_stays() {
    let clock = Arc::new(ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.access.retention_days = 3;
        c.access.sweep_every_secs = 1;
    })
    .await;
    let request = help_request(&node, 0).await;
    let read = pb::GetHelpRequestRequest { id: request };
    node.intake_client().await.get_help_request(read.clone()).await.unwrap();
    let before = node.access_records().await.len();
    assert_eq!(before, 2, "the submission and the read");
    clock.advance(Duration::from_secs(2 * 86_400));
    node.intake_client().await.get_help_request(read.clone()).await.unwrap();
    clock.advance(Duration::from_secs(2 * 86_400));
    // The first day's records are past three days; the second day's are not.
    let kept = eventually("the first day's records redacted", || async {
        let kept = node.access_records().await;
        (kept.len() == 1).then_some(kept)
    })
    .await;
    assert_eq!(kept[0].at_micros, START + 2 * 86_400 * 1_000_000);
    let events =
        node.log_client().await.read(pb::ReadRequest { from_seq: 1, page_size: 1000, ..Default::default() }).await;
    let recorded: Vec<_> = events
        .unwrap()
        .into_inner()
        .events
        .into_iter()
        .filter(|e| e.header.as_ref().unwrap().kind == "access.recorded")
        .collect();
    assert!(recorded.len() >= 3, "the headers stay in the chain");
    assert!(recorded[0].payload.is_none() && recorded[1].payload.is_none());
    assert!(recorded[2].payload.is_some());
}

/// Following the own log records each event sent, and those records are events of the own log
/// too: reading a record is no read of anybody's personal data, so it leaves no record of its own
/// (else one watcher would make the node write forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_of_the_own_log_does_not_feed_the_access_log_its_own_records() {
    use futures::StreamExt;
    let node = TestNode::start().await;
    let origin = node.node_id();
    let from = node.log_head().await + 1;
    let request = pb::SubscribeRequest { origin: origin.0.to_vec(), stream: String::new(), from_position: from };
    let mut watched = node.log_client().await.subscribe(request).await.unwrap().into_inner();
    let event = pb::NewEvent {
        stream: "note/1".into(),
        kind: "note.added".into(),
        payload: b"x".to_vec(),
        ..Default::default()
    };
    node.log_client().await.append(pb::AppendRequest { events: vec![event] }).await.unwrap();
    // The note, then the record of its being sent; nothing after.
    let mut kinds = Vec::new();
    while let Ok(Some(Ok(e))) = tokio::time::timeout(Duration::from_millis(800), watched.next()).await {
        kinds.push(e.header.unwrap().kind);
        assert!(kinds.len() < 10, "the watch goes on: {kinds:?}");
    }
    assert_eq!(kinds, ["note.added", "access.recorded"]);
    assert_eq!(node.log_head().await, from + 1, "one note and one access record");
}
