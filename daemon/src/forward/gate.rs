//! A forward's connection cap, and what the cap needs to know of each connection: whether it is idle.
//!
//! At the cap a new connection closes an idle one (a client that has sent nothing since it
//! connected or since its last response), as nginx reuses keep-alive connections: first one that
//! has never sent a byte, then a kept-alive one, each time the one idle for the longest. When none
//! is idle the new connection is closed at once. A flood of silent connections therefore never
//! locks the page out nor pushes out a browser's keep-alive connections (it only pushes out its
//! own), and a flood of busy ones costs the daemon no more than the cap's descriptors.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How long a new connection at the cap waits for the idle one it evicted to let go of its place.
const EVICT_WAIT: Duration = Duration::from_millis(250);

pub(crate) struct Gate {
    /// The clock every connection's activity is measured on.
    base: Instant,
    places: Arc<Semaphore>,
    conns: Mutex<BTreeMap<u64, Arc<Activity>>>,
    next: AtomicU64,
}

/// A connection's place under the cap, given back when the last holder drops it.
pub(crate) struct Slot {
    gate: Arc<Gate>,
    id: u64,
    _place: OwnedSemaphorePermit,
    pub activity: Arc<Activity>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.lock().remove(&self.id);
    }
}

impl Gate {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Gate {
            base: Instant::now(),
            places: Arc::new(Semaphore::new(max.max(1))),
            conns: Mutex::default(),
            next: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection: a free one, else the place of an idle one (asked to close);
    /// `None` when every connection is busy.
    pub async fn admit(self: &Arc<Self>) -> Option<Slot> {
        let place = match self.places.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !self.evict_one_idle() {
                    return None;
                }
                tokio::time::timeout(EVICT_WAIT, self.places.clone().acquire_owned()).await.ok()?.ok()?
            }
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.base));
        self.lock().insert(id, activity.clone());
        Some(Slot { gate: self.clone(), id, _place: place, activity })
    }

    /// Asks the idle connection to close that has never sent a byte, else the kept-alive one, idle
    /// for the longest time.
    fn evict_one_idle(&self) -> bool {
        let conns = self.lock();
        let victim = conns
            .values()
            .filter(|a| a.is_idle() && !a.evicting.load(Ordering::SeqCst))
            .min_by_key(|a| (a.has_client_sent(), a.last_ms.load(Ordering::Relaxed)));
        match victim {
            Some(a) => {
                a.evicting.store(true, Ordering::SeqCst);
                a.evict.notify_one();
                true
            }
            None => false,
        }
    }

    /// Connections holding a place now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.lock().len()
    }
}

/// What one connection did: bytes from the client, bytes to it, requests in flight.
pub(crate) struct Activity {
    /// The gate's clock.
    base: Instant,
    /// Reads that returned bytes from the client (or a peek that saw some).
    reads: AtomicU64,
    /// `reads` when the connection last went quiet (its last response ended).
    reads_when_quiet: AtomicU64,
    /// Requests in flight, plus one while an upgraded connection is spliced.
    busy: AtomicU32,
    /// Milliseconds after `base` of the last byte either way (or of the connection).
    last_ms: AtomicU64,
    evicting: AtomicBool,
    evict: Notify,
}

impl Activity {
    fn new(base: Instant) -> Self {
        Activity {
            base,
            reads: AtomicU64::new(0),
            reads_when_quiet: AtomicU64::new(0),
            busy: AtomicU32::new(0),
            last_ms: AtomicU64::new(base.elapsed().as_millis() as u64),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        }
    }

    fn touch(&self) {
        self.last_ms.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn client_sent(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    /// Whether the client has sent anything at all.
    pub fn has_client_sent(&self) -> bool {
        self.reads.load(Ordering::SeqCst) > 0
    }

    /// Time since the last byte either way.
    pub fn quiet_for(&self) -> Duration {
        self.base.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Nothing in flight and nothing from the client since the last response (or ever).
    pub fn is_idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
            && self.reads.load(Ordering::SeqCst) == self.reads_when_quiet.load(Ordering::SeqCst)
    }

    /// Resolves once the gate chose this connection to make room.
    pub async fn evicted(&self) {
        self.evict.notified().await
    }
}

/// Marks a request in flight (or an upgraded connection) until dropped.
pub(crate) struct Busy(Arc<Activity>);

impl Busy {
    pub fn new(a: &Arc<Activity>) -> Self {
        a.busy.fetch_add(1, Ordering::SeqCst);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        a.reads_when_quiet.store(a.reads.load(Ordering::SeqCst), Ordering::SeqCst);
        a.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The client's stream, noting its activity as bytes pass.
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.client_sent();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let gate = Gate::new(2);
        let a = gate.admit().await.unwrap();
        let b = gate.admit().await.unwrap();
        let busy_a = Busy::new(&a.activity);
        b.activity.client_sent();
        assert!(gate.admit().await.is_none(), "nothing is idle: the new connection is refused");

        // b's response ends: it is idle again, and the one to go.
        drop(busy_a);
        a.activity.client_sent();
        drop(Busy::new(&b.activity));
        assert!(b.activity.is_idle() && !a.activity.is_idle());
        let waiting = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await })
        };
        b.activity.evicted().await;
        drop(b);
        let c = waiting.await.unwrap().expect("b's place");
        assert_eq!(gate.open(), 2);
        drop((a, c));
        assert_eq!(gate.open(), 0);
    }

    #[tokio::test]
    async fn silent_connections_go_first_then_the_longest_idle() {
        let gate = Gate::new(3);
        let kept_alive = gate.admit().await.unwrap();
        let older = gate.admit().await.unwrap();
        let newer = gate.admit().await.unwrap();
        // The first one has been answered, long ago; the other two never said anything.
        kept_alive.activity.client_sent();
        drop(Busy::new(&kept_alive.activity));
        tokio::time::sleep(Duration::from_millis(30)).await;
        // The older silent one just received bytes from the app (a server-first protocol).
        older.activity.touch();
        let next = |gate: &Arc<Gate>| {
            let gate = gate.clone();
            tokio::spawn(async move { gate.admit().await })
        };
        let waiting = next(&gate);
        newer.activity.evicted().await;
        drop(newer);
        let a = waiting.await.unwrap().expect("the newer silent one's place");
        let waiting = next(&gate);
        older.activity.evicted().await;
        drop(older);
        let b = waiting.await.unwrap().expect("the older silent one's place");
        // Once the two new ones have sent something, the kept-alive one is the only idle one.
        a.activity.client_sent();
        b.activity.client_sent();
        let waiting = next(&gate);
        kept_alive.activity.evicted().await;
        drop(kept_alive);
        assert!(waiting.await.unwrap().is_some());
    }
}
