//! The local plugin registry: installed plugin components stored by sha256
//! under `<home>/plugins/`, with an `index.json` naming them, plus resolution
//! of a plugin reference (bundled name, installed name or `.wasm` path) to
//! component bytes. Used by `dialsync plugin ...` and by source configuration
//! (`plugin = "servicenow"`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One installed plugin, as recorded in `index.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The plugin's name from `describe`.
    pub name: String,
    /// Its version from `describe`.
    pub version: String,
    /// Lowercase hex sha256 of the component; the file is `<sha256>.wasm`.
    pub sha256: String,
    /// When it was installed.
    pub installed_at: DateTime<Utc>,
}

/// Where a resolved plugin came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// Built into the binary.
    Bundled,
    /// From the local registry.
    Installed(Installed),
    /// A `.wasm` file named directly.
    File(PathBuf),
}

/// A plugin reference resolved to its component bytes.
#[derive(Clone, Debug)]
pub struct ResolvedPlugin {
    /// Where it came from.
    pub source: PluginSource,
    /// The component.
    pub bytes: Cow<'static, [u8]>,
}

/// Registry failures, each naming the file or plugin involved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `index.json` is not what this version writes.
    #[error("{path}: corrupt registry index: {message}")]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// A stored component's bytes no longer match its sha256.
    #[error("{path}: stored plugin `{name}` does not match its sha256 {sha256}; reinstall it")]
    Tampered {
        /// The component file.
        path: PathBuf,
        /// The plugin name.
        name: String,
        /// The recorded sha256.
        sha256: String,
    },
    /// No bundled, installed or file plugin has this name.
    #[error("no plugin named `{name}`; available: {available}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// Bundled and installed names, comma-separated.
        available: String,
    },
    /// Bundled plugin names cannot be installed over or removed.
    #[error(
        "`{0}` is a bundled plugin built into dialsync; it cannot be installed over or removed"
    )]
    Bundled(String),
    /// No home directory to default to.
    #[error("no registry directory: pass --home or set DIALSYNC_HOME (HOME is not set)")]
    NoHome,
}

