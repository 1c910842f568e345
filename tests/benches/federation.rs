//! Replication between nodes on loopback, over mutual TLS, with sled stores:
//!
//! 1. Lag under steady load: three nodes append at a steady rate each; every node subscribes to
//!    the other two origins, and the lag of an event is the time from the origin stamping it to
//!    its delivery on a replica, after it was verified and stored there (p50, p99). In the same
//!    run, the delivery of each node's own events to a subscriber on that node, as the baseline.
//! 2. Catch-up: one node holds 1,000,000 events (256-byte payloads, appended in batches of 1,000);
//!    a fresh node starts with it as its peer and pulls all of it, verifying every chain link,
//!    payload hash and checkpoint signature before storing. Beside it, in the same run, how fast
//!    the origin appended the same events.
//!
//! `cargo bench -p samenspel-e2e --bench federation` (SAMENSPEL_BENCH_ONLY=lag|catchup,
//! SAMENSPEL_BENCH_SECS seconds of load, default 10; SAMENSPEL_BENCH_RATE events per second per
//! node, default 500; SAMENSPEL_BENCH_EVENTS events to catch up, default 1000000;
//! SAMENSPEL_BENCH_AUDIENCES the audiences of the caught-up events, one catch-up each in the same
//! run, default `federation`: with `federation,local` the fresh node also catches up on events it
//! is outside the audience of, receiving their outlines).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use samenspel_domain::SystemClock;
use samenspel_e2e::TestNode;
use samenspel_eventlog::NodeId;
use samenspel_proto::v1 as pb;
use tokio::sync::mpsc;

// The allocator of the `samenspel` binary, so the nodes here run as they do there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

fn event(payload: Vec<u8>) -> pb::NewEvent {
    event_for(payload, pb::AudienceScope::Federation)
}

fn event_for(payload: Vec<u8>, scope: pb::AudienceScope) -> pb::NewEvent {
    pb::NewEvent {
        stream: "bench".into(),
        kind: "bench.noted".into(),
        payload,
        audience: Some(pb::Audience { scope: scope.into(), nodes: vec![] }),
        ..Default::default()
    }
}

/// Sends (origin index, microseconds from stamping to delivery) for every event of `origin` that
/// `node` delivers from `from` on.
async fn watch(node: &TestNode, origin: NodeId, index: usize, from: u64, tx: mpsc::UnboundedSender<(usize, i64)>) {
    let request = pb::SubscribeRequest { origin: origin.0.to_vec(), stream: String::new(), from_position: from };
    let mut stream = node.log_client().await.subscribe(request).await.unwrap().into_inner();
    tokio::spawn(async move {
        while let Some(Ok(e)) = stream.next().await {
            // Only the bench's own events: the nodes also record each one sent to a watcher
            // in their access logs, and those records are events too.
            let Some(h) = e.header.filter(|h| h.kind == "bench.noted") else { continue };
            let stamped = h.time_micros;
            if tx.send((index, now_micros() - stamped)).is_err() {
                return;
            }
        }
    });
}

async fn lag() {
    let secs: f64 = env("SAMENSPEL_BENCH_SECS", 10.0);
    let rate: f64 = env("SAMENSPEL_BENCH_RATE", 500.0);
    let nodes = TestNode::cluster(3, Arc::new(SystemClock), |_, _| {}).await;
    let ids: Vec<NodeId> = nodes.iter().map(TestNode::node_id).collect();
    let (replica_tx, mut replica_rx) = mpsc::unbounded_channel();
    let (own_tx, mut own_rx) = mpsc::unbounded_channel();
    for (r, node) in nodes.iter().enumerate() {
        for (o, origin) in ids.iter().enumerate() {
            let from = node.head_of(*origin).await + 1;
            let tx = if o == r { own_tx.clone() } else { replica_tx.clone() };
            watch(node, *origin, o, from, tx).await;
        }
    }
    let started = Instant::now();
    let load = Duration::from_secs_f64(secs);
    let mut appenders = Vec::new();
    for node in &nodes {
        let mut client = node.log_client().await;
        appenders.push(tokio::spawn(async move {
            let every = Duration::from_secs_f64(1.0 / rate);
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut sent = 0u64;
            while started.elapsed() < load {
                tick.tick().await;
                client.append(pb::AppendRequest { events: vec![event(vec![7; 256])] }).await.unwrap();
                sent += 1;
            }
            sent
        }));
    }
    let mut sent = 0;
    for a in appenders {
        sent += a.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut replica, mut own) = (Vec::new(), Vec::new());
    while let Ok((_, l)) = replica_rx.try_recv() {
        replica.push(l);
    }
    while let Ok((_, l)) = own_rx.try_recv() {
        own.push(l);
    }
    replica.sort_unstable();
    own.sort_unstable();
    println!(
        "lag        3 nodes, {rate:.0} ev/s each for {secs:.0} s ({} ev/s achieved in all); {} deliveries to replicas (expected {})",
        (sent as f64 / secs).round(),
        replica.len(),
        sent * 2
    );
    println!(
        "lag        to a replica: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms | own node (baseline): p50 {:.2} ms  p99 {:.2} ms | ratio p99 {:.1}x",
        percentile(&replica, 0.5),
        percentile(&replica, 0.99),
        percentile(&replica, 1.0),
        percentile(&own, 0.5),
        percentile(&own, 0.99),
        percentile(&replica, 0.99) / percentile(&own, 0.99)
    );
    for node in nodes {
        node.stop().await;
    }
}

