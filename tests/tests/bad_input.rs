//! Malformed input on one `devspacesd --stdio` connection: each gets its documented answer, and the
//! same connection keeps serving (docs/protocol.md, "Bad input").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use devspaces_tests::lsp::{frame, Lsp};
use devspaces_tests::*;
use serde_json::{json, Value};

/// What one malformed input must get.
enum Expect {
    /// An error response with this id (`Value::Null` for id null), code, and a word of its message.
    Error(Value, i64, &'static str),
    /// A success response with this id.
    Result(Value),
    /// No answer at all.
    Nothing,
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case { name, bytes, expect }
}

fn body(v: Value) -> Vec<u8> {
    frame(v.to_string().as_bytes())
}

fn raw(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Sends a case, then a `devspaces/status` ping as a barrier, and checks everything received in between.
fn check(c: &mut Lsp, k: &Case) {
    let start = c.seen.len();
    c.send_raw(&k.bytes);
    // Requests with a readable id run as tasks: wait for their answer before the barrier.
    let want_id = match &k.expect {
        Expect::Error(id, ..) | Expect::Result(id) if !id.is_null() => Some(id.clone()),
        _ => None,
    };
    if let Some(id) = &want_id {
        c.response(id);
    }
    let ping = c.request("devspaces/status", json!({}));
    c.response(&json!(ping));
    let got: Vec<Value> = c.seen[start..].iter().filter(|v| v["id"] != json!(ping)).cloned().collect();
    let show = || got.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("\n");
    match &k.expect {
        Expect::Nothing => assert!(got.is_empty(), "{}: expected no answer, got:\n{}", k.name, show()),
        Expect::Result(id) => {
            assert_eq!(got.len(), 1, "{}: expected one answer, got:\n{}", k.name, show());
            assert_eq!(&got[0]["id"], id, "{}", k.name);
            assert!(got[0].get("result").is_some(), "{}: {}", k.name, got[0]);
        }
        Expect::Error(id, code, word) => {
            assert_eq!(got.len(), 1, "{}: expected one answer, got:\n{}", k.name, show());
            let e = &got[0];
            assert_eq!(e["jsonrpc"], "2.0", "{}", k.name);
            assert_eq!(&e["id"], id, "{}: {e}", k.name);
            assert_eq!(e["error"]["code"], *code, "{}: {e}", k.name);
            let msg = e["error"]["message"].as_str().unwrap();
            assert!(msg.contains(word), "{}: message {msg:?} lacks {word:?}", k.name);
        }
    }
}

#[test]
fn malformed_messages_each_get_their_answer_and_the_connection_keeps_serving() {
    let env = Env::new();
    let (_t, svc) = copy_service("examples/python-web");
    let not_a_service = tempfile::tempdir().unwrap();
    let mut cmd = env.command();
    cmd.env("DEVSPACES_TEST_HOOKS", "1");
    let mut c = Lsp::start_with(cmd);
    let null = Value::Null;

    let before_init = [
        case(
            "a request before initialize",
            body(json!({"jsonrpc": "2.0", "id": 1, "method": "devspaces/status", "params": {}})),
            Expect::Error(json!(1), -32002, "not initialized"),
        ),
        case(
            "devspaces/up before initialize",
            body(json!({"jsonrpc": "2.0", "id": 2, "method": "devspaces/up", "params": {"path": svc}})),
            Expect::Error(json!(2), -32002, "not initialized"),
        ),
        case(
            "a notification before initialize",
            body(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {}})),
            Expect::Nothing,
        ),
    ];
    for k in &before_init {
        check(&mut c, k);
    }
    let init = c.initialize();
    assert_eq!(init["capabilities"]["experimental"]["devspaces"]["protocolVersion"], 1);

    // A 64 MiB body is discarded as it streams, never buffered, and answered. (Measured first:
    // the panicking handler below makes the debug build load its symbols, which costs memory.)
    let daemon = env.daemon_pid().expect("the daemon runs");
    let huge = 64 * 1024 * 1024;
    let mut bytes = format!("Content-Length: {huge}\r\n\r\n").into_bytes();
    bytes.resize(bytes.len() + huge, b' ');
    check(
        &mut c,
        &case("a 64 MiB body", bytes, Expect::Error(Value::Null, -32600, "message too large: 67108864 bytes")),
    );
    let status = std::fs::read_to_string(format!("/proc/{daemon}/status")).unwrap();
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(hwm_kb < 48 * 1024, "the daemon never held the 64 MiB body (peak RSS {hwm_kb} kB)");

