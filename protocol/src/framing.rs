//! Validating LSP base framing: reads `Content-Length` frames, judges each body, writes frames.
//!
//! The daemon puts [`FrameReader`] in front of its JSON-RPC server, which ends the whole
//! connection on a body that is not valid UTF-8 or JSON. The reader turns every input, however
//! malformed, into [`Incoming`] outcomes: a valid JSON-RPC 2.0 message to forward with
//! [`write_frame`], an [`Incoming::Invalid`] to answer with [`error_response`], or
//! [`Incoming::Skipped`] bytes to log. After any of them it keeps reading: bytes outside a frame
//! are skipped up to the next `Content-Length:` header, and an oversized body is discarded as it
//! streams in, never buffered.
//!
//! Tolerances: header names are case-insensitive, lines may end in LF alone, headers other than
//! `Content-Length` (such as `Content-Type`) are ignored, and blank lines between frames are
//! skipped.

#![warn(clippy::unwrap_used)]

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::editor::codes;

/// The default largest body accepted: 16 MiB.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;
/// The largest header block accepted; past it the bytes are treated as garbage.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
const CHUNK: usize = 64 * 1024;
const NEEDLE: &[u8] = b"content-length:";

/// One outcome of reading the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A well-formed JSON-RPC 2.0 request, notification or response.
    Message(Value),
    /// Input to answer with a JSON-RPC error (see [`error_response`]).
    Invalid {
        /// The request's ID when it could be read; `None` answers with `"id": null`.
        id: Option<Value>,
        /// [`codes::PARSE_ERROR`] or [`codes::INVALID_REQUEST`].
        code: i64,
        /// What was wrong, lowercase.
        message: String,
    },
    /// Bytes outside any frame were skipped; nothing to answer, worth a log line.
    Skipped {
        /// How many bytes.
        bytes: u64,
        /// Why they were skipped.
        reason: &'static str,
    },
}

