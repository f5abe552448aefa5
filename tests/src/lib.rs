//! Shared helpers for the end-to-end tests: build and start the real binary, read its JSON events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Once;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod apps;
pub mod cdp;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod dap;
pub mod lsp;

/// A failure guard for waits on events, never a performance assertion.
pub const WAIT: Duration = Duration::from_secs(60);

/// A stream of JSON-RPC messages a test waits on: `up --json`'s lines or an LSP client's frames.
pub trait Messages {
    /// Waits for a message matching `pred` that no earlier wait took.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value;

    /// Waits for a notification (not a request of the same name) and returns its params.
    fn wait_method(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let m = method.to_string();
        let is_it = move |v: &Value| v["method"] == m.as_str() && v.get("id").is_none() && pred(&v["params"]);
        self.wait_for(method, is_it)["params"].clone()
    }

    fn wait_phase(&mut self, phase: &str) -> Value {
        let p = phase.to_string();
        self.wait_method("devspaces/serviceStatus", move |x| x["phase"] == p.as_str())
    }

    /// Waits until the app runs and returns its pid.
    fn wait_running(&mut self) -> u32 {
        let s = self.wait_phase("running");
        s["detail"]
            .as_str()
            .and_then(|d| d.strip_prefix("pid "))
            .and_then(|p| p.parse().ok())
            .expect("running detail carries the pid")
    }
}

impl Messages for Up {
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        Up::wait_for(self, what, pred)
    }
}

/// Runs to success and returns stdout; on failure shows the command and its stderr.
pub fn ok(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first message in `seen` (not yet `taken`) or arriving on `rx` within `within` that
/// matches `pred`; it is marked taken. Arrivals are kept in `seen` for later waits.
pub fn take_matching(
    seen: &mut Vec<Value>,
    taken: &mut Vec<usize>,
    rx: &Receiver<Value>,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value, RecvTimeoutError> {
    if let Some(i) = (0..seen.len()).find(|i| !taken.contains(i) && pred(&seen[*i])) {
        taken.push(i);
        return Ok(seen[i].clone());
    }
    let deadline = Instant::now() + within;
    loop {
        let v = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))?;
        seen.push(v.clone());
        if pred(&v) {
            taken.push(seen.len() - 1);
            return Ok(v);
        }
    }
}

/// Whether the peer behind `rx` closed within `within` (what it still sent is kept in `seen`).
pub fn closed_within(seen: &mut Vec<Value>, rx: &Receiver<Value>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) => seen.push(v),
            Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    }
}

/// Gives a child that was asked to stop `within` to exit, then kills it; reaps it either way.
pub fn end_child(child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// The daemon binary, built once per test run so the tests never run a stale one.
pub fn bin() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "devspacesd"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building devspacesd failed");
    });
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    target.join("debug/devspacesd")
}

/// Copies a folder (an example or fixture) into a fresh temp dir and returns both.
pub fn copy_service(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let name = Path::new(rel).file_name().expect("name");
    let dst = tmp.path().join(name);
    copy_dir(&repo_root().join(rel), &dst);
    (tmp, dst)
}

/// A copy of an example or fixture, `devspacesd up` on it and its app running: the temp dir, the
/// service folder, `up`, the forward's local port and the app's pid.
pub fn up_copy(env: &Env, rel: &str) -> (tempfile::TempDir, PathBuf, Up, u16, u32) {
    let (tmp, svc) = copy_service(rel);
    let mut up = Up::start(env, &svc);
    let port = up.url_port();
    let pid = up.wait_running();
    (tmp, svc, up, port, pid)
}

/// A service folder made by `devspacesd prep` from `files` (it writes azds.yaml, the Dockerfiles
/// and the chart for the stack it finds).
pub fn prepared(env: &Env, name: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join(name);
    for (rel, text) in files {
        let p = svc.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    ok(env.command().arg("prep").arg(&svc));
    let svc = std::fs::canonicalize(&svc).unwrap();
    (tmp, svc)
}

/// Copies a folder and everything in it.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// Isolated state and temp folders for one test, so synclogs and sessions never mix.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn tmp(&self) -> PathBuf {
        let p = self.dir.path().join("tmp");
        std::fs::create_dir_all(&p).expect("mkdir tmp");
        p
    }
    pub fn command(&self) -> Command {
        let mut c = Command::new(bin());
        // A daemon started for this test goes away by itself soon after it is idle (and `Drop` stops it).
        c.env("DEVSPACES_STATE_DIR", self.state())
            .env("TMPDIR", self.tmp())
            .env("NO_COLOR", "1")
            .env("DEVSPACES_IDLE_SECS", "30");
        c
    }
    /// The pid of this test's daemon, when one runs (read from its pidfile, checked on its command line).
    pub fn daemon_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.state().join("daemon.pid")).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (alive(pid) && cmdline.contains("devspacesd daemon")).then_some(pid)
    }
    /// Stops this test's daemon (SIGTERM, by its pid) and waits until it is gone.
    pub fn stop_daemon(&self) {
        if let Some(pid) = self.daemon_pid() {
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + WAIT;
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Never panic here: this also runs while a failed test unwinds.
            if alive(pid) && !std::thread::panicking() {
                panic!("the daemon (pid {pid}) did not stop after SIGTERM");
            }
        }
    }
    /// The synclog of a service folder (sha256 of its realpath, in `devspaces-<uid>/` of this test's TMPDIR).
    pub fn synclog(&self, service: &Path) -> PathBuf {
        synclog_in(&self.tmp(), service)
    }
}

