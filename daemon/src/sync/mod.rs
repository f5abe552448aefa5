//! Sync: scan the workspace, diff against the synclog, send tar batches, delete known paths, commit.

pub mod synclog;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use devspaces_protocol::agent::{CheckFile, SyncState};

use crate::agent::client::{AgentClient, AgentError};
use crate::classify::Rules;
use crate::config::{self, ContextPlace};
use synclog::{Entry, Synclog, Target};

/// Batches are split so no frame comes near the agent's limit.
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// A whole-workspace sync of at least this many paths builds large buffers (the scan, the tar
/// batches, the report, the `synced` event's file list) that the allocator keeps once freed; they
/// are handed back to the system once they are gone (`release_free_memory`, from the session a
/// moment after the deploy).
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

/// Fixes glibc's thresholds, for the whole process (called first thing by `main`). By default
/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MB) and its
/// trim threshold to twice that, and gives threads arenas of their own: after one sync of 100,000
/// files (a 20 MB synclog write, 64 MB tar batches) every later block under 32 MB came from the
/// arenas and their free tops were never given back (62 MB of heap holding 16 MB, most of it in
/// two thread arenas, whose tops `malloc_trim` does not shrink). Fixed thresholds keep large
/// blocks in mappings of their own, returned when freed, and give back an arena's free top past
/// 1 MB; two arenas are plenty for a daemon whose work is a few tasks.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets glibc's tunables; it takes no pointers and runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// A full sync asks the agent which files it already holds this many at a time.
const CHECK_BATCH: usize = 8192;

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
    Ok(Some(LocalFile {
        entry: Entry {
            mtime_ns: mtime_ns_of(&meta),
            size: data.len() as u64,
            blake3: *blake3::hash(&data).as_bytes(),
            mode: meta.permissions().mode() & 0o7777,
        },
        data,
    }))
}

/// The modification time in nanoseconds since the epoch, as the synclog keeps it.
fn mtime_ns_of(meta: &std::fs::Metadata) -> i64 {
    meta.mtime().saturating_mul(1_000_000_000).saturating_add(meta.mtime_nsec())
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
    /// Files not sent because the container already held them as they are (for a full sync, the
    /// files its image was built with).
    pub unchanged: usize,
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
    /// A big whole-workspace sync ran: free memory goes back to the system at the next
    /// [`Syncer::persist_in_background`], once the sync's buffers are gone.
    release_after_big_sync: bool,
    /// Why the synclog could not be read or written, once, for the user.
    warning: Option<String>,
    /// A full sync asks the agent what the container holds first (off: it sends every file).
    check_container: bool,
    /// Snapshots handed to a writer so far; `written` says which one is on disk.
    snapshots: u64,
    written: Arc<Mutex<Written>>,
}

/// What the synclog's writers did: the latest snapshot written (an older one that comes later is
/// dropped, so the file never goes back), and why the last write failed.
#[derive(Default)]
struct Written {
    snapshot: u64,
    warning: Option<String>,
}

