//! A small Chrome DevTools Protocol client, as an editor's JavaScript debugger speaks it to Node.js's
//! inspector (`node --inspect`): the inspector's HTTP `/json/list`, then JSON messages over a
//! WebSocket (RFC 6455 client frames: masked text out; text, ping and close in).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{Up, WAIT};

/// The inspector's targets (`GET /json/list` on its port): what a debugger attaches to.
pub fn targets(port: u16) -> Value {
    let (status, body) = crate::http_get(port, "/json/list");
    assert_eq!(status, 200, "GET /json/list: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/json/list is not JSON ({e}): {body}"))
}

/// The Node.js service of the debugging tests: an http server whose handler says its version, on
/// `APP_HOST` (a container's app listens on every address), else 127.0.0.1; `padding` comment lines
/// move the handler down.
pub fn node_app(version: &str, padding: usize) -> String {
    format!(
        r#"const http = require("http");
{}
http.createServer((req, res) => {{
  const version = "{version}";
  const body = `version ${{version}}\n`;
  res.writeHead(200, {{ "Content-Length": Buffer.byteLength(body) }});
  res.end(body);
}}).listen(Number(process.env.PORT), process.env.APP_HOST || "127.0.0.1");
"#,
        "// an edit that moves the handler down\n".repeat(padding)
    )
}

/// Attaches to the inspector behind the debug forward, as a debugger does (its target from
/// `/json/list`, `Debugger.enable`), and sets a breakpoint on `line` (1-based) of the app's copy
/// of `rel`, found through the path mapping; returns the session and when the breakpoint was
/// armed (resolved in the loaded script).
pub fn attach_inspector(debug_port: u16, remote_root: &str, rel: &str, line: u32) -> (Cdp, Instant) {
    let remote_url = format!("file://{remote_root}/{rel}");
    let list = targets(debug_port);
    let target = list.as_array().and_then(|t| t.first()).unwrap_or_else(|| panic!("no inspector target: {list}"));
    assert_eq!(target["url"], remote_url.as_str(), "the inspector runs the app's copy: {target}");
    let ws = target["webSocketDebuggerUrl"].as_str().expect("webSocketDebuggerUrl");
    let path = &ws[ws.find("://").map(|i| i + 3).unwrap()..];
    let path = &path[path.find('/').unwrap()..];
    let mut cdp = Cdp::connect(debug_port, path);
    cdp.call("Debugger.enable", json!({}));
    let bp = cdp.call("Debugger.setBreakpointByUrl", json!({"lineNumber": line - 1, "url": remote_url}));
    // Resolved in the script at once when node has loaded it; else when it does (the inspector
    // listens, and `debugReady` says so, before node has compiled the app's main script).
    let location = match bp["locations"].get(0) {
        Some(l) => l.clone(),
        None => {
            let id = bp["breakpointId"].clone();
            cdp.wait_event("Debugger.breakpointResolved", move |p| p["breakpointId"] == id)["location"].clone()
        }
    };
    let armed_at = Instant::now();
    assert_eq!(location["lineNumber"], line - 1, "the breakpoint resolved in the loaded script: {bp} {location}");
    (cdp, armed_at)
}

/// Waits for the pause at the breakpoint; returns the top frame, its workspace path (mapped
/// back through `pathMappings`) and its 1-based line.
pub fn paused_frame(cdp: &mut Cdp, up: &mut Up, local_root: &str, remote_root: &str) -> (Value, String, u64) {
    let Some(paused) = cdp.try_event("Debugger.paused", WAIT) else {
        up.collect_for(Duration::from_millis(500));
        panic!("no pause at the breakpoint; `up` printed:\n{}", up.dump());
    };
    let frame = paused["callFrames"][0].clone();
    // The frame's script, by its id, as `Debugger.scriptParsed` announced it.
    let script = frame["location"]["scriptId"].clone();
    let parsed = cdp.seen.iter().find(|m| m["method"] == "Debugger.scriptParsed" && m["params"]["scriptId"] == script);
    let url = parsed.and_then(|m| m["params"]["url"].as_str()).expect("the paused script was announced");
    let remote = url.strip_prefix("file://").unwrap_or_else(|| panic!("not a file url: {url}"));
    let local = format!("{local_root}{}", remote.strip_prefix(remote_root).expect("under the remote root"));
    let line = frame["location"]["lineNumber"].as_u64().unwrap() + 1;
    (frame, local, line)
}

