//! A request's timeline says which steps do not verify: a payload changed on disk fails at its
//! step, a checkpoint whose signature was changed fails every step it covers, and the other
//! steps still verify.

use std::sync::Arc;

use samenspel_audit::Timeline;
use samenspel_eventlog::conformance::{damage_checkpoint_on_disk, damage_payload_on_disk};
use samenspel_eventlog::{EventLog, LocalLog, LogConfig, NewEvent};

async fn append(log: &LocalLog, events: &[(&str, &str, &str)]) {
    let events = events.iter().map(|(s, k, p)| NewEvent::new(*s, *k, p.as_bytes().to_vec())).collect();
    log.append(events).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_payload_or_checkpoint_fails_the_steps_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), LogConfig::default()).unwrap();
    let r = "intake/request/r1";
    append(&log, &[(r, "intake.request.submitted", "{}")]).await; // seq 1
    append(&log, &[(r, "intake.request.amended", "{}"), ("other", "test.noted", "x")]).await; // 2, 3
    append(&log, &[("matching/request/r1", "matching.match.confirmed", r#"{"match_id":"m1"}"#)]).await; // 4
    append(&log, &[("followup/referral/m1", "followup.referral.closed", "{}")]).await; // 5
    let steps = Timeline::new(Arc::new(log)).of("r1").await.unwrap();
    assert_eq!(steps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 4, 5], "the request's steps, the match's too");
    assert!(steps.iter().all(|s| s.problem.is_none()), "{steps:?}");
    drop(steps);

    damage_payload_on_disk(dir.path(), 1).unwrap();
    damage_checkpoint_on_disk(dir.path(), 3).unwrap();
    let log: Arc<dyn EventLog> = Arc::new(LocalLog::open(dir.path(), LogConfig::default()).unwrap());
    let steps = Timeline::new(log).of("r1").await.unwrap();
    let problems: Vec<(u64, Option<String>)> = steps.iter().map(|s| (s.seq, s.problem.clone())).collect();
    assert_eq!(problems[0], (1, Some("the payload does not match its hash in the header".into())));
    assert_eq!(problems[1], (2, Some("the checkpoint at seq 3 is not signed by its origin".into())));
    assert_eq!(&problems[2..], [(4, None), (5, None)]);
}
