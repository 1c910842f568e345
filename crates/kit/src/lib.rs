//! The plumbing every samenspel service shares, so that a rule that holds for all of them is
//! written once: the checks of a request's fields before anything is looked up (`check`); the
//! path from a decision to an event to a read model — read models kept from the log
//! (`projection`, `feed`), reactions that answer every event (`reactor`), sweepers (`tasks`), a
//! service's runtime that starts and stops them in order and writes by deciding on its read model
//! (`runtime`); what a service event is (`events`); ids, paging and watch streams; the rule
//! that only an entry's host changes it (`hosts`); and who may call what — the role matrix
//! (`auth`), a call's session (`session`), the access log of personal-data reads (`access`) and
//! the record of who wrote which events (`written`); the trace context events carry from the
//! call that wrote them to whoever handles them (`trace`); and how far each read model is
//! (`read_models`).

mod access;
mod auth;
pub mod check;
mod envelope;
mod events;
mod feed;
mod hosts;
mod ids;
mod paging;
mod personal;
mod projection;
mod reactor;
mod read_models;
mod replay;
mod runtime;
mod sealing;
mod session;
mod split;
mod tasks;
mod trace;
mod watch;
mod written;

pub use access::{ACCESS_RECORDED, AccessLog, AccessRecord, Outcome, access_stream};
pub use auth::{
    Accessed, CLIENT_SERVICES, Caller, DataKind, MATRIX, PURPOSES, Role, Rule, Scope, is_open, matrix_table, rule_of,
};
pub use check::{Check, ID_LEN, MAX_NAME, MAX_REQUEST_ID, MAX_TEXT, MAX_TOKEN, is_id, shown};
pub use envelope::clear_of;
pub use events::{SERVICE_KIND_PREFIXES, ServiceEvent};
pub use feed::Feed;
pub use hosts::Hosts;
pub use ids::{derived_id, random_id};
pub use paging::page_size;
pub use personal::{
    PERSONAL_FOR, about, derived_subjects, emptied, fingerprints_of, from_payload, has_marker, strain_of, strained_by,
};
pub use projection::{Projection, ProjectionHandle, ProjectionReader, replay, start_projection};
pub use reactor::{Reaction, may_pass, start_reactor};
pub use read_models::{ReadModelPosition, read_models};
pub use replay::replay_json;
pub use runtime::{DECIDE_TRIES, Decided, OTHERS_WAIT, Runtime, append_and_wait, decide_and_append};
pub use sealing::{SealingLog, sealed_subjects};
pub use session::{Session, Validity, accessed};
pub use split::{split, split_marked};
pub use tasks::{TaskHandle, start_sweeper};
pub use trace::{TRACEPARENT, continue_trace, event_span, traceparent};
pub use watch::{WatchStream, Watched, watch_stream};
pub use written::{WRITTEN, Writer, WrittenRecord, during, written_stream};