/// The synclog of a service folder for a client whose TMPDIR is `tmp`.
pub fn synclog_in(tmp: &Path, service: &Path) -> PathBuf {
    let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("sha256sum");
    let real = std::fs::canonicalize(service).expect("realpath");
    out.stdin.as_ref().expect("stdin").write_all(real.to_string_lossy().as_bytes()).expect("write");
    let o = out.wait_with_output().expect("sha256sum output");
    let hex = String::from_utf8_lossy(&o.stdout).split_whitespace().next().expect("hex").to_string();
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    tmp.join(format!("devspaces-{uid}")).join(format!("{hex}.synclog"))
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `devspacesd up --json`, with every event it printed kept for later assertions.
pub struct Up {
    pub child: Child,
    events: Receiver<Value>,
    pub seen: Vec<Value>,
    taken: Vec<usize>,
}

impl Up {
    pub fn start(env: &Env, service: &Path) -> Up {
        let mut cmd = env.command();
        cmd.arg("up").arg(service).arg("--json");
        Up::spawn(cmd)
    }

    /// Runs a prepared command line that ends in `devspacesd up ... --json`.
    pub fn spawn(mut cmd: Command) -> Up {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start devspacesd up");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Err(e) => panic!("--json printed a line that is not JSON ({e}): {line}"),
                }
            }
        });
        Up { child, events: rx, seen: Vec::new(), taken: Vec::new() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for an event matching `pred` that no earlier wait took (events may arrive in any
    /// order relative to one another, so already-printed events are searched first).
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(what, WAIT, pred)
    }

    /// [`Up::wait_for`] with its own bound (a cluster build and rollout takes longer than a local start).
    pub fn wait_for_within(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        match take_matching(&mut self.seen, &mut self.taken, &self.events, within, pred) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}; events so far:\n{}", self.dump()),
            Err(RecvTimeoutError::Disconnected) => {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("devspacesd up ended while waiting for {what}; stderr:\n{err}\nevents:\n{}", self.dump())
            }
        }
    }

    /// [`Up::wait_for_within`] for an event that came at or after `mark` (an index into `seen`):
    /// what came before it does not count, taken or not.
    pub fn wait_since(&mut self, mark: usize, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let before: Vec<usize> = (0..mark.min(self.seen.len())).filter(|i| !self.taken.contains(i)).collect();
        self.taken.extend(&before);
        let found = self.wait_for_within(what, within, pred);
        self.taken.retain(|i| !before.contains(i));
        found
    }

    pub fn dump(&self) -> String {
        self.seen.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n")
    }

    /// Keeps what arrives during `d` (no waiting for anything in particular).
    pub fn collect_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(v) = self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.seen.push(v);
        }
    }

    pub fn url_port(&mut self) -> u16 {
        let f = self.wait_method("devspaces/portForward", |p| p["state"] == "open");
        assert_eq!(f["url"], format!("http://localhost:{}", f["localPort"]));
        f["localPort"].as_u64().expect("localPort") as u16
    }

    /// SIGINT, as Ctrl-C would, then waits for the process to end.
    pub fn interrupt(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // Drain what it printed on the way out.
                while let Ok(v) = self.events.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(v);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("devspacesd up did not stop after SIGINT");
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGINT);
            }
            end_child(&mut self.child, Duration::from_secs(20));
        }
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1; returns (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_with(port, path, &[])
}

/// [`http_get`] with extra request headers (`("azds-route-as", "alice")`).
pub fn http_get_with(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the forward");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n").expect("send");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read response");
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Whether a process is alive (and not a zombie).
/// The body of `path` once it answers 200 (bounded by the tests' wait).
pub fn served(port: u16, path: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = http_get(port, path);
        if status == 200 {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never answered 200 (last: {status} {body})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// Waits (bounded) until `pid` is gone; panics if it stays.
pub fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + WAIT;
    while alive(pid) {
        assert!(Instant::now() < deadline, "{what} (pid {pid}) is still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The session record the local backend keeps for a service.
pub fn record(env: &Env, service: &str) -> Value {
    let p = env.state().join("spaces/default").join(service).join("session.json");
    serde_json::from_slice(&std::fs::read(&p).expect("session record")).expect("record json")
}

/// Whether the params of a `devspaces/synced` event name `file` among the files synced.
pub fn synced_with(p: &Value, file: &str) -> bool {
    p["files"].as_array().is_some_and(|f| f.iter().any(|x| x == file))
}

/// The local backend's container root for a service (its WORKDIR is below it).
pub fn container_root(env: &Env, service: &str) -> PathBuf {
    env.state().join("spaces/default").join(service).join("fs")
}

/// The test cluster's kubeconfig, only if it lives in the cluster's state folder (never the
/// ambient one): `eval "$(tests/cluster/env)"` sets it.
pub fn cluster_kubeconfig() -> PathBuf {
    let state = std::env::var_os("DEVSPACES_CLUSTER_STATE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/devspaces/cluster-state")
    });
    let Some(kc) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()).map(PathBuf::from) else {
        panic!("KUBECONFIG is not set: run `eval \"$(tests/cluster/env)\"` first (this test never uses the ambient kubeconfig)");
    };
    let (kc_real, state_real) = (std::fs::canonicalize(&kc), std::fs::canonicalize(&state));
    match (kc_real, state_real) {
        (Ok(k), Ok(s)) if k.starts_with(&s) => k,
        _ => panic!("KUBECONFIG={} is not inside the test cluster's state folder {}: run `eval \"$(tests/cluster/env)\"` (this test never uses the ambient kubeconfig)", kc.display(), state.display()),
    }
}

/// A short random id for names on the shared cluster.
pub fn short_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    format!("{:06x}", (nanos ^ std::process::id().rotate_left(11)) & 0xff_ffff)
}
