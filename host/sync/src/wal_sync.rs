//! Flush pipelining for the SQLite journal: a commit's write and its fsync are split, so
//! the one write lock is held only while frames are appended to the WAL, never while the
//! disk flushes.
//!
//! An accepting (or finishing) transaction commits with `synchronous=NORMAL` — its
//! frames are in the WAL file, not yet on disk — and takes a ticket. A dedicated thread
//! fsyncs the WAL file whenever tickets are outstanding; one `fdatasync` makes durable
//! every frame written before it began, so one flush serves every commit that finished
//! while the previous flush ran. A webhook is acknowledged only once the flush covering
//! its ticket has returned, exactly as with `synchronous=FULL`; meanwhile the next group
//! writes its frames instead of queueing behind the flush.
//!
//! Why: with the fsync inside the commit, concurrent senders settle into two alternating
//! groups, each waiting for the other's flush and then its own — two flushes per
//! acknowledgement. On a disk whose flush takes 0.5–1 ms (network block storage) that
//! halved throughput at 8 senders. This is the "flush pipelining" of Aether (Johnson et
//! al., VLDB 2010) and what PostgreSQL's WAL writer does; SQLite has no API for it, and no
//! crate offers one, hence this module.
//!
//! Why it is sound: WAL frames are appended in commit order, so a flush of the file covers
//! a prefix of the commits, and a commit not yet flushed when the machine loses power is
//! lost together with everything after it — none of which was acknowledged. SQLite
//! overwrites the WAL from its start only after a checkpoint has copied every frame into
//! the database file and synced it, and the file itself (`<db>-wal`) stays in place while
//! any connection is open (this store holds two), so the descriptor here always names the
//! log SQLite writes. A process crash loses nothing either way: the frames are in the
//! page cache.
//!
//! A failed flush poisons the syncer: the kernel may have dropped the dirty pages, so a
//! later flush that succeeds proves nothing (PostgreSQL's "fsyncgate"). Every waiting and
//! later ticket then fails, the store answers errors (webhooks get 503), and only a
//! restart — which recovers the WAL from disk — clears it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::journal::JournalError;

/// The flushing thread and the durable mark it publishes.
pub(crate) struct WalSyncer {
    shared: Arc<Shared>,
    durable: watch::Receiver<Mark>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    wal: PathBuf,
    pending: Mutex<Pending>,
    wake: Condvar,
    flushes: AtomicU64,
}

/// Commits written so far (the last ticket handed out), the last ticket somebody waits
/// for, and whether the store is closing.
struct Pending {
    written: u64,
    awaited: u64,
    stop: bool,
}

/// How long a commit nobody waits for (a worker's finish) may stay unflushed when no
/// awaited commit comes along to carry it.
const LAZY_FLUSH: std::time::Duration = std::time::Duration::from_millis(100);

/// What the flushing thread has made durable.
#[derive(Debug, Clone, Default)]
struct Mark {
    /// Every ticket up to this one is on disk.
    synced: u64,
    /// A flush failed: tickets above `synced` never will be.
    failed: Option<String>,
}

impl WalSyncer {
    /// Starts the flushing thread for the WAL file at `wal`.
    pub(crate) fn start(wal: PathBuf) -> std::io::Result<WalSyncer> {
        let shared = Arc::new(Shared {
            wal,
            pending: Mutex::new(Pending {
                written: 0,
                awaited: 0,
                stop: false,
            }),
            wake: Condvar::new(),
            flushes: AtomicU64::new(0),
        });
        let (publish, durable) = watch::channel(Mark::default());
        let thread = std::thread::Builder::new()
            .name("dialsync-wal-sync".into())
            .spawn({
                let shared = shared.clone();
                move || flush_loop(&shared, &publish)
            })?;
        Ok(WalSyncer {
            shared,
            durable,
            thread: Some(thread),
        })
    }

    /// Records that a commit's frames are in the WAL (call right after the unsynced
    /// commit, still holding the write connection) and returns its ticket, to wait for
    /// with [`WalSyncer::durable`]: the flush starts at once.
    pub(crate) fn written(&self) -> u64 {
        let mut pending = self.shared.lock();
        pending.written += 1;
        pending.awaited = pending.written;
        self.shared.wake.notify_one();
        pending.written
    }

    /// Records a commit nobody waits for (a worker's finish): it is flushed with the next
    /// awaited one, or within [`LAZY_FLUSH`], so it adds no flush of its own to a busy log.
    pub(crate) fn written_lazily(&self) {
        let mut pending = self.shared.lock();
        pending.written += 1;
        self.shared.wake.notify_one();
    }

