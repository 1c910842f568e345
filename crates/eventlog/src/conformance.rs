//! The conformance suite every `EventLog` backend must pass.
//!
//! A backend crate runs it with [`log_conformance_tests!`](crate::log_conformance_tests), giving
//! a factory that opens a fresh, empty log for a node key. Each case is one test, so a failure
//! names the behaviour that broke.

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::{
    Appended, Audience, Error, EventLog, EventRef, ExpectedVersion, NewEvent, NodeKey, RemoteEvent, StoredEvent,
    SubscribeFrom, Subscription, header_hash, outline_for_outsider, whole_header,
};

/// A log under test, and whatever must live as long as it (a temporary directory).
pub struct TestLog {
    pub log: Arc<dyn EventLog>,
    pub guard: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestLog").field("log", &self.log).finish_non_exhaustive()
    }
}

impl std::ops::Deref for TestLog {
    type Target = dyn EventLog;
    fn deref(&self) -> &Self::Target {
        self.log.as_ref()
    }
}

/// Opens a fresh, empty log signing with the given key.
pub type Factory = fn(NodeKey) -> TestLog;

/// Generates one `#[tokio::test]` per conformance case for a backend.
#[macro_export]
macro_rules! log_conformance_tests {
    ($factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case($factory).await;
            }
        )*
    };
    ($factory:expr) => {
        $crate::log_conformance_tests!($factory;
            appends_are_contiguous_chained_and_signed,
            expected_version_conflict_changes_nothing,
            racing_expected_versions_let_one_win,
            idempotent_retry_returns_the_original,
            batch_append_is_atomic,
            invalid_input_is_refused_with_field_paths,
            reads_by_range_and_by_stream,
            causes_must_be_known,
            subscription_catches_up_then_follows,
            concurrent_writers_and_subscribers_see_every_event_once,
            slow_subscriber_does_not_block_writers,
            ingest_stores_verified_events_of_another_origin,
            ingest_refuses_forged_and_broken_events,
            fork_is_detected_and_evidence_kept,
            redaction_keeps_the_chain_verifiable,
            close_ends_subscriptions_and_refuses_writes,
            snapshots_are_replaced_and_cannot_claim_unstored_positions,
            restore_own_takes_back_a_lost_tail_and_refuses_a_divergent_one,
            subscribe_all_delivers_every_origin_and_an_event_after_its_causes,
            outlines_keep_the_chain_and_name_nothing,
            merkle_tree_proves_every_event_and_every_older_head,
            personal_values_are_stored_in_place_without_a_sealing_layer,
        );
    };
}

fn key(n: u8) -> NodeKey {
    NodeKey::from_seed([n; 32])
}

fn ev(stream: &str, i: usize) -> NewEvent {
    NewEvent::new(stream, "test.happened", format!("payload {i}").into_bytes())
}

async fn append_one(log: &dyn EventLog, e: NewEvent) -> Appended {
    log.append(vec![e]).await.expect("append")[0]
}

async fn all(log: &dyn EventLog, origin: crate::NodeId) -> Vec<StoredEvent> {
    log.read(origin, 1, usize::MAX).await.expect("read")
}

async fn next(sub: &mut Subscription) -> Arc<StoredEvent> {
    tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("subscription stalled")
        .expect("subscription ended")
        .expect("subscription failed")
}

fn assert_chained(events: &[StoredEvent]) {
    let mut prev = crate::Hash::ZERO;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.header.seq, i as u64 + 1, "seq is contiguous from 1");
        assert_eq!(e.header.prev_hash, prev, "prev_hash chains event {}", e.header.seq);
        assert_eq!(e.hash, header_hash(&e.header_bytes));
        prev = e.hash;
    }
}

pub async fn appends_are_contiguous_chained_and_signed(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let log = log.log.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let batch: Vec<NewEvent> = (0..(i % 3 + 1)).map(|j| ev(&format!("s{t}"), j)).collect();
                log.append(batch).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = all(&*log, origin).await;
    // Batch sizes 1,2,3,1,2,3,1,2,3,1 per writer.
    assert_eq!(events.len(), 8 * 19);
    assert_chained(&events);
    let head = log.head(origin).await.unwrap();
    assert_eq!(head.seq, events.len() as u64);
    assert_eq!(head.hash, events.last().unwrap().hash);
    let cp = events.last().unwrap().checkpoint.expect("the head is signed");
    assert!(crate::verify_checkpoint(&cp));
    for e in events.iter().filter_map(|e| e.checkpoint) {
        assert!(crate::verify_checkpoint(&e));
    }
    let report = log.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.origins[0].events, events.len() as u64);
}

pub async fn expected_version_conflict_changes_nothing(f: Factory) {
    let log = f(key(1));
    let a = append_one(&*log, ev("order/1", 0).expect(ExpectedVersion::Exact(0))).await;
    assert_eq!((a.seq, a.stream_seq), (1, 1));
    let err = log.append(vec![ev("order/1", 1).expect(ExpectedVersion::Exact(0))]).await.unwrap_err();
    match err {
        Error::WrongExpectedVersion { stream, expected, actual } => {
            assert_eq!((stream.as_str(), expected, actual), ("order/1", 0, 1));
        }
        other => panic!("expected a version conflict, got {other:?}"),
    }
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 1, "a conflict appends nothing");
    let b = append_one(&*log, ev("order/1", 2).expect(ExpectedVersion::Exact(1))).await;
    assert_eq!((b.seq, b.stream_seq), (2, 2));
    let c = append_one(&*log, ev("order/2", 3).expect(ExpectedVersion::Exact(0))).await;
    assert_eq!((c.seq, c.stream_seq), (3, 1), "versions are per stream");
}

