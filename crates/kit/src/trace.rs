//! Trace context across the log: the W3C `traceparent` of the span a call runs in is written
//! into the events it appends (the header's `trace`), and whoever handles such an event — a
//! reaction here, or on every peer that replicates it — continues that trace, so one referral is
//! one trace across organisations. Without a tracer installed there is no context: nothing is
//! written, and nothing is continued.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use samenspel_eventlog::StoredEvent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The header a W3C trace context travels in (over gRPC metadata too).
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the current span, when it belongs to a trace.
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the span `traceparent` names (a well-formed one; anything else is
/// ignored, and the span starts a trace of its own).
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier = HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// The span an event is handled in by `handler` (a reaction or a read model): its kind, origin
/// and seq — never its payload —, continuing the trace of the call that wrote it. An event
/// outside any trace gets a debug-level span, so that the work of untraced events is not
/// exported as a trace each.
pub fn event_span(handler: &str, event: &StoredEvent) -> tracing::Span {
    // Field values are only worked out for a span that is on: nothing is formatted per event
    // while tracing is off.
    let h = &event.header;
    if h.trace.is_empty() {
        return tracing::debug_span!("event", handler, kind = %h.kind, origin = %h.origin.short(), seq = h.seq);
    }
    let span = tracing::info_span!("event", handler, kind = %h.kind, origin = %h.origin.short(), seq = h.seq);
    continue_trace(&span, &h.trace);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a tracer there is no context to write; a malformed `traceparent` is ignored.
    #[test]
    fn no_tracer_no_context_and_garbage_is_ignored() {
        assert_eq!(traceparent(), None);
        let span = tracing::info_span!("x");
        continue_trace(&span, "not-a-traceparent");
        continue_trace(&span, "");
        let _entered = span.enter();
        assert_eq!(traceparent(), None);
    }
}
