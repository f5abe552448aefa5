//! The agent's batch application (tar entries, path checks, writes beneath the root) and its
//! deletions, on batches built from the fuzzer's input with raw header fields (any name bytes,
//! type, mode and claimed size). Into a root holding symlinks that lead outside, inside, and to
//! an absolute path: nothing is ever written or deleted outside the root, no temp file stays,
//! and nothing panics.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Entry {
    name: Vec<u8>,
    kind: u8,
    mode: u32,
    /// The size the header claims; the data that follows is `data`, whatever the claim.
    claimed: Option<u64>,
    data: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Batch {
    entries: Vec<Entry>,
    /// Bytes cut from the end of the archive (a batch that ends early).
    cut: u16,
    deletions: Vec<String>,
}

fn archive(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for e in &batch.entries {
        let mut h = tar::Header::new_gnu();
        {
            let raw = h.as_old_mut();
            let n = e.name.len().min(raw.name.len());
            raw.name[..n].copy_from_slice(&e.name[..n]);
        }
        h.set_mode(e.mode);
        h.set_entry_type(tar::EntryType::new(e.kind));
        h.set_size(e.claimed.unwrap_or(e.data.len() as u64));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out.truncate(out.len().saturating_sub(batch.cut as usize));
    out
}

/// Every file under `dir` (symlinks not followed), relative.
fn files(dir: &Path, rel: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir.join(rel)) else { return };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        match e.file_type() {
            Ok(t) if t.is_dir() => files(dir, &r, out),
            _ => out.push(r),
        }
    }
}

/// Where each run's root goes: `DEVSPACES_FUZZ_SCRATCH` (tests/fuzz/run.sh makes one in memory,
/// /dev/shm, as disk metadata is slow, and removes it), else the temp folder.
fn scratch() -> tempfile::TempDir {
    let dir =
        std::env::var_os("DEVSPACES_FUZZ_SCRATCH").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new().prefix("agent-tar-").tempdir_in(dir).expect("tempdir")
}

fuzz_target!(|batch: Batch| {
    let base = scratch();
    let (root, outside) = (base.path().join("root"), base.path().join("outside"));
    std::fs::create_dir_all(root.join("ok")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("keep"), "outside").expect("write");
    std::os::unix::fs::symlink(&outside, root.join("escape")).expect("symlink");
    std::os::unix::fs::symlink("../outside", root.join("up")).expect("symlink");
    std::os::unix::fs::symlink("ok", root.join("inside")).expect("symlink");
    std::os::unix::fs::symlink(root.join("ok"), root.join("abs")).expect("symlink");
    let _ = devspaces_agent::fs::apply_tar(&root, &archive(&batch));
    let _ = devspaces_agent::fs::delete(&root, &batch.deletions);
    let mut out = Vec::new();
    files(&outside, Path::new(""), &mut out);
    assert_eq!(out, vec![std::path::PathBuf::from("keep")], "the batch reached outside the root");
    let mut inside = Vec::new();
    files(&root, Path::new(""), &mut inside);
    for f in inside {
        let name = f.file_name().unwrap_or_default().as_encoded_bytes().to_vec();
        assert!(!devspaces_agent::fs::is_temp_name(&name), "a temp file stayed: {f:?}");
    }
});