pub async fn racing_expected_versions_let_one_win(f: Factory) {
    let log = f(key(1));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let log = log.log.clone();
        tasks.push(tokio::spawn(
            async move { log.append(vec![ev("case/7", i).expect(ExpectedVersion::Exact(0))]).await },
        ));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::WrongExpectedVersion { actual: 1, .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(log.read_stream(log.node_id(), "case/7", 1, 100).await.unwrap().len(), 1);
}

pub async fn idempotent_retry_returns_the_original(f: Factory) {
    let log = f(key(1));
    let first = append_one(&*log, ev("s", 0).with_id("req-1")).await;
    assert!(!first.duplicate);
    append_one(&*log, ev("s", 1)).await;
    let retry = append_one(&*log, ev("s", 0).with_id("req-1").expect(ExpectedVersion::Exact(0))).await;
    assert_eq!((retry.seq, retry.hash, retry.duplicate), (first.seq, first.hash, true));
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 2, "a retry appends nothing");
    let reused = log.append(vec![ev("s", 99).with_id("req-1")]).await.unwrap_err();
    assert!(matches!(reused, Error::EventIdReused { seq: 1, .. }), "{reused:?}");
    // The same id twice in one batch, and concurrent retries: one event.
    let both = log.append(vec![ev("t", 5).with_id("req-2"), ev("t", 5).with_id("req-2")]).await.unwrap();
    assert_eq!(both[0].seq, both[1].seq);
    assert!(both[1].duplicate);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let log = log.log.clone();
        tasks.push(tokio::spawn(async move { log.append(vec![ev("u", 1).with_id("req-3")]).await.unwrap()[0].seq }));
    }
    let mut seqs = HashSet::new();
    for t in tasks {
        seqs.insert(t.await.unwrap());
    }
    assert_eq!(seqs.len(), 1);
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 4);
}

pub async fn batch_append_is_atomic(f: Factory) {
    let log = f(key(1));
    append_one(&*log, ev("a", 0)).await;
    let err = log
        .append(vec![ev("b", 1).with_id("x"), ev("b", 2), ev("a", 3).expect(ExpectedVersion::Exact(5))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongExpectedVersion { .. }));
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 1);
    assert!(log.read_stream(log.node_id(), "b", 1, 10).await.unwrap().is_empty());
    // The id of the refused batch is free: a retry appends for real.
    let ok = append_one(&*log, ev("b", 1).with_id("x")).await;
    assert!(!ok.duplicate);
    assert_eq!((ok.seq, ok.stream_seq), (2, 1));
}

pub async fn invalid_input_is_refused_with_field_paths(f: Factory) {
    let log = f(key(1));
    let big = NewEvent::new("s", "k", vec![0; 1024 * 1024 + 1]);
    let mut bad_trace = ev("s", 0);
    bad_trace.trace = Some("garbage".into());
    let err = log.append(vec![ev("s", 0), NewEvent::new("s", "", vec![]), big, bad_trace]).await.unwrap_err();
    let Error::Invalid(violations) = err else { panic!("expected invalid input, got {err:?}") };
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(fields, ["events[1].kind", "events[2].payload", "events[3].trace"]);
    assert!(matches!(log.append(vec![]).await, Err(Error::Invalid(_))));
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 0);
}