/// The registry rooted at a dialsync home directory.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry under `home` (`<home>/plugins`). Nothing is created until an install.
    pub fn new(home: &Path) -> Self {
        Registry {
            dir: home.join("plugins"),
        }
    }

    /// `$DIALSYNC_HOME`, else `$HOME/.local/share/dialsync`.
    pub fn default_home() -> Result<PathBuf, RegistryError> {
        if let Some(home) = std::env::var_os("DIALSYNC_HOME") {
            return Ok(PathBuf::from(home));
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/share/dialsync"))
            .ok_or(RegistryError::NoHome)
    }

    /// The dialsync home this registry lives in (the registry is `<home>/plugins`).
    pub fn home(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn wasm_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.wasm"))
    }

    /// Installed plugins, sorted by name.
    pub fn list(&self) -> Result<Vec<Installed>, RegistryError> {
        let path = self.index_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let mut entries: Vec<Installed> =
            serde_json::from_str(&text).map_err(|e| RegistryError::CorruptIndex {
                path: path.clone(),
                message: e.to_string(),
            })?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn write_index(&self, entries: &[Installed]) -> Result<(), RegistryError> {
        let path = self.index_path();
        let tmp = self.dir.join("index.json.tmp");
        let text = serde_json::to_string_pretty(entries).expect("index entries serialise");
        std::fs::write(&tmp, text).map_err(|source| RegistryError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| RegistryError::Io { path, source })
    }

    /// Stores `bytes` (already loaded and checked by the caller) as plugin
    /// `name`/`version`, replacing any earlier install of that name.
    pub fn install(
        &self,
        name: &str,
        version: &str,
        bytes: &[u8],
    ) -> Result<Installed, RegistryError> {
        if dialsync_bundled_plugins::by_name(name).is_some() {
            return Err(RegistryError::Bundled(name.to_string()));
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| RegistryError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let wasm = self.wasm_path(&sha256);
        std::fs::write(&wasm, bytes).map_err(|source| RegistryError::Io { path: wasm, source })?;
        let mut entries = self.list()?;
        let replaced: Vec<Installed> = entries.iter().filter(|e| e.name == name).cloned().collect();
        entries.retain(|e| e.name != name);
        let entry = Installed {
            name: name.to_string(),
            version: version.to_string(),
            sha256,
            installed_at: Utc::now(),
        };
        entries.push(entry.clone());
        self.write_index(&entries)?;
        for old in replaced {
            self.remove_unreferenced(&entries, &old.sha256)?;
        }
        Ok(entry)
    }

    /// Removes plugin `name` and its component file.
    pub fn remove(&self, name: &str) -> Result<Installed, RegistryError> {
        if dialsync_bundled_plugins::by_name(name).is_some() {
            return Err(RegistryError::Bundled(name.to_string()));
        }
        let mut entries = self.list()?;
        let Some(pos) = entries.iter().position(|e| e.name == name) else {
            return Err(self.not_found(name));
        };
        let removed = entries.remove(pos);
        self.write_index(&entries)?;
        self.remove_unreferenced(&entries, &removed.sha256)?;
        Ok(removed)
    }

    fn remove_unreferenced(
        &self,
        entries: &[Installed],
        sha256: &str,
    ) -> Result<(), RegistryError> {
        if entries.iter().any(|e| e.sha256 == sha256) {
            return Ok(());
        }
        let path = self.wasm_path(sha256);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(RegistryError::Io { path, source }),
        }
    }

    /// The installed plugin `name` and its bytes (checked against its sha256).
    pub fn get(&self, name: &str) -> Result<Option<(Installed, Vec<u8>)>, RegistryError> {
        let Some(entry) = self.list()?.into_iter().find(|e| e.name == name) else {
            return Ok(None);
        };
        let path = self.wasm_path(&entry.sha256);
        let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io {
            path: path.clone(),
            source,
        })?;
        if hex::encode(Sha256::digest(&bytes)) != entry.sha256 {
            return Err(RegistryError::Tampered {
                path,
                name: entry.name,
                sha256: entry.sha256,
            });
        }
        Ok(Some((entry, bytes)))
    }

    /// Resolves a plugin reference: a path (contains `/` or ends in `.wasm`),
    /// else a bundled name, else an installed name.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedPlugin, RegistryError> {
        if reference.ends_with(".wasm")
            || reference.contains(std::path::MAIN_SEPARATOR)
            || reference.contains('/')
        {
            let path = PathBuf::from(reference);
            let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io {
                path: path.clone(),
                source,
            })?;
            return Ok(ResolvedPlugin {
                source: PluginSource::File(path),
                bytes: Cow::Owned(bytes),
            });
        }
        if let Some(bytes) = dialsync_bundled_plugins::by_name(reference) {
            return Ok(ResolvedPlugin {
                source: PluginSource::Bundled,
                bytes: Cow::Borrowed(bytes),
            });
        }
        match self.get(reference)? {
            Some((entry, bytes)) => Ok(ResolvedPlugin {
                source: PluginSource::Installed(entry),
                bytes: Cow::Owned(bytes),
            }),
            None => Err(self.not_found(reference)),
        }
    }

    fn not_found(&self, name: &str) -> RegistryError {
        let mut names: Vec<String> = dialsync_bundled_plugins::bundled()
            .iter()
            .map(|(n, _)| (*n).to_string())
            .collect();
        if let Ok(installed) = self.list() {
            names.extend(installed.into_iter().map(|e| e.name));
        }
        RegistryError::NotFound {
            name: name.to_string(),
            available: names.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_list_get_remove_round_trip() {
        let home = tempfile::tempdir().unwrap();
        let registry = Registry::new(home.path());
        assert!(registry.list().unwrap().is_empty());
        let bytes = b"not really wasm, the caller checks";
        let entry = registry.install("acme", "1.0.0", bytes).unwrap();
        assert_eq!(entry.sha256.len(), 64);
        assert_eq!(registry.list().unwrap(), vec![entry.clone()]);
        let (got, got_bytes) = registry.get("acme").unwrap().unwrap();
        assert_eq!((got, got_bytes.as_slice()), (entry.clone(), &bytes[..]));

        let newer = registry.install("acme", "1.1.0", b"other bytes").unwrap();
        assert_eq!(registry.list().unwrap(), vec![newer]);
        assert!(
            !registry.wasm_path(&entry.sha256).exists(),
            "the replaced component is deleted"
        );

        registry.remove("acme").unwrap();
        assert!(registry.list().unwrap().is_empty());
        assert!(matches!(
            registry.remove("acme"),
            Err(RegistryError::NotFound { .. })
        ));
    }

    #[test]
    fn bundled_names_are_reserved_and_resolve() {
        let home = tempfile::tempdir().unwrap();
        let registry = Registry::new(home.path());
        assert!(matches!(
            registry.install("servicenow", "9", b"x"),
            Err(RegistryError::Bundled(_))
        ));
        assert!(matches!(
            registry.remove("salesforce"),
            Err(RegistryError::Bundled(_))
        ));
        let resolved = registry.resolve("servicenow").unwrap();
        assert_eq!(resolved.source, PluginSource::Bundled);
        let err = registry.resolve("nope").unwrap_err().to_string();
        assert!(err.contains("servicenow, salesforce, custom-crm"), "{err}");
    }

    #[test]
    fn tampered_component_is_detected() {
        let home = tempfile::tempdir().unwrap();
        let registry = Registry::new(home.path());
        let entry = registry.install("acme", "1.0.0", b"original").unwrap();
        std::fs::write(registry.wasm_path(&entry.sha256), b"changed").unwrap();
        assert!(matches!(
            registry.get("acme"),
            Err(RegistryError::Tampered { .. })
        ));
    }
}
