//! The inserts in flight: one Native-format insert per batch, at most
//! `insert_workers` at once, each on its own task.

use std::collections::HashMap;
use std::time::Duration;

use clickhouse::Client;
use eastwest_clickhouse::schema::{flows_native_insert, FLOWS_TABLE};
use tokio::task::{Id, JoinSet};

use super::batches::Batches;
use super::INSERT_TIMEOUT;
use crate::block::Block;

/// Insert `block` into `flows` in one statement, within `within`,
/// in Native format: ClickHouse 18.16 takes it about twice as fast as the
/// RowBinary of `Client::insert` (100,000 of our rows: 0.8-1.0 s against
/// 1.6-1.7 s, materialized views included).
pub(super) async fn insert_block(
    client: &Client,
    block: Block,
    within: Duration,
) -> Result<(), clickhouse::error::Error> {
    let attempt = async {
        // Uncompressed: with ClickHouse's block compression 18.16 reads the
        // Native stream into the table's LowCardinality columns and refuses
        // the plain String ones (loopback, so the size does not matter).
        let mut insert = client
            .clone()
            .with_compression(clickhouse::Compression::None)
            .insert_formatted_with(flows_native_insert(FLOWS_TABLE));
        for piece in block.into_pieces() {
            insert.send(piece).await?;
        }
        insert.end().await
    };
    match tokio::time::timeout(within, attempt).await {
        Ok(result) => result,
        Err(_) => Err(clickhouse::error::Error::TimedOut),
    }
}

/// A batch whose insert ended, and how.
pub(super) struct Landed {
    pub(super) batch: Block,
    pub(super) result: Result<(), clickhouse::error::Error>,
}

/// The inserts running at once, at most `workers`, each on its own task.
/// The batches stay here (their pieces shared with their task), so even a
/// task that panicked gives its batch back to be retried.
pub(super) struct Flights {
    pub(super) client: Client,
    workers: usize,
    tasks: JoinSet<Result<(), clickhouse::error::Error>>,
    batches: HashMap<Id, Block>,
}

impl Flights {
    pub(super) fn new(client: Client, workers: usize) -> Flights {
        Flights {
            client,
            workers: workers.max(1),
            tasks: JoinSet::new(),
            batches: HashMap::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Start inserting pending batches, oldest first, while workers are free.
    pub(super) fn launch(&mut self, batches: &mut Batches) {
        while self.tasks.len() < self.workers {
            let Some(batch) = batches.take_front() else {
                break;
            };
            let block = batch.clone();
            let client = self.client.clone();
            let handle = self
                .tasks
                .spawn(async move { insert_block(&client, block, INSERT_TIMEOUT).await });
            self.batches.insert(handle.id(), batch);
        }
    }

    /// Stop every running insert and give its batch back to the front of
    /// `batches`.
    pub(super) fn abandon(&mut self, batches: &mut Batches) {
        self.tasks.abort_all();
        for (_, batch) in self.batches.drain() {
            batches.put_front(batch);
        }
    }

    /// The next insert to end (cancel-safe: a batch is only taken out of
    /// `batches` with its result).
    pub(super) async fn next(&mut self) -> Option<Landed> {
        loop {
            let (id, result) = match self.tasks.join_next_with_id().await? {
                Ok((id, result)) => (id, result),
                Err(err) => {
                    tracing::error!(%err, "sink: an insert task failed; its batch is retried");
                    (
                        err.id(),
                        Err(clickhouse::error::Error::Custom(err.to_string())),
                    )
                }
            };
            let Some(batch) = self.batches.remove(&id) else {
                continue;
            };
            return Some(Landed { batch, result });
        }
    }
}
