//! The name proxy: how services on the local backend call each other by name (`http://api/`).
//!
//! The local backend runs apps as processes of this machine, where `api` resolves to nothing and
//! the daemon may not edit `/etc/hosts` nor run a DNS server the system would ask. Every HTTP
//! client apps use already reads `HTTP_PROXY` (Python's urllib and requests, Go's net/http, .NET's
//! HttpClient, curl; Node.js from 24 with `NODE_USE_ENV_PROXY`), so each app of an up of several
//! services gets `HTTP_PROXY` naming a loopback listener of its own here. A request for a host
//! that names a service of the space goes to that service's forward (so the callee's traces show
//! it); any other host goes where it would have gone (the user's own proxy when they had one, else
//! straight to it), and `CONNECT` tunnels likewise. One listener per calling service tells the
//! proxy who calls whom: the first call between two services is reported (the dependency graph).
//!
//! Readiness: a call to a service that is starting waits until its app accepts connections (up
//! to [`READY_WAIT`]) instead of failing, as Compose's `depends_on: service_healthy` and Tilt's
//! `resource_deps` would have it, without anyone listing an order.
//!
//! Each connection carries one request: the proxy asks the service to close after its answer
//! (`Connection: close`), so a client's next request, perhaps for another host, comes on a new
//! connection and is routed on its own.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;
/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a call waits for a service that is starting (or not yet started) to accept it.
pub const READY_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting call looks again.
const READY_POLL: Duration = Duration::from_millis(50);

/// Where a service of the space is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Serving: its forward's loopback port, and the app's own (accepting when the app is ready).
    Up { forward: u16, app: u16 },
    /// Part of the space but not ready yet (starting, restarting, redeploying): wait.
    Starting,
}

/// The daemon's view of a space's services, which the proxy asks on every request.
pub trait Resolve: Send + Sync + 'static {
    /// The service named `host` in `space`, if one is (or is about to be) up.
    fn route(&self, space: &str, host: &str) -> Option<Route>;
    /// The first call from `caller` to `callee` in `space`.
    fn called(&self, space: &str, caller: &str, callee: &str);
}

/// One calling service's listener.
pub struct Listener {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where hosts that are not services go: straight to them, or through the user's own proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    Direct,
    Proxy { host: String, port: u16 },
}

impl Upstream {
    /// The user's own `HTTP_PROXY` (`http://host:port`), if they had one.
    pub fn from_env(value: Option<&str>) -> Upstream {
        let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Upstream::Direct };
        let rest = v.strip_prefix("http://").unwrap_or(v);
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        match split_host_port(authority, 80) {
            Some((host, port)) => Upstream::Proxy { host, port },
            None => Upstream::Direct,
        }
    }
}

struct Ctx {
    space: String,
    caller: String,
    upstream: Upstream,
    resolve: Arc<dyn Resolve>,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Starts `caller`'s listener on a free loopback port.
pub async fn listen(
    space: &str,
    caller: &str,
    upstream: Upstream,
    resolve: Arc<dyn Resolve>,
) -> std::io::Result<Listener> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    let ctx = Arc::new(Ctx {
        space: space.to_string(),
        caller: caller.to_string(),
        upstream,
        resolve,
        seen: std::sync::Mutex::new(Default::default()),
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(handle(stream, ctx.clone()));
        }
    });
    Ok(Listener { port, task })
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    connect: bool,
    host: String,
    port: u16,
    /// The head to send on: origin-form request line, `Connection: close`, no proxy headers.
    origin: Vec<u8>,
    /// The head as it came (for the user's own proxy).
    raw: Vec<u8>,
}

async fn handle(mut client: TcpStream, ctx: Arc<Ctx>) {
    let (head, rest) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await {
        Ok(Ok(Some(x))) => x,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(msg)) => {
            let _ = client.write_all(&answer(400, "Bad Request", &msg)).await;
            return;
        }
    };
    let service = head.host.to_ascii_lowercase();
    let routed = match ctx.resolve.route(&ctx.space, &service) {
        Some(first) => match ready(&ctx, &service, first).await {
            Ok(forward) => {
                let first_call = ctx.seen.lock().map(|mut s| s.insert(service.clone())).unwrap_or(false);
                if first_call {
                    ctx.resolve.called(&ctx.space, &ctx.caller, &service);
                }
                TcpStream::connect(("127.0.0.1", forward))
                    .await
                    .map(|s| (s, false))
                    .map_err(|e| format!("service '{service}' of space '{}' did not accept the call: {e}", ctx.space))
            }
            Err(msg) => Err(msg),
        },
        None => match &ctx.upstream {
            Upstream::Proxy { host, port } => TcpStream::connect((host.as_str(), *port))
                .await
                .map(|s| (s, true))
                .map_err(|e| format!("the proxy {host}:{port} did not answer: {e}")),
            Upstream::Direct => {
                TcpStream::connect((head.host.as_str(), head.port)).await.map(|s| (s, false)).map_err(|e| {
                    format!("'{}' is no service up in space '{}' and could not be reached ({e})", head.host, ctx.space)
                })
            }
        },
    };
    let (mut server, chained) = match routed {
        Ok(x) => x,
        Err(msg) => {
            let _ = client.write_all(&answer(502, "Bad Gateway", &msg)).await;
            return;
        }
    };
    let _ = server.set_nodelay(true);
    if head.connect && !chained {
        if client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
            return;
        }
        if !rest.is_empty() && server.write_all(&rest).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    let first = if chained { &head.raw } else { &head.origin };
    if server.write_all(first).await.is_err() || server.write_all(&rest).await.is_err() {
        return;
    }
    if head.connect {
        // Through the user's proxy: its answer and the tunnel are bytes both ways.
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        return;
    }
    relay_one(client, server).await;
}

