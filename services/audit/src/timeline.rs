//! The history of one request for help across the federation, as this node holds it: every
//! event of every origin on the request's streams — the intake's, matching's, and the follow-up
//! of each of its matches — in causal order, each checked (its payload against its commitment,
//! its header up the chain to a checkpoint its origin signed). The streams are the services'
//! (read here by name, as a tolerant reader); a node sees the steps whose headers it holds: an
//! event it was outside the audience of is an outline here, on no stream. Each step says whether
//! it holds personal data and whether that can still be read here (erased, after an erasure),
//! who wrote it when a call to this node did (the records beside its events,
//! `samenspel_kit::written`), and the organisations that wrote it: the author's, or the request's
//! parties its origin hosts (their names from the sociale kaart).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

use samenspel_eventlog::{EventLog, Hash, NodeId, StoredEvent, payload_hash, verify_checkpoint};
use samenspel_keys::{KeyStore, SubjectRef};
use samenspel_kit::{Writer, WrittenRecord, clear_of, sealed_subjects, written_stream};

use crate::error::Error;

/// Events read from one stream at most: a request's history is dozens, not thousands.
const MAX_STREAM_EVENTS: usize = 10_000;
/// Organisations a request's steps name, at most: its parties are a handful.
const MAX_PARTIES: usize = 64;
/// How far past an event its covering checkpoint is looked for (a group commit's most events).
const MAX_CHECKPOINT_DISTANCE: usize = 8_192;
/// Events read at a time while looking for it.
const CHUNK: usize = 64;

/// One step of a request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub origin: NodeId,
    pub seq: u64,
    pub hash: Hash,
    pub time_micros: i64,
    pub kind: String,
    pub stream: String,
    /// What happened, in a few words (from the kind).
    pub summary: String,
    pub trace: String,
    pub causes: Vec<(NodeId, u64)>,
    /// `None` when the event verifies; else what failed.
    pub problem: Option<String>,
    pub personal: PersonalData,
    /// The call to this node that wrote it, if one did.
    pub author: Option<Writer>,
    /// The organisations that wrote it (id, name): the author's, or the request's parties hosted
    /// at its origin.
    pub organisations: Vec<(String, String)>,
}

/// Whether a step holds personal data, and whether this node can still read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PersonalData {
    /// None in the step, or its payload is not here.
    #[default]
    None,
    /// Sealed under keys this node holds.
    Sealed,
    /// A person it is about was erased here.
    Erased,
    /// Sealed under a key this node was never given.
    NotHeld,
}

/// The streams of a request's history, by the services that write them.
fn request_streams(request_id: &str) -> [String; 2] {
    [format!("intake/request/{request_id}"), format!("matching/request/{request_id}")]
}

fn match_streams(match_id: &str) -> [String; 4] {
    [
        format!("followup/referral/{match_id}"),
        format!("followup/observed/{match_id}"),
        format!("matching/noticed/{match_id}"),
        format!("matching/received/{match_id}"),
    ]
}

/// "intake.request.submitted" → "intake: request submitted".
fn summary(kind: &str) -> String {
    match kind.split_once('.') {
        Some((service, rest)) => format!("{service}: {}", rest.replace(['.', '_'], " ")),
        None => kind.to_string(),
    }
}

/// The timelines of the requests this node holds.
#[derive(Debug, Clone)]
pub struct Timeline {
    log: Arc<dyn EventLog>,
    keys: Option<Arc<KeyStore>>,
}

