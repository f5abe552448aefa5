//! The port forward on `http://localhost:<port>`: an HTTP proxy that records traces; other TCP passes
//! through, and so do upgraded connections (WebSocket) once the app answered 101.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::server::conn::http1;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use devspaces_protocol::trace_context::{self, TraceLink};

use super::gate::{Busy, Gate, Slot, Tracked};
use super::limits::Limits;
use super::splice::splice;

/// One proxied HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes: u64,
    pub time: String,
    /// Set when a routing proxy in the cluster reported it (`protocol::editor::Routed`).
    pub routed: Option<devspaces_protocol::editor::Routed>,
    /// The request's trace and this hop's span (`protocol::trace_context`).
    pub link: Option<TraceLink>,
}

/// Binds 127.0.0.1 on `preferred` when free, else on any free port; the listener is kept.
pub async fn bind(preferred: Option<u16>) -> std::io::Result<TcpListener> {
    if let Some(p) = preferred.filter(|p| *p != 0) {
        if let Ok(l) = listen(p) {
            return Ok(l);
        }
    }
    listen(0)
}

/// Pending connections the kernel queues for a forward: a browser or a load test opening many at
/// once should not lose a SYN (a 1 s retransmit) to the default queue of 128.
const BACKLOG: u32 = 1024;

fn listen(port: u16) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind((std::net::Ipv4Addr::LOCALHOST, port).into())?;
    socket.listen(BACKLOG)
}

/// A running forward; the target port can change (a restart, a redeploy) while the local port stays.
pub struct Forward {
    pub local_port: u16,
    pub target: Arc<AtomicU16>,
    /// The app is being restarted: a connection the app refuses waits for it ([`Forward::hold`]).
    holding: watch::Sender<Hold>,
    task: tokio::task::JoinHandle<()>,
    #[cfg(test)]
    gate: Arc<Gate>,
    #[cfg(test)]
    shared: Arc<Shared>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HTTP_METHODS: &[&[u8]] =
    &[b"GET ", b"POST", b"PUT ", b"HEAD", b"DELE", b"PATC", b"OPTI", b"CONN", b"TRAC", b"PRI "];

/// How long a new connection has to show it speaks HTTP/1 before it is passed through as bytes.
const PEEK: Duration = Duration::from_millis(300);
/// How long connecting to the app may take before the client is answered 502 (or closed).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection the app refuses waits while the app is being restarted, at most.
const HOLD_MAX: Duration = Duration::from_secs(30);
/// While the new app starts, a held connection tries every millisecond for its first half second
/// of waiting, then every 10 ms: an app listens tens of ms (Python, Node.js) to seconds (a JVM)
/// after its spawn; the first land within 1 ms of it, and a slow start costs a waiting browser
/// connection 100 refused connects a second, not 1,000.
const HOLD_POLL_STARTING: Duration = Duration::from_millis(1);
const HOLD_POLL_STARTING_LATER: Duration = Duration::from_millis(10);
const HOLD_FAST_FOR: Duration = Duration::from_millis(500);
/// While the old app stops and the build runs, a held connection waits for the next phase (or
/// tries again after this long: another process may listen on the port).
const HOLD_POLL_STOPPING: Duration = Duration::from_millis(25);

/// What a forward does with a connection the app refuses ([`Forward::hold`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Answered 502 at once (the app runs, or it failed).
    Off,
    /// The old app is being stopped or the build runs: the connection waits.
    Stopping,
    /// The new app was started and does not listen yet: the connection waits, trying often.
    Starting,
}

/// What every connection of one forward shares.
struct Shared {
    target: Arc<AtomicU16>,
    traces: mpsc::UnboundedSender<Trace>,
    limits: Limits,
    http: http1::Builder,
    /// A child space's forward: the `azds-route-as` its requests carry when they have none.
    route_as: Option<hyper::header::HeaderValue>,
    /// Whether the app is being restarted ([`Forward::hold`]).
    holding: watch::Receiver<Hold>,
    /// Connections waiting for the app now (for tests: an explicit event to wait on).
    held: AtomicUsize,
}

/// The header that names the space a request is for (Dev Spaces'; apps pass it on).
pub const ROUTE_AS: &str = "azds-route-as";

impl Forward {
    /// A forward with the limits of the environment ([`Limits::from_env`]).
    pub fn start(
        listener: TcpListener,
        target_port: u16,
        traces: mpsc::UnboundedSender<Trace>,
    ) -> std::io::Result<Self> {
        Self::start_with(listener, target_port, traces, Limits::from_env())
    }

    pub fn start_with(
        listener: TcpListener,
        target_port: u16,
        traces: mpsc::UnboundedSender<Trace>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        Self::start_routed(listener, target_port, traces, limits, None)
    }