    let ok = r#"{"jsonrpc":"2.0","id":9,"method":"devspaces/status","params":{}}"#;
    let cases = vec![
        case(
            "missing content-length",
            raw(&format!("Content-Type: application/vscode-jsonrpc\r\n\r\n{ok}")),
            Expect::Error(null.clone(), -32700, "missing content-length"),
        ),
        case(
            "content-length not a number",
            raw(&format!("Content-Length: abc\r\n\r\n{ok}")),
            Expect::Error(null.clone(), -32700, "invalid content-length 'abc'"),
        ),
        case(
            "negative content-length",
            raw(&format!("Content-Length: -5\r\n\r\n{ok}")),
            Expect::Error(null.clone(), -32700, "invalid content-length"),
        ),
        case(
            "content-length with a plus sign",
            raw(&format!("Content-Length: +5\r\n\r\n{ok}")),
            Expect::Error(null.clone(), -32700, "invalid content-length"),
        ),
        case(
            "two different content-lengths",
            raw(&format!("Content-Length: {}\r\nContent-Length: 3\r\n\r\n{ok}", ok.len())),
            Expect::Error(null.clone(), -32700, "invalid content-length"),
        ),
        case(
            "malformed header line",
            raw(&format!("Content-Length: {}\r\nthis is not a header\r\n\r\n{ok}", ok.len())),
            Expect::Error(null.clone(), -32700, "malformed header line"),
        ),
        case(
            "content-length shorter than the body",
            raw(&format!("Content-Length: 20\r\n\r\n{ok}")),
            Expect::Error(null.clone(), -32700, "invalid json"),
        ),
        case(
            "content-length longer than the body",
            raw(&format!("Content-Length: {}\r\n\r\n{ok}XXXXX", ok.len() + 5)),
            Expect::Error(null.clone(), -32700, "invalid json"),
        ),
        case("garbage outside a frame", raw("hello, this is not a frame\r\n"), Expect::Nothing),
        case(
            "invalid utf-8",
            frame(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"devspaces/\xff\xfe\"}"),
            Expect::Error(null.clone(), -32700, "invalid utf-8 at byte 44"),
        ),
        case(
            "invalid json",
            frame(br#"{"jsonrpc":"2.0","id":4,"method":"#),
            Expect::Error(null.clone(), -32700, "invalid json"),
        ),
        case("empty body", raw("Content-Length: 0\r\n\r\n"), Expect::Error(null.clone(), -32700, "invalid json")),
        case(
            "lone surrogate escape",
            frame(br#"{"jsonrpc":"2.0","id":5,"method":"\ud800"}"#),
            Expect::Error(null.clone(), -32700, "invalid json"),
        ),
        case(
            "batch array",
            body(json!([{"jsonrpc": "2.0", "id": 6, "method": "devspaces/status"}])),
            Expect::Error(null.clone(), -32600, "batch"),
        ),
        case("json scalar", frame(b"42"), Expect::Error(null.clone(), -32600, "json-rpc 2.0 message object")),
        case(
            "wrong jsonrpc version",
            body(json!({"jsonrpc": "1.0", "id": 7, "method": "devspaces/status"})),
            Expect::Error(json!(7), -32600, "jsonrpc"),
        ),
        case(
            "missing jsonrpc member",
            body(json!({"id": 8, "method": "devspaces/status"})),
            Expect::Error(json!(8), -32600, "jsonrpc"),
        ),
        case(
            "method not a string",
            body(json!({"jsonrpc": "2.0", "id": 10, "method": 5})),
            Expect::Error(json!(10), -32600, "method"),
        ),
        case(
            "params a string",
            body(json!({"jsonrpc": "2.0", "id": 11, "method": "devspaces/status", "params": "x"})),
            Expect::Error(json!(11), -32600, "params"),
        ),
        case(
            "id an object",
            body(json!({"jsonrpc": "2.0", "id": {"a": 1}, "method": "devspaces/status"})),
            Expect::Error(null.clone(), -32600, "invalid id"),
        ),
        case(
            "id a fraction",
            frame(br#"{"jsonrpc":"2.0","id":1.5,"method":"devspaces/status"}"#),
            Expect::Error(null.clone(), -32600, "invalid id"),
        ),
        case(
            "response with neither result nor error",
            body(json!({"jsonrpc": "2.0", "id": 12})),
            Expect::Error(null.clone(), -32600, "result"),
        ),
        case(
            "unknown method",
            body(json!({"jsonrpc": "2.0", "id": 13, "method": "devspaces/frobnicate", "params": {}})),
            Expect::Error(json!(13), -32601, "devspaces/frobnicate"),
        ),
        case(
            "unknown notification",
            body(json!({"jsonrpc": "2.0", "method": "devspaces/frobnicated", "params": {}})),
            Expect::Nothing,
        ),
        case(
            "$/cancelRequest for nothing",
            body(json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 999}})),
            Expect::Nothing,
        ),
        case("a response to nothing", body(json!({"jsonrpc": "2.0", "id": 424242, "result": null})), Expect::Nothing),
        case(
            "devspaces/up with a number for path",
            body(json!({"jsonrpc": "2.0", "id": 14, "method": "devspaces/up", "params": {"path": 5}})),
            Expect::Error(json!(14), -32602, "invalid params"),
        ),
        case(
            "devspaces/up without path",
            body(json!({"jsonrpc": "2.0", "id": 15, "method": "devspaces/up", "params": {}})),
            Expect::Error(json!(15), -32602, "path"),
        ),
        case(
            "devspaces/up with a wrong backend",
            body(
                json!({"jsonrpc": "2.0", "id": 16, "method": "devspaces/up", "params": {"path": svc, "backend": "docker"}}),
            ),
            Expect::Error(json!(16), -32602, "unknown variant `docker`"),
        ),
        case(
            "devspaces/up with a relative path",
            body(json!({"jsonrpc": "2.0", "id": 17, "method": "devspaces/up", "params": {"path": "python-web"}})),
            Expect::Error(json!(17), -32602, "not absolute"),
        ),
        case(
            "devspaces/up on a folder without azds.yaml",
            body(
                json!({"jsonrpc": "2.0", "id": 18, "method": "devspaces/up", "params": {"path": not_a_service.path()}}),
            ),
            Expect::Error(json!(18), -32901, "not a service"),
        ),
        case(
            "devspaces/classify with paths a string",
            body(
                json!({"jsonrpc": "2.0", "id": 19, "method": "devspaces/classify", "params": {"path": svc, "paths": "app.py"}}),
            ),
            Expect::Error(json!(19), -32602, "invalid params"),
        ),
        case(
            "devspaces/classify without params",
            body(json!({"jsonrpc": "2.0", "id": 20, "method": "devspaces/classify"})),
            Expect::Error(json!(20), -32602, "invalid params"),
        ),
        case(
            "devspaces/down of an unknown session",
            body(json!({"jsonrpc": "2.0", "id": 21, "method": "devspaces/down", "params": {"session": "nope"}})),
            Expect::Error(json!(21), -32900, "nope"),
        ),
        case(
            "devspaces/restart without a target",
            body(json!({"jsonrpc": "2.0", "id": 22, "method": "devspaces/restart", "params": {}})),
            Expect::Error(json!(22), -32602, "session"),
        ),
        case(
            "a second initialize",
            body(json!({"jsonrpc": "2.0", "id": 23, "method": "initialize", "params": {"capabilities": {}}})),
            Expect::Error(json!(23), -32600, "already"),
        ),
        case(
            "a handler that panics",
            body(json!({"jsonrpc": "2.0", "id": 24, "method": "devspaces/_panic", "params": {}})),
            Expect::Error(json!(24), -32603, "internal error"),
        ),
        case(
            "string ids work",
            body(json!({"jsonrpc": "2.0", "id": "s-1", "method": "devspaces/status"})),
            Expect::Result(json!("s-1")),
        ),
        case(
            "lowercase header, LF line ends, extra header",
            raw(&format!("content-type: application/json\ncontent-length: {}\n\n{ok}", ok.len())),
            Expect::Result(json!(9)),
        ),
        case(
            "a classify that is fine",
            body(
                json!({"jsonrpc": "2.0", "id": 25, "method": "devspaces/classify", "params": {"path": svc, "paths": ["app.py"]}}),
            ),
            Expect::Result(json!(25)),
        ),
    ];
    assert!(cases.len() >= 20);
    for k in &cases {
        check(&mut c, k);
    }