impl Timeline {
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self { log, keys: None }
    }

    /// Steps say whether their personal data can still be read here, or was erased.
    pub fn with_keys(mut self, keys: Arc<KeyStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    fn personal(&self, e: &StoredEvent) -> PersonalData {
        let (Some(keys), Some(payload)) = (&self.keys, &e.payload) else { return PersonalData::None };
        let subjects = sealed_subjects(&payload.data);
        let subjects: Vec<SubjectRef> = subjects.into_iter().map(|s| SubjectRef::new(e.header.origin, s)).collect();
        if subjects.is_empty() {
            PersonalData::None
        } else if subjects.iter().any(|s| keys.is_erased(s)) {
            PersonalData::Erased
        } else if subjects.iter().all(|s| keys.has_key(s)) {
            PersonalData::Sealed
        } else {
            PersonalData::NotHeld
        }
    }

    /// Every step of `request_id` held here, in causal order (an event after its causes and after
    /// the earlier events of its origin; otherwise by time).
    pub async fn of(&self, request_id: &str) -> Result<Vec<Step>, Error> {
        let origins: Vec<NodeId> = self.log.origins().await?.into_iter().map(|(o, _)| o).collect();
        let mut events: BTreeMap<(NodeId, u64), StoredEvent> = BTreeMap::new();
        let mut matches: Vec<String> = Vec::new();
        for stream in request_streams(request_id) {
            for &origin in &origins {
                for e in self.log.read_stream(origin, &stream, 1, MAX_STREAM_EVENTS).await? {
                    if let Some(m) = e.payload.as_ref().and_then(|p| match_id_of(&p.data))
                        && !matches.contains(&m)
                    {
                        matches.push(m);
                    }
                    events.insert((origin, e.header.seq), e);
                }
            }
        }
        for m in &matches {
            for stream in match_streams(m) {
                for &origin in &origins {
                    for e in self.log.read_stream(origin, &stream, 1, MAX_STREAM_EVENTS).await? {
                        events.insert((origin, e.header.seq), e);
                    }
                }
            }
        }
        let authors = self.authors(&events).await?;
        let parties = self.parties(&origins, &events).await?;
        let mut checked: HashMap<(NodeId, u64), Option<String>> = HashMap::new();
        let mut steps = Vec::with_capacity(events.len());
        for ((origin, seq), e) in &events {
            let author = (*origin == self.log.node_id()).then(|| authors.get(&e.header.event_id)).flatten().cloned();
            let organisations = match author.as_ref().and_then(|a| a.organisation.as_ref()) {
                Some(id) => {
                    let name = parties.get(id).map_or_else(String::new, |(_, name)| name.clone());
                    vec![(id.clone(), name)]
                }
                None => parties
                    .iter()
                    .filter(|(_, (host, _))| host == origin)
                    .map(|(id, (_, name))| (id.clone(), name.clone()))
                    .collect(),
            };
            let problem = self.check(*origin, e, &mut checked).await?;
            steps.push(Step {
                origin: *origin,
                seq: *seq,
                hash: e.hash,
                time_micros: e.header.time_micros,
                kind: e.header.kind.clone(),
                stream: e.header.stream.clone(),
                summary: summary(&e.header.kind),
                trace: e.header.trace.clone(),
                causes: e.header.causes.iter().map(|c| (c.origin, c.seq)).collect(),
                problem,
                personal: self.personal(e),
                author,
                organisations,
            });
        }
        Ok(causal_order(steps))
    }

    /// Who wrote this node's events among `events`, by event id, from the records beside them
    /// (`samenspel_kit::written`): the first record naming an event is the call that wrote it.
    async fn authors(&self, events: &BTreeMap<(NodeId, u64), StoredEvent>) -> Result<HashMap<String, Writer>, Error> {
        let own = self.log.node_id();
        let streams: BTreeSet<&str> =
            events.iter().filter(|((o, _), _)| *o == own).map(|(_, e)| e.header.stream.as_str()).collect();
        let mut authors = HashMap::new();
        for stream in streams {
            for e in self.log.read_stream(own, &written_stream(stream), 1, MAX_STREAM_EVENTS).await? {
                let Some(record) = WrittenRecord::of(&e) else { continue };
                for id in record.events {
                    authors.entry(id).or_insert_with(|| record.writer.clone());
                }
            }
        }
        Ok(authors)
    }

    /// The organisations the steps name (the request's asker, the offers' organisations, …) that
    /// the sociale kaart here knows: id → (the node hosting it, its name).
    async fn parties(
        &self,
        origins: &[NodeId],
        events: &BTreeMap<(NodeId, u64), StoredEvent>,
    ) -> Result<BTreeMap<String, (NodeId, String)>, Error> {
        let mut ids = BTreeSet::new();
        for e in events.values() {
            if let Some(p) = &e.payload
                && let Ok(value) = serde_json::from_slice::<serde_json::Value>(clear_of(&p.data))
            {
                organisation_ids(&value, 0, &mut ids);
            }
        }
        let mut parties = BTreeMap::new();
        for id in ids.into_iter().take(MAX_PARTIES) {
            let stream = format!("directory/organisation/{id}");
            for &origin in origins {
                let entries = self.log.read_stream(origin, &stream, 1, MAX_STREAM_EVENTS).await?;
                let name = entries.iter().rev().find_map(|e| {
                    let value: serde_json::Value = serde_json::from_slice(&e.payload.as_ref()?.data).ok()?;
                    value.get("fields")?.get("name")?.as_str().map(str::to_string)
                });
                if let Some(name) = name {
                    parties.insert(id, (origin, name));
                    break;
                }
            }
        }
        Ok(parties)
    }

    /// The payload against its commitment, then the chain from the event up to the first
    /// checkpoint at or after it, and that checkpoint's signature.
    async fn check(
        &self,
        origin: NodeId,
        e: &StoredEvent,
        cache: &mut HashMap<(NodeId, u64), Option<String>>,
    ) -> Result<Option<String>, Error> {
        if let Some(p) = &e.payload
            && payload_hash(&p.salt, &p.data) != e.header.payload_hash
        {
            return Ok(Some("the payload does not match its hash in the header".into()));
        }
        if let Some(found) = cache.get(&(origin, e.header.seq)) {
            return Ok(found.clone());
        }
        // Read in small chunks: the checkpoint is usually a few events on (one group commit).
        let (mut prev, mut next, mut stretch) = (None, e.header.seq, Vec::new());
        let mut problem = Some("no checkpoint of its origin covers it here".to_string());
        'chunks: while stretch.len() < MAX_CHECKPOINT_DISTANCE {
            let chunk = self.log.read(origin, next, CHUNK).await?;
            for x in &chunk {
                if let Some(p) = prev
                    && x.header.prev_hash != p
                {
                    problem = Some(format!("the chain breaks at seq {}", x.header.seq));
                    break 'chunks;
                }
                prev = Some(x.hash);
                stretch.push(x.header.seq);
                if let Some(cp) = &x.checkpoint {
                    problem = if cp.head_hash != x.hash {
                        Some(format!("the checkpoint at seq {} names another event", cp.seq))
                    } else if !verify_checkpoint(cp) {
                        Some(format!("the checkpoint at seq {} is not signed by its origin", cp.seq))
                    } else {
                        None
                    };
                    break 'chunks;
                }
            }
            if chunk.len() < CHUNK {
                break;
            }
            next += CHUNK as u64;
        }
        // Every event of that stretch shares the verdict.
        for seq in stretch {
            cache.insert((origin, seq), problem.clone());
        }
        Ok(problem)
    }
}

