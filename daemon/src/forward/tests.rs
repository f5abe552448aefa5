//! The trace proxy over real loopback sockets: limits, timeouts, upgrades, passthrough.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

use super::limits::Limits;
use super::proxy::{Forward, Hold, Trace};

/// A bound on waits that should end much sooner; never a performance assertion.
const WAIT: Duration = Duration::from_secs(5);

fn limits(max: usize, header_ms: u64, idle_ms: u64) -> Limits {
    Limits {
        max_connections: max,
        header_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
    }
}

/// A loopback port nothing listens on (bound, then let go).
async fn unused_port() -> u16 {
    let free = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    free.local_addr().unwrap().port()
}

async fn forward(target: u16, limits: Limits) -> (Forward, mpsc::UnboundedReceiver<Trace>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let l = super::proxy::bind(None).await.unwrap();
    (Forward::start_with(l, target, tx, limits).unwrap(), rx)
}

/// The app: HTTP/1.1 keep-alive, answers `ok <path>`; counts the connections it accepted and the
/// requests it received. Requests to `/hold` wait until `release` is notified; `/close` closes.
struct App {
    port: u16,
    conns: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    release: Arc<Notify>,
}

async fn app() -> App {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (conns, requests, release) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(Notify::new()));
    let (c, r, rel) = (conns.clone(), requests.clone(), release.clone());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            c.fetch_add(1, Ordering::SeqCst);
            let (r, rel) = (r.clone(), rel.clone());
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (r, rel) = (r.clone(), rel.clone());
                async move {
                    r.fetch_add(1, Ordering::SeqCst);
                    if req.uri().path() == "/hold" {
                        rel.notified().await;
                    }
                    let mut resp = Response::new(Full::new(Bytes::from(format!("ok {}", req.uri().path()))));
                    if req.uri().path() == "/close" {
                        resp.headers_mut().insert(hyper::header::CONNECTION, "close".parse().unwrap());
                    }
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), service));
        }
    });
    App { port, conns, requests, release }
}

/// The app behind a forward with these limits, and a client connected to the forward.
async fn app_and_client(limits: Limits) -> (App, Forward, mpsc::UnboundedReceiver<Trace>, TcpStream) {
    let app = app().await;
    let (fwd, traces) = forward(app.port, limits).await;
    let s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    (app, fwd, traces, s)
}

/// An app on a free port that hands its first connection to `serve`; returns the port.
async fn one_connection_app<F: Future<Output = ()> + Send + 'static>(
    serve: impl FnOnce(TcpStream) -> F + Send + 'static,
) -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        serve(s).await;
    });
    port
}

/// Reads until the end of a response head and its `Content-Length` body; returns the status and body.
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string());
            }
        }
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk)).await.expect("a response in time").unwrap();
        assert!(n > 0, "closed before a whole response: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    read_response(&mut s).await
}