    /// With `route_as`, every HTTP request without an `azds-route-as` header gets one: a child
    /// space's localhost URL shows the whole app with the child's services in it.
    pub fn start_routed(
        listener: TcpListener,
        target_port: u16,
        traces: mpsc::UnboundedSender<Trace>,
        limits: Limits,
        route_as: Option<&str>,
    ) -> std::io::Result<Self> {
        let route_as = route_as.map(hyper::header::HeaderValue::from_str).transpose().map_err(std::io::Error::other)?;
        let local_port = listener.local_addr()?.port();
        let target = Arc::new(AtomicU16::new(target_port));
        let mut http = http1::Builder::new();
        // hyper starts the header timer as soon as a connection waits for a request, so it is also
        // the keep-alive idle time.
        http.keep_alive(true).timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let (holding, held_rx) = watch::channel(Hold::Off);
        let shared = Arc::new(Shared {
            target: target.clone(),
            traces,
            limits,
            http,
            route_as,
            holding: held_rx,
            held: AtomicUsize::new(0),
        });
        #[cfg(test)]
        let shared_kept = shared.clone();
        let gate = Gate::new(limits.max_connections);
        #[cfg(test)]
        let kept = gate.clone();
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
                // Over the cap with nothing idle to close: closed at once. A 503 would need the
                // request read first, holding the descriptor and a task per refused connection,
                // which is what a flood exhausts.
                let Some(slot) = gate.admit().await else { continue };
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle(stream, Arc::new(slot), shared.clone()));
            }
        });
        Ok(Forward {
            local_port,
            target,
            holding,
            task,
            #[cfg(test)]
            gate: kept,
            #[cfg(test)]
            shared: shared_kept,
        })
    }

    /// While the session restarts the app (stopping it, running its build, waiting for it to
    /// listen), a connection the app refuses waits for it, up to 30 s, instead of being answered
    /// 502 at once: a page reloaded during a restart shows the new version, not an error.
    /// [`Hold::Off`] (running, or the restart failed) answers what still waits at once.
    pub fn hold(&self, hold: Hold) {
        self.holding.send_if_modified(|h| std::mem::replace(h, hold) != hold);
    }

    /// Connections waiting for the app now.
    #[cfg(test)]
    pub(crate) fn held_connections(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Connections holding a place under the cap.
    #[cfg(test)]
    pub(crate) fn open_connections(&self) -> usize {
        self.gate.open()
    }

    pub fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }
}

