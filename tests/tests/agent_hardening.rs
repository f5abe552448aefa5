//! The agent's hardening (issue 12), end to end on the real binary (`devspacesd agent`, the same
//! code as `devspaces-agent`): its app dies with it, a killed write leaves nothing behind, peers
//! without the token cost little, crafted batches are refused, and the app never sees the token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use devspaces_tests::*;
use serde_json::{json, Value};

const TOKEN: &str = "agent-hardening-test-token-5f1e0c";
/// The agent protocol's version (`AGENT_PROTOCOL_VERSION`): a hello with another is refused.
const VERSION: u32 = 2;

/// A `devspacesd agent` this test started, with root `<dir>/root` and state `<dir>/state`.
struct Agent {
    child: Child,
    _stdout: ChildStdout,
    port: u16,
    /// Processes the agent started for this test (apps, their children): killed by pid on drop
    /// if a failed test left them running.
    apps: Vec<u32>,
}

impl Agent {
    fn start(dir: &Path, command: &[&str]) -> Agent {
        let mut c = Command::new(bin());
        c.arg("agent")
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .args(["--grace-ms", "500"]);
        if !command.is_empty() {
            c.arg("--").args(command);
        }
        c.env("DEVSPACES_AGENT_TOKEN", TOKEN).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = c.spawn().expect("start devspacesd agent");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the banner");
        let port = line
            .strip_prefix("DEVSPACES_AGENT_LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no banner from the agent: {line:?}"));
        Agent { child, _stdout: stdout.into_inner(), port, apps: Vec::new() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn connect(&self, logs_since: Option<u64>) -> (Conn, Value) {
        let mut c = Conn::open(self.port);
        c.send(&json!({"type": "hello", "token": TOKEN, "version": VERSION, "logsSince": logs_since}));
        let welcome = c.wait("welcome", |m| m["type"] == "welcome");
        (c, welcome)
    }

    /// SIGKILL, as an OOM kill or `kill -9` would, then reaps it.
    fn sigkill(&mut self) {
        unsafe {
            libc::kill(self.pid() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            unsafe {
                libc::kill(self.pid() as i32, libc::SIGTERM);
            }
            end_child(&mut self.child, Duration::from_secs(10));
        }
        for &pid in &self.apps {
            if alive(pid) {
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// One raw connection to the agent, speaking the frames of docs/architecture.md by hand.
struct Conn {
    s: TcpStream,
    seen: Vec<Value>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the agent");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Conn { s, seen: Vec::new() }
    }

    fn send(&mut self, v: &Value) {
        self.s.write_all(&frame(0, v.to_string().as_bytes())).expect("send");
    }

    fn send_files(&mut self, id: u64, count: u32, tar: &[u8]) {
        self.send(&json!({"type": "files", "id": id, "count": count}));
        self.s.write_all(&frame(1, tar)).expect("send the batch");
    }

    /// The next message, or `None` once the agent closed the connection (or sent nothing for 30 s).
    fn recv(&mut self) -> Option<Value> {
        let mut head = [0u8; 5];
        self.s.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).ok()?;
        assert_eq!(head[0], 0, "the agent sends JSON frames only");
        Some(serde_json::from_slice(&body).expect("JSON"))
    }

    /// The first message matching `pred`, among those seen already (and not taken) or to come.
    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&pred) {
            return self.seen.remove(i);
        }
        loop {
            match self.recv() {
                Some(m) if pred(&m) => return m,
                Some(m) => self.seen.push(m),
                None => panic!("the agent closed the connection while waiting for {what}; seen: {:?}", self.seen),
            }
        }
    }

    fn done(&mut self, id: u64) -> Value {
        self.wait(&format!("done {id}"), |m| m["type"] == "done" && m["id"] == id)
    }

    fn started(&mut self) -> u32 {
        let s = self.wait("started", |m| m["type"] == "status" && m["status"]["state"] == "started");
        s["status"]["pid"].as_u64().expect("pid") as u32
    }

    /// The log lines received so far and not taken by a wait.
    fn lines(&self) -> Vec<String> {
        self.seen.iter().filter(|m| m["type"] == "log").map(|m| m["line"].as_str().unwrap_or("").to_string()).collect()
    }

    /// Whether the agent closed this connection within `within` (reading gives end of file or a reset).
    fn closed_within(&mut self, within: Duration) -> bool {
        self.s.set_read_timeout(Some(within)).expect("timeout");
        let mut buf = [0u8; 4096];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, path, *data).expect("append");
    }
    b.into_inner().expect("tar")
}

fn gone_within(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The agent's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

// Item 6: the app must not outlive its agent.
#[test]
fn a_killed_agent_takes_its_app_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(dir.path(), &["sleep", "1000"]);
    let (mut c, _) = agent.connect(None);
    let app = c.started();
    agent.apps.push(app);
    assert!(alive(app));
    agent.sigkill();
    assert!(gone_within(app, Duration::from_secs(5)), "the app (pid {app}) outlived its SIGKILLed agent");
}

// Item 6: what the app started itself (out of reach of the kernel's parent-death signal) is
// stopped by the next agent on the same state folder, so a redeploy never runs two copies.
#[test]
fn the_next_agent_stops_what_a_killed_one_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(dir.path(), &["sh", "-c", "sleep 1000 & echo \"child $!\"; wait"]);
    let (mut c, _) = agent.connect(Some(0));
    let app = c.started();
    agent.apps.push(app);
    let line =
        c.wait("the child's pid", |m| m["type"] == "log" && m["line"].as_str().unwrap_or("").starts_with("child "));
    let child: u32 = line["line"].as_str().unwrap()[6..].trim().parse().unwrap();
    agent.apps.push(child);
    agent.sigkill();
    assert!(gone_within(app, Duration::from_secs(5)), "the app (pid {app}) outlived its SIGKILLed agent");
    let next = Agent::start(dir.path(), &[]);
    assert!(
        gone_within(child, Duration::from_secs(5)),
        "the app's child (pid {child}) still runs after a new agent started on the same state"
    );
    drop(next);
}