/// Waits (bounded) until the peer closes: end of stream or a reset; returns how long it took.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Duration {
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(t0.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t0.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_is_spliced_both_ways_and_traced() {
    // The app answers the upgrade with 101, greets, then echoes.
    let app_port = one_connection_app(|mut s| async move {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut b).await.unwrap(), 1);
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.contains("upgrade: websocket"), "{head}");
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).await.unwrap();
        }
    })
    .await;
    let (fwd, mut traces) = forward(app_port, Limits::default()).await;
    let mut c = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    c.write_all(
        b"GET /hmr HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"hello") {
        let n = tokio::time::timeout(WAIT, c.read(&mut buf)).await.expect("101 and the greeting").unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    for msg in [&b"ping 1"[..], b"a second frame, longer"] {
        c.write_all(msg).await.unwrap();
        let mut echo = vec![0u8; msg.len()];
        tokio::time::timeout(WAIT, c.read_exact(&mut echo)).await.expect("the echo").unwrap();
        assert_eq!(echo, msg);
    }
    let t = tokio::time::timeout(WAIT, traces.recv()).await.unwrap().unwrap();
    assert_eq!((t.method.as_str(), t.path.as_str(), t.status), ("GET", "/hmr", 101));
    // The client closes: the app sees the end, and the connection gives its place back.
    drop(c);
    wait_until("the spliced connection to end", || fwd.open_connections() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_busy_connections_refuse_new_ones_until_they_end() {
    let app = app().await;
    let (fwd, _traces) = forward(app.port, limits(3, 10_000, 10_000)).await;
    let mut busy = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
        s.write_all(b"GET /hold HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        busy.push(s);
    }
    wait_until("three requests in flight", || app.requests.load(Ordering::SeqCst) == 3).await;
    for _ in 0..2 {
        let mut extra = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
        let _ = extra.write_all(b"GET /extra HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let took = closed_within(&mut extra, WAIT).await;
        assert!(took < Duration::from_secs(2), "refused at once, not after {took:?}");
    }
    assert_eq!(app.requests.load(Ordering::SeqCst), 3, "a refused connection reaches nothing");
    assert_eq!(fwd.open_connections(), 3);
    // The held requests end and their clients go: places are free again.
    app.release.notify_waiters();
    for mut s in busy.drain(..) {
        assert_eq!(read_response(&mut s).await, (200, "ok /hold".to_string()));
    }
    wait_until("the places to be given back", || fwd.open_connections() == 0).await;
    assert_eq!(get(fwd.local_port, "/after").await, (200, "ok /after".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_the_longest_idle_connection_makes_room_for_a_request() {
    let app = app().await;
    let (fwd, _traces) = forward(app.port, limits(2, 10_000, 10_000)).await;
    let mut oldest = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    wait_until("the first connection to be admitted", || fwd.open_connections() == 1).await;
    let mut second = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    wait_until("the second connection to be admitted", || fwd.open_connections() == 2).await;
    // Both say nothing: a request still gets through, and the one silent for longest goes.
    assert_eq!(get(fwd.local_port, "/page").await, (200, "ok /page".to_string()));
    closed_within(&mut oldest, WAIT).await;
    // The second one was left alone (it is closed by the idle timeout later, not now).
    let mut b = [0u8; 1];
    assert!(tokio::time::timeout(Duration::from_millis(100), second.read(&mut b)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_disconnected_after_the_header_timeout() {
    let (app, fwd, _traces, mut s) = app_and_client(limits(16, 200, 10_000)).await;
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").await.unwrap();
    let (mut r, mut w) = s.into_split();
    // One more header line every 50 ms, never the blank line.
    let trickle = tokio::spawn(async move {
        for i in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if w.write_all(format!("X-Slow-{i}: x\r\n").as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the slow client is still connected after {WAIT:?}"),
        }
    }
    assert!(t0.elapsed() >= Duration::from_millis(150), "closed after the timeout, not before: {:?}", t0.elapsed());
    trickle.abort();
    assert_eq!(app.requests.load(Ordering::SeqCst), 0);
    wait_until("its place to be given back", || fwd.open_connections() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let (_app, fwd, _traces, mut s) = app_and_client(limits(16, 200, 10_000)).await;
    s.write_all(b"GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut s).await, (200, "ok /one".to_string()));
    let took = closed_within(&mut s, WAIT).await;
    assert!(took >= Duration::from_millis(150), "kept alive for the idle time first: {took:?}");
    wait_until("its place to be given back", || fwd.open_connections() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connection_keeps_one_connection_to_the_app() {
    let (app, _fwd, _traces, mut s) = app_and_client(Limits::default()).await;
    for path in ["/one", "/two", "/three"] {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut s).await, (200, format!("ok {path}")));
    }
    assert_eq!(app.conns.load(Ordering::SeqCst), 1, "one connection to the app for the client's three requests");
    // The app closes its side: the next request goes on a new connection, the client's stays.
    for path in ["/close", "/four"] {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut s).await, (200, format!("ok {path}")));
    }
    assert_eq!(app.conns.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_passthrough_connection_is_closed_after_the_idle_timeout() {
    let (_app, fwd, _traces, mut s) = app_and_client(limits(16, 10_000, 300)).await;
    // Silent since it connected: the 300 ms peek, then passthrough until 300 ms without a byte.
    let took = closed_within(&mut s, WAIT).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");
    wait_until("its place to be given back", || fwd.open_connections() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_http_pass_through_and_a_closed_target_frees_the_client() {
    // A server-first protocol: greets, echoes one line, closes.
    let port = one_connection_app(|mut s| async move {
        s.write_all(b"220 ready\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap();
        s.write_all(&buf[..n]).await.unwrap();
    })
    .await;
    let (fwd, mut traces) = forward(port, limits(16, 10_000, 1000)).await;
    let mut c = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    let mut greeting = [0u8; 10];
    tokio::time::timeout(WAIT, c.read_exact(&mut greeting)).await.unwrap().unwrap();
    assert_eq!(&greeting, b"220 ready\n");
    c.write_all(b"\x00\x01binary\n").await.unwrap();
    let mut echo = [0u8; 9];
    tokio::time::timeout(WAIT, c.read_exact(&mut echo)).await.unwrap().unwrap();
    assert_eq!(&echo, b"\x00\x01binary\n");
    // The app closed; the client never does, yet the forward lets go of it.
    closed_within(&mut c, WAIT).await;
    wait_until("the client's side to be closed too", || fwd.open_connections() == 0).await;
    assert!(traces.try_recv().is_err(), "passthrough records no trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_app_is_a_502_with_a_hint_and_a_retarget_applies_to_kept_connections() {
    let dead = unused_port().await;
    let (fwd, mut traces) = forward(dead, Limits::default()).await;
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let (status, body) = read_response(&mut s).await;
    assert_eq!(status, 502);
    assert!(body.contains(&format!("cannot reach the app on port {dead}")) && body.contains("restarting"), "{body}");
    assert_eq!(traces.recv().await.unwrap().status, 502);
    // The app comes up on another port: the same client connection reaches it.
    let app = app().await;
    fwd.retarget(app.port);
    s.write_all(b"GET /y HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut s).await, (200, "ok /y".to_string()));
    let t = traces.recv().await.unwrap();
    assert_eq!((t.path.as_str(), t.status, t.bytes), ("/y", 200, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_app_restarts_a_refused_request_waits_for_it_and_a_failed_restart_answers_502() {
    let port = unused_port().await;
    let (fwd, mut traces) = forward(port, Limits::default()).await;
    // The app is being restarted: a request that comes while nothing listens waits ...
    fwd.hold(Hold::Starting);
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"GET /held HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    wait_until("the request to wait for the app", || fwd.held_connections() == 1).await;
    // ... and the new app answers it once it listens (on the same port).
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        let (c, _) = l.accept().await.unwrap();
        let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("new app {}", req.uri().path())))))
        });
        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(c), service).await;
    });
    assert_eq!(read_response(&mut s).await, (200, "new app /held".to_string()));
    assert_eq!(traces.recv().await.unwrap().status, 200);
    assert_eq!(fwd.held_connections(), 0);

    // A restart that fails (its build, its app exiting) ends the hold: what waits gets its 502 then.
    let dead = unused_port().await;
    fwd.retarget(dead);
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"GET /failed HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    wait_until("the second request to wait", || fwd.held_connections() == 1).await;
    fwd.hold(Hold::Off);
    let (status, body) = read_response(&mut s).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(traces.recv().await.unwrap().status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_app_closed_without_answering_goes_once_more_when_it_is_safe_to_repeat() {
    // An app on its way out: each of its first two connections reads a request and closes
    // without a byte of answer; later ones are answered.
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut c, _)) = l.accept().await {
            n += 1;
            let mut buf = vec![0u8; 4096];
            let got = c.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..got]).lines().next().unwrap_or("").to_string();
            log.lock().unwrap().push(head.clone());
            if n > 2 {
                let body = format!("answered {head}");
                let answer = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                c.write_all(answer.as_bytes()).await.unwrap();
            }
        }
    });
    let (fwd, _traces) = forward(port, Limits::default()).await;
    // A POST with a body is not repeated: its 502 says why.
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"POST /order HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi").await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 502);
    // A GET is: the app closed the first try, the second is answered.
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut s).await, (200, "answered GET /page HTTP/1.1".to_string()));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["POST /order HTTP/1.1", "GET /page HTTP/1.1", "GET /page HTTP/1.1"],
        "the POST went once, the GET twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_app_starts_behind_a_port_proxy_a_get_is_repeated_until_it_answers() {
    // An engine's port proxy: it accepts every connection, and closes the first five unanswered
    // (the app behind it does not listen yet); the sixth reaches the app.
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = c.read(&mut buf).await;
            if n.fetch_add(1, Ordering::SeqCst) >= 5 {
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nnew app").await.unwrap();
            }
        }
    });
    let (fwd, _traces) = forward(port, Limits::default()).await;
    fwd.hold(Hold::Starting);
    let mut s = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut s).await, (200, "new app".to_string()));
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_debugger_connection_outlives_the_idle_timeout_that_closes_a_silent_one() {
    // A debug server: echoes what it is sent, keeps every connection open.
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (fwd, mut traces) = forward(port, limits(16, 10_000, 300)).await;
    let message = b"Content-Length: 2\r\n\r\n{}";
    let mut debugger = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    debugger.write_all(message).await.unwrap();
    let mut echo = [0u8; 23];
    tokio::time::timeout(WAIT, debugger.read_exact(&mut echo)).await.unwrap().unwrap();
    assert_eq!(&echo, message);
    // The debugger now sits at a breakpoint, silent. A connection opened after that and silent
    // since is closed by the idle timeout: at least that long has passed for the debugger too.
    let mut silent = TcpStream::connect(("127.0.0.1", fwd.local_port)).await.unwrap();
    closed_within(&mut silent, WAIT).await;
    debugger.write_all(message).await.unwrap();
    tokio::time::timeout(WAIT, debugger.read_exact(&mut echo)).await.unwrap().unwrap();
    assert_eq!(&echo, message, "the debugger's connection is still open");
    assert!(traces.try_recv().is_err(), "DAP is not HTTP: no trace");
}

