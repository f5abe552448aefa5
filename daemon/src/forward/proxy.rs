//! The port forward on `http://localhost:<port>`: an HTTP proxy that records traces; other TCP passes through.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One proxied HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes: u64,
    pub time: String,
}

/// Binds 127.0.0.1 on `preferred` when free, else on any free port; the listener is kept.
pub async fn bind(preferred: Option<u16>) -> std::io::Result<TcpListener> {
    if let Some(p) = preferred.filter(|p| *p != 0) {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", p)).await {
            return Ok(l);
        }
    }
    TcpListener::bind(("127.0.0.1", 0)).await
}

/// A running forward; the target port can change (a restart, a redeploy) while the local port stays.
pub struct Forward {
    pub local_port: u16,
    pub target: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HTTP_METHODS: &[&[u8]] =
    &[b"GET ", b"POST", b"PUT ", b"HEAD", b"DELE", b"PATC", b"OPTI", b"CONN", b"TRAC", b"PRI "];

impl Forward {
    pub fn start(
        listener: TcpListener,
        target_port: u16,
        traces: mpsc::UnboundedSender<Trace>,
    ) -> std::io::Result<Self> {
        let local_port = listener.local_addr()?.port();
        let target = Arc::new(AtomicU16::new(target_port));
        let t = target.clone();
        let task = tokio::spawn(async move {
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    // Out of descriptors or similar: back off instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let target = t.load(Ordering::SeqCst);
                let traces = traces.clone();
                tokio::spawn(async move { handle(stream, target, traces).await });
            }
        });
        Ok(Forward { local_port, target, task })
    }

    pub fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }
}

async fn handle(stream: TcpStream, target: u16, traces: mpsc::UnboundedSender<Trace>) {
    let mut head = [0u8; 4];
    let is_http = match tokio::time::timeout(Duration::from_millis(300), peek_full(&stream, &mut head)).await {
        Ok(Ok(n)) => n == 4 && HTTP_METHODS.contains(&&head[..]),
        _ => false,
    };
    if !is_http {
        if let Ok(mut up) = TcpStream::connect(("127.0.0.1", target)).await {
            let mut down = stream;
            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
        }
        return;
    }
    let service = hyper::service::service_fn(move |req| proxy_request(req, target, traces.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
}

async fn peek_full(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let n = stream.peek(buf).await?;
        if n == 0 || n >= buf.len() {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn proxy_request(
    req: Request<Incoming>,
    target: u16,
    traces: mpsc::UnboundedSender<Trace>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    let record = TraceStart { method, path, start, traces };
    match forward(req, target).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let (parts, body) = resp.into_parts();
            let counted = Counting { inner: body, bytes: 0, done: Some((record, status)) };
            Ok(Response::from_parts(parts, counted.boxed()))
        }
        Err(e) => {
            let text = format!("devspaces: cannot reach the app on port {target}: {e} (it may be restarting)\n");
            let bytes = text.len() as u64;
            record.finish(502, bytes);
            let body = Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed();
            let mut resp = Response::new(body);
            *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            Ok(resp)
        }
    }
}

async fn forward(req: Request<Incoming>, target: u16) -> Result<Response<Incoming>, String> {
    let up = TcpStream::connect(("127.0.0.1", target)).await.map_err(|e| e.to_string())?;
    let _ = up.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(up)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender.send_request(req).await.map_err(|e| e.to_string())
}

struct TraceStart {
    method: String,
    path: String,
    start: Instant,
    traces: mpsc::UnboundedSender<Trace>,
}

impl TraceStart {
    fn finish(self, status: u16, bytes: u64) {
        let _ = self.traces.send(Trace {
            method: self.method,
            path: self.path,
            status,
            duration_ms: self.start.elapsed().as_secs_f64() * 1000.0,
            bytes,
            time: devspaces_protocol::clock::now_rfc3339(),
        });
    }
}

/// Counts the response body as it streams and records the trace when it ends (or is dropped).
struct Counting {
    inner: Incoming,
    bytes: u64,
    done: Option<(TraceStart, u16)>,
}

impl Body for Counting {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some((t, status)) = self.done.take() {
                    t.finish(status, self.bytes);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        if let Some((t, status)) = self.done.take() {
            t.finish(status, self.bytes);
        }
    }
}
