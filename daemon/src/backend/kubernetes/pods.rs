//! Waiting for a session's pods after `helm upgrade --install`, and saying in Kubernetes' own words why they fail.
//!
//! `diagnose` is pure (one pod in, one verdict out); `PodSet` and `assess` turn the watcher's events into
//! the state of the release; only `wait_ready` and `pod_events` talk to the cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStateTerminated, ContainerStatus, Event, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::{watcher, WatchStreamExt};

use super::post_render::same_image;

/// Waiting reasons after which a container will not start without a change on our side.
const ERROR_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "ImageInspectError",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];
/// Events quoted per pod in a failure, and per waiting pod (of at most `DEADLINE_PODS`) when the deadline passes.
const FAILED_EVENTS: usize = 5;
const DEADLINE_EVENTS: usize = 3;
const DEADLINE_PODS: usize = 3;

/// One pod's verdict, from its status alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Not ready yet; `detail` says what it waits for ("ContainerCreating", "Init:0/1", "waiting for readiness probe").
    Waiting {
        detail: String,
    },
    Ready,
    /// A definitive failure: `reason` is the Kubernetes reason (ImagePullBackOff, CrashLoopBackOff, OOMKilled,
    /// Unschedulable, Init:CrashLoopBackOff, Evicted, ...), `message` the human text Kubernetes gave.
    Failed {
        reason: String,
        message: String,
    },
    /// Being deleted, finished, or not running our image (an old ReplicaSet's pod): ignore it.
    Other,
}

/// Why `wait_ready` gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("pod {pod}: {reason}: {message}{}", events_suffix(.events))]
    Failed { pod: String, reason: String, message: String, events: Vec<String> },
    #[error("no pod of the release became ready within {seconds} s: {detail}")]
    Deadline { seconds: u64, detail: String },
}

fn events_suffix(events: &[String]) -> String {
    if events.is_empty() {
        String::new()
    } else {
        format!(" (events: {})", events.join("; "))
    }
}

/// The verdict on `pod` for a release whose containers run `image`.
pub fn diagnose(pod: &Pod, image: &str) -> PodState {
    if pod.metadata.deletion_timestamp.is_some() || !runs_image(pod, image) {
        return PodState::Other;
    }
    let Some(status) = &pod.status else { return waiting("Pending") };
    match status.phase.as_deref() {
        Some("Succeeded") => return PodState::Other,
        Some("Failed") => {
            let reason = status.reason.clone().unwrap_or_else(|| "Failed".into());
            let message = status.message.clone().unwrap_or_else(|| "the pod failed and will not be restarted".into());
            return PodState::Failed { reason, message };
        }
        _ => {}
    }
    let condition = |kind: &str| status.conditions.iter().flatten().find(|c| c.type_ == kind);
    if let Some(c) = condition("PodScheduled").filter(|c| c.status == "False") {
        if c.reason.as_deref() == Some("Unschedulable") {
            return PodState::Failed { reason: "Unschedulable".into(), message: c.message.clone().unwrap_or_default() };
        }
        return waiting(&format!("Pending: {}", c.reason.as_deref().unwrap_or("waiting to be scheduled")));
    }
    let inits = status.init_container_statuses.as_deref().unwrap_or_default();
    if let Some(failed) = inits.iter().find_map(init_failure) {
        return failed;
    }
    let containers = status.container_statuses.as_deref().unwrap_or_default();
    if let Some(failed) = containers.iter().find_map(container_failure) {
        return failed;
    }
    let sidecars = native_sidecars(pod);
    let inits_done = inits.iter().filter(|c| init_done(c, sidecars.contains(&c.name.as_str()))).count();
    if inits_done < inits.len() {
        return waiting(&format!("Init:{inits_done}/{}", inits.len()));
    }
    let wanted = pod.spec.as_ref().map_or(0, |s| s.containers.len()).max(1);
    let all_ready = containers.len() >= wanted && containers.iter().all(|c| c.ready);
    let ready_condition = condition("Ready").is_some_and(|c| c.status == "True");
    if all_ready && ready_condition {
        return PodState::Ready;
    }
    let named = |c: &ContainerStatus, what: &str| {
        if containers.len() > 1 {
            format!("{what} (container '{}')", c.name)
        } else {
            what.to_string()
        }
    };
    for c in containers.iter().filter(|c| !c.ready) {
        let state = c.state.as_ref();
        if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            return waiting(&named(c, w.reason.as_deref().unwrap_or("waiting")));
        }
        if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            return waiting(&named(c, &format!("exited ({}), restarting", termination(t))));
        }
        if state.and_then(|s| s.running.as_ref()).is_some() {
            let probe = if c.started == Some(false) { "startup" } else { "readiness" };
            return waiting(&named(c, &format!("waiting for {probe} probe")));
        }
    }
    if all_ready {
        let why = condition("Ready").and_then(|c| c.message.clone()).map(|m| format!(": {m}")).unwrap_or_default();
        return waiting(&format!("waiting for the Ready condition{why}"));
    }
    waiting(status.phase.as_deref().unwrap_or("Pending"))
}

