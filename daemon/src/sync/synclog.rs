//! The client-side synclog of the seed: `<tmp>/<sha256 of the service path>.synclog`, one section per target.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One synced file as the container has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The file's modification time (RFC 3339) when it was sent.
    pub timestamp: String,
    pub mtime_ns: i128,
    pub size: u64,
    pub blake3: String,
    pub mode: u32,
}

/// What one backend and space (a target) has received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub sync_id: String,
    pub last_sync: String,
    pub files: BTreeMap<String, Entry>,
}

/// The whole file. On-disk formats derive serde where they are owned; wire types live in `protocol/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Synclog {
    pub version: u32,
    /// The canonical service path the name was derived from.
    pub service: String,
    pub targets: BTreeMap<String, Target>,
}

fn temp_dir() -> PathBuf {
    std::env::var_os("TMPDIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// SHA-256 of the realpath as UTF-8 bytes, no trailing slash, lowercase hex.
pub fn path_for(service_dir: &Path) -> PathBuf {
    let real = std::fs::canonicalize(service_dir).unwrap_or_else(|_| service_dir.to_path_buf());
    let text = real.to_string_lossy();
    let text = if text.len() > 1 { text.trim_end_matches('/') } else { &text };
    let hex: String = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    temp_dir().join(format!("{hex}.synclog"))
}

/// Reads the synclog; a missing or unreadable file means a full sync.
pub fn load(path: &Path) -> Option<Synclog> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes atomically: a temp file beside it, then a rename.
pub fn save(path: &Path, log: &Synclog) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(log).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("synclog.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_sha256_of_the_realpath() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = std::fs::canonicalize(dir.path()).expect("realpath");
        let want: String =
            Sha256::digest(real.to_string_lossy().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let p = path_for(&dir.path().join("."));
        assert_eq!(p.file_name().map(|n| n.to_string_lossy().into_owned()), Some(format!("{want}.synclog")));
    }
}
