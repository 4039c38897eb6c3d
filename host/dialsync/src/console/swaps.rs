//! Each source's plugin swaps made in the console — the history, the plugins it can roll
//! back to, and the plugin a swap left running — kept on disk under
//! `<home>/console/` next to the plugin registry, so they survive a restart.
//!
//! - `swaps.json` ([`SwapFile`]): per source, the plugin `dialsync.toml` named when the
//!   swaps began (`configured`), the plugin swapped in (`active`), the roll-back stack
//!   (`previous`, newest last) and the log.
//! - `components/<sha256>.wasm`: the exact component of every active or previous plugin,
//!   so a roll back loads the bytes that ran before even when an installed plugin of that
//!   name was replaced or removed since; components nothing refers to are deleted.
//!
//! At start ([`SwapHistory::restore`]) a source whose `dialsync.toml` plugin (reference,
//! config and component) is still the one the swaps began from runs its swapped-in plugin
//! again; when `dialsync.toml` names another plugin, the file wins: the swaps end with a
//! `reset` entry and can no longer be rolled back. Writes are atomic ([`super::disk`]);
//! the new state is on disk before the source runs the new plugin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dialsync_plugin_host::Runtime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::disk::{self, DiskError};
use crate::plugin_registry::Registry;
use crate::server::state::{PluginSlot, SourceState};

/// Log entries kept per source (oldest dropped first).
pub const MAX_LOG: usize = 100;
/// Plugins a source can roll back through (oldest dropped first).
pub const MAX_PREVIOUS: usize = 20;

/// A plugin as a source ran it: enough to show it and to load it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    /// How it was named (bundled name, installed name or path).
    pub reference: String,
    /// `name@version`.
    pub id: String,
    /// sha256 of the component (its file under `components/`).
    pub sha256: String,
    /// Its config object.
    pub config: Value,
}

impl PluginRef {
    /// The plugin in `slot`.
    pub fn of(slot: &PluginSlot) -> PluginRef {
        PluginRef {
            reference: slot.reference.clone(),
            id: slot.plugin.info().id(),
            sha256: slot.plugin.sha256().to_owned(),
            config: slot.config.clone(),
        }
    }

    fn summary(&self) -> SlotSummary {
        SlotSummary {
            reference: self.reference.clone(),
            id: self.id.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// A plugin as shown in a swap record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotSummary {
    /// How it was named (bundled name, installed name or path).
    pub reference: String,
    /// `name@version`.
    pub id: String,
    /// sha256 of the component.
    pub sha256: String,
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SwapKind {
    /// The admin swapped the source onto a plugin.
    Swap,
    /// The admin rolled the source back to the plugin it ran before.
    Rollback,
    /// At start, `dialsync.toml` applied again (it names another plugin now, or the
    /// swapped-in plugin could not be loaded); the note says which.
    Reset,
}

/// One entry of a source's swap log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapRecord {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Swap, roll back or reset.
    pub kind: SwapKind,
    /// The plugin before.
    pub from: SlotSummary,
    /// The plugin after.
    pub to: SlotSummary,
    /// Why, for a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One source's swaps.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceSwaps {
    /// The plugin `dialsync.toml` named when these swaps began.
    pub configured: Option<PluginRef>,
    /// The plugin the last swap or roll back left running (`None`: the configured one).
    pub active: Option<PluginRef>,
    /// The plugins a roll back returns to, newest last.
    pub previous: Vec<PluginRef>,
    /// The log, oldest first.
    pub log: Vec<SwapRecord>,
}

/// `<home>/console/swaps.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SwapFile {
    /// Per source name.
    pub sources: BTreeMap<String, SourceSwaps>,
}

/// Why a swap or roll back did not happen (the source keeps its plugin).
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    /// The state could not be written or read.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// The source has no earlier plugin.
    #[error("source {0:?} has no earlier plugin to roll back to")]
    NothingToRollBack(String),
    /// A stored component is missing, altered, or no longer loads.
    #[error("source {source_name:?}: cannot load {plugin}: {message}")]
    Load {
        /// The source.
        source_name: String,
        /// `name@version (reference)`.
        plugin: String,
        /// Why.
        message: String,
    },
    /// The running plugin's component can no longer be found to keep for a roll back.
    #[error(
        "source {source_name:?} runs {plugin} (sha256 {sha256}), whose component is no longer what {reference:?} resolves to, so it could not be kept for a roll back; swap refused"
    )]
    CannotKeepCurrent {
        /// The source.
        source_name: String,
        /// `name@version`.
        plugin: String,
        /// Its sha256.
        sha256: String,
        /// Its reference.
        reference: String,
    },
}

