//! The capabilities a plugin gets from its host, as a trait.
//!
//! Inside the runtime the implementation calls the WIT `host` imports; in native
//! tests it is [`crate::NativeHost`]. Mapping code only ever sees `&dyn Host`.

/// Log severity, mirroring the WIT `log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something odd that did not stop the mapping.
    Warn,
    /// Something failed.
    Error,
}

/// Why a phone number could not be normalised (WIT `phone-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneError {
    /// `empty`, `unparseable`, `invalid` or `no-region`.
    pub code: String,
    /// Human-readable reason quoting the raw value.
    pub message: String,
}

/// What the host offers a plugin.
pub trait Host {
    /// Write to the host's log, tagged with the plugin's name and version.
    fn log(&self, level: LogLevel, msg: &str);

    /// The admin's value for top-level config key `key`: strings as they are,
    /// other JSON values as JSON text; `None` when unset.
    fn config(&self, key: &str) -> Option<String>;

    /// Normalise a free-text phone number to E.164; `region` (ISO 3166-1 alpha-2)
    /// is used when the number has no `+` country prefix.
    fn normalize_phone(&self, raw: &str, region: Option<&str>) -> Result<String, PhoneError>;
}
