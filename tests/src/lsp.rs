//! A test client for `devspacesd --stdio`: LSP framing over the child's stdin/stdout, messages kept for assertions.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Env, Messages, WAIT};

/// One frame as the test client read it (LSP's base protocol, which DAP shares: `dap.rs`).
pub(crate) fn read_frame(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            if len.is_some() {
                break;
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("the peer sent a body that is not JSON"))
}

/// Frames `body` as LSP does.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    f.extend_from_slice(body);
    f
}

/// A running `devspacesd --stdio`.
pub struct Lsp {
    pub child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    pub seen: Vec<Value>,
    taken: Vec<usize>,
    next_id: i64,
}

impl Lsp {
    /// Starts the bridge (which starts the test's daemon when absent).
    pub fn start(env: &Env) -> Lsp {
        Lsp::start_with(env.command())
    }

    /// Starts the bridge from a prepared command (`Env::command` plus extra environment).
    pub fn start_with(mut cmd: std::process::Command) -> Lsp {
        let mut child = cmd
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start devspacesd --stdio");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 20, stdout);
            while let Some(v) = read_frame(&mut r) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Lsp { child, stdin, messages: rx, seen: Vec::new(), taken: Vec::new(), next_id: 1000 }
    }

    /// `initialize` (declaring work-done progress) and `initialized`; returns the result.
    pub fn initialize(&mut self) -> Value {
        let r = self.call("initialize", json!({"processId": std::process::id(), "rootUri": null, "clientInfo": {"name": "devspaces-tests"}, "capabilities": {"window": {"workDoneProgress": true}}}));
        self.notify("initialized", json!({}));
        r["result"].clone()
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().expect("stdin open");
        w.write_all(bytes).expect("write to --stdio");
        w.flush().expect("flush");
    }

    pub fn send(&mut self, v: &Value) {
        self.send_raw(&frame(v.to_string().as_bytes()));
    }

    pub fn request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its response (the whole response message).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.request(method, params);
        self.response(&json!(id))
    }

    /// Waits for the response with this id.
    pub fn response(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.wait_for(&format!("the response to id {id}"), move |v| v.get("method").is_none() && v["id"] == id)
    }

    /// Closes standard input (the client went away without `exit`).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for a message matching `pred` that no earlier wait took.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_wait_for(what, WAIT, pred)
            .unwrap_or_else(|| panic!("timed out waiting for {what}; messages so far:\n{}", self.dump()))
    }

    pub fn try_wait_for(&mut self, what: &str, within: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        match crate::take_matching(&mut self.seen, &mut self.taken, &self.messages, within, pred) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                panic!("devspacesd --stdio closed its output while waiting for {what}; messages:\n{}", self.dump())
            }
        }
    }

    /// Every message received so far (and whatever is already waiting).
    pub fn drain(&mut self) {
        while let Ok(v) = self.messages.try_recv() {
            self.seen.push(v);
        }
    }

    pub fn dump(&self) -> String {
        let mut lines: Vec<String> = self.seen.iter().map(|v| v.to_string()).collect();
        if lines.len() > 200 {
            lines.drain(..lines.len() - 200);
        }
        lines.join("\n")
    }

    /// `shutdown` and `exit`; returns the bridge's exit code.
    pub fn shutdown_and_exit(&mut self) -> i32 {
        let r = self.call("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        self.wait_exit()
    }

    /// Waits (bounded) for the bridge to end and returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "devspacesd --stdio did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Messages for Lsp {
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        Lsp::wait_for(self, what, pred)
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        self.stdin.take();
        crate::end_child(&mut self.child, Duration::from_secs(10));
    }
}
