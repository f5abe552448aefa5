//! The session's decisions as a pure state machine: an input in (a batch's plan, an agent status, a
//! deploy's result, a request), the actions to take out. No I/O and no clock: the runner
//! (`runner.rs`) carries the actions out and feeds their results back as inputs.

use devspaces_protocol::agent::AppStatus;

use crate::backend::Capabilities;
use crate::classify::{Class, Plan};
use crate::events::Phase;

/// An exit code and the app's last lines, for a status that reports a failure.
pub type Exit = (Option<i32>, Vec<String>);

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A batch of changed paths, classified.
    Batch(Plan),
    /// azds.yaml and the ignore files were read again for a redeploy (`Err`: the message).
    Reloaded(Result<(), String>),
    /// A batch's files were synced; `changed`: something was sent or deleted; `had_paths`: the
    /// batch named files to sync at all.
    Synced {
        class: Class,
        changed: bool,
        had_paths: bool,
        reason: String,
    },
    SyncFailed(String),
    /// A deploy ended: `Ok` with the pid of an app the new agent already runs (a pod starts its
    /// command at once), `Err` with the message.
    Deployed {
        generation: u64,
        result: Result<Option<u32>, String>,
    },
    /// A status from the current agent.
    Agent(AppStatus),
    /// The current agent's connection ended.
    AgentGone(String),
    /// A restart request to the agent ended (`Ok` once the app started).
    RestartDone {
        generation: u64,
        result: Result<(), String>,
    },
    /// A backend reported a phase while it works (building an image, a pod failing later).
    BackendStatus {
        phase: Phase,
        detail: String,
    },
    RestartRequested,
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Status {
        phase: Phase,
        detail: String,
        exit: Option<Exit>,
    },
    /// A `system` log line.
    Log(String),
    /// A message the user should see (a configuration error, a crash).
    Error(String),
    /// Read the configuration again, then answer `Reloaded`.
    Reload,
    /// Sync the plan's files to the agent, then answer `Synced` (or `SyncFailed`).
    Sync(Plan),
    /// Start deploy `generation` as a task, letting the current agent go first (and asking it to
    /// stop the app when `stop_previous`); answer `Deployed`.
    Deploy {
        generation: u64,
        fresh: bool,
        stop_previous: bool,
    },
    /// Start deploy `generation` as a task that only connects to the agent of the pod that replaced
    /// the lost one (`Backend::agent_lost`, then a deploy): no build, no install; answer `Deployed`.
    Reattach {
        generation: u64,
    },
    /// Cancel the deploy in flight and wait until it has stopped (its builds and helm runs end).
    CancelDeploy,
    /// Ask the agent to restart the app, in a task; answer `RestartDone`.
    Restart {
        generation: u64,
        why: String,
    },
    /// Compare the whole workspace with the synclog (changes made while a deploy ran).
    Rescan,
    /// The build's work-done progress: opens with the command, closes with the outcome.
    BuildProgress {
        open: bool,
        message: String,
    },
    /// The forwards follow the ports the app listens on.
    Reconcile(Vec<u16>),
    /// The app's debug server listens on this port: forward it and tell the editors.
    DebugReady(u16),
    /// The forwards wait for a new target (a redeploy is under way).
    ForwardsReconnecting,
    /// Write the session record (the forwards changed).
    SaveRecord,
    /// Stop the agent and the backend, close the forwards, end the session.
    Shutdown,
}

/// Where the session is; the phase alone is what editors see.
#[derive(Debug)]
pub struct Machine {
    phase: Phase,
    /// What the backend can do (`serves_during_redeploy`, `replaces_lost_agent`).
    caps: Capabilities,
    /// The generation of the latest deploy; results of older ones are stale.
    generation: u64,
    deploying: bool,
    /// An agent is connected and current.
    agent: bool,
    /// Files changed while a deploy ran: compare the tree with the synclog once it is up.
    rescan_after_deploy: bool,
    /// A restart request is with the agent; at most one more waits (the latest reason wins).
    restart_running: bool,
    restart_waiting: Option<String>,
    /// The app crashed or its build failed: the next change restarts it.
    app_down: bool,
    app_pid: Option<u32>,
    /// The app the agent started by itself before the session connected; the first restart
    /// replaces it, so its replayed `started` is not ours.
    superseded_pid: Option<u32>,
    building: bool,
    stopped: bool,
    /// The develop Dockerfile and its `RUN` steps when the backend does not run them (local): a
    /// crash for something they install is said with the step.
    unrun_steps: Option<(String, Vec<(usize, String)>)>,
}

