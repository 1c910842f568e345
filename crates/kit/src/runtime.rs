//! A service's runtime: its read model, the reactions and sweepers beside it, started and stopped
//! in one order, and the one way a service writes — decide on the read model, append with the
//! versions decided on, decide again when a racing writer got there first, and wait until the
//! read model has what was written.

use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::Duration;

use samenspel_eventlog::{Appended, Error as LogError, EventLog, NewEvent};

use crate::feed::Feed;
use crate::projection::{Projection, ProjectionHandle, ProjectionReader, start_projection};
use crate::reactor::{Reaction, start_reactor};
use crate::tasks::{TaskHandle, start_sweeper};

/// How often a decision is made again after a racing writer moved a stream it was decided on.
/// Each conflict means another write succeeded, so this bounds only a burst; after it the caller
/// hears of the conflict, never of a success.
pub const DECIDE_TRIES: usize = 16;

/// How long a query waits, at most, for other nodes' events held when it asked (they may wait
/// for their causes).
pub const OTHERS_WAIT: Duration = Duration::from_millis(200);

/// What a decision made of the state: the events to append (each with the version it was decided
/// on; none when there is nothing to do) and what to answer once they are appended.
#[derive(Debug)]
pub struct Decided<T> {
    pub events: Vec<NewEvent>,
    pub value: T,
}

impl<T> Decided<T> {
    pub fn new(events: Vec<NewEvent>, value: T) -> Self {
        Self { events, value }
    }

    /// Nothing to append.
    pub fn nothing(value: T) -> Self {
        Self { events: Vec::new(), value }
    }
}

/// The tasks of a running service, stopped in the reverse of the order they depend on.
#[derive(Debug)]
struct Tasks<P> {
    projection: Option<ProjectionHandle<P>>,
    reactions: Vec<TaskHandle>,
    sweepers: Vec<TaskHandle>,
}

/// A service's read model and the tasks beside it.
#[derive(Debug)]
pub struct Runtime<P> {
    log: Arc<dyn EventLog>,
    state: ProjectionReader<P>,
    tasks: Mutex<Tasks<P>>,
}

impl<P: Projection + Default> Runtime<P> {
    /// Restores the read model `name` from its snapshot and follows `feed` from there.
    pub async fn start(log: Arc<dyn EventLog>, name: &str, snapshot_every: u64, feed: Feed) -> Result<Self, LogError> {
        let projection = start_projection::<P>(log.clone(), name, snapshot_every, feed).await?;
        let state = projection.reader();
        let tasks = Tasks { projection: Some(projection), reactions: Vec::new(), sweepers: Vec::new() };
        Ok(Self { log, state, tasks: Mutex::new(tasks) })
    }
}

impl<P: Projection> Runtime<P> {
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// A reader of the read model, for reactions and long-lived readers.
    pub fn reader(&self) -> ProjectionReader<P> {
        self.state.clone()
    }

    /// The read model now; hold it briefly.
    pub fn read(&self) -> RwLockReadGuard<'_, P> {
        self.state.read()
    }

    /// Starts `reaction` over `feed`, resuming after the position saved under `name`.
    pub async fn react(&self, name: &str, reaction: Arc<dyn Reaction>, feed: Feed) -> Result<(), LogError> {
        let handle = start_reactor(self.log.clone(), name, reaction, feed).await?;
        self.tasks.lock().expect("tasks lock").reactions.push(handle);
        Ok(())
    }

    /// Runs `sweep` on `service` every `every` (see [`start_sweeper`]).
    pub fn sweep<S, F, Fut, E>(&self, service: &Arc<S>, every: Duration, what: &'static str, sweep: F)
    where
        S: Send + Sync + 'static,
        F: Fn(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<usize, E>> + Send,
        E: std::fmt::Display,
    {
        let handle = start_sweeper(service, every, what, sweep);
        self.tasks.lock().expect("tasks lock").sweepers.push(handle);
    }

    /// Stops the sweepers (they write from the read model), then the reactions (they answer
    /// what was written), then the projection, which saves a snapshot of everything applied.
    /// Call it before the log closes.
    pub async fn stop(&self) -> Result<(), LogError> {
        let (sweepers, reactions, projection) = {
            let mut tasks = self.tasks.lock().expect("tasks lock");
            (std::mem::take(&mut tasks.sweepers), std::mem::take(&mut tasks.reactions), tasks.projection.take())
        };
        for sweeper in sweepers {
            sweeper.stop().await;
        }
        for reaction in reactions {
            reaction.stop().await;
        }
        match projection {
            Some(p) => p.stop().await,
            None => Ok(()),
        }
    }

    /// Waits until the read model has what the log held when called: this node's events, and
    /// (best effort, [`OTHERS_WAIT`]) other nodes'.
    pub async fn catch_up(&self) -> Result<(), LogError> {
        self.state.catch_up(self.log.as_ref(), OTHERS_WAIT).await
    }

    /// Waits until the read model has this node's own events as they were when called.
    pub async fn catch_up_own(&self) -> Result<(), LogError> {
        self.state.catch_up(self.log.as_ref(), Duration::ZERO).await
    }

    /// Appends `events` and waits until the read model has them.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, LogError> {
        append_and_wait(self.log.as_ref(), &self.state, events).await
    }

    /// Decides on the read model and appends what was decided (see [`decide_and_append`]).
    pub async fn decide<T, E: From<LogError>>(
        &self,
        decide: impl FnMut(&P) -> Result<Decided<T>, E>,
    ) -> Result<(T, Vec<Appended>), E> {
        decide_and_append(self.log.as_ref(), &self.state, decide).await
    }
}

/// Appends `events` and waits until `state` has applied them.
pub async fn append_and_wait<P>(
    log: &dyn EventLog,
    state: &ProjectionReader<P>,
    events: Vec<NewEvent>,
) -> Result<Vec<Appended>, LogError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let appended = log.append(events).await?;
    state.wait_for(appended.iter().map(|a| a.seq).max().unwrap_or(0)).await?;
    Ok(appended)
}

/// Decides on the read model and appends what was decided, each event with the version it was
/// decided on. When a racing writer moved one of those streams first, waits until the read model
/// has this node's head and decides again — the decision then sees what won (and may refuse now);
/// after [`DECIDE_TRIES`] conflicts in a row it gives up with the conflict. Returns the decision's
/// value and where its events landed, once the read model has them. A command and a reaction
/// decide and write this one way.
pub async fn decide_and_append<P, T, E: From<LogError>>(
    log: &dyn EventLog,
    state: &ProjectionReader<P>,
    mut decide: impl FnMut(&P) -> Result<Decided<T>, E>,
) -> Result<(T, Vec<Appended>), E> {
    let mut conflict = None;
    for _ in 0..DECIDE_TRIES {
        let decided = decide(&state.read())?;
        match append_and_wait(log, state, decided.events).await {
            Ok(appended) => return Ok((decided.value, appended)),
            Err(e @ LogError::WrongExpectedVersion { .. }) => {
                conflict = Some(e);
                state.wait_for(log.head(log.node_id()).await?.seq).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict.unwrap_or(LogError::Closed).into())
}