async fn handle(stream: TcpStream, slot: Arc<Slot>, shared: Arc<Shared>) {
    let activity = slot.activity.clone();
    let mut head = [0u8; 4];
    let peeked = tokio::select! {
        p = tokio::time::timeout(PEEK, peek_full(&stream, &mut head)) => p,
        _ = activity.evicted() => return,
    };
    let is_http = match peeked {
        Ok(Ok(n)) => {
            if n > 0 {
                activity.client_sent();
            }
            n == 4 && HTTP_METHODS.contains(&&head[..])
        }
        _ => false,
    };
    if !is_http {
        let Ok((app, _)) = connect_tcp(&shared).await else {
            return;
        };
        let _ = app.set_nodelay(true);
        let client = Tracked::new(stream, activity.clone());
        tokio::select! {
            _ = splice(client, app, &activity, shared.limits.idle_timeout) => {}
            // Chosen only while the client has sent nothing.
            _ = activity.evicted() => {}
        }
        return;
    }
    let ctx = Arc::new(ConnCtx { shared: shared.clone(), slot, upstream: Mutex::new(None) });
    let service = hyper::service::service_fn(move |req| proxy_request(req, ctx.clone()));
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let conn = shared.http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        // Idle between requests: it closes now (a response under way would be finished first).
        _ = activity.evicted() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
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

/// One client connection's HTTP side: its place under the cap, and its connection to the app,
/// kept between requests while the app keeps it open and the target stays the same.
struct ConnCtx {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    upstream: Mutex<Option<Upstream>>,
}

struct Upstream {
    port: u16,
    sender: SendRequest<ProxyBody>,
}

impl ConnCtx {
    /// Sends on the kept connection to the app when there is one, else on a new one; a request the
    /// kept connection could not send (the app closed it meanwhile) goes once more on a new one.
    async fn send(&self, req: Request<ProxyBody>, target: u16) -> Result<Response<Incoming>, String> {
        let kept = self.lock().take().filter(|u| u.port == target && !u.sender.is_closed());
        let kept = match kept {
            Some(mut u) => u.sender.ready().await.is_ok().then_some(u),
            None => None,
        };
        let reused = kept.is_some();
        let mut up = match kept {
            Some(u) => u,
            None => connect(&self.shared).await?,
        };
        let resp = match up.sender.try_send_request(req).await {
            Ok(resp) => resp,
            Err(mut e) => match e.take_message() {
                Some(req) if reused => {
                    up = connect(&self.shared).await?;
                    up.sender.send_request(req).await.map_err(|e| e.to_string())?
                }
                _ => return Err(e.into_error().to_string()),
            },
        };
        *self.lock() = Some(up);
        Ok(resp)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Upstream>> {
        self.upstream.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new TCP connection to the app on the forward's current target, and that port. While the
/// forward holds ([`Forward::hold`]), a refused connection is tried again (the target read anew
/// each time: a restarted app may listen elsewhere) until the app accepts, the hold ends, or
/// [`HOLD_MAX`] passed.
async fn connect_tcp(shared: &Shared) -> Result<(TcpStream, u16), String> {
    let mut holding = shared.holding.clone();
    let mut waited: Option<(Instant, Counted)> = None;
    loop {
        let target = shared.target.load(Ordering::SeqCst);
        let tried = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", target))).await;
        let e = match tried {
            Ok(Ok(app)) => {
                let _ = app.set_nodelay(true);
                return Ok((app, target));
            }
            Ok(Err(e)) => e,
            Err(_) => return Err(format!("no connection within {} s", CONNECT_TIMEOUT.as_secs())),
        };
        let since = waited.get_or_insert_with(|| (Instant::now(), Counted::new(&shared.held))).0;
        if e.kind() != std::io::ErrorKind::ConnectionRefused || !wait_to_retry(&mut holding, since).await? {
            return Err(e.to_string());
        }
    }
}

/// Waits before a held connection's next try: the pause its phase and waiting time call for, or
/// less when the phase changes (after the hold's end, a refusal is final). `Ok(false)`: no next
/// try (not held, or held for [`HOLD_MAX`] already); `Err`: the forward closed meanwhile.
async fn wait_to_retry(holding: &mut watch::Receiver<Hold>, since: Instant) -> Result<bool, String> {
    let waited = since.elapsed();
    let Some(pause) = hold_pause(*holding.borrow_and_update(), waited).filter(|_| waited < HOLD_MAX) else {
        return Ok(false);
    };
    match tokio::time::timeout(pause, holding.changed()).await {
        Ok(Err(_)) => Err("the forward closed".into()),
        _ => Ok(true),
    }
}

/// How long a held connection waits before its next try (unless the phase changes first); `None`:
/// not held.
fn hold_pause(hold: Hold, waited: Duration) -> Option<Duration> {
    match hold {
        Hold::Off => None,
        Hold::Stopping => Some(HOLD_POLL_STOPPING),
        Hold::Starting if waited < HOLD_FAST_FOR => Some(HOLD_POLL_STARTING),
        Hold::Starting => Some(HOLD_POLL_STARTING_LATER),
    }
}

/// One connection counted in [`Shared::held`] while it lives.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Counted(n)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A new HTTP/1 connection to the app (upgrades allowed), held as [`connect_tcp`] says.
async fn connect(shared: &Shared) -> Result<Upstream, String> {
    let (app, port) = connect_tcp(shared).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(app)).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(Upstream { port, sender })
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn proxy_request(mut req: Request<Incoming>, ctx: Arc<ConnCtx>) -> Result<Response<ProxyBody>, Infallible> {
    let busy = Busy::new(&ctx.slot.activity);
    let start = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_else(|| "/".into());
    // This forward is the request's first hop, or continues the trace its caller named.
    let sent = req.headers().get(trace_context::HEADER).and_then(|v| v.to_str().ok());
    let (link, flags) = TraceLink::continue_from(sent);
    if let Ok(v) = hyper::header::HeaderValue::from_str(&link.header(flags)) {
        req.headers_mut().insert(trace_context::HEADER, v);
    }
    let record = TraceStart { method, path, start, link, traces: ctx.shared.traces.clone() };
    let target = ctx.shared.target.load(Ordering::SeqCst);
    if let Some(v) = &ctx.shared.route_as {
        if !req.headers().contains_key(ROUTE_AS) {
            req.headers_mut().insert(ROUTE_AS, v.clone());
        }
    }
    let answer = if wants_upgrade(&req) {
        let client_side = hyper::upgrade::on(&mut req);
        // Its own connection to the app: once upgraded, that connection is the spliced one.
        let answer = match connect(&ctx.shared).await {
            Ok(mut up) => up.sender.send_request(req.map(BodyExt::boxed)).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match answer {
            Ok(mut resp) if resp.status() == StatusCode::SWITCHING_PROTOCOLS => {
                let app_side = hyper::upgrade::on(&mut resp);
                let (slot, idle) = (ctx.slot.clone(), ctx.shared.limits.idle_timeout);
                tokio::spawn(async move {
                    // The connection keeps its place under the cap, busy, until the splice ends.
                    let _busy = busy;
                    if let (Ok(client), Ok(app)) = tokio::join!(client_side, app_side) {
                        splice(TokioIo::new(client), TokioIo::new(app), &slot.activity, idle).await;
                    }
                });
                record.finish(101, 0);
                let (parts, _) = resp.into_parts();
                return Ok(Response::from_parts(parts, Empty::new().map_err(|never| match never {}).boxed()));
            }
            other => other,
        }
    } else {
        strip_hop_by_hop(req.headers_mut());
        let again = Replay::of(&req);
        let mut answer = ctx.send(req.map(BodyExt::boxed), target).await;
        // The app closed without an answer (a restart's old app, stopped after it accepted; or,
        // behind an engine's port proxy, the app not listening yet): a request without a body
        // that is safe to repeat goes once more at once, then again while the forward holds.
        if let (Some(again), true) = (again, answer.is_err()) {
            let (since, mut holding) = (Instant::now(), ctx.shared.holding.clone());
            answer = ctx.send(again.request(), target).await;
            while answer.is_err() && wait_to_retry(&mut holding, since).await == Ok(true) {
                answer = ctx.send(again.request(), target).await;
            }
        }
        answer
    };
    match answer {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let (mut parts, body) = resp.into_parts();
            // The client's connection is the proxy's: kept alive whatever the app does with its own.
            parts.version = Version::HTTP_11;
            strip_hop_by_hop(&mut parts.headers);
            let counted = Counting { inner: body, bytes: 0, done: Some((record, status)), _busy: busy };
            Ok(Response::from_parts(parts, counted.boxed()))
        }
        Err(e) => {
            let text = format!("devspaces: cannot reach the app on port {target}: {e} (it may be restarting)\n");
            let bytes = text.len() as u64;
            record.finish(502, bytes);
            let body = Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed();
            let mut resp = Response::new(body);
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(resp)
        }
    }
}

/// What it takes to send a request again when the app closed without answering it: a GET, HEAD
/// or OPTIONS without a body (RFC 9110's idempotent methods a client may retry).
struct Replay {
    method: hyper::Method,
    uri: hyper::Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    fn of(req: &Request<Incoming>) -> Option<Replay> {
        let safe = matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS);
        if !safe || !req.body().is_end_stream() {
            return None;
        }
        Some(Replay {
            method: req.method().clone(),
            uri: req.uri().clone(),
            version: req.version(),
            headers: req.headers().clone(),
        })
    }

    fn request(&self) -> Request<ProxyBody> {
        let mut copy = Request::new(Empty::new().map_err(|never| match never {}).boxed());
        *copy.method_mut() = self.method.clone();
        *copy.uri_mut() = self.uri.clone();
        *copy.version_mut() = self.version;
        *copy.headers_mut() = self.headers.clone();
        copy
    }
}

/// `Connection: upgrade` and an `Upgrade` protocol (websocket, h2c, ...).
fn wants_upgrade(req: &Request<Incoming>) -> bool {
    let connection_upgrade = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && req.headers().contains_key(header::UPGRADE)
}

/// Removes the hop-by-hop headers (RFC 9110, 7.6.1): those named in `Connection`, and `Connection`,
/// `Keep-Alive`, `Proxy-Connection` and `Upgrade` themselves. `Transfer-Encoding` is hyper's.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| *n != header::TRANSFER_ENCODING)
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [header::CONNECTION, HeaderName::from_static("keep-alive"), HeaderName::from_static("proxy-connection")] {
        headers.remove(n);
    }
    headers.remove(header::UPGRADE);
}

struct TraceStart {
    method: String,
    path: String,
    start: Instant,
    link: TraceLink,
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
            routed: None,
            link: Some(self.link),
        });
    }
}

/// Counts the response body as it streams and records the trace when it ends (or is dropped); the
/// request is in flight until then.
struct Counting {
    inner: Incoming,
    bytes: u64,
    done: Option<(TraceStart, u16)>,
    _busy: Busy,
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

#[cfg(test)]
mod hold_tests {
    use super::*;

    #[test]
    fn a_held_connection_tries_often_while_the_app_starts_then_less_often() {
        let ms = Duration::from_millis;
        assert_eq!(hold_pause(Hold::Off, ms(0)), None);
        assert_eq!(hold_pause(Hold::Stopping, ms(0)), Some(HOLD_POLL_STOPPING));
        assert_eq!(hold_pause(Hold::Starting, ms(499)), Some(ms(1)));
        assert_eq!(hold_pause(Hold::Starting, ms(500)), Some(ms(10)));
        assert_eq!(hold_pause(Hold::Starting, ms(20_000)), Some(ms(10)));
    }
}