fn waiting(detail: &str) -> PodState {
    PodState::Waiting { detail: detail.to_string() }
}

/// Whether a container of `pod` runs `image`, by its spec or by the reference the kubelet resolved.
fn runs_image(pod: &Pod, image: &str) -> bool {
    let spec = pod.spec.iter().flat_map(|s| &s.containers).filter_map(|c| c.image.as_deref());
    let status = pod.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).map(|c| c.image.as_str());
    spec.chain(status).any(|i| same_image(i, image))
}

/// Init containers with `restartPolicy: Always` keep running beside the app: started is done.
fn native_sidecars(pod: &Pod) -> Vec<&str> {
    let inits = pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten());
    inits.filter(|c| c.restart_policy.as_deref() == Some("Always")).map(|c| c.name.as_str()).collect()
}

fn init_done(c: &ContainerStatus, sidecar: bool) -> bool {
    let state = c.state.as_ref();
    let exited_ok = state.and_then(|s| s.terminated.as_ref()).is_some_and(|t| t.exit_code == 0);
    exited_ok || (sidecar && c.started == Some(true))
}

fn init_failure(c: &ContainerStatus) -> Option<PodState> {
    let state = c.state.as_ref()?;
    if let Some(w) = &state.waiting {
        let reason = w.reason.as_deref().filter(|r| ERROR_REASONS.contains(r))?;
        let message = waiting_message(c, "init container", reason, w.message.as_deref());
        return Some(PodState::Failed { reason: format!("Init:{reason}"), message });
    }
    let t = state.terminated.as_ref().filter(|t| t.exit_code != 0)?;
    let reason = format!("Init:{}", t.reason.as_deref().unwrap_or("Error"));
    let message = format!("init container '{}' exited ({}), restarts: {}", c.name, termination(t), c.restart_count);
    Some(PodState::Failed { reason, message })
}

fn container_failure(c: &ContainerStatus) -> Option<PodState> {
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let oom = |t: &ContainerStateTerminated| t.reason.as_deref() == Some("OOMKilled");
    let current = c.state.as_ref().and_then(|s| s.terminated.as_ref());
    // A container that was killed once and now serves again is left alone; one that has not recovered is not.
    if !c.ready && (last.is_some_and(oom) || current.is_some_and(oom)) {
        let message = format!(
            "container '{}' was killed for using more memory than its limit (OOMKilled), restarts: {}",
            c.name, c.restart_count
        );
        return Some(PodState::Failed { reason: "OOMKilled".into(), message });
    }
    let w = c.state.as_ref()?.waiting.as_ref()?;
    let reason = w.reason.as_deref().filter(|r| ERROR_REASONS.contains(r))?;
    Some(PodState::Failed {
        reason: reason.to_string(),
        message: waiting_message(c, "container", reason, w.message.as_deref()),
    })
}

/// The kubelet's message, or for a crash loop the last exit: the back-off text only repeats the pod's name.
fn waiting_message(c: &ContainerStatus, kind: &str, reason: &str, kubelet: Option<&str>) -> String {
    let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    match (reason, last) {
        ("CrashLoopBackOff", Some(t)) => {
            format!("{kind} '{}' keeps exiting: last exit {}, restarts: {}", c.name, termination(t), c.restart_count)
        }
        _ => format!("{kind} '{}': {}", c.name, kubelet.filter(|m| !m.is_empty()).unwrap_or(reason)),
    }
}

