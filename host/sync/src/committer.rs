//! Group commit: concurrent accepts share one journal transaction (one fsync).
//!
//! Each accept hands its batch to the committer task and waits. The committer takes the
//! first waiting batch, drains every other batch queued behind it (up to
//! [`MAX_GROUP`]), writes them all in one transaction, and answers each waiter once that
//! transaction is durable — so every caller still returns only once its own rows are
//! durable. The store's pipelined accept lets the committer write the next group while
//! the previous one's fsync runs (on SQLite one flush then covers every group written
//! meanwhile: [`crate::wal_sync`]). With one sender it is a plain commit; the more
//! senders wait, the more each transaction and each fsync carries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::engine::{Clock, EngineError};
use crate::journal::{JournalError, NewBatch};
use crate::store::JournalStore;

/// Most batches committed in one transaction (bounds a transaction's size and time).
pub(crate) const MAX_GROUP: usize = 256;

/// Where a batch's seqs (or the commit's error) go.
type Reply = oneshot::Sender<Result<Vec<i64>, EngineError>>;

/// A batch waiting for the committer, and where its seqs go.
pub(crate) struct Pending {
    pub batch: NewBatch,
    pub reply: Reply,
}

/// How many transactions the committer ran and how many batches they carried.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub transactions: AtomicU64,
    pub batches: AtomicU64,
}

/// Transactions committed and the batches they carried (batches / transactions is how
/// many accepts each fsync served).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Journal transactions that accepted changes.
    pub transactions: u64,
    /// Accepted batches.
    pub batches: u64,
}

impl Counters {
    pub(crate) fn count(&self, batches: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.batches.fetch_add(batches as u64, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> CommitStats {
        CommitStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }
}

/// Starts the committer on the current tokio runtime; it ends when every sender is gone.
pub(crate) fn start(
    store: Arc<dyn JournalStore>,
    clock: Clock,
    counters: Arc<Counters>,
) -> mpsc::UnboundedSender<Pending> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Pending>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let (batches, replies): (Vec<NewBatch>, Vec<_>) =
                group.into_iter().map(|p| (p.batch, p.reply)).unzip();
            let now = clock.now_ms();
            let size = batches.len();
            match store.accept_group_pipelined(batches, now).await {
                Ok((seqs, durable)) => {
                    counters.count(size);
                    // The next group is written while this one's flush runs; its waiters
                    // hear back only once it is durable.
                    tokio::spawn(async move {
                        match durable.await {
                            Ok(()) => {
                                for (reply, seqs) in replies.into_iter().zip(seqs) {
                                    // A waiter that went away (its request was cancelled)
                                    // loses nothing: its rows are durable and get applied.
                                    let _ = reply.send(Ok(seqs));
                                }
                            }
                            Err(e) => fail(replies, &e),
                        }
                    });
                }
                Err(e) => fail(replies, &e),
            }
        }
    });
    tx
}

/// Answers every waiter of a group with the commit's error.
fn fail(replies: Vec<Reply>, error: &JournalError) {
    let message = error.to_string();
    for reply in replies {
        let _ = reply.send(Err(EngineError::Commit(message.clone())));
    }
}
