//! Prints session events: `azds up`-style text (coloured on a TTY) or one JSON event per line.

use std::io::{IsTerminal, Write};

use devspacesd::config::ConfigError;
use devspacesd::events::{Event, EventKind, LogStream, Phase, PortState};
use devspacesd::session::human_bytes;
use devspacesd::to_proto;

pub struct Printer {
    json: bool,
    color: bool,
}

const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn new(json: bool) -> Self {
        Printer { json, color: !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn line(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    pub fn config_error(&mut self, e: &ConfigError) {
        if self.json {
            for d in &e.diagnostics {
                let msg = devspaces_protocol::editor::Event::ShowMessage(devspaces_protocol::editor::ShowMessageParams {
                    kind: devspaces_protocol::editor::MessageType::Error,
                    message: d.to_string(),
                });
                self.line(&serde_json::to_string(&msg).unwrap_or_default());
            }
        } else {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
        }
    }

    pub fn dropped(&mut self, n: u64) {
        if !self.json {
            eprintln!("({n} events dropped: the terminal was too slow)");
        }
    }

    pub fn print(&mut self, e: &Event) {
        if self.json {
            if let Some(w) = to_proto::event(e) {
                self.line(&serde_json::to_string(&w).unwrap_or_default());
            }
            return;
        }
        let svc = &e.service;
        match &e.kind {
            EventKind::Log { stream: LogStream::System, line, .. } => self.line(&self.paint(DIM, line)),
            EventKind::Log { stream: LogStream::Build, line, .. } => self.line(&format!("{} {line}", self.paint(CYAN, &format!("{svc} [build]:")))),
            EventKind::Log { stream: LogStream::Stderr, line, .. } => self.line(&format!("{} {}", self.paint(CYAN, &format!("{svc}:")), self.paint(RED, line))),
            EventKind::Log { line, .. } => self.line(&format!("{} {line}", self.paint(CYAN, &format!("{svc}:")))),
            EventKind::PortForward { remote_port, url, state: PortState::Open, .. } => {
                self.line(&format!("Service '{svc}' port {remote_port} (http) is available at {}", self.paint(GREEN, url)))
            }
            EventKind::PortForward { url, state, .. } => self.line(&self.paint(DIM, &format!("Port forward {url} {}", if *state == PortState::Closed { "closed" } else { "reconnecting" }))),
            EventKind::Trace(t) => self.line(&format!(
                "{} {} {} {} {:.1}ms {}",
                self.paint(CYAN, &format!("{svc}:")),
                self.paint(DIM, "->"),
                t.method,
                t.path,
                t.duration_ms,
                self.paint(if t.status >= 400 { RED } else { GREEN }, &format!("{} ({})", t.status, human_bytes(t.bytes)))
            )),
            EventKind::Status { phase: phase @ (Phase::Crashed | Phase::Failed), detail, exit_code, last_lines } => {
                let code = exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
                self.line(&self.paint(RED, &format!("{svc} {}{code}: {detail}", phase.as_str())));
                for l in last_lines.iter().flatten() {
                    self.line(&self.paint(RED, &format!("  | {l}")));
                }
            }
            EventKind::Status { phase, detail, .. } => self.line(&self.paint(DIM, &format!("[{}] {detail}", phase.as_str()))),
            EventKind::Synced { class, files, duration_ms } => {
                let shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
                let more = if files.len() > 3 { format!(" and {} more", files.len() - 3) } else { String::new() };
                self.line(&self.paint(DIM, &format!("Synced {} ({class}) in {duration_ms:.1} ms{more}", shown.join(", "))));
            }
            EventKind::Error { message } => eprintln!("{}", self.paint(RED, &format!("error: {message}"))),
            EventKind::Progress { .. } => {}
        }
    }
}