/// `code 3 (Error): <termination message>`.
fn termination(t: &ContainerStateTerminated) -> String {
    let mut s = format!("code {}", t.exit_code);
    if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
        s.push_str(&format!(" ({r})"));
    }
    if let Some(m) = t.message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        s.push_str(&format!(": {m}"));
    }
    s
}

/// The latest `max` events about pod `pod`, oldest first, as `"<type> <reason>: <message>"`; none on error.
pub async fn pod_events(client: &kube::Client, namespace: &str, pod: &str, max: usize) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.kind=Pod,involvedObject.name={pod}"));
    let Ok(list) = api.list(&params).await else { return Vec::new() };
    format_events(list.items, max)
}

fn format_events(mut events: Vec<Event>, max: usize) -> Vec<String> {
    events.sort_by_key(|e| {
        let last = e.last_timestamp.as_ref().map(|t| t.0);
        last.or(e.event_time.as_ref().map(|t| t.0)).or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
    let skip = events.len().saturating_sub(max);
    events
        .iter()
        .skip(skip)
        .map(|e| {
            let kind = e.type_.as_deref().unwrap_or("Normal");
            let reason = e.reason.as_deref().unwrap_or("Event");
            format!("{kind} {reason}: {}", e.message.as_deref().unwrap_or_default().trim())
        })
        .collect()
}

/// The pods a watcher has shown so far. A resync gathers its pods aside and swaps them in at `InitDone`,
/// so a verdict never sees half a list.
#[derive(Debug, Default)]
struct PodSet {
    pods: BTreeMap<String, Pod>,
    resync: Option<BTreeMap<String, Pod>>,
    synced: bool,
}

impl PodSet {
    fn apply(&mut self, event: watcher::Event<Pod>) {
        let name = |p: &Pod| p.metadata.name.clone().unwrap_or_default();
        match event {
            watcher::Event::Apply(p) => {
                self.pods.insert(name(&p), p);
            }
            watcher::Event::Delete(p) => {
                self.pods.remove(&name(&p));
            }
            watcher::Event::Init => self.resync = Some(BTreeMap::new()),
            watcher::Event::InitApply(p) => {
                self.resync.get_or_insert_with(BTreeMap::new).insert(name(&p), p);
            }
            watcher::Event::InitDone => {
                self.pods = self.resync.take().unwrap_or_default();
                self.synced = true;
            }
        }
    }
}

/// Where the release stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Ready(Vec<String>),
    Failed { pod: String, reason: String, message: String },
    Waiting(Progress),
}

/// A release not ready yet: how many pods are, what each other pod of the image waits for, how many pods to ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Progress {
    ready: usize,
    /// (pod, detail) for each pod running the image that is not ready.
    waiting: Vec<(String, String)>,
    others: usize,
}

fn assess(pods: &BTreeMap<String, Pod>, image: &str, want: usize) -> Verdict {
    let (mut ready, mut waiting, mut others) = (Vec::new(), Vec::new(), 0);
    let mut failed = None;
    for (name, pod) in pods {
        match diagnose(pod, image) {
            PodState::Ready => ready.push(name.clone()),
            PodState::Waiting { detail } => waiting.push((name.clone(), detail)),
            PodState::Failed { reason, message } => {
                failed.get_or_insert(Verdict::Failed { pod: name.clone(), reason, message });
            }
            PodState::Other => others += 1,
        }
    }
    if ready.len() >= want.max(1) {
        return Verdict::Ready(ready);
    }
    failed.unwrap_or(Verdict::Waiting(Progress { ready: ready.len(), waiting, others }))
}

impl Progress {
    /// One line for the status bar: `web-7d9c-abc: ContainerCreating`, prefixed by `1/2 ready` when more are wanted.
    fn summary(&self, want: usize, image: &str, selector: &str) -> String {
        let mut parts = Vec::new();
        if want > 1 {
            parts.push(format!("{}/{want} ready", self.ready));
        }
        parts.extend(self.waiting.iter().map(|(pod, detail)| format!("{pod}: {detail}")));
        if self.waiting.is_empty() && self.ready == 0 {
            let others = match self.others {
                0 => String::new(),
                n => format!(", {n} matching pod(s) run another image or are terminating"),
            };
            parts.push(format!("no pod running image '{image}' yet (selector '{selector}'{others})"));
        }
        parts.join("; ")
    }
}