// Item 7: temp files of a write that a kill interrupted are removed when the agent starts.
#[test]
fn temp_files_left_by_a_killed_write_are_removed_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    let leftovers =
        [".app.py.devspaces-0123456789ab", "a/.x.css.devspaces-a1b2c3d4e5f6", "a/b/.c.devspaces-ffffffffffff"];
    let kept = ["app.py", "a/.x.css", "a/.y.devspaces-notahexname", "a/z.devspaces-0123456789ab", "a/b/c"];
    for f in leftovers.iter().chain(&kept) {
        std::fs::write(root.join(f), "x").unwrap();
    }
    let _agent = Agent::start(dir.path(), &[]);
    for f in leftovers {
        assert!(!root.join(f).exists(), "{f} is left");
    }
    for f in kept {
        assert!(root.join(f).exists(), "{f} was removed");
    }
}

// Item 7: a batch that fails part way leaves the agent without a recorded sync state, so the
// daemon's next `up` syncs everything again instead of trusting its synclog.
#[test]
fn a_batch_that_fails_part_way_forgets_the_sync_state() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let (mut c, welcome) = agent.connect(None);
    assert_eq!(welcome["state"], Value::Null);
    let state = json!({"syncId": "s1", "lastSync": "2024-01-01T00:00:00Z"});
    c.send(&json!({"type": "commit", "id": 1, "state": state}));
    assert_eq!(c.done(1)["error"], Value::Null);
    assert_eq!(agent.connect(None).1["state"], state);
    // `p` is written, then `p/q` cannot be: `p` is a file.
    c.send_files(2, 2, &tar_of(&[("p", b"1", 0o644), ("p/q", b"2", 0o644)]));
    let done = c.done(2);
    assert!(done["error"].is_string(), "{done}");
    assert_eq!(agent.connect(None).1["state"], Value::Null, "a half-applied batch keeps the old sync state");
}

// Item 10: a hello claiming a huge frame is cut off at once, and does not cost its claimed size.
#[test]
fn peers_without_the_token_cost_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let before = rss_kib(agent.pid());
    let chunk = vec![b'x'; 1 << 20];
    let mut conns = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        // A JSON frame of 256 MiB, and 8 MiB of it: a reader of the whole claimed frame keeps them.
        if s.write_all(&[0, 0x10, 0, 0, 0]).is_ok() {
            for _ in 0..8 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        conns.push(Conn { s, seen: Vec::new() });
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib(agent.pid());
    assert!(after < before + 16 * 1024, "the agent grew from {before} KiB to {after} KiB");
    for (i, c) in conns.iter_mut().enumerate() {
        assert!(c.closed_within(Duration::from_secs(2)), "connection {i} claiming a 256 MiB hello is still open");
    }
    // The token still opens a connection, and frames larger than a hello pass once it did.
    let (mut c, _) = agent.connect(None);
    let big = vec![7u8; 2 << 20];
    c.send_files(1, 1, &tar_of(&[("big.bin", &big, 0o644)]));
    assert_eq!(c.done(1)["error"], Value::Null);
    assert_eq!(std::fs::read(dir.path().join("root/big.bin")).unwrap(), big);
}

