//! The service state: the node's log and the paging rules. The log has no projection of its
//! own; every other service builds its read model from it.

use std::sync::Arc;

use samenspel_eventlog::{EventLog, NodeId, StoredEvent};

use crate::config::LogServiceConfig;
use crate::error::Error;

/// One page of events and where the next one starts (0 when the page reached the head).
#[derive(Debug)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    pub next_position: u64,
    pub head_seq: u64,
}

#[derive(Debug, Clone)]
pub struct LogService {
    pub(crate) log: Arc<dyn EventLog>,
    pub(crate) config: LogServiceConfig,
}

impl LogService {
    pub fn new(log: Arc<dyn EventLog>, config: LogServiceConfig) -> Self {
        Self { log, config }
    }

    fn page_size(&self, requested: u32) -> usize {
        match requested {
            0 => self.config.default_page_size,
            n => n.min(self.config.max_page_size),
        }
        .max(1) as usize
    }

    pub async fn read(&self, origin: NodeId, from_seq: u64, page_size: u32) -> Result<Page, Error> {
        let head_seq = self.log.head(origin).await?.seq;
        let events = self.log.read(origin, from_seq.max(1), self.page_size(page_size)).await?;
        let next_position = events.last().map_or(0, |e| e.header.seq + 1);
        let next_position = if next_position > head_seq { 0 } else { next_position };
        Ok(Page { events, next_position, head_seq })
    }

    pub async fn read_stream(&self, origin: NodeId, stream: &str, from: u64, page_size: u32) -> Result<Page, Error> {
        let head_seq = self.log.head(origin).await?.seq;
        let size = self.page_size(page_size);
        // One more than a page tells whether another page follows.
        let mut events = self.log.read_stream(origin, stream, from.max(1), size + 1).await?;
        let next_position = if events.len() > size { events[size].header.stream_seq } else { 0 };
        events.truncate(size);
        Ok(Page { events, next_position, head_seq })
    }
}