/// Polls a stream without naming `futures`: `WatchStreamExt` is a `Stream`, so its methods are in scope here.
async fn next_event<S: WatchStreamExt + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// Watches the pods matching `selector` until `want` of those running `image` are ready (their names,
/// sorted), one fails, or `deadline` passes. `on_change` hears each new summary of what is awaited.
pub async fn wait_ready(
    client: &kube::Client,
    namespace: &str,
    selector: &str,
    image: &str,
    want: usize,
    deadline: Duration,
    mut on_change: impl FnMut(&str) + Send,
) -> Result<Vec<String>, WaitError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut stream = Box::pin(watcher(api, watcher::Config::default().labels(selector)).default_backoff());
    let timer = tokio::time::sleep(deadline);
    tokio::pin!(timer);
    let mut set = PodSet::default();
    let mut last_summary = String::new();
    let mut watch_error: Option<String> = None;
    let mut progress: Option<Progress> = None;
    loop {
        tokio::select! {
            _ = &mut timer => break,
            event = next_event(&mut stream) => match event {
                Some(Ok(event)) => set.apply(event),
                // The backoff retries; the last error is quoted if the deadline passes first.
                Some(Err(e)) => { watch_error = Some(e.to_string()); continue; }
                None => break,
            },
        }
        if !set.synced {
            continue;
        }
        match assess(&set.pods, image, want) {
            Verdict::Ready(names) => return Ok(names),
            Verdict::Failed { pod, reason, message } => {
                let events = pod_events(client, namespace, &pod, FAILED_EVENTS).await;
                return Err(WaitError::Failed { pod, reason, message, events });
            }
            Verdict::Waiting(now) => {
                let line = now.summary(want, image, selector);
                if line != last_summary {
                    on_change(&line);
                    last_summary = line;
                }
                progress = Some(now);
            }
        }
    }
    let mut detail = match progress {
        Some(mut last) => {
            last.waiting.truncate(DEADLINE_PODS);
            for (pod, detail) in &mut last.waiting {
                detail.push_str(&events_suffix(&pod_events(client, namespace, pod, DEADLINE_EVENTS).await));
            }
            last.summary(want, image, selector)
        }
        None => format!("no pod running image '{image}' appeared (selector '{selector}'; the pod list never arrived)"),
    };
    if let Some(e) = watch_error {
        detail.push_str(&format!(" (last watch error: {e})"));
    }
    Err(WaitError::Deadline { seconds: deadline.as_secs(), detail })
}

