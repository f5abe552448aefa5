//! Sync: scan the workspace, diff against the synclog, send tar batches, delete known paths, commit.

pub mod synclog;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use devspaces_protocol::agent::SyncState;

use crate::agent::client::{AgentClient, AgentError};
use crate::classify::Rules;
use crate::config::{self, ContextPlace};
use synclog::{Entry, Synclog, Target};

/// Batches are split so no frame comes near the agent's limit.
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// A whole-workspace sync of at least this many paths builds large buffers (the scan, the tar
/// batches, the synclog's JSON) that the allocator keeps once freed; they are handed back to the
/// system after it (`release_free_memory`).
const BIG_SCAN: usize = 10_000;

/// Returns the heap's free pages to the system (glibc keeps them by default): the daemon's idle
/// size after a big sync is then what it holds, not the sync's peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Batches also close after this many files, so a full sync reports progress as it goes.
const MAX_BATCH_FILES: u32 = 1000;

/// A file as it is on disk now.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub entry: Entry,
    pub data: Vec<u8>,
}

/// Files larger than this are not synced (one agent frame carries at most 256 MiB); the user is
/// told which file and why, and the rest of the batch goes on.
pub const MAX_FILE_BYTES: u64 = 192 * 1024 * 1024;

/// Reads and hashes one file: `Ok(None)` when it is gone or no longer a regular file (a deletion),
/// `Err` for anything else (no permission, out of descriptors, too large): not a deletion.
pub fn read_local(abs: &Path) -> std::io::Result<Option<LocalFile>> {
    let gone =
        |e: &std::io::Error| matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory);
    let meta = match std::fs::symlink_metadata(abs) {
        Ok(m) => m,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "{} MB is over the {} MB a file may have to be synced; add it to .dockerignore or narrow the sync rules",
            meta.len() >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    let data = match std::fs::read(abs) {
        Ok(d) => d,
        Err(e) if gone(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mtime_ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
    let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(mtime_ns)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default();
    Ok(Some(LocalFile {
        entry: Entry {
            timestamp,
            mtime_ns,
            size: data.len() as u64,
            blake3: blake3::hash(&data).to_hex().to_string(),
            mode: meta.permissions().mode() & 0o7777,
        },
        data,
    }))
}

/// Walks `start` (inside the service `root`) without ever entering a folder the rules skip:
/// the one walk behind the initial scan and the watcher's list of folders.
pub fn walk_kept(root: &Path, start: &Path, rules: &Rules) -> impl Iterator<Item = ignore::DirEntry> {
    let (rules, root) = (rules.clone(), root.to_path_buf());
    ignore::WalkBuilder::new(start)
        .standard_filters(false)
        .follow_links(false)
        .filter_entry(move |e| {
            e.depth() == 0
                || !e.file_type().is_some_and(|t| t.is_dir())
                || !rules.skips_folder(&rel_of(&root, e.path()))
        })
        .build()
        .flatten()
}

/// Every file of the service that is not ignored, relative, `/`-separated; ignored folders are not entered.
pub fn scan(service_dir: &Path, rules: &Rules) -> Vec<String> {
    let mut out: Vec<String> = walk_kept(service_dir, service_dir, rules)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| rel_of(service_dir, e.path()))
        .filter(|rel| rules.in_image(rel))
        .collect();
    out.sort();
    out
}

pub fn rel_of(root: &Path, abs: &Path) -> String {
    abs.strip_prefix(root).unwrap_or(abs).to_string_lossy().replace('\\', "/")
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub sent: Vec<String>,
    pub deleted: Vec<String>,
    /// Files that could not be read (path, why): neither sent nor deleted.
    pub skipped: Vec<(String, String)>,
    pub bytes: u64,
    pub full: bool,
}

impl Report {
    pub fn files(&self) -> Vec<String> {
        let mut f = self.sent.clone();
        f.extend(self.deleted.iter().cloned());
        f
    }
}

/// The synclog of one service and the section of the current target.
pub struct Syncer {
    service_dir: PathBuf,
    /// Where the build context lies: the container receives paths relative to it, as `COPY . .`
    /// would lay them out (`..` puts `app.py` at `<service folder name>/app.py`).
    context: ContextPlace,
    path: PathBuf,
    key: String,
    log: Synclog,
    /// Acknowledged changes not yet written to the synclog.
    dirty: bool,
    /// A big whole-workspace sync ran: free memory goes back to the system at the next persist.
    release_after_big_sync: bool,
    /// Why the synclog could not be read or written, once, for the user.
    warning: Option<String>,
}

fn new_sync_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Syncer {
    /// The service's synclog in this process's `TMPDIR`.
    pub fn open(service_dir: &Path, target_key: &str, context: &str) -> Self {
        Self::open_at(synclog::path_for(service_dir), service_dir, target_key, context)
    }

    /// The synclog at `path` (`synclog::path_in` a client's `TMPDIR`).
    pub fn open_at(path: PathBuf, service_dir: &Path, target_key: &str, context: &str) -> Self {
        let (loaded, warning) = match synclog::load(&path) {
            Ok(l) => (l, None),
            Err(e) => (None, Some(e)),
        };
        let log = loaded.unwrap_or_else(|| Synclog {
            version: 1,
            service: std::fs::canonicalize(service_dir)
                .unwrap_or_else(|_| service_dir.to_path_buf())
                .display()
                .to_string(),
            targets: BTreeMap::new(),
        });
        Syncer {
            service_dir: service_dir.to_path_buf(),
            context: config::context_place(service_dir, context),
            path,
            key: target_key.to_string(),
            log,
            dirty: false,
            release_after_big_sync: false,
            warning,
        }
    }

    pub fn set_context(&mut self, context: &str) {
        self.context = config::context_place(&self.service_dir, context);
    }

    /// The path in the container for a service-relative path.
    fn remote(&self, rel: &str) -> String {
        self.context.in_context(rel).map(|r| r.into_owned()).unwrap_or_else(|| rel.to_string())
    }

    /// Whether the target has received `rel` (so its deletion must propagate).
    pub fn knows(&self, rel: &str) -> bool {
        self.target().is_some_and(|t| t.files.contains_key(rel))
    }

    /// The paths the target has received under a folder (`rel/...`): what a folder that is gone held.
    pub fn known_under<'a>(&'a self, rel: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        self.target().into_iter().flat_map(move |t| {
            let p = prefix.clone();
            t.files.range(prefix.clone()..).map(|(k, _)| k.as_str()).take_while(move |k| k.starts_with(&p))
        })
    }

    /// The paths the target has received.
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.target().into_iter().flat_map(|t| t.files.keys().map(String::as_str))
    }

    /// Whether `rel` differs from what the target received: unknown, or another mode or content.
    /// Size and mtime equal to the entry's mean unchanged without reading the file.
    pub fn differs(&self, rel: &str) -> bool {
        let Some(known) = self.target().and_then(|t| t.files.get(rel)) else { return true };
        let abs = self.service_dir.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&abs) else { return true };
        let mtime_ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_file() && meta.len() == known.size && mtime_ns == known.mtime_ns && mode == known.mode {
            return false;
        }
        !matches!(read_local(&abs), Ok(Some(l)) if l.entry.blake3 == known.blake3 && l.entry.mode == known.mode)
    }

    pub fn synclog_path(&self) -> &Path {
        &self.path
    }

    fn target(&self) -> Option<&Target> {
        self.log.targets.get(&self.key)
    }

    /// Whether the agent's state matches this synclog, so an incremental sync is enough.
    pub fn matches(&self, agent: Option<&SyncState>) -> bool {
        match (self.target(), agent) {
            (Some(t), Some(a)) => t.sync_id == a.sync_id && t.last_sync == a.last_sync,
            _ => false,
        }
    }

    /// Syncs the whole workspace: everything when `full`, else only what differs from the synclog.
    pub async fn sync_all(
        &mut self,
        agent: &AgentClient,
        rules: &Rules,
        full: bool,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<Report, AgentError> {
        let files = scan(&self.service_dir, rules);
        let mut paths = files.clone();
        if let Some(t) = self.target() {
            paths.extend(t.files.keys().filter(|k| files.binary_search(k).is_err()).cloned());
        }
        if full {
            self.log.targets.remove(&self.key);
        }
        let mut report = self.sync_paths_reporting(agent, &paths, progress).await?;
        report.full = full;
        if paths.len() >= BIG_SCAN {
            self.release_after_big_sync = true;
        }
        Ok(report)
    }

    /// Sends the listed paths that changed (by hash, size or mode), deletes known ones that are gone.
    pub async fn sync_paths(&mut self, agent: &AgentClient, paths: &[String]) -> Result<Report, AgentError> {
        self.sync_paths_reporting(agent, paths, &mut |_, _| {}).await
    }

    /// As `sync_paths`, calling `progress(paths done, paths in all)` after each batch is acknowledged.
    pub async fn sync_paths_reporting(
        &mut self,
        agent: &AgentClient,
        paths: &[String],
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<Report, AgentError> {
        let empty = BTreeMap::new();
        let known = self.target().map(|t| &t.files).unwrap_or(&empty);
        let mut report = Report::default();
        let mut batch = tar::Builder::new(Vec::new());
        let mut batch_count = 0u32;
        let mut new_entries = Vec::new();
        for (index, rel) in paths.iter().enumerate() {
            match read_local(&self.service_dir.join(rel)) {
                Ok(Some(local)) => {
                    if known.get(rel).is_some_and(|e| e.blake3 == local.entry.blake3 && e.mode == local.entry.mode) {
                        continue;
                    }
                    let mut h = tar::Header::new_gnu();
                    h.set_size(local.data.len() as u64);
                    h.set_mode(local.entry.mode);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_cksum();
                    batch.append_data(&mut h, self.remote(rel), local.data.as_slice()).map_err(AgentError::Io)?;
                    batch_count += 1;
                    report.bytes += local.data.len() as u64;
                    report.sent.push(rel.clone());
                    new_entries.push((rel.clone(), local.entry));
                    if batch.get_ref().len() > MAX_BATCH_BYTES || batch_count >= MAX_BATCH_FILES {
                        let full = std::mem::replace(&mut batch, tar::Builder::new(Vec::new()));
                        agent.send_files(batch_count, full.into_inner().map_err(AgentError::Io)?).await?;
                        batch_count = 0;
                        progress(index + 1, paths.len());
                    }
                }
                Ok(None) if known.contains_key(rel) => report.deleted.push(rel.clone()),
                Ok(None) => {}
                // Only "gone" deletes: the container keeps its copy and the synclog its entry.
                Err(e) => report.skipped.push((rel.clone(), e.to_string())),
            }
        }
        if batch_count > 0 {
            agent.send_files(batch_count, batch.into_inner().map_err(AgentError::Io)?).await?;
        }
        if !report.deleted.is_empty() {
            agent.delete(report.deleted.iter().map(|p| self.remote(p)).collect()).await?;
        }
        let changed = !report.sent.is_empty() || !report.deleted.is_empty() || self.target().is_none();
        if changed {
            let now = devspaces_protocol::clock::now_rfc3339();
            let fresh = self.target().is_none();
            let t = self.log.targets.entry(self.key.clone()).or_default();
            if fresh || t.sync_id.is_empty() {
                t.sync_id = new_sync_id();
            }
            // RFC 3339 with nanoseconds keeps two syncs within one second distinct.
            t.last_sync = now;
            for (rel, e) in new_entries {
                t.files.insert(rel, e);
            }
            for rel in &report.deleted {
                t.files.remove(rel);
            }
            let state = SyncState { sync_id: t.sync_id.clone(), last_sync: t.last_sync.clone() };
            agent.commit(state).await?;
            self.dirty = true;
        }
        Ok(report)
    }

    /// Writes the synclog if a sync changed it. Called only after the agent acknowledged (a crash
    /// before it causes a re-send, never a loss), and off the hot path: after a restart was sent.
    pub fn persist(&mut self) {
        if std::mem::take(&mut self.dirty) {
            if let Err(e) = synclog::save(&self.path, &self.log) {
                self.warning = Some(format!("cannot write the synclog {}: {e}", self.path.display()));
            }
        }
        if std::mem::take(&mut self.release_after_big_sync) {
            release_free_memory();
        }
    }

    /// A problem with the synclog file worth a line in the log (the sync itself goes on).
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }
}