impl Incoming {
    /// The error response to send back for [`Incoming::Invalid`]; `None` for the other outcomes.
    pub fn error_reply(&self) -> Option<Value> {
        match self {
            Incoming::Invalid { id, code, message } => Some(error_response(id.clone(), *code, message)),
            Incoming::Message(_) | Incoming::Skipped { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Headers,
    Body(usize),
    Resync { skipped: u64, reason: &'static str },
    Discard(usize),
    Done,
}

enum HeaderScan {
    Incomplete,
    Garbage,
    BadLine { end: usize, line: String },
    Blank(usize),
    Block { end: usize, length: Option<Result<usize, String>> },
}

/// Reads frames from `R` and judges them; see the module documentation.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_body: usize,
    state: State,
    eof: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader accepting bodies up to [`DEFAULT_MAX_BODY`].
    pub fn new(inner: R) -> Self {
        Self::with_max_body(inner, DEFAULT_MAX_BODY)
    }

    /// A reader accepting bodies up to `max_body` bytes.
    pub fn with_max_body(inner: R, max_body: usize) -> Self {
        FrameReader { inner, buf: Vec::with_capacity(CHUNK), max_body, state: State::Headers, eof: false }
    }

    /// Bytes the reader's buffer holds room for (to check that discarded bodies are not kept).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The next outcome, or `None` once the input has ended. Errors are I/O errors only.
    pub async fn read_message(&mut self) -> std::io::Result<Option<Incoming>> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Headers => {
                    if let Some(outcome) = self.step_headers().await? {
                        return Ok(Some(outcome));
                    }
                }
                State::Body(len) => {
                    if self.buf.len() >= len {
                        let body: Vec<u8> = self.buf.drain(..len).collect();
                        self.state = State::Headers;
                        // Do not keep a large body's room for the rest of the connection.
                        if self.buf.capacity() > 4 * CHUNK && self.buf.len() <= CHUNK {
                            self.buf.shrink_to(2 * CHUNK);
                        }
                        return Ok(Some(judge_body(&body)));
                    }
                    self.buf.reserve(len - self.buf.len());
                    if self.fill().await? == 0 {
                        let got = self.buf.len();
                        self.buf.clear();
                        self.state = State::Done;
                        return Ok(Some(parse_error(format!(
                            "truncated body: content-length {len} but the input ended after {got} bytes"
                        ))));
                    }
                }
                State::Resync { skipped, reason } => {
                    if let Some(at) = find_needle(&self.buf) {
                        self.buf.drain(..at);
                        self.state = State::Headers;
                        let bytes = skipped + at as u64;
                        if bytes > 0 {
                            return Ok(Some(Incoming::Skipped { bytes, reason }));
                        }
                        continue;
                    }
                    // Keep a tail that may be the start of a header split across reads.
                    let keep = (NEEDLE.len() - 1).min(self.buf.len());
                    let drop = self.buf.len() - keep;
                    self.buf.drain(..drop);
                    let skipped = skipped + drop as u64;
                    self.state = State::Resync { skipped, reason };
                    if self.fill().await? == 0 {
                        let bytes = skipped + self.buf.len() as u64;
                        self.buf.clear();
                        self.state = State::Done;
                        if bytes > 0 {
                            return Ok(Some(Incoming::Skipped { bytes, reason }));
                        }
                    }
                }
                State::Discard(remaining) => {
                    let n = remaining.min(self.buf.len());
                    self.buf.drain(..n);
                    let remaining = remaining - n;
                    if remaining == 0 {
                        self.state = State::Headers;
                        continue;
                    }
                    self.state = State::Discard(remaining);
                    if self.fill().await? == 0 {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// One step in the header state: an outcome, or `None` to loop again.
    async fn step_headers(&mut self) -> std::io::Result<Option<Incoming>> {
        match scan_headers(&self.buf) {
            HeaderScan::Blank(n) => {
                self.buf.drain(..n);
                Ok(None)
            }
            HeaderScan::Garbage => {
                // Skip at least one byte so that a header before the garbage is not found again.
                self.buf.drain(..1);
                self.state = State::Resync { skipped: 1, reason: "bytes outside a frame" };
                Ok(None)
            }
            HeaderScan::BadLine { end, line } => {
                self.buf.drain(..end);
                self.state = State::Resync { skipped: 0, reason: "rest of a frame with a malformed header" };
                Ok(Some(parse_error(format!("malformed header line '{line}' (expected 'name: value')"))))
            }
            HeaderScan::Incomplete if self.buf.len() > MAX_HEADER_BYTES => {
                self.buf.drain(..1);
                self.state = State::Resync { skipped: 1, reason: "header block too long" };
                Ok(None)
            }
            HeaderScan::Incomplete => {
                if self.fill().await? > 0 {
                    return Ok(None);
                }
                self.state = State::Done;
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                self.buf.clear();
                Ok(Some(parse_error("truncated header: the input ended inside a frame header".into())))
            }
            HeaderScan::Block { end, length } => {
                self.buf.drain(..end);
                let reason = "body of a frame without a valid content-length";
                match length {
                    None => {
                        self.state = State::Resync { skipped: 0, reason };
                        Ok(Some(parse_error("missing content-length header".into())))
                    }
                    Some(Err(value)) => {
                        self.state = State::Resync { skipped: 0, reason };
                        Ok(Some(parse_error(format!(
                            "invalid content-length '{value}' (expected a decimal byte count)"
                        ))))
                    }
                    Some(Ok(len)) if len > self.max_body => {
                        self.state = State::Discard(len);
                        Ok(Some(Incoming::Invalid {
                            id: None,
                            code: codes::INVALID_REQUEST,
                            message: format!("message too large: {len} bytes (limit {})", self.max_body),
                        }))
                    }
                    Some(Ok(len)) => {
                        self.state = State::Body(len);
                        Ok(None)
                    }
                }
            }
        }
    }

    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        self.buf.reserve(CHUNK);
        let n = self.inner.read_buf(&mut self.buf).await?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }
}

fn parse_error(message: String) -> Incoming {
    Incoming::Invalid { id: None, code: codes::PARSE_ERROR, message }
}

fn invalid_request(id: Option<Value>, message: &str) -> Incoming {
    Incoming::Invalid { id, code: codes::INVALID_REQUEST, message: message.to_string() }
}

fn find_needle(buf: &[u8]) -> Option<usize> {
    buf.windows(NEEDLE.len()).position(|w| w.eq_ignore_ascii_case(NEEDLE))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Looks at the start of `buf` for a complete header block.
fn scan_headers(buf: &[u8]) -> HeaderScan {
    // A block not complete within the limit is too long, however the input was split.
    let buf = &buf[..buf.len().min(MAX_HEADER_BYTES + 1)];
    let mut pos = 0;
    let mut length: Option<Result<usize, String>> = None;
    let mut lines = 0;
    while pos < buf.len() {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            // An incomplete line: garbage already if its name part is not a header name.
            let partial = &buf[pos..];
            let name_end = partial.iter().position(|&b| b == b':').unwrap_or(partial.len());
            let name = partial[..name_end].strip_suffix(b"\r").unwrap_or(&partial[..name_end]);
            if !name.iter().all(|&b| is_tchar(b)) || (name_end < partial.len() && name.is_empty()) {
                return HeaderScan::Garbage;
            }
            return HeaderScan::Incomplete;
        };
        let line = &buf[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos += nl + 1;
        if line.is_empty() {
            if lines == 0 {
                return HeaderScan::Blank(pos);
            }
            return HeaderScan::Block { end: pos, length };
        }
        lines += 1;
        let colon = line.iter().position(|&b| b == b':');
        let name = &line[..colon.unwrap_or(line.len())];
        if colon.is_none() || name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            if lines == 1 {
                return HeaderScan::Garbage;
            }
            let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
            return HeaderScan::BadLine { end: pos, line: shown };
        }
        let value = &line[name.len() + 1..];
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_length(value);
            length = match (length, parsed) {
                (Some(Ok(a)), Ok(b)) if a != b => Some(Err(format!("{a}, {b}"))),
                (Some(Err(e)), _) => Some(Err(e)),
                (_, parsed) => Some(parsed),
            };
        }
    }
    HeaderScan::Incomplete
}

fn parse_length(value: &[u8]) -> Result<usize, String> {
    let text = String::from_utf8_lossy(value);
    let trimmed = text.trim_matches(|c| c == ' ' || c == '\t');
    if trimmed.is_empty() || trimmed.len() > 19 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(trimmed.to_string());
    }
    trimmed.parse::<usize>().map_err(|_| trimmed.to_string())
}

/// Judges one body: UTF-8, then JSON, then the JSON-RPC 2.0 message shape.
pub fn judge_body(body: &[u8]) -> Incoming {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => return parse_error(format!("invalid utf-8 at byte {}", e.valid_up_to())),
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value) => judge_message(value),
        Err(e) => parse_error(format!("invalid json: {e}")),
    }
}

