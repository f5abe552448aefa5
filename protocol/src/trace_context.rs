//! W3C Trace Context's `traceparent` header: what links the traces of one request across services.
//!
//! Every proxy that records a trace (the developer's localhost forward, the routing proxy in each
//! pod) is one hop of the request: it continues the trace the request names in `traceparent`, or
//! starts one, and passes the request on with its own span as the parent. A service that passes the
//! header on to the calls it makes (ASP.NET Core's `HttpClient` and OpenTelemetry's SDKs do by
//! default) links the traces of the services it calls to its own.

use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

/// The header's name.
pub const HEADER: &str = "traceparent";

/// One hop of a request: its trace, its own span and the span that sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceLink {
    /// 32 lowercase hex digits, shared by every hop of the request.
    pub trace_id: String,
    /// 16 lowercase hex digits naming this hop.
    pub span_id: String,
    /// The span of the hop that sent the request, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

impl TraceLink {
    /// The hop of a request whose `traceparent` is `header`: its trace continued when the header is
    /// valid, a new trace otherwise (absent, malformed, or a version this reader does not know).
    pub fn continue_from(header: Option<&str>) -> (TraceLink, &'static str) {
        match header.and_then(parse) {
            Some((trace_id, parent_id, sampled)) => (
                TraceLink {
                    trace_id: trace_id.to_string(),
                    span_id: random_hex(1),
                    parent_id: Some(parent_id.to_string()),
                },
                if sampled { "01" } else { "00" },
            ),
            None => (TraceLink { trace_id: random_hex(2), span_id: random_hex(1), parent_id: None }, "01"),
        }
    }

    /// The `traceparent` the request goes on with: this hop as the parent of the next.
    pub fn header(&self, flags: &str) -> String {
        format!("00-{}-{}-{flags}", self.trace_id, self.span_id)
    }
}

/// Trace id, parent id and the sampled flag of a `traceparent` (version 00, or a later version's
/// first four fields as the specification asks readers to take them).
fn parse(h: &str) -> Option<(&str, &str, bool)> {
    let h = h.trim();
    let mut parts = h.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let ok = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(parent, 16)
        && parent.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    ok.then_some((trace, parent, sampled))
}

/// `words` random 64-bit words as lowercase hex (never all zero). Ids only need to be unlikely to
/// collide, not secret: the standard library's per-process random hash keys, mixed with a counter
/// and the clock, are enough.
fn random_hex(words: usize) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut out = String::with_capacity(words * 16);
    for _ in 0..words {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        out.push_str(&format!("{:016x}", h.finish().max(1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_continued_with_a_new_span() {
        let (link, flags) = TraceLink::continue_from(Some(SENT));
        assert_eq!(link.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(link.parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(link.span_id, "00f067aa0ba902b7");
        assert_eq!(link.span_id.len(), 16);
        let next = link.header(flags);
        assert_eq!(next, format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", link.span_id));
        // The next hop continues from this one.
        let (after, _) = TraceLink::continue_from(Some(&next));
        assert_eq!((after.trace_id, after.parent_id), (link.trace_id, Some(link.span_id)));
    }

    #[test]
    fn anything_else_starts_a_trace() {
        for bad in [
            None,
            Some(""),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        ] {
            let (link, flags) = TraceLink::continue_from(bad);
            assert_eq!((link.parent_id, flags), (None, "01"), "{bad:?}");
            assert_eq!(link.trace_id.len(), 32);
            assert!(link.trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields_and_unsampled_stays_unsampled() {
        let (link, flags) =
            TraceLink::continue_from(Some("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes"));
        assert_eq!((link.parent_id.as_deref(), flags), (Some("00f067aa0ba902b7"), "00"));
    }

    #[test]
    fn ids_differ() {
        let a: std::collections::HashSet<String> = (0..1000).map(|_| random_hex(1)).collect();
        assert_eq!(a.len(), 1000);
    }
}
