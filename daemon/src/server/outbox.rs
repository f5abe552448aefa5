//! One client's outgoing queue: never blocks a producer; log lines beyond its bound are dropped and counted.
//!
//! Producers (a session's fan-out task, request handlers) push pre-encoded frames and return at
//! once. Control frames (responses, status, traces, progress) are always queued, up to a generous
//! hard limit past which the client is considered dead and disconnected. Log lines are queued up
//! to `log_cap`; beyond it they are dropped and counted per session, and the count is reported as
//! `devspaces/logsDropped` before the next line that client does get, or as soon as its queue has
//! drained, whichever comes first. The writer task takes whole batches of frames at once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use devspaces_protocol::editor as wire;
use tokio::sync::Notify;

/// A frame ready to write, shared between the clients that receive it.
pub type Frame = Arc<[u8]>;

/// Log lines a client may have queued before further ones are dropped (about 7 MB of frames).
pub const DEFAULT_LOG_CAP: usize = 32768;
/// Control frames a client may have queued before it is disconnected as unresponsive.
pub const CONTROL_LIMIT: usize = 65536;

#[derive(Default)]
struct State {
    queue: VecDeque<(bool, Frame)>,
    logs_queued: usize,
    control_queued: usize,
    /// Per session: (service, lines dropped and not yet reported).
    dropped: BTreeMap<String, (String, u64)>,
    dropped_total: u64,
    closed: bool,
    overflowed: bool,
}

pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    log_cap: usize,
}

/// What the writer gets from [`Outbox::take`].
pub enum Take {
    /// Frames to write, in order.
    Frames(Vec<Frame>),
    /// The outbox was closed and everything queued has been taken.
    Closed,
}

impl Outbox {
    pub fn new(log_cap: usize) -> Arc<Self> {
        Arc::new(Outbox { state: Mutex::new(State::default()), ready: Notify::new(), log_cap })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated in a harmful way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a control frame (response, notification other than a log line).
    pub fn push(&self, frame: Frame) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.control_queued >= CONTROL_LIMIT {
            s.overflowed = true;
            s.closed = true;
            drop(s);
            self.ready.notify_one();
            return;
        }
        s.control_queued += 1;
        s.queue.push_back((false, frame));
        drop(s);
        self.ready.notify_one();
    }

    /// Queues a log line of `session`, or drops and counts it when the client is behind.
    pub fn push_log(&self, session: &str, service: &str, frame: Frame) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.logs_queued >= self.log_cap {
            s.dropped_total += 1;
            s.dropped.entry(session.to_string()).or_insert_with(|| (service.to_string(), 0)).1 += 1;
            return;
        }
        if let Some((service, n)) = s.dropped.remove(session) {
            let f = dropped_frame(session, &service, n);
            s.control_queued += 1;
            s.queue.push_back((false, f));
        }
        s.logs_queued += 1;
        s.queue.push_back((true, frame));
        drop(s);
        self.ready.notify_one();
    }

    /// Closes the outbox: queued frames are still taken, new ones are ignored.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Whether the client fell so far behind on control frames that it was cut off.
    pub fn overflowed(&self) -> bool {
        self.lock().overflowed
    }

    /// Log lines this client lost in total (for the daemon's own log).
    pub fn dropped_total(&self) -> u64 {
        self.lock().dropped_total
    }

    /// Waits for frames and takes up to `max_bytes` of them (at least one).
    pub async fn take(&self, max_bytes: usize) -> Take {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.lock();
                if s.queue.is_empty() && !s.dropped.is_empty() {
                    // The client caught up: tell it what it missed without waiting for another line.
                    let pending = std::mem::take(&mut s.dropped);
                    for (session, (service, n)) in pending {
                        s.control_queued += 1;
                        s.queue.push_back((false, dropped_frame(&session, &service, n)));
                    }
                }
                if !s.queue.is_empty() && !s.overflowed {
                    let mut out = Vec::new();
                    let mut bytes = 0;
                    while let Some((is_log, f)) = s.queue.pop_front() {
                        if is_log {
                            s.logs_queued -= 1;
                        } else {
                            s.control_queued -= 1;
                        }
                        bytes += f.len();
                        out.push(f);
                        if bytes >= max_bytes {
                            break;
                        }
                    }
                    return Take::Frames(out);
                }
                if s.closed {
                    return Take::Closed;
                }
            }
            notified.await;
        }
    }
}

fn dropped_frame(session: &str, service: &str, count: u64) -> Frame {
    let params = wire::LogsDroppedParams { service: service.to_string(), session: session.to_string(), count };
    crate::server::rpc::event_frame(&wire::Event::LogsDropped(params))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn f(s: &str) -> Frame {
        Arc::from(s.as_bytes())
    }

    fn texts(t: Take) -> Vec<String> {
        match t {
            Take::Frames(v) => v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect(),
            Take::Closed => vec!["<closed>".into()],
        }
    }

    #[tokio::test]
    async fn lines_beyond_the_bound_are_counted_and_reported_before_the_next_line() {
        let o = Outbox::new(2);
        for i in 0..5 {
            o.push_log("s1", "web", f(&format!("line{i}")));
        }
        o.push(f("status"));
        let first = texts(o.take(1 << 20).await);
        assert_eq!(first, vec!["line0", "line1", "status"]);
        o.push_log("s1", "web", f("line5"));
        let second = texts(o.take(1 << 20).await);
        assert_eq!(second.len(), 2);
        assert!(second[0].contains("devspaces/logsDropped") && second[0].contains("\"count\":3"), "{second:?}");
        assert_eq!(second[1], "line5");
        assert_eq!(o.dropped_total(), 3);
    }

    #[tokio::test]
    async fn drops_are_reported_once_the_queue_drains_even_without_another_line() {
        let o = Outbox::new(1);
        o.push_log("s1", "web", f("a"));
        o.push_log("s1", "web", f("b"));
        assert_eq!(texts(o.take(1 << 20).await), vec!["a"]);
        let next = texts(o.take(1 << 20).await);
        assert!(next[0].contains("\"count\":1"), "{next:?}");
    }

    #[tokio::test]
    async fn close_lets_the_writer_drain_then_ends() {
        let o = Outbox::new(4);
        o.push(f("x"));
        o.close();
        o.push(f("ignored"));
        assert_eq!(texts(o.take(1 << 20).await), vec!["x"]);
        assert_eq!(texts(o.take(1 << 20).await), vec!["<closed>"]);
    }
}