/// Waits until a service that is up or starting accepts connections; its forward's port.
async fn ready(ctx: &Ctx, service: &str, first: Route) -> Result<u16, String> {
    let deadline = tokio::time::Instant::now() + READY_WAIT;
    let mut route = Some(first);
    loop {
        if let Some(Route::Up { forward, app }) = route {
            if TcpStream::connect(("127.0.0.1", app)).await.is_ok() {
                return Ok(forward);
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(match route {
                None => format!("service '{service}' of space '{}' stopped", ctx.space),
                Some(_) => format!(
                    "service '{service}' of space '{}' did not start serving within {} s",
                    ctx.space,
                    READY_WAIT.as_secs()
                ),
            });
        }
        tokio::time::sleep(READY_POLL).await;
        route = ctx.resolve.route(&ctx.space, service);
        if route.is_none() {
            return Err(format!("service '{service}' of space '{}' stopped", ctx.space));
        }
    }
}

/// One request's answer: the service's bytes until it closes, then the client's connection ends.
async fn relay_one(client: TcpStream, server: TcpStream) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
        let _ = sw.shutdown().await;
        // Hold on: the answer may still be coming.
        std::future::pending::<()>().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Reads a request head; `None` when the client closed before sending one.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<Option<(Head, Vec<u8>)>, String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return parse_head(&buf).map(|h| Some((h, rest)));
        }
        if buf.len() > MAX_HEAD {
            return Err(format!("request head over {MAX_HEAD} bytes"));
        }
    }
}

fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete request head".into()),
        Err(e) => return Err(format!("not an HTTP request: {e}")),
    }
    let method = req.method.unwrap_or_default();
    let target = req.path.unwrap_or_default();
    let connect = method.eq_ignore_ascii_case("CONNECT");
    let host_header = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .map(|h| String::from_utf8_lossy(h.value).into_owned());
    let (authority, path, default_port) = if connect {
        (target.to_string(), String::new(), 443)
    } else if let Some(rest) = target.strip_prefix("http://") {
        let (a, p) = rest.find('/').map(|i| (&rest[..i], &rest[i..])).unwrap_or((rest, "/"));
        (a.to_string(), p.to_string(), 80)
    } else if target.starts_with('/') {
        // Origin-form: a client that treats the proxy as the server; the Host header names it.
        (host_header.clone().ok_or("a request without a Host")?, target.to_string(), 80)
    } else {
        return Err(format!("cannot proxy '{target}': only http:// and CONNECT are routed"));
    };
    let authority = authority.rsplit('@').next().unwrap_or_default().to_string();
    let (host, port) = split_host_port(&authority, default_port).ok_or(format!("bad host '{authority}'"))?;
    let mut origin = format!("{method} {path} HTTP/1.{}\r\n", req.version.unwrap_or(1)).into_bytes();
    for h in req.headers.iter() {
        let n = h.name.to_ascii_lowercase();
        if matches!(n.as_str(), "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive") {
            continue;
        }
        origin.extend_from_slice(h.name.as_bytes());
        origin.extend_from_slice(b": ");
        origin.extend_from_slice(h.value);
        origin.extend_from_slice(b"\r\n");
    }
    if host_header.is_none() {
        origin.extend_from_slice(format!("Host: {authority}\r\n").as_bytes());
    }
    origin.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(Head { connect, host, port, origin, raw: raw.to_vec() })
}

/// `host:port`, `host` (the default port), `[v6]:port`.
fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default_port)),
    }
}

