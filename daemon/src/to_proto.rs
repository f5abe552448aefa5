//! Converts core session events into the wire shapes of `devspaces-protocol` (the only place that does).

use devspaces_protocol::editor::{self as wire, Event as WireEvent};

use crate::classify::Class;
use crate::events::{Event, EventKind, LogStream, Phase, PortState};

pub fn class(c: Class) -> wire::ChangeClass {
    match c {
        Class::StaticSync => wire::ChangeClass::StaticSync,
        Class::ProcessRestart => wire::ChangeClass::ProcessRestart,
        Class::Redeploy => wire::ChangeClass::Redeploy,
        Class::Ignored => wire::ChangeClass::Ignored,
    }
}

pub fn phase(p: Phase) -> wire::Phase {
    match p {
        Phase::Syncing => wire::Phase::Syncing,
        Phase::Building => wire::Phase::Building,
        Phase::Deploying => wire::Phase::Deploying,
        Phase::Starting => wire::Phase::Starting,
        Phase::Running => wire::Phase::Running,
        Phase::Restarting => wire::Phase::Restarting,
        Phase::Crashed => wire::Phase::Crashed,
        Phase::Failed => wire::Phase::Failed,
        Phase::Stopped => wire::Phase::Stopped,
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
        }),
        EventKind::PortForward { local_port, remote_port, url, state } => WireEvent::PortForward(wire::PortForwardParams {
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
        }),
        EventKind::Status { phase: p, detail, exit_code, last_lines } => WireEvent::ServiceStatus(wire::ServiceStatusParams {
            service,
            session,
            phase: phase(*p),
            detail: detail.clone(),
            exit_code: *exit_code,
            last_lines: last_lines.clone(),
        }),
        EventKind::Synced { class: c, files, duration_ms } => WireEvent::Synced(wire::SyncedParams {
            service,
            session,
            class: class(*c),
            files: files.clone(),
            duration_ms: duration_ms.round() as u64,
        }),
        EventKind::Error { message } => WireEvent::ShowMessage(wire::ShowMessageParams { kind: wire::MessageType::Error, message: format!("{}: {message}", e.service) }),
        EventKind::Progress { .. } => return None,
    })
}
