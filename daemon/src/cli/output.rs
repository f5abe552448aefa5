//! Prints session events: `azds up`-style text (coloured on a TTY) or one JSON event per line.

use std::io::{IsTerminal, Write};

use devspaces_protocol::editor as wire;
use devspacesd::config::ConfigError;
use devspacesd::events::Event;
use devspacesd::server::to_proto;
use devspacesd::session::human_bytes;

pub struct Printer {
    json: bool,
    color: bool,
    /// Several services share the terminal: statuses name their service, each its own colour.
    many: bool,
}

const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn new(json: bool) -> Self {
        Printer {
            json,
            color: !json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            many: false,
        }
    }

    pub fn set_many(&mut self, many: bool) {
        self.many = many;
    }

    /// A service's colour: one of five, the same for a name in every run.
    fn service_color(&self, service: &str) -> &'static str {
        if !self.many {
            return CYAN;
        }
        const COLORS: [&str; 5] = [CYAN, "\x1b[35m", "\x1b[33m", "\x1b[34m", GREEN];
        COLORS[service.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize)) % COLORS.len()]
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// In a terminal shared by several services, `text` after its service's name in its colour.
    fn tagged(&self, service: &str, text: String) -> String {
        if self.many {
            format!("{} {text}", self.paint(self.service_color(service), service))
        } else {
            text
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
                let msg = wire::Event::ShowMessage(wire::ShowMessageParams {
                    kind: wire::MessageType::Error,
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

    /// Prints a core event (the in-process session) as its wire form.
    pub fn print(&mut self, e: &Event) {
        if let Some(w) = to_proto::event(e) {
            self.print_wire(&w);
        }
    }

    /// Config errors the daemon returned as one message, one diagnostic per line.
    pub fn config_error_lines(&mut self, message: &str) {
        for line in message.lines().filter(|l| !l.trim().is_empty()) {
            if self.json {
                let msg = wire::Event::ShowMessage(wire::ShowMessageParams {
                    kind: wire::MessageType::Error,
                    message: line.to_string(),
                });
                self.line(&serde_json::to_string(&msg).unwrap_or_default());
            } else {
                eprintln!("{line}");
            }
        }
    }

    /// Prints one wire event: the JSON line for `--json`, else `azds up`-style text.
    pub fn print_wire(&mut self, e: &wire::Event) {
        if self.json {
            self.line(&serde_json::to_string(e).unwrap_or_default());
            return;
        }
        match e {
            wire::Event::Log(l) => {
                let svc = &l.service;
                let line = &l.line;
                let color = self.service_color(svc);
                match l.stream {
                    wire::LogStream::System => self.line(&self.tagged(svc, self.paint(DIM, line))),
                    wire::LogStream::Build => {
                        self.line(&format!("{} {line}", self.paint(color, &format!("{svc} [build]:"))))
                    }
                    wire::LogStream::Stderr => {
                        self.line(&format!("{} {}", self.paint(color, &format!("{svc}:")), self.paint(RED, line)))
                    }
                    wire::LogStream::Stdout => self.line(&format!("{} {line}", self.paint(color, &format!("{svc}:")))),
                }
            }
            wire::Event::PortForward(f) if f.state == wire::PortState::Open => self.line(&self.tagged(
                &f.service,
                format!(
                    "Service '{}' port {} (http) is available at {}",
                    f.service,
                    f.remote_port,
                    self.paint(GREEN, &f.url)
                ),
            )),
            wire::Event::PortForward(f) => {
                let word = if f.state == wire::PortState::Closed { "closed" } else { "reconnecting" };
                self.line(&self.tagged(&f.service, self.paint(DIM, &format!("Port forward {} {word}", f.url))))
            }
            wire::Event::Trace(t) => {
                let (from, via) = trace_parts(t);
                self.line(&format!(
                    "{} {} {} {} {}ms {}{}",
                    self.paint(CYAN, &format!("{}:", t.service)),
                    self.paint(DIM, &format!("{from}->")),
                    t.method,
                    t.path,
                    t.duration_ms,
                    self.paint(
                        if t.status >= 400 { RED } else { GREEN },
                        &format!("{} ({})", t.status, human_bytes(t.bytes))
                    ),
                    self.paint(DIM, &via)
                ))
            }
            wire::Event::ServiceStatus(s) if matches!(s.phase, wire::Phase::Crashed | wire::Phase::Failed) => {
                let code = s.exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
                let phase = if s.phase == wire::Phase::Crashed { "crashed" } else { "failed" };
                self.line(&self.paint(RED, &format!("{} {phase}{code}: {}", s.service, s.detail)));
                for l in s.last_lines.iter().flatten() {
                    self.line(&self.paint(RED, &format!("  | {l}")));
                }
            }
            wire::Event::ServiceStatus(s) => {
                let phase =
                    serde_json::to_value(s.phase).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                self.line(&self.tagged(&s.service, self.paint(DIM, &format!("[{phase}] {}", s.detail))))
            }
            wire::Event::Synced(s) => {
                let shown: Vec<&str> = s.files.iter().take(3).map(String::as_str).collect();
                let more = if s.files.len() > 3 { format!(" and {} more", s.files.len() - 3) } else { String::new() };
                let class =
                    serde_json::to_value(s.class).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                let text = format!("Synced {} ({class}) in {} ms{more}", shown.join(", "), s.duration_ms);
                self.line(&self.tagged(&s.service, self.paint(DIM, &text)));
            }
            wire::Event::LogsDropped(d) => {
                eprintln!("({} log lines of {} dropped: the terminal was too slow)", d.count, d.service)
            }
            wire::Event::ShowMessage(m) => eprintln!("{}", self.paint(RED, &format!("error: {}", m.message))),
            wire::Event::DebugReady(d) => {
                let server = match d.adapter {
                    wire::DebugAdapter::Python => "python, debugpy",
                    wire::DebugAdapter::Node => "node, inspector",
                    wire::DebugAdapter::Go => "go, delve",
                    wire::DebugAdapter::Dotnet => "dotnet, netcoredbg",
                    wire::DebugAdapter::Java => "java, jdwp",
                };
                let mappings: Vec<String> =
                    d.path_mappings.iter().map(|m| format!("{} -> {}", m.local_root, m.remote_root)).collect();
                let again = if d.restarts > 0 { format!(" (restart {})", d.restarts) } else { String::new() };
                let text = format!(
                    "Debugger ({server}) ready on {}{again}; path mapping {}",
                    self.paint(GREEN, &format!("{}:{}", d.host, d.port)),
                    mappings.join(", ")
                );
                self.line(&self.tagged(&d.service, text));
            }
        }
    }
}

/// A trace's caller (`api `, before the arrow) and, for a request a routing proxy in the cluster
/// passed on, where it went and the request's trace (` [served by dev/alice, azds-route-as: alice,
/// trace 4bf92f35]`: every hop of one request shows the same); both empty for a request through
/// the localhost forward.
fn trace_parts(t: &wire::TraceParams) -> (String, String) {
    let Some(r) = &t.routed else { return (String::new(), String::new()) };
    let route = r.route_as.as_ref().map(|a| format!(", azds-route-as: {a}")).unwrap_or_default();
    let trace = t.link.as_ref().map(|l| format!(", trace {}", l.trace_id.get(..8).unwrap_or(&l.trace_id)));
    (format!("{} ", r.source), format!(" [served by {}{route}{}]", r.served_by, trace.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_routed_trace_names_its_caller_and_the_space_that_served_it() {
        let mut t = wire::TraceParams {
            service: "data".into(),
            session: "s1".into(),
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            duration_ms: 1,
            bytes: 35,
            time: "2026-01-01T00:00:00Z".into(),
            routed: None,
            link: None,
        };
        assert_eq!(trace_parts(&t), (String::new(), String::new()));
        t.routed = Some(wire::Routed { served_by: "dev".into(), source: "api".into(), route_as: None });
        assert_eq!(trace_parts(&t), ("api ".into(), " [served by dev]".into()));
        t.routed = Some(wire::Routed {
            served_by: "dev/alice".into(),
            source: "api.dev".into(),
            route_as: Some("alice".into()),
        });
        assert_eq!(trace_parts(&t), ("api.dev ".into(), " [served by dev/alice, azds-route-as: alice]".into()));
        t.link = Some(devspaces_protocol::trace_context::TraceLink {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_id: None,
        });
        let with_trace = " [served by dev/alice, azds-route-as: alice, trace 4bf92f35]";
        assert_eq!(trace_parts(&t), ("api.dev ".into(), with_trace.into()));
    }
}
