//! Bounded capture of a guest's stdout/stderr. wasmtime-wasi's
//! `MemoryOutputPipe` traps the guest once full; a plugin that prints too much
//! should lose output, not its record, so this sink keeps the first
//! `capacity` bytes and silently discards the rest (counting them).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// A cloneable, bounded in-memory output sink.
#[derive(Clone)]
pub(crate) struct BoundedCapture {
    inner: Arc<Mutex<Captured>>,
    capacity: usize,
}

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

impl BoundedCapture {
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedCapture {
            inner: Arc::default(),
            capacity,
        }
    }

    /// The captured text (lossy UTF-8) and the number of bytes discarded.
    pub(crate) fn take(&self) -> (String, usize) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&inner.bytes).into_owned();
        let dropped = inner.dropped;
        inner.bytes.clear();
        inner.dropped = 0;
        (text, dropped)
    }

    fn write(&self, buf: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(inner.bytes.len());
        let keep = room.min(buf.len());
        inner.bytes.extend_from_slice(&buf[..keep]);
        inner.dropped += buf.len() - keep;
    }
}

impl IsTerminal for BoundedCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedCapture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for BoundedCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