    // After all of it, the same connection still serves.
    let st = c.call("devspaces/status", json!({}));
    assert_eq!(st["result"]["daemon"]["pid"], daemon);
    assert_eq!(st["result"]["daemon"]["protocolVersion"], 1);

    // After shutdown, requests are refused; exit then ends the bridge with 0.
    let r = c.call("shutdown", Value::Null);
    assert_eq!(r["result"], Value::Null);
    let refused = c.call("devspaces/status", json!({}));
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    c.notify("exit", Value::Null);
    assert_eq!(c.wait_exit(), 0);
    assert!(alive(daemon), "the daemon outlives its clients");
}

#[test]
fn input_that_ends_inside_a_frame_is_answered_and_the_daemon_serves_the_next_client() {
    let env = Env::new();
    let mut first = Lsp::start(&env);
    first.initialize();
    let daemon = env.daemon_pid().expect("the daemon runs");

    first.send_raw(b"Content-Length: 40\r\nContent-Ty");
    first.close_stdin();
    let e = first.wait_for("the truncated header error", |v| v["error"]["code"] == -32700);
    assert!(e["error"]["message"].as_str().unwrap().contains("truncated header"), "{e}");
    assert_eq!(e["id"], Value::Null);
    assert_eq!(first.wait_exit(), 1, "the input ended without shutdown");

    let mut second = Lsp::start(&env);
    second.initialize();
    second.send_raw(b"Content-Length: 100\r\n\r\n{\"jsonrpc\":");
    second.close_stdin();
    let e = second.wait_for("the truncated body error", |v| v["error"]["code"] == -32700);
    assert!(e["error"]["message"].as_str().unwrap().contains("truncated body"), "{e}");
    assert_eq!(second.wait_exit(), 1);

    let mut third = Lsp::start(&env);
    third.initialize();
    let st = third.call("devspaces/status", json!({}));
    assert_eq!(st["result"]["daemon"]["pid"], daemon, "the same daemon serves on");
    assert_eq!(third.shutdown_and_exit(), 0);
}