/// CPU seconds this process has used (Linux), to see when the nodes in it have gone quiet.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Waits until the process uses under a tenth of a core; the seconds waited.
async fn wait_until_idle() -> f64 {
    let started = Instant::now();
    let Some(mut before) = cpu_seconds() else { return 0.0 };
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_seconds().unwrap_or(before);
        if now - before < 0.05 || started.elapsed() > Duration::from_secs(300) {
            return started.elapsed().as_secs_f64();
        }
        before = now;
    }
}

async fn catchup(scope: pb::AudienceScope) {
    let name = scope.as_str_name();
    println!("catch-up   events of audience {name}");
    let total: u64 = env("SAMENSPEL_BENCH_EVENTS", 1_000_000);
    let mut nodes = TestNode::cluster(2, Arc::new(SystemClock), |_, c| c.log.cache_bytes = 512 * 1024 * 1024).await;
    let fresh = nodes.pop().unwrap();
    let origin = nodes.pop().unwrap();
    let (fresh_config, fresh_dir) = fresh.stop().await;
    let origin_id = origin.node_id();
    let mut client = origin.log_client().await;
    let started = Instant::now();
    let mut appended = 0;
    while appended < total {
        let n = (total - appended).min(1000);
        client
            .append(pb::AppendRequest { events: (0..n).map(|_| event_for(vec![7; 256], scope)).collect() })
            .await
            .unwrap();
        appended += n;
    }
    let append_rate = total as f64 / started.elapsed().as_secs_f64();
    println!("catch-up   origin appended {total} events at {append_rate:.0} ev/s (batches of 1,000, durable)");
    // The origin's own read models follow its log behind the appends; the catch-up is measured
    // once they are done, so that it does not share the cores with them.
    let settled = wait_until_idle().await;
    // And its writes on disk: here the origin shares the disk, and the kernel writing its pages
    // back would compete with the fresh node's flushes.
    let synced = Instant::now();
    let _ = std::process::Command::new("sync").status();
    println!(
        "catch-up   origin's read models done {settled:.1} s after the last append; its store on disk after {:.1} s more",
        synced.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let fresh = TestNode::start_again(fresh_config, fresh_dir, Arc::new(SystemClock)).await;
    let mut last_report = Instant::now();
    loop {
        let held = fresh.head_of(origin_id).await;
        if held >= total {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            println!("catch-up   … {held} events after {:.1} s", started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed().as_secs_f64();
    let verify_started = Instant::now();
    let (config, _dir) = fresh.stop().await;
    let report = samenspel_node::verify_data_dir(&config.data_dir).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    println!(
        "catch-up   a fresh node pulled and verified {total} events in {took:.1} s: {:.0} ev/s ({:.2}x the origin's append rate); its store verifies ({:.1} s)",
        total as f64 / took,
        (total as f64 / took) / append_rate,
        verify_started.elapsed().as_secs_f64()
    );
    origin.stop().await;
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let only = std::env::var("SAMENSPEL_BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // `cargo test --benches` runs benches without --bench: starting clusters there would only
        // slow the test run down.
        if quick {
            return;
        }
        if only.is_empty() || only == "lag" {
            lag().await;
        }
        if only.is_empty() || only == "catchup" {
            let audiences: String = env("SAMENSPEL_BENCH_AUDIENCES", "federation".to_string());
            for a in audiences.split(',') {
                let scope = match a.trim() {
                    "local" => pb::AudienceScope::Local,
                    _ => pb::AudienceScope::Federation,
                };
                catchup(scope).await;
            }
        }
    });
}
