//! Messages between the daemon and `devspacesd agent`: typed JSON frames plus raw tar frames.
//!
//! A frame is one kind byte (`0` JSON, `1` binary), a big-endian `u32` length and the payload.
//! The first message on a connection must be [`ToAgent::Hello`] with the session token.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod wire;

/// 2: [`ToAgent::Check`] and [`FromAgent::Done`]'s `held`.
pub const AGENT_PROTOCOL_VERSION: u32 = 2;
pub const FRAME_JSON: u8 = 0;
pub const FRAME_BINARY: u8 = 1;
/// Largest frame either side accepts (a tar batch of many files fits; bigger batches are split).
pub const MAX_FRAME: u32 = 256 * 1024 * 1024;
/// The line the agent prints on stdout once it listens: `DEVSPACES_AGENT_LISTENING <port>`.
pub const LISTENING_BANNER: &str = "DEVSPACES_AGENT_LISTENING";
/// The environment variable that carries the session token to the agent.
pub const TOKEN_ENV: &str = "DEVSPACES_AGENT_TOKEN";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ToAgent {
    Hello {
        token: String,
        version: u32,
        logs_since: Option<u64>,
    },
    /// Followed by one binary frame: a tar of regular files, paths relative to the sync root.
    Files {
        id: u64,
        count: u32,
    },
    Delete {
        id: u64,
        paths: Vec<String>,
    },
    /// Which of these files the root already holds (a new container, whose image was built from
    /// the same files): the answer's `held` gives, for each listed file that is a regular file of
    /// the listed size, its index in `files`, its content's hash and its permission bits. Nothing
    /// changes under the root.
    Check {
        id: u64,
        files: Vec<CheckFile>,
    },
    /// Records the sync state once a sync is complete.
    Commit {
        id: u64,
        state: SyncState,
    },
    /// Stop the app, kill `kill` by name among the agent's descendants, run `build`, start `run`.
    /// An empty `run` means the command the agent was started with. `debug_port`: `run` starts a
    /// debug server on that TCP port; the agent reports [`AppStatus::DebugReady`] once the port
    /// listens, and stops what still listens there when it stops the app (a debug adapter that
    /// left the app's process group). Absent from older daemons: no debugging.
    Restart {
        id: u64,
        kill: Vec<String>,
        build: Vec<Vec<String>>,
        run: Vec<String>,
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        debug_port: Option<u16>,
    },
    Stop {
        id: u64,
    },
    /// Stop the app and exit.
    Shutdown {
        id: u64,
    },
}

/// A file the daemon is about to sync: its path under the root (as a `Files` batch names it) and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckFile {
    pub path: String,
    pub size: u64,
}

/// A file the root already holds: its index in the [`ToAgent::Check`], its BLAKE3 hash (64 hex
/// digits) and its permission bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    pub index: u32,
    pub blake3: String,
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    pub sync_id: String,
    pub last_sync: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    Stdout,
    Stderr,
    Build,
    System,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum FromAgent {
    Welcome {
        version: u32,
        state: Option<SyncState>,
        app_pid: Option<u32>,
        root: String,
    },
    /// The answer to the request with the same `id`; `error` is set when it failed.
    Done {
        id: u64,
        error: Option<String>,
        count: u32,
        /// The answer to a [`ToAgent::Check`]: the listed files the root already holds.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        held: Vec<Held>,
    },
    Log {
        seq: u64,
        stream: Stream,
        line: String,
        time: String,
    },
    Status {
        status: AppStatus,
    },
    /// A request the routing proxy in front of the app passed on (`--route`).
    Trace {
        method: String,
        path: String,
        status: u16,
        /// From the request's head to the answer's head.
        micros: u64,
        /// The answer's `Content-Length` (0 when it had none).
        bytes: u64,
        /// The address the request came from.
        peer: String,
        /// The space whose instance served it (`dev`, or `dev/alice` for a child's).
        served_by: String,
        /// The Service it was sent to.
        service: String,
        /// The routing header's value, when the request had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route_as: Option<String>,
        /// The request's trace and this hop's span in it (boxed: the other messages are small).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<Box<crate::trace_context::TraceLink>>,
        time: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AppStatus {
    Stopping,
    Building {
        command: Vec<String>,
    },
    BuildFailed {
        command: Vec<String>,
        exit_code: Option<i32>,
        last_lines: Vec<String>,
    },
    Started {
        pid: u32,
    },
    /// The app ended by itself (not stopped by the agent).
    Exited {
        exit_code: Option<i32>,
        signal: Option<i32>,
        last_lines: Vec<String>,
    },
    Stopped,
    /// The TCP ports the app's processes listen on changed (the debug port is never among them).
    Listening {
        ports: Vec<u16>,
    },
    /// The debug server of an app started with a `debug_port` listens on it: a debugger may attach.
    DebugReady {
        port: u16,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_camel_case_tags() {
        let m = ToAgent::Restart {
            id: 7,
            kill: vec!["node".into()],
            build: vec![vec!["make".into()]],
            run: vec![],
            env: BTreeMap::new(),
            debug_port: None,
        };
        let text = serde_json::to_string(&m).expect("serialize");
        assert!(text.starts_with(r#"{"type":"restart","id":7"#), "{text}");
        assert!(!text.contains("debugPort"), "{text}");
        assert_eq!(serde_json::from_str::<ToAgent>(&text).expect("parse"), m);
        let debug = ToAgent::Restart {
            id: 8,
            kill: vec![],
            build: vec![],
            run: vec!["python3".into()],
            env: BTreeMap::new(),
            debug_port: Some(5678),
        };
        let text = serde_json::to_string(&debug).expect("serialize");
        assert!(text.contains(r#""debugPort":5678"#), "{text}");
        assert_eq!(serde_json::from_str::<ToAgent>(&text).expect("parse"), debug);
        let ready = FromAgent::Status { status: AppStatus::DebugReady { port: 5678 } };
        assert_eq!(
            serde_json::to_string(&ready).expect("serialize"),
            r#"{"type":"status","status":{"state":"debugReady","port":5678}}"#
        );
        let s = FromAgent::Status {
            status: AppStatus::Exited { exit_code: Some(3), signal: None, last_lines: vec!["boom".into()] },
        };
        let text = serde_json::to_string(&s).expect("serialize");
        assert_eq!(
            text,
            r#"{"type":"status","status":{"state":"exited","exitCode":3,"signal":null,"lastLines":["boom"]}}"#
        );
    }
}