fn answer(code: u16, reason: &str, msg: &str) -> Vec<u8> {
    let body = format!("devspaces name proxy: {msg}\n");
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[test]
    fn heads_are_routed_by_host_and_sent_on_in_origin_form() {
        let h = parse_head(
            b"GET http://api/items?x=1 HTTP/1.1\r\nHost: api\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!((h.connect, h.host.as_str(), h.port), (false, "api", 80));
        assert_eq!(
            String::from_utf8(h.origin).unwrap(),
            "GET /items?x=1 HTTP/1.1\r\nHost: api\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let h = parse_head(b"GET http://data:8080 HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((h.host.as_str(), h.port), ("data", 8080));
        assert!(String::from_utf8(h.origin).unwrap().starts_with("GET / HTTP/1.0\r\nHost: data:8080\r\n"));
        let h = parse_head(b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n").unwrap();
        assert_eq!((h.connect, h.host.as_str(), h.port), (true, "example.org", 443));
        assert!(parse_head(b"GET ftp://x/ HTTP/1.1\r\n\r\n").unwrap_err().contains("only http://"));
        assert!(parse_head(b"\x16\x03\x01 nonsense\r\n\r\n").is_err());
    }

    #[test]
    fn the_users_own_proxy_is_kept_for_other_hosts() {
        assert_eq!(Upstream::from_env(None), Upstream::Direct);
        assert_eq!(Upstream::from_env(Some("")), Upstream::Direct);
        assert_eq!(
            Upstream::from_env(Some("http://user:pw@proxy.corp:3128/")),
            Upstream::Proxy { host: "proxy.corp".into(), port: 3128 }
        );
        assert_eq!(Upstream::from_env(Some("proxy:8080")), Upstream::Proxy { host: "proxy".into(), port: 8080 });
    }

    /// A space whose services the test sets.
    #[derive(Default)]
    struct Space {
        routes: Mutex<HashMap<String, Route>>,
        calls: Mutex<Vec<(String, String)>>,
    }

    impl Resolve for Space {
        fn route(&self, _space: &str, host: &str) -> Option<Route> {
            self.routes.lock().unwrap().get(host).copied()
        }
        fn called(&self, _space: &str, caller: &str, callee: &str) {
            self.calls.lock().unwrap().push((caller.into(), callee.into()));
        }
    }

    /// An HTTP server that answers each request with its request line and closes.
    async fn echo_server() -> (u16, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let (head, _) = read_head(&mut s).await.unwrap().unwrap();
                    let line = String::from_utf8_lossy(&head.raw).lines().next().unwrap().to_string();
                    let closes = String::from_utf8_lossy(&head.raw).contains("Connection: close");
                    let body = format!("{line} close={closes}");
                    let _ = s
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
                        )
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        (port, task)
    }

    async fn get_via(proxy: u16, url: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", proxy)).await.unwrap();
        s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_call_by_name_reaches_the_service_and_waits_for_one_that_is_starting() {
        let space = Arc::new(Space::default());
        let (port, server) = echo_server().await;
        space.routes.lock().unwrap().insert("api".into(), Route::Up { forward: port, app: port });
        let l = listen("dev", "web", Upstream::Direct, space.clone()).await.unwrap();
        let got = get_via(l.port, "http://api/items").await;
        assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
        assert!(got.ends_with("GET /items HTTP/1.1 close=true"), "{got}");
        // A service that is starting: the call waits, and goes through once it serves.
        space.routes.lock().unwrap().insert("data".into(), Route::Starting);
        let waiting = tokio::spawn(async move { get_via(l.port, "http://data/").await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        space.routes.lock().unwrap().insert("data".into(), Route::Up { forward: port, app: port });
        let got = waiting.await.unwrap();
        assert!(got.ends_with("GET / HTTP/1.1 close=true"), "{got}");
        assert_eq!(
            *space.calls.lock().unwrap(),
            vec![("web".to_string(), "api".to_string()), ("web".to_string(), "data".to_string())]
        );
        server.abort();
    }

    #[tokio::test]
    async fn other_hosts_go_straight_to_them_and_unknown_ones_get_a_clear_502() {
        let space = Arc::new(Space::default());
        let (port, server) = echo_server().await;
        let l = listen("dev", "web", Upstream::Direct, space.clone()).await.unwrap();
        let got = get_via(l.port, &format!("http://127.0.0.1:{port}/x")).await;
        assert!(got.ends_with("GET /x HTTP/1.1 close=true"), "{got}");
        // Nothing listens there (a port just let go of): the answer says so, on loopback only.
        let closed = TcpListener::bind(("127.0.0.1", 0)).await.unwrap().local_addr().unwrap().port();
        let got = get_via(l.port, &format!("http://127.0.0.1:{closed}/")).await;
        assert!(got.starts_with("HTTP/1.1 502"), "{got}");
        assert!(got.contains("'127.0.0.1' is no service up in space 'dev' and could not be reached"), "{got}");
        assert!(space.calls.lock().unwrap().is_empty());
        server.abort();
    }

    #[tokio::test]
    async fn the_users_proxy_gets_the_request_as_it_came() {
        let space = Arc::new(Space::default());
        let (port, server) = echo_server().await;
        let up = Upstream::Proxy { host: "127.0.0.1".into(), port };
        let l = listen("dev", "web", up, space).await.unwrap();
        let got = get_via(l.port, "http://example.org/a").await;
        assert!(got.ends_with("GET http://example.org/a HTTP/1.1 close=false"), "{got}");
        server.abort();
    }
}
