//! Replication: for every peer, a task pulls the peer's own log from the last position stored
//! here, over mutual TLS, and hands it to `ingest`, which stores only what verifies. The position
//! is the stored head, so it survives restarts; the stream is flow-controlled by gRPC and by
//! `ingest`, so a slow disk slows the peer's sender rather than filling memory; a dropped
//! connection is tried again with growing pauses. Events a peer sends that do not verify are
//! refused and reported, never stored; a fork is kept as evidence and that origin is no longer
//! pulled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use samenspel_eventlog::{Error as LogError, EventLog, NodeId, NodeKey, RemoteEvent, whole_header};
use samenspel_keys::KeyStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::FederationConfig;
use crate::error::Error;
use crate::grpc::PeerClient;
use crate::peer::Peer;
use crate::progress::Progress;
use crate::service::Pulled;
use crate::tls::NodeTls;
use crate::witness::Witness;
/// Ingests of one origin in flight at once.
const IN_FLIGHT: usize = 4;
/// Events a peer may send without a checkpoint before it counts as misbehaving.
const MAX_UNCOVERED: usize = 1_000_000;

/// How one pull from a peer ended.
enum Ended {
    /// The stream ended or broke: try again.
    Retry(Error),
    /// The origin forked: its events are refused from now on, pulling is pointless.
    Forked,
}

