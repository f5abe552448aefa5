//! The daemon's side of the in-container agent (crate `devspaces-agent`, also run as `devspacesd agent`).

pub mod client;
