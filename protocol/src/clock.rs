//! Wall-clock timestamps as RFC 3339 UTC strings, for logs, traces and sync state.

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// The step timings that `DEVSPACES_TIMINGS` (in the environment of the client that started the
/// session, which the local agent inherits) turns on: a restart's way from the save to the spawn,
/// for the benchmarks' breakdown (`docs/benchmarks.md`). Off, nothing is measured.
pub fn timings_wanted(var: Option<&str>) -> bool {
    var.is_some_and(|v| !v.is_empty() && v != "0")
}

/// Marks on the way of one operation, relative to its start, written as one log line:
/// `timing: <what>@<start, ns since the epoch> <step> +<ms> ...`.
#[derive(Debug, Clone)]
pub struct Steps {
    what: &'static str,
    start: std::time::Instant,
    start_unix_ns: i128,
    marks: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    /// Starts now.
    pub fn start(what: &'static str) -> Self {
        Self::since(what, std::time::Instant::now())
    }

    /// Started at `start` (an instant in the past: the first event of a batch).
    pub fn since(what: &'static str, start: std::time::Instant) -> Self {
        let ago = start.elapsed();
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        Steps { what, start, start_unix_ns: now - ago.as_nanos() as i128, marks: Vec::new() }
    }

    pub fn mark(&mut self, step: &'static str) {
        self.marks.push((step, self.start.elapsed()));
    }

    pub fn line(&self) -> String {
        let mut s = format!("timing: {}@{}", self.what, self.start_unix_ns);
        for (step, at) in &self.marks {
            s.push_str(&format!(" {step} +{:.3}", at.as_secs_f64() * 1000.0));
        }
        s.push_str(" (ms)");
        s
    }
}
