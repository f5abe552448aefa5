//! Watches the kept folders of a service (never ignored ones) and coalesces events into batches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::classify::Rules;
use crate::sync::rel_of;

/// One raw hint from the file system: a relative path, a path closed after writing (its content
/// is complete), or a request to rescan everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Path(String),
    Written(String),
    Rescan,
}

/// Once every path of a batch was closed after writing (an in-place save: open, write, close), the
/// batch closes this long after the last close instead of the full quiet time: long enough for the
/// rename that follows a temp file's close, which comes within microseconds.
const AFTER_CLOSE: Duration = Duration::from_micros(200);

/// A coalesced batch of changed paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub paths: BTreeSet<String>,
    pub rescan: bool,
    /// When its first hint arrived (from the watcher; `None` for a batch made by a request).
    pub seen: Option<Instant>,
}

enum Backend {
    Native(notify::RecommendedWatcher),
    Poll(notify::PollWatcher),
}

/// Keeps the OS watches alive; dropping it stops watching.
pub struct WatchHandle {
    _inner: Arc<Mutex<Backend>>,
    pub polling: bool,
    pub warning: Option<String>,
}

fn kept_folders(root: &Path, start: &Path, rules: &Rules) -> Vec<PathBuf> {
    crate::sync::walk_kept(root, start, rules)
        .filter(|e| e.file_type().is_some_and(|t| t.is_dir()))
        .map(|e| e.into_path())
        .collect()
}

fn read_limit(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Starts watching; hints arrive on the returned channel (for [`coalesce`]), which closes when the
/// handle is dropped.
pub fn start(root: &Path, rules: Arc<Rules>) -> Result<(WatchHandle, std::sync::mpsc::Receiver<Hint>), notify::Error> {
    let (tx, rx) = std::sync::mpsc::channel();
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let folders = kept_folders(&root, &root, &rules);
    let (dir_tx, dir_rx) = std::sync::mpsc::channel::<PathBuf>();
    let handler = {
        let tx = tx.clone();
        let root = root.clone();
        let rules = rules.clone();
        move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else {
                let _ = tx.send(Hint::Rescan);
                return;
            };
            if ev.need_rescan() {
                let _ = tx.send(Hint::Rescan);
            }
            let written = matches!(
                ev.kind,
                EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write))
            );
            if matches!(ev.kind, EventKind::Access(_)) && !written {
                return;
            }
            for p in ev.paths {
                let rel = rel_of(&root, &p);
                if rel.is_empty() || rel.starts_with("..") {
                    continue;
                }
                if matches!(ev.kind, EventKind::Create(_) | EventKind::Modify(notify::event::ModifyKind::Name(_)))
                    && p.is_dir()
                {
                    if !rules.skips_folder(&rel) {
                        let _ = dir_tx.send(p.clone());
                        let _ = tx.send(Hint::Rescan);
                    }
                    continue;
                }
                let _ = tx.send(if written { Hint::Written(rel) } else { Hint::Path(rel) });
            }
        }
    };
    let (backend, polling, warning) = match notify::recommended_watcher(handler.clone()) {
        Ok(mut w) => match folders.iter().try_for_each(|f| w.watch(f, RecursiveMode::NonRecursive)) {
            Ok(()) => (Backend::Native(w), false, None),
            Err(e) => {
                let (what, sysctl) = match e.kind {
                    notify::ErrorKind::MaxFilesWatch => ("watch limit", "fs.inotify.max_user_watches"),
                    _ => ("watch error", "fs.inotify.max_user_watches"),
                };
                let current = read_limit(sysctl.rsplit('.').next().unwrap_or_default());
                let warning = format!(
                    "inotify {what} reached while watching {} folders ({e}); falling back to polling every second. Raise it with: sudo sysctl {sysctl}=524288 (now {current})",
                    folders.len()
                );
                drop(w);
                (Backend::Poll(poll_watcher(handler, &folders)?), true, Some(warning))
            }
        },
        Err(e) => {
            let current = read_limit("max_user_instances");
            let warning = format!("cannot start inotify ({e}); falling back to polling every second. Raise it with: sudo sysctl fs.inotify.max_user_instances=1024 (now {current})");
            (Backend::Poll(poll_watcher(handler, &folders)?), true, Some(warning))
        }
    };
    let inner = Arc::new(Mutex::new(backend));
    // Folders created later are watched as they appear (their files arrive through the rescan hint).
    let weak = Arc::downgrade(&inner);
    std::thread::Builder::new()
        .name("devspaces-watch-dirs".into())
        .spawn(move || {
            while let Ok(dir) = dir_rx.recv() {
                let Some(inner) = weak.upgrade() else { return };
                let Ok(mut b) = inner.lock() else { return };
                for f in kept_folders(&root, &dir, &rules) {
                    let _ = match &mut *b {
                        Backend::Native(w) => w.watch(&f, RecursiveMode::NonRecursive),
                        Backend::Poll(w) => w.watch(&f, RecursiveMode::NonRecursive),
                    };
                }
            }
        })
        .ok();
    Ok((WatchHandle { _inner: inner, polling, warning }, rx))
}

fn poll_watcher<F: notify::EventHandler>(
    handler: F,
    folders: &[PathBuf],
) -> Result<notify::PollWatcher, notify::Error> {
    // notify's poller compares mtimes in whole seconds, so a second save within the same second
    // would go unseen: compare contents too (a fallback's cost, paid only when inotify ran out).
    let config = notify::Config::default().with_poll_interval(Duration::from_secs(1)).with_compare_contents(true);
    let mut w = notify::PollWatcher::new(handler, config)?;
    for f in folders {
        w.watch(f, RecursiveMode::NonRecursive)?;
    }
    Ok(w)
}

