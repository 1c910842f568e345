//! Watch streams: a subscription to the log turned into the gRPC stream of a service's changes,
//! each event mapped (by the service, after its read model has it) to what a client sees of it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use samenspel_eventlog::{StoredEvent, Subscription};
use tonic::Status;

/// A server stream of a watch.
pub type WatchStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The items `map` makes of each event of `events`, in order; an error ends the stream with it.
pub fn watch_stream<T, F, Fut>(events: Subscription, map: F) -> WatchStream<T>
where
    T: Send + 'static,
    F: Fn(Arc<StoredEvent>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Vec<T>, Status>> + Send + 'static,
{
    let map = Arc::new(map);
    let items = events
        .then(move |event| {
            let map = map.clone();
            async move {
                match event {
                    Ok(event) => map(event).await,
                    Err(e) => {
                        let message = e.to_string();
                        Err(samenspel_status::log_status(e, message))
                    }
                }
            }
        })
        .flat_map(|items| {
            let items: Vec<Result<T, Status>> = match items {
                Ok(items) => items.into_iter().map(Ok).collect(),
                Err(status) => vec![Err(status)],
            };
            futures::stream::iter(items)
        });
    Box::pin(items)
}
