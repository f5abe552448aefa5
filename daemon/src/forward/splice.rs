//! Byte-for-byte copying both ways, for connections that do not speak HTTP/1 and for upgraded ones
//! (WebSocket and the like).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::gate::Activity;

/// Copies both ways until both directions have ended (each end's write side is shut down when the
/// other stops sending). Bounded by `idle` without a byte either way once one direction has ended,
/// so a target that closed never leaves the client connected, or while the client has sent nothing
/// at all. `activity` is the client's (its stream is wrapped in [`super::gate::Tracked`]).
pub(crate) async fn splice<C, U>(client: C, upstream: U, activity: &Activity, idle: Duration)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let ended = AtomicBool::new(false);
    let to_app = async {
        let _ = tokio::io::copy(&mut cr, &mut uw).await;
        let _ = uw.shutdown().await;
        ended.store(true, Ordering::SeqCst);
    };
    let to_client = async {
        let _ = tokio::io::copy(&mut ur, &mut cw).await;
        let _ = cw.shutdown().await;
        ended.store(true, Ordering::SeqCst);
    };
    let watchdog = async {
        loop {
            let quiet = activity.quiet_for();
            if quiet >= idle && (ended.load(Ordering::SeqCst) || !activity.has_client_sent()) {
                return;
            }
            let left = if quiet >= idle { idle } else { idle - quiet };
            tokio::time::sleep(left.max(Duration::from_millis(5))).await;
        }
    };
    tokio::select! {
        _ = async { tokio::join!(to_app, to_client) } => {}
        _ = watchdog => {}
    }
}
