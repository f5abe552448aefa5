//! The process's descriptor limit, which every forwarded connection draws on.

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

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
}
