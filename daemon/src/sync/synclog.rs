//! The client-side synclog of the seed: `<tmp>/devspaces-<uid>/<sha256 of the service path>.synclog`,
//! one section per target, in a folder only the user can enter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One synced file as the container has it: 56 bytes and no heap block of its own (a service of
/// 100,000 files keeps 100,000 of them). On disk it is the seed's entry: `timestamp` (RFC 3339,
/// derived from `mtime_ns` when written), `mtimeNs`, `size`, `blake3` (64 hex digits), `mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The file's modification time when it was sent, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub size: u64,
    pub blake3: [u8; 32],
    pub mode: u32,
}

/// An mtime in nanoseconds since the epoch as RFC 3339 (the entry's `timestamp` on disk).
pub fn timestamp_of(mtime_ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(mtime_ns as i128)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// A path's place in [`Files`]' arena, and its entry.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    len: u32,
    entry: Entry,
}

/// The files a target received, sorted by path: one array of fixed-size slots and one arena that
/// holds every path's bytes back to back, instead of a map of owned strings (a tree node share,
/// a key and two strings per file, scattered over the heap). Lookups are binary searches; a batch
/// of changes is applied at once ([`Files::update`]).
#[derive(Debug, Clone, Default)]
pub struct Files {
    slots: Vec<Slot>,
    names: String,
    /// Bytes of `names` that no slot refers to any more (removed paths).
    garbage: usize,
}

/// Batches adding more paths than this are merged in one pass instead of inserted one by one.
const MERGE_ABOVE: usize = 32;

impl Files {
    fn name(&self, s: &Slot) -> &str {
        &self.names[s.start..s.start + s.len as usize]
    }

    fn find(&self, rel: &str) -> Result<usize, usize> {
        self.slots.binary_search_by(|s| self.name(s).cmp(rel))
    }

    fn push_name(&mut self, rel: &str) -> (usize, u32) {
        let start = self.names.len();
        self.names.push_str(rel);
        (start, rel.len() as u32)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn get(&self, rel: &str) -> Option<&Entry> {
        self.find(rel).ok().map(|i| &self.slots[i].entry)
    }

    pub fn contains(&self, rel: &str) -> bool {
        self.find(rel).is_ok()
    }

    /// Every path and its entry, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.slots.iter().map(|s| (self.name(s), &s.entry))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| self.name(s))
    }

    /// The paths that start with `prefix`, in order.
    pub fn starting_with<'a>(&'a self, prefix: &str) -> impl Iterator<Item = &'a str> + 'a {
        let from = self.slots.partition_point(|s| self.name(s) < prefix);
        let to = from + self.slots[from..].iter().take_while(|s| self.name(s).starts_with(prefix)).count();
        self.slots[from..to].iter().map(|s| self.name(s))
    }

    pub fn insert(&mut self, rel: &str, entry: Entry) {
        self.update([(rel, entry)], []);
    }

    pub fn remove(&mut self, rel: &str) {
        self.update([], [rel]);
    }

    /// Records what one sync did: `sent` paths get their new entries, `deleted` ones are removed.
    pub fn update<'a>(
        &mut self,
        sent: impl IntoIterator<Item = (&'a str, Entry)>,
        deleted: impl IntoIterator<Item = &'a str>,
    ) {
        let mut added: Vec<Slot> = Vec::new();
        for (rel, entry) in sent {
            match self.find(rel) {
                Ok(i) => self.slots[i].entry = entry,
                Err(_) => {
                    let (start, len) = self.push_name(rel);
                    added.push(Slot { start, len, entry });
                }
            }
        }
        if !added.is_empty() {
            // The last of a path given twice wins.
            added.sort_by(|a, b| self.name(a).cmp(self.name(b)));
            let mut unique: Vec<Slot> = Vec::with_capacity(added.len());
            for s in added {
                match unique.last_mut() {
                    Some(last) if self.name(last) == self.name(&s) => {
                        self.garbage += last.len as usize;
                        *last = s;
                    }
                    _ => unique.push(s),
                }
            }
            if unique.len() <= MERGE_ABOVE {
                for s in unique {
                    let at = self.find(self.name(&s)).unwrap_or_else(|i| i);
                    self.slots.insert(at, s);
                }
            } else {
                let old = std::mem::take(&mut self.slots);
                let mut merged = Vec::with_capacity(old.len() + unique.len());
                let (mut a, mut b) = (old.into_iter().peekable(), unique.into_iter().peekable());
                loop {
                    let next = match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) if self.name(x) < self.name(y) => a.next(),
                        (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                        (Some(_), None) => a.next(),
                        (None, None) => break,
                    };
                    merged.extend(next);
                }
                self.slots = merged;
                self.names.shrink_to_fit();
            }
        }
        let mut gone: Vec<usize> = deleted.into_iter().filter_map(|rel| self.find(rel).ok()).collect();
        if !gone.is_empty() {
            gone.sort_unstable();
            gone.dedup();
            self.garbage += gone.iter().map(|&i| self.slots[i].len as usize).sum::<usize>();
            let (mut index, mut next) = (0, 0);
            self.slots.retain(|_| {
                let keep = gone.get(next) != Some(&index);
                next += usize::from(!keep);
                index += 1;
                keep
            });
            if self.garbage > 4096 && self.garbage * 2 > self.names.len() {
                self.compact();
            }
        }
    }

    /// Rewrites the arena without the paths no slot refers to.
    fn compact(&mut self) {
        let mut names = String::with_capacity(self.names.len() - self.garbage);
        for s in &mut self.slots {
            let start = names.len();
            names.push_str(&self.names[s.start..s.start + s.len as usize]);
            s.start = start;
        }
        self.names = names;
        self.garbage = 0;
        self.slots.shrink_to_fit();
    }
}

