//! Writes synced files under the agent's root, refusing absolute paths, `..` and symlink escapes.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Checks a wire path and returns it joined to `root` if it stays inside, symlinks resolved.
pub fn resolve(root: &Path, wire: &str) -> Result<PathBuf, String> {
    if wire.is_empty() {
        return Err("refusing empty path".into());
    }
    let rel = Path::new(wire);
    for c in rel.components() {
        match c {
            Component::Normal(_) => {}
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("refusing path '{wire}': contains '..'")),
            Component::RootDir | Component::Prefix(_) => return Err(format!("refusing path '{wire}': absolute")),
        }
    }
    let joined = root.join(rel);
    // The deepest folder that exists must resolve inside the root, whatever symlinks lie on the way.
    let root_real = root.canonicalize().map_err(|e| format!("cannot resolve root {}: {e}", root.display()))?;
    let mut probe = joined.parent().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
    loop {
        match probe.canonicalize() {
            Ok(real) => {
                if !real.starts_with(&root_real) {
                    return Err(format!("refusing path '{wire}': escapes the root through a symlink"));
                }
                break;
            }
            Err(_) => {
                if !probe.pop() {
                    break;
                }
            }
        }
    }
    if let Ok(meta) = std::fs::symlink_metadata(&joined) {
        if meta.file_type().is_symlink() {
            // Writing through it could land outside; replacing the link itself is what a sync means.
            if let Ok(real) = joined.canonicalize() {
                if !real.starts_with(&root_real) {
                    return Err(format!("refusing path '{wire}': escapes the root through a symlink"));
                }
            }
        }
    }
    Ok(joined)
}

fn temp_name(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    target.with_file_name(format!(".{name}.devspaces-{hex}"))
}

/// Writes `data` to `target` atomically (temp file in the same folder, then rename), with `mode`.
pub fn write_atomic(target: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = temp_name(target);
    let result = (|| {
        std::fs::write(&tmp, data)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode & 0o7777))?;
        std::fs::rename(&tmp, target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Applies a tar batch of regular files under `root`; every path is checked before anything is written.
pub fn apply_tar(root: &Path, tar_bytes: &[u8]) -> Result<u32, String> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut staged = Vec::new();
    for entry in archive.entries().map_err(|e| format!("bad tar batch: {e}"))? {
        let mut entry = entry.map_err(|e| format!("bad tar entry: {e}"))?;
        let path = entry.path().map_err(|e| format!("bad tar path: {e}"))?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(format!("refusing '{path}': only regular files are synced"));
        }
        let target = resolve(root, &path)?;
        let mode = entry.header().mode().unwrap_or(0o644);
        let mut data = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut data).map_err(|e| format!("reading '{path}' from the batch: {e}"))?;
        staged.push((target, data, mode));
    }
    let count = staged.len() as u32;
    for (target, data, mode) in staged {
        write_atomic(&target, &data, mode).map_err(|e| format!("writing {}: {e}", target.display()))?;
    }
    Ok(count)
}

/// Deletes the given files; a file already gone is not an error, and folders are never removed.
pub fn delete(root: &Path, paths: &[String]) -> Result<u32, String> {
    let targets = paths.iter().map(|p| resolve(root, p)).collect::<Result<Vec<_>, _>>()?;
    let mut n = 0;
    for t in targets {
        match std::fs::remove_file(&t) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("deleting {}: {e}", t.display())),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("ok")).expect("mkdir");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
        std::os::unix::fs::symlink(root.join("ok"), root.join("inside")).expect("symlink");
        let cases: &[(&str, Option<&str>)] = &[
            ("ok/a.txt", None),
            ("new/deep/a.txt", None),
            ("inside/a.txt", None),
            ("/etc/passwd", Some("refusing path '/etc/passwd': absolute")),
            ("../x", Some("refusing path '../x': contains '..'")),
            ("ok/../../x", Some("refusing path 'ok/../../x': contains '..'")),
            ("escape/a.txt", Some("refusing path 'escape/a.txt': escapes the root through a symlink")),
            ("escape/new/a.txt", Some("refusing path 'escape/new/a.txt': escapes the root through a symlink")),
        ];
        for (wire, want) in cases {
            let got = resolve(&root, wire);
            match want {
                None => assert!(got.is_ok(), "{wire}: {got:?}"),
                Some(msg) => assert_eq!(got.expect_err(wire), *msg),
            }
        }
    }

    #[test]
    fn tar_batch_writes_atomically_and_keeps_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, "bin/run.sh", &b"hi\n"[..]).expect("append");
        let bytes = b.into_inner().expect("tar");
        assert_eq!(apply_tar(dir.path(), &bytes), Ok(1));
        let meta = std::fs::metadata(dir.path().join("bin/run.sh")).expect("written");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("bin")).expect("dir").collect();
        assert_eq!(leftovers.len(), 1, "no temp files stay behind");
    }
}