/// The console's swap state for every source, in memory and on disk.
pub struct SwapHistory {
    dir: PathBuf,
    file: tokio::sync::Mutex<SwapFile>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn push_log(s: &mut SourceSwaps, record: SwapRecord) {
    s.log.push(record);
    let over = s.log.len().saturating_sub(MAX_LOG);
    s.log.drain(..over);
}

fn same_plugin(a: &PluginRef, b: &PluginRef) -> bool {
    a.reference == b.reference && a.sha256 == b.sha256 && a.config == b.config
}

impl SwapHistory {
    fn state_path(dir: &Path) -> PathBuf {
        dir.join("swaps.json")
    }

    fn component_path(dir: &Path, sha256: &str) -> PathBuf {
        dir.join("components").join(format!("{sha256}.wasm"))
    }

    /// Reads `<home>/console/swaps.json` and puts every source whose `dialsync.toml`
    /// plugin is unchanged back on the plugin its last swap left running (see the module
    /// docs). Fails only when the file is unreadable; a stored plugin that no longer loads
    /// is a `reset` entry and the source runs its configured plugin.
    pub async fn restore(
        home: &Path,
        runtime: &Runtime,
        sources: &BTreeMap<String, Arc<SourceState>>,
    ) -> Result<SwapHistory, DiskError> {
        let dir = disk::console_dir(home);
        let mut file: SwapFile = disk::read_json(&Self::state_path(&dir))?.unwrap_or_default();
        let before = file.sources.len();
        file.sources.retain(|name, _| sources.contains_key(name));
        let mut changed = file.sources.len() != before;
        for (name, swaps) in file.sources.iter_mut() {
            let source = &sources[name];
            let configured = PluginRef::of(&source.plugin());
            let unchanged = swaps
                .configured
                .as_ref()
                .is_some_and(|c| same_plugin(c, &configured));
            let note = if !unchanged {
                Some(format!(
                    "dialsync.toml names {} ({}) for this source now; it applies and earlier swaps can no longer be rolled back",
                    configured.id, configured.reference
                ))
            } else if let Some(active) = &swaps.active {
                match load_stored(&dir, runtime, name, active).await {
                    Ok(slot) => {
                        source.swap_plugin(slot);
                        tracing::info!(source = %name, plugin = %active.id, "plugin swapped in from the console restored");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(source = %name, error = %e, "a plugin swapped in from the console could not be restored");
                        Some(format!("{e}; dialsync.toml's plugin applies"))
                    }
                }
            } else {
                None
            };
            if let Some(note) = note {
                if swaps.active.is_some() || !swaps.previous.is_empty() {
                    let from = swaps.active.as_ref().or(swaps.configured.as_ref());
                    push_log(
                        swaps,
                        SwapRecord {
                            at_ms: now_ms(),
                            kind: SwapKind::Reset,
                            from: from.unwrap_or(&configured).summary(),
                            to: configured.summary(),
                            note: Some(note),
                        },
                    );
                }
                swaps.configured = Some(configured);
                swaps.active = None;
                swaps.previous.clear();
                changed = true;
            }
        }
        if changed {
            save(&dir, &file, Vec::new())?;
        }
        Ok(SwapHistory {
            dir,
            file: tokio::sync::Mutex::new(file),
        })
    }

    /// The source's log, oldest first, and whether it can roll back.
    pub async fn log(&self, source: &str) -> (Vec<SwapRecord>, bool) {
        let file = self.file.lock().await;
        file.sources
            .get(source)
            .map(|s| (s.log.clone(), !s.previous.is_empty()))
            .unwrap_or_default()
    }

