//! What sealing personal data costs (issue #17): durable appends of request-like events with
//! personal values through the `SealingLog` against the same events through the bare log, and a
//! read back of them through each as a read model catches up, in the same run, slices taking
//! turns; a fresh replica's catch-up of a log of sealed events against the same events plain;
//! then the time to erase one subject from a key store holding many, with a million events in
//! the log.
//!
//! `cargo bench -p samenspel-kit --bench sealing` (SAMENSPEL_BENCH_ROUNDS, default 5;
//! SAMENSPEL_BENCH_EVENTS per round and side, default 20,000; SAMENSPEL_BENCH_CATCHUP_EVENTS per
//! replica, default 100,000; SAMENSPEL_BENCH_STORE_EVENTS for the erasure, default 1,000,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use samenspel_eventlog::{
    EventLog, ExpectedVersion, LocalLog, LogConfig, NewEvent, NodeKey, RemoteEvent, SubscribeFrom,
};
use samenspel_keys::{KeyStore, SubjectRef};
use samenspel_kit::{SealingLog, ServiceEvent};
use serde::{Deserialize, Serialize};

/// An intake-like event: ids and codes in the clear, a client's name, phone, e-mail and a note.
#[derive(Serialize, Deserialize)]
struct Submitted {
    id: String,
    subject_id: String,
    name: String,
    phone: String,
    email: String,
    description: String,
    postcode: String,
    kinds: Vec<String>,
}

impl ServiceEvent for Submitted {
    const KINDS: &'static [&'static str] = &["bench.submitted"];
    fn kind(&self) -> &'static str {
        "bench.submitted"
    }
    fn stream(&self) -> String {
        format!("bench/request/{}", self.id)
    }
    fn personal(&self) -> Vec<(String, String)> {
        ["/name", "/phone", "/email", "/description"].iter().map(|p| (self.subject_id.clone(), p.to_string())).collect()
    }
}

