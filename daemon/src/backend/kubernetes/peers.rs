//! Who called: a routing proxy's trace names its peer by IP address; the session shows the
//! calling service instead when the cluster knows it.
//!
//! The agent has no API access (it stays small and holds no credentials), so the Kubernetes
//! backend renames the peers of the traces on the agent's event stream before the session sees
//! them ([`relabel`]): the pod with that IP (one list by field selector, any namespace), then the
//! Service of its namespace that selects it. The result is the Service's name (`web`), with its
//! namespace when that is not the session's (`web.alice`: alice's instance), the pod's name when
//! no Service selects it, `port-forward` for loopback (the developer's forward, which reaches the
//! pod's loopback), else the address. Answers are remembered ([`HIT_TTL`], [`MISS_TTL`]): pod
//! addresses are reused, so not for long.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devspaces_protocol::agent::FromAgent;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, ListParams};
use tokio::sync::mpsc;

use crate::agent::client::AgentEvent;

/// How long a name found for an address is used.
pub const HIT_TTL: Duration = Duration::from_secs(30);
/// How long an address no pod had is left alone.
pub const MISS_TTL: Duration = Duration::from_secs(5);
/// How long a lookup may hold the trace (and the agent's events behind it) back.
const LOOKUP_DEADLINE: Duration = Duration::from_secs(2);

/// A pod as the naming needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub host_network: bool,
}

/// The Service of `services` (name, selector) that selects a pod with `labels`: the first by name
/// among those whose non-empty selector all of its labels match.
pub fn service_of<'a>(
    labels: &BTreeMap<String, String>,
    services: &'a [(String, BTreeMap<String, String>)],
) -> Option<&'a str> {
    let mut matching: Vec<&str> = services
        .iter()
        .filter(|(_, sel)| !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .map(|(n, _)| n.as_str())
        .collect();
    matching.sort();
    matching.first().copied()
}

/// The name shown for a caller: its Service (else its pod), with the namespace when it is not
/// the session's.
pub fn source_name(pod: &PodInfo, service: Option<&str>, own_namespace: &str) -> String {
    let base = service.unwrap_or(&pod.name);
    if pod.namespace == own_namespace {
        base.to_string()
    } else {
        format!("{base}.{}", pod.namespace)
    }
}

/// The pod among those with an address that is the caller: host-network pods share the node's.
pub fn caller(pods: &[PodInfo]) -> Option<&PodInfo> {
    let mut own: Vec<&PodInfo> = pods.iter().filter(|p| !p.host_network).collect();
    own.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    (own.len() == 1).then(|| own[0])
}

/// Names peers for one session (its namespace), remembering answers.
pub struct Peers {
    client: kube::Client,
    namespace: String,
    names: Mutex<HashMap<IpAddr, (Instant, Option<String>)>>,
}

impl Peers {
    pub fn new(client: kube::Client, namespace: String) -> Arc<Self> {
        Arc::new(Peers { client, namespace, names: Mutex::new(HashMap::new()) })
    }

    /// The name for a trace's peer (an address as the agent wrote it).
    pub async fn name(&self, peer: &str) -> String {
        let Ok(ip) = peer.parse::<IpAddr>() else { return peer.to_string() };
        if ip.is_loopback() {
            return "port-forward".into();
        }
        if let Some((at, found)) = self.names.lock().ok().and_then(|n| n.get(&ip).cloned()) {
            let ttl = if found.is_some() { HIT_TTL } else { MISS_TTL };
            if at.elapsed() < ttl {
                return found.unwrap_or_else(|| peer.to_string());
            }
        }
        let found = tokio::time::timeout(LOOKUP_DEADLINE, self.lookup(ip)).await.ok().flatten();
        if let Ok(mut n) = self.names.lock() {
            n.insert(ip, (Instant::now(), found.clone()));
        }
        found.unwrap_or_else(|| peer.to_string())
    }

    async fn lookup(&self, ip: IpAddr) -> Option<String> {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let listed = pods.list(&ListParams::default().fields(&format!("status.podIP={ip}"))).await.ok()?;
        let infos: Vec<PodInfo> = listed
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| PodInfo {
                name: p.metadata.name.unwrap_or_default(),
                namespace: p.metadata.namespace.unwrap_or_default(),
                labels: p.metadata.labels.unwrap_or_default(),
                host_network: p.spec.and_then(|s| s.host_network).unwrap_or(false),
            })
            .collect();
        let pod = caller(&infos)?;
        let services: Api<Service> = Api::namespaced(self.client.clone(), &pod.namespace);
        let selectors: Vec<(String, BTreeMap<String, String>)> = services
            .list(&ListParams::default())
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .map(|s| (s.metadata.name.unwrap_or_default(), s.spec.and_then(|s| s.selector).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        Some(source_name(pod, service_of(&pod.labels, &selectors), &self.namespace))
    }
}

/// The agent's events with each trace's peer named ([`Peers::name`]); everything else, and the
/// order, as it came.
pub fn relabel(
    mut events: mpsc::UnboundedReceiver<AgentEvent>,
    peers: Arc<Peers>,
) -> mpsc::UnboundedReceiver<AgentEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(mut e) = events.recv().await {
            if let AgentEvent::Message(FromAgent::Trace { peer, .. }) = &mut e {
                *peer = peers.name(peer).await;
            }
            if tx.send(e).is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn pod(name: &str, ns: &str, host_network: bool) -> PodInfo {
        PodInfo {
            name: name.into(),
            namespace: ns.into(),
            labels: labels(&[("app.kubernetes.io/name", "web"), ("pod-template-hash", "x")]),
            host_network,
        }
    }

    #[test]
    fn the_service_that_selects_the_pod_names_it() {
        let services = vec![
            ("everything".to_string(), labels(&[])),
            ("web".to_string(), labels(&[("app.kubernetes.io/name", "web")])),
            ("api".to_string(), labels(&[("app.kubernetes.io/name", "api")])),
            ("a-web".to_string(), labels(&[("app.kubernetes.io/name", "web"), ("pod-template-hash", "x")])),
        ];
        let p = pod("web-7d9-abc", "dev", false);
        // A selectorless Service selects nothing; of two that match, the first by name.
        assert_eq!(service_of(&p.labels, &services), Some("a-web"));
        assert_eq!(service_of(&p.labels, &services[..3]), Some("web"));
        assert_eq!(service_of(&p.labels, &services[..1]), None);
    }

    #[test]
    fn a_caller_in_another_namespace_is_named_with_it() {
        let p = pod("web-7d9-abc", "alice", false);
        assert_eq!(source_name(&p, Some("web"), "alice"), "web");
        assert_eq!(source_name(&p, Some("web"), "dev"), "web.alice");
        assert_eq!(source_name(&p, None, "dev"), "web-7d9-abc.alice");
    }

    #[test]
    fn host_network_pods_share_the_nodes_address_and_name_nobody() {
        let (a, node) = (pod("a", "dev", false), pod("proxy", "kube-system", true));
        assert_eq!(caller(&[node.clone(), a.clone()]), Some(&a));
        assert_eq!(caller(std::slice::from_ref(&node)), None);
        assert_eq!(caller(&[a.clone(), pod("b", "dev", false)]), None);
    }
}
