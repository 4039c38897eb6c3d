//! The per-call store state: an empty WASI context, the memory limiter, the
//! bounded plugin log, and the host side of the `host` and `genesys` imports.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::dialsync::plugin::{genesys, host, types};
use crate::capture::BoundedCapture;
use crate::model::LogLine;
use crate::port::{GenesysPort, PortContact, PortError};

/// Most log lines kept per call; the rest are counted as dropped.
pub(crate) const MAX_LOG_LINES: usize = 1000;
/// Longest log message kept, in bytes.
const MAX_LOG_MESSAGE: usize = 4096;
/// Bytes of stdout and of stderr kept per call.
const MAX_STDIO_BYTES: usize = 64 << 10;

/// Tracks memory growth: denies growth past the cap (remembering that it did)
/// and records the peak.
pub(crate) struct MemoryLimiter {
    max_bytes: usize,
    current: usize,
    pub(crate) peak: usize,
    pub(crate) denied: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.denied = true;
            return Ok(false);
        }
        self.current = self.current.saturating_add(desired.saturating_sub(current));
        self.peak = self.peak.max(self.current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Everything a store holds for one plugin call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    plugin: String,
    config: Arc<serde_json::Map<String, serde_json::Value>>,
    genesys: Option<Arc<dyn GenesysPort>>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: usize,
    stdout: BoundedCapture,
    stderr: BoundedCapture,
    /// Set by the epoch callback when the wall-clock deadline passed.
    pub(crate) deadline_hit: bool,
}

impl CallState {
    pub(crate) fn new(
        plugin: String,
        max_memory_bytes: usize,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> Self {
        let stdout = BoundedCapture::new(MAX_STDIO_BYTES);
        let stderr = BoundedCapture::new(MAX_STDIO_BYTES);
        // Nothing: no args, env, preopens, stdin; no sockets of any kind.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                max_bytes: max_memory_bytes,
                current: 0,
                peak: 0,
                denied: false,
            },
            plugin,
            config,
            genesys,
            logs: Vec::new(),
            logs_dropped: 0,
            stdout,
            stderr,
            deadline_hit: false,
        }
    }

    /// Moves captured stdout/stderr into the log, one line per line.
    pub(crate) fn collect_stdio(&mut self) {
        for (level, capture) in [
            ("stdout", self.stdout.clone()),
            ("stderr", self.stderr.clone()),
        ] {
            let (text, dropped) = capture.take();
            for line in text.lines().filter(|l| !l.is_empty()) {
                self.push_log(level, line);
            }
            if dropped > 0 {
                self.push_log(level, &format!("[{dropped} more bytes discarded]"));
            }
        }
    }

    /// Adds a line to the bounded per-call log and forwards it to tracing.
    fn push_log(&mut self, level: &str, message: &str) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.logs_dropped += 1;
            return;
        }
        let message = truncate(message, MAX_LOG_MESSAGE);
        let plugin = self.plugin.as_str();
        match level {
            "error" => tracing::error!(plugin, "{message}"),
            "warn" | "stderr" => tracing::warn!(plugin, "{message}"),
            "info" | "stdout" => tracing::info!(plugin, "{message}"),
            "debug" => tracing::debug!(plugin, "{message}"),
            _ => tracing::trace!(plugin, "{message}"),
        }
        self.logs.push(LogLine {
            level: level.to_string(),
            message: message.to_string(),
        });
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let level = match level {
            host::LogLevel::Trace => "trace",
            host::LogLevel::Debug => "debug",
            host::LogLevel::Info => "info",
            host::LogLevel::Warn => "warn",
            host::LogLevel::Error => "error",
        };
        self.push_log(level, &message);
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.config.get(&key).map(|value| match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn normalize_phone(
        &mut self,
        raw: String,
        default_region: Option<String>,
    ) -> Result<String, host::PhoneError> {
        dialsync_phone::normalize(&raw, default_region.as_deref()).map_err(|e| host::PhoneError {
            code: e.code.as_str().to_string(),
            message: e.message,
        })
    }
}

fn to_wit_contact(c: PortContact) -> genesys::Contact {
    genesys::Contact {
        id: c.id,
        contact_list_id: c.contact_list_id,
        data: c.data.into_iter().collect(),
        callable: c.callable,
    }
}

fn to_wit_error(e: PortError) -> genesys::GenesysError {
    match e {
        PortError::Forbidden(m) => genesys::GenesysError::Forbidden(m),
        PortError::Rejected(m) => genesys::GenesysError::Rejected(m),
        PortError::Unavailable(m) => genesys::GenesysError::Unavailable(m),
    }
}

fn not_connected() -> genesys::GenesysError {
    genesys::GenesysError::NotConnected(
        "this plugin run has no Genesys Cloud connection".to_string(),
    )
}

impl genesys::Host for CallState {
    async fn get_contact(
        &mut self,
        contact_list_id: String,
        contact_id: String,
    ) -> Result<Option<genesys::Contact>, genesys::GenesysError> {
        let port = self.genesys.clone().ok_or_else(not_connected)?;
        port.get_contact(&contact_list_id, &contact_id)
            .await
            .map(|c| c.map(to_wit_contact))
            .map_err(to_wit_error)
    }

    async fn search_contacts(
        &mut self,
        contact_list_id: String,
        column: String,
        value: String,
    ) -> Result<Vec<genesys::Contact>, genesys::GenesysError> {
        let port = self.genesys.clone().ok_or_else(not_connected)?;
        port.search_contacts(&contact_list_id, &column, &value)
            .await
            .map(|cs| cs.into_iter().map(to_wit_contact).collect())
            .map_err(to_wit_error)
    }
}
