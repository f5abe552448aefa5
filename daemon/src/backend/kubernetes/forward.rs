//! Loopback ports that reach a pod's ports through kube-rs port-forwards, following the current pod.
//!
//! One listener per remote port, bound once on 127.0.0.1 and kept for the whole session: every
//! accepted connection opens its own port-forward stream to whichever pod is current at that
//! moment, so a redeploy only swaps the pod name and local ports never change.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use tokio::net::{TcpListener, TcpStream};

use crate::backend::Tunnel;

/// (pinned pod or `None` for the current one, remote port) -> (local port, accept loop).
type Listeners = HashMap<(Option<String>, u16), (u16, tokio::task::JoinHandle<()>)>;

/// The session's tunnels into the current pod.
pub struct PodTunnels {
    pods: Api<Pod>,
    current: RwLock<Option<String>>,
    listeners: Mutex<Listeners>,
}

impl PodTunnels {
    pub fn new(pods: Api<Pod>) -> Arc<Self> {
        Arc::new(PodTunnels { pods, current: RwLock::new(None), listeners: Mutex::new(HashMap::new()) })
    }

    /// Connections accepted from now on go to `pod`; open ones stay with the pod they reached.
    pub fn set_pod(&self, pod: &str) {
        if let Ok(mut c) = self.current.write() {
            *c = Some(pod.to_string());
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

    /// Stops every listener (the session ends).
    pub fn close(&self) {
        if let Ok(mut l) = self.listeners.lock() {
            for (_, (_, task)) in l.drain() {
                task.abort();
            }
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
                let (pods, pod) = (t.pods.clone(), pin.clone().or_else(|| t.pod()));
                drop(t);
                tokio::spawn(async move {
                    if let Some(pod) = pod {
                        bridge(stream, pods, pod, remote).await;
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

/// A handle the session holds as a [`Tunnel`].
pub struct TunnelHandle(pub Arc<PodTunnels>);

impl Tunnel for TunnelHandle {
    fn local_port(&self, remote: u16) -> Pin<Box<dyn Future<Output = std::io::Result<u16>> + Send + '_>> {
        Box::pin(self.0.open(None, remote))
    }
}
