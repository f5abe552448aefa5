//! Loopback ports that reach a pod's ports through kube-rs port-forwards, following the current pod.
//!
//! One listener per remote port, bound once on 127.0.0.1 and kept for the whole session: every
//! accepted connection goes to whichever pod is current at that moment, so a redeploy only swaps
//! the pod name and local ports never change.
//!
//! Opening a port-forward stream costs a round through the API server and the kubelet (tens of
//! milliseconds), which a page load would pay per connection. So connections to the app's ports
//! take a **warm** stream instead: a few streams per pod are kept open ahead of need to the
//! agent's tunnel listener (`agent/src/tunnel.rs`, `--tunnel` on [`TUNNEL_PORT`]), each proven
//! live by the agent's ready byte. A connection takes one, names the app's port on it and frames
//! its bytes both ways; when both sides ended cleanly the stream goes back to the pool for the
//! next connection, and more are opened behind a burst. Because the agent connects to the app only
//! when a port is named, a warm stream outlives app restarts. One that died meanwhile (the pod
//! went away) is seen as closed and skipped; with no warm stream (a pod whose agent has no tunnel,
//! or all taken) the connection opens its own port-forward to the app's port, as before.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Portforwarder;
use kube::Api;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};

use devspaces_protocol::tunnel::{frames_in, frames_out, READY};

use super::post_render::TUNNEL_PORT;
use crate::backend::Tunnel;

/// (pinned pod or `None` for the current one, remote port) -> (local port, accept loop).
type Listeners = HashMap<(Option<String>, u16), (u16, tokio::task::JoinHandle<()>)>;

/// Warm streams kept per pod: enough for a page's burst of connections (an app that closes its
/// connection after each answer, as Python's `http.server` does, makes every request one).
const WARM: usize = 16;
/// How long a pod whose tunnel could not be opened is left alone before trying again.
const COLD_FOR: Duration = Duration::from_secs(5);
/// How long a new warm stream may take to show the agent's ready byte.
const READY_WITHIN: Duration = Duration::from_secs(5);
/// How long, after the local client closed, the app's end may take for the stream to be kept.
const APP_END_WITHIN: Duration = Duration::from_secs(2);

/// A port-forward stream to a pod's tunnel listener, open and proven live, not yet used.
struct Warm {
    pf: Portforwarder,
    stream: DuplexStream,
    /// Resolves once the port-forward can no longer be used (its connection ended or failed).
    closed: Pin<Box<dyn Future<Output = Option<String>> + Send>>,
}

impl Warm {
    /// Whether its port-forward still runs, asked without waiting.
    fn alive(&mut self) -> bool {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        self.closed.as_mut().poll(&mut cx).is_pending()
    }
}

/// Warm streams per pod, how many are being opened, and pods left cold until a time.
#[derive(Default)]
struct Pool {
    ready: HashMap<String, Vec<Warm>>,
    opening: HashMap<String, usize>,
    cold_until: HashMap<String, Instant>,
}

/// The session's tunnels into the current pod.
pub struct PodTunnels {
    pods: Api<Pod>,
    current: RwLock<Option<String>>,
    listeners: Mutex<Listeners>,
    pool: Mutex<Pool>,
}

impl PodTunnels {
    pub fn new(pods: Api<Pod>) -> Arc<Self> {
        Arc::new(PodTunnels {
            pods,
            current: RwLock::new(None),
            listeners: Mutex::new(HashMap::new()),
            pool: Mutex::new(Pool::default()),
        })
    }

    /// Connections accepted from now on go to `pod`; open ones stay with the pod they reached.
    /// Warm streams to other pods are let go, and the new pod's are opened.
    pub fn set_pod(self: &Arc<Self>, pod: &str) {
        if let Ok(mut c) = self.current.write() {
            *c = Some(pod.to_string());
        }
        if let Ok(mut p) = self.pool.lock() {
            p.ready.retain(|name, warm| {
                let keep = name == pod;
                if !keep {
                    warm.iter().for_each(|w| w.pf.abort());
                }
                keep
            });
            p.opening.retain(|name, _| name == pod);
            p.cold_until.clear();
        }
        self.refill(pod);
    }