// Item 10: idle connections without the token are capped; the token still gets in once they go.
#[test]
fn idle_connections_without_the_token_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let mut idle: Vec<Conn> = (0..40).map(|_| Conn::open(agent.port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let closed = idle.iter_mut().map(|c| c.closed_within(Duration::from_millis(100))).filter(|x| *x).count();
    assert!(closed >= 20, "only {closed} of 40 idle connections without a hello were closed at once");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Conn::open(agent.port);
        c.send(&json!({"type": "hello", "token": TOKEN, "version": VERSION, "logsSince": null}));
        if c.recv().is_some_and(|m| m["type"] == "welcome") {
            break;
        }
        assert!(Instant::now() < deadline, "the agent refuses its token after idle connections closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// Item 12: a tar header claiming 2^60 bytes is refused, and the agent goes on serving.
#[test]
fn a_tar_entry_claiming_a_huge_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let (mut c, _) = agent.connect(None);
    let mut h = tar::Header::new_gnu();
    h.set_path("huge.bin").unwrap();
    h.set_size(1 << 60);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut tar = h.as_bytes().to_vec();
    tar.extend_from_slice(&[b'x'; 10]);
    tar.resize(512 * 4, 0);
    c.send_files(1, 1, &tar);
    let done = c.done(1);
    let error = done["error"].as_str().unwrap_or_else(|| panic!("accepted: {done}"));
    assert!(error.contains("huge.bin"), "{error}");
    assert!(!dir.path().join("root/huge.bin").exists());
    c.send_files(2, 1, &tar_of(&[("ok.txt", b"ok", 0o644)]));
    assert_eq!(c.done(2)["error"], Value::Null);
}

// A check (what a new container already holds) is a read: its paths are refused as a batch's
// are, and it reports nothing beneath a symlink that leaves the root.
#[test]
fn a_check_refuses_crafted_paths_and_reads_nothing_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let (mut c, _) = agent.connect(None);
    c.send_files(1, 1, &tar_of(&[("app/main.py", b"print('hi')\n", 0o644)]));
    assert_eq!(c.done(1)["error"], Value::Null);
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("root/out")).unwrap();
    let check = |c: &mut Conn, id: u64, files: Value| {
        c.send(&json!({"type": "check", "id": id, "files": files}));
        c.done(id)
    };
    let done = check(&mut c, 2, json!([{"path": "app/main.py", "size": 12}, {"path": "out/secret", "size": 6}]));
    assert_eq!(done["error"], Value::Null, "{done}");
    assert_eq!(done["count"], 1, "{done}");
    let held = &done["held"][0];
    assert_eq!((held["index"].as_u64(), held["mode"].as_u64()), (Some(0), Some(0o644)), "{done}");
    assert_eq!(held["blake3"].as_str().map(str::len), Some(64), "{done}");
    for (id, path) in [(3, "/etc/passwd"), (4, "../outside/secret")] {
        let done = check(&mut c, id, json!([{"path": path, "size": 6}]));
        let error = done["error"].as_str().unwrap_or_else(|| panic!("{path} accepted: {done}"));
        assert!(error.starts_with(&format!("refusing path '{path}'")), "{error}");
    }
    // The connection goes on.
    c.send_files(5, 1, &tar_of(&[("ok.txt", b"ok", 0o644)]));
    assert_eq!(c.done(5)["error"], Value::Null);
}

// A daemon of another protocol version is refused at its hello, not misunderstood later.
#[test]
fn a_hello_of_another_protocol_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let mut c = Conn::open(agent.port);
    c.send(&json!({"type": "hello", "token": TOKEN, "version": VERSION - 1, "logsSince": null}));
    assert!(c.recv().is_none(), "an older daemon's hello is refused");
    let (_c, welcome) = agent.connect(None);
    assert_eq!(welcome["version"], VERSION);
}

