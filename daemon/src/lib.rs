//! devspacesd: configuration, classification, sync, the agent and the local backend.
#![warn(clippy::unwrap_used)]

pub mod agent;
pub mod backend;
pub mod classify;
pub mod clock;
pub mod config;
pub mod dockerfile;
pub mod events;
pub mod kube;
pub mod patterns;
pub mod proxy;
pub mod record;
pub mod server;
pub mod session;
pub mod sync;
pub mod synclog;
pub mod to_proto;
pub mod watch;
pub mod yaml;
