//! `devspacesd agent`: the seed's devhostagent. Receives files, supervises and restarts the app.

pub mod client;
pub mod fs;
pub mod procs;
mod server;
pub mod supervise;

pub use server::{run, AgentOptions};
