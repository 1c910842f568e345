//! Builders of a small sociale kaart and of requests for help over gRPC, and waits for what other
//! services do in answer, shared by the end-to-end tests.

use std::time::{Duration, Instant};

use samenspel_proto::v1 as pb;

use crate::TestNode;

pub async fn organisation(node: &TestNode, name: &str, kind: pb::OrganisationKind, postcode: &str) -> String {
    let fields = pb::OrganisationFields {
        name: name.into(),
        kind: kind.into(),
        address: Some(pb::Address { postcode: postcode.into(), ..Default::default() }),
        ..Default::default()
    };
    let request = pb::CreateOrganisationRequest { fields: Some(fields), request_id: String::new() };
    node.directory_client().await.create_organisation(request).await.unwrap().into_inner().id
}

pub async fn offer(node: &TestNode, org: &str, title: &str, range: &str, capacity: u32, max: pb::Complexity) -> String {
    offer_speaking(node, org, title, range, capacity, max, &[]).await
}

pub async fn offer_speaking(
    node: &TestNode,
    org: &str,
    title: &str,
    range: &str,
    capacity: u32,
    max: pb::Complexity,
    languages: &[&str],
) -> String {
    let fields = pb::OfferFields {
        languages: languages.iter().map(|l| l.to_string()).collect(),
        title: title.into(),
        support_kinds: vec!["boodschappen".into()],
        area: Some(pb::ServiceArea { postcode_ranges: vec![range.into()], ..Default::default() }),
        capacity,
        max_complexity: max.into(),
        ..Default::default()
    };
    let request =
        pb::CreateOfferRequest { organisation_id: org.into(), fields: Some(fields), request_id: String::new() };
    node.directory_client().await.create_offer(request).await.unwrap().into_inner().id
}

pub async fn help_request(node: &TestNode, csi_yes: usize) -> String {
    help_request_at(node, csi_yes, "6411 AB", &[]).await
}

