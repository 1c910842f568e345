//! The access log as an auditor reads it, and its retention. Records live on the node's own log,
//! one stream per Dutch calendar day (`access/YYYY-MM-DD`); a query reads the days of its time
//! range in order, so a narrow range is cheap and a long one is paged (with a bound on how much
//! one call scans). Retention redacts the payloads of days older than the period: the headers,
//! and so the chain an outsider verifies, stay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use samenspel_domain::{Clock, LocalDate};
use samenspel_eventlog::{EventLog, FieldViolation};
use samenspel_kit::{AccessRecord, Outcome, TaskHandle, access_stream, start_sweeper};

use crate::config::AccessConfig;
use crate::error::Error;

/// The most events one call reads while looking for matching records: a page over a long, sparse
/// range comes back short, with a token to go on.
const MAX_SCAN: usize = 20_000;

/// Events read from the log at a time.
const BATCH: usize = 512;

/// Days before the retention cutoff a freshly started node looks through for expired records
/// (after that, each sweep takes the days that expired since the last).
const LOOKBACK_DAYS: i64 = 400;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// What an auditor asks for; empty fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub subject: String,
    pub organisation: String,
    pub credential: String,
    /// Inclusive; 0: the retention period's start.
    pub from_micros: i64,
    /// Exclusive; 0: now.
    pub to_micros: i64,
    pub denied_only: bool,
}

impl AccessFilter {
    fn admits(&self, r: &AccessRecord, from: i64, to: i64) -> bool {
        (from..to).contains(&r.at_micros)
            && (self.subject.is_empty() || r.subjects.contains(&self.subject))
            && (self.organisation.is_empty() || r.organisation.as_deref() == Some(self.organisation.as_str()))
            && (self.credential.is_empty() || r.credential == self.credential)
            && (!self.denied_only || matches!(r.outcome, Outcome::Denied { .. }))
    }
}

/// One access record and its place in the node's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub record: AccessRecord,
}

/// Where a page starts: a day, and the position in that day's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    day: LocalDate,
    stream_seq: u64,
}

impl Cursor {
    fn token(self) -> String {
        format!("{}/{}", self.day, self.stream_seq)
    }

    fn parse(token: &str) -> Option<Cursor> {
        let (day, seq) = token.split_once('/')?;
        Some(Cursor { day: day.parse().ok()?, stream_seq: seq.parse().ok().filter(|s| *s >= 1)? })
    }
}

/// The Audit service.
#[derive(Debug)]
pub struct AuditService {
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    config: AccessConfig,
    /// The first day not yet swept; `None` until the first sweep.
    swept: Mutex<Option<LocalDate>>,
    sweeper: Mutex<Option<TaskHandle>>,
}

impl AuditService {
    /// The service over `log`, with its retention sweeper running.
    /// The node's time now.
    pub fn now_micros(&self) -> i64 {
        self.clock.now_micros()
    }

    /// Every access record about `subject`, oldest first.
    pub async fn all_about(&self, subject: &str) -> Result<Vec<Entry>, Error> {
        let filter = AccessFilter { subject: subject.to_string(), ..Default::default() };
        let (mut all, mut token) = (Vec::new(), String::new());
        loop {
            let (entries, next) = self.list(&filter, 1000, &token).await?;
            all.extend(entries);
            if next.is_empty() {
                return Ok(all);
            }
            token = next;
        }
    }

    pub fn start(log: Arc<dyn EventLog>, config: AccessConfig, clock: Arc<dyn Clock>) -> Arc<Self> {
        let every = Duration::from_secs(config.sweep_every_secs.max(1));
        let service = Arc::new(Self { log, clock, config, swept: Mutex::new(None), sweeper: Mutex::new(None) });
        let sweeper =
            start_sweeper(&service, every, "access log retention", |s: Arc<Self>| async move { s.sweep().await });
        *service.sweeper.lock().expect("sweeper lock") = Some(sweeper);
        service
    }

    /// Stops the sweeper.
    pub async fn stop(&self) {
        let sweeper = self.sweeper.lock().expect("sweeper lock").take();
        if let Some(sweeper) = sweeper {
            sweeper.stop().await;
        }
    }

    fn retention_micros(&self) -> i64 {
        i64::from(self.config.retention_days) * MICROS_PER_DAY
    }

