//! A randomized, seeded campaign on the real binary: edits, creates, deletes, file and folder
//! renames, folders moved away, permission flips and bursts, with `kill -9` of the daemon and of
//! the agent at random points. At the end the container mirrors the workspace (content and mode),
//! restarts have stopped and exactly one copy of the app runs.
//!
//! Short by default (part of the suite); long with `DEVSPACES_CAMPAIGN_OPS=5000`, and any run is
//! replayed with `DEVSPACES_CAMPAIGN_SEED=<the seed it printed>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use devspaces_tests::*;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len() as u64) as usize])
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Every regular file under `root` whose path (relative, `/`-separated) `keep` accepts, with its
/// content and permission bits.
fn tree(root: &Path, keep: &dyn Fn(&str) -> bool) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                if keep(&rel) {
                    let data = std::fs::read(&p).unwrap_or_default();
                    out.insert(rel, (data, meta.permissions().mode() & 0o777));
                }
            }
        }
    }
    out
}

/// What the campaign touches: python-web syncs `static/**` and `*.py`.
fn campaign_path(rel: &str) -> bool {
    rel.starts_with("static/") || (!rel.contains('/') && rel.ends_with(".py"))
}

/// Pids of `python3 app.py` processes running in `dir`.
fn apps_in(dir: &Path) -> Vec<u32> {
    let want = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        if cmd.contains("app.py") && !cmd.contains("devspacesd") && cwd.as_deref() == Some(want.as_path()) && alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

struct Campaign {
    rng: Rng,
    svc: PathBuf,
    /// Where files live that were moved out of the workspace.
    outside: PathBuf,
    kills: (u32, u32),
}

const FOLDERS: &[&str] = &["static/c", "static/c/dA", "static/c/dB", "static/c/dA/deep", "static/c/dC"];
const NAMES: &[&str] = &["a.css", "b.txt", "c.html", "d.js", "e.svg", "f.json"];

impl Campaign {
    fn files(&self) -> Vec<String> {
        tree(&self.svc, &|r| r.starts_with("static/c/") || r.starts_with("c_")).into_keys().collect()
    }

    fn folders(&self) -> Vec<String> {
        FOLDERS.iter().filter(|f| self.svc.join(f).is_dir()).map(|f| f.to_string()).collect()
    }

    fn write(&mut self, rel: &str) {
        let p = self.svc.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let len = self.rng.below(200) as usize;
        let body: String = (0..len).map(|i| (b'a' + ((i as u64 + self.rng.next()) % 26) as u8) as char).collect();
        // A file left unreadable by a flip is made writable first, as an editor would ask.
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
        std::fs::write(&p, format!("{rel} {}\n{body}\n", self.rng.next())).unwrap();
    }

    /// One random operation; returns what it did, for the log of a failing run.
    fn step(&mut self) -> String {
        let roll = self.rng.below(100);
        let files = self.files();
        let folders = self.folders();
        match roll {
            0..=39 => {
                let dir = self.rng.pick(FOLDERS).copied().unwrap();
                let name = self.rng.pick(NAMES).copied().unwrap();
                let rel = format!("{dir}/{name}");
                self.write(&rel);
                format!("write {rel}")
            }
            40..=49 => match self.rng.pick(&files).cloned() {
                Some(f) => {
                    let _ = std::fs::remove_file(self.svc.join(&f));
                    format!("delete {f}")
                }
                None => "delete (nothing)".into(),
            },
            50..=59 => match (self.rng.pick(&files).cloned(), self.rng.pick(FOLDERS).copied()) {
                (Some(f), Some(dir)) if !f.starts_with("c_") => {
                    let to = format!("{dir}/{}", self.rng.pick(NAMES).unwrap());
                    std::fs::create_dir_all(self.svc.join(dir)).unwrap();
                    let _ = std::fs::rename(self.svc.join(&f), self.svc.join(&to));
                    format!("rename {f} -> {to}")
                }
                _ => "rename (nothing)".into(),
            },
            60..=66 => match (self.rng.pick(&folders).cloned(), self.rng.pick(FOLDERS).copied()) {
                (Some(from), Some(to)) if from != "static/c" && !to.starts_with(&from) && !from.starts_with(to) => {
                    let _ = std::fs::remove_dir_all(self.svc.join(to));
                    let _ = std::fs::rename(self.svc.join(&from), self.svc.join(to));
                    format!("rename folder {from} -> {to}")
                }
                _ => "rename folder (nothing)".into(),
            },
            67..=69 => match self.rng.pick(&folders).cloned() {
                Some(f) if f != "static/c" => {
                    let away = self.outside.join(format!("moved-{}", self.rng.next()));
                    let _ = std::fs::rename(self.svc.join(&f), &away);
                    format!("move {f} out of the workspace")
                }
                _ => "move out (nothing)".into(),
            },
            70..=79 => match self.rng.pick(&files).cloned() {
                Some(f) => {
                    let mode = *self.rng.pick(&[0o600, 0o644, 0o755, 0o640]).unwrap();
                    let _ = std::fs::set_permissions(self.svc.join(&f), std::fs::Permissions::from_mode(mode));
                    format!("chmod {mode:o} {f}")
                }
                None => "chmod (nothing)".into(),
            },
            80..=87 => {
                let n = 5 + self.rng.below(20);
                for _ in 0..n {
                    let dir = self.rng.pick(FOLDERS).copied().unwrap();
                    let name = self.rng.pick(NAMES).copied().unwrap();
                    self.write(&format!("{dir}/{name}"));
                }
                format!("burst of {n} writes")
            }
            _ => {
                // A source file beside the app: a process-restart.
                let rel = format!("c_{}.py", self.rng.below(3));
                std::fs::write(self.svc.join(&rel), format!("VALUE = {}\n", self.rng.next())).unwrap();
                format!("write {rel}")
            }
        }
    }
}

#[test]
fn a_random_campaign_ends_with_the_container_mirroring_the_workspace() {
    let seed = env_num("DEVSPACES_CAMPAIGN_SEED", 0x5eed_0001);
    let ops = env_num("DEVSPACES_CAMPAIGN_OPS", 300);
    println!("campaign: seed {seed}, {ops} operations (replay with DEVSPACES_CAMPAIGN_SEED={seed})");
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let outside = tempfile::tempdir().unwrap();
    let mut c =
        Campaign { rng: Rng(seed.max(1)), svc: svc.clone(), outside: outside.path().to_path_buf(), kills: (0, 0) };
    let app_dir = container_root(&env, "python-web").join("app");
    let mut up = Up::start(&env, &svc);
    up.wait_running();
    let started = Instant::now();
    let mut log = Vec::new();
    for i in 0..ops {
        log.push(c.step());
        // Now and then a pause long enough for a batch to close; mostly none.
        if c.rng.below(4) == 0 {
            std::thread::sleep(Duration::from_millis(c.rng.below(15)));
        }
        match c.rng.below(1000) {
            // kill -9 of the daemon: the next `up` starts a new one, which must catch up.
            0..=2 if i > 10 => {
                if let Some(pid) = env.daemon_pid().filter(|p| alive(*p)) {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    wait_gone(pid, "the killed daemon");
                    c.kills.0 += 1;
                    log.push(format!("kill -9 daemon {pid}"));
                    // Its `up` client ends with it; one that runs the session itself (the daemon
                    // was too slow to start) goes on, and so does the campaign.
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while up.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if up.child.try_wait().ok().flatten().is_some() {
                        up = Up::start(&env, &svc);
                    }
                }
            }
            // kill -9 of the agent: the session fails and the next change redeploys.
            3..=5 if i > 10 => {
                let agent = std::fs::read(env.state().join("spaces/default/python-web/session.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|r| r["agentPid"].as_u64());
                if let Some(pid) = agent.filter(|p| alive(*p as u32)) {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                    c.kills.1 += 1;
                    log.push(format!("kill -9 agent {pid}"));
                }
            }
            _ => {}
        }
    }
    // One last change, so that a session whose agent was killed redeploys.
    c.write("static/c/last.txt");
    let want = |svc: &Path| tree(svc, &campaign_path);
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut got, mut expected);
    loop {
        expected = want(&svc);
        got = tree(&app_dir, &campaign_path);
        if got == expected || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let edits_took = started.elapsed();
    if got != expected {
        let stale: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
        let missing: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
        let differ: Vec<_> =
            expected.iter().filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v)).map(|(k, _)| k).collect();
        up.collect_for(Duration::from_millis(500));
        let kills: Vec<_> = log.iter().enumerate().filter(|(_, l)| l.starts_with("kill")).collect();
        let daemon_log = std::fs::read_to_string(env.state().join("daemon.log")).unwrap_or_default();
        panic!(
            "seed {seed}: the container differs from the workspace\nstale {stale:?}\nmissing {missing:?}\ndiffer {differ:?}\nkills (operation, what): {kills:?}\nlast operations:\n{}\nevents:\n{}\ndaemon.log (end):\n{}",
            log[log.len().saturating_sub(20)..].join("\n"),
            up.dump(),
            &daemon_log[daemon_log.len().saturating_sub(3000)..]
        );
    }
    // No restart storm: once the container is equal, at most the restart already under way runs.
    up.wait_running();
    // Everything printed up to now (the whole campaign's events, unread until here) is history.
    up.collect_for(Duration::from_millis(500));
    let before = up.seen.len();
    up.collect_for(Duration::from_secs(2));
    let restarts = up.seen[before..].iter().filter(|e| e["params"]["phase"] == "restarting").count();
    assert!(restarts <= 1, "seed {seed}: {restarts} restarts after the edits stopped");
    let apps = apps_in(&app_dir);
    assert_eq!(apps.len(), 1, "seed {seed}: exactly one app runs, found {apps:?}");
    println!(
        "campaign: seed {seed}: {ops} operations, {} daemon kills, {} agent kills, {} files compared, {:.1} s, differences: 0",
        c.kills.0,
        c.kills.1,
        expected.len(),
        edits_took.as_secs_f64()
    );
    up.interrupt();
}
