//! Watch streams: a subscription to the log turned into the gRPC stream of a service's changes,
//! each event mapped (by the service, after its read model has it) to what a client sees of it.
//! Where the items hold personal data, each is recorded in the access log before it is sent; and
//! the stream ends when the caller's credential is revoked or expires, or the node stops.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use samenspel_eventlog::{StoredEvent, Subscription};
use tonic::Status;

use crate::access::Outcome;
use crate::session::Session;

/// A server stream of a watch.
pub type WatchStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How often an open stream checks its caller's credential when nothing changed (for expiry).
const RECHECK: Duration = Duration::from_secs(10);

/// One item of a watch and the subjects whose personal data it holds (none for an item
/// without personal data).
pub type Watched<T> = (T, Vec<String>);

/// The items `map` makes of each event of `events`, in order; an error ends the stream with it.
/// With a `session`, an item holding personal data is sent only after its access record is
/// durable, and the stream ends with `UNAUTHENTICATED` once the caller's credential no longer
/// holds.
pub fn watch_stream<T, F, Fut>(events: Subscription, session: Option<Session>, map: F) -> WatchStream<T>
where
    T: Send + 'static,
    F: Fn(Arc<StoredEvent>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<Watched<T>>, Status>> + Send + 'static,
{
    let map = Arc::new(map);
    let recorded = session.clone();
    let items = events
        .then(move |event| {
            let (map, session) = (map.clone(), recorded.clone());
            async move {
                let event = event.map_err(|e| {
                    let message = e.to_string();
                    samenspel_status::log_status(e, message)
                })?;
                let items = map(event).await?;
                let mut out = Vec::with_capacity(items.len());
                for (item, subjects) in items {
                    if let Some(s) = &session
                        && let Some(data) = s.rule.personal
                        && !subjects.is_empty()
                    {
                        s.access
                            .record(&s.caller, s.rule.path, data, subjects, Outcome::Allowed)
                            .await
                            .map_err(|e| Status::unavailable(format!("the access log is not writable: {e}")))?;
                    }
                    out.push(item);
                }
                Ok::<_, Status>(out)
            }
        })
        .flat_map(|items| {
            let items: Vec<Result<T, Status>> = match items {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(status) => vec![Err(status)],
            };
            futures::stream::iter(items)
        });
    let Some(session) = session else { return Box::pin(items) };
    Box::pin(until_invalid(items, session))
}

/// `items`, ended with `UNAUTHENTICATED` as soon as the session's credential no longer holds,
/// and with `UNAVAILABLE` when the node stops (the client resumes from its last position, here
/// or at the restarted node).
fn until_invalid<T: Send + 'static>(
    items: impl Stream<Item = Result<T, Status>> + Send + 'static,
    session: Session,
) -> impl Stream<Item = Result<T, Status>> + Send + 'static {
    let items = Box::pin(items);
    futures::stream::unfold((items, session, false), |(mut items, mut session, ended)| async move {
        if ended {
            return None;
        }
        loop {
            if !(session.valid)() {
                let gone = Status::unauthenticated("the credential was revoked or expired");
                return Some((Err(gone), (items, session, true)));
            }
            // A closed channel (the node gone) is an end too.
            let stopped = *session.stopping.borrow() || session.stopping.has_changed().is_err();
            if stopped {
                let stopping = Status::unavailable("the node is stopping; resume from the last position received");
                return Some((Err(stopping), (items, session, true)));
            }
            tokio::select! {
                next = items.next() => return next.map(|item| (item, (items, session, false))),
                _ = session.changes.changed() => {}
                _ = session.stopping.changed() => {}
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    })
}
