//! The tunnel listener (`--tunnel 127.0.0.1:PORT`): warm connections from the daemon's forwards to
//! any port of the pod's loopback.
//!
//! A Kubernetes port-forward stream costs a round of the API server and the kubelet to open, and
//! it connects to its port at once. The daemon keeps a few streams to this listener open ahead of
//! need (`daemon/src/backend/kubernetes/forward.rs`): each connection gets [`READY`] as soon as it
//! is accepted, which tells the daemon the stream reaches a live agent. Then, over and over, it
//! carries one connection to an app port after another:
//!
//! - the daemon names the port as one line of ASCII digits (`8080\n`);
//! - both sides send what they have as frames (a 4-byte big-endian length, then that many bytes,
//!   at most [`MAX_FRAME`]), and an empty frame when they are done writing;
//! - once both empty frames went by, the agent sends [`READY`] again and the stream is ready for
//!   the next port line.
//!
//! A port-forward stream carries no half-close of its own, and an app that closed would otherwise
//! leave the daemon waiting until the kubelet gives the stream up; with the frames, an app that
//! answers and closes (Python's `http.server` does after each answer) costs no new stream.
//!
//! Only once the port is named does the agent connect to the app on loopback: while a restart
//! replaces the app (from its stop until the next one started) it first waits, so that nothing
//! reaches the app on its way out, then waits for the port to accept, as the relays do. And a
//! connection that reached an app on its way out (it accepted just before the restart stopped it)
//! and ended without a byte of answer is sent again, what the client had sent replayed, to the next
//! app: a save during a page load does not show as an error.
//!
//! It listens on loopback only: the kubelet's port-forward reaches it inside the pod, other pods
//! cannot. Before the port line, it reads at most [`MAX_LINE`] bytes into a fixed buffer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::supervise::Supervisor;

use devspaces_protocol::tunnel::{frames_in, frames_out, read_port};
pub use devspaces_protocol::tunnel::{MAX_FRAME, MAX_LINE, READY};
/// How long a connection waits for the app to accept (a restart in progress).
pub const APP_WAIT: Duration = Duration::from_secs(30);

/// Binds `addr` (loopback only) and serves tunnel connections; with `sup`, a connection made while
/// the app is being replaced waits for the next one (never reaching the one on its way out).
pub async fn start(addr: SocketAddr, sup: Option<Arc<Supervisor>>) -> std::io::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other(format!("refusing a tunnel on {addr}: it listens on loopback only")));
    }
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            tokio::spawn(serve(client, sup.clone()));
        }
    });
    Ok(local)
}

async fn serve(client: TcpStream, sup: Option<Arc<Supervisor>>) {
    let _ = client.set_nodelay(true);
    let (mut rd, mut wr) = client.into_split();
    if wr.write_all(&[READY]).await.is_err() {
        return;
    }
    // One connection to the app after another, as the daemon names them.
    while let Some(port) = read_port(&mut rd).await {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (mut ours_rd, mut ours_wr) = tokio::io::split(ours);
        let mut inbound = Box::pin(frames_in(&mut rd, &mut ours_wr));
        let mut work = Box::pin(async {
            let (sent, ()) =
                tokio::join!(frames_out(Vec::new(), &mut ours_rd, &mut wr), one(theirs, port, sup.as_deref()));
            sent
        });
        let reusable = tokio::select! {
            ok = &mut inbound => {
                drop(inbound);
                // The client is done; the app's answer still goes out (or the daemon gives up).
                ok && tokio::select! {
                    ok = &mut work => ok,
                    _ = rd.read_u8() => false,
                }
            }
            ok = &mut work => ok && inbound.await,
        };
        drop(work);
        // Ready for the next one.
        if !reusable || wr.write_all(&[READY]).await.is_err() {
            return;
        }
    }
}