/// After a deploy: keeps watching the release's pods running `image` and calls `on_failure` with
/// the message of each pod that newly fails (a sidecar that starts crash-looping, an OOM kill, an
/// eviction), so a failure after readiness is reported too. Runs until dropped or aborted.
pub async fn monitor(
    client: kube::Client,
    namespace: String,
    selector: String,
    image: String,
    on_failure: impl Fn(String) + Send,
) {
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut stream = Box::pin(watcher(api, watcher::Config::default().labels(&selector)).default_backoff());
    let mut set = PodSet::default();
    // The reason last reported per pod: each failure is said once, again only if it changes.
    let mut said: BTreeMap<String, String> = BTreeMap::new();
    while let Some(event) = next_event(&mut stream).await {
        let Ok(event) = event else { continue };
        set.apply(event);
        if !set.synced {
            continue;
        }
        for (name, pod) in &set.pods {
            match diagnose(pod, &image) {
                PodState::Failed { reason, message } if said.get(name) != Some(&reason) => {
                    said.insert(name.clone(), reason.clone());
                    let events = pod_events(&client, &namespace, name, FAILED_EVENTS).await;
                    on_failure(WaitError::Failed { pod: name.clone(), reason, message, events }.to_string());
                }
                PodState::Ready => {
                    said.remove(name);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{json, Value};

    const IMAGE: &str = "registry.local/web:dev";

    /// A pod of the release with `status`; `extra` is merged into the pod (metadata, spec).
    fn pod(name: &str, status: Value, extra: Value) -> Pod {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "dev", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": IMAGE}]},
            "status": status,
        });
        merge(&mut v, extra);
        serde_json::from_value(v).unwrap()
    }

    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    fn cs(name: &str, ready: bool, state: Value, last: Value, restarts: i32) -> Value {
        json!({"name": name, "image": IMAGE, "imageID": "", "ready": ready, "restartCount": restarts, "state": state, "lastState": last})
    }

    fn running(conditions_ready: &str, containers: Vec<Value>) -> Value {
        json!({
            "phase": "Running",
            "conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": conditions_ready}],
            "containerStatuses": containers,
        })
    }

    enum Want {
        Ready,
        Other,
        Waiting(&'static str),
        /// Reason, and words the message must contain.
        Failed(&'static str, &'static [&'static str]),
    }

    fn cases() -> Vec<(&'static str, Pod, Want)> {
        let crash_last = json!({"terminated": {"exitCode": 3, "reason": "Error"}});
        let backoff = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container=web"}});
        vec![
            (
                "ready",
                pod("a", running("True", vec![cs("web", true, json!({"running": {}}), json!({}), 0)]), json!({})),
                Want::Ready,
            ),
            (
                "image pull backoff",
                pod(
                    "a",
                    json!({"phase": "Pending", "containerStatuses": [cs("web", false, json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"registry.local/web:dev\""}}), json!({}), 0)]}),
                    json!({}),
                ),
                Want::Failed(
                    "ImagePullBackOff",
                    &["container 'web': Back-off pulling image \"registry.local/web:dev\""],
                ),
            ),
            (
                "image never pulled",
                pod(
                    "a",
                    json!({"phase": "Pending", "containerStatuses": [cs("web", false, json!({"waiting": {"reason": "ErrImageNeverPull", "message": "Container image \"registry.local/web:dev\" is not present with pull policy of Never"}}), json!({}), 0)]}),
                    json!({}),
                ),
                Want::Failed("ErrImageNeverPull", &["container 'web'", "pull policy of Never"]),
            ),
            (
                "crash loop",
                pod("a", running("False", vec![cs("web", false, backoff.clone(), crash_last.clone(), 4)]), json!({})),
                Want::Failed("CrashLoopBackOff", &["container 'web'", "code 3 (Error)", "restarts: 4"]),
            ),
            (
                "oom killed",
                pod(
                    "a",
                    running(
                        "False",
                        vec![cs(
                            "web",
                            false,
                            backoff.clone(),
                            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
                            2,
                        )],
                    ),
                    json!({}),
                ),
                Want::Failed(
                    "OOMKilled",
                    &["container 'web' was killed for using more memory than its limit (OOMKilled), restarts: 2"],
                ),
            ),
            (
                "oom killed once, serving again",
                pod(
                    "a",
                    running(
                        "True",
                        vec![cs(
                            "web",
                            true,
                            json!({"running": {}}),
                            json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
                            1,
                        )],
                    ),
                    json!({}),
                ),
                Want::Ready,
            ),
            (
                "unschedulable",
                pod(
                    "a",
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]}),
                    json!({}),
                ),
                Want::Failed("Unschedulable", &["0/1 nodes are available: 1 Insufficient cpu."]),
            ),
            (
                "failing init container",
                pod(
                    "a",
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                        "initContainerStatuses": [cs("migrate", false, json!({"terminated": {"exitCode": 1, "reason": "Error"}}), json!({}), 0)],
                        "containerStatuses": [cs("web", false, json!({"waiting": {"reason": "PodInitializing"}}), json!({}), 0)]}),
                    json!({"spec": {"initContainers": [{"name": "migrate", "image": IMAGE}]}}),
                ),
                Want::Failed("Init:Error", &["init container 'migrate' exited (code 1 (Error))"]),
            ),
            (
                "crash looping init container",
                pod(
                    "a",
                    json!({"phase": "Pending", "initContainerStatuses": [cs("migrate", false, backoff.clone(), json!({"terminated": {"exitCode": 2, "reason": "Error"}}), 3)]}),
                    json!({"spec": {"initContainers": [{"name": "migrate", "image": IMAGE}]}}),
                ),
                Want::Failed("Init:CrashLoopBackOff", &["init container 'migrate'", "code 2 (Error)", "restarts: 3"]),
            ),
            (
                "crashing sidecar",
                pod(
                    "a",
                    running(
                        "False",
                        vec![
                            cs("web", true, json!({"running": {}}), json!({}), 0),
                            cs(
                                "proxy",
                                false,
                                backoff.clone(),
                                json!({"terminated": {"exitCode": 1, "reason": "Error", "message": "bad config"}}),
                                5,
                            ),
                        ],
                    ),
                    json!({"spec": {"containers": [{"name": "web", "image": IMAGE}, {"name": "proxy", "image": "envoy:1"}]}}),
                ),
                Want::Failed("CrashLoopBackOff", &["container 'proxy'", "code 1 (Error): bad config"]),
            ),
            (
                "old image",
                pod(
                    "a",
                    json!({"phase": "Running"}),
                    json!({"spec": {"containers": [{"name": "web", "image": "registry.local/web:old"}]}}),
                ),
                Want::Other,
            ),
            (
                "terminating",
                pod(
                    "a",
                    running("True", vec![cs("web", true, json!({"running": {}}), json!({}), 0)]),
                    json!({"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z"}}),
                ),
                Want::Other,
            ),
            (
                "container creating",
                pod(
                    "a",
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}], "containerStatuses": [cs("web", false, json!({"waiting": {"reason": "ContainerCreating"}}), json!({}), 0)]}),
                    json!({}),
                ),
                Want::Waiting("ContainerCreating"),
            ),
            (
                "readiness probe",
                pod("a", running("False", vec![cs("web", false, json!({"running": {}}), json!({}), 0)]), json!({})),
                Want::Waiting("waiting for readiness probe"),
            ),
            ("just created", pod("a", json!({"phase": "Pending"}), json!({})), Want::Waiting("Pending")),
            (
                "evicted",
                pod(
                    "a",
                    json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
                    json!({}),
                ),
                Want::Failed("Evicted", &["low on resource: memory"]),
            ),
        ]
    }

    #[test]
    fn diagnoses_each_case() {
        for (name, pod, want) in cases() {
            let got = diagnose(&pod, IMAGE);
            match (&got, want) {
                (PodState::Ready, Want::Ready) | (PodState::Other, Want::Other) => {}
                (PodState::Waiting { detail }, Want::Waiting(d)) => assert_eq!(detail, d, "{name}"),
                (PodState::Failed { reason, message }, Want::Failed(r, words)) => {
                    assert_eq!(reason, r, "{name}: {message}");
                    for w in words {
                        assert!(message.contains(w), "{name}: {message:?} lacks {w:?}");
                    }
                }
                _ => panic!("{name}: got {got:?}"),
            }
        }
    }

    #[test]
    fn resync_swaps_at_init_done() {
        let ready =
            || pod("new", running("True", vec![cs("web", true, json!({"running": {}}), json!({}), 0)]), json!({}));
        let mut set = PodSet::default();
        set.apply(watcher::Event::Init);
        set.apply(watcher::Event::InitApply(pod("gone", json!({"phase": "Pending"}), json!({}))));
        assert!(!set.synced && set.pods.is_empty());
        set.apply(watcher::Event::InitDone);
        assert_eq!(set.pods.keys().collect::<Vec<_>>(), ["gone"]);
        set.apply(watcher::Event::Init);
        set.apply(watcher::Event::InitApply(ready()));
        assert_eq!(set.pods.keys().collect::<Vec<_>>(), ["gone"], "the old list stands until InitDone");
        set.apply(watcher::Event::InitDone);
        assert_eq!(set.pods.keys().collect::<Vec<_>>(), ["new"]);
        set.apply(watcher::Event::Delete(ready()));
        assert!(set.pods.is_empty());
    }

    #[test]
    fn assesses_the_release() {
        let ready =
            |n: &str| pod(n, running("True", vec![cs("web", true, json!({"running": {}}), json!({}), 0)]), json!({}));
        let creating = |n: &str| {
            pod(
                n,
                json!({"phase": "Pending", "containerStatuses": [cs("web", false, json!({"waiting": {"reason": "ContainerCreating"}}), json!({}), 0)]}),
                json!({}),
            )
        };
        let old = |n: &str| {
            pod(n, json!({"phase": "Running"}), json!({"spec": {"containers": [{"name": "web", "image": "web:old"}]}}))
        };
        let set = |pods: Vec<Pod>| {
            pods.into_iter().map(|p| (p.metadata.name.clone().unwrap(), p)).collect::<BTreeMap<_, _>>()
        };

        assert_eq!(
            assess(&set(vec![ready("b"), ready("a"), old("c")]), IMAGE, 2),
            Verdict::Ready(vec!["a".into(), "b".into()])
        );
        let waiting = assess(&set(vec![ready("a"), creating("b")]), IMAGE, 2);
        let Verdict::Waiting(progress) = waiting else { panic!("not waiting: {waiting:?}") };
        assert_eq!(progress, Progress { ready: 1, waiting: vec![("b".into(), "ContainerCreating".into())], others: 0 });
        assert_eq!(progress.summary(2, IMAGE, "app=web"), "1/2 ready; b: ContainerCreating");
        let Verdict::Waiting(progress) = assess(&set(vec![old("c")]), IMAGE, 1) else { panic!("not waiting") };
        assert_eq!(progress.summary(1, IMAGE, "app=web"), "no pod running image 'registry.local/web:dev' yet (selector 'app=web', 1 matching pod(s) run another image or are terminating)");
        let failing = pod("f", json!({"phase": "Failed", "reason": "Evicted", "message": "low memory"}), json!({}));
        assert!(
            matches!(assess(&set(vec![creating("b"), failing]), IMAGE, 1), Verdict::Failed { pod, .. } if pod == "f")
        );
    }

    #[test]
    fn docker_hub_prefix_is_the_same_image() {
        let ready = |spec: &str| {
            let mut p = pod(
                "a",
                running("True", vec![cs("web", true, json!({"running": {}}), json!({}), 0)]),
                json!({"spec": {"containers": [{"name": "web", "image": spec}]}}),
            );
            p.status.as_mut().unwrap().container_statuses.as_mut().unwrap()[0].image = spec.to_string();
            p
        };
        assert_eq!(diagnose(&ready("docker.io/library/web:dev"), "web:dev"), PodState::Ready);
        assert_eq!(diagnose(&ready("web:dev"), "docker.io/library/web:dev"), PodState::Ready);
        assert_eq!(diagnose(&ready("web:dev"), "web:old"), PodState::Other);
    }

    #[test]
    fn events_are_latest_last_and_formatted() {
        let event = |reason: &str, at: &str, kind: &str| -> Event {
            serde_json::from_value(json!({"metadata": {"name": reason}, "involvedObject": {}, "type": kind, "reason": reason, "message": format!("{reason} happened\n"), "lastTimestamp": at})).unwrap()
        };
        let events = vec![
            event("Pulling", "2025-01-01T00:00:02Z", "Normal"),
            event("Scheduled", "2025-01-01T00:00:01Z", "Normal"),
            event("Failed", "2025-01-01T00:00:03Z", "Warning"),
        ];
        assert_eq!(format_events(events, 2), ["Normal Pulling: Pulling happened", "Warning Failed: Failed happened"]);
    }

    #[test]
    fn errors_read_as_sentences() {
        let failed = WaitError::Failed {
            pod: "web-7d9c-abc".into(),
            reason: "ImagePullBackOff".into(),
            message: "container 'web': Back-off pulling image \"x\"".into(),
            events: vec![
                "Warning Failed: Failed to pull image \"x\"".into(),
                "Normal BackOff: Back-off pulling image \"x\"".into(),
            ],
        };
        assert_eq!(
            failed.to_string(),
            "pod web-7d9c-abc: ImagePullBackOff: container 'web': Back-off pulling image \"x\" (events: Warning Failed: Failed to pull image \"x\"; Normal BackOff: Back-off pulling image \"x\")"
        );
        let deadline = WaitError::Deadline { seconds: 120, detail: "web-7d9c-abc: ContainerCreating".into() };
        assert_eq!(
            deadline.to_string(),
            "no pod of the release became ready within 120 s: web-7d9c-abc: ContainerCreating"
        );
    }
}