/// As the node binary allocates.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn event(round: usize, side: &str, i: usize) -> NewEvent {
    let e = Submitted {
        id: format!("{side}-{round}-{i}"),
        subject_id: format!("c-{side}-{round}-{i}"),
        name: format!("Mevrouw Jansen-{i}"),
        phone: "+31612345678".into(),
        email: "jansen@example.nl".into(),
        description: "Hulp bij boodschappen, twee keer per week; de trap is lastig.".into(),
        postcode: "6411 AB".into(),
        kinds: vec!["boodschappen".into()],
    };
    match side {
        // With sealing: the personal values marked, the SealingLog seals them.
        "sealed" => e.to_new(ExpectedVersion::Exact(0)),
        // Without: the same event as plain JSON, as a log without encryption would store it.
        _ => NewEvent::new(e.stream(), e.kind(), serde_json::to_vec(&e).unwrap()).expect(ExpectedVersion::Exact(0)),
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Each round's events in this many slices per side.
const SLICES: usize = 10;

/// Appends events `from..to` in batches of 100, 8 appenders at once; the time it took.
async fn append(log: Arc<dyn EventLog>, round: usize, side: &'static str, from: usize, to: usize) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..8 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for b in (from + a * 100..to).step_by(800) {
                let batch = (b..(b + 100).min(to)).map(|i| event(round, side, i)).collect();
                log.append(batch).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

/// Reads the own log from `from` to its head as a read model would, decoding each payload.
async fn catch_up(log: &dyn EventLog, from: u64, to: u64) -> Duration {
    let started = Instant::now();
    let mut sub = log.subscribe(SubscribeFrom::origin(log.node_id(), from)).unwrap();
    while let Some(e) = sub.next().await {
        let e = e.unwrap();
        let decoded = Submitted::decode_stored(&e).unwrap().unwrap();
        std::hint::black_box(decoded);
        if e.header.seq >= to {
            break;
        }
    }
    started.elapsed()
}

/// Rounds of slices through `sealed` and `raw` taking turns; prints each round and the medians.
async fn compare(store: &str, raw: &Arc<dyn EventLog>, sealed: &Arc<dyn EventLog>, rounds: usize, n: usize) {
    let key_id = raw.node_id();
    println!("{store}: round   append sealed   append bare   ratio  |  read back sealed  read back bare   ratio");
    let (mut a_ratios, mut c_ratios) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Slices of each side taking turns, so that the machine's drift and the log's growth
        // fall on both alike.
        let mut times: std::collections::HashMap<&str, (Duration, Duration)> = Default::default();
        for slice in 0..SLICES {
            let order = if (round + slice) % 2 == 0 { ["sealed", "bare"] } else { ["bare", "sealed"] };
            for side in order {
                let log = if side == "sealed" { sealed.clone() } else { raw.clone() };
                let from = raw.head(key_id).await.unwrap().seq + 1;
                let took = append(log.clone(), round, side, slice * n / SLICES, (slice + 1) * n / SLICES).await;
                let to = raw.head(key_id).await.unwrap().seq;
                let read = catch_up(log.as_ref(), from, to).await;
                let t = times.entry(side).or_default();
                (t.0, t.1) = (t.0 + took, t.1 + read);
            }
        }
        let ((sa, sc), (ba, bc)) = (times["sealed"], times["bare"]);
        let (ar, cr) = (sa.as_secs_f64() / ba.as_secs_f64(), sc.as_secs_f64() / bc.as_secs_f64());
        a_ratios.push(ar);
        c_ratios.push(cr);
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        println!(
            "{round:>5}   {:>9.0} ev/s   {:>9.0} ev/s   {ar:.2}x  |  {:>11.0} ev/s   {:>11.0} ev/s   {cr:.2}x",
            rate(sa),
            rate(ba),
            rate(sc),
            rate(bc)
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "{store}: median ratio sealed/bare: append {:.2}x, read back {:.2}x (target <= 1.15x)",
        median(&mut a_ratios),
        median(&mut c_ratios)
    );
}

/// A fresh node's catch-up of one origin's log, as replication stores it (read in pages, each
/// ingested: chain, payload hashes and signatures checked, written durably): a log of sealed
/// events against the same events plain, each taken into a fresh sled replica, in turns.
async fn catch_up_of_a_replica(rounds: usize) {
    let m = env("SAMENSPEL_BENCH_CATCHUP_EVENTS", 100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut sources = std::collections::HashMap::new();
    for (side, seed) in [("sealed", 5u8), ("bare", 6u8)] {
        let key = NodeKey::from_seed([seed; 32]);
        let path = dir.path().join(side);
        let raw: Arc<dyn EventLog> =
            Arc::new(LocalLog::open_with_key(&path, key.clone(), LogConfig::default()).unwrap());
        let log: Arc<dyn EventLog> = match side {
            "sealed" => {
                let keys = Arc::new(KeyStore::open(&dir.path().join("sealed-keys"), &key).unwrap());
                let subjects: Vec<SubjectRef> =
                    (0..m).map(|i| SubjectRef::new(key.node_id(), format!("c-sealed-{CATCH_UP_ROUND}-{i}"))).collect();
                keys.ensure(&subjects).unwrap();
                Arc::new(SealingLog::new(raw.clone(), keys))
            }
            _ => raw.clone(),
        };
        append(log, CATCH_UP_ROUND, side, 0, m).await;
        sources.insert(side, raw);
    }
    println!("catch-up of a fresh replica, {m} events: round   sealed   bare   ratio");
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 { ["sealed", "bare"] } else { ["bare", "sealed"] };
        let mut took = std::collections::HashMap::new();
        for side in order {
            let source = &sources[side];
            let origin = source.node_id();
            let replica_dir = tempfile::tempdir().unwrap();
            let replica = LocalLog::open_with_key(
                replica_dir.path(),
                NodeKey::from_seed([20 + round as u8; 32]),
                LogConfig::default(),
            )
            .unwrap();
            let started = Instant::now();
            let mut from = 1;
            while from <= m as u64 {
                let page = source.read(origin, from, 1000).await.unwrap();
                let page: Vec<RemoteEvent> = page.into_iter().map(RemoteEvent::from).collect();
                from = replica.ingest(page).await.unwrap().head.seq + 1;
            }
            took.insert(side, started.elapsed());
            replica.close().await.unwrap();
        }
        let ratio = took["sealed"].as_secs_f64() / took["bare"].as_secs_f64();
        ratios.push(ratio);
        let rate = |d: Duration| m as f64 / d.as_secs_f64();
        println!("{round:>5}   {:>9.0} ev/s   {:>9.0} ev/s   {ratio:.2}x", rate(took["sealed"]), rate(took["bare"]));
    }
    ratios.sort_by(f64::total_cmp);
    println!("catch-up: median ratio sealed/bare {:.2}x (target <= 1.15x)", ratios[ratios.len() / 2]);
    for log in sources.values() {
        log.close().await.unwrap();
    }
}

/// The round number the catch-up's events are made with (apart from the append rounds').
const CATCH_UP_ROUND: usize = 999;

fn main() {
    let rounds = env("SAMENSPEL_BENCH_ROUNDS", 5);
    let n = env("SAMENSPEL_BENCH_EVENTS", 20_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let key = NodeKey::from_seed([3; 32]);
        let raw: Arc<dyn EventLog> =
            Arc::new(LocalLog::open_with_key(dir.path(), key.clone(), LogConfig::default()).unwrap());
        let keys = Arc::new(KeyStore::open(&dir.path().join("subject-keys"), &key).unwrap());
        let sealed: Arc<dyn EventLog> = Arc::new(SealingLog::new(raw.clone(), keys.clone()));
        // Every subject's key made beforehand: a key store append and sync per new person is a
        // cost of taking a person in, measured apart below.
        for round in 0..rounds {
            let subjects: Vec<SubjectRef> =
                (0..n).map(|i| SubjectRef::new(key.node_id(), format!("c-sealed-{round}-{i}"))).collect();
            keys.ensure(&subjects).unwrap();
        }
        // The sled log (the node's embedded default), then the in-memory one: what sealing costs
        // beside a store whose appends cost by the byte, and beside the log's own work alone.
        compare("sled", &raw, &sealed, rounds, n).await;
        let memory: Arc<dyn EventLog> = Arc::new(LocalLog::memory(key.clone(), LogConfig::default()).unwrap());
        let memory_sealed: Arc<dyn EventLog> = Arc::new(SealingLog::new(memory.clone(), keys.clone()));
        compare("memory", &memory, &memory_sealed, rounds, n).await;
        catch_up_of_a_replica(rounds).await;

        // Taking new people in: one key store append and sync each, with this many keys in it.
        let held = rounds * n;
        let started = Instant::now();
        for i in 0..100 {
            keys.ensure(&[SubjectRef::new(key.node_id(), format!("c-new-{i}"))]).unwrap();
        }
        println!("a new person's key, {held} keys held: {:.2?} (mean of 100)", started.elapsed() / 100);

        // The erasure of one subject with the store at a million events.
        let store_events = env("SAMENSPEL_BENCH_STORE_EVENTS", 1_000_000) as u64;
        let mut head = raw.head(key.node_id()).await.unwrap().seq;
        let filler_started = Instant::now();
        while head < store_events {
            let batch = (0..1000).map(|i| NewEvent::new(format!("filler/{}", i % 64), "bench.filler", vec![7u8; 200])).collect();
            head = raw.append(batch).await.unwrap().last().unwrap().seq;
        }
        println!("store filled to {head} events in {:.1?}", filler_started.elapsed());
        let victim = SubjectRef::new(key.node_id(), "c-sealed-0-0");
        let started = Instant::now();
        let keys2 = keys.clone();
        tokio::task::spawn_blocking(move || keys2.erase(&victim, 1, None).unwrap()).await.unwrap();
        println!(
            "erasing one subject (its key destroyed: the erasure appended and synced, the key's record overwritten and synced; {held} keys held), {head} events in the log: {:.1?}",
            started.elapsed()
        );
        let read = raw.read_stream(key.node_id(), "bench/request/sealed-0-0", 1, 1).await.unwrap();
        let bare = raw.read_stream(key.node_id(), "bench/request/bare-0-0", 1, 1).await.unwrap();
        let size = |e: &[samenspel_eventlog::StoredEvent]| e[0].payload.as_ref().map_or(0, |p| p.data.len());
        println!("one event's payload as stored: sealed {} bytes, bare {} bytes", size(&read), size(&bare));
        let opened = sealed.read_stream(key.node_id(), "bench/request/sealed-0-0", 1, 1).await.unwrap();
        assert!(read[0].payload.is_some());
        let text = String::from_utf8_lossy(&opened[0].payload.as_ref().unwrap().data).to_string();
        assert!(text.contains("\"name\":\"\"") && !text.contains("Jansen"), "erased: {text}");
        raw.close().await.unwrap();
    });
}
