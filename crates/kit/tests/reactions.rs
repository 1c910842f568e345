//! A reaction under faults: its appends fail with storage errors and lose races with another
//! writer of the stream it answers on, and it is stopped and started again midway. Every event is
//! answered exactly once: the reactor never moves past an event it has not answered, and a
//! decision lost to a racing writer is made again on what won.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use samenspel_eventlog::{
    Appended, Error, EventLog, ExpectedVersion, FieldViolation, ForkEvidence, Head, IngestOutcome, LocalLog, LogConfig,
    NewEvent, NodeId, NodeKey, RemoteEvent, Result, Snapshot, StoredEvent, SubscribeFrom, Subscription, VerifyReport,
};
use samenspel_kit::{Decided, Feed, Projection, ProjectionReader, Reaction, Runtime, decide_and_append};

/// A log whose appends fail now and then: every `fail_every`-th append is refused with a
/// storage error before anything is written.
#[derive(Debug)]
struct Faulty {
    inner: LocalLog,
    appends: AtomicU64,
    fail_every: u64,
    failed: AtomicU64,
}

#[async_trait]
impl EventLog for Faulty {
    fn node_id(&self) -> NodeId {
        self.inner.node_id()
    }
    fn check(&self, events: &[NewEvent]) -> Vec<FieldViolation> {
        self.inner.check(events)
    }
    async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        let n = self.appends.fetch_add(1, Ordering::Relaxed) + 1;
        let answering = events.iter().any(|e| e.kind == "test.answered");
        if answering && n.is_multiple_of(self.fail_every) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Storage("injected: the disk said no".into()));
        }
        self.inner.append(events).await
    }
    async fn read(&self, origin: NodeId, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.inner.read(origin, from_seq, limit).await
    }
    async fn read_stream(&self, origin: NodeId, stream: &str, from: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.inner.read_stream(origin, stream, from, limit).await
    }
    fn subscribe(&self, from: SubscribeFrom) -> Result<Subscription> {
        self.inner.subscribe(from)
    }
    fn subscribe_all(&self, from: Vec<(NodeId, u64)>) -> Result<Subscription> {
        self.inner.subscribe_all(from)
    }
    async fn head(&self, origin: NodeId) -> Result<Head> {
        self.inner.head(origin).await
    }
    async fn origins(&self) -> Result<Vec<(NodeId, Head)>> {
        self.inner.origins().await
    }
    async fn ingest(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.inner.ingest(events).await
    }
    async fn restore_own(&self, events: Vec<RemoteEvent>) -> Result<IngestOutcome> {
        self.inner.restore_own(events).await
    }
    async fn forks(&self) -> Result<Vec<ForkEvidence>> {
        self.inner.forks().await
    }
    async fn redact(&self, origin: NodeId, seq: u64) -> Result<bool> {
        self.inner.redact(origin, seq).await
    }
    async fn save_snapshot(&self, name: &str, snapshot: Snapshot) -> Result<()> {
        self.inner.save_snapshot(name, snapshot).await
    }
    async fn load_snapshot(&self, name: &str) -> Result<Option<Snapshot>> {
        self.inner.load_snapshot(name).await
    }
    async fn tree_root(&self, origin: NodeId, size: u64) -> Result<samenspel_eventlog::Digest> {
        self.inner.tree_root(origin, size).await
    }

    async fn inclusion_proof(&self, origin: NodeId, seq: u64, size: u64) -> Result<Vec<samenspel_eventlog::Digest>> {
        self.inner.inclusion_proof(origin, seq, size).await
    }

    async fn consistency_proof(&self, origin: NodeId, old: u64, new: u64) -> Result<Vec<samenspel_eventlog::Digest>> {
        self.inner.consistency_proof(origin, old, new).await
    }

    async fn signed_tree_head(&self) -> Result<samenspel_eventlog::SignedTreeHead> {
        self.inner.signed_tree_head().await
    }

    async fn verify(&self) -> Result<VerifyReport> {
        self.inner.verify().await
    }
    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}

/// The answers stream: its version, and how often each question was answered.
#[derive(Debug, Default)]
struct Answers {
    version: u64,
    answered: BTreeMap<String, u32>,
}

