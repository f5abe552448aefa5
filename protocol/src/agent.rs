//! Messages between the daemon and `devspacesd agent` (length-prefixed JSON frames).
