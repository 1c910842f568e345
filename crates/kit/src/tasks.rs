//! The tasks a service runs beside its request handlers — reactions and sweepers — and how they
//! stop: a sweeper announces what the clock owes (due check-ins, unanswered matches) every so
//! often; each ends with [`TaskHandle::stop`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running reaction or sweeper; [`TaskHandle::stop`] ends it (a reaction saves its position).
#[derive(Debug)]
pub struct TaskHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TaskHandle {
    pub(crate) fn new(stop: watch::Sender<bool>, task: JoinHandle<()>) -> Self {
        Self { stop, task }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs `sweep` on `service` every `every` until stopped or the service is dropped. A failed
/// sweep is logged with `what`, and the next one tries again.
pub fn start_sweeper<S, F, Fut, E>(service: &Arc<S>, every: Duration, what: &'static str, sweep: F) -> TaskHandle
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, E>> + Send,
    E: std::fmt::Display,
{
    let (stop, mut stopped) = watch::channel(false);
    let weak = Arc::downgrade(service);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopped.changed() => return,
            }
            let Some(service) = weak.upgrade() else { return };
            if let Err(e) = sweep(service).await {
                tracing::warn!(error = %e, "{what} failed");
            }
        }
    });
    TaskHandle { stop, task }
}