impl PartialEq for Files {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Files {}

impl<'a> FromIterator<(&'a str, Entry)> for Files {
    fn from_iter<I: IntoIterator<Item = (&'a str, Entry)>>(iter: I) -> Self {
        let mut f = Files::default();
        f.update(iter, []);
        f
    }
}

/// An entry as it is written: the seed's fields, the timestamp and the hex made on the way out.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryOut<'a> {
    timestamp: String,
    mtime_ns: i128,
    size: u64,
    blake3: &'a str,
    mode: u32,
}

/// An entry as it is read (`timestamp` is derived from `mtimeNs`, so it is not kept).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryIn {
    mtime_ns: i128,
    size: u64,
    blake3: Hash,
    mode: u32,
}

/// A BLAKE3 hash read from its 64 hex digits without an intermediate string.
struct Hash([u8; 32]);

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Hash;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a BLAKE3 hash in 64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hash, E> {
                blake3::Hash::from_hex(v).map(|h| Hash(*h.as_bytes())).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for Files {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (name, e) in self.iter() {
            let hex = blake3::Hash::from_bytes(e.blake3).to_hex();
            let out = EntryOut {
                timestamp: timestamp_of(e.mtime_ns),
                mtime_ns: e.mtime_ns as i128,
                size: e.size,
                blake3: hex.as_str(),
                mode: e.mode,
            };
            m.serialize_entry(name, &out)?;
        }
        m.end()
    }
}

/// Reads a path straight into the arena (no string per path on the way).
struct NameInto<'a>(&'a mut String);

impl serde::de::Visitor<'_> for NameInto<'_> {
    type Value = (usize, u32);
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a path")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let start = self.0.len();
        self.0.push_str(v);
        u32::try_from(v.len()).map(|len| (start, len)).map_err(E::custom)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for NameInto<'_> {
    type Value = (usize, u32);
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Deserialize<'de> for Files {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Files;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of paths to entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Files, A::Error> {
                let mut f = Files::default();
                let mut slots = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((start, len)) = map.next_key_seed(NameInto(&mut f.names))? {
                    let e: EntryIn = map.next_value()?;
                    // Beyond the year 2262 (or before 1678): never equal to a file's mtime, so the file is read.
                    let mtime_ns = i64::try_from(e.mtime_ns).unwrap_or(i64::MIN);
                    let entry = Entry { mtime_ns, size: e.size, blake3: e.blake3.0, mode: e.mode };
                    slots.push(Slot { start, len, entry });
                }
                // Written in order; a file edited by hand may not be.
                if !slots.windows(2).all(|w| f.name(&w[0]) < f.name(&w[1])) {
                    let (names, slots) = (std::mem::take(&mut f.names), std::mem::take(&mut slots));
                    return Ok(slots.iter().map(|s| (&names[s.start..s.start + s.len as usize], s.entry)).collect());
                }
                f.slots = slots;
                f.names.shrink_to_fit();
                Ok(f)
            }
        }
        d.deserialize_map(V)
    }
}