    /// The page size asked for, within bounds.
    fn page_size(&self, requested: u32) -> usize {
        samenspel_kit::page_size(requested, self.config.default_page_size, self.config.max_page_size)
    }

    /// The problems of a filter and a page token, every one named.
    pub fn check(filter: &AccessFilter, token: &str) -> Vec<FieldViolation> {
        let mut v = Vec::new();
        if filter.from_micros < 0 {
            v.push(FieldViolation::new("from_micros", "must not be negative"));
        }
        if filter.to_micros < 0 {
            v.push(FieldViolation::new("to_micros", "must not be negative"));
        }
        if filter.to_micros > 0 && filter.from_micros >= filter.to_micros {
            v.push(FieldViolation::new("to_micros", "must be after from_micros"));
        }
        if !token.is_empty() && Cursor::parse(token).is_none() {
            v.push(FieldViolation::new("page_token", "is not a token from a previous page"));
        }
        v
    }

    /// One page of the records `filter` admits, oldest first, and the next page's token (empty
    /// when the range is read to its end).
    pub async fn list(
        &self,
        filter: &AccessFilter,
        page_size: u32,
        token: &str,
    ) -> Result<(Vec<Entry>, String), Error> {
        let violations = Self::check(filter, token);
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let now = self.clock.now_micros();
        let to = if filter.to_micros > 0 { filter.to_micros } else { now + 1 };
        let from = if filter.from_micros > 0 { filter.from_micros } else { (now - self.retention_micros()).max(0) };
        let size = self.page_size(page_size);
        let last_day = LocalDate::of_micros(to - 1);
        let mut at = Cursor::parse(token).unwrap_or(Cursor { day: LocalDate::of_micros(from), stream_seq: 1 });
        let (node, mut scanned, mut out) = (self.log.node_id(), 0usize, Vec::new());
        while at.day <= last_day {
            if scanned >= MAX_SCAN {
                return Ok((out, at.token()));
            }
            let events = self.log.read_stream(node, &access_stream(at.day), at.stream_seq, BATCH).await?;
            // An empty day costs a lookup too.
            scanned += events.len().max(1);
            for event in &events {
                at.stream_seq = event.header.stream_seq + 1;
                let Some(record) = AccessRecord::of(event) else { continue };
                if filter.admits(&record, from, to) {
                    out.push(Entry { seq: event.header.seq, record });
                    if out.len() == size {
                        return Ok((out, at.token()));
                    }
                }
            }
            if events.len() < BATCH {
                let next = at.day.plus_days(1);
                if next == at.day {
                    break;
                }
                at = Cursor { day: next, stream_seq: 1 };
            }
        }
        Ok((out, String::new()))
    }

    /// Redacts the records of every day older than the retention period that is not swept yet;
    /// returns how many it redacted.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let cutoff = LocalDate::of_micros(self.clock.now_micros() - self.retention_micros());
        let start = self.swept.lock().expect("swept lock").unwrap_or_else(|| cutoff.plus_days(-LOOKBACK_DAYS));
        let (node, mut redacted, mut day) = (self.log.node_id(), 0, start);
        while day < cutoff {
            let stream = access_stream(day);
            let mut from = 1;
            loop {
                let events = self.log.read_stream(node, &stream, from, BATCH).await?;
                for event in &events {
                    from = event.header.stream_seq + 1;
                    if event.payload.is_some() && self.log.redact(node, event.header.seq).await? {
                        redacted += 1;
                    }
                }
                if events.len() < BATCH {
                    break;
                }
            }
            day = day.plus_days(1);
        }
        *self.swept.lock().expect("swept lock") = Some(cutoff.max(start));
        if redacted > 0 {
            tracing::info!(records = redacted, before = %cutoff, "access records past their retention redacted");
        }
        Ok(redacted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_a_bad_token_is_named() {
        let c = Cursor { day: "2026-12-01".parse().unwrap(), stream_seq: 7 };
        assert_eq!(Cursor::parse(&c.token()), Some(c));
        for bad in ["", "2026-12-01", "2026-13-01/1", "2026-12-01/0", "x/1"] {
            assert_eq!(Cursor::parse(bad), None, "{bad}");
        }
        let filter = AccessFilter { from_micros: 5, to_micros: 5, ..Default::default() };
        let fields: Vec<String> = AuditService::check(&filter, "nope").into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["to_micros", "page_token"]);
    }
}