impl Written {
    fn write(&mut self, snapshot: u64, path: &Path, log: &Synclog) {
        if snapshot <= self.snapshot {
            return;
        }
        self.snapshot = snapshot;
        if let Err(e) = synclog::save(path, log) {
            self.warning = Some(format!("cannot write the synclog {}: {e}", path.display()));
        }
    }
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
            check_container: true,
            snapshots: 0,
            written: Arc::default(),
        }
    }

    /// `false` (`DEVSPACES_SYNC_CHECK=off` in the client's environment): a full sync sends every
    /// file, as before the check existed; the benchmarks use it to measure what the check saves.
    pub fn set_check_container(&mut self, check: bool) {
        self.check_container = check;
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
        self.target().is_some_and(|t| t.files.contains(rel))
    }

    /// The paths the target has received under a folder (`rel/...`): what a folder that is gone held.
    pub fn known_under<'a>(&'a self, rel: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        self.target().into_iter().flat_map(move |t| t.files.starting_with(&prefix))
    }

    /// The paths the target has received.
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.target().into_iter().flat_map(|t| t.files.keys())
    }

    /// Whether `rel` differs from what the target received: unknown, or another mode or content.
    /// Size and mtime equal to the entry's mean unchanged without reading the file.
    pub fn differs(&self, rel: &str) -> bool {
        let Some(known) = self.target().and_then(|t| t.files.get(rel)) else { return true };
        let abs = self.service_dir.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&abs) else { return true };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_file() && meta.len() == known.size && mtime_ns_of(&meta) == known.mtime_ns && mode == known.mode {
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
        let mut paths = scan(&self.service_dir, rules);
        // What the target received and the tree no longer has: deleted.
        let gone: Vec<String> = match self.target() {
            Some(t) => t
                .files
                .keys()
                .filter(|k| paths.binary_search_by(|p| p.as_str().cmp(k)).is_err())
                .map(String::from)
                .collect(),
            None => Vec::new(),
        };
        if full {
            // A new container: what its image holds stands in for the synclog (a new sync id is
            // drawn at the commit), so the files the image was built from are not sent again.
            self.log.targets.remove(&self.key);
            let held = match self.check_container {
                true => self.held_by(agent, &paths).await?,
                false => Vec::new(),
            };
            if !held.is_empty() {
                let t = self.log.targets.entry(self.key.clone()).or_default();
                t.files.update(held.iter().map(|(rel, e)| (rel.as_str(), *e)), []);
            }
        }
        paths.extend(gone);
        let mut report = self.sync_paths_reporting(agent, &paths, progress).await?;
        report.full = full;
        if paths.len() >= BIG_SCAN {
            self.release_after_big_sync = true;
        }
        Ok(report)
    }

    /// Which of `paths` (sorted, service-relative) the agent's root already holds, with the entry
    /// that says so (content hash and permission bits as the agent read them; no mtime).
    async fn held_by(&self, agent: &AgentClient, paths: &[String]) -> Result<Vec<(String, Entry)>, AgentError> {
        let mut held = Vec::new();
        let sized: Vec<(&String, u64)> = paths
            .iter()
            .filter_map(|rel| {
                let meta = std::fs::symlink_metadata(self.service_dir.join(rel)).ok()?;
                meta.is_file().then_some((rel, meta.len()))
            })
            .collect();
        for chunk in sized.chunks(CHECK_BATCH) {
            let files = chunk.iter().map(|(rel, size)| CheckFile { path: self.remote(rel), size: *size }).collect();
            for h in agent.check(files).await? {
                let (Some(&(rel, size)), Ok(hash)) = (chunk.get(h.index as usize), blake3::Hash::from_hex(&h.blake3))
                else {
                    continue;
                };
                held.push((rel.clone(), Entry { mtime_ns: 0, size, blake3: *hash.as_bytes(), mode: h.mode }));
            }
        }
        Ok(held)
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
        let empty = synclog::Files::default();
        let known = self.target().map(|t| &t.files).unwrap_or(&empty);
        let mut report = Report::default();
        let mut batch = tar::Builder::new(Vec::new());
        let mut batch_count = 0u32;
        let mut new_entries = Vec::new();
        // Unchanged files whose entry gets the file's mtime (so the next look needs no read).
        let mut touched = Vec::new();
        for (index, rel) in paths.iter().enumerate() {
            match read_local(&self.service_dir.join(rel)) {
                Ok(Some(local)) => {
                    if let Some(e) =
                        known.get(rel).filter(|e| e.blake3 == local.entry.blake3 && e.mode == local.entry.mode)
                    {
                        report.unchanged += 1;
                        if e.mtime_ns != local.entry.mtime_ns {
                            touched.push((index, local.entry));
                        }
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
                    new_entries.push((index, local.entry));
                    if batch.get_ref().len() > MAX_BATCH_BYTES || batch_count >= MAX_BATCH_FILES {
                        let full = std::mem::replace(&mut batch, tar::Builder::new(Vec::new()));
                        agent.send_files(batch_count, full.into_inner().map_err(AgentError::Io)?).await?;
                        batch_count = 0;
                        progress(index + 1, paths.len());
                    }
                }
                Ok(None) if known.contains(rel) => report.deleted.push(rel.clone()),
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
        if !touched.is_empty() {
            let t = self.log.targets.entry(self.key.clone()).or_default();
            t.files.update(touched.iter().map(|&(i, e)| (paths[i].as_str(), e)), []);
            self.dirty = true;
        }
        let changed =
            !report.sent.is_empty() || !report.deleted.is_empty() || self.target().is_none_or(|t| t.sync_id.is_empty());
        if changed {
            let now = devspaces_protocol::clock::now_rfc3339();
            let t = self.log.targets.entry(self.key.clone()).or_default();
            if t.sync_id.is_empty() {
                t.sync_id = new_sync_id();
            }
            // RFC 3339 with nanoseconds keeps two syncs within one second distinct.
            t.last_sync = now;
            let sent = new_entries.iter().map(|&(i, e)| (paths[i].as_str(), e));
            t.files.update(sent, report.deleted.iter().map(String::as_str));
            let state = SyncState { sync_id: t.sync_id.clone(), last_sync: t.last_sync.clone() };
            agent.commit(state).await?;
            self.dirty = true;
        }
        Ok(report)
    }

    /// Whether acknowledged changes are not written to the synclog yet.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// A big sync ran whose freed memory is not given back yet.
    pub fn wants_release(&self) -> bool {
        self.release_after_big_sync
    }

    /// Writes the synclog now if a sync changed it (after any write in flight). Called only after
    /// the agent acknowledged: a crash before it causes a re-send, never a loss.
    pub fn persist(&mut self) {
        if std::mem::take(&mut self.dirty) {
            self.snapshots += 1;
            if let Ok(mut w) = self.written.lock() {
                w.write(self.snapshots, &self.path, &self.log);
            }
        }
    }

    /// As [`Syncer::persist`], on a blocking thread: a copy of the synclog (a target's files are
    /// two buffers) is serialized and written there while the caller goes on. After a big sync,
    /// the allocator's free pages then go back to the system.
    pub fn persist_in_background(&mut self) {
        let release = std::mem::take(&mut self.release_after_big_sync);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.persist();
            if release {
                release_free_memory();
            }
            return;
        };
        let job = std::mem::take(&mut self.dirty).then(|| {
            self.snapshots += 1;
            (self.snapshots, self.log.clone(), self.path.clone(), self.written.clone())
        });
        if job.is_none() && !release {
            return;
        }
        runtime.spawn_blocking(move || {
            if let Some((snapshot, log, path, written)) = job {
                if let Ok(mut w) = written.lock() {
                    w.write(snapshot, &path, &log);
                }
            }
            if release {
                release_free_memory();
            }
        });
    }

    /// A problem with the synclog file worth a line in the log (the sync itself goes on).
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take().or_else(|| self.written.lock().ok().and_then(|mut w| w.warning.take()))
    }
}
