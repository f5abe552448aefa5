//! devspacesd: configuration, classification, sync, the agent and the local backend.
#![warn(clippy::unwrap_used)]

pub mod classify;
pub mod config;
pub mod patterns;
pub mod yaml;