impl Machine {
    /// The backend does not run the develop Dockerfile's `RUN` steps (`dockerfile`, `steps`).
    pub fn set_unrun_steps(&mut self, dockerfile: String, steps: Vec<(usize, String)>) {
        self.unrun_steps = (!steps.is_empty()).then_some((dockerfile, steps));
    }

    pub fn new(caps: Capabilities) -> Self {
        Machine {
            phase: Phase::Deploying,
            caps,
            generation: 0,
            deploying: false,
            agent: false,
            rescan_after_deploy: false,
            restart_running: false,
            restart_waiting: None,
            app_down: false,
            app_pid: None,
            superseded_pid: None,
            unrun_steps: None,
            building: false,
            stopped: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// A build's output lines are progress reports while this is true.
    pub fn building(&self) -> bool {
        self.building
    }

    pub fn deploying(&self) -> bool {
        self.deploying
    }

    /// The first deploy of the session.
    pub fn start(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.deploy(false, "starting the agent", &mut out);
        out
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        if self.stopped {
            return out;
        }
        match input {
            Input::Batch(plan) => self.batch(plan, &mut out),
            Input::Reloaded(Ok(())) => self.deploy(true, "redeploying: fresh container root", &mut out),
            Input::Reloaded(Err(msg)) => {
                out.push(Action::Log(msg.clone()));
                out.push(Action::Error(msg.clone()));
                self.status(
                    Phase::Failed,
                    format!("configuration error; fix it and save again:\n{msg}"),
                    None,
                    &mut out,
                );
            }
            Input::Synced { class, changed, had_paths, reason } => {
                // Nothing changed remotely: no restart, unless the app is down and waits for any change.
                let wakes_a_down_app = self.app_down && had_paths;
                if (changed || wakes_a_down_app) && (class == Class::ProcessRestart || self.app_down) {
                    self.restart(format!("{reason} changed"), &mut out);
                }
            }
            Input::SyncFailed(e) => out.push(Action::Error(format!("sync failed: {e}"))),
            Input::Deployed { generation, .. } if generation != self.generation => {}
            Input::Deployed { result, .. } => {
                self.deploying = false;
                match result {
                    Ok(running) => {
                        self.agent = true;
                        self.app_pid = None;
                        self.app_down = false;
                        self.superseded_pid = running;
                        self.restart("starting".to_string(), &mut out);
                        if std::mem::take(&mut self.rescan_after_deploy) {
                            out.push(Action::Rescan);
                        }
                    }
                    Err(msg) => {
                        self.agent = false;
                        out.push(Action::Log(msg.clone()));
                        out.push(Action::Error(msg.clone()));
                        self.status(Phase::Failed, msg, None, &mut out);
                    }
                }
            }
            Input::Agent(status) => self.agent_status(status, &mut out),
            Input::AgentGone(_) if !self.agent || self.stopped => {}
            // The pod went away (deleted, evicted, its container restarted): its replacement comes by
            // itself, so the session waits for it, forwards reconnecting, and syncs into it.
            Input::AgentGone(reason) if self.caps.replaces_lost_agent => {
                out.push(Action::Log(format!(
                    "the agent's connection ended ({reason}); waiting for its pod's replacement"
                )));
                self.deploy_as(None, "waiting for the pod's replacement", &mut out);
            }
            Input::AgentGone(reason) => {
                self.agent = false;
                self.restart_running = false;
                self.restart_waiting = None;
                self.building = false;
                let detail = format!("the agent stopped: {reason}; the next change redeploys");
                self.status(Phase::Failed, detail, None, &mut out);
            }
            Input::RestartDone { generation, .. } if generation != self.generation => {}
            Input::RestartDone { result, .. } => {
                self.restart_running = false;
                if let Err(e) = result {
                    // The agent already reported the failure as a status with its output.
                    self.app_down = true;
                    out.push(Action::Log(e));
                }
                if let Some(why) = self.restart_waiting.take() {
                    self.restart(why, &mut out);
                }
            }
            Input::BackendStatus { phase, detail } => self.status(phase, detail, None, &mut out),
            Input::RestartRequested => self.restart("restart requested".to_string(), &mut out),
            Input::Stop => {
                self.stopped = true;
                if self.deploying {
                    self.deploying = false;
                    out.push(Action::CancelDeploy);
                }
                out.push(Action::Shutdown);
                self.phase = Phase::Stopped;
            }
        }
        out
    }

    fn status(&mut self, phase: Phase, detail: String, exit: Option<Exit>, out: &mut Vec<Action>) {
        self.phase = phase;
        out.push(Action::Status { phase, detail, exit });
    }

    fn batch(&mut self, plan: Plan, out: &mut Vec<Action>) {
        let Some(class) = plan.class else { return };
        if class == Class::Redeploy || (!self.agent && !self.deploying) {
            let reason = plan.reason.map(|(p, r)| format!("{p} ({r})")).unwrap_or_default();
            out.push(Action::Log(format!("redeploying: {reason}")));
            out.push(Action::Reload);
        } else if self.deploying {
            // The deploy's own sync may have read the tree before this change.
            self.rescan_after_deploy = true;
        } else {
            out.push(Action::Sync(plan));
        }
    }

    /// A new deploy; one in flight is cancelled first (a newer change wins).
    fn deploy(&mut self, fresh: bool, detail: &str, out: &mut Vec<Action>) {
        self.deploy_as(Some(fresh), detail, out)
    }

    /// A deploy (`Some(fresh)`), or a reattach to a lost agent's replacement (`None`).
    fn deploy_as(&mut self, fresh: Option<bool>, detail: &str, out: &mut Vec<Action>) {
        if self.deploying {
            out.push(Action::CancelDeploy);
        }
        let stop_previous = self.agent && !self.caps.serves_during_redeploy;
        if self.agent || fresh == Some(true) {
            out.push(Action::ForwardsReconnecting);
        }
        self.agent = false;
        self.deploying = true;
        self.generation += 1;
        self.rescan_after_deploy = false;
        self.restart_running = false;
        self.restart_waiting = None;
        self.building = false;
        self.status(Phase::Deploying, detail.to_string(), None, out);
        out.push(match fresh {
            Some(fresh) => Action::Deploy { generation: self.generation, fresh, stop_previous },
            None => Action::Reattach { generation: self.generation },
        });
    }

    /// One restart runs at a time; while it does, the latest request waits.
    fn restart(&mut self, why: String, out: &mut Vec<Action>) {
        if !self.agent {
            return;
        }
        if self.restart_running {
            self.restart_waiting = Some(why);
            return;
        }
        self.restart_running = true;
        let phase = if why == "starting" { Phase::Starting } else { Phase::Restarting };
        self.status(phase, why.clone(), None, out);
        out.push(Action::Restart { generation: self.generation, why });
    }

    fn agent_status(&mut self, status: AppStatus, out: &mut Vec<Action>) {
        if !self.agent {
            return;
        }
        match status {
            AppStatus::Started { .. } | AppStatus::BuildFailed { .. } | AppStatus::Exited { .. } if self.building => {
                self.building = false;
                let ok = matches!(status, AppStatus::Started { .. });
                out.push(Action::BuildProgress { open: false, message: if ok { "built" } else { "failed" }.into() });
                self.agent_status(status, out);
            }
            AppStatus::Building { command } => {
                let command = command.join(" ");
                if !self.building {
                    self.building = true;
                    out.push(Action::BuildProgress { open: true, message: command.clone() });
                }
                self.status(Phase::Building, format!("running {command}"), None, out);
            }
            AppStatus::BuildFailed { command, exit_code, last_lines } => {
                self.app_down = true;
                let msg = format!(
                    "build command '{}' failed with exit code {}; the app stays stopped until the next change",
                    command.join(" "),
                    exit_code.unwrap_or(-1)
                );
                out.push(Action::Error(msg.clone()));
                self.status(Phase::Failed, msg, Some((exit_code, last_lines)), out);
            }
            AppStatus::Started { pid } if Some(pid) == self.superseded_pid => {}
            AppStatus::Started { pid } => {
                self.superseded_pid = None;
                self.app_down = false;
                self.app_pid = Some(pid);
                self.status(Phase::Starting, format!("pid {pid}"), None, out);
            }
            AppStatus::Exited { exit_code, signal, last_lines } => {
                self.app_down = true;
                let how = match (exit_code, signal) {
                    (Some(c), _) => format!("exit code {c}"),
                    (None, Some(s)) => format!("signal {s}"),
                    _ => "an unknown status".to_string(),
                };
                let mut msg = format!("the app exited with {how}; the next change restarts it");
                if let Some(hint) = super::debug::missing_debugger(&last_lines) {
                    msg.push_str("; ");
                    msg.push_str(&hint);
                } else if let Some((df, steps)) = &self.unrun_steps {
                    if let Some(hint) = crate::backend::dockerfile::missing_from_run_steps(&last_lines, df, steps) {
                        msg.push_str("; ");
                        msg.push_str(&hint);
                    }
                }
                out.push(Action::Error(msg.clone()));
                self.status(Phase::Crashed, msg, Some((exit_code, last_lines)), out);
            }
            AppStatus::Listening { ports } => {
                out.push(Action::Reconcile(ports));
                // Running means serving: the app listens (or, for a worker, settled without ports).
                match (self.app_pid, self.phase) {
                    (Some(pid), Phase::Starting | Phase::Restarting) => {
                        self.status(Phase::Running, format!("pid {pid}"), None, out)
                    }
                    _ => out.push(Action::SaveRecord),
                }
            }
            AppStatus::DebugReady { port } => out.push(Action::DebugReady(port)),
            AppStatus::Stopping | AppStatus::Stopped => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(class: Class, path: &str) -> Plan {
        Plan {
            sync: if class == Class::Redeploy { vec![] } else { vec![path.to_string()] },
            ignored: vec![],
            class: Some(class),
            reason: Some((path.to_string(), "rule".to_string())),
        }
    }

    fn phases(actions: &[Action]) -> Vec<Phase> {
        actions.iter().filter_map(|a| if let Action::Status { phase, .. } = a { Some(*phase) } else { None }).collect()
    }

    fn running() -> Machine {
        running_on(Capabilities::default())
    }

    fn running_on(caps: Capabilities) -> Machine {
        let mut m = Machine::new(caps);
        let first = m.start();
        assert!(first.contains(&Action::Deploy { generation: 1, fresh: false, stop_previous: false }));
        let a = m.step(Input::Deployed { generation: 1, result: Ok(None) });
        assert_eq!(a.last(), Some(&Action::Restart { generation: 1, why: "starting".into() }));
        m.step(Input::RestartDone { generation: 1, result: Ok(()) });
        m.step(Input::Agent(AppStatus::Started { pid: 10 }));
        m.step(Input::Agent(AppStatus::Listening { ports: vec![8000] }));
        assert_eq!(m.phase(), Phase::Running);
        m
    }

    #[test]
    fn restarts_are_coalesced_one_running_one_waiting() {
        let mut m = running();
        let synced = |r: &str| Input::Synced {
            class: Class::ProcessRestart,
            changed: true,
            had_paths: true,
            reason: r.to_string(),
        };
        let a = m.step(synced("a.py"));
        assert!(a.contains(&Action::Restart { generation: 1, why: "a.py changed".into() }));
        assert!(!m.step(synced("b.py")).iter().any(|a| matches!(a, Action::Restart { .. })));
        assert!(!m.step(synced("c.py")).iter().any(|a| matches!(a, Action::Restart { .. })));
        let a = m.step(Input::RestartDone { generation: 1, result: Ok(()) });
        assert_eq!(a.last(), Some(&Action::Restart { generation: 1, why: "c.py changed".into() }));
        assert!(m.step(Input::RestartDone { generation: 1, result: Ok(()) }).is_empty());
    }

    #[test]
    fn a_redeploy_reloads_then_deploys_fresh_and_stops_the_old_app_first() {
        let mut m = running();
        assert_eq!(m.step(Input::Batch(plan(Class::Redeploy, "Dockerfile")))[1], Action::Reload);
        let a = m.step(Input::Reloaded(Ok(())));
        assert!(a.contains(&Action::ForwardsReconnecting));
        assert_eq!(a.last(), Some(&Action::Deploy { generation: 2, fresh: true, stop_previous: true }));
        assert_eq!(phases(&a), vec![Phase::Deploying]);
        // A status of the agent that was let go changes nothing.
        assert!(m
            .step(Input::Agent(AppStatus::Exited { exit_code: Some(1), signal: None, last_lines: vec![] }))
            .is_empty());
    }

    #[test]
    fn a_pod_backend_keeps_the_old_app_serving_during_a_redeploy() {
        let mut m = Machine::new(Capabilities { serves_during_redeploy: true, ..Default::default() });
        m.start();
        m.step(Input::Deployed { generation: 1, result: Ok(Some(3)) });
        // The pod's own first start is not the session's app.
        assert!(m.step(Input::Agent(AppStatus::Started { pid: 3 })).is_empty());
        let a = m.step(Input::Reloaded(Ok(())));
        assert_eq!(a.last(), Some(&Action::Deploy { generation: 2, fresh: true, stop_previous: false }));
    }

    #[test]
    fn a_newer_change_during_a_deploy_cancels_it_or_waits_for_it() {
        let mut m = Machine::new(Capabilities::default());
        m.start();
        // A source edit while the first deploy runs: synced by a rescan once it is up.
        assert!(m.step(Input::Batch(plan(Class::StaticSync, "static/a.css"))).is_empty());
        // A Dockerfile edit: the deploy in flight is cancelled for a new one.
        m.step(Input::Batch(plan(Class::Redeploy, "Dockerfile")));
        let a = m.step(Input::Reloaded(Ok(())));
        assert_eq!(a[0], Action::CancelDeploy);
        assert_eq!(a.last(), Some(&Action::Deploy { generation: 2, fresh: true, stop_previous: false }));
        // The first deploy's late result is stale.
        assert!(m.step(Input::Deployed { generation: 1, result: Err("cancelled".into()) }).is_empty());
        m.step(Input::Batch(plan(Class::StaticSync, "static/b.css")));
        let a = m.step(Input::Deployed { generation: 2, result: Ok(None) });
        assert_eq!(a.last(), Some(&Action::Rescan));
    }

    #[test]
    fn a_crash_waits_for_the_next_change_then_restarts() {
        let mut m = running();
        let a =
            m.step(Input::Agent(AppStatus::Exited { exit_code: Some(3), signal: None, last_lines: vec!["x".into()] }));
        assert_eq!(phases(&a), vec![Phase::Crashed]);
        assert!(a.iter().any(|a| matches!(a, Action::Status { exit: Some((Some(3), _)), .. })));
        // A static file is enough to wake a crashed app, even when its bytes did not change.
        let a = m.step(Input::Synced { class: Class::StaticSync, changed: false, had_paths: true, reason: "x".into() });
        assert!(a.iter().any(|a| matches!(a, Action::Restart { .. })));
        m.step(Input::RestartDone { generation: 1, result: Ok(()) });
        m.step(Input::Agent(AppStatus::Started { pid: 11 }));
        assert_eq!(m.phase(), Phase::Starting);
        // Up again: a static change restarts nothing.
        let a = m.step(Input::Synced { class: Class::StaticSync, changed: true, had_paths: true, reason: "x".into() });
        assert!(a.is_empty());
    }

    #[test]
    fn a_failed_build_closes_its_progress_and_waits_for_a_fix() {
        let mut m = running();
        m.step(Input::Synced { class: Class::ProcessRestart, changed: true, had_paths: true, reason: "a".into() });
        let a = m.step(Input::Agent(AppStatus::Building { command: vec!["make".into()] }));
        assert_eq!(a[0], Action::BuildProgress { open: true, message: "make".into() });
        assert!(m.building());
        let a = m.step(Input::Agent(AppStatus::BuildFailed {
            command: vec!["make".into()],
            exit_code: Some(2),
            last_lines: vec![],
        }));
        assert_eq!(a[0], Action::BuildProgress { open: false, message: "failed".into() });
        assert_eq!(m.phase(), Phase::Failed);
        m.step(Input::RestartDone { generation: 1, result: Err("build failed".into()) });
        let a = m.step(Input::Synced { class: Class::StaticSync, changed: true, had_paths: true, reason: "a".into() });
        assert!(a.iter().any(|a| matches!(a, Action::Restart { .. })));
    }

    #[test]
    fn a_lost_agent_fails_and_the_next_change_redeploys() {
        let mut m = running();
        let a = m.step(Input::AgentGone("reset".into()));
        assert_eq!(phases(&a), vec![Phase::Failed]);
        let a = m.step(Input::Batch(plan(Class::StaticSync, "static/a.css")));
        assert_eq!(a.last(), Some(&Action::Reload));
    }

    #[test]
    fn a_lost_agent_that_comes_back_by_itself_is_reattached_with_the_forwards_reconnecting() {
        let mut m = running_on(Capabilities { serves_during_redeploy: true, replaces_lost_agent: true });
        let a = m.step(Input::AgentGone("reset".into()));
        assert!(a.contains(&Action::ForwardsReconnecting), "{a:?}");
        assert_eq!(phases(&a), vec![Phase::Deploying]);
        assert_eq!(a.last(), Some(&Action::Reattach { generation: 2 }));
        // The replacement's agent connects: synced, then the app runs again.
        let a = m.step(Input::Deployed { generation: 2, result: Ok(None) });
        assert_eq!(a.last(), Some(&Action::Restart { generation: 2, why: "starting".into() }));
        // A second loss while reattaching is the same loss.
        let mut m = running_on(Capabilities { serves_during_redeploy: true, replaces_lost_agent: true });
        m.step(Input::AgentGone("reset".into()));
        assert!(m.step(Input::AgentGone("again".into())).is_empty());
        // A stopped session reattaches nothing.
        let mut m = running_on(Capabilities { serves_during_redeploy: true, replaces_lost_agent: true });
        m.step(Input::Stop);
        assert!(m.step(Input::AgentGone("stopped".into())).is_empty());
    }

    #[test]
    fn stop_during_a_deploy_cancels_it_and_nothing_follows() {
        let mut m = Machine::new(Capabilities::default());
        m.start();
        assert_eq!(m.step(Input::Stop), vec![Action::CancelDeploy, Action::Shutdown]);
        assert!(m.step(Input::Deployed { generation: 1, result: Ok(None) }).is_empty());
        assert!(m.step(Input::Batch(plan(Class::Redeploy, "Dockerfile"))).is_empty());
    }

    #[test]
    fn a_configuration_error_fails_and_keeps_the_running_app() {
        let mut m = running();
        let a = m.step(Input::Reloaded(Err("azds.yaml:3:1: bad".into())));
        assert_eq!(phases(&a), vec![Phase::Failed]);
        assert!(!a.iter().any(|a| matches!(a, Action::Deploy { .. })));
        // The agent is still there: a static change syncs.
        assert!(matches!(m.step(Input::Batch(plan(Class::StaticSync, "a.css")))[0], Action::Sync(_)));
    }
}