/// A backend with no sealing layer above it (a service's own tests) stores the values a payload
/// carries beside it in their places, whole, and counts them in the payload's size.
pub async fn personal_values_are_stored_in_place_without_a_sealing_layer(f: Factory) {
    let log = f(key(1));
    let part = |subject: &str, at: Vec<(u32, u32)>, values: &[&str]| crate::PersonalPart {
        subject: subject.into(),
        at,
        values: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
    };
    let payload = br#"{"a":"","b":[],"c":1}"#.to_vec();
    let e = NewEvent::new("s", "k", payload)
        .with_personal(vec![part("c2", vec![(12, 14)], &[r#"["x","y"]"#]), part("c1", vec![(5, 7)], &[r#""Jansen""#])]);
    append_one(&*log, e).await;
    let stored = all(&*log, log.node_id()).await;
    assert_eq!(stored[0].payload.as_ref().unwrap().data, br#"{"a":"Jansen","b":["x","y"],"c":1}"#);
    let big = NewEvent::new("s", "k", b"{}".to_vec()).with_personal(vec![part(
        "c1",
        vec![(1, 1)],
        &[&"x".repeat(1024 * 1024)],
    )]);
    let Err(Error::Invalid(violations)) = log.append(vec![big]).await else {
        panic!("an oversized payload is refused")
    };
    assert_eq!(violations[0].field, "events[0].payload");
    assert_eq!(log.head(log.node_id()).await.unwrap().seq, 1);
}

pub async fn reads_by_range_and_by_stream(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    for i in 0..30 {
        append_one(&*log, ev(if i % 3 == 0 { "x" } else { "y" }, i)).await;
    }
    let page = log.read(origin, 5, 10).await.unwrap();
    assert_eq!(page.iter().map(|e| e.header.seq).collect::<Vec<_>>(), (5..15).collect::<Vec<_>>());
    assert_eq!(page[0].payload.as_ref().unwrap().data, b"payload 4");
    assert!(log.read(origin, 31, 10).await.unwrap().is_empty());
    assert_eq!(log.read(origin, 28, 10).await.unwrap().len(), 3);
    let xs = log.read_stream(origin, "x", 1, 100).await.unwrap();
    assert_eq!(xs.len(), 10);
    assert!(xs.iter().all(|e| e.header.stream == "x"));
    assert_eq!(xs.iter().map(|e| e.header.stream_seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    let from4 = log.read_stream(origin, "x", 4, 3).await.unwrap();
    assert_eq!(from4.iter().map(|e| e.header.seq).collect::<Vec<_>>(), [10, 13, 16]);
    assert!(log.read_stream(origin, "nope", 1, 10).await.unwrap().is_empty());
    let other = key(9).node_id();
    assert!(log.read(other, 1, 10).await.unwrap().is_empty());
    assert_eq!(log.origins().await.unwrap().len(), 1);
}

pub async fn causes_must_be_known(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    let a = append_one(&*log, ev("s", 0)).await;
    let good = EventRef { origin, seq: a.seq, hash: a.hash };
    let b = append_one(&*log, ev("s", 1).with_causes(vec![good])).await;
    let stored = log.read(origin, b.seq, 1).await.unwrap();
    assert_eq!(stored[0].header.causes, vec![good]);
    let unknown = EventRef { origin, seq: 99, hash: a.hash };
    let err = log.append(vec![ev("s", 2).with_causes(vec![unknown])]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownCause { seq: 99, hash_mismatch: false, .. }), "{err:?}");
    let wrong = EventRef { hash: b.hash, ..good };
    let err = log.append(vec![ev("s", 2).with_causes(vec![wrong])]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownCause { hash_mismatch: true, .. }), "{err:?}");
    assert_eq!(log.head(origin).await.unwrap().seq, 2);
}

pub async fn subscription_catches_up_then_follows(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    for i in 0..10 {
        append_one(&*log, ev(if i % 2 == 0 { "even" } else { "odd" }, i)).await;
    }
    let mut sub = log.subscribe(SubscribeFrom::origin(origin, 4)).unwrap();
    let mut odd = log.subscribe(SubscribeFrom::stream(origin, "odd", 2)).unwrap();
    for seq in 4..=10 {
        assert_eq!(next(&mut sub).await.header.seq, seq);
    }
    for stream_seq in 2..=5 {
        assert_eq!(next(&mut odd).await.header.stream_seq, stream_seq);
    }
    for i in 10..15 {
        append_one(&*log, ev(if i % 2 == 0 { "even" } else { "odd" }, i)).await;
    }
    for seq in 11..=15 {
        let e = next(&mut sub).await;
        assert_eq!(e.header.seq, seq);
        assert!(e.payload.is_some());
    }
    for stream_seq in 6..=7 {
        let e = next(&mut odd).await;
        assert_eq!((e.header.stream.as_str(), e.header.stream_seq), ("odd", stream_seq));
    }
}

pub async fn concurrent_writers_and_subscribers_see_every_event_once(f: Factory) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 150;
    let log = f(key(1));
    let origin = log.node_id();
    let mut subs: Vec<Subscription> =
        (0..3).map(|_| log.subscribe(SubscribeFrom::origin(origin, 1)).unwrap()).collect();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let log = log.log.clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while i < PER_WRITER {
                let n = (i % 4 + 1).min(PER_WRITER - i);
                log.append((i..i + n).map(|j| ev(&format!("w{w}"), j)).collect()).await.unwrap();
                i += n;
            }
        }));
    }
    let total = (WRITERS * PER_WRITER) as u64;
    // A subscriber that joins while writers race.
    tokio::time::sleep(Duration::from_millis(5)).await;
    subs.push(log.subscribe(SubscribeFrom::origin(origin, 1)).unwrap());
    // A subscriber that drops its subscription midway and resumes from its last position.
    let resumer = {
        let log = log.log.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut sub = log.subscribe(SubscribeFrom::origin(origin, 1)).unwrap();
            while (seen.len() as u64) < total {
                let e = next(&mut sub).await;
                seen.push(e.header.seq);
                if seen.len() % 250 == 0 {
                    drop(sub);
                    sub = log.subscribe(SubscribeFrom::origin(origin, e.header.seq + 1)).unwrap();
                }
            }
            seen
        })
    };
    let mut readers = Vec::new();
    for mut sub in subs {
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while (seen.len() as u64) < total {
                seen.push(next(&mut sub).await.header.seq);
            }
            seen
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    readers.push(resumer);
    let expected: Vec<u64> = (1..=total).collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), expected, "every event exactly once, in order");
    }
    // Each writer's own events are in its stream, in the order it wrote them.
    for w in 0..WRITERS {
        let events = log.read_stream(origin, &format!("w{w}"), 1, usize::MAX).await.unwrap();
        let payloads: Vec<Vec<u8>> = events.into_iter().map(|e| e.payload.unwrap().data).collect();
        let written: Vec<Vec<u8>> = (0..PER_WRITER).map(|j| format!("payload {j}").into_bytes()).collect();
        assert_eq!(payloads, written);
    }
}

