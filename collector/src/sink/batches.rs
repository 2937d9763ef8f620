//! The batch being filled and the sealed batches waiting for ClickHouse,
//! bounded by `max_pending_rows`.

use std::collections::VecDeque;
use std::sync::Arc;

use eastwest_clickhouse::schema::{FlowRow, FlowsBlock};
use tokio::time::Instant;

use super::SinkMetrics;
use crate::block::Block;
use crate::config::SinkConfig;

/// The batch being filled and the sealed batches waiting for ClickHouse.
#[derive(Debug)]
pub(super) struct Batches {
    current: FlowsBlock,
    /// When `current` must be sealed (its first row plus the interval).
    pub(super) deadline: Option<Instant>,
    pub(super) pending: VecDeque<Block>,
    pub(super) pending_rows: usize,
    batch_rows: usize,
    max_pending_rows: usize,
    metrics: Arc<SinkMetrics>,
}

impl Batches {
    pub(super) fn new(config: &SinkConfig, metrics: Arc<SinkMetrics>) -> Batches {
        Batches {
            current: FlowsBlock::with_capacity(config.batch_rows),
            deadline: None,
            pending: VecDeque::new(),
            pending_rows: 0,
            batch_rows: config.batch_rows,
            max_pending_rows: config.max_pending_rows,
            metrics,
        }
    }

    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(super) fn push(&mut self, rows: Vec<FlowRow>, deadline: Instant) {
        if rows.is_empty() {
            return;
        }
        // Each row goes into the block as it comes and is dropped here.
        for row in &rows {
            self.current.push(row);
            if self.current.rows() >= self.batch_rows {
                self.seal();
            }
        }
        if self.current.rows() > 0 && self.deadline.is_none() {
            self.deadline = Some(deadline);
        }
    }

    /// Move the current batch to the pending queue.
    pub(super) fn seal(&mut self) {
        self.deadline = None;
        if self.current.rows() > 0 {
            let batch = Block::take(&mut self.current);
            self.enqueue(batch);
        }
    }

    pub(super) fn enqueue(&mut self, batch: Block) {
        self.pending_rows += batch.rows();
        self.pending.push_back(batch);
        while self.pending_rows > self.max_pending_rows {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            self.pending_rows -= oldest.rows();
            self.metrics.dropped_rows.inc_by(oldest.rows() as u64);
            tracing::warn!(
                rows = oldest.rows(),
                "sink: memory bound reached, oldest batch dropped"
            );
        }
        self.metrics.pending_rows.set(self.pending_rows as u64);
    }

    pub(super) fn pop(&mut self) {
        let _ = self.take_front();
    }

    /// Take the oldest pending batch.
    pub(super) fn take_front(&mut self) -> Option<Block> {
        let batch = self.pending.pop_front()?;
        self.pending_rows -= batch.rows();
        self.metrics.pending_rows.set(self.pending_rows as u64);
        Some(batch)
    }

    /// Give back a batch taken with [`Batches::take_front`].
    pub(super) fn put_front(&mut self, batch: Block) {
        self.pending_rows += batch.rows();
        self.pending.push_front(batch);
        self.metrics.pending_rows.set(self.pending_rows as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Registry;

    fn row(n: u64) -> FlowRow {
        FlowRow {
            start_ms: n,
            end_ms: n,
            packets: 1,
            bytes: 1,
            sampling: 1,
            ..FlowRow::default()
        }
    }

    fn config(batch_rows: usize, max_pending_rows: usize) -> SinkConfig {
        SinkConfig {
            batch_rows,
            max_pending_rows,
            ..SinkConfig::default()
        }
    }

    #[test]
    fn batches_split_at_batch_rows_and_drop_oldest_beyond_bound() {
        let metrics = SinkMetrics::new(&mut Registry::default());
        let mut batches = Batches::new(&config(3, 6), metrics.clone());
        let now = Instant::now();
        batches.push((0..4).map(row).collect(), now);
        assert_eq!(batches.pending.len(), 1);
        assert_eq!(batches.current.rows(), 1);
        assert_eq!(batches.deadline, Some(now));
        batches.push((4..10).map(row).collect(), now);
        // 10 rows: batches [0..3) [3..6) [6..9) sealed, 9 current; the bound
        // of 6 pending rows dropped the oldest batch.
        assert_eq!(batches.pending_rows, 6);
        assert_eq!(metrics.dropped_rows.get(), 3);
        let front = Block::new(FlowsBlock::from_rows(&(3..6).map(row).collect::<Vec<_>>()));
        assert_eq!(batches.pending.front(), Some(&front));
        batches.seal();
        assert_eq!(batches.deadline, None);
        assert_eq!(
            batches.pending_rows, 4,
            "sealing row 9 dropped batch [3..6)"
        );
        assert_eq!(metrics.dropped_rows.get(), 6);
        batches.pop();
        assert_eq!(metrics.pending_rows.get(), 1);
    }
}
