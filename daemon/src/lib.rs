//! devspacesd: configuration, classification, sync, the agent's client and the backends.
#![warn(clippy::unwrap_used)]

pub mod agent;
pub mod backend;
pub mod classify;
pub mod config;
pub mod events;
pub mod forward;
pub mod prep;
pub mod server;
pub mod session;
pub mod sync;
pub mod watch;
