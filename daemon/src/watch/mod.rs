//! Watches the kept folders of a service (never ignored ones) and coalesces events into batches.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::classify::Rules;
use crate::sync::rel_of;

/// One raw hint from the file system: a relative path, or a request to rescan everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    Path(String),
    Rescan,
}

/// A coalesced batch of changed paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub paths: BTreeSet<String>,
    pub rescan: bool,
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

/// Starts watching; hints arrive on the returned channel.
pub fn start(root: &Path, rules: Arc<Rules>) -> Result<(WatchHandle, mpsc::UnboundedReceiver<Hint>), notify::Error> {
    let (tx, rx) = mpsc::unbounded_channel();
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
            if matches!(ev.kind, EventKind::Access(_)) {
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
                let _ = tx.send(Hint::Path(rel));
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
/// (leading edge: a lone save waits only `quiet`), or after `max` so a flood still makes progress.
pub async fn coalesce(
    mut hints: mpsc::UnboundedReceiver<Hint>,
    quiet: Duration,
    max: Duration,
    out: mpsc::Sender<Batch>,
) {
    while let Some(first) = hints.recv().await {
        let mut batch = Batch::default();
        add(&mut batch, first);
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let wait = quiet.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            match tokio::time::timeout(wait, hints.recv()).await {
                Ok(Some(h)) => add(&mut batch, h),
                Ok(None) => {
                    let _ = out.send(batch).await;
                    return;
                }
                Err(_) => break,
            }
        }
        if out.send(batch).await.is_err() {
            return;
        }
    }
}

fn add(batch: &mut Batch, h: Hint) {
    match h {
        Hint::Path(p) => {
            batch.paths.insert(p);
        }
        Hint::Rescan => batch.rescan = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_become_one_batch_and_lone_events_do_not_wait() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (out_tx, mut out) = mpsc::channel(8);
        tokio::spawn(coalesce(rx, Duration::from_millis(3), Duration::from_secs(5), out_tx));
        // A burst of 2000 events 1 ms apart (a git checkout) is one batch.
        for i in 0..2000 {
            tx.send(Hint::Path(format!("f{i}"))).expect("send");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let b = out.recv().await.expect("batch");
        assert_eq!(b.paths.len(), 2000);
        // A lone save is delivered after the quiet period alone.
        let start = tokio::time::Instant::now();
        tx.send(Hint::Path("a".into())).expect("send");
        let b = out.recv().await.expect("batch");
        assert_eq!(b.paths.len(), 1);
        assert_eq!(start.elapsed(), Duration::from_millis(3));
    }
}