/// Reads one frame's opcode and payload; `None` at the end of the stream.
fn read_frame(r: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).ok()?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).ok()?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// A frame from the client: FIN, `opcode`, masked as RFC 6455 requires of clients.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7);
    let mask = nanos.to_be_bytes();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A CDP session over the inspector's WebSocket.
pub struct Cdp {
    stream: TcpStream,
    messages: Receiver<Value>,
    pub seen: Vec<Value>,
    taken: Vec<usize>,
    id: i64,
}

impl Cdp {
    /// Opens the WebSocket at `path` (a target's, from `/json/list`) on `127.0.0.1:port`.
    pub fn connect(port: u16, path: &str) -> Cdp {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the inspector's forward");
        let _ = stream.set_nodelay(true);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: ZGV2c3BhY2VzLXRlc3RzLQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("send the upgrade");
        let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
        let mut status = String::new();
        reader.read_line(&mut status).expect("read the upgrade's answer");
        assert!(status.starts_with("HTTP/1.1 101"), "the inspector did not switch to WebSocket: {status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read the upgrade's headers");
            if line.trim().is_empty() {
                break;
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let mut pong = stream.try_clone().expect("clone the stream");
        std::thread::spawn(move || {
            while let Some((opcode, payload)) = read_frame(&mut reader) {
                match opcode {
                    1 => {
                        let v =
                            serde_json::from_slice(&payload).expect("the inspector sent a message that is not JSON");
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    9 => {
                        let _ = pong.write_all(&frame(10, &payload));
                    }
                    8 => break,
                    _ => {}
                }
            }
        });
        Cdp { stream, messages: rx, seen: Vec::new(), taken: Vec::new(), id: 0 }
    }

    /// Sends a command and waits for its result; panics on an error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        let body = json!({"id": id, "method": method, "params": params}).to_string();
        self.stream.write_all(&frame(1, body.as_bytes())).expect("send to the inspector");
        let answer = self.wait(&format!("the answer to {method}"), |m| m["id"] == id);
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// The params of the next event named `method`, or `None` within `within`.
    pub fn try_event(&mut self, method: &str, within: Duration) -> Option<Value> {
        self.try_wait(within, |m| m["method"] == method).ok().map(|m| m["params"].clone())
    }

    /// Waits for an event whose params match `pred`; returns its params.
    pub fn wait_event(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait(&format!("the event {method}"), |m| m["method"] == method && pred(&m["params"]))["params"].clone()
    }

    fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        match self.try_wait(WAIT, pred) {
            Ok(v) => v,
            Err(e) => panic!("no {what} ({e:?}); {} messages so far", self.seen.len()),
        }
    }

    fn try_wait(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value, RecvTimeoutError> {
        crate::take_matching(&mut self.seen, &mut self.taken, &self.messages, within, pred)
    }

    /// Whether the inspector closed the connection within `within`.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        crate::closed_within(&mut self.seen, &self.messages, within)
    }
}

/// The first stop of an inspector test: attach at `debug_port` (`roots`: the workspace folder and
/// the folder it is in where node runs) with a breakpoint on `rel`'s `line` (`file`: its workspace
/// path), send a GET to the app's `port`, and see the pause in the workspace's file at that line
/// with version 1 in scope; resume, and the GET is answered. The attached client goes on.
pub fn first_stop(
    up: &mut Up,
    port: u16,
    debug_port: u16,
    roots: (&str, &str),
    rel: &str,
    file: &str,
    line: u32,
) -> Cdp {
    let (mut cdp, _) = attach_inspector(debug_port, roots.1, rel, line);
    let answer = crate::dap::get_in_background(port);
    let (frame, path, at) = paused_frame(&mut cdp, up, roots.0, roots.1);
    assert_eq!((path.as_str(), at), (file, line as u64), "the workspace file and line");
    let v =
        cdp.call("Debugger.evaluateOnCallFrame", json!({"callFrameId": frame["callFrameId"], "expression": "version"}));
    assert_eq!(v["result"]["value"], "1");
    cdp.call("Debugger.resume", json!({}));
    assert_eq!(answer.join().unwrap(), (200, "version 1\n".to_string()));
    cdp
}