#[tokio::test]
async fn the_first_forward_goes_back_to_the_apps_port_once_it_listens_there() {
    let (events, mut rx) = tokio::sync::broadcast::channel(64);
    let mut forwards = super::Forwards::new(events, "web".into(), "s1".into());
    let (traces, _) = mpsc::unbounded_channel();
    forwards.set_trace_sink(traces);
    forwards.ensure_primary(None, 8000).await;
    // While it starts, the app listens for a moment on another port only (debugpy's endpoint
    // listener): the forward follows it, as for an app that ignores PORT.
    forwards.reconcile(&[41000], 8000).await;
    forwards.reconcile(&[8000], 8000).await;
    let remotes: Vec<u16> = forwards.records().iter().map(|r| r.remote_port).collect();
    assert_eq!(remotes, vec![8000]);
    let mut announced = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let crate::events::EventKind::PortForward { remote_port, .. } = e.kind {
            announced.push(remote_port);
        }
    }
    assert_eq!(announced, vec![8000, 41000, 8000]);
}

/// A child space's forward names the child in `azds-route-as`, unless the request already names one.
#[tokio::test]
async fn a_child_spaces_forward_adds_the_route_header() {
    let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let service = hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                let h = req.headers().get("azds-route-as").map(|v| v.to_str().unwrap().to_string());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("route={h:?}")))))
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), service));
        }
    });
    let (tx, _rx) = mpsc::unbounded_channel();
    let listener = super::proxy::bind(None).await.unwrap();
    let f = Forward::start_routed(listener, port, tx, limits(8, 5000, 5000), Some("alice")).unwrap();
    for (sent, seen) in [("", "route=Some(\"alice\")"), ("azds-route-as: bob\r\n", "route=Some(\"bob\")")] {
        let mut c = TcpStream::connect(("127.0.0.1", f.local_port)).await.unwrap();
        c.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\n{sent}Connection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        tokio::time::timeout(WAIT, c.read_to_string(&mut out)).await.unwrap().unwrap();
        assert!(out.ends_with(seen), "{out}");
    }
}