/// What one backend and space (a target) has received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub sync_id: String,
    pub last_sync: String,
    pub files: Files,
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

    fn entry(n: u8) -> Entry {
        Entry { mtime_ns: 1_764_504_000_123_456_789 + n as i64, size: n as u64, blake3: [n; 32], mode: 0o644 }
    }

    #[test]
    fn the_seeds_entries_are_read_and_written_the_same_way() {
        // An entry as the seed (and every earlier devspaces) wrote it.
        let text = r#"{"version":1,"service":"/s","targets":{"local/default":{"syncId":"ab","lastSync":"2026-11-30T11:00:00.5Z","files":{
            "b/c.py":{"timestamp":"2025-11-30T12:00:00.123456789Z","mtimeNs":1764504000123456789,"size":3,"blake3":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","mode":420},
            "a.py":{"timestamp":"2025-11-30T12:00:00Z","mtimeNs":1764504000000000000,"size":0,"blake3":"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262","mode":493}}}}}"#;
        let log: Synclog = serde_json::from_str(text).expect("parse");
        let files = &log.targets["local/default"].files;
        assert_eq!(files.keys().collect::<Vec<_>>(), ["a.py", "b/c.py"], "sorted, whatever the order on disk");
        let e = files.get("b/c.py").expect("entry");
        assert_eq!((e.mtime_ns, e.size, e.mode), (1_764_504_000_123_456_789, 3, 0o644));
        assert_eq!(e.blake3, *blake3::hash(b"").as_bytes());
        // Written back: the same fields, the timestamp derived from the mtime.
        let back: serde_json::Value = serde_json::to_value(&log).expect("write");
        let b = &back["targets"]["local/default"]["files"]["b/c.py"];
        assert_eq!(b["timestamp"], "2025-11-30T12:00:00.123456789Z");
        assert_eq!(b["mtimeNs"], 1_764_504_000_123_456_789i64);
        assert_eq!(b["blake3"], "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
        assert_eq!((b["size"].as_u64(), b["mode"].as_u64()), (Some(3), Some(0o644)));
        assert_eq!(serde_json::from_value::<Synclog>(back).expect("read again"), log);
        // A hash that is not 64 hex digits makes the file unreadable: a full sync.
        assert!(serde_json::from_str::<Synclog>(&text.replacen("af1349", "zz1349", 1)).is_err());
    }

    #[test]
    fn files_are_kept_sorted_through_inserts_merges_replacements_and_removals() {
        let mut f = Files::default();
        f.update([("m", entry(1)), ("c", entry(2)), ("x", entry(3)), ("c", entry(4))], []);
        assert_eq!(f.iter().map(|(k, e)| (k, e.size)).collect::<Vec<_>>(), [("c", 4), ("m", 1), ("x", 3)]);
        // More than MERGE_ABOVE new paths at once are merged in one pass.
        // Long names, so that removing most of them leaves enough garbage to compact the arena.
        let names: Vec<String> = (0..100).map(|i| format!("d/{i:03}-{}", "-".repeat(60))).collect();
        f.update(names.iter().map(|n| (n.as_str(), entry(9))), ["m"]);
        assert_eq!(f.len(), 102);
        assert!(f.keys().zip(f.keys().skip(1)).all(|(a, b)| a < b), "sorted");
        assert_eq!(f.starting_with("d/").count(), 100);
        assert_eq!(f.starting_with("d/09").collect::<Vec<_>>(), names[90..]);
        assert!(!f.contains("m") && f.contains("x") && f.get(&names[50]) == Some(&entry(9)));
        f.insert("x", entry(7));
        assert_eq!(f.get("x"), Some(&entry(7)));
        // Removing most paths compacts the arena; what is left reads the same.
        f.update([], names[..90].iter().map(String::as_str));
        assert_eq!(f.garbage, 0, "compacted");
        assert_eq!(f.keys().collect::<Vec<_>>()[..3], ["c", names[90].as_str(), names[91].as_str()]);
        f.remove("c");
        let rebuilt: Files = f.iter().map(|(k, e)| (k, *e)).collect();
        assert_eq!(rebuilt, f);
        assert_eq!(f.len(), 11);
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