/// One connection to the app on `port` for `client` (the daemon's side, unframed).
async fn one<C: AsyncRead + AsyncWrite + Unpin>(mut client: C, port: u16, sup: Option<&Supervisor>) {
    // An app on its way out (a restart's stop came after it accepted) closes without a byte of
    // answer: what the client sent goes again, to the next app, up to a few times.
    let mut sent: Vec<u8> = Vec::new();
    let mut client_done = false;
    for _ in 0..REPLAYS {
        if let Some(sup) = sup {
            // Past the wait the port is tried anyway: the connect below waits its own time.
            let _ = sup.settled(APP_WAIT).await;
        }
        let Some(mut app) = crate::relay::connect_when_ready(port, APP_WAIT).await else { return };
        let _ = app.set_nodelay(true);
        if app.write_all(&sent).await.is_err() {
            continue;
        }
        if client_done {
            let _ = app.shutdown().await;
        }
        match first_answer(&mut client, &mut app, &mut sent, &mut client_done).await {
            First::Answered(bytes) => {
                if client.write_all(&bytes).await.is_ok() {
                    splice(client, app, client_done).await;
                }
                return;
            }
            First::AppClosed if sent.len() <= REPLAY_MAX => continue,
            First::AppClosed | First::ClientGone => return,
        }
    }
}

/// How often a connection is sent again to the next app, and how much of it is kept for that.
const REPLAYS: usize = 3;
const REPLAY_MAX: usize = 64 * 1024;

enum First {
    /// The app's first bytes.
    Answered(Vec<u8>),
    /// The app closed (or failed) before a byte of answer.
    AppClosed,
    /// The client went away before any answer.
    ClientGone,
}

/// Copies the client's bytes to the app, keeping them in `sent` (while it is under
/// [`REPLAY_MAX`]), until the app's first bytes of answer.
async fn first_answer<C: AsyncRead + AsyncWrite + Unpin>(
    client: &mut C,
    app: &mut TcpStream,
    sent: &mut Vec<u8>,
    client_done: &mut bool,
) -> First {
    let mut from_client = [0u8; 16 * 1024];
    let mut from_app = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = app.read(&mut from_app) => return match n {
                Ok(n) if n > 0 => {
                    from_app.truncate(n);
                    First::Answered(from_app)
                }
                _ => First::AppClosed,
            },
            n = client.read(&mut from_client), if !*client_done => match n {
                Ok(0) => {
                    *client_done = true;
                    let _ = app.shutdown().await;
                }
                Ok(n) => {
                    if sent.len() <= REPLAY_MAX {
                        sent.extend_from_slice(&from_client[..n]);
                    }
                    if app.write_all(&from_client[..n]).await.is_err() {
                        return First::AppClosed;
                    }
                }
                Err(_) => return First::ClientGone,
            },
        }
    }
}

