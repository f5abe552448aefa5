//! devspacesd: configuration, classification, sync, the agent and the local backend.
#![warn(clippy::unwrap_used)]

pub mod agent;
pub mod classify;
pub mod clock;
pub mod config;
pub mod patterns;
pub mod yaml;
pub mod dockerfile;
pub mod proxy;
pub mod sync;
pub mod synclog;
pub mod watch;
pub mod backend;
pub mod events;
pub mod record;
pub mod server;
pub mod session;
pub mod to_proto;
pub mod kube;
