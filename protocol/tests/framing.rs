//! Table tests of the validating frame reader: every malformed input and what it must yield.

use std::pin::Pin;
use std::task::{Context, Poll};

use devspaces_protocol::editor::codes;
use devspaces_protocol::framing::{encode_frame, error_response, write_frame, FrameReader, Incoming, DEFAULT_MAX_BODY};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};

/// What a case expects, in order.
#[derive(Debug)]
enum Want {
    Msg(Value),
    Err(Value, i64, &'static str),
    Skip,
}

const STATUS: &str = r#"{"jsonrpc":"2.0","id":99,"method":"devspaces/status","params":{}}"#;

fn frame(body: &str) -> Vec<u8> {
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn raw(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    want: Vec<Want>,
    /// Append a valid frame and expect it to be read: the stream recovered.
    then_valid: bool,
}

fn case(name: &'static str, input: Vec<u8>, want: Vec<Want>, then_valid: bool) -> Case {
    Case { name, input, want, then_valid }
}

fn cases() -> Vec<Case> {
    use Want::*;
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "devspaces/status", "params": {}});
    let body = req.to_string();
    let n = body.len();
    vec![
        case("valid request", frame(&body), vec![Msg(req.clone())], true),
        case(
            "valid notification",
            frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#),
            vec![Msg(json!({"jsonrpc":"2.0","method":"initialized","params":{}}))],
            true,
        ),
        case(
            "valid response",
            frame(r#"{"jsonrpc":"2.0","id":"s1","result":null}"#),
            vec![Msg(json!({"jsonrpc":"2.0","id":"s1","result":null}))],
            true,
        ),
        case(
            "valid error response",
            frame(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#),
            vec![Msg(json!({"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}))],
            true,
        ),
        case(
            "params null is tolerated",
            frame(r#"{"jsonrpc":"2.0","id":2,"method":"shutdown","params":null}"#),
            vec![Msg(json!({"jsonrpc":"2.0","id":2,"method":"shutdown","params":null}))],
            true,
        ),
        case(
            "extra content-type header",
            raw(&[
                format!("Content-Length: {n}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n")
                    .as_bytes(),
                body.as_bytes(),
            ]),
            vec![Msg(req.clone())],
            true,
        ),
        case(
            "header name case-insensitive",
            raw(&[format!("cOnTeNt-LeNgTh:{n}\r\n\r\n").as_bytes(), body.as_bytes()]),
            vec![Msg(req.clone())],
            true,
        ),
        case(
            "lf-only line endings",
            raw(&[format!("Content-Length: {n}\n\n").as_bytes(), body.as_bytes()]),
            vec![Msg(req.clone())],
            true,
        ),
        case("blank lines between frames", raw(&[b"\r\n\r\n", &frame(&body)]), vec![Msg(req.clone())], true),
        case(
            "missing content-length",
            raw(&[b"Content-Type: application/json\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "missing content-length header"), Skip],
            true,
        ),
        case(
            "non-numeric content-length",
            raw(&[b"Content-Length: abc\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid content-length 'abc'"), Skip],
            true,
        ),
        case(
            "negative content-length",
            raw(&[b"Content-Length: -5\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid content-length '-5'"), Skip],
            true,
        ),
        case(
            "plus-signed content-length",
            raw(&[b"Content-Length: +5\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid content-length '+5'"), Skip],
            true,
        ),
        case(
            "content-length overflowing",
            raw(&[b"Content-Length: 99999999999999999999999\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid content-length"), Skip],
            true,
        ),
        case(
            "conflicting content-lengths",
            raw(&[b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid content-length '5, 6'"), Skip],
            true,
        ),
        case(
            "content-length shorter than body",
            raw(&[format!("Content-Length: {}\r\n\r\n", n - 10).as_bytes(), body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid json"), Skip],
            true,
        ),
        case(
            "content-length longer than the data at eof",
            raw(&[format!("Content-Length: {}\r\n\r\n", n + 10).as_bytes(), body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "truncated body: content-length")],
            false,
        ),
        case(
            "truncated header at eof",
            b"Content-Len".to_vec(),
            vec![Err(Value::Null, codes::PARSE_ERROR, "truncated header")],
            false,
        ),
        case(
            "header without its blank line at eof",
            b"Content-Length: 10\r\n".to_vec(),
            vec![Err(Value::Null, codes::PARSE_ERROR, "truncated header")],
            false,
        ),
        case(
            "malformed header line",
            raw(&[format!("Content-Length: {n}\r\nbogus\r\n\r\n").as_bytes(), body.as_bytes()]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "malformed header line 'bogus'"), Skip],
            true,
        ),
        case("garbage before a frame", b"hello world\r\n".to_vec(), vec![Skip], true),
        case("garbage glued to a header", b"\"}".to_vec(), vec![Skip], true),
        case("garbage only, then eof", b"{not a frame}".to_vec(), vec![Skip], false),
        case("header block too long", vec![b'a'; 10_000], vec![Skip], true),
        case(
            "invalid utf-8",
            raw(&[b"Content-Length: 6\r\n\r\n", b"{\"\xff\"}\n"]),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid utf-8 at byte 2")],
            true,
        ),
        case(
            "invalid json",
            frame(r#"{"jsonrpc": "2.0", "id": 1, "method": }"#),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid json")],
            true,
        ),
        case(
            "lone surrogate escape",
            frame(r#"{"jsonrpc":"2.0","method":"x","params":{"a":"\ud800"}}"#),
            vec![Err(Value::Null, codes::PARSE_ERROR, "invalid json")],
            true,
        ),
        case("empty body", frame(""), vec![Err(Value::Null, codes::PARSE_ERROR, "invalid json")], true),
        case(
            "batch",
            frame(&format!("[{body}]")),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "batch messages are not supported")],
            true,
        ),
        case(
            "empty batch",
            frame("[]"),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "batch messages are not supported")],
            true,
        ),
        case(
            "scalar body",
            frame("42"),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "expected a json-rpc 2.0 message object")],
            true,
        ),
        case(
            "missing jsonrpc member",
            frame(r#"{"id":7,"method":"devspaces/status"}"#),
            vec![Err(json!(7), codes::INVALID_REQUEST, "\"jsonrpc\"")],
            true,
        ),
        case(
            "wrong jsonrpc version",
            frame(r#"{"jsonrpc":"1.0","id":"a","method":"devspaces/status"}"#),
            vec![Err(json!("a"), codes::INVALID_REQUEST, "expected \"2.0\"")],
            true,
        ),
        case(
            "method not a string",
            frame(r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            vec![Err(json!(1), codes::INVALID_REQUEST, "\"method\" must be a string")],
            true,
        ),
        case(
            "params a string",
            frame(r#"{"jsonrpc":"2.0","id":1,"method":"devspaces/up","params":"x"}"#),
            vec![Err(json!(1), codes::INVALID_REQUEST, "\"params\" must be an object or an array")],
            true,
        ),
        case(
            "id an object",
            frame(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"devspaces/status"}"#),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "invalid id")],
            true,
        ),
        case(
            "id fractional",
            frame(r#"{"jsonrpc":"2.0","id":1.5,"method":"devspaces/status"}"#),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "invalid id")],
            true,
        ),
        case(
            "response with result and error",
            frame(r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"x"}}"#),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "expected \"method\"")],
            true,
        ),
        case(
            "response without id",
            frame(r#"{"jsonrpc":"2.0","result":1}"#),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "expected \"method\"")],
            true,
        ),
        case(
            "body over the limit",
            frame(&format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{{"p":"{}"}}}}"#, "x".repeat(4096))),
            vec![Err(Value::Null, codes::INVALID_REQUEST, "message too large: 4151 bytes (limit 1024)")],
            true,
        ),
        case("empty input", Vec::new(), vec![], false),
    ]
}

/// Reads at most `step` bytes per read, to split frames at every possible place.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.step.min(buf.remaining()).min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

async fn read_all(input: Vec<u8>, step: usize) -> Vec<Incoming> {
    let mut reader = FrameReader::with_max_body(Trickle { data: input, pos: 0, step }, 1024);
    let mut out = Vec::new();
    while let Some(outcome) = reader.read_message().await.expect("in-memory reads do not fail") {
        out.push(outcome);
        assert!(out.len() < 100, "reader does not progress");
    }
    out
}

fn matches(got: &Incoming, want: &Want) -> bool {
    match (got, want) {
        (Incoming::Message(v), Want::Msg(w)) => v == w,
        (Incoming::Invalid { id, code, message }, Want::Err(wid, wcode, needle)) => {
            id.clone().unwrap_or(Value::Null) == *wid && code == wcode && message.contains(needle)
        }
        (Incoming::Skipped { bytes, .. }, Want::Skip) => *bytes > 0,
        _ => false,
    }
}

#[tokio::test]
async fn every_malformed_input_yields_its_outcome_and_the_stream_recovers() {
    let mut failures = Vec::new();
    for case in cases() {
        let mut input = case.input.clone();
        let mut want: Vec<&Want> = case.want.iter().collect();
        let valid = Want::Msg(serde_json::from_str(STATUS).expect("valid json"));
        if case.then_valid {
            input.extend_from_slice(&frame(STATUS));
            want.push(&valid);
        }
        for step in [usize::MAX, 1, 7] {
            let got = read_all(input.clone(), step).await;
            let ok = got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| matches(g, w));
            if !ok {
                failures.push(format!("{} (reads of {step} bytes):\n  want {want:?}\n  got  {got:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} failing cases:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn a_64_mib_body_is_discarded_without_being_buffered() {
    const SIZE: usize = 64 * 1024 * 1024;
    let (mut tx, rx) = tokio::io::duplex(64 * 1024);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        tx.write_all(format!("Content-Length: {SIZE}\r\n\r\n").as_bytes()).await?;
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..64 {
            tx.write_all(&chunk).await?;
        }
        tx.write_all(&frame(STATUS)).await?;
        std::io::Result::Ok(())
    });
    let mut reader = FrameReader::new(rx);
    let first = reader.read_message().await.expect("read").expect("an outcome");
    assert_eq!(
        first,
        Incoming::Invalid {
            id: None,
            code: codes::INVALID_REQUEST,
            message: format!("message too large: {SIZE} bytes (limit {DEFAULT_MAX_BODY})"),
        }
    );
    let second = reader.read_message().await.expect("read").expect("an outcome");
    assert!(matches!(&second, Incoming::Message(v) if v["id"] == 99), "got {second:?}");
    assert!(
        reader.buffer_capacity() < 1024 * 1024,
        "reader buffered {} bytes of a discarded body",
        reader.buffer_capacity()
    );
    writer.await.expect("writer task").expect("writes");
}

#[tokio::test]
async fn write_frame_output_reads_back() {
    let (mut tx, rx) = tokio::io::duplex(1024);
    let msg = json!({"jsonrpc": "2.0", "method": "devspaces/log", "params": {"line": "héllo"}});
    write_frame(&mut tx, &msg).await.expect("write");
    drop(tx);
    let mut reader = FrameReader::new(rx);
    assert_eq!(reader.read_message().await.expect("read"), Some(Incoming::Message(msg.clone())));
    assert_eq!(reader.read_message().await.expect("read"), None);
    let encoded = encode_frame(&msg);
    let body_len = msg.to_string().len();
    assert!(encoded.starts_with(format!("Content-Length: {body_len}\r\n\r\n").as_bytes()));
}

#[test]
fn error_response_carries_null_id_when_unknown() {
    assert_eq!(
        error_response(None, codes::PARSE_ERROR, "invalid json: x"),
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "invalid json: x"}})
    );
    assert_eq!(error_response(Some(json!(4)), codes::INVALID_REQUEST, "m")["id"], json!(4));
    let invalid = Incoming::Invalid { id: Some(json!("r1")), code: codes::INVALID_REQUEST, message: "m".into() };
    assert_eq!(invalid.error_reply(), Some(error_response(Some(json!("r1")), codes::INVALID_REQUEST, "m")));
    assert_eq!(Incoming::Skipped { bytes: 3, reason: "x" }.error_reply(), None);
}

#[tokio::test]
async fn a_large_body_does_not_keep_its_room() {
    let big = format!(r#"{{"jsonrpc":"2.0","method":"x","params":{{"p":"{}"}}}}"#, "y".repeat(4 * 1024 * 1024));
    let mut input = frame(&big);
    input.extend_from_slice(&frame(STATUS));
    let mut reader = FrameReader::new(Trickle { data: input, pos: 0, step: usize::MAX });
    let first = reader.read_message().await.expect("read").expect("an outcome");
    assert!(matches!(first, Incoming::Message(_)));
    assert!(reader.buffer_capacity() < 1024 * 1024, "kept {} bytes", reader.buffer_capacity());
}
