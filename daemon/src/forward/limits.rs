//! What a forward allows one client: how many connections, how long to send a request head, how
//! long a silent connection stays; and the process's descriptor limit those connections draw on.

use std::time::Duration;

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// Connections one forward serves at once (each also holds one to the app: two descriptors).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Time a client has to send a whole request head, counted from when the connection starts waiting
/// for one (so it is also the keep-alive idle time).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A passthrough connection whose client has sent nothing, or one of whose directions has ended,
/// is closed after this long without a byte either way.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variables that override the defaults (documented in docs/architecture.md).
pub const MAX_CONNECTIONS_ENV: &str = "DEVSPACES_FORWARD_MAX_CONNECTIONS";
pub const HEADER_SECS_ENV: &str = "DEVSPACES_FORWARD_HEADER_SECS";
pub const IDLE_SECS_ENV: &str = "DEVSPACES_FORWARD_IDLE_SECS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Over it, a new connection closes the oldest idle one, or is closed at once when none is idle.
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: default_max_connections(nofile_limit().map(|(soft, _)| soft)),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// The defaults, overridden by the environment (positive integers; anything else is ignored).
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let positive = |k: &str| var(k).and_then(|v| v.trim().parse::<u64>().ok()).filter(|v| *v > 0);
        let d = Limits::default();
        Limits {
            max_connections: positive(MAX_CONNECTIONS_ENV).map(|v| v as usize).unwrap_or(d.max_connections),
            header_timeout: positive(HEADER_SECS_ENV).map(Duration::from_secs).unwrap_or(d.header_timeout),
            idle_timeout: positive(IDLE_SECS_ENV).map(Duration::from_secs).unwrap_or(d.idle_timeout),
        }
    }
}

/// 1024, or a quarter of a smaller descriptor limit: one forward never takes more than half of them.
fn default_max_connections(soft_nofile: Option<u64>) -> usize {
    match soft_nofile {
        Some(n) if n != RLIM_INFINITY => (n / 4).clamp(16, DEFAULT_MAX_CONNECTIONS as u64) as usize,
        _ => DEFAULT_MAX_CONNECTIONS,
    }
}

/// (soft, hard) limit on open descriptors.
fn nofile_limit() -> Option<(u64, u64)> {
    getrlimit(Resource::RLIMIT_NOFILE).ok()
}

/// Raises the soft limit on open descriptors to the hard limit (the kernel's `nr_open` when the hard
/// limit is unlimited) and returns the soft limit now in force. The usual soft limit, 1024, is what
/// a few hundred idle connections to a forward used up, after which the daemon could not accept
/// its own clients.
pub fn raise_nofile_limit() -> Result<u64, String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit(NOFILE): {e}"))?;
    let want = if hard == RLIM_INFINITY { nr_open().unwrap_or(soft) } else { hard };
    if want <= soft {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, want, hard).map_err(|e| format!("setrlimit(NOFILE, {want}): {e}"))?;
    Ok(want)
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?.trim().parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_descriptor_limit_is_raised_to_the_hard_one() {
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // Lower it first (never below what the other tests of this process may use), then raise it.
        let low = soft.min(hard).clamp(256, 4096);
        if low < hard {
            setrlimit(Resource::RLIMIT_NOFILE, low, hard).unwrap();
            assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0, low);
        }
        let now = raise_nofile_limit().unwrap();
        let (s, h) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(h, hard, "the hard limit is left alone");
        assert_eq!(s, now);
        if hard != RLIM_INFINITY {
            assert_eq!(s, hard);
        }
        // Raising again changes nothing.
        assert_eq!(raise_nofile_limit().unwrap(), now);
    }

    #[test]
    fn the_default_cap_leaves_half_the_descriptors_to_the_rest() {
        assert_eq!(default_max_connections(Some(1 << 20)), 1024);
        assert_eq!(default_max_connections(Some(RLIM_INFINITY)), 1024);
        assert_eq!(default_max_connections(None), 1024);
        assert_eq!(default_max_connections(Some(1024)), 256);
        assert_eq!(default_max_connections(Some(20)), 16);
    }

    #[test]
    fn the_environment_overrides_the_defaults_with_positive_numbers_only() {
        let vars = |k: &str| match k {
            MAX_CONNECTIONS_ENV => Some("7".to_string()),
            HEADER_SECS_ENV => Some("0".to_string()),
            IDLE_SECS_ENV => Some(" 3 ".to_string()),
            _ => None,
        };
        let l = Limits::from_vars(vars);
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.header_timeout, DEFAULT_HEADER_TIMEOUT, "0 is ignored");
        assert_eq!(l.idle_timeout, Duration::from_secs(3));
        let d = Limits::from_vars(|_| Some("many".to_string()));
        assert_eq!(d, Limits::default());
    }
}