/// Pulls `peer`'s own log from it once: from the stored head until the stream ends or `stop` fires.
async fn pull_once(
    log: &Arc<dyn EventLog>,
    keys: Option<&Arc<KeyStore>>,
    tls: &NodeTls,
    peer: &Peer,
    stop: &mut watch::Receiver<bool>,
    connected: &mut bool,
    progress: &Progress,
) -> Ended {
    // Only a peer's own log is pulled from it.
    let origin = peer.id;
    let fail = |why: String| Ended::Retry(Error::Peer { peer: peer.name.clone(), why });
    let mut client = match PeerClient::connect(tls, peer).await {
        Ok(c) => c,
        Err(e) => return Ended::Retry(e),
    };
    let from = match log.head(origin).await {
        Ok(h) => h.seq + 1,
        Err(e) => return Ended::Retry(e.into()),
    };
    let mut stream = match client.pull(origin, from).await {
        Ok(s) => Box::pin(s),
        Err(e) => return Ended::Retry(e),
    };
    *connected = true;
    progress.update(&peer.name, |p| p.connected = true);
    tracing::info!(peer = %peer.name, origin = %origin.short(), from, "replicating");
    let mut pending: Vec<RemoteEvent> = Vec::new();
    // Verifying the next batch overlaps with the writer storing the one before: a few ingests of
    // this origin are in flight, answered in order (the writer queues them in order too).
    let mut storing = FuturesOrdered::new();
    let mut catching_up = CatchUp::new(from - 1);
    loop {
        let message = tokio::select! {
            m = stream.next(), if storing.len() < IN_FLIGHT => m,
            Some(stored) = storing.next(), if !storing.is_empty() => {
                match stored {
                    Ok(outcome) => {
                        let outcome: samenspel_eventlog::IngestOutcome = outcome;
                        catching_up.stored(peer, outcome.head.seq, progress);
                        continue;
                    }
                    Err(LogError::Fork { seq, .. } | LogError::OriginForked { seq, .. }) => {
                        tracing::error!(peer = %peer.name, origin = %origin.short(), seq, "fork: the origin signed two different events at one position; evidence kept, its events refused from now on");
                        progress.update(&peer.name, |p| (p.refused, p.forked) = (p.refused + 1, true));
                        return Ended::Forked;
                    }
                    Err(LogError::Refused { seq, reason, .. }) => {
                        progress.update(&peer.name, |p| p.refused += 1);
                        return fail(format!("sent seq {seq} that does not verify ({reason}); nothing of it was stored"));
                    }
                    Err(e) => return Ended::Retry(e.into()),
                }
            }
            _ = stop.changed() => return fail("stopping".into()),
        };
        let Pulled { events, keys: shared } = match message {
            Some(Ok(pulled)) => pulled,
            None => return fail("the peer ended the stream".into()),
            Some(Err(e)) => return Ended::Retry(e),
        };
        // The keys first: a read model that gets the sealed data can open it.
        if let (Some(keys), false) = (keys, shared.is_empty()) {
            let (keys, from) = (keys.clone(), peer.id);
            let taken = tokio::task::spawn_blocking(move || keys.accept(from, &shared)).await;
            match taken {
                Ok(Ok(n)) if n > 0 => tracing::debug!(peer = %peer.name, keys = n, "took subject keys"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return fail(format!("the key store refused a key: {e}")),
                Err(e) => return fail(format!("taking keys failed: {e}")),
            }
        }
        pending.extend(events);
        // Only what a checkpoint covers can be verified; the rest waits for the next one.
        let Some(last) = pending.iter().rposition(|e| e.checkpoint.is_some()) else {
            if pending.len() > MAX_UNCOVERED {
                return fail(format!("sent {} events without a checkpoint", pending.len()));
            }
            continue;
        };
        let rest = pending.split_off(last + 1);
        let batch = std::mem::replace(&mut pending, rest);
        let log = log.clone();
        storing.push_back(async move { log.ingest(batch).await });
    }
}

/// How often a pull far behind its peer says how far it has come.
const CATCH_UP_EVERY: Duration = Duration::from_secs(10);

/// A pull's progress towards the peer's head, told in the log every [`CATCH_UP_EVERY`] while it
/// is behind: held, the peer's head, the rate and the time left.
struct CatchUp {
    since: Instant,
    held_then: u64,
}

impl CatchUp {
    fn new(held: u64) -> Self {
        Self { since: Instant::now(), held_then: held }
    }

    fn stored(&mut self, peer: &Peer, held: u64, progress: &Progress) {
        let elapsed = self.since.elapsed();
        if elapsed < CATCH_UP_EVERY {
            return;
        }
        let there = progress.head_there(&peer.name);
        let rate = held.saturating_sub(self.held_then) as f64 / elapsed.as_secs_f64();
        if let Some(there) = there.filter(|t| *t > held) {
            let left = (rate > 0.0).then(|| ((there - held) as f64 / rate).round() as u64);
            tracing::info!(peer = %peer.name, held, there, events_per_sec = rate.round() as u64, seconds_left = ?left, "catching up");
        }
        *self = Self::new(held);
    }
}

/// The replication tasks of a node, one per peer.
#[derive(Debug)]
pub struct Replicator {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    progress: Progress,
}

impl Replicator {
    /// Starts pulling every peer's own log; subject keys that come along go into `keys`. With a
    /// witness, also asks each peer for its tree heads every `witness_every_millis`.
    pub fn start(
        log: Arc<dyn EventLog>,
        keys: Option<Arc<KeyStore>>,
        tls: Arc<NodeTls>,
        peers: Vec<Peer>,
        config: &FederationConfig,
        witness: Option<Arc<Witness>>,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let (min, max) = (
            Duration::from_millis(config.reconnect_min_millis.max(1)),
            Duration::from_millis(config.reconnect_max_millis.max(config.reconnect_min_millis).max(1)),
        );
        let every = Duration::from_millis(config.witness_every_millis.max(1));
        let progress = Progress::default();
        for peer in &peers {
            progress.add(&peer.name, peer.id);
        }
        let witnessing: Vec<JoinHandle<()>> = match &witness {
            Some(w) => peers
                .iter()
                .map(|p| {
                    let (w, tls, p, stopped, progress) =
                        (w.clone(), tls.clone(), p.clone(), stopped.clone(), progress.clone());
                    tokio::spawn(witness_peer(w, tls, p, every, stopped, progress))
                })
                .collect(),
            None => Vec::new(),
        };
        let tasks = peers
            .into_iter()
            .map(|peer| {
                let (log, keys, tls, mut stop) = (log.clone(), keys.clone(), tls.clone(), stopped.clone());
                let progress = progress.clone();
                tokio::spawn(async move {
                    let mut pause = min;
                    loop {
                        let mut connected = false;
                        let ended =
                            pull_once(&log, keys.as_ref(), &tls, &peer, &mut stop, &mut connected, &progress)
                                .await;
                        progress.update(&peer.name, |p| p.connected = false);
                        match ended {
                            Ended::Forked => return,
                            Ended::Retry(e) if !*stop.borrow() => {
                                tracing::warn!(peer = %peer.name, error = %e, retry_in_ms = pause.as_millis() as u64, "replication interrupted");
                            }
                            Ended::Retry(_) => return,
                        }
                        // A connection that worked starts the pauses over.
                        pause = if connected { min } else { (pause * 2).min(max) };
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            _ = stop.changed() => return,
                        }
                    }
                })
            })
            .chain(witnessing)
            .collect();
        Self { stop, tasks, progress }
    }

    /// How replication with each peer is going.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Asks `peer` for its tree heads every `every`, over one connection kept between rounds, and has
/// the witness check them.
async fn witness_peer(
    witness: Arc<Witness>,
    tls: Arc<NodeTls>,
    peer: Peer,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    progress: Progress,
) {
    let mut client: Option<PeerClient> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let round = async {
            // One connection for the rounds (a TLS handshake each round was most of their cost),
            // made again only after a round failed on it.
            if client.is_none() {
                client = Some(PeerClient::connect(&tls, &peer).await?);
            }
            let asked = client.as_mut().expect("connected above").tree_heads().await;
            let heads = asked.inspect_err(|_| client = None)?;
            // Its own head, signed by it, says how far behind this node's copy is.
            if let Some(own) = heads.iter().find(|h| NodeId(h.head.origin) == peer.id && h.verify().is_ok()) {
                let size = own.head.size;
                progress.update(&peer.name, |p| p.head_there = Some(p.head_there.map_or(size, |h| h.max(size))));
            }
            witness.take(heads).await
        };
        match round.await {
            Ok(t) if t.refused > 0 => {
                tracing::warn!(peer = %peer.name, refused = t.refused, "a peer handed tree heads whose signature does not verify")
            }
            Ok(t) => {
                tracing::debug!(peer = %peer.name, matched = t.matched, waiting = t.waiting, "tree heads witnessed")
            }
            Err(e) => tracing::debug!(peer = %peer.name, error = %e, "tree heads not witnessed this round"),
        }
    }
}