/// Coalesces hints: a batch opens on the first hint and closes after `quiet` without one
/// (leading edge: a lone save waits only `quiet`; [`AFTER_CLOSE`] when every path in it was
/// closed after writing since its last hint), or after `max` so a flood still makes progress.
/// It runs on a thread of its own until the hints end or `out` closes: a timed wait there ends
/// when it should, where the runtime's timers tick in whole milliseconds (a 1 ms quiet time took
/// 1 to 2 ms, on every save).
pub fn coalesce(hints: std::sync::mpsc::Receiver<Hint>, quiet: Duration, max: Duration, out: mpsc::Sender<Batch>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Ok(first) = hints.recv() {
        let mut batch = Batch { seen: Some(Instant::now()), ..Batch::default() };
        // Paths of this batch still being written (a hint came and no close after writing since).
        let mut open = BTreeSet::new();
        add(&mut batch, &mut open, first);
        let deadline = Instant::now() + max;
        loop {
            let settled = open.is_empty() && !batch.rescan;
            let quiet = if settled { quiet.min(AFTER_CLOSE) } else { quiet };
            let wait = quiet.min(deadline.saturating_duration_since(Instant::now()));
            if wait.is_zero() {
                break;
            }
            match hints.recv_timeout(wait) {
                Ok(h) => add(&mut batch, &mut open, h),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = out.blocking_send(batch);
                    return;
                }
            }
        }
        if out.blocking_send(batch).is_err() {
            return;
        }
    }
}

fn add(batch: &mut Batch, open: &mut BTreeSet<String>, h: Hint) {
    match h {
        Hint::Path(p) => {
            open.insert(p.clone());
            batch.paths.insert(p);
        }
        Hint::Written(p) => {
            open.remove(&p);
            batch.paths.insert(p);
        }
        Hint::Rescan => batch.rescan = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_after_writing_ends_a_batch_early_but_never_before_the_hints_already_there() {
        // A temp file written and closed, then renamed over the file (an editor's safe save): the
        // rename's hints, there right after the close, are in the same batch.
        let (tx, rx) = std::sync::mpsc::channel();
        let (out_tx, mut out) = mpsc::channel(8);
        for h in [Hint::Path("b.tmp".into()), Hint::Written("b.tmp".into()), Hint::Path("b.tmp".into())] {
            tx.send(h).expect("send");
        }
        tx.send(Hint::Path("b".into())).expect("send");
        drop(tx);
        coalesce(rx, Duration::from_millis(50), Duration::from_secs(5), out_tx);
        let b = out.blocking_recv().expect("batch");
        assert_eq!(b.paths, ["b".to_string(), "b.tmp".into()].into_iter().collect());
        // An in-place save (written, then closed) does not wait out a quiet time of ten minutes.
        let (tx, rx) = std::sync::mpsc::channel();
        let (out_tx, mut out) = mpsc::channel(8);
        let quiet = Duration::from_secs(600);
        let coalescer = std::thread::spawn(move || coalesce(rx, quiet, quiet, out_tx));
        tx.send(Hint::Path("a".into())).expect("send");
        tx.send(Hint::Written("a".into())).expect("send");
        let b = out.blocking_recv().expect("batch");
        assert_eq!(b.paths, ["a".to_string()].into_iter().collect());
        assert!(b.seen.is_some_and(|t| t.elapsed() < quiet / 10), "closed long before the quiet time");
        drop(tx);
        coalescer.join().expect("coalescer");
    }

    #[test]
    fn a_burst_is_one_batch_a_lone_event_its_own_and_a_flood_is_cut_at_the_maximum() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (out_tx, mut out) = mpsc::channel(64);
        // A burst already queued (a git checkout) is one batch.
        for i in 0..2000 {
            tx.send(Hint::Path(format!("f{i}"))).expect("send");
        }
        let quiet = Duration::from_millis(10);
        let coalescer = std::thread::spawn(move || coalesce(rx, quiet, Duration::from_millis(100), out_tx));
        let b = out.blocking_recv().expect("batch");
        assert_eq!((b.paths.len(), b.rescan), (2000, false));
        assert!(b.seen.is_some(), "a watcher's batch says when its first hint came");
        // A lone save is a batch of its own.
        tx.send(Hint::Path("a".into())).expect("send");
        let b = out.blocking_recv().expect("batch");
        assert_eq!(b.paths, ["a".to_string()].into_iter().collect());

        // A flood that never goes quiet for 10 ms is still cut into batches (at 100 ms at most).
        let sender = std::thread::spawn(move || {
            for i in 0..200 {
                tx.send(if i == 100 { Hint::Rescan } else { Hint::Path(format!("g{i}")) }).expect("send");
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        sender.join().expect("sender");
        // The hints' sender is gone with its thread: the coalescer hands over what it has and ends.
        coalescer.join().expect("coalescer");
        let mut batches = Vec::new();
        while let Some(b) = out.blocking_recv() {
            batches.push(b);
        }
        assert!(batches.len() >= 2, "a 200 ms flood is more than one batch: {}", batches.len());
        assert_eq!(batches.iter().map(|b| b.paths.len()).sum::<usize>(), 199);
        assert_eq!(batches.iter().filter(|b| b.rescan).count(), 1);
    }
}