/// Copies both ways until the app's side ends (the client's end of writing is passed on as a
/// half-close, and the app's answer still comes back), then ends the client's side.
async fn splice<C: AsyncRead + AsyncWrite + Unpin>(client: C, app: TcpStream, client_done: bool) {
    let (mut client_read, mut client_write) = tokio::io::split(client);
    let (mut app_read, mut app_write) = app.into_split();
    let to_app = async move {
        if !client_done {
            let _ = tokio::io::copy(&mut client_read, &mut app_write).await;
            let _ = app_write.shutdown().await;
        }
        // Keep the app's write half open until the answer is done.
        std::future::pending::<()>().await;
    };
    let to_client = async move {
        let _ = tokio::io::copy(&mut app_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = to_app => {}
        _ = to_client => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    async fn tunnel() -> SocketAddr {
        start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None).await.unwrap()
    }

    /// A warm connection (its ready byte read) and an app listening on loopback.
    async fn warm() -> (TcpStream, TcpListener, u16) {
        let mut c = TcpStream::connect(tunnel().await).await.unwrap();
        assert_eq!(c.read_u8().await.unwrap(), READY);
        let app = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = app.local_addr().unwrap().port();
        (c, app, port)
    }

    async fn send(c: &mut TcpStream, data: &[u8]) {
        c.write_u32(data.len() as u32).await.unwrap();
        c.write_all(data).await.unwrap();
    }

    /// The frames until the end frame, joined.
    async fn answer(c: &mut TcpStream) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let n = c.read_u32().await.unwrap();
            if n == 0 {
                return out;
            }
            let mut b = vec![0u8; n as usize];
            c.read_exact(&mut b).await.unwrap();
            out.extend(b);
        }
    }

    #[tokio::test]
    async fn a_warm_connection_reaches_the_port_it_names_only_once_it_names_it_and_serves_the_next() {
        let (mut c, app, port) = warm().await;
        for round in ["one", "two"] {
            // The app comes up after the connection was made warm (a restart, say).
            c.write_all(format!("{port}\n").as_bytes()).await.unwrap();
            send(&mut c, round.as_bytes()).await;
            let (mut s, _) = app.accept().await.unwrap();
            let mut got = vec![0u8; round.len()];
            s.read_exact(&mut got).await.unwrap();
            assert_eq!(got, round.as_bytes());
            s.write_all(b"pong").await.unwrap();
            drop(s);
            assert_eq!(answer(&mut c).await, b"pong", "the app's close ends its answer");
            send(&mut c, b"").await;
            assert_eq!(c.read_u8().await.unwrap(), READY, "ready for the next connection");
        }
    }

    #[tokio::test]
    async fn a_client_that_is_done_writing_still_gets_the_answer() {
        let (mut c, app, port) = warm().await;
        c.write_all(format!("{port}\n").as_bytes()).await.unwrap();
        send(&mut c, b"question").await;
        send(&mut c, b"").await;
        let (mut s, _) = app.accept().await.unwrap();
        let mut q = Vec::new();
        s.read_to_end(&mut q).await.unwrap();
        assert_eq!(q, b"question", "the client's end reached the app");
        s.write_all(b"answer").await.unwrap();
        drop(s);
        assert_eq!(answer(&mut c).await, b"answer");
    }

    #[tokio::test]
    async fn a_request_the_app_closed_without_an_answer_goes_to_the_next_app() {
        let (mut c, app, port) = warm().await;
        c.write_all(format!("{port}\n").as_bytes()).await.unwrap();
        send(&mut c, b"GET / HTTP/1.1\r\n\r\n").await;
        // The old app reads the request and goes away without answering.
        let (mut old, _) = app.accept().await.unwrap();
        let mut req = [0u8; 18];
        old.read_exact(&mut req).await.unwrap();
        drop(old);
        // The next app gets the same request and answers it.
        let (mut new, _) = app.accept().await.unwrap();
        let mut again = [0u8; 18];
        new.read_exact(&mut again).await.unwrap();
        assert_eq!(again, req);
        new.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        drop(new);
        assert_eq!(answer(&mut c).await, b"HTTP/1.1 200 OK\r\n\r\n");
    }

    #[tokio::test]
    async fn a_bad_port_line_or_frame_closes_the_connection() {
        let addr = tunnel().await;
        let huge = format!("80\n{}", String::from_utf8_lossy(&((MAX_FRAME as u32 + 1).to_be_bytes())));
        for bad in ["x80\n", "0\n", "99999\n", "8080808\n", "-1\n", huge.as_str()] {
            let mut c = TcpStream::connect(addr).await.unwrap();
            assert_eq!(c.read_u8().await.unwrap(), READY);
            c.write_all(bad.as_bytes()).await.unwrap();
            // Closed: the end of the stream, or a reset when it left bytes unread.
            let mut rest = Vec::new();
            let end = c.read_to_end(&mut rest).await;
            assert!(end.is_err() || rest.is_empty(), "{bad:?}: {end:?} {rest:?}");
        }
    }

    #[tokio::test]
    async fn it_refuses_anything_but_loopback() {
        assert!(start(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), None).await.is_err());
    }
}