impl Projection for Answers {
    fn apply(&mut self, event: &StoredEvent) {
        if event.header.stream == "answers" {
            self.version = event.header.stream_seq;
        }
        if event.header.kind == "test.answered"
            && let Some(p) = &event.payload
        {
            *self.answered.entry(String::from_utf8_lossy(&p.data).into_owned()).or_default() += 1;
        }
    }
    fn save(&self) -> Vec<u8> {
        let counts: Vec<String> = self.answered.iter().map(|(q, n)| format!("{q}={n}")).collect();
        format!("{}\n{}", self.version, counts.join("\n")).into_bytes()
    }
    fn restore(data: &[u8]) -> std::result::Result<Self, String> {
        let text = String::from_utf8(data.to_vec()).map_err(|e| e.to_string())?;
        let mut lines = text.lines();
        let version = lines.next().unwrap_or("0").parse().map_err(|_| "version")?;
        let answered =
            lines.filter_map(|l| l.split_once('=')).map(|(q, n)| (q.to_string(), n.parse().unwrap_or(0))).collect();
        Ok(Answers { version, answered })
    }
}

/// Answers each question once, on the shared `answers` stream at the version it decided on.
struct Answer {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<Answers>,
}

#[async_trait]
impl Reaction for Answer {
    async fn react(&self, event: &StoredEvent) -> Result<()> {
        if event.header.kind != "test.asked" {
            return Ok(());
        }
        let question = String::from_utf8_lossy(&event.payload.as_ref().unwrap().data).into_owned();
        self.state.wait_for(event.header.seq).await?;
        decide_and_append(self.log.as_ref(), &self.state, |s: &Answers| -> Result<Decided<()>> {
            if s.answered.contains_key(&question) {
                return Ok(Decided::nothing(()));
            }
            let answer = NewEvent::new("answers", "test.answered", question.clone())
                .expect(ExpectedVersion::Exact(s.version))
                .with_id(format!("answer/{question}"));
            Ok(Decided::new(vec![answer], ()))
        })
        .await
        .map(|_| ())
    }
}

async fn start(log: &Arc<dyn EventLog>) -> Runtime<Answers> {
    let runtime = Runtime::<Answers>::start(log.clone(), "answers", 50, Feed::Own).await.unwrap();
    let reaction = Arc::new(Answer { log: log.clone(), state: runtime.reader() });
    runtime.react("answering", reaction, Feed::Own).await.unwrap();
    runtime
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_answered_exactly_once_under_conflicts_storage_errors_and_a_restart() {
    const QUESTIONS: usize = 300;
    let inner = LocalLog::memory(NodeKey::from_seed([9; 32]), LogConfig::default()).unwrap();
    let faulty = Arc::new(Faulty { inner, appends: AtomicU64::new(0), fail_every: 4, failed: AtomicU64::new(0) });
    let log: Arc<dyn EventLog> = faulty.clone();
    let mut runtime = start(&log).await;

    // Another writer of the answers stream races the reaction all along.
    let racing = {
        let log = log.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let filler = NewEvent::new("answers", "test.noted", format!("{i}"));
                log.append(vec![filler]).await.unwrap();
                tokio::time::sleep(Duration::from_micros(300)).await;
            }
        })
    };
    for q in 0..QUESTIONS {
        log.append(vec![NewEvent::new(format!("q/{q}"), "test.asked", format!("question-{q}"))]).await.unwrap();
        if q == QUESTIONS / 2 {
            // Stopped and started again in the middle of it.
            runtime.stop().await.unwrap();
            runtime = start(&log).await;
        }
    }
    racing.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        runtime.catch_up_own().await.unwrap();
        if runtime.read().answered.len() == QUESTIONS || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answered = runtime.read().answered.clone();
    assert_eq!(answered.len(), QUESTIONS, "every question answered");
    assert!(answered.values().all(|n| *n == 1), "none answered twice: {answered:?}");
    assert!(faulty.failed.load(Ordering::Relaxed) > 10, "storage errors were injected");
    // The log itself holds exactly one answer per question.
    let head = log.head(log.node_id()).await.unwrap().seq;
    let all = log.read(log.node_id(), 1, head as usize).await.unwrap();
    assert_eq!(all.iter().filter(|e| e.header.kind == "test.answered").count(), QUESTIONS);
    runtime.stop().await.unwrap();
}