    /// Waits until the WAL is flushed through `ticket`.
    pub(crate) async fn durable(&self, ticket: u64) -> Result<(), JournalError> {
        let mut durable = self.durable.clone();
        let mark = durable
            .wait_for(|m| m.synced >= ticket || m.failed.is_some())
            .await
            .map_err(|_| JournalError::Task("the WAL flushing thread stopped".into()))?
            .clone();
        match mark.failed {
            Some(error) if mark.synced < ticket => Err(JournalError::Backend {
                backend: "sqlite",
                message: format!("flushing the journal's write-ahead log failed: {error}"),
            }),
            _ => Ok(()),
        }
    }

    /// How many flushes the thread has made.
    pub(crate) fn flushes(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }
}

impl Drop for WalSyncer {
    /// Flushes what is outstanding, then stops the thread.
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Flushes whenever a ticket is outstanding; ends once stopped with nothing outstanding,
/// or after a failed flush (the mark says so to every waiter).
fn flush_loop(shared: &Shared, publish: &watch::Sender<Mark>) {
    let mut synced = 0u64;
    let mut file: Option<File> = None;
    loop {
        let target = {
            let mut pending = shared.lock();
            let mut lazy_since = None;
            loop {
                if pending.written == synced {
                    if pending.stop {
                        return;
                    }
                    pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
                    continue;
                }
                if pending.awaited > synced || pending.stop {
                    break;
                }
                // Only lazy commits are outstanding: give an awaited one a chance to
                // carry them.
                let since = *lazy_since.get_or_insert_with(std::time::Instant::now);
                let left = LAZY_FLUSH.saturating_sub(since.elapsed());
                if left.is_zero() {
                    break;
                }
                pending = shared
                    .wake
                    .wait_timeout(pending, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            pending.written
        };
        let flushed = match &file {
            Some(f) => f.sync_data(),
            None => File::open(&shared.wal).and_then(|f| {
                let flushed = f.sync_data();
                file = Some(f);
                flushed
            }),
        };
        match flushed {
            Ok(()) => {
                synced = target;
                shared.flushes.fetch_add(1, Ordering::Relaxed);
                publish.send_modify(|m| m.synced = target);
            }
            Err(e) => {
                tracing::error!(wal = %shared.wal.display(), error = %e,
                    "flushing the journal's write-ahead log failed; accepts fail until restart");
                publish.send_modify(|m| m.failed = Some(e.to_string()));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A syncer on a log file of its own (kept until the directory is dropped).
    fn syncer_on_a_file() -> (tempfile::TempDir, WalSyncer) {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("j.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let syncer = WalSyncer::start(wal).unwrap();
        (dir, syncer)
    }

    #[tokio::test]
    async fn a_ticket_is_durable_only_after_a_flush_that_began_after_it() {
        let (_dir, syncer) = syncer_on_a_file();
        let first = syncer.written();
        syncer.durable(first).await.unwrap();
        let flushes = syncer.flushes();
        assert!(flushes >= 1);
        let (a, b) = (syncer.written(), syncer.written());
        assert_eq!((a, b), (first + 1, first + 2));
        syncer.durable(b).await.unwrap();
        syncer.durable(a).await.unwrap();
        assert!(syncer.flushes() > flushes, "new tickets need a new flush");
        assert!(syncer.flushes() <= flushes + 2);
    }

    #[tokio::test]
    async fn a_failed_flush_fails_every_later_ticket() {
        let dir = tempfile::tempdir().unwrap();
        // No such file: the first flush fails, as a failed fdatasync would.
        let syncer = WalSyncer::start(dir.path().join("missing-wal")).unwrap();
        let ticket = syncer.written();
        let error = syncer.durable(ticket).await.unwrap_err().to_string();
        assert!(error.contains("write-ahead log"), "{error}");
        let later = syncer.written();
        assert!(syncer.durable(later).await.is_err());
    }

    #[tokio::test]
    async fn dropping_the_syncer_flushes_what_is_outstanding() {
        let (_dir, syncer) = syncer_on_a_file();
        let mut durable = syncer.durable.clone();
        let ticket = syncer.written();
        drop(syncer);
        assert!(durable.borrow_and_update().synced >= ticket);
    }

    #[tokio::test]
    async fn a_lazy_commit_rides_on_the_next_awaited_flush_or_the_timer() {
        let (_dir, syncer) = syncer_on_a_file();
        let mut durable = syncer.durable.clone();
        syncer.written_lazily();
        std::thread::sleep(LAZY_FLUSH / 10);
        assert_eq!(syncer.flushes(), 0, "a lazy commit alone waits");
        let awaited = syncer.written();
        syncer.durable(awaited).await.unwrap();
        assert_eq!(syncer.flushes(), 1, "one flush for both");
        syncer.written_lazily();
        let started = std::time::Instant::now();
        durable.wait_for(|m| m.synced == awaited + 1).await.unwrap();
        assert!(started.elapsed() >= LAZY_FLUSH / 2, "flushed by the timer");
        assert_eq!(syncer.flushes(), 2);
    }
}