pub async fn help_request_at(node: &TestNode, csi_yes: usize, postcode: &str, languages: &[&str]) -> String {
    let kinds = [pb::OrganisationKind::Vrijwilligersorganisatie, pb::OrganisationKind::Thuiszorg];
    let consent = pb::Consent {
        scopes: kinds
            .iter()
            .map(|k| pb::ConsentScope { scope: Some(pb::consent_scope::Scope::OrganisationKind((*k).into())) })
            .collect(),
        purposes: vec![pb::Purpose::Matching.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Mantelzorger.into(),
        client: Some(pb::Person { name: "Mevrouw Jansen".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: postcode.into(),
        languages: languages.iter().map(|l| l.to_string()).collect(),
        involved: vec![pb::Involved {
            person: Some(pb::Person { subject_id: "mz".into(), name: "Peter".into(), ..Default::default() }),
            role: pb::InvolvedRole::Mantelzorger.into(),
            mantelzorger_role: pb::MantelzorgerRole::Partner.into(),
            organisation_id: String::new(),
        }],
        ..Default::default()
    };
    let strain = vec![pb::StrainAssessment {
        caregiver_subject_id: "mz".into(),
        csi: (0..13).map(|i| i < csi_yes).collect(),
        ediz_plus: vec![],
    }];
    let request = pb::SubmitHelpRequestRequest {
        fields: Some(fields),
        consent: Some(consent),
        strain,
        request_id: String::new(),
    };
    node.intake_client().await.submit_help_request(request).await.unwrap().into_inner().id
}

pub async fn proposals(node: &TestNode, request_id: &str) -> pb::GetProposalsResponse {
    let request = pb::GetProposalsRequest { request_id: request_id.into(), limit: 0 };
    node.matching_client().await.get_proposals(request).await.unwrap().into_inner()
}

pub async fn confirm(node: &TestNode, request_id: &str, token: &str) -> Result<pb::Match, tonic::Status> {
    confirm_by(node, request_id, token, "coördinator").await
}

pub async fn confirm_by(node: &TestNode, request_id: &str, token: &str, by: &str) -> Result<pb::Match, tonic::Status> {
    let request =
        pb::ConfirmProposalRequest { request_id: request_id.into(), token: token.into(), confirmed_by: by.into() };
    node.matching_client().await.confirm_proposal(request).await.map(|r| r.into_inner())
}

/// Confirms the proposal of `offer_id` for the request, as `by`; panics when it is not proposed.
pub async fn confirm_offer(node: &TestNode, request_id: &str, offer_id: &str, by: &str) -> pb::Match {
    let found = proposals(node, request_id).await;
    let p = found.proposals.iter().find(|p| p.offer_id == offer_id && p.support_offer_id.is_empty());
    let p = p.unwrap_or_else(|| panic!("offer {offer_id} is not proposed: {found:?}"));
    confirm_by(node, request_id, &p.token, by).await.expect("confirm")
}

/// The receiving organisation accepts (or declines) a match.
pub async fn answer_match(node: &TestNode, match_id: &str, organisation_id: &str, accept: bool) -> pb::Match {
    let mut client = node.matching_client().await;
    let request = answer(match_id, organisation_id);
    let answered = if accept { client.accept_match(request).await } else { client.decline_match(request).await };
    answered.expect("answer").into_inner()
}

pub fn answer(match_id: &str, organisation_id: &str) -> pb::AnswerMatchRequest {
    pb::AnswerMatchRequest { match_id: match_id.into(), organisation_id: organisation_id.into(), reason: String::new() }
}

/// Waits until the intake shows the request in `status` (it follows matching's events).
pub async fn intake_status(node: &TestNode, request_id: &str, status: pb::HelpRequestStatus) -> pb::HelpRequest {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = node.intake_client().await.get_help_request(pb::GetHelpRequestRequest { id: request_id.into() }).await;
        let r = r.unwrap().into_inner();
        if r.status() == status {
            return r;
        }
        assert!(Instant::now() < deadline, "the request stayed {:?}", r.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request for boodschappen in `postcode`, asked by a professional of `asking_organisation`
/// (the referring organisation), with consent for volunteer organisations and home care.
pub async fn referred_request(node: &TestNode, asking_organisation: &str, postcode: &str) -> String {
    let kinds = [pb::OrganisationKind::Vrijwilligersorganisatie, pb::OrganisationKind::Thuiszorg];
    referred_request_for(node, asking_organisation, postcode, &kinds).await
}

/// [`referred_request`], with consent to share it with organisations of `kinds`.
pub async fn referred_request_for(
    node: &TestNode,
    asking_organisation: &str,
    postcode: &str,
    kinds: &[pb::OrganisationKind],
) -> String {
    let request = referral_submission(asking_organisation, postcode, kinds);
    node.intake_client().await.submit_help_request(request).await.unwrap().into_inner().id
}

/// The submission [`referred_request_for`] sends.
pub fn referral_submission(
    asking_organisation: &str,
    postcode: &str,
    kinds: &[pb::OrganisationKind],
) -> pb::SubmitHelpRequestRequest {
    let consent = pb::Consent {
        scopes: kinds
            .iter()
            .map(|k| pb::ConsentScope { scope: Some(pb::consent_scope::Scope::OrganisationKind((*k).into())) })
            .collect(),
        purposes: vec![pb::Purpose::Matching.into(), pb::Purpose::FollowUp.into()],
        until: "2099-12-31".into(),
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: asking_organisation.into(),
        client: Some(pb::Person { name: "Meneer De Vries".into(), ..Default::default() }),
        support_kinds: vec!["boodschappen".into()],
        postcode: postcode.into(),
        ..Default::default()
    };
    pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() }
}

/// A match as `node` shows it.
pub async fn get_match(node: &TestNode, id: &str) -> Result<pb::Match, tonic::Status> {
    node.matching_client().await.get_match(pb::GetMatchRequest { match_id: id.into() }).await.map(|r| r.into_inner())
}

/// A referral as `node`'s follow-up shows it.
pub async fn get_referral(node: &TestNode, id: &str) -> Result<pb::Referral, tonic::Status> {
    let request = pb::GetReferralRequest { match_id: id.into() };
    node.followup_client().await.get_referral(request).await.map(|r| r.into_inner())
}

/// Polls until `check` returns something, for at most 20 seconds.
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
