//! Who may call what, as a node enforces it: every client RPC called with every role (the role
//! matrix of ARCHITECTURE.md, which must be the one the node enforces), without a credential,
//! with a forged, revoked or expired one; the organisation scope of the roles that act for their
//! own organisation only; and the raw log, which is no way around the services.

use std::time::Duration;

use samenspel_e2e::raw;
use samenspel_e2e::wire::Protocol;
use samenspel_e2e::world::*;
use samenspel_e2e::{Authed, Bearer, Role, TestNode};
use samenspel_kit::{CLIENT_SERVICES, DataKind, MATRIX, Outcome, Scope, matrix_table, rule_of};
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

/// An organisation id the scoped credentials act for.
const ORG: &str = "0123456789abcdef0123456789abcdef";

/// Calls `path` with an empty message: refused at the edge, or taken (and then most likely
/// refused by the handler for its empty fields).
async fn call(channel: Authed, path: &str, streaming: bool) -> Result<(), tonic::Status> {
    if streaming {
        raw::open_stream(channel, path, Vec::new()).await
    } else {
        raw::unary_at(channel, path, Vec::new()).await.map(|_| ())
    }
}

fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().map(|i| i.reason).unwrap_or_default()
}

/// Every method the client port serves, and whether it answers with a stream.
fn methods() -> Vec<(String, bool)> {
    let protocol = Protocol::new();
    CLIENT_SERVICES.iter().flat_map(|s| protocol.methods(s)).map(|m| (m.path, m.server_streaming)).collect()
}