pub async fn slow_subscriber_does_not_block_writers(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    let mut idle = log.subscribe(SubscribeFrom::origin(origin, 1)).unwrap();
    let total = 3000u64;
    let writing = async {
        for chunk in 0..(total / 100) {
            log.append((0..100).map(|i| ev("s", (chunk * 100 + i) as usize)).collect()).await.unwrap();
        }
    };
    // Far more events than any subscriber buffer: writers must finish while nobody reads.
    tokio::time::timeout(Duration::from_secs(60), writing).await.expect("writers were blocked by an idle subscriber");
    for seq in 1..=total {
        assert_eq!(next(&mut idle).await.header.seq, seq);
    }
}

/// Events of `log` as another node would receive them.
async fn export(log: &dyn EventLog) -> Vec<RemoteEvent> {
    all(log, log.node_id()).await.into_iter().map(RemoteEvent::from).collect()
}

pub async fn ingest_stores_verified_events_of_another_origin(f: Factory) {
    let a = f(key(1));
    let b = f(key(2));
    for i in 0..5 {
        a.append((0..(i + 1)).map(|j| ev("s", j).with_audience(Audience::Federation)).collect()).await.unwrap();
    }
    let events = export(&*a).await;
    assert_eq!(events.len(), 15);
    // In two parts, the first ending on a checkpoint (after the second commit, seq 3).
    let first = b.ingest(events[..3].to_vec()).await.unwrap();
    assert_eq!((first.stored, first.uncovered, first.head.seq), (3, 0, 3));
    // A part whose tail is not signed stores only the covered prefix.
    let partial = b.ingest(events[3..8].to_vec()).await.unwrap();
    assert_eq!((partial.stored, partial.uncovered, partial.head.seq), (3, 2, 6));
    let rest = b.ingest(events[3..].to_vec()).await.unwrap();
    assert_eq!((rest.stored, rest.duplicates, rest.head.seq), (9, 3, 15));
    let replica = all(&*b, a.node_id()).await;
    let original = all(&*a, a.node_id()).await;
    assert_eq!(replica, original, "a replica holds the origin's exact bytes");
    // Its streams read as on the origin, by stream and by subscription.
    assert_eq!(
        b.read_stream(a.node_id(), "s", 1, usize::MAX).await.unwrap(),
        a.read_stream(a.node_id(), "s", 1, usize::MAX).await.unwrap()
    );
    let mut stream = b.subscribe(SubscribeFrom::stream(a.node_id(), "s", 15)).unwrap();
    assert_eq!(next(&mut stream).await.header.stream_seq, 15);
    let again = b.ingest(events.clone()).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 15));
    let report = b.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(b.origins().await.unwrap().len(), 1);
    // Subscribers of the replica see the ingested events.
    let mut sub = b.subscribe(SubscribeFrom::origin(a.node_id(), 14)).unwrap();
    assert_eq!(next(&mut sub).await.header.seq, 14);
    assert_eq!(next(&mut sub).await.header.seq, 15);
    append_one(&*a, ev("s", 99)).await;
    let newest = export(&*a).await.split_off(15);
    b.ingest(newest).await.unwrap();
    assert_eq!(next(&mut sub).await.header.seq, 16);
}

pub async fn ingest_refuses_forged_and_broken_events(f: Factory) {
    let a = f(key(1));
    let b = f(key(2));
    for i in 0..4 {
        append_one(&*a, ev("s", i)).await;
    }
    let events = export(&*a).await;
    let refused = |r: crate::Result<crate::IngestOutcome>| matches!(r, Err(Error::Refused { .. }));

    let mut forged = events[..1].to_vec();
    forged[0].header_bytes[60] ^= 1;
    assert!(refused(b.ingest(forged).await), "a changed header no longer matches its signature");

    let mut bad_sig = events[..1].to_vec();
    bad_sig[0].checkpoint.as_mut().unwrap().signature[10] ^= 1;
    assert!(refused(b.ingest(bad_sig).await));

    let mut bad_payload = events[..1].to_vec();
    bad_payload[0].payload.as_mut().unwrap().data.push(b'!');
    assert!(refused(b.ingest(bad_payload).await));

    let gap = vec![events[0].clone(), events[2].clone()];
    assert!(refused(b.ingest(gap).await));
    assert!(refused(b.ingest(events[2..].to_vec()).await), "events must chain onto the stored head");

    let garbage = vec![RemoteEvent { header_bytes: b"garbage".to_vec(), payload: None, checkpoint: None }];
    assert!(refused(b.ingest(garbage).await));

    // Signed by another key than the origin's.
    let mut other_key = events[..1].to_vec();
    let cp = other_key[0].checkpoint.unwrap();
    other_key[0].checkpoint =
        Some(crate::Checkpoint { origin: cp.origin, ..key(3).sign_checkpoint(cp.seq, cp.head_hash) });
    assert!(refused(b.ingest(other_key).await));

    let own = export(&*b).await;
    assert!(own.is_empty());
    append_one(&*b, ev("s", 0)).await;
    assert!(refused(b.ingest(export(&*b).await).await), "a node does not ingest its own origin");

    assert_eq!(b.head(a.node_id()).await.unwrap().seq, 0, "nothing refused was stored");
    assert_eq!(b.ingest(events).await.unwrap().stored, 4);
}

