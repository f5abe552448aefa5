//! The client-side synclog of the seed: `<tmp>/devspaces-<uid>/<sha256 of the service path>.synclog`,
//! one section per target, in a folder only the user can enter.

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

/// `TMPDIR` as given (a client's; `None` or empty: `/tmp`).
pub fn temp_dir_of(tmpdir: Option<&str>) -> PathBuf {
    tmpdir.filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn temp_dir() -> PathBuf {
    std::env::var_os("TMPDIR").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// `<TMPDIR or /tmp>/devspaces-<uid>/<SHA-256 of the realpath>.synclog`: the seed's name (UTF-8
/// bytes of the realpath, no trailing slash, lowercase hex) inside a folder only this user enters.
/// `TMPDIR` is this process's; [`path_in`] takes a client's.
pub fn path_for(service_dir: &Path) -> PathBuf {
    path_in(&temp_dir(), service_dir)
}

/// [`path_for`] under another temp folder (`base` is a `TMPDIR`).
pub fn path_in(base: &Path, service_dir: &Path) -> PathBuf {
    let real = std::fs::canonicalize(service_dir).unwrap_or_else(|_| service_dir.to_path_buf());
    let text = real.to_string_lossy();
    let text = if text.len() > 1 { text.trim_end_matches('/') } else { &text };
    let hex: String = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    base.join(format!("devspaces-{}", uid())).join(format!("{hex}.synclog"))
}

fn refuse(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, what)
}

/// Creates the synclog's folder (0700) or checks the one that is there: a real folder, not a
/// link, owned by this user, that no one else may enter. Another user could otherwise read the
/// file list and hashes, or plant a FIFO or a link where the daemon writes.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != uid() || meta.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "{} is not a private folder of this user (owner uid {}, mode {:o}); remove it to let devspaces make its own",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Opens without following a link and without blocking on a FIFO; only a regular file owned by
/// this user is accepted.
fn open_own_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.uid() != uid() {
        return Err(refuse(format!("{} is not a regular file of this user", path.display())));
    }
    Ok(file)
}

/// Reads the synclog; a missing, unreadable or refused file means a full sync (`Err` says why,
/// when it is worth saying: anything but a missing file).
pub fn load(path: &Path) -> Result<Option<Synclog>, String> {
    use std::io::Read;
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir).map_err(|e| e.to_string())?;
    }
    let mut file = match open_own_file(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("synclog {}: {e}; doing a full sync", path.display())),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| format!("synclog {}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&bytes).ok())
}

/// Writes atomically: a new file (0600, never through a link) under a random name beside it, then
/// a rename over the old one.
pub fn save(path: &Path, log: &Synclog) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| std::io::Error::other("the synclog path has no folder"))?;
    ensure_private_dir(dir)?;
    let bytes = serde_json::to_vec_pretty(log).map_err(std::io::Error::other)?;
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    let suffix: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)?;
    let written = file.write_all(&bytes).and_then(|_| file.sync_data());
    drop(file);
    match written.and_then(|_| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
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
        assert_eq!(
            p.parent().and_then(|d| d.file_name()).map(|n| n.to_string_lossy().into_owned()),
            Some(format!("devspaces-{}", uid()))
        );
    }

    fn sample() -> Synclog {
        Synclog { version: 1, service: "/s".into(), targets: BTreeMap::new() }
    }

    #[test]
    fn the_folder_and_file_are_private_and_a_planted_link_is_replaced_not_followed() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = tempfile::tempdir().expect("tempdir");
        let svc = tempfile::tempdir().expect("tempdir");
        let path = path_in(base.path(), svc.path());
        // A neighbour plants a link where the synclog goes, pointing at a file of the victim's.
        let victim = base.path().join("bashrc");
        std::fs::write(&victim, "mine").expect("write");
        ensure_private_dir(path.parent().expect("dir")).expect("private dir");
        std::os::unix::fs::symlink(&victim, &path).expect("symlink");
        assert!(load(&path).is_err(), "a link is refused");
        save(&path, &sample()).expect("save");
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "mine");
        let meta = std::fs::symlink_metadata(&path).expect("meta");
        assert!(meta.is_file());
        assert_eq!(meta.mode() & 0o777, 0o600);
        let dir = std::fs::metadata(path.parent().expect("dir")).expect("meta");
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        assert_eq!(load(&path), Ok(Some(sample())));
    }

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_hanging() {
        let base = tempfile::tempdir().expect("tempdir");
        let svc = tempfile::tempdir().expect("tempdir");
        let path = path_in(base.path(), svc.path());
        ensure_private_dir(path.parent().expect("dir")).expect("private dir");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
        let err = load(&path).expect_err("refused");
        assert!(err.contains("not a regular file"), "{err}");
        // The write goes through a new file and a rename: the FIFO is replaced.
        save(&path, &sample()).expect("save");
        assert_eq!(load(&path), Ok(Some(sample())));
    }

    #[test]
    fn a_folder_others_can_enter_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().expect("tempdir");
        let dir = base.path().join("devspaces-x");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = ensure_private_dir(&dir).expect_err("refused");
        assert!(err.to_string().contains("not a private folder"), "{err}");
        let other = base.path().join("devspaces-y");
        std::os::unix::fs::symlink(base.path(), &other).expect("symlink");
        assert!(ensure_private_dir(&other).is_err(), "a link to a folder is refused");
    }
}
