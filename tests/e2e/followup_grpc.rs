//! The follow-up over gRPC with a clock the test moves: the whole loop of a warm referral (submit →
//! match → accept → due → overdue → escalated → "not going well" → reopened → re-matched →
//! closed), refusals that write nothing, restarts, and the cooperation monitor's figures against
//! a scenario computed by hand.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use samenspel_domain::ManualClock;
use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_proto::v1 as pb;
use tokio::sync::mpsc;
use tonic::Code;
use tonic_types::StatusExt;

/// 2026-12-01 09:00 in the Netherlands.
const START: i64 = 1_796_112_000_000_000;
const DAY: Duration = Duration::from_secs(86_400);

async fn node_with_clock() -> (TestNode, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(START));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.followup.sweep_interval_millis = 20;
        c.matching.sweep_interval_millis = 20;
    })
    .await;
    (node, clock)
}

/// A wijkteam that refers, two volunteer organisations with an offer each for boodschappen.
struct Kaart {
    wijkteam: String,
    a: String,
    b: String,
    offer_a: String,
    offer_b: String,
}

async fn kaart(node: &TestNode) -> Kaart {
    let wijkteam = organisation(node, "Wijkteam Centrum", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let a = organisation(node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let b = organisation(node, "Buurthulp Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 CD").await;
    let offer_a = offer(node, &a, "Boodschappen Oost", "6400-6419", 5, pb::Complexity::Low).await;
    let offer_b = offer(node, &b, "Boodschappen om de hoek", "6411", 5, pb::Complexity::Low).await;
    Kaart { wijkteam, a, b, offer_a, offer_b }
}

async fn referral(node: &TestNode, match_id: &str) -> pb::Referral {
    get_referral(node, match_id).await.unwrap()
}

/// Waits until the referral has its check-ins (the follow-up schedules them on acceptance).
async fn scheduled(node: &TestNode, match_id: &str) -> pb::Referral {
    eventually("check-ins scheduled", || async {
        Some(referral(node, match_id).await).filter(|r| !r.check_ins.is_empty())
    })
    .await
}

async fn due(node: &TestNode, organisation: &str, upcoming: bool) -> Vec<pb::CheckIn> {
    let request =
        pb::ListDueRequest { organisation_id: organisation.into(), include_upcoming: upcoming, ..Default::default() };
    node.followup_client().await.list_due(request).await.unwrap().into_inner().check_ins
}

fn outcome(check_in: &str, outcome: pb::Outcome, by: pb::Respondent, contact_on: &str) -> pb::RecordOutcomeRequest {
    pb::RecordOutcomeRequest {
        check_in_id: check_in.into(),
        outcome: outcome.into(),
        answered_by: by.into(),
        notes: String::new(),
        recorded_by: "anna".into(),
        contact_on: contact_on.into(),
    }
}

async fn record(node: &TestNode, request: pb::RecordOutcomeRequest) -> Result<pb::CheckIn, tonic::Status> {
    node.followup_client().await.record_outcome(request).await.map(|r| r.into_inner())
}

async fn match_status(node: &TestNode, match_id: &str) -> pb::MatchStatus {
    get_match(node, match_id).await.unwrap().status()
}

/// Notices of the organisation's WatchDue stream, collected in the background; dropping it
/// closes the stream.
struct Notices {
    rx: mpsc::UnboundedReceiver<pb::CheckInNotice>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Notices {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn watch(node: &TestNode, organisation: &str, from: u64) -> Notices {
    let request =
        pb::WatchDueRequest { organisation_id: organisation.into(), person: String::new(), from_position: from };
    let mut stream = node.followup_client().await.watch_due(request).await.unwrap().into_inner();
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(Ok(n)) = stream.next().await {
            if tx.send(n).is_err() {
                return;
            }
        }
    });
    Notices { rx, task }
}

/// The next notice of `kind`, skipping others; panics after 20 s.
async fn next_notice(notices: &mut Notices, kind: &str) -> pb::CheckInNotice {
    let wait = async {
        loop {
            let n = notices.rx.recv().await.expect("the stream ended");
            if n.kind == kind {
                return n;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.unwrap_or_else(|_| panic!("no {kind} notice"))
}

fn day_of(micros: i64) -> String {
    samenspel_domain::LocalDate::of_micros(micros).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_referral_loop_with_a_test_clock() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let request = referred_request(&node, &k.wijkteam, "6411 AB").await;
    let mut notices = watch(&node, &k.wijkteam, 1).await;

    // Matched with organisation A, accepted: three check-ins for the wijkteam and anna.
    let first = confirm_offer(&node, &request, &k.offer_a, "anna").await;
    answer_match(&node, &first.id, &k.a, true).await;
    intake_status(&node, &request, pb::HelpRequestStatus::Matched).await;
    let r = scheduled(&node, &first.id).await;
    assert_eq!(
        (r.state(), r.referring_organisation_id.as_str(), r.receiving_organisation_id.as_str()),
        (pb::ReferralState::Active, k.wijkteam.as_str(), k.a.as_str())
    );
    let steps: Vec<(&str, String)> = r.check_ins.iter().map(|c| (c.step.as_str(), day_of(c.due_micros))).collect();
    assert_eq!(
        steps,
        [("contact", "2026-12-04".into()), ("going_well", "2026-12-15".into()), ("evaluation", "2027-01-12".into())]
    );
    assert!(r.check_ins.iter().all(|c| c.owner_organisation_id == k.wijkteam && c.owner_person == "anna"));
    assert_eq!(next_notice(&mut notices, "followup.checkins.scheduled").await.check_in.unwrap().step, "contact");
    assert!(due(&node, &k.wijkteam, false).await.is_empty(), "nothing is due on the day of the referral");
    assert_eq!(due(&node, &k.wijkteam, true).await.len(), 3);
    assert!(due(&node, &k.a, true).await.is_empty(), "the receiving organisation owns no check-ins");
    let contact = r.check_ins[0].id.clone();

    // Day 3: due; two days later overdue; a week after it became due, escalated.
    clock.advance(3 * DAY);
    let n = next_notice(&mut notices, "followup.checkin.due").await.check_in.unwrap();
    assert_eq!((n.id.as_str(), n.state()), (contact.as_str(), pb::CheckInState::Due));
    assert_eq!(
        due(&node, &k.wijkteam, false).await.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [contact.as_str()]
    );
    clock.advance(2 * DAY);
    next_notice(&mut notices, "followup.checkin.overdue").await;
    assert_eq!(due(&node, &k.wijkteam, false).await[0].state(), pb::CheckInState::Overdue);
    clock.advance(5 * DAY);
    let n = next_notice(&mut notices, "followup.checkin.escalated").await;
    assert_eq!(n.check_in.unwrap().state(), pb::CheckInState::Escalated);

    // Contact was made on the 3rd.
    let answered =
        record(&node, outcome(&contact, pb::Outcome::ContactMade, pb::Respondent::Mantelzorger, "2026-12-03"))
            .await
            .unwrap();
    assert_eq!(answered.state(), pb::CheckInState::Answered);
    assert_eq!(answered.answer.as_ref().unwrap().contact_on, "2026-12-03");
    next_notice(&mut notices, "followup.checkin.answered").await;
    assert!(due(&node, &k.wijkteam, false).await.is_empty());

    // Day 14: not going well. The referral fails, the request goes back to matching without A.
    clock.advance(4 * DAY);
    let going = r.check_ins[1].id.clone();
    next_notice(&mut notices, "followup.checkin.due").await;
    let mut not_well = outcome(&going, pb::Outcome::NotGoingWell, pb::Respondent::Client, "");
    not_well.notes = "Het klikt niet tussen vrijwilliger en cliënt".into();
    record(&node, not_well).await.unwrap();
    let cancelled = next_notice(&mut notices, "followup.referral.failed").await.check_in.unwrap();
    assert_eq!((cancelled.id.as_str(), cancelled.state()), (r.check_ins[2].id.as_str(), pb::CheckInState::Cancelled));
    let reopened = intake_status(&node, &request, pb::HelpRequestStatus::Matching).await;
    assert_eq!(reopened.status_reason, "follow-up: not going well");
    eventually("the match failed", || async {
        (match_status(&node, &first.id).await == pb::MatchStatus::Failed).then_some(())
    })
    .await;
    let failed = referral(&node, &first.id).await;
    assert_eq!((failed.state(), failed.failed_with()), (pb::ReferralState::Failed, pb::Outcome::NotGoingWell));
    let states: Vec<_> = failed.check_ins.iter().map(|c| c.state()).collect();
    assert_eq!(states, [pb::CheckInState::Answered, pb::CheckInState::Answered, pb::CheckInState::Cancelled]);
    let offered: Vec<String> = proposals(&node, &request).await.proposals.into_iter().map(|p| p.offer_id).collect();
    assert_eq!(offered, std::slice::from_ref(&k.offer_b), "the failed offer is not proposed again");

    // Re-matched with B and accepted: a new referral with its own check-ins.
    let second = confirm_offer(&node, &request, &k.offer_b, "anna").await;
    answer_match(&node, &second.id, &k.b, true).await;
    intake_status(&node, &request, pb::HelpRequestStatus::Matched).await;
    let again = scheduled(&node, &second.id).await;
    assert_eq!(day_of(again.check_ins[0].due_micros), "2026-12-18");
    clock.advance(3 * DAY);
    next_notice(&mut notices, "followup.checkin.due").await;
    record(&node, outcome(&again.check_ins[0].id, pb::Outcome::GoingWell, pb::Respondent::Volunteer, "2026-12-16"))
        .await
        .unwrap();

    // Closed: the goal was reached. The request is closed, the place freed, nothing more is due.
    let close = pb::CloseReferralRequest {
        match_id: second.id.clone(),
        category: pb::ClosureCategory::GoalReached.into(),
        notes: "Boodschappen lopen, mevrouw redt het".into(),
        closed_by: "anna".into(),
    };
    let closed = node.followup_client().await.close_referral(close).await.unwrap().into_inner();
    assert_eq!(closed.state(), pb::ReferralState::Closed);
    assert_eq!(closed.closure.as_ref().unwrap().category(), pb::ClosureCategory::GoalReached);
    let closed_request = intake_status(&node, &request, pb::HelpRequestStatus::Closed).await;
    assert_eq!(closed_request.status_reason, "follow-up: goal reached");
    eventually("the match ended", || async {
        (match_status(&node, &second.id).await == pb::MatchStatus::Ended).then_some(())
    })
    .await;
    clock.advance(60 * DAY);
    assert!(due(&node, &k.wijkteam, true).await.is_empty(), "a closed referral has nothing due");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_unknown_or_closed_check_ins_and_bad_input_are_refused_and_write_nothing() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let request = referred_request(&node, &k.wijkteam, "6411 AB").await;
    let m = confirm_offer(&node, &request, &k.offer_a, "anna").await;
    answer_match(&node, &m.id, &k.a, true).await;
    let r = scheduled(&node, &m.id).await;
    clock.advance(3 * DAY);
    let ids: Vec<String> = r.check_ins.iter().map(|c| c.id.clone()).collect();
    record(&node, outcome(&ids[0], pb::Outcome::ContactMade, pb::Respondent::Client, "")).await.unwrap();
    // Day 3: the day-14 check-in is answered early (the caregiver called); that is taken.
    let early = record(&node, outcome(&ids[1], pb::Outcome::Stopped, pb::Respondent::Client, "")).await.unwrap();
    assert_eq!(early.state(), pb::CheckInState::Answered, "an early answer is recorded");
    intake_status(&node, &request, pb::HelpRequestStatus::Matching).await;
    // The sweeper's announcements are writes too: let them settle before counting.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let head = node.log_head().await;

    let precondition =
        |s: &tonic::Status| (s.code(), s.get_details_precondition_failure().unwrap().violations[0].r#type.clone());
    let no_such = format!("{}-9", m.id);
    let unknown =
        record(&node, outcome(&no_such, pb::Outcome::GoingWell, pb::Respondent::Client, "")).await.unwrap_err();
    assert_eq!(precondition(&unknown), (Code::FailedPrecondition, "UNKNOWN_CHECK_IN".into()));
    for closed in [&ids[0], &ids[2]] {
        // Answered already; cancelled when the referral failed.
        let e = record(&node, outcome(closed, pb::Outcome::GoingWell, pb::Respondent::Client, "")).await.unwrap_err();
        assert_eq!(precondition(&e), (Code::FailedPrecondition, "CHECK_IN_CLOSED".into()), "{e:?}");
    }
    let close = |category: pb::ClosureCategory, id: &str| pb::CloseReferralRequest {
        match_id: id.into(),
        category: category.into(),
        notes: String::new(),
        closed_by: String::new(),
    };
    let mut client = node.followup_client().await;
    let e = client.close_referral(close(pb::ClosureCategory::GoalReached, &m.id)).await.unwrap_err();
    assert_eq!(precondition(&e), (Code::FailedPrecondition, "REFERRAL_NOT_ACTIVE".into()));
    let e = client.close_referral(close(pb::ClosureCategory::GoalReached, &"0".repeat(32))).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Another referral, still active, to try bad input on.
    let request2 = referred_request(&node, &k.wijkteam, "6411 CD").await;
    let m2 = confirm_offer(&node, &request2, &k.offer_b, "anna").await;
    answer_match(&node, &m2.id, &k.b, true).await;
    let open = scheduled(&node, &m2.id).await.check_ins[0].id.clone();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let head = node.log_head().await.max(head);
    let field = |s: tonic::Status| {
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        s.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect::<Vec<_>>()
    };
    let cases: Vec<(pb::RecordOutcomeRequest, Vec<&str>)> = vec![
        (outcome(&open, pb::Outcome::Unspecified, pb::Respondent::Unspecified, ""), vec!["outcome", "answered_by"]),
        (
            pb::RecordOutcomeRequest {
                notes: "x".repeat(2001),
                ..outcome(&open, pb::Outcome::GoingWell, pb::Respondent::Client, "")
            },
            vec!["notes"],
        ),
        (outcome(&open, pb::Outcome::GoingWell, pb::Respondent::Client, "2026-13-01"), vec!["contact_on"]),
        (outcome(&open, pb::Outcome::GoingWell, pb::Respondent::Client, "2027-01-01"), vec!["contact_on"]),
        (outcome(&open, pb::Outcome::GoingWell, pb::Respondent::Client, "2026-11-30"), vec!["contact_on"]),
        (outcome("", pb::Outcome::GoingWell, pb::Respondent::Client, ""), vec!["check_in_id"]),
    ];
    for (request, fields) in cases {
        assert_eq!(field(record(&node, request).await.unwrap_err()), fields);
    }
    assert_eq!(
        field(client.close_referral(close(pb::ClosureCategory::Unspecified, &m2.id)).await.unwrap_err()),
        ["category"]
    );
    let list = |org: &str, token: &str| pb::ListDueRequest {
        organisation_id: org.into(),
        page_token: token.into(),
        ..Default::default()
    };
    assert_eq!(field(client.list_due(list("", "")).await.unwrap_err()), ["organisation_id"]);
    assert_eq!(field(client.list_due(list(&k.wijkteam, "garbage")).await.unwrap_err()), ["page_token"]);
    let evaluation = |from: &str, to: &str| pb::GetEvaluationRequest { from: from.into(), to: to.into() };
    assert_eq!(field(client.get_evaluation(evaluation("1 december", "")).await.unwrap_err()), ["from"]);
    assert_eq!(field(client.get_evaluation(evaluation("2026-12-02", "2026-12-01")).await.unwrap_err()), ["to"]);
    let coverage = |region: &str, need: &str| pb::GetCoverageRequest { region: region.into(), need: need.into() };
    assert_eq!(field(client.get_coverage(coverage("64", "")).await.unwrap_err()), ["region"]);
    assert_eq!(field(client.get_coverage(coverage("1000-9999", "")).await.unwrap_err()), ["region"]);
    assert_eq!(field(client.get_coverage(coverage("6411", "tuinieren")).await.unwrap_err()), ["need"]);
    assert_eq!(node.log_head().await, head, "no refused call wrote anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_check_ins_survive_a_restart_and_the_stream_resumes_without_loss_or_duplicates() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let mut matches = Vec::new();
    for postcode in ["6411 AB", "6412 AB"] {
        let request = referred_request(&node, &k.wijkteam, postcode).await;
        let m = confirm_offer(&node, &request, &k.offer_a, "anna").await;
        answer_match(&node, &m.id, &k.a, true).await;
        scheduled(&node, &m.id).await;
        matches.push(m.id);
    }
    let mut notices = watch(&node, &k.wijkteam, 1).await;
    let mut last = 0;
    for _ in 0..6 {
        last = next_notice(&mut notices, "followup.checkins.scheduled").await.position;
    }
    let page = |token: &str| pb::ListDueRequest {
        organisation_id: k.wijkteam.clone(),
        include_upcoming: true,
        page_size: 4,
        page_token: token.into(),
        ..Default::default()
    };
    let first = node.followup_client().await.list_due(page("")).await.unwrap().into_inner();
    let second = node.followup_client().await.list_due(page(&first.next_page_token)).await.unwrap().into_inner();
    assert_eq!((first.check_ins.len(), second.check_ins.len(), second.next_page_token.as_str()), (4, 2, ""));
    let mut dues: Vec<i64> = first.check_ins.iter().chain(&second.check_ins).map(|c| c.due_micros).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "earliest first");
    dues.dedup();
    assert_eq!(dues.len(), 3, "two referrals on the same day share their due days");

    drop(notices);
    let node = node.restart().await;
    clock.advance(3 * DAY);
    let due_now = eventually("due after the restart", || async {
        let found = due(&node, &k.wijkteam, false).await;
        (found.len() == 2).then_some(found)
    })
    .await;
    assert!(due_now.iter().all(|c| c.state() == pb::CheckInState::Due && c.step == "contact"));
    // Resume from the last position seen: two "due" notices, nothing seen before again.
    let mut resumed = watch(&node, &k.wijkteam, last + 1).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let n = next_notice(&mut resumed, "followup.checkin.due").await;
        assert!(n.position > last);
        seen.push(n.check_in.unwrap().match_id);
    }
    seen.sort();
    matches.sort();
    assert_eq!(seen, matches);
    let extra = tokio::time::timeout(Duration::from_millis(300), resumed.rx.recv()).await;
    assert!(extra.is_err(), "no duplicate notices: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_answers_to_one_check_in_record_exactly_one() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let request = referred_request(&node, &k.wijkteam, "6411 AB").await;
    let m = confirm_offer(&node, &request, &k.offer_a, "anna").await;
    answer_match(&node, &m.id, &k.a, true).await;
    let check_ins = scheduled(&node, &m.id).await.check_ins;
    clock.advance(15 * DAY);
    for c in &check_ins[..2] {
        let (a, b) = tokio::join!(
            record(&node, outcome(&c.id, pb::Outcome::GoingWell, pb::Respondent::Client, "")),
            record(&node, outcome(&c.id, pb::Outcome::ContactMade, pb::Respondent::Volunteer, "")),
        );
        assert!(a.is_ok() != b.is_ok(), "exactly one answer is recorded: {a:?} {b:?}");
        let refused = a.err().or(b.err()).unwrap();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    }
}

/// Six referrals on 1 December 2026, worked out by hand:
///
/// | | from → to | answer | contact (days) | how it goes | end |
/// |---|---|---|---|---|---|
/// | r1 | W → A | accepted | 3 Dec (2) | going well | goal reached |
/// | r2 | W → A | accepted | 6 Dec (5) | going well | partly reached |
/// | r3 | W → B | declined | | | |
/// | r4 | W → A | accepted | recorded 4 Dec (3) | not going well | failed |
/// | r5 | C → B | expired | | | |
/// | r6 | C → B | accepted | recorded 4 Dec (3) | stopped | failed |
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluation_figures_equal_a_hand_computed_scenario() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let (w, a, b) = (k.wijkteam.clone(), k.a.clone(), k.b.clone());
    let c = organisation(&node, "Steunpunt Mantelzorg", pb::OrganisationKind::Mantelzorgsteunpunt, "6411 XY").await;
    let q: Vec<String> = {
        let mut q = Vec::new();
        for org in [&w, &w, &w, &c, &c] {
            q.push(referred_request(&node, org, "6411 AB").await);
        }
        q
    };
    let accept = |m: &pb::Match, org: &str| {
        let (id, org) = (m.id.clone(), org.to_string());
        let node = &node;
        async move { answer_match(node, &id, &org, true).await }
    };
    let r1 = confirm_offer(&node, &q[0], &k.offer_a, "anna").await;
    accept(&r1, &a).await;
    let r2 = confirm_offer(&node, &q[1], &k.offer_a, "anna").await;
    accept(&r2, &a).await;
    let r3 = confirm_offer(&node, &q[2], &k.offer_b, "anna").await;
    answer_match(&node, &r3.id, &b, false).await;
    let r4 = confirm_offer(&node, &q[2], &k.offer_a, "anna").await;
    accept(&r4, &a).await;
    let r5 = confirm_offer(&node, &q[3], &k.offer_b, "bert").await;
    let r6 = confirm_offer(&node, &q[4], &k.offer_b, "bert").await;
    accept(&r6, &b).await;
    let mut check_ins = Vec::new();
    for m in [&r1, &r2, &r4, &r6] {
        check_ins.push(scheduled(&node, &m.id).await.check_ins.into_iter().map(|c| c.id).collect::<Vec<_>>());
    }

    // 4 December.
    clock.advance(3 * DAY);
    let answer =
        |i: usize, step: usize, o: pb::Outcome, on: &str| outcome(&check_ins[i][step], o, pb::Respondent::Client, on);
    record(&node, answer(0, 0, pb::Outcome::ContactMade, "2026-12-03")).await.unwrap();
    record(&node, answer(1, 0, pb::Outcome::NoContactYet, "")).await.unwrap();
    record(&node, answer(2, 0, pb::Outcome::NotGoingWell, "")).await.unwrap();
    record(&node, answer(3, 0, pb::Outcome::ContactMade, "")).await.unwrap();
    // 9 December: nobody answered r5 within the week.
    clock.advance(5 * DAY);
    eventually("r5 expired", || async {
        (match_status(&node, &r5.id).await == pb::MatchStatus::Expired).then_some(())
    })
    .await;
    // 15 December.
    clock.advance(6 * DAY);
    record(&node, answer(0, 1, pb::Outcome::GoingWell, "")).await.unwrap();
    record(&node, answer(1, 1, pb::Outcome::GoingWell, "2026-12-06")).await.unwrap();
    record(&node, answer(3, 1, pb::Outcome::Stopped, "")).await.unwrap();
    for (m, category) in [(&r1, pb::ClosureCategory::GoalReached), (&r2, pb::ClosureCategory::PartlyReached)] {
        let close =
            pb::CloseReferralRequest { match_id: m.id.clone(), category: category.into(), ..Default::default() };
        node.followup_client().await.close_referral(close).await.unwrap();
    }

    let request = pb::GetEvaluationRequest { from: "2026-12-01".into(), to: "2026-12-02".into() };
    let e = node.followup_client().await.get_evaluation(request).await.unwrap().into_inner();
    let closures = |pairs: &[(pb::ClosureCategory, u32)]| {
        pairs.iter().map(|(c, n)| pb::ClosureCount { category: (*c).into(), count: *n }).collect::<Vec<_>>()
    };
    let both = closures(&[(pb::ClosureCategory::GoalReached, 1), (pb::ClosureCategory::PartlyReached, 1)]);
    let figures = |referrals,
                   accepted,
                   declined,
                   expired,
                   rate,
                   contact,
                   median,
                   progress,
                   well,
                   failed,
                   closures: &Vec<pb::ClosureCount>| pb::Figures {
        referrals,
        accepted,
        declined,
        expired,
        pending: 0,
        acceptance_rate: rate,
        with_contact: contact,
        median_days_to_first_contact: median,
        with_progress_answer: progress,
        going_well_share: well,
        failed,
        closures: closures.clone(),
    };
    let none = Vec::new();
    assert_eq!(e.total, Some(figures(6, 4, 1, 1, 4.0 / 6.0, 4, 3.0, 4, 0.5, 2, &both)));
    let by = |rows: &[pb::OrganisationFigures], org: &str| {
        rows.iter().find(|r| r.organisation_id == org).and_then(|r| r.figures.clone())
    };
    assert_eq!(by(&e.receiving, &a), Some(figures(3, 3, 0, 0, 1.0, 3, 3.0, 3, 2.0 / 3.0, 1, &both)));
    assert_eq!(by(&e.receiving, &b), Some(figures(3, 1, 1, 1, 1.0 / 3.0, 1, 3.0, 1, 0.0, 1, &none)));
    assert_eq!(by(&e.referring, &w), Some(figures(4, 3, 1, 0, 0.75, 3, 3.0, 3, 2.0 / 3.0, 1, &both)));
    assert_eq!(by(&e.referring, &c), Some(figures(2, 1, 0, 1, 0.5, 1, 3.0, 1, 0.0, 1, &none)));
    assert_eq!((e.receiving.len(), e.referring.len()), (2, 2));
    let pair = |from: &str, to: &str| {
        e.pairs
            .iter()
            .find(|p| p.referring_organisation_id == from && p.receiving_organisation_id == to)
            .and_then(|p| p.figures.clone())
    };
    assert_eq!(pair(&w, &a), Some(figures(3, 3, 0, 0, 1.0, 3, 3.0, 3, 2.0 / 3.0, 1, &both)));
    assert_eq!(pair(&w, &b), Some(figures(1, 0, 1, 0, 0.0, 0, 0.0, 0, 0.0, 0, &none)));
    assert_eq!(pair(&c, &b), Some(figures(2, 1, 0, 1, 0.5, 1, 3.0, 1, 0.0, 1, &none)));
    assert_eq!(e.pairs.len(), 3);

    let later = pb::GetEvaluationRequest { from: "2026-12-02".into(), to: String::new() };
    let e = node.followup_client().await.get_evaluation(later).await.unwrap().into_inner();
    assert_eq!(e.total.unwrap().referrals, 0, "nothing was referred after 1 December");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coverage_shows_where_open_demand_outruns_the_free_places() {
    let (node, _clock) = node_with_clock().await;
    let w = organisation(&node, "Wijkteam", pb::OrganisationKind::SociaalWijkteam, "6411 AA").await;
    let a = organisation(&node, "Vrijwilligers Oost", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 AB").await;
    let b = organisation(&node, "Buurthulp Noord", pb::OrganisationKind::Vrijwilligersorganisatie, "6411 CD").await;
    let wide = offer(&node, &a, "Boodschappen Oost", "6400-6419", 2, pb::Complexity::Low).await;
    offer(&node, &b, "Boodschappen om de hoek", "6411", 1, pb::Complexity::Low).await;
    offer(&node, &b, "Boodschappen elders", "6500-6510", 3, pb::Complexity::Low).await;
    let mut in_6411 = Vec::new();
    for _ in 0..3 {
        in_6411.push(referred_request(&node, &w, "6411 AB").await);
    }
    for _ in 0..2 {
        referred_request(&node, &w, "6413 AB").await;
    }
    // One request in 6411 is matched to the wide offer: no longer open, and one place taken.
    let m = confirm_offer(&node, &in_6411[0], &wide, "anna").await;
    answer_match(&node, &m.id, &a, true).await;
    intake_status(&node, &in_6411[0], pb::HelpRequestStatus::Matched).await;

    let request = pb::GetCoverageRequest { region: "6411-6413".into(), need: "boodschappen".into() };
    let c = node.followup_client().await.get_coverage(request).await.unwrap().into_inner();
    let row = |area: &str, open, offers, free, gap| pb::CoverageRow {
        postcode_area: area.into(),
        need: "boodschappen".into(),
        open_requests: open,
        offers,
        free_places: free,
        gap,
    };
    assert_eq!(c.rows, [row("6411", 2, 2, 2, false), row("6412", 0, 1, 1, false), row("6413", 2, 1, 1, true)]);
    assert_eq!(c.totals, [row("", 4, 2, 2, true)]);
    let all = pb::GetCoverageRequest { region: "6411-6413".into(), need: String::new() };
    let c = node.followup_client().await.get_coverage(all).await.unwrap().into_inner();
    let needs: std::collections::BTreeSet<_> = c.totals.iter().map(|t| t.need.as_str()).collect();
    assert_eq!(
        needs.into_iter().collect::<Vec<_>>(),
        ["boodschappen", "praktische-hulp"],
        "each code of the kind and its function"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiving_organisation_records_observations_that_the_check_in_owner_hears_of() {
    let (node, clock) = node_with_clock().await;
    let k = kaart(&node).await;
    let request = referred_request(&node, &k.wijkteam, "6411 AB").await;
    let mut notices = watch(&node, &k.wijkteam, 1).await;
    let first = confirm_offer(&node, &request, &k.offer_a, "anna").await;
    let observe = |outcome: pb::Outcome, contact_on: &str| pb::RecordObservationRequest {
        match_id: first.id.clone(),
        outcome: outcome.into(),
        notes: "eerste bezoek gehad".into(),
        recorded_by: "piet".into(),
        contact_on: contact_on.into(),
    };
    let mut client = node.followup_client().await;

    // Not before the organisation accepted.
    let early = client.record_observation(observe(pb::Outcome::ContactMade, "")).await.unwrap_err();
    assert_eq!(early.get_details_precondition_failure().unwrap().violations[0].r#type, "REFERRAL_NOT_ACTIVE");
    answer_match(&node, &first.id, &k.a, true).await;
    let r = scheduled(&node, &first.id).await;
    clock.advance(2 * DAY);

    // A day of contact in the future or before the referral is refused and writes nothing (the
    // sweeper may be announcing the check-in that came due meanwhile: observations are counted).
    let observations =
        || async { node.written().await.iter().filter(|e| e.header.kind.starts_with("followup.observation")).count() };
    let head = observations().await;
    for day in ["2026-12-04", "2026-11-30"] {
        let refused = client.record_observation(observe(pb::Outcome::ContactMade, day)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{day}");
        assert_eq!(refused.get_details_bad_request().unwrap().field_violations[0].field, "contact_on");
    }
    let missing = pb::RecordObservationRequest { match_id: "0".repeat(32), ..observe(pb::Outcome::GoingWell, "") };
    assert_eq!(client.record_observation(missing).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(observations().await, head, "refusals write nothing");

    let observed = client.record_observation(observe(pb::Outcome::ContactMade, "2026-12-02")).await.unwrap();
    let observed = observed.into_inner();
    assert_eq!(observed.observations.len(), 1);
    let o = &observed.observations[0];
    assert_eq!(
        (o.id.as_str(), o.organisation_id.as_str(), o.outcome(), o.contact_on.as_str()),
        (format!("{}/observation/1", first.id).as_str(), k.a.as_str(), pb::Outcome::ContactMade, "2026-12-02")
    );
    assert!(observed.owner_node_id.is_empty(), "this node's own referral");
    // The cooperation monitor counts the contact it reports: the day after the referral.
    let figures = client.get_evaluation(pb::GetEvaluationRequest::default()).await.unwrap().into_inner();
    let total = figures.total.unwrap();
    assert_eq!((total.with_contact, total.median_days_to_first_contact), (1, 1.0));

    // The wijkteam's check-in owner hears of it on the contact check-in, which stays open.
    let n = next_notice(&mut notices, "followup.observation.recorded").await;
    assert_eq!(n.observation.unwrap().notes, "eerste bezoek gehad");
    let c = n.check_in.unwrap();
    assert_eq!((c.id.as_str(), c.state()), (r.check_ins[0].id.as_str(), pb::CheckInState::Upcoming));

    // Racing observations are all kept, each under its own number.
    let racing = (0..5).map(|i| {
        let (mut client, mut request) = (client.clone(), observe(pb::Outcome::GoingWell, ""));
        request.notes = format!("bezoek {i}");
        tokio::spawn(async move { client.record_observation(request).await.map(|_| ()) })
    });
    for r in futures::future::join_all(racing).await {
        r.unwrap().unwrap();
    }
    let raced = referral(&node, &first.id).await.observations;
    let mut notes: Vec<&str> = raced[1..].iter().map(|o| o.notes.as_str()).collect();
    notes.sort();
    assert_eq!(notes, ["bezoek 0", "bezoek 1", "bezoek 2", "bezoek 3", "bezoek 4"]);
    let ids: Vec<String> = raced.iter().map(|o| o.id.clone()).collect();
    let expected: Vec<String> = (1..=6).map(|n| format!("{}/observation/{n}", first.id)).collect();
    assert_eq!(ids, expected);

    // Even a "stopped" observation leaves the decision to the referring organisation.
    let stopped = client.record_observation(observe(pb::Outcome::Stopped, "")).await.unwrap().into_inner();
    assert_eq!(stopped.state(), pb::ReferralState::Active);
    assert_eq!(stopped.observations[6].id, format!("{}/observation/7", first.id));
    assert_eq!(match_status(&node, &first.id).await, pb::MatchStatus::Accepted);

    // After the referral closes there is nothing more to observe; what was observed survives a
    // restart.
    let close = pb::CloseReferralRequest {
        match_id: first.id.clone(),
        category: pb::ClosureCategory::NotReached.into(),
        ..Default::default()
    };
    client.close_referral(close).await.unwrap();
    let late = client.record_observation(observe(pb::Outcome::GoingWell, "")).await.unwrap_err();
    assert_eq!(late.get_details_precondition_failure().unwrap().violations[0].r#type, "REFERRAL_NOT_ACTIVE");
    drop(notices);
    let node = node.restart().await;
    assert_eq!(referral(&node, &first.id).await.observations, stopped.observations);
}
