//! A small Debug Adapter Protocol client, as an editor's debugger speaks it to a debug server
//! (debugpy): `Content-Length` framed JSON over TCP, requests with sequence numbers, responses and
//! events kept for the waits.

use std::io::BufReader;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{http_get, Messages, Up, WAIT};

/// The debugpy the tests run apps under (from PyPI).
pub const DEBUGPY_VERSION: &str = "1.8.17";

/// The folder holding debugpy, for an app's `PYTHONPATH`: `~/.cache/devspaces/debugpy-<version>`,
/// installed there with pip when missing (`--target`: no system install, which Debian's pip
/// refuses anyway). `scripts/test-all.sh` installs it the same way first.
pub fn debugpy() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let dir = PathBuf::from(home).join(format!(".cache/devspaces/debugpy-{DEBUGPY_VERSION}"));
    if dir.join("debugpy/__init__.py").is_file() {
        return dir;
    }
    // Into a folder of this process first, then renamed: a concurrent test never sees half of it.
    let tmp = dir.with_file_name(format!("debugpy-{DEBUGPY_VERSION}.installing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    crate::ok(
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location"])
            .arg("--target")
            .arg(&tmp)
            .arg(format!("debugpy=={DEBUGPY_VERSION}")),
    );
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another test installed it meanwhile.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(dir.join("debugpy/__init__.py").is_file(), "debugpy is not in {} after pip install", dir.display());
    dir
}

/// debugpy as one wheel for any Python (`py2.py3-none-any`, from PyPI), for an image built without
/// network (the test cluster's builds run `buildah bud --network none`): its path, downloaded into
/// `~/.cache/devspaces/wheels` with pip when missing. `scripts/test-all.sh` downloads it the same
/// way first.
pub fn debugpy_wheel() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    let dir = PathBuf::from(home).join(".cache/devspaces/wheels");
    let wheel = dir.join(format!("debugpy-{DEBUGPY_VERSION}-py2.py3-none-any.whl"));
    if wheel.is_file() {
        return wheel;
    }
    // Into a folder of this process first, then renamed: a concurrent test never sees half of it.
    let tmp = dir.join(format!(".downloading-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    crate::ok(
        Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
            // The pure-Python wheel; 3.11 is the images' Python (Debian bookworm's python3).
            .args(["--only-binary=:all:", "--platform", "any", "--implementation", "py", "--python-version", "3.11"])
            .arg("--dest")
            .arg(&tmp)
            .arg(format!("debugpy=={DEBUGPY_VERSION}")),
    );
    let _ = std::fs::rename(tmp.join(wheel.file_name().expect("a file name")), &wheel);
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(wheel.is_file(), "{} is not there after pip download", wheel.display());
    wheel
}

/// The Python service of the debugging tests: a stdlib HTTP server whose handler says its
/// version; `padding` comment lines move the handler down.
pub fn python_app(version: &str, padding: usize) -> String {
    format!(
        r#"import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
{}

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        version = "{version}"
        body = ("version %s\n" % version).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#,
        "# an edit that moves the handler down\n".repeat(padding)
    )
}

/// The 1-based line of the first line of `text` that contains `needle`.
pub fn line_of(text: &str, needle: &str) -> u32 {
    text.lines().position(|l| l.contains(needle)).map(|i| i as u32 + 1).expect("the line is in the text")
}

/// The next `devspaces/debugReady` counting `restarts` restarts before it.
pub fn debug_ready(up: &mut Up, restarts: u64) -> Value {
    up.wait_method("devspaces/debugReady", move |p| p["restarts"] == restarts)
}

/// Sends `GET /` through the service's forward on its own thread (a breakpoint holds the
/// answer), again while it is answered 502: the debug server listens before the app does.
pub fn get_in_background(port: u16) -> std::thread::JoinHandle<(u16, String)> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = http_get(port, "/");
            if status != 502 || Instant::now() > deadline {
                return (status, body);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Waits for the stop at a breakpoint; returns the thread and its top frame.
pub fn stopped_frame(dap: &mut Dap, up: &mut Up) -> (Value, Value) {
    let Some(stopped) = dap.try_event("stopped", WAIT) else {
        up.collect_for(Duration::from_millis(500));
        panic!("no stop at the breakpoint; the debugger saw:\n{}\n`up` printed:\n{}", dap.dump(), up.dump());
    };
    assert_eq!(stopped["reason"], "breakpoint", "{stopped}");
    let thread = stopped["threadId"].clone();
    let trace = dap.request("stackTrace", json!({"threadId": thread, "startFrame": 0, "levels": 1}));
    (thread, trace["stackFrames"][0].clone())
}

/// A connection to a debug adapter.
pub struct Dap {
    stream: TcpStream,
    messages: Receiver<Value>,
    /// Every message received, in order; waits take them once.
    pub seen: Vec<Value>,
    taken: Vec<usize>,
    seq: i64,
}

impl Dap {
    /// Connects to `127.0.0.1:port` (the daemon's debug forward).
    pub fn connect(port: u16) -> Dap {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the debug forward");
        let _ = stream.set_nodelay(true);
        let reader = stream.try_clone().expect("clone the stream");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            while let Some(v) = crate::lsp::read_frame(&mut r) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Dap { stream, messages: rx, seen: Vec::new(), taken: Vec::new(), seq: 0 }
    }

    /// Sends a request; returns its sequence number.
    pub fn send(&mut self, command: &str, arguments: Value) -> i64 {
        self.seq += 1;
        let body = json!({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).to_string();
        self.stream.write_all(&crate::lsp::frame(body.as_bytes())).expect("send to the debug adapter");
        self.seq
    }

    /// Waits for the response to request `seq`; panics when it failed.
    pub fn response(&mut self, seq: i64) -> Value {
        let r = self
            .wait(&format!("the response to request {seq}"), |m| m["type"] == "response" && m["request_seq"] == seq);
        assert_eq!(r["success"], true, "request {seq} failed: {r}");
        r["body"].clone()
    }

    /// Sends a request and waits for its response's body.
    pub fn request(&mut self, command: &str, arguments: Value) -> Value {
        let seq = self.send(command, arguments);
        self.response(seq)
    }

    /// Waits for an event and returns its body.
    pub fn event(&mut self, name: &str) -> Value {
        self.wait(&format!("the '{name}' event"), |m| m["type"] == "event" && m["event"] == name)["body"].clone()
    }

    /// An event's body, or `None` when none came within `within` (or the connection ended).
    pub fn try_event(&mut self, name: &str, within: Duration) -> Option<Value> {
        self.try_wait(within, |m| m["type"] == "event" && m["event"] == name).ok().map(|m| m["body"].clone())
    }

    /// The first message (not yet taken) matching `pred`, arrived or arriving.
    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        match self.try_wait(WAIT, pred) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}; messages:\n{}", self.dump()),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the debug adapter closed the connection while waiting for {what}; messages:\n{}", self.dump())
            }
        }
    }

    fn try_wait(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value, RecvTimeoutError> {
        crate::take_matching(&mut self.seen, &mut self.taken, &self.messages, within, pred)
    }

    pub fn dump(&self) -> String {
        self.seen.iter().map(Value::to_string).collect::<Vec<_>>().join("\n")
    }

    /// Whether the adapter closed the connection within `within` (reading what it still sends).
    pub fn closed_within(&mut self, within: Duration) -> bool {
        crate::closed_within(&mut self.seen, &self.messages, within)
    }
}