pub async fn fork_is_detected_and_evidence_kept(f: Factory) {
    // Two logs with one key: the same origin signing two histories.
    let a1 = f(key(1));
    let a2 = f(key(1));
    let b = f(key(2));
    append_one(&*a1, ev("s", 0)).await;
    append_one(&*a2, ev("s", 0)).await;
    append_one(&*a1, ev("s", 1)).await;
    append_one(&*a2, ev("other", 1)).await;
    b.ingest(export(&*a1).await).await.unwrap();
    let err = b.ingest(export(&*a2).await).await.unwrap_err();
    let origin = a1.node_id();
    assert!(matches!(err, Error::Fork { seq: 1, .. } | Error::Fork { seq: 2, .. }), "{err:?}");
    let forks = b.forks().await.unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(forks[0].origin, origin);
    assert!(forks[0].proves_fork(), "the evidence proves the fork by itself");
    append_one(&*a1, ev("s", 2)).await;
    let later = export(&*a1).await.split_off(2);
    assert!(matches!(b.ingest(later).await, Err(Error::OriginForked { .. })), "a forked origin is refused");
    assert_eq!(b.head(origin).await.unwrap().seq, 2);
    let report = b.verify().await.unwrap();
    assert!(report.is_ok());
    assert_eq!(report.forks.len(), 1);
}

pub async fn redaction_keeps_the_chain_verifiable(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    // One group commit: the redacted payload shares its storage with its neighbours.
    log.append((0..5).map(|i| ev("s", i)).collect()).await.unwrap();
    assert!(log.redact(origin, 2).await.unwrap());
    assert!(!log.redact(origin, 2).await.unwrap(), "nothing left to redact");
    assert!(matches!(log.redact(origin, 6).await, Err(Error::NotFound { seq: 6, .. })));
    let events = all(&*log, origin).await;
    assert!(events[1].payload.is_none());
    assert!(events[0].payload.is_some() && events[2].payload.is_some());
    assert_chained(&events);
    let report = log.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.origins[0].payloads, 4);
    // A redacted event still replicates: header and chain without the payload.
    let b = f(key(2));
    let outcome = b.ingest(events.into_iter().map(RemoteEvent::from).collect()).await.unwrap();
    assert_eq!(outcome.stored, 5);
    assert!(b.read(origin, 2, 1).await.unwrap()[0].payload.is_none());
}

pub async fn close_ends_subscriptions_and_refuses_writes(f: Factory) {
    let log = f(key(1));
    append_one(&*log, ev("s", 0)).await;
    let mut sub = log.subscribe(SubscribeFrom::origin(log.node_id(), 1)).unwrap();
    assert_eq!(next(&mut sub).await.header.seq, 1);
    log.close().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("subscription ended");
    assert!(end.is_none());
    assert!(matches!(log.append(vec![ev("s", 1)]).await, Err(Error::Closed)));
}

pub async fn snapshots_are_replaced_and_cannot_claim_unstored_positions(f: Factory) {
    let log = f(key(1));
    let origin = log.node_id();
    assert_eq!(log.load_snapshot("directory").await.unwrap(), None);
    for i in 0..3 {
        append_one(&*log, ev("s", i)).await;
    }
    let first = crate::Snapshot { positions: vec![(origin, 2)], data: b"state at 2".to_vec() };
    log.save_snapshot("directory", first.clone()).await.unwrap();
    assert_eq!(log.load_snapshot("directory").await.unwrap(), Some(first));
    let second = crate::Snapshot { positions: vec![(origin, 3)], data: b"state at 3".to_vec() };
    log.save_snapshot("directory", second.clone()).await.unwrap();
    assert_eq!(log.load_snapshot("directory").await.unwrap(), Some(second.clone()));
    assert_eq!(log.load_snapshot("intake").await.unwrap(), None, "snapshots are per read model");
    let ahead = crate::Snapshot { positions: vec![(origin, 4)], data: vec![] };
    let err = log.save_snapshot("directory", ahead).await.unwrap_err();
    let Error::Invalid(v) = err else { panic!("expected invalid input, got {err:?}") };
    assert_eq!(v[0].field, "positions[0]");
    let unknown = crate::Snapshot { positions: vec![(key(7).node_id(), 1)], data: vec![] };
    assert!(matches!(log.save_snapshot("directory", unknown).await, Err(Error::Invalid(_))));
    assert!(matches!(log.save_snapshot("", second.clone()).await, Err(Error::Invalid(_))));
    assert_eq!(log.load_snapshot("directory").await.unwrap(), Some(second), "a refused snapshot changes nothing");
    assert_eq!(log.head(origin).await.unwrap().seq, 3, "snapshots are no events");
    assert!(log.verify().await.unwrap().is_ok());
}