    /// Swaps `source` onto `slot` (loaded from `bytes`), keeping the plugin it runs now
    /// for a roll back. The new state is on disk before the swap.
    pub async fn swap(
        &self,
        registry: &Registry,
        source: &SourceState,
        slot: PluginSlot,
        bytes: Vec<u8>,
    ) -> Result<SwapRecord, SwapError> {
        let mut file = self.file.lock().await;
        let current = PluginRef::of(&source.plugin());
        let mut components = vec![(slot.plugin.sha256().to_owned(), bytes)];
        if !Self::component_path(&self.dir, &current.sha256).exists() {
            components.push((
                current.sha256.clone(),
                current_bytes(registry, source, &current)?,
            ));
        }
        let new = PluginRef::of(&slot);
        let mut next = file.clone();
        let swaps = next.sources.entry(source.name.clone()).or_default();
        if swaps.configured.is_none() {
            swaps.configured = Some(current.clone());
        }
        let record = SwapRecord {
            at_ms: now_ms(),
            kind: SwapKind::Swap,
            from: current.summary(),
            to: new.summary(),
            note: None,
        };
        swaps.previous.push(current);
        let over = swaps.previous.len().saturating_sub(MAX_PREVIOUS);
        swaps.previous.drain(..over);
        swaps.active = Some(new);
        push_log(swaps, record.clone());
        let dir = self.dir.clone();
        let to_save = next.clone();
        tokio::task::spawn_blocking(move || save(&dir, &to_save, components))
            .await
            .map_err(|e| DiskError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        *file = next;
        source.swap_plugin(slot);
        Ok(record)
    }

    /// Swaps `source` back onto the plugin it ran before its last swap (the stored
    /// component and config).
    pub async fn rollback(
        &self,
        runtime: &Runtime,
        source: &SourceState,
    ) -> Result<SwapRecord, SwapError> {
        let mut file = self.file.lock().await;
        let Some(back) = file
            .sources
            .get(&source.name)
            .and_then(|s| s.previous.last().cloned())
        else {
            return Err(SwapError::NothingToRollBack(source.name.clone()));
        };
        let slot = load_stored(&self.dir, runtime, &source.name, &back).await?;
        let current = PluginRef::of(&source.plugin());
        let mut next = file.clone();
        let swaps = next.sources.entry(source.name.clone()).or_default();
        swaps.previous.pop();
        swaps.active = Some(back.clone());
        let record = SwapRecord {
            at_ms: now_ms(),
            kind: SwapKind::Rollback,
            from: current.summary(),
            to: back.summary(),
            note: None,
        };
        push_log(swaps, record.clone());
        let dir = self.dir.clone();
        let to_save = next.clone();
        tokio::task::spawn_blocking(move || save(&dir, &to_save, Vec::new()))
            .await
            .map_err(|e| DiskError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e.to_string()),
            })??;
        *file = next;
        source.swap_plugin(slot);
        Ok(record)
    }
}

/// The component of the plugin `source` runs now, from the reference it was loaded by
/// (checked against its sha256: an installed plugin may have been replaced since).
fn current_bytes(
    registry: &Registry,
    source: &SourceState,
    current: &PluginRef,
) -> Result<Vec<u8>, SwapError> {
    let refused = || SwapError::CannotKeepCurrent {
        source_name: source.name.clone(),
        plugin: current.id.clone(),
        sha256: current.sha256.clone(),
        reference: current.reference.clone(),
    };
    let resolved = registry
        .resolve(&current.reference)
        .map_err(|_| refused())?;
    if hex::encode(Sha256::digest(&resolved.bytes)) != current.sha256 {
        return Err(refused());
    }
    Ok(resolved.bytes.into_owned())
}

/// Loads a stored plugin: its component (checked against its sha256) with its config.
async fn load_stored(
    dir: &Path,
    runtime: &Runtime,
    source: &str,
    plugin: &PluginRef,
) -> Result<PluginSlot, SwapError> {
    let failed = |message: String| SwapError::Load {
        source_name: source.to_owned(),
        plugin: format!("{} ({})", plugin.id, plugin.reference),
        message,
    };
    let path = SwapHistory::component_path(dir, &plugin.sha256);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| failed(format!("{}: {e}", path.display())))?;
    if hex::encode(Sha256::digest(&bytes)) != plugin.sha256 {
        return Err(failed(format!(
            "{} does not match its sha256 {}",
            path.display(),
            plugin.sha256
        )));
    }
    let loaded = runtime
        .load(&bytes, plugin.config.clone())
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(PluginSlot {
        plugin: loaded,
        reference: plugin.reference.clone(),
        config: plugin.config.clone(),
    })
}

/// Writes the new components (when missing), then the state file, then deletes the
/// components no source refers to any more.
fn save(dir: &Path, file: &SwapFile, components: Vec<(String, Vec<u8>)>) -> Result<(), DiskError> {
    for (sha256, bytes) in components {
        let path = SwapHistory::component_path(dir, &sha256);
        if !path.exists() {
            disk::write_atomic(&path, &bytes)?;
        }
    }
    disk::write_json(&SwapHistory::state_path(dir), file)?;
    let used: BTreeSet<String> = file
        .sources
        .values()
        .flat_map(|s| s.active.iter().chain(s.previous.iter()))
        .map(|p| format!("{}.wasm", p.sha256))
        .collect();
    let components = dir.join("components");
    let entries = match std::fs::read_dir(&components) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(DiskError::Io {
                path: components,
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".wasm") && !used.contains(&name) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| DiskError::Io { path, source })?;
        }
    }
    Ok(())
}
