//! The tunnel listener (`--tunnel 127.0.0.1:PORT`): warm connections from the daemon's forwards to
//! any port of the pod's loopback.
//!
//! A Kubernetes port-forward stream costs a round of the API server and the kubelet to open, and
//! it connects to its port at once. The daemon keeps a few streams to this listener open ahead of
//! need (`daemon/src/backend/kubernetes/forward.rs`): each connection gets [`READY`] as soon as it
//! is accepted, which tells the daemon the stream reaches a live agent; then it waits, idle, until
//! the daemon uses it for a local connection and sends the app's port as one line of ASCII digits
//! (`8080\n`). Only then does the agent connect to that port on loopback and copy bytes both ways:
//! while a restart replaces the app (from its stop until the next one started) it first waits, so
//! that nothing reaches the app on its way out, then waits for the port to accept, as the relays
//! do. A warm stream thus never holds a connection to an app that a restart replaced.
//!
//! It listens on loopback only: the kubelet's port-forward reaches it inside the pod, other pods
//! cannot. Before the port line, it reads at most [`MAX_LINE`] bytes into a fixed buffer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::supervise::Supervisor;

/// The byte a warm connection gets once accepted.
pub const READY: u8 = b'+';
/// The longest port line (`65535\n`).
pub const MAX_LINE: usize = 6;
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

async fn serve(mut client: TcpStream, sup: Option<Arc<Supervisor>>) {
    let _ = client.set_nodelay(true);
    if client.write_all(&[READY]).await.is_err() {
        return;
    }
    let Some(port) = read_port(&mut client).await else { return };
    if let Some(sup) = sup {
        // Past the wait the port is tried anyway: the connect below waits its own time.
        let _ = sup.settled(APP_WAIT).await;
    }
    let Some(mut app) = crate::relay::connect_when_ready(port, APP_WAIT).await else { return };
    let _ = app.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut app).await;
}

/// The port line, byte by byte (what follows it is the client's and stays in the socket).
async fn read_port(client: &mut TcpStream) -> Option<u16> {
    let mut line = [0u8; MAX_LINE];
    for i in 0..MAX_LINE {
        let b = client.read_u8().await.ok()?;
        if b == b'\n' {
            return std::str::from_utf8(&line[..i]).ok()?.parse::<u16>().ok().filter(|p| *p != 0);
        }
        if !b.is_ascii_digit() {
            return None;
        }
        line[i] = b;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    async fn tunnel() -> SocketAddr {
        start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), None).await.unwrap()
    }

    #[tokio::test]
    async fn a_warm_connection_reaches_the_port_it_names_only_once_it_names_it() {
        let addr = tunnel().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert_eq!(c.read_u8().await.unwrap(), READY);
        // The app comes up after the connection was made warm (a restart, say).
        let app = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = app.local_addr().unwrap().port();
        c.write_all(format!("{port}\nping").as_bytes()).await.unwrap();
        let (mut s, _) = app.accept().await.unwrap();
        let mut got = [0u8; 4];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping", "the bytes after the port line are the app's");
        s.write_all(b"pong").await.unwrap();
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }

    #[tokio::test]
    async fn a_bad_port_line_closes_the_connection() {
        let addr = tunnel().await;
        for bad in ["x80\n", "0\n", "99999\n", "8080808\n", "-1\n"] {
            let mut c = TcpStream::connect(addr).await.unwrap();
            assert_eq!(c.read_u8().await.unwrap(), READY);
            c.write_all(bad.as_bytes()).await.unwrap();
            // Closed: the end of the stream, or a reset when it left bytes of the line unread.
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