/// Flips one byte inside the stored header of `seq` of the node's own log in `dir` (the node
/// must be stopped), so tools that verify a store on disk can be tested against real damage.
pub fn damage_header_on_disk(dir: &std::path::Path, seq: u64) -> crate::Result<()> {
    use crate::store::{Key, SledStore, Store, WriteBatch};
    let key = NodeKey::load_or_create(&dir.join("node.key"))?;
    let store = SledStore::open(&dir.join("log"), 1 << 20)?;
    let origin = key.node_id();
    let prefix = Key::origin_prefix(Key::HEADER, origin);
    let (k, mut segment) =
        store.last(&prefix, &Key::at(Key::HEADER, origin, seq + 1))?.ok_or(Error::NotFound { origin, seq })?;
    // Walk the segment's `len | bytes` records to the one of `seq`, and change its kind.
    let mut at = 0;
    for _ in Key::seq_of(&k)..seq {
        at += 4 + u32::from_be_bytes(segment[at..at + 4].try_into().expect("4 bytes")) as usize;
    }
    let kind_offset = 4 + 1 + 32 + 8 + 32 + 8 + 8 + 32 + 2;
    segment[at + kind_offset] ^= 0x01;
    let mut batch = WriteBatch::default();
    batch.put(k, segment);
    store.apply(batch)?;
    store.flush()
}

/// Flips one byte of the stored payload of `seq` of the node's own log in `dir` (the node must be
/// stopped; the event must have a payload).
pub fn damage_payload_on_disk(dir: &std::path::Path, seq: u64) -> crate::Result<()> {
    use crate::store::{Key, SledStore, Store, WriteBatch};
    let origin = NodeKey::load_or_create(&dir.join("node.key"))?.node_id();
    let store = SledStore::open(&dir.join("log"), 1 << 20)?;
    let prefix = Key::origin_prefix(Key::PAYLOAD, origin);
    let (k, mut segment) =
        store.last(&prefix, &Key::at(Key::PAYLOAD, origin, seq + 1))?.ok_or(Error::NotFound { origin, seq })?;
    // Walk the segment's `len | salt | data` records (or `u32::MAX` for none) to the one of `seq`.
    let mut at = 0;
    let len = |segment: &[u8], at: usize| u32::from_be_bytes(segment[at..at + 4].try_into().expect("4 bytes"));
    for _ in Key::seq_of(&k)..seq {
        let n = len(&segment, at);
        at += 4 + if n == u32::MAX { 0 } else { 32 + n as usize };
    }
    if len(&segment, at) == u32::MAX || len(&segment, at) == 0 {
        return Err(Error::NotFound { origin, seq });
    }
    segment[at + 4 + 32] ^= 0x01;
    let mut batch = WriteBatch::default();
    batch.put(k, segment);
    store.apply(batch)?;
    store.flush()
}

/// Flips one byte of the signature of the checkpoint stored at `seq` of the node's own log.
pub fn damage_checkpoint_on_disk(dir: &std::path::Path, seq: u64) -> crate::Result<()> {
    use crate::store::{Key, SledStore, Store, WriteBatch};
    let origin = NodeKey::load_or_create(&dir.join("node.key"))?.node_id();
    let store = SledStore::open(&dir.join("log"), 1 << 20)?;
    let key = Key::at(Key::CHECKPOINT, origin, seq);
    let mut cp = store.get(&key)?.ok_or(Error::NotFound { origin, seq })?;
    cp[40] ^= 0x01;
    let mut batch = WriteBatch::default();
    batch.put(key, cp);
    store.apply(batch)?;
    store.flush()
}

/// A node restored from an old backup takes its lost events back from a peer's copy before it
/// appends; one that appended after the restore has forked and is refused.
pub async fn restore_own_takes_back_a_lost_tail_and_refuses_a_divergent_one(f: Factory) {
    let original = f(key(7));
    let events: Vec<NewEvent> = (0..10).map(|i| ev(&format!("s{}", i % 2), i).with_id(format!("id-{i}"))).collect();
    for chunk in events.chunks(3) {
        original.append(chunk.to_vec()).await.unwrap();
    }
    let copy: Vec<RemoteEvent> =
        original.read(original.node_id(), 1, 100).await.unwrap().into_iter().map(RemoteEvent::from).collect();

    let restored = f(key(7));
    // The backup held the first group; the rest comes back from the peer.
    assert_eq!(restored.restore_own(copy[..3].to_vec()).await.unwrap().stored, 3);
    let outcome = restored.restore_own(copy.clone()).await.unwrap();
    assert_eq!((outcome.stored, outcome.duplicates, outcome.head.seq), (7, 3, 10));
    let back = restored.read(restored.node_id(), 1, 100).await.unwrap();
    assert_eq!(
        back.iter().map(|e| e.hash).collect::<Vec<_>>(),
        copy.iter().map(|e| header_hash(&e.header_bytes)).collect::<Vec<_>>()
    );
    assert_eq!(restored.read_stream(restored.node_id(), "s1", 1, 100).await.unwrap().len(), 5);
    // The idempotency index came back too; appending goes on from the restored head.
    let retry = restored.append(vec![ev("s0", 0).with_id("id-0")]).await.unwrap()[0];
    assert!(retry.duplicate && retry.seq == 1);
    let next = restored.append(vec![ev("s0", 99).expect(ExpectedVersion::Exact(5))]).await.unwrap()[0];
    assert_eq!((next.seq, next.stream_seq), (11, 6));
    assert!(restored.verify().await.unwrap().is_ok());

    let forked = f(key(7));
    forked.append(vec![ev("other", 1)]).await.unwrap();
    assert!(matches!(forked.restore_own(copy.clone()).await, Err(Error::Refused { seq: 1, .. })));
    assert_eq!(forked.head(forked.node_id()).await.unwrap().seq, 1, "nothing of the refused batch was stored");
    let other = f(key(8));
    assert!(
        matches!(other.restore_own(copy).await, Err(Error::Refused { .. })),
        "another node's events are not its own"
    );
}