#[test]
fn the_matrix_covers_every_client_rpc_and_architecture_shows_it() {
    let served: Vec<String> = methods().into_iter().map(|(p, _)| p).collect();
    let ruled: Vec<String> = MATRIX.iter().map(|r| r.path.to_string()).collect();
    let missing: Vec<&String> = served.iter().filter(|p| !ruled.contains(p)).collect();
    let extra: Vec<&String> = ruled.iter().filter(|p| !served.contains(p)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "not in the matrix: {missing:?}; no such rpc: {extra:?}");
    let architecture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md")).unwrap();
    let table = matrix_table();
    assert!(
        architecture.contains(&table),
        "ARCHITECTURE.md's role matrix differs from the enforced one; it is:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_with_every_role_is_allowed_or_permission_denied_as_the_matrix_says_and_writes_nothing() {
    let node = TestNode::start().await;
    let written = node.written().await;
    let mut denied_personal = 0;
    let mut problems = Vec::new();
    for role in Role::ALL {
        let organisation = role.needs_organisation().then_some(ORG);
        let channel = node.channel_as(role, organisation).await;
        for (path, streaming) in methods() {
            let rule = rule_of(&path).unwrap();
            let got = call(channel.clone(), &path, streaming).await;
            match (rule.scope_of(role), got) {
                (None, Err(s)) if s.code() == Code::PermissionDenied && reason(&s) == "ROLE_NOT_ALLOWED" => {
                    denied_personal += usize::from(rule.personal.is_some());
                }
                (None, other) => problems.push(format!("{role} {path}: allowed, {other:?}")),
                (Some(_), Err(s))
                    if s.code() == Code::Unauthenticated
                        || (s.code() == Code::PermissionDenied && reason(&s) == "ROLE_NOT_ALLOWED") =>
                {
                    problems.push(format!("{role} {path}: refused, {s:?}"))
                }
                (Some(_), _) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(node.written().await, written, "no call wrote anything (empty requests are refused as invalid)");
    let refusals: Vec<_> = node
        .access_records()
        .await
        .into_iter()
        .filter(|r| matches!(&r.outcome, Outcome::Denied { reason } if reason.contains("role may not call")))
        .collect();
    assert_eq!(refusals.len(), denied_personal, "each refused personal-data call is on record");
    assert!(refusals.iter().all(|r| r.subjects.is_empty() && r.purpose.as_deref() == Some("care")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_valid_credential_every_rpc_is_unauthenticated_and_health_is_open() {
    let clock = std::sync::Arc::new(samenspel_domain::ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let plain = node.plain_channel().await;
    let forged =
        Authed::new(plain.clone(), Bearer::new(&format!("samenspel_c0123456789abcdef_{}", "0".repeat(64)), None));
    let garbage = Authed::new(plain.clone(), Bearer::new("hunter2", None));
    // Its secret with one digit changed.
    let admin = node.admin_secret().to_string();
    let last = if admin.ends_with('0') { '1' } else { '0' };
    let altered = Authed::new(plain.clone(), Bearer::new(&format!("{}{last}", &admin[..admin.len() - 1]), None));
    for (path, streaming) in methods() {
        let none = if streaming {
            raw::open_stream(plain.clone(), &path, Vec::new()).await
        } else {
            raw::unary_at(plain.clone(), &path, Vec::new()).await.map(|_| ())
        };
        let none = none.unwrap_err();
        assert_eq!((none.code(), reason(&none).as_str()), (Code::Unauthenticated, "NO_CREDENTIAL"), "{path}");
        for bad in [&forged, &garbage, &altered] {
            let s = call(bad.clone(), &path, streaming).await.unwrap_err();
            assert_eq!((s.code(), reason(&s).as_str()), (Code::Unauthenticated, "BAD_CREDENTIAL"), "{path}");
            assert!(!s.message().contains(&admin[20..]), "no secret is echoed");
        }
    }
    let health = tonic_health::pb::HealthCheckRequest { service: "samenspel.v1.Intake".into() };
    tonic_health::pb::health_client::HealthClient::new(plain).check(health).await.unwrap();

    // An expired credential is refused once the node's clock passes its end.
    let file = samenspel_node::credentials::CredentialFile::in_dir(&node.data_dir());
    let hour = 3_600_000_000;
    let (_, secret) = file.issue(None, Role::Auditor, "for an hour", Some(START + hour), START).unwrap();
    let auditor = node.channel_with(&secret).await;
    let list = "/samenspel.v1.EventLog/ListOrigins";
    eventually("the new credential taken", || async { raw::unary_at(auditor.clone(), list, Vec::new()).await.ok() })
        .await;
    clock.advance(Duration::from_secs(7200));
    let expired = raw::unary_at(auditor, list, Vec::new()).await.unwrap_err();
    assert_eq!((expired.code(), expired.message()), (Code::Unauthenticated, "the credential expired"));
}

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_for_personal_data_names_its_purpose_or_is_refused_on_record() {
    let node = TestNode::start().await;
    let request = help_request(&node, 0).await;
    let no_purpose = Authed::new(node.plain_channel().await, Bearer::new(node.admin_secret(), None));
    let mut intake = pb::intake_client::IntakeClient::new(no_purpose);
    let status = intake.get_help_request(pb::GetHelpRequestRequest { id: request.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "purpose");
    let mut unknown = tonic::Request::new(pb::GetHelpRequestRequest { id: request.clone() });
    unknown.metadata_mut().insert("purpose", "curiosity".parse().unwrap());
    assert_eq!(intake.get_help_request(unknown).await.unwrap_err().code(), Code::InvalidArgument);
    // A call without personal data needs none.
    let summary = pb::GetProposalsRequest { request_id: request.clone(), limit: 1 };
    pb::matching_client::MatchingClient::new(Authed::new(
        node.plain_channel().await,
        Bearer::new(node.admin_secret(), None),
    ))
    .get_proposals(summary)
    .await
    .unwrap();
    let records = node.access_records().await;
    let refused: Vec<_> = records.iter().filter(|r| r.rpc == "/samenspel.v1.Intake/GetHelpRequest").collect();
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| matches!(&r.outcome, Outcome::Denied { reason } if reason == "no purpose given")));
    assert_eq!((refused[0].purpose.as_deref(), refused[1].purpose.as_deref()), (None, Some("curiosity")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_editor_keeps_its_own_organisations_entries_only() {
    let node = TestNode::start().await;
    let ours =
        organisation(&node, "Vrijwilligers Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let theirs =
        organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let their_offer = offer(&node, &theirs, "Boodschappen", "6411", 2, pb::Complexity::Low).await;
    let mut editor =
        pb::directory_client::DirectoryClient::new(node.channel_as(Role::DirectoryEditor, Some(&ours)).await);
    let written = node.written().await;

    let fields = |name: &str| pb::OrganisationFields {
        name: name.into(),
        kind: pb::OrganisationKind::Vrijwilligersorganisatie.into(),
        ..Default::default()
    };
    let update = |id: &str, name: &str| pb::UpdateOrganisationRequest {
        id: id.into(),
        fields: Some(fields(name)),
        expected_version: 1,
    };
    let refused = editor.update_organisation(update(&theirs, "Overgenomen")).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "NOT_YOUR_ORGANISATION"));
    let archive = pb::ArchiveOfferRequest { id: their_offer.clone(), expected_version: 0 };
    assert_eq!(editor.archive_offer(archive).await.unwrap_err().code(), Code::PermissionDenied);
    let contact = pb::CreateContactPersonRequest {
        organisation_id: theirs.clone(),
        fields: Some(pb::ContactFields { name: "Iemand".into(), role: "coördinator".into(), ..Default::default() }),
        request_id: String::new(),
    };
    assert_eq!(editor.create_contact_person(contact).await.unwrap_err().code(), Code::PermissionDenied);
    let create = pb::CreateOrganisationRequest { fields: Some(fields("Nieuw")), request_id: String::new() };
    let refused = editor.create_organisation(create).await.unwrap_err();
    assert_eq!(reason(&refused), "ROLE_NOT_ALLOWED", "the node admin adds organisations to the kaart");
    assert_eq!(node.written().await, written, "no refused call wrote anything");

    let renamed = editor.update_organisation(update(&ours, "Vrijwilligers Noord-Heerlen")).await.unwrap().into_inner();
    assert_eq!(renamed.fields.unwrap().name, "Vrijwilligers Noord-Heerlen");
    // Everyone reads the whole kaart.
    let list = pb::ListOffersRequest { page_size: 10, ..Default::default() };
    assert_eq!(editor.list_offers(list).await.unwrap().into_inner().offers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_platform_sees_and_answers_only_the_matches_addressed_to_it() {
    let node = TestNode::start().await;
    let noord =
        organisation(&node, "Vrijwilligers Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AA").await;
    let oost =
        organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let local = offer(&node, &noord, "Boodschappen", "6411", 2, pb::Complexity::Low).await;
    let request = help_request(&node, 0).await;
    let m = confirm_offer(&node, &request, &local, "anna").await;
    let platform = |org: String| {
        let node = &node;
        async move { pb::matching_client::MatchingClient::new(node.channel_as(Role::VolunteerPlatform, Some(&org)).await) }
    };
    let (mut addressed, mut other) = (platform(noord.clone()).await, platform(oost.clone()).await);

    let get = || pb::GetMatchRequest { match_id: m.id.clone() };
    assert_eq!(addressed.get_match(get()).await.unwrap().into_inner().id, m.id);
    let refused = other.get_match(get()).await.unwrap_err();
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "NOT_YOUR_ORGANISATION"));
    let for_noord = other.accept_match(answer(&m.id, &noord)).await.unwrap_err();
    assert_eq!(reason(&for_noord), "NOT_YOUR_ORGANISATION", "it answers for its own organisation only");
    let watch = pb::WatchMatchesRequest { organisation_id: noord.clone(), from_position: 0 };
    assert_eq!(other.watch_matches(watch).await.unwrap_err().code(), Code::PermissionDenied);
    let referral = pb::GetReferralRequest { match_id: m.id.clone() };
    let mut followup =
        pb::follow_up_client::FollowUpClient::new(node.channel_as(Role::VolunteerPlatform, Some(&oost)).await);
    assert_eq!(followup.get_referral(referral).await.unwrap_err().code(), Code::PermissionDenied);
    let denials: Vec<_> = node
        .access_records()
        .await
        .into_iter()
        .filter(|r| r.organisation.as_deref() == Some(oost.as_str()) && matches!(r.outcome, Outcome::Denied { .. }))
        .collect();
    assert_eq!(denials.len(), 4, "each refusal is on record: {denials:?}");
    assert!(denials.iter().any(|r| r.data == DataKind::Referral));

    let accepted = addressed.accept_match(answer(&m.id, &noord)).await.unwrap().into_inner();
    assert_eq!(accepted.status(), pb::MatchStatus::Accepted);
    // Nor may it read the requests themselves.
    let mut intake = pb::intake_client::IntakeClient::new(node.channel_as(Role::VolunteerPlatform, Some(&noord)).await);
    let refused = intake.get_help_request(pb::GetHelpRequestRequest { id: request }).await.unwrap_err();
    assert_eq!(reason(&refused), "ROLE_NOT_ALLOWED");
    assert_eq!(MATRIX.iter().filter(|r| r.scope_of(Role::VolunteerPlatform) == Some(Scope::Own)).count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_log_takes_no_service_event_from_any_client() {
    let node = TestNode::start().await;
    let mut log = node.log_client().await;
    let forged = |kind: &str| pb::NewEvent {
        stream: "directory/organisation/ffffffffffffffffffffffffffffffff".into(),
        kind: kind.into(),
        payload: br#"{"type":"organisation_created","id":"ffffffffffffffffffffffffffffffff"}"#.to_vec(),
        audience: Some(pb::Audience { scope: pb::AudienceScope::Federation.into(), nodes: vec![] }),
        ..Default::default()
    };
    let kinds = [
        "directory.organisation.created",
        "intake.request.submitted",
        "matching.match.confirmed",
        "followup.referral.closed",
        "access.recorded",
    ];
    let events: Vec<pb::NewEvent> = kinds.iter().map(|k| forged(k)).chain([forged("test.noted")]).collect();
    let refused = log.append(pb::AppendRequest { events }).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let fields: Vec<String> =
        refused.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, (0..5).map(|i| format!("events[{i}].kind")).collect::<Vec<_>>(), "every service kind is named");
    assert!(node.written().await.is_empty(), "nothing was written, not even the event of its own kind");
    let listed = node.directory_client().await.list_organisations(pb::ListOrganisationsRequest::default()).await;
    assert!(listed.unwrap().into_inner().organisations.is_empty(), "no organisation appears in the kaart");
    // Events of other kinds are the raw log's to take, from the admin.
    log.append(pb::AppendRequest { events: vec![forged("test.noted")] }).await.unwrap();
    let coordinator = node.channel_as(Role::Coordinator, Some(ORG)).await;
    let body = prost::Message::encode_to_vec(&pb::AppendRequest { events: vec![forged("test.noted")] });
    let s = raw::unary_at(coordinator, "/samenspel.v1.EventLog/Append", body).await.unwrap_err();
    assert_eq!(s.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_credential_ends_an_open_watch_and_is_refused_at_once() {
    let node = TestNode::start().await;
    let (id, secret) = node.issue(Role::Coordinator, Some(ORG));
    let mut intake = pb::intake_client::IntakeClient::new(node.channel_with(&secret).await);
    let mut changes = intake.watch(pb::WatchHelpRequestsRequest { from_position: 0 }).await.unwrap().into_inner();
    help_request(&node, 0).await;
    let first = tokio::time::timeout(Duration::from_secs(10), changes.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.kind, "intake.request.submitted");
    let revoked_at = std::time::Instant::now();
    node.revoke(&id);
    let ended = tokio::time::timeout(Duration::from_secs(5), changes.message()).await.expect("the stream ends");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(revoked_at.elapsed() < Duration::from_secs(2), "within a second or so: {:?}", revoked_at.elapsed());
    let again = intake.get_help_request(pb::GetHelpRequestRequest { id: first.help_request.unwrap().id }).await;
    assert_eq!(again.unwrap_err().message(), "the credential was revoked");
}