    /// A warm stream that carried a connection and can carry the next: back in `pod`'s pool, while
    /// `pod` is current and the pool has room.
    fn give_back(&self, pod: &str, warm: Warm) {
        let current = self.pod().as_deref() == Some(pod);
        let Ok(mut p) = self.pool.lock() else { return warm.pf.abort() };
        let list = p.ready.entry(pod.to_string()).or_default();
        if current && list.len() < WARM {
            list.push(warm);
        } else {
            warm.pf.abort();
        }
    }

    /// A live warm stream to `pod`, when one is ready (dead ones are dropped on the way).
    fn take_warm(&self, pod: &str) -> Option<Warm> {
        let mut p = self.pool.lock().ok()?;
        let list = p.ready.get_mut(pod)?;
        while let Some(mut w) = list.pop() {
            if w.alive() {
                return Some(w);
            }
            w.pf.abort();
        }
        None
    }

    /// Opens warm streams to `pod` in the background, at once as many as it lacks of [`WARM`]
    /// (counting those being opened).
    fn refill(self: &Arc<Self>, pod: &str) {
        let want = {
            let Ok(mut p) = self.pool.lock() else { return };
            if p.cold_until.get(pod).is_some_and(|t| Instant::now() < *t) {
                return;
            }
            let have = p.ready.get(pod).map_or(0, Vec::len) + p.opening.get(pod).copied().unwrap_or(0);
            let want = WARM.saturating_sub(have);
            *p.opening.entry(pod.to_string()).or_default() += want;
            want
        };
        for _ in 0..want {
            let (me, pods, pod) = (Arc::downgrade(self), self.pods.clone(), pod.to_string());
            tokio::spawn(async move {
                let opened = open_warm(&pods, &pod).await;
                let Some(t) = me.upgrade() else {
                    opened.iter().for_each(|w| w.pf.abort());
                    return;
                };
                let current = t.pod().as_deref() == Some(pod.as_str());
                let Ok(mut p) = t.pool.lock() else { return };
                if let Some(n) = p.opening.get_mut(&pod) {
                    *n = n.saturating_sub(1);
                }
                match opened {
                    Some(w) if current => p.ready.entry(pod).or_default().push(w),
                    Some(w) => w.pf.abort(),
                    None => {
                        p.cold_until.insert(pod, Instant::now() + COLD_FOR);
                    }
                }
            });
        }
    }

    pub fn pod(&self) -> Option<String> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// Stops the listeners pinned to pods other than `keep` (replicas replaced by a redeploy).
    pub fn unpin_except(&self, keep: &[String]) {
        if let Ok(mut l) = self.listeners.lock() {
            l.retain(|(pin, _), (_, task)| {
                let stay = pin.as_ref().is_none_or(|p| keep.contains(p));
                if !stay {
                    task.abort();
                }
                stay
            });
        }
    }

    /// Stops every listener and lets the warm streams go (the session ends). No pod is current
    /// afterwards, so a stream still being opened, or carrying a connection, is let go when it
    /// comes back instead of joining the pool.
    pub fn close(&self) {
        if let Ok(mut c) = self.current.write() {
            *c = None;
        }
        if let Ok(mut l) = self.listeners.lock() {
            for (_, (_, task)) in l.drain() {
                task.abort();
            }
        }
        if let Ok(mut p) = self.pool.lock() {
            p.ready.drain().flat_map(|(_, w)| w).for_each(|w| w.pf.abort());
        }
    }

    /// A loopback port that always reaches `pod` (a replica's agent), whichever pod is current.
    pub async fn pinned(self: &Arc<Self>, pod: &str, remote: u16) -> std::io::Result<u16> {
        self.open(Some(pod.to_string()), remote).await
    }