/// Checks that `value` is a JSON-RPC 2.0 request, notification or response.
pub fn judge_message(value: Value) -> Incoming {
    let obj = match &value {
        Value::Object(obj) => obj,
        Value::Array(_) => return invalid_request(None, "batch messages are not supported"),
        _ => return invalid_request(None, "expected a json-rpc 2.0 message object"),
    };
    let id = match obj.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Null)) => Some(id.clone()),
        Some(id @ Value::Number(n)) if n.is_i64() => Some(id.clone()),
        Some(other) => return invalid_request(None, &format!("invalid id {other} (expected a string or an integer)")),
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid_request(id, "missing or wrong \"jsonrpc\" member (expected \"2.0\")");
    }
    if let Some(method) = obj.get("method") {
        if !method.is_string() {
            return invalid_request(id, "\"method\" must be a string");
        }
        if !matches!(obj.get("params"), None | Some(Value::Object(_) | Value::Array(_) | Value::Null)) {
            return invalid_request(id, "\"params\" must be an object or an array");
        }
        return Incoming::Message(value);
    }
    let has_result = obj.contains_key("result");
    let error_ok = match obj.get("error") {
        None => true,
        Some(Value::Object(e)) => {
            e.get("code").is_some_and(|c| c.is_i64()) && e.get("message").is_some_and(Value::is_string)
        }
        Some(_) => false,
    };
    if id.is_none() || has_result == obj.contains_key("error") || !error_ok {
        return invalid_request(
            None,
            "expected \"method\" (a request or notification) or \"id\" with \"result\" or a valid \"error\" (a response)",
        );
    }
    Incoming::Message(value)
}

/// The JSON-RPC error response for `id` (`null` when `None`).
pub fn error_response(id: Option<Value>, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id.unwrap_or(Value::Null), "error": {"code": code, "message": message}})
}

/// `msg` as one frame: `Content-Length: N\r\n\r\n` and the compact JSON body.
pub fn encode_frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body.as_bytes());
    frame
}

/// Writes `msg` as one frame and flushes.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, msg: &Value) -> std::io::Result<()> {
    w.write_all(&encode_frame(msg)).await?;
    w.flush().await
}
