//! The Intake service over gRPC: need-first requests for help with their lifecycle, consent and
//! caregiver strain; idempotent submits, version checks, validation that changes nothing, and no
//! personal data in any event header.

use samenspel_e2e::TestNode;
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

/// Directory ids of organisations the requests below name (they need not exist for the intake).
const THUISZORG_WEST: &str = "7c0f4b9a2d6e4f1a8b3c5d7e9f0a1b2c";
const ORG_1: &str = "0123456789abcdef0123456789abcdef";
const VRIJWILLIGERS_OOST: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const OFFER_7: &str = "00000000000000000000000000000007";

fn person(subject_id: &str, name: &str, phone: &str, email: &str) -> Option<pb::Person> {
    Some(pb::Person {
        subject_id: subject_id.into(),
        name: name.into(),
        phone: phone.into(),
        email: email.into(),
        birth_date: String::new(),
    })
}

fn mantelzorger(subject_id: &str, name: &str) -> pb::Involved {
    pb::Involved {
        person: person(subject_id, name, "06-12345678", "mz@example.nl"),
        role: pb::InvolvedRole::Mantelzorger.into(),
        mantelzorger_role: pb::MantelzorgerRole::HelpSeeker.into(),
        organisation_id: String::new(),
    }
}

fn fields() -> pb::HelpRequestFields {
    pb::HelpRequestFields {
        asked_by: pb::Asker::Mantelzorger.into(),
        asking_organisation_id: String::new(),
        client: person("", "Mevrouw Jansen", "045 - 5712345", "jansen@example.nl"),
        support_functions: vec![],
        support_kinds: vec!["boodschappen".into(), "vervoer".into()],
        description: "Hulp bij boodschappen na de heupoperatie".into(),
        postcode: "6411ab".into(),
        urgency: pb::Urgency::Normal.into(),
        wanted_schedule: vec![pb::TimeSlot {
            day: pb::Weekday::Tuesday.into(),
            start: "10:00".into(),
            end: "12:00".into(),
        }],
        languages: vec!["nl".into()],
        involved: vec![mantelzorger("mz-1", "Peter Jansen")],
        assessed_complexity: pb::Complexity::Unspecified.into(),
    }
}

fn consent(scope: pb::consent_scope::Scope, purposes: &[pb::Purpose]) -> pb::Consent {
    pb::Consent {
        scopes: vec![pb::ConsentScope { scope: Some(scope) }],
        purposes: purposes.iter().map(|p| (*p).into()).collect(),
        until: "2099-12-31".into(),
    }
}

fn submit(f: pb::HelpRequestFields, request_id: &str) -> pb::SubmitHelpRequestRequest {
    pb::SubmitHelpRequestRequest { fields: Some(f), consent: None, strain: vec![], request_id: request_id.into() }
}

fn transition(id: &str) -> pb::TransitionRequest {
    pb::TransitionRequest { id: id.into(), reason: String::new() }
}

