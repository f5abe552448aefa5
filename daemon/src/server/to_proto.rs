//! Converts core session events into the wire shapes of `devspaces-protocol` (the only place that does).

use devspaces_protocol::editor::{self as wire, Event as WireEvent};

use crate::backend::BackendKind;
use crate::classify::Class;
use crate::events::{Event, EventKind, LogStream, PortState};

pub fn class(c: Class) -> wire::ChangeClass {
    match c {
        Class::StaticSync => wire::ChangeClass::StaticSync,
        Class::ProcessRestart => wire::ChangeClass::ProcessRestart,
        Class::Redeploy => wire::ChangeClass::Redeploy,
        Class::Ignored => wire::ChangeClass::Ignored,
    }
}

pub fn backend(b: BackendKind) -> wire::Backend {
    match b {
        BackendKind::Local => wire::Backend::Local,
        BackendKind::Kubernetes => wire::Backend::Kubernetes,
        BackendKind::Container => wire::Backend::Container,
    }
}

/// The wire event for a core event; progress has no event form (it travels as `$/progress`).
pub fn event(e: &Event) -> Option<WireEvent> {
    let (service, session) = (e.service.clone(), e.session.clone());
    Some(match &e.kind {
        EventKind::Log { stream, line, time } => WireEvent::Log(wire::LogParams {
            service,
            session,
            stream: match stream {
                LogStream::Stdout => wire::LogStream::Stdout,
                LogStream::Stderr => wire::LogStream::Stderr,
                LogStream::Build => wire::LogStream::Build,
                LogStream::System => wire::LogStream::System,
            },
            line: line.clone(),
            time: time.clone(),
        }),
        EventKind::Trace(t) => WireEvent::Trace(wire::TraceParams {
            service,
            session,
            method: t.method.clone(),
            path: t.path.clone(),
            status: t.status,
            duration_ms: t.duration_ms.round() as u64,
            bytes: t.bytes,
            time: t.time.clone(),
            routed: t.routed.clone(),
            link: t.link.clone(),
        }),
        EventKind::PortForward { local_port, remote_port, url, state } => {
            WireEvent::PortForward(wire::PortForwardParams {
                service,
                session,
                local_port: *local_port,
                remote_port: *remote_port,
                url: url.clone(),
                state: match state {
                    PortState::Open => wire::PortState::Open,
                    PortState::Reconnecting => wire::PortState::Reconnecting,
                    PortState::Closed => wire::PortState::Closed,
                },
            })
        }
        EventKind::Status { phase: p, detail, exit_code, last_lines } => {
            WireEvent::ServiceStatus(wire::ServiceStatusParams {
                service,
                session,
                phase: *p,
                detail: detail.clone(),
                exit_code: *exit_code,
                last_lines: last_lines.clone(),
            })
        }
        EventKind::Synced { class: c, files, duration_ms } => WireEvent::Synced(wire::SyncedParams {
            service,
            session,
            class: class(*c),
            files: files.clone(),
            duration_ms: duration_ms.round() as u64,
        }),
        EventKind::Error { message } => WireEvent::ShowMessage(wire::ShowMessageParams {
            kind: wire::MessageType::Error,
            message: format!("{}: {message}", e.service),
        }),
        EventKind::DebugReady { host, port, remote_port, adapter, local_root, remote_root, restarts } => {
            WireEvent::DebugReady(wire::DebugReadyParams {
                service,
                session,
                host: host.clone(),
                port: *port,
                remote_port: *remote_port,
                adapter: *adapter,
                path_mappings: vec![wire::PathMapping {
                    local_root: local_root.clone(),
                    remote_root: remote_root.clone(),
                }],
                restarts: *restarts,
            })
        }
        EventKind::Progress { .. } => return None,
    })
}

/// What a core progress event reports, from the word after the service name in its title
/// (`"webfrontend: build"`); sync when the title names nothing else.
pub fn progress_kind(title: &str) -> wire::ProgressKind {
    match title.rsplit(": ").next().map(str::trim) {
        Some("build") => wire::ProgressKind::Build,
        Some("deploy") => wire::ProgressKind::Deploy,
        _ => wire::ProgressKind::Sync,
    }
}

/// One step of a core progress event as LSP work-done progress values (`begin`, `report`, `end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStage {
    Begin,
    Report,
    End,
}

/// The `value` of a `$/progress` notification for a core `Progress` event at `stage`.
pub fn work_done(stage: ProgressStage, e: &Event) -> Option<serde_json::Value> {
    let EventKind::Progress { title, message, percentage, .. } = &e.kind else { return None };
    let mut v = match stage {
        ProgressStage::Begin => {
            serde_json::json!({"kind": "begin", "title": title, "cancellable": false, "message": message})
        }
        ProgressStage::Report => serde_json::json!({"kind": "report", "message": message}),
        ProgressStage::End => return Some(serde_json::json!({"kind": "end", "message": message})),
    };
    if let Some(p) = percentage {
        v["percentage"] = serde_json::json!((*p).min(100));
    }
    Some(v)
}

/// A configuration diagnostic as an LSP `Diagnostic`: 0-based lines and UTF-16 columns of `text`
/// (core positions are 1-based, columns in characters, end exclusive).
pub fn diagnostic(d: &crate::config::Diagnostic, text: &str) -> serde_json::Value {
    let lines: Vec<&str> = text.split('\n').collect();
    let pos = |p: crate::config::yaml::Pos| {
        let line = p.line.saturating_sub(1);
        let chars = p.col.saturating_sub(1);
        let character: usize =
            lines.get(line).map(|l| l.chars().take(chars).map(char::len_utf16).sum()).unwrap_or(chars);
        serde_json::json!({"line": line, "character": character})
    };
    let severity = match d.severity {
        crate::config::Severity::Error => 1,
        crate::config::Severity::Warning => 2,
    };
    serde_json::json!({
        "range": {"start": pos(d.range.start), "end": pos(d.range.end)},
        "severity": severity,
        "source": "devspaces",
        "message": d.message,
    })
}

/// Where a configuration error is, for `data.location` of an `INVALID_CONFIG` error: the first
/// error (else the first diagnostic), 1-based as the core counts.
pub fn config_location(e: &crate::config::ConfigError) -> Option<wire::ConfigLocation> {
    let d = e.diagnostics.iter().find(|d| d.severity == crate::config::Severity::Error).or(e.diagnostics.first())?;
    Some(wire::ConfigLocation {
        file: d.file.display().to_string(),
        line: d.range.start.line as u32,
        column: d.range.start.col as u32,
    })
}