/// The organisation ids a payload names: the string values of members whose name ends in
/// `organisation_id` (`asking_organisation_id`, `support_organisation_id`, …), a few levels deep.
fn organisation_ids(value: &serde_json::Value, depth: usize, out: &mut BTreeSet<String>) {
    let Some(members) = value.as_object().filter(|_| depth < 3) else { return };
    for (name, v) in members {
        match v.as_str() {
            Some(id) if name.ends_with("organisation_id") && !id.is_empty() => {
                out.insert(id.to_string());
            }
            _ => organisation_ids(v, depth + 1, out),
        }
    }
}

fn match_id_of(payload: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(clear_of(payload)).ok()?;
    value.get("match_id")?.as_str().map(str::to_string)
}

/// Orders steps so that each comes after its causes and after its origin's earlier steps; among
/// the steps ready at once, the earliest first.
fn causal_order(steps: Vec<Step>) -> Vec<Step> {
    let index: HashMap<(NodeId, u64), usize> = steps.iter().enumerate().map(|(i, s)| ((s.origin, s.seq), i)).collect();
    let mut waiting_on = vec![0usize; steps.len()];
    let mut unblocks: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    let mut last_of_origin: HashMap<NodeId, usize> = HashMap::new();
    // Steps arrive sorted by origin and seq: each depends on the one before it of its origin.
    for (i, s) in steps.iter().enumerate() {
        let mut deps: HashSet<usize> = s.causes.iter().filter_map(|c| index.get(c).copied()).collect();
        if let Some(&p) = last_of_origin.get(&s.origin) {
            deps.insert(p);
        }
        last_of_origin.insert(s.origin, i);
        waiting_on[i] = deps.len();
        for d in deps {
            unblocks[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<(i64, NodeId, u64, usize)>> = BinaryHeap::new();
    for (i, s) in steps.iter().enumerate() {
        if waiting_on[i] == 0 {
            ready.push(Reverse((s.time_micros, s.origin, s.seq, i)));
        }
    }
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse((_, _, _, i))) = ready.pop() {
        order.push(i);
        for &j in &unblocks[i] {
            waiting_on[j] -= 1;
            if waiting_on[j] == 0 {
                let s = &steps[j];
                ready.push(Reverse((s.time_micros, s.origin, s.seq, j)));
            }
        }
    }
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(origin: u8, seq: u64, time: i64, causes: &[(u8, u64)]) -> Step {
        Step {
            origin: NodeId([origin; 32]),
            seq,
            hash: Hash::ZERO,
            time_micros: time,
            kind: "test.noted".into(),
            stream: "s".into(),
            summary: String::new(),
            trace: String::new(),
            causes: causes.iter().map(|(o, s)| (NodeId([*o; 32]), *s)).collect(),
            problem: None,
            personal: PersonalData::None,
            author: None,
            organisations: Vec::new(),
        }
    }

    /// An event comes after its cause even when its origin's clock says it came first, and after
    /// its origin's earlier events; otherwise time decides.
    #[test]
    fn causes_come_first_then_time() {
        let steps =
            vec![step(1, 1, 10, &[]), step(1, 5, 40, &[(2, 3)]), step(2, 3, 50, &[(1, 1)]), step(2, 4, 20, &[])];
        let order: Vec<(u8, u64)> = causal_order(steps).iter().map(|s| (s.origin.0[0], s.seq)).collect();
        assert_eq!(order, [(1, 1), (2, 3), (2, 4), (1, 5)]);
        assert_eq!(summary("intake.request.submitted"), "intake: request submitted");
    }
}