/// One feed of every origin: an answer that arrives before the event it answers waits for it;
/// origins that appear later join; a resumed feed starts where it was.
pub async fn subscribe_all_delivers_every_origin_and_an_event_after_its_causes(f: Factory) {
    let log = f(key(20));
    let asker = f(key(21));
    let answerer = f(key(22));
    let question = append_one(&*asker, ev("q", 1).with_audience(Audience::Federation)).await;
    answerer.ingest(export(&*asker).await).await.unwrap();
    let because = EventRef { origin: asker.node_id(), seq: question.seq, hash: question.hash };
    append_one(&*answerer, ev("a", 1).with_audience(Audience::Federation).with_causes(vec![because])).await;

    let mut feed = log.subscribe_all(Vec::new()).unwrap();
    // The answer arrives first; it waits. The node's own event does not.
    log.ingest(export(&*answerer).await).await.unwrap();
    let own = append_one(&*log, ev("own", 1)).await;
    let first = next(&mut feed).await;
    assert_eq!((first.header.origin, first.header.seq), (log.node_id(), own.seq));
    let early = tokio::time::timeout(Duration::from_millis(200), feed.next()).await;
    assert!(early.is_err(), "the answer is held until its question is there: {early:?}");
    log.ingest(export(&*asker).await).await.unwrap();
    let (q, a) = (next(&mut feed).await, next(&mut feed).await);
    assert_eq!((q.header.origin, a.header.origin), (asker.node_id(), answerer.node_id()));

    // A new origin joins; a feed resumed from the positions seen delivers only what is new.
    let late = f(key(23));
    append_one(&*late, ev("late", 1).with_audience(Audience::Federation)).await;
    log.ingest(export(&*late).await).await.unwrap();
    assert_eq!(next(&mut feed).await.header.origin, late.node_id());
    let seen = vec![(log.node_id(), 2), (asker.node_id(), 2), (answerer.node_id(), 2), (late.node_id(), 2)];
    let mut resumed = log.subscribe_all(seen).unwrap();
    append_one(&*log, ev("own", 2)).await;
    let n = next(&mut resumed).await;
    assert_eq!((n.header.origin, n.header.seq), (log.node_id(), 2));
}

/// A node outside an event's audience stores its outline: the chain, the checkpoints and fork
/// detection work on it, and it names no stream, kind, time, audience or cause.
pub async fn outlines_keep_the_chain_and_name_nothing(f: Factory) {
    let a = f(key(1));
    let origin = a.node_id();
    let b_key = key(2);
    a.append(vec![ev("public", 0).with_audience(Audience::Federation)]).await.unwrap();
    a.append(vec![
        ev("referral/secret-one", 1).with_audience(Audience::Nodes(vec![key(3).node_id()])),
        ev("referral/secret-two", 2),
    ])
    .await
    .unwrap();
    a.append(vec![ev("public", 3).with_audience(Audience::Federation)]).await.unwrap();
    let whole = export(&*a).await;
    // As node 2 receives them: events 2 and 3 are not for it.
    let seen: Vec<RemoteEvent> = whole
        .iter()
        .enumerate()
        .map(|(i, e)| match i {
            1 | 2 => RemoteEvent {
                header_bytes: outline_for_outsider(&key(1), &e.header_bytes),
                payload: None,
                checkpoint: e.checkpoint,
            },
            _ => e.clone(),
        })
        .collect();
    let b = f(b_key);
    assert_eq!(b.ingest(seen.clone()).await.unwrap().stored, 4);
    let held = all(&*b, origin).await;
    assert_chained(&held);
    assert!(held[1].header.is_withheld() && held[2].header.is_withheld());
    for e in &held[1..3] {
        assert!(e.header.stream.is_empty() && e.header.kind.is_empty() && e.header.time_micros == 0);
        assert!(e.header.causes.is_empty() && e.header.audience == Audience::Local && e.payload.is_none());
        let text = String::from_utf8_lossy(&e.header_bytes);
        assert!(!text.contains("secret") && !text.contains("test.happened"), "nothing of the body in the clear");
    }
    assert_eq!(b.read_stream(origin, "public", 1, 10).await.unwrap().len(), 2);
    assert!(b.read_stream(origin, "referral/secret-one", 1, 10).await.unwrap().is_empty());
    assert!(b.read_stream(origin, "", 1, 10).await.unwrap().is_empty(), "outlines make no stream");
    let report = b.verify().await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    let summary = report.origins.iter().find(|o| o.origin == Some(origin)).unwrap();
    assert_eq!((summary.events, summary.outlines, summary.payloads), (4, 2, 2));
    // The whole header of an event held as an outline is the same event, not a fork; and the
    // outline again is a duplicate.
    let again = b.ingest(whole.clone()).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 4));
    assert_eq!(b.ingest(seen.clone()).await.unwrap().duplicates, 4);
    assert!(b.forks().await.unwrap().is_empty());
    // An outline with a payload is refused and nothing of the batch stored.
    let c = f(key(3));
    let mut forged = seen.clone();
    forged[1].payload = whole[1].payload.clone();
    assert!(matches!(c.ingest(forged).await, Err(Error::Refused { seq: 2, .. })));
    assert_eq!(c.head(origin).await.unwrap().seq, 0);
    // A node restoring its own log takes outlines back only once opened with its own key.
    let restored = f(key(1));
    let outlines: Vec<RemoteEvent> = held.iter().cloned().map(RemoteEvent::from).collect();
    assert!(matches!(restored.restore_own(outlines.clone()).await, Err(Error::Refused { seq: 2, .. })));
    let opened: Vec<RemoteEvent> = outlines
        .into_iter()
        .map(|e| RemoteEvent { header_bytes: whole_header(&key(1), &e.header_bytes).unwrap(), ..e })
        .collect();
    assert_eq!(restored.restore_own(opened).await.unwrap().stored, 4);
    assert_eq!(restored.read_stream(origin, "referral/secret-two", 1, 10).await.unwrap().len(), 1);
    assert_eq!(
        all(&*restored, origin).await.iter().map(|e| &e.header_bytes).collect::<Vec<_>>(),
        all(&*a, origin).await.iter().map(|e| &e.header_bytes).collect::<Vec<_>>(),
        "the restored headers are the origin's exact bytes"
    );
}