/// This node's head as `peer` holds it, asked over a fresh connection.
async fn own_head_at(tls: &NodeTls, peer: &Peer, own: NodeId) -> Result<(PeerClient, u64), Error> {
    let mut client = PeerClient::connect(tls, peer).await?;
    let theirs = client.heads().await?.into_iter().find(|(o, _)| *o == own).map_or(0, |(_, seq)| seq);
    Ok((client, theirs))
}

/// Before a node appends, it takes back from its peers whatever of its own log they hold beyond
/// its head (it may have been restored from an old backup). All peers are asked at once; returns
/// how many events came back, or `None` when no peer answered within `wait`.
pub async fn restore_own_head(
    log: &Arc<dyn EventLog>,
    key: &NodeKey,
    tls: &NodeTls,
    peers: &[Peer],
    wait: Duration,
) -> Result<Option<u64>, Error> {
    if peers.is_empty() {
        return Ok(Some(0));
    }
    let own = log.node_id();
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        let per_try = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(200), Duration::from_secs(2));
        let asked =
            futures::future::join_all(peers.iter().map(|p| tokio::time::timeout(per_try, own_head_at(tls, p, own))))
                .await;
        let answers: Vec<(&Peer, PeerClient, u64)> = peers
            .iter()
            .zip(asked)
            .filter_map(|(p, a)| match a {
                Ok(Ok((client, theirs))) => Some((p, client, theirs)),
                _ => None,
            })
            .collect();
        if !answers.is_empty() {
            let mut restored = 0;
            for (peer, mut client, theirs) in answers {
                let mine = log.head(own).await?.seq;
                if theirs <= mine {
                    continue;
                }
                tracing::warn!(peer = %peer.name, mine, theirs, "a peer holds more of this node's own log: taking it back before appending");
                let mut stream = Box::pin(client.pull(own, mine + 1).await?);
                let mut pending = Vec::new();
                while log.head(own).await?.seq < theirs {
                    let Some(events) = stream.next().await.transpose()? else { break };
                    // A peer outside an event's audience holds its outline and the body sealed
                    // under this node's key: opened here, the header is whole again.
                    pending.extend(events.events.into_iter().map(|e| match whole_header(key, &e.header_bytes) {
                        Some(header_bytes) => RemoteEvent { header_bytes, ..e },
                        None => e,
                    }));
                    if let Some(last) = pending.iter().rposition(|e| e.checkpoint.is_some()) {
                        let rest = pending.split_off(last + 1);
                        let batch = std::mem::replace(&mut pending, rest);
                        restored += log.restore_own(batch).await?.stored;
                    }
                }
            }
            return Ok(Some(restored));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