// Item 12: neither the app nor a build command inherits the agent's token.
#[test]
fn the_app_and_its_build_do_not_see_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(dir.path(), &[]);
    let (mut c, _) = agent.connect(Some(0));
    let restart = json!({"type": "restart", "id": 1, "kill": [], "build": [["env"]],
        "run": ["sh", "-c", "env; echo APP-ENV-END; sleep 1000"], "env": {"FROM_DAEMON": "yes"}});
    c.send(&restart);
    assert_eq!(c.done(1)["error"], Value::Null);
    agent.apps.push(c.started());
    c.wait("the app's environment", |m| m["type"] == "log" && m["line"] == "APP-ENV-END");
    let lines = c.lines();
    assert!(lines.iter().any(|l| l == "FROM_DAEMON=yes"), "{lines:?}");
    let leaks: Vec<_> = lines.iter().filter(|l| l.contains(TOKEN) || l.contains("DEVSPACES_AGENT_TOKEN")).collect();
    assert!(leaks.is_empty(), "the token reached the app or its build: {leaks:?}");
}

// Item 12: setuid, setgid and sticky bits are not written.
#[test]
fn files_are_written_without_setuid_or_setgid() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &[]);
    let (mut c, _) = agent.connect(None);
    c.send_files(1, 2, &tar_of(&[("bin/tool", b"#!/bin/sh\n", 0o6755), ("tmp/t", b"t", 0o1777)]));
    assert_eq!(c.done(1)["error"], Value::Null);
    let mode = |f: &str| std::fs::metadata(dir.path().join("root").join(f)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(format!("{:o}", mode("bin/tool")), "755");
    assert_eq!(format!("{:o}", mode("tmp/t")), "777");
}

// Item 12: a space named `..` (or anything that is not a space name) is refused before it
// becomes a folder of the state layout.
#[test]
fn a_space_that_is_not_a_name_is_refused_before_any_folder() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    for space in ["..", ".", "a/../..", "Team", ".hidden", "a/b/c"] {
        let mut up = env.command();
        up.arg("up").arg(&svc).args(["--space", space]);
        let mut child = up.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let running = child.try_wait().unwrap().is_none();
        if running {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            end_child(&mut child, Duration::from_secs(20));
        }
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert!(!running, "--space {space:?} was accepted: the session ran");
        assert!(!child.wait().unwrap().success(), "--space {space:?} was accepted: {stderr}");
        assert!(stderr.contains(&format!("invalid space name '{space}'")), "--space {space:?}: {stderr}");
    }
    let state = env.state();
    let made: Vec<PathBuf> = walk(&state).into_iter().filter(|p| p.ends_with("python-web")).collect();
    assert!(made.is_empty(), "folders made for the service: {made:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

// Item 6 on the local backend: after the agent is SIGKILLed, the next change redeploys, and only
// one copy of the app runs afterwards: the app's own process died with the agent, and what it
// started is stopped before the new agent starts.
#[test]
fn a_redeploy_after_the_agent_was_killed_runs_one_copy() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let yaml = std::fs::read_to_string(svc.join("azds.yaml")).unwrap();
    let forking = yaml
        .replace("command: [python3, app.py]", r#"command: [sh, -c, 'python3 app.py & echo "app child $!"; wait']"#);
    assert_ne!(yaml, forking);
    std::fs::write(svc.join("azds.yaml"), forking).unwrap();
    let mut up = Up::start(&env, &svc);
    let shell = up.wait_running();
    let line = up.wait_method("devspaces/log", |p| p["line"].as_str().is_some_and(|l| l.starts_with("app child ")));
    let child: u32 = line["line"].as_str().unwrap()["app child ".len()..].trim().parse().unwrap();
    let agent = record(&env, "python-web")["agentPid"].as_u64().unwrap() as u32;
    let cleanup = KillOnDrop(vec![shell, child]);
    unsafe {
        libc::kill(agent as i32, libc::SIGKILL);
    }
    up.wait_method("devspaces/serviceStatus", |p| {
        p["phase"] == "failed" && p["detail"].as_str().is_some_and(|d| d.starts_with("the agent stopped"))
    });
    assert!(gone_within(shell, Duration::from_secs(5)), "the app (pid {shell}) outlived its SIGKILLed agent");
    let css = svc.join("static/style.css");
    let mut text = std::fs::read_to_string(&css).unwrap();
    text.push_str("\n/* after the agent was killed */\n");
    std::fs::write(&css, text).unwrap();
    let again = up.wait_running();
    assert_ne!(again, shell);
    assert!(!alive(child), "the first app's python (pid {child}) still runs beside the redeployed one");
    up.interrupt();
    drop(cleanup);
}

/// Kills by pid, on drop, processes a failed test may have left running.
struct KillOnDrop(Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if alive(pid) {
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
            }
        }
    }
}