/// The leaf hashes of what `log` holds of `origin`, as an auditor would compute them.
async fn leaves_of(log: &dyn EventLog, origin: crate::NodeId) -> Vec<crate::Digest> {
    all(log, origin).await.iter().map(|e| samenspel_merkle::leaf_hash(&e.hash.0)).collect()
}

fn field_of(e: Error) -> Vec<String> {
    match e {
        Error::Invalid(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

pub async fn merkle_tree_proves_every_event_and_every_older_head(f: Factory) {
    let a = f(key(1));
    let origin = a.node_id();
    // Groups of many sizes, so the tree's stored levels and the blocks below them are crossed
    // at every alignment.
    let mut i = 0;
    for group in [1, 2, 61, 1, 64, 130, 3, 70] {
        a.append((0..group).map(|j| ev(&format!("s{}", j % 3), i + j)).collect()).await.unwrap();
        i += group;
    }
    let size = i as u64;
    let leaves = leaves_of(&*a, origin).await;
    assert_eq!(leaves.len() as u64, size);
    // Another origin's log, ingested in two batches, has its own tree here.
    let b = f(key(2));
    let whole = export(&*a).await;
    let cut = 64;
    assert!(whole[cut - 1].checkpoint.is_some(), "groups of 1, 2 and 61 end at a checkpoint");
    b.ingest(whole[..cut].to_vec()).await.unwrap();
    b.ingest(whole[cut..].to_vec()).await.unwrap();
    for log in [&a, &b] {
        for n in 1..=size {
            let root = log.tree_root(origin, n).await.unwrap();
            assert_eq!(root, samenspel_merkle::root_of(&leaves[..n as usize]), "size {n}");
        }
    }
    let root = a.tree_root(origin, size).await.unwrap();
    for seq in 1..=size {
        let path = b.inclusion_proof(origin, seq, size).await.unwrap();
        assert!(path.len() <= 9, "a tree of {size} is 9 levels deep");
        samenspel_merkle::verify_inclusion(&leaves[seq as usize - 1], seq - 1, size, &path, &root).unwrap();
    }
    for old in [1, 2, 3, 63, 64, 65, 128, 129, 200, 255, 256, size - 1, size] {
        let proof = a.consistency_proof(origin, old, size).await.unwrap();
        let old_root = samenspel_merkle::root_of(&leaves[..old as usize]);
        samenspel_merkle::verify_consistency(old, size, &old_root, &root, &proof).unwrap();
    }
    // A redaction changes no leaf: the proofs survive an erasure.
    assert!(a.redact(origin, 70).await.unwrap());
    assert_eq!(a.tree_root(origin, size).await.unwrap(), root);
    // The own head, signed now; its root is the tree's.
    let sth = a.signed_tree_head().await.unwrap();
    sth.verify().unwrap();
    assert_eq!((sth.head.origin, sth.head.size, sth.head.root), (origin.0, size, root));
    let mut forged = sth.clone();
    forged.head.size -= 1;
    assert!(forged.verify().is_err(), "the signature covers the size");
    // Sizes and positions the log does not hold are named.
    assert_eq!(field_of(a.tree_root(origin, 0).await.unwrap_err()), ["tree_size"]);
    assert_eq!(field_of(a.tree_root(origin, size + 1).await.unwrap_err()), ["tree_size"]);
    assert_eq!(field_of(a.inclusion_proof(origin, size, size - 1).await.unwrap_err()), ["seq"]);
    assert_eq!(field_of(a.inclusion_proof(origin, 0, size).await.unwrap_err()), ["seq"]);
    assert_eq!(field_of(a.consistency_proof(origin, 0, size + 1).await.unwrap_err()), ["old_tree_size", "tree_size"]);
    assert_eq!(field_of(a.consistency_proof(origin, 5, 4).await.unwrap_err()), ["old_tree_size"]);
    assert_eq!(field_of(b.tree_root(key(9).node_id(), 1).await.unwrap_err()), ["tree_size"], "an origin not held");
    // A node with nothing yet signs the empty tree.
    let empty = f(key(3)).signed_tree_head().await.unwrap();
    assert_eq!((empty.head.size, empty.head.root), (0, samenspel_merkle::EMPTY_ROOT));
    empty.verify().unwrap();
}
