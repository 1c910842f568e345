//! Input checks for appends: every violation is reported with its field path, nothing is written.

use crate::error::FieldViolation;
use crate::event::NewEvent;
use crate::header::{Audience, MAX_AUDIENCE_NODES, MAX_CAUSES, MAX_EVENT_ID_LEN, MAX_KIND_LEN, MAX_STREAM_LEN};

/// Checks one batch of new events; `max_payload` is the configured payload limit in bytes.
pub(crate) fn check_batch(events: &[NewEvent], max_payload: usize) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    if events.is_empty() {
        out.push(FieldViolation::new("events", "at least one event is required"));
    }
    for (i, e) in events.iter().enumerate() {
        check_event(e, max_payload, &format!("events[{i}]"), &mut out);
    }
    out
}

fn check_event(e: &NewEvent, max_payload: usize, at: &str, out: &mut Vec<FieldViolation>) {
    let mut bad = |field: &str, why: String| out.push(FieldViolation::new(format!("{at}.{field}"), why));
    if e.kind.is_empty() {
        bad("kind", "must not be empty".into());
    } else if e.kind.len() > MAX_KIND_LEN {
        bad("kind", format!("must be at most {MAX_KIND_LEN} bytes"));
    } else if !e.kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        bad("kind", "may hold only a-z, 0-9, '.', '_' and '-'".into());
    }
    if e.stream.is_empty() {
        bad("stream", "must not be empty".into());
    } else if e.stream.len() > MAX_STREAM_LEN {
        bad("stream", format!("must be at most {MAX_STREAM_LEN} bytes"));
    } else if e.stream.chars().any(char::is_control) {
        bad("stream", "must not hold control characters".into());
    }
    if e.payload.len() > max_payload {
        bad("payload", format!("is {} bytes, the limit is {max_payload}", e.payload.len()));
    }
    if let Some(id) = &e.event_id
        && (id.is_empty() || id.len() > MAX_EVENT_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()))
    {
        bad("event_id", format!("must be 1 to {MAX_EVENT_ID_LEN} printable ascii characters"));
    }
    if let Some(trace) = &e.trace
        && !is_traceparent(trace)
    {
        bad("trace", "must be a w3c traceparent (00-<32 hex>-<16 hex>-<2 hex>)".into());
    }
    if let Audience::Nodes(nodes) = &e.audience
        && (nodes.is_empty() || nodes.len() > MAX_AUDIENCE_NODES)
    {
        bad("audience.nodes", format!("must name 1 to {MAX_AUDIENCE_NODES} nodes"));
    }
    if e.causes.len() > MAX_CAUSES {
        bad("causes", format!("at most {MAX_CAUSES} causes"));
    }
    for (j, c) in e.causes.iter().enumerate() {
        if c.seq == 0 {
            bad(&format!("causes[{j}].seq"), "positions start at 1".into());
        }
    }
}

/// `version-traceid-spanid-flags`, lowercase hex, ids not all zero.
pub(crate) fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    parts.len() == 4
        && hex(parts[0], 2)
        && parts[0] != "ff"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && parts[2].bytes().any(|b| b != b'0')
        && hex(parts[3], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_bad_field() {
        let mut e = NewEvent::new("", "", vec![0; 11]);
        e.trace = Some("nonsense".into());
        e.event_id = Some(String::new());
        let v = check_batch(&[NewEvent::new("s", "ok", vec![]), e], 10);
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["events[1].kind", "events[1].stream", "events[1].payload", "events[1].event_id", "events[1].trace"]
        );
    }

    #[test]
    fn traceparent() {
        assert!(is_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        assert!(!is_traceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
        assert!(!is_traceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
    }
}