    async fn open(self: &Arc<Self>, pin: Option<String>, remote: u16) -> std::io::Result<u16> {
        let key = (pin.clone(), remote);
        if let Some(local) = self.listeners.lock().ok().and_then(|l| l.get(&key).map(|(p, _)| *p)) {
            return Ok(local);
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?.port();
        let me = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let Some(t) = me.upgrade() else { return };
                let back = me.clone();
                let (pods, pod) = (t.pods.clone(), pin.clone().or_else(|| t.pod()));
                // The app's ports take a warm stream (a replica's pinned agent port needs none).
                let warm = match (&pin, &pod) {
                    (None, Some(p)) => {
                        let w = t.take_warm(p);
                        t.refill(p);
                        w
                    }
                    _ => None,
                };
                drop(t);
                tokio::spawn(async move {
                    match (warm, pod) {
                        (Some(w), Some(pod)) => bridge_warm(stream, w, remote, back, pod).await,
                        (Some(w), None) => w.pf.abort(),
                        (None, Some(pod)) => bridge(stream, pods, pod, remote).await,
                        (None, None) => {}
                    }
                });
            }
        });
        let mut l = self.listeners.lock().map_err(|_| std::io::Error::other("tunnel table poisoned"))?;
        // Another caller may have opened the same port meanwhile: keep the first.
        if let Some((p, _)) = l.get(&key) {
            task.abort();
            return Ok(*p);
        }
        l.insert(key, (local, task));
        Ok(local)
    }
}

impl Drop for PodTunnels {
    fn drop(&mut self) {
        self.close();
    }
}

/// Copies one loopback connection to a fresh port-forward stream of `pod:remote`.
async fn bridge(mut stream: TcpStream, pods: Api<Pod>, pod: String, remote: u16) {
    let _ = stream.set_nodelay(true);
    let Ok(mut pf) = pods.portforward(&pod, &[remote]).await else { return };
    let Some(mut upstream) = pf.take_stream(remote) else { return };
    let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
    drop(upstream);
    pf.abort();
}

/// A port-forward to `pod`'s tunnel listener, once the agent's ready byte came through it.
async fn open_warm(pods: &Api<Pod>, pod: &str) -> Option<Warm> {
    let mut pf = pods.portforward(pod, &[TUNNEL_PORT]).await.ok()?;
    let (Some(mut stream), Some(closed)) = (pf.take_stream(TUNNEL_PORT), pf.take_error(TUNNEL_PORT)) else {
        pf.abort();
        return None;
    };
    match tokio::time::timeout(READY_WITHIN, stream.read_u8()).await {
        Ok(Ok(READY)) => Some(Warm { pf, stream, closed: Box::pin(closed) }),
        _ => {
            pf.abort();
            None
        }
    }
}

/// Copies one loopback connection through a warm stream: names the app's port, then frames both
/// ways (`agent/src/tunnel.rs`). When both sides ended cleanly the stream goes back to the pool for
/// the next connection; otherwise it is let go.
async fn bridge_warm(local: TcpStream, warm: Warm, remote: u16, back: std::sync::Weak<PodTunnels>, pod: String) {
    let _ = local.set_nodelay(true);
    let Warm { pf, stream, closed } = warm;
    let (mut tunnel_rd, mut tunnel_wr) = tokio::io::split(stream);
    let (mut local_rd, mut local_wr) = local.into_split();
    let reusable = {
        // The port line goes out with the first frame: one write, one websocket message (a small
        // write followed by another waits for the first one's ACK on a Nagle socket, 40 ms).
        let mut up = Box::pin(frames_out(format!("{remote}\n").into_bytes(), &mut local_rd, &mut tunnel_wr));
        let mut down = Box::pin(frames_in(&mut tunnel_rd, &mut local_wr));
        tokio::select! {
            // The app ended: the local side closes in turn once it has read the answer.
            ok = &mut down => ok && up.await,
            // The local client ended first: the app's end must follow soon for the stream to be kept.
            ok = &mut up => ok && matches!(tokio::time::timeout(APP_END_WITHIN, down).await, Ok(true)),
        }
    };
    // The agent says it is ready for the next connection (its answer also carries the ACK of our
    // end frame, which the next connection's first write would otherwise wait for).
    let reusable = reusable && matches!(tokio::time::timeout(READY_WITHIN, tunnel_rd.read_u8()).await, Ok(Ok(READY)));
    let stream = tunnel_rd.unsplit(tunnel_wr);
    let mut warm = Warm { pf, stream, closed };

    match back.upgrade() {
        Some(t) if reusable && warm.alive() => t.give_back(&pod, warm),
        _ => warm.pf.abort(),
    }
}

/// A handle the session holds as a [`Tunnel`].
pub struct TunnelHandle(pub Arc<PodTunnels>);

impl Tunnel for TunnelHandle {
    fn local_port(&self, remote: u16) -> Pin<Box<dyn Future<Output = std::io::Result<u16>> + Send + '_>> {
        Box::pin(self.0.open(None, remote))
    }
}
