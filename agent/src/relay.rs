//! The Service port of a container: what a Kubernetes Service does for a pod (port 80 to the
//! app's `targetPort`), so that services sharing an engine network call each other as they would
//! in the cluster (`http://api/`) while the app keeps its own port.
//!
//! Each relay listens on the container's own interface and copies bytes to the app on the
//! container's loopback, both ways. A connection made while the app is starting (or restarting)
//! waits for it, up to [`READY_WAIT`], then is closed: a caller that comes up before the service
//! it calls is served once that service is, without anyone listing an order.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long a connection waits for the app to accept.
pub const READY_WAIT: Duration = Duration::from_secs(60);
/// The waits between tries while nothing accepts: 1 ms, doubling up to 4 ms. A restarted app
/// starts listening tens of ms after its spawn, and a connection waiting for it lands at most one
/// wait later: with a fixed 50 ms, `listening on` -> served took 38.9 ms at p50 through a
/// Kubernetes forward (tests/bench/kube.py), 5.8 ms with these.
const READY_POLL_FIRST: Duration = Duration::from_millis(1);
const READY_POLL_MAX: Duration = Duration::from_millis(4);

/// `80:8080`: listen on 80, send to 8080.
pub fn parse(s: &str) -> Result<(u16, u16), String> {
    let (from, to) = s.split_once(':').ok_or_else(|| format!("'{s}' is not PORT:TARGET"))?;
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("'{p}' is not a port"));
    Ok((port(from)?, port(to)?))
}

/// Binds `port` on every interface of the container and relays its connections to `target`.
pub async fn start(port: u16, target: u16) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let Some(mut app) = connect_when_ready(target, READY_WAIT).await else { return };
                let _ = client.set_nodelay(true);
                let _ = app.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut app).await;
            });
        }
    });
    Ok(addr)
}

/// A connection to `target` on loopback, once something accepts there (within `wait`).
pub(crate) async fn connect_when_ready(target: u16, wait: Duration) -> Option<TcpStream> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = READY_POLL_FIRST;
    loop {
        if let Ok(s) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)).await {
            return Some(s);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(READY_POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn relays_are_port_pairs() {
        assert_eq!(parse("80:8080"), Ok((80, 8080)));
        assert!(parse("80").is_err());
        assert!(parse("0:8080").is_err());
        assert!(parse("80:x").is_err());
    }

    #[tokio::test]
    async fn bytes_go_both_ways_once_the_app_listens() {
        // The app's port is known but nothing listens yet: the caller connects first and waits.
        let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let target = probe.local_addr().unwrap().port();
        drop(probe);
        let addr = start(0, target).await.unwrap();
        let mut c = TcpStream::connect((Ipv4Addr::LOCALHOST, addr.port())).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let app = TcpListener::bind((Ipv4Addr::LOCALHOST, target)).await.unwrap();
        let echo = tokio::spawn(async move {
            let (mut s, _) = app.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        echo.await.unwrap();
    }
}
