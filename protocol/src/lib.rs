//! Wire types: the only crate that derives serde for what crosses a process boundary.

pub mod agent;
pub mod clock;
pub mod editor;
pub mod framing;
pub mod trace_context;
pub mod tunnel;