/// An editor's attach to a debugpy server, as VS Code's Python debugger does it.
pub struct Attached {
    pub dap: Dap,
    /// The breakpoints as the adapter answered `setBreakpoints` (each `verified` or not).
    pub breakpoints: Value,
    /// When `setBreakpoints` was answered: the breakpoints are armed from then on.
    pub armed_at: Instant,
}

/// `initialize`, `attach` with the path mappings, `initialized`, breakpoints on `file` (a
/// workspace path) at `lines`, `configurationDone`; returns once the attach is answered.
pub fn attach_debugpy(port: u16, local_root: &str, remote_root: &str, file: &str, lines: &[u32]) -> Attached {
    let mut dap = Dap::connect(port);
    dap.request(
        "initialize",
        json!({
            "clientID": "devspaces-tests",
            "adapterID": "debugpy",
            "pathFormat": "path",
            "linesStartAt1": true,
            "columnsStartAt1": true,
            "supportsRunInTerminalRequest": false,
        }),
    );
    let attach = dap.send(
        "attach",
        json!({
            "name": "devspaces",
            "type": "debugpy",
            "request": "attach",
            "justMyCode": true,
            "pathMappings": [{"localRoot": local_root, "remoteRoot": remote_root}],
        }),
    );
    dap.event("initialized");
    let breakpoints: Vec<Value> = lines.iter().map(|l| json!({"line": l})).collect();
    let set = dap.request("setBreakpoints", json!({"source": {"path": file}, "breakpoints": breakpoints}));
    let armed_at = Instant::now();
    dap.request("configurationDone", json!({}));
    dap.response(attach);
    Attached { dap, breakpoints: set["breakpoints"].clone(), armed_at }
}

/// The first stop of a debug test: attach debugpy at `debug_port` (`roots`: the workspace folder
/// and the folder it is in the container) with a breakpoint on `file`'s `line`, send a GET to the
/// app's `port`, and see the stop in the workspace's file (never the container's path) at that
/// line with version 1 in scope; continue, and the GET is answered. The attached client goes on.
pub fn first_stop(up: &mut Up, port: u16, debug_port: u16, roots: (&str, &str), file: &str, line: u32) -> Dap {
    let Attached { mut dap, breakpoints, .. } = attach_debugpy(debug_port, roots.0, roots.1, file, &[line]);
    assert_eq!(breakpoints[0]["verified"], true, "{breakpoints}");
    let answer = get_in_background(port);
    let (thread, frame) = stopped_frame(&mut dap, up);
    assert_eq!(frame["source"]["path"], file, "the workspace path, not the container's: {frame}");
    assert_eq!(frame["line"], line);
    let version = dap.request("evaluate", json!({"expression": "version", "frameId": frame["id"], "context": "watch"}));
    assert_eq!(version["result"], "'1'");
    dap.request("continue", json!({"threadId": thread}));
    assert_eq!(answer.join().unwrap(), (200, "version 1\n".to_string()));
    dap
}

/// A static file is only copied in (`svc`'s `static/notes.txt`): the app and its debugger stay
/// as they are, `dap` still attached.
pub fn static_edit_keeps_the_debugger(up: &mut Up, svc: &std::path::Path, dap: &mut Dap) {
    std::fs::write(svc.join("static/notes.txt"), "static\n").unwrap();
    let synced = up.wait_method("devspaces/synced", |p| crate::synced_with(p, "static/notes.txt"));
    assert_eq!(synced["class"], "static-sync");
    let threads = dap.request("threads", json!({}));
    assert!(threads["threads"].as_array().is_some_and(|t| !t.is_empty()), "still attached: {threads}");
}