fn csi(yes: usize) -> Vec<bool> {
    (0..13).map(|i| i < yes).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_submitted_once_read_listed_and_survive_a_restart() {
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let first = intake.submit_help_request(submit(fields(), "vraag-1")).await.unwrap().into_inner();
    assert_eq!((first.status(), first.version), (pb::HelpRequestStatus::Submitted, 1));
    let f = first.fields.as_ref().unwrap();
    assert_eq!(f.postcode, "6411 AB", "normalised");
    assert_eq!(f.client.as_ref().unwrap().phone, "+31455712345");
    assert!(f.client.as_ref().unwrap().subject_id.starts_with("s-"), "a pseudonymous id is made up");
    assert_eq!(f.support_functions, ["praktische-hulp"], "implied by the kinds");
    assert_eq!(first.complexity(), pb::Complexity::Low);

    let written = node.written().await.len();
    let retry = intake.submit_help_request(submit(fields(), "vraag-1")).await.unwrap().into_inner();
    assert_eq!(retry, first, "a retry returns the request it created");
    assert_eq!(node.written().await.len(), written, "and appends nothing (but the read's access record)");
    let other = pb::HelpRequestFields { description: "iets anders".into(), ..fields() };
    let status = intake.submit_help_request(submit(other, "vraag-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);

    let elsewhere = pb::HelpRequestFields {
        postcode: "1012 AB".into(),
        support_kinds: vec![],
        support_functions: vec!["emotionele-steun".into()],
        ..fields()
    };
    let second = intake.submit_help_request(submit(elsewhere, "")).await.unwrap().into_inner();
    intake.start_matching(transition(&second.id)).await.unwrap();
    let list = |r: pb::ListHelpRequestsRequest| {
        let mut intake = intake.clone();
        async move { intake.list_help_requests(r).await.unwrap().into_inner() }
    };
    let ids = |r: pb::ListHelpRequestsResponse| r.help_requests.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let all = list(pb::ListHelpRequestsRequest::default()).await;
    assert_eq!(all.help_requests.len(), 2);
    let by_need = list(pb::ListHelpRequestsRequest { need: "boodschappen".into(), ..Default::default() }).await;
    assert_eq!(ids(by_need), [first.id.as_str()]);
    let by_region = list(pb::ListHelpRequestsRequest { region: "1000-1099".into(), ..Default::default() }).await;
    assert_eq!(ids(by_region), [second.id.as_str()]);
    let matching = pb::HelpRequestStatus::Matching as i32;
    let by_status = list(pb::ListHelpRequestsRequest { statuses: vec![matching], ..Default::default() }).await;
    assert_eq!(ids(by_status), [second.id.as_str()]);
    let after = second.submitted_micros;
    let recent = list(pb::ListHelpRequestsRequest { submitted_after_micros: after, ..Default::default() }).await;
    assert_eq!(ids(recent), [second.id.as_str()]);
    let page = list(pb::ListHelpRequestsRequest { page_size: 1, ..Default::default() }).await;
    assert_eq!(page.help_requests.len(), 1);
    let rest =
        list(pb::ListHelpRequestsRequest { page_size: 1, page_token: page.next_page_token, ..Default::default() });
    let rest = rest.await;
    assert_eq!(rest.help_requests.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let status = intake
        .list_help_requests(pb::ListHelpRequestsRequest {
            region: "64".into(),
            need: "tuin".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let fields: Vec<String> =
        status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
    assert_eq!(fields, ["need", "region"]);

    let node = node.restart().await;
    let mut intake = node.intake_client().await;
    let again = intake.get_help_request(pb::GetHelpRequestRequest { id: first.id.clone() }).await.unwrap().into_inner();
    assert_eq!(again, first, "the read model survives a restart");
}

/// Calls `step` and expects FAILED_PRECONDITION naming `state`, with nothing appended.
async fn refused(node: &TestNode, state: &str, step: impl Future<Output = Result<(), tonic::Status>>) {
    let head = node.log_head().await;
    let status = step.await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(status.get_details_error_info().unwrap().metadata["state"], state, "{status:?}");
    assert!(status.message().contains(state), "{}", status.message());
    assert_eq!(node.log_head().await, head, "a refused step appends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lifecycle_allows_only_its_own_steps() {
    let node = TestNode::start().await;
    let intake = node.intake_client().await;
    let id = intake.clone().submit_help_request(submit(fields(), "")).await.unwrap().into_inner().id;
    let c = || intake.clone();
    let ok = |r: Result<tonic::Response<pb::HelpRequest>, tonic::Status>| r.map(|_| ());
    let matched = |id: &str| pb::MarkMatchedRequest { id: id.into(), offer_id: OFFER_7.into() };

    refused(&node, "submitted", async { ok(c().mark_matched(matched(&id)).await) }).await;
    refused(&node, "submitted", async { ok(c().close_help_request(transition(&id)).await) }).await;
    refused(&node, "submitted", async { ok(c().reopen_help_request(transition(&id)).await) }).await;
    c().start_matching(transition(&id)).await.unwrap();
    refused(&node, "matching", async { ok(c().start_matching(transition(&id)).await) }).await;
    refused(&node, "matching", async { ok(c().close_help_request(transition(&id)).await) }).await;
    let r = c().mark_matched(matched(&id)).await.unwrap().into_inner();
    assert_eq!((r.status(), r.matched_offer_id.as_str()), (pb::HelpRequestStatus::Matched, OFFER_7));
    let reason = pb::TransitionRequest { id: id.clone(), reason: "vrijwilliger verhuisd".into() };
    let r = c().reopen_help_request(reason).await.unwrap().into_inner();
    assert_eq!((r.status(), r.status_reason.as_str()), (pb::HelpRequestStatus::Matching, "vrijwilliger verhuisd"));
    assert!(r.matched_offer_id.is_empty());
    c().mark_matched(matched(&id)).await.unwrap();
    let closed = c().close_help_request(transition(&id)).await.unwrap().into_inner();
    assert_eq!((closed.status(), closed.version), (pb::HelpRequestStatus::Closed, 6));
    for step in 0..4 {
        refused(&node, "closed", async {
            match step {
                0 => ok(c().start_matching(transition(&id)).await),
                1 => ok(c().withdraw_help_request(transition(&id)).await),
                2 => {
                    let amend =
                        pb::AmendHelpRequestRequest { id: id.clone(), fields: Some(fields()), expected_version: 6 };
                    ok(c().amend_help_request(amend).await)
                }
                _ => ok(c().reopen_help_request(transition(&id)).await),
            }
        })
        .await;
    }

    let other = c().submit_help_request(submit(fields(), "")).await.unwrap().into_inner().id;
    let withdrawn = c().withdraw_help_request(transition(&other)).await.unwrap().into_inner();
    assert_eq!(withdrawn.status(), pb::HelpRequestStatus::Withdrawn);
    refused(&node, "withdrawn", async { ok(c().start_matching(transition(&other)).await) }).await;
    let status = c().start_matching(transition("0123456789abcdef0123456789abcdef")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_amends_one_wins_and_one_gets_a_conflict() {
    let node = TestNode::start().await;
    let intake = node.intake_client().await;
    for round in 0..10 {
        let id = intake.clone().submit_help_request(submit(fields(), "")).await.unwrap().into_inner().id;
        let amend = |description: &str| {
            let mut intake = intake.clone();
            let f = pb::HelpRequestFields { description: description.into(), ..fields() };
            let request = pb::AmendHelpRequestRequest { id: id.clone(), fields: Some(f), expected_version: 1 };
            tokio::spawn(async move { intake.amend_help_request(request).await })
        };
        let (a, b) = (amend("eerste"), amend("tweede"));
        let results = [a.await.unwrap(), b.await.unwrap()];
        let won: Vec<&pb::HelpRequest> = results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.get_ref()).collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one amend wins");
        let lost = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(lost.code(), Code::Aborted, "round {round}: {lost:?}");
        let now = intake.clone().get_help_request(pb::GetHelpRequestRequest { id: id.clone() }).await.unwrap();
        let now = now.into_inner();
        assert_eq!(now.version, 2);
        assert_eq!(now.fields.unwrap().description, won[0].fields.as_ref().unwrap().description, "the winner stays");

        // Two racing lifecycle steps: one moves the request, the other is refused.
        let start = || {
            let mut intake = intake.clone();
            let id = id.clone();
            tokio::spawn(async move { intake.start_matching(transition(&id)).await })
        };
        let (a, b) = (start(), start());
        let results = [a.await.unwrap(), b.await.unwrap()];
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}");
        let code = results.iter().find_map(|r| r.as_ref().err()).unwrap().code();
        assert!(matches!(code, Code::Aborted | Code::FailedPrecondition), "round {round}: {code:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strained_mantelzorger_makes_a_request_complex_and_gets_a_request_of_their_own() {
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let mut request = submit(fields(), "");
    request.strain = vec![pb::StrainAssessment { caregiver_subject_id: "mz-1".into(), csi: csi(5), ediz_plus: vec![] }];
    let r = intake.submit_help_request(request).await.unwrap().into_inner();
    assert_eq!((r.complexity(), r.strain[0].csi_score, r.strain[0].high_strain), (pb::Complexity::Low, 5, false));
    assert!(!r.caregiver_support_suggested);

    let heavy = pb::StrainAssessment { caregiver_subject_id: "mz-1".into(), csi: csi(8), ediz_plus: vec![true; 15] };
    let r = intake.record_strain(pb::RecordStrainRequest { id: r.id.clone(), assessment: Some(heavy) }).await.unwrap();
    let r = r.into_inner();
    assert_eq!(r.complexity(), pb::Complexity::High, "high strain: never informal help alone");
    assert_eq!((r.strain.len(), r.strain[0].csi_score, r.strain[0].ediz_plus_score), (1, 8, 15));
    assert!(r.strain[0].high_strain && r.strain[0].overburdened);
    assert!(r.caregiver_support_suggested);

    let own = pb::HelpRequestFields {
        client: person("", "Peter Jansen", "", ""),
        support_kinds: vec!["respijt-aan-huis".into()],
        support_functions: vec!["emotionele-steun".into()],
        involved: vec![],
        asked_by: pb::Asker::Unspecified.into(),
        ..fields()
    };
    let open = pb::OpenCaregiverRequestRequest {
        from_id: r.id.clone(),
        caregiver_subject_id: "mz-1".into(),
        fields: Some(own),
        consent: None,
        request_id: "mz-1-steun".into(),
    };
    let linked = intake.open_caregiver_request(open.clone()).await.unwrap().into_inner();
    assert_eq!(linked.linked_from, r.id);
    let f = linked.fields.as_ref().unwrap();
    assert_eq!((f.client.as_ref().unwrap().subject_id.as_str(), f.asked_by()), ("mz-1", pb::Asker::Mantelzorger));
    assert_eq!(linked.complexity(), pb::Complexity::High, "the strain comes along");
    let retry = intake.open_caregiver_request(open).await.unwrap().into_inner();
    assert_eq!(retry.id, linked.id, "a retry opens nothing new");
    let first = intake.get_help_request(pb::GetHelpRequestRequest { id: r.id.clone() }).await.unwrap().into_inner();
    assert_eq!(first.linked_requests, [linked.id.as_str()]);
    assert!(!first.caregiver_support_suggested, "the mantelzorger has a request of their own now");

    let head = node.log_head().await;
    let cases = [
        (
            "assessment.csi",
            pb::StrainAssessment {
                caregiver_subject_id: "mz-1".into(),
                csi: csi(12)[..12].to_vec(),
                ediz_plus: vec![],
            },
        ),
        (
            "assessment.ediz_plus",
            pb::StrainAssessment { caregiver_subject_id: "mz-1".into(), csi: csi(1), ediz_plus: vec![true; 3] },
        ),
        (
            "assessment.caregiver_subject_id",
            pb::StrainAssessment { caregiver_subject_id: "nobody".into(), csi: csi(1), ediz_plus: vec![] },
        ),
    ];
    for (field, assessment) in cases {
        let status =
            intake.record_strain(pb::RecordStrainRequest { id: r.id.clone(), assessment: Some(assessment) }).await;
        let status = status.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, field);
    }
    assert_eq!(node.log_head().await, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_decides_what_is_shared_and_withdrawing_it_stops_all_sharing() {
    use pb::consent_scope::Scope;
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let volunteers = pb::OrganisationKind::Vrijwilligersorganisatie as i32;
    let mut request = submit(fields(), "");
    request.consent = Some(consent(Scope::OrganisationKind(volunteers), &[pb::Purpose::Matching]));
    let r = intake.submit_help_request(request).await.unwrap().into_inner();
    let asking = intake.clone();
    let ask = |organisation_id: &str, kind: pb::OrganisationKind, purpose: pb::Purpose| {
        let mut intake = asking.clone();
        let request = pb::GetShareableSummaryRequest {
            id: r.id.clone(),
            organisation_id: organisation_id.into(),
            organisation_kind: kind.into(),
            purpose: purpose.into(),
        };
        async move { intake.get_shareable_summary(request).await.map(|s| s.into_inner()) }
    };
    let summary = ask(VRIJWILLIGERS_OOST, pb::OrganisationKind::Vrijwilligersorganisatie, pb::Purpose::Matching);
    let summary = summary.await.unwrap();
    assert_eq!(summary.postcode_area, "6411", "only the 4-digit area");
    assert_eq!(summary.support_kinds, ["boodschappen", "vervoer"]);
    assert_eq!((summary.languages.len(), summary.wanted_schedule.len()), (1, 1));
    for (org, kind, purpose) in [
        (VRIJWILLIGERS_OOST, pb::OrganisationKind::Vrijwilligersorganisatie, pb::Purpose::Evaluation),
        (THUISZORG_WEST, pb::OrganisationKind::Thuiszorg, pb::Purpose::Matching),
    ] {
        let status = ask(org, kind, purpose).await.unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{org} {purpose:?}");
        assert_eq!(status.get_details_precondition_failure().unwrap().violations[0].r#type, "CONSENT");
    }

    let one_org =
        consent(Scope::OrganisationId(THUISZORG_WEST.into()), &[pb::Purpose::Matching, pb::Purpose::FollowUp]);
    let changed = pb::ChangeConsentRequest { id: r.id.clone(), consent: Some(one_org) };
    let r2 = intake.change_consent(changed).await.unwrap().into_inner();
    assert_eq!(r2.consent.as_ref().unwrap().purposes.len(), 2);
    ask(THUISZORG_WEST, pb::OrganisationKind::Thuiszorg, pb::Purpose::FollowUp).await.unwrap();
    let status = ask(VRIJWILLIGERS_OOST, pb::OrganisationKind::Vrijwilligersorganisatie, pb::Purpose::Matching);
    assert_eq!(status.await.unwrap_err().code(), Code::FailedPrecondition, "the old scope is gone");

    let withdrawn =
        intake.withdraw_consent(pb::WithdrawConsentRequest { id: r.id.clone() }).await.unwrap().into_inner();
    assert!(withdrawn.consent_withdrawn);
    let status = ask(THUISZORG_WEST, pb::OrganisationKind::Thuiszorg, pb::Purpose::FollowUp).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("withdrawn"), "{}", status.message());

    let no_consent = intake.submit_help_request(submit(fields(), "")).await.unwrap().into_inner();
    let request = pb::GetShareableSummaryRequest {
        id: no_consent.id,
        organisation_id: THUISZORG_WEST.into(),
        organisation_kind: 0,
        purpose: pb::Purpose::Matching.into(),
    };
    assert_eq!(intake.get_shareable_summary(request).await.unwrap_err().code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_every_field_and_appends_nothing() {
    use pb::consent_scope::Scope;
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let head = node.log_head().await;
    let slot = |day: pb::Weekday, start: &str, end: &str| pb::TimeSlot {
        day: day.into(),
        start: start.into(),
        end: end.into(),
    };
    let good_consent = || consent(Scope::OrganisationId(ORG_1.into()), &[pb::Purpose::Matching]);
    let mut cases: Vec<(&str, pb::SubmitHelpRequestRequest)> = vec![
        ("fields.support_functions", submit(pb::HelpRequestFields { support_kinds: vec![], ..fields() }, "")),
        (
            "fields.support_kinds[0]",
            submit(pb::HelpRequestFields { support_kinds: vec!["tuinieren".into()], ..fields() }, ""),
        ),
        ("fields.postcode", submit(pb::HelpRequestFields { postcode: "64111".into(), ..fields() }, "")),
        ("fields.asked_by", submit(pb::HelpRequestFields { asked_by: 9, ..fields() }, "")),
        (
            "fields.asking_organisation_id",
            submit(pb::HelpRequestFields { asked_by: pb::Asker::Professional.into(), ..fields() }, ""),
        ),
        ("fields.client.name", submit(pb::HelpRequestFields { client: person("", " ", "", ""), ..fields() }, "")),
        ("fields.client.phone", submit(pb::HelpRequestFields { client: person("", "A", "12345", ""), ..fields() }, "")),
        (
            "fields.client.subject_id",
            submit(pb::HelpRequestFields { client: person("Jan Jansen 1950", "A", "", ""), ..fields() }, ""),
        ),
        ("fields.languages[0]", submit(pb::HelpRequestFields { languages: vec!["nederlands".into()], ..fields() }, "")),
        (
            "fields.wanted_schedule[1]",
            submit(
                pb::HelpRequestFields {
                    wanted_schedule: vec![
                        slot(pb::Weekday::Monday, "09:00", "12:00"),
                        slot(pb::Weekday::Monday, "11:00", "13:00"),
                    ],
                    ..fields()
                },
                "",
            ),
        ),
        (
            "fields.wanted_schedule[0].start",
            submit(
                pb::HelpRequestFields {
                    wanted_schedule: vec![slot(pb::Weekday::Monday, "25:00", "26:00")],
                    ..fields()
                },
                "",
            ),
        ),
        (
            "fields.involved[0].mantelzorger_role",
            submit(
                pb::HelpRequestFields {
                    involved: vec![pb::Involved { mantelzorger_role: 0, ..mantelzorger("mz-1", "Peter") }],
                    ..fields()
                },
                "",
            ),
        ),
        (
            "fields.involved[0].role",
            submit(
                pb::HelpRequestFields {
                    involved: vec![pb::Involved { role: 0, ..mantelzorger("mz-1", "P") }],
                    ..fields()
                },
                "",
            ),
        ),
        ("fields", pb::SubmitHelpRequestRequest::default()),
    ];
    let with = |f: &dyn Fn(&mut pb::SubmitHelpRequestRequest)| {
        let mut r = submit(fields(), "");
        f(&mut r);
        r
    };
    cases.push(("consent.scopes", with(&|r| r.consent = Some(pb::Consent { scopes: vec![], ..good_consent() }))));
    cases.push(("consent.purposes", with(&|r| r.consent = Some(pb::Consent { purposes: vec![], ..good_consent() }))));
    cases.push((
        "consent.until",
        with(&|r| r.consent = Some(pb::Consent { until: "2020-01-01".into(), ..good_consent() })),
    ));
    cases.push((
        "consent.until",
        with(&|r| r.consent = Some(pb::Consent { until: "31-12-2099".into(), ..good_consent() })),
    ));
    cases.push((
        "consent.scopes[0]",
        with(&|r| r.consent = Some(pb::Consent { scopes: vec![pb::ConsentScope { scope: None }], ..good_consent() })),
    ));
    cases.push((
        "strain[0].csi",
        with(&|r| {
            r.strain = vec![pb::StrainAssessment {
                caregiver_subject_id: "mz-1".into(),
                csi: vec![true; 14],
                ediz_plus: vec![],
            }]
        }),
    ));
    cases.push(("request_id", with(&|r| r.request_id = "met spatie".into())));
    for (field, request) in cases {
        let status = intake.submit_help_request(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let fields: Vec<String> =
            status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
        assert_eq!(fields[0], field, "{fields:?}");
    }
    let garbage =
        samenspel_e2e::raw::unary(node.channel().await, "/samenspel.v1.Intake/SubmitHelpRequest", vec![0xff; 7]);
    let status = garbage.await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(node.log_head().await, head, "no refused request wrote anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_field_is_ever_in_an_event_header() {
    use pb::consent_scope::Scope;
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let mut request = submit(fields(), "aanvraag-met-naam");
    request.consent = Some(consent(Scope::OrganisationId(ORG_1.into()), &[pb::Purpose::Matching]));
    request.strain = vec![pb::StrainAssessment { caregiver_subject_id: "mz-1".into(), csi: csi(9), ediz_plus: vec![] }];
    let r = intake.submit_help_request(request).await.unwrap().into_inner();
    let amended = pb::HelpRequestFields { description: "Ook hulp bij de administratie".into(), ..fields() };
    let amend = pb::AmendHelpRequestRequest { id: r.id.clone(), fields: Some(amended), expected_version: 1 };
    intake.amend_help_request(amend).await.unwrap();
    let own = pb::HelpRequestFields { client: person("", "Peter Jansen", "", ""), involved: vec![], ..fields() };
    let open = pb::OpenCaregiverRequestRequest {
        from_id: r.id.clone(),
        caregiver_subject_id: "mz-1".into(),
        fields: Some(own),
        consent: None,
        request_id: String::new(),
    };
    intake.open_caregiver_request(open).await.unwrap();
    intake.withdraw_consent(pb::WithdrawConsentRequest { id: r.id.clone() }).await.unwrap();

    let personal = [
        "Jansen",
        "Peter",
        "+31455712345",
        "+31612345678",
        "jansen@example.nl",
        "mz@example.nl",
        "heupoperatie",
        "administratie",
        "6411",
        "mz-1",
        "aanvraag-met-naam",
    ];
    let events =
        node.log_client().await.read(pb::ReadRequest { from_seq: 1, page_size: 100, ..Default::default() }).await;
    let mut events = events.unwrap().into_inner().events;
    // Beside the requests' events, the access records of the calls that handed them out: no
    // personal field in those either.
    let (written, events): (Vec<_>, Vec<_>) =
        events.drain(..).partition(|e| e.header.as_ref().unwrap().kind == samenspel_kit::WRITTEN);
    // The records of who wrote the events name the call, never whom it was about.
    assert!(!written.is_empty());
    for r in &written {
        let text = String::from_utf8_lossy(&r.payload.as_ref().unwrap().data).into_owned();
        for word in personal {
            assert!(!text.contains(word), "{word} in a record of who wrote: {text}");
        }
        assert_eq!(r.header.as_ref().unwrap().audience.as_ref().unwrap().scope(), pb::AudienceScope::Local);
    }
    let (records, requests): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e.header.as_ref().unwrap().kind == "access.recorded");
    assert!(!records.is_empty());
    for r in &records {
        let text = String::from_utf8_lossy(&r.payload.as_ref().unwrap().data).into_owned();
        // A subject id (mz-1) is what a record names; a name, number or address never.
        for word in personal.iter().filter(|w| !matches!(**w, "mz-1" | "6411")) {
            assert!(!text.contains(word), "{word} in an access record: {text}");
        }
        assert!(text.contains("mz-1") || text.contains("request/"), "{text}");
        assert!(!r.header_bytes.windows(4).any(|w| w == b"mz-1"), "subjects are in the payload only");
    }
    let events = requests;
    assert_eq!(events.len(), 5);
    for e in &events {
        let header = e.header.as_ref().unwrap();
        assert!(header.kind.starts_with("intake.request."));
        assert_eq!(header.audience.as_ref().unwrap().scope(), pb::AudienceScope::Local, "personal data stays here");
        for word in personal {
            let found = e.header_bytes.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()));
            assert!(!found, "{word:?} is in the header of {}", header.kind);
        }
    }
    // The raw log hands out payloads as stored: names sealed under their subjects' keys, the
    // codes the matching needs readable.
    let payloads: Vec<Vec<u8>> = events.iter().map(|e| e.payload.clone().unwrap_or_default().data).collect();
    assert!(!payloads.concat().windows(6).any(|w| w == b"Jansen"), "names are sealed in the stored payloads");
    assert!(payloads.iter().any(|p| p.ends_with(b"\0ss1")), "sealed values follow the clear JSON, marked as such");
    for p in &payloads {
        let clear: serde_json::Value =
            serde_json::from_slice(samenspel_kit::clear_of(p)).expect("the clear part is JSON");
        assert!(clear.is_object());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_every_change_and_resumes_from_a_position() {
    let node = TestNode::start().await;
    let mut intake = node.intake_client().await;
    let mut changes = intake.watch(pb::WatchHelpRequestsRequest { from_position: 0 }).await.unwrap().into_inner();
    let r = intake.submit_help_request(submit(fields(), "")).await.unwrap().into_inner();
    intake.start_matching(transition(&r.id)).await.unwrap();
    let first = changes.message().await.unwrap().unwrap();
    assert_eq!((first.position, first.kind.as_str()), (1, "intake.request.submitted"));
    let second = changes.message().await.unwrap().unwrap();
    assert_eq!(second.kind, "intake.request.matching_started");
    assert_eq!(second.help_request.unwrap().status(), pb::HelpRequestStatus::Matching);
    drop(changes);

    intake.withdraw_help_request(transition(&r.id)).await.unwrap();
    // Resumed after the second change: the withdrawal, later in the log than the access records
    // of the reads before it.
    let from_position = second.position + 1;
    let mut resumed = intake.watch(pb::WatchHelpRequestsRequest { from_position }).await.unwrap().into_inner();
    let third = resumed.message().await.unwrap().unwrap();
    assert_eq!(third.kind.as_str(), "intake.request.withdrawn");
    assert!(third.position > second.position);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_lapses_after_its_last_day_by_the_nodes_clock() {
    use pb::consent_scope::Scope;
    // 2026-12-01 09:00 in the Netherlands.
    let clock = std::sync::Arc::new(samenspel_domain::ManualClock::at(1_796_112_000_000_000));
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let mut intake = node.intake_client().await;
    let volunteers = pb::OrganisationKind::Vrijwilligersorganisatie as i32;
    let mut request = submit(fields(), "");
    request.consent = Some(pb::Consent {
        until: "2026-12-10".into(),
        ..consent(Scope::OrganisationKind(volunteers), &[pb::Purpose::Matching])
    });
    let r = intake.submit_help_request(request).await.unwrap().into_inner();
    let ask = pb::GetShareableSummaryRequest {
        id: r.id.clone(),
        organisation_id: VRIJWILLIGERS_OOST.into(),
        organisation_kind: volunteers,
        purpose: pb::Purpose::Matching.into(),
    };
    // Through its last day (Dutch time), not a moment after.
    clock.advance(std::time::Duration::from_secs(9 * 86_400 + 14 * 3600));
    intake.get_shareable_summary(ask.clone()).await.unwrap();
    clock.advance(std::time::Duration::from_secs(3600));
    let lapsed = intake.get_shareable_summary(ask).await.unwrap_err();
    assert_eq!(lapsed.get_details_precondition_failure().unwrap().violations[0].r#type, "CONSENT");
    // A new consent must reach past today.
    let stale = pb::Consent {
        until: "2026-12-10".into(),
        ..consent(Scope::OrganisationKind(volunteers), &[pb::Purpose::Matching])
    };
    let changed = intake.change_consent(pb::ChangeConsentRequest { id: r.id, consent: Some(stale) }).await.unwrap_err();
    assert_eq!(changed.get_details_bad_request().unwrap().field_violations[0].field, "consent.until");
}
