//! The console's own files under the dialsync home (`<home>/console/`): the swap history
//! and the last data-actions install. Kept out of the journal on purpose — the journal
//! may live in another store (and another machine's database); these belong to the
//! host that runs the plugins, next to its plugin registry.
//!
//! Every write is atomic: the new content goes to a temporary file in the same folder,
//! is flushed to disk and then renamed over the old file (`tempfile`'s `persist`), so a
//! crash leaves either the old or the new file, never half of one.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A console file that could not be read or written, naming it.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Reading, writing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not what this version writes.
    #[error("{path}: not a console state file this version reads: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
}

/// `<home>/console`.
pub fn console_dir(home: &Path) -> PathBuf {
    home.join("console")
}

/// Writes `bytes` to `path` atomically (temp file in the same folder, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DiskError> {
    let io = |source| DiskError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), DiskError> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| DiskError::Corrupt {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    write_atomic(path, &text)
}

/// Reads JSON from `path`; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, DiskError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DiskError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DiskError::Corrupt {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = console_dir(dir.path()).join("x.json");
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), None);
        write_json(&path, &vec![1u32, 2]).unwrap();
        write_json(&path, &vec![3u32]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&path).unwrap(), Some(vec![3]));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("x.json")]);
        std::fs::write(&path, b"{not json").unwrap();
        let err = read_json::<Vec<u32>>(&path).unwrap_err().to_string();
        assert!(err.contains("x.json"), "{err}");
    }
}
