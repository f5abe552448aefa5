//! Routing in the pods (the post-renderer's second step): what the seed's devspaces-proxy-init
//! did with iptables, done by pointing the chart's Service at the routing proxy instead.
//!
//! For every Service of the release that selects a pod template whose container got the agent,
//! each Service port's `targetPort` becomes a named port of that container (`ds-route-<n>`, at
//! [`ROUTE_PORT_BASE`]` + n`), where the agent's routing proxy listens (`--route
//! LISTEN:APP:SERVICE:SERVICE_PORT`, `--space`); the proxy passes each request to the app's own
//! port on the pod's loopback, or to a child space's instance (see `agent/src/route.rs`). The app
//! keeps its port and needs no change, even when it binds a fixed one; nothing needs NET_ADMIN.
//! Pure: manifests in, manifests out, idempotent (a routed Service port is left as it is).

use std::collections::BTreeMap;

use crate::config::yaml::{Node, Value};

/// The first port the routing proxy listens on in a pod (one per Service port).
pub const ROUTE_PORT_BASE: u16 = 50100;
/// The container port names of the routing proxy (`ds-route-0`, ...: at most 15 characters).
pub const ROUTE_PORT_PREFIX: &str = "ds-route-";

/// The pod template of a workload document (the document itself for a Pod).
pub fn pod_template_mut(doc: &mut Node) -> Option<&mut Node> {
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or_default().to_string();
    match kind.as_str() {
        "Pod" => Some(doc),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "ReplicationController" => {
            doc.get_mut("spec").and_then(|s| s.get_mut("template"))
        }
        "CronJob" => doc
            .get_mut("spec")
            .and_then(|s| s.get_mut("jobTemplate"))
            .and_then(|j| j.get_mut("spec"))
            .and_then(|s| s.get_mut("template")),
        _ => None,
    }
}

/// A container that runs the agent, and what routing needs of it.
struct Agented {
    doc: usize,
    container: usize,
    labels: BTreeMap<String, String>,
    /// Its ports by name.
    ports: BTreeMap<String, u16>,
    /// Routes it has (`--route` values already in its command) and gets.
    routes: Vec<String>,
    added: usize,
}

fn string_map(n: Option<&Node>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Node { value: Value::Map(m), .. }) = n {
        for (k, v) in m {
            if let (Some(k), Some(v)) = (k.as_text(), v.as_text()) {
                out.insert(k, v);
            }
        }
    }
    out
}

fn port_number(n: Option<&Node>) -> Option<u16> {
    match n.map(|n| &n.value) {
        Some(Value::Int(i)) => u16::try_from(*i).ok().filter(|p| *p != 0),
        Some(Value::Str(s)) => s.parse().ok().filter(|p: &u16| *p != 0),
        _ => None,
    }
}

fn containers_mut(template: &mut Node) -> Option<&mut Vec<Node>> {
    match template.get_mut("spec").and_then(|s| s.get_mut("containers")) {
        Some(Node { value: Value::Seq(c), .. }) => Some(c),
        _ => None,
    }
}

/// Routes every Service port of the release to the agent's routing proxy in the pods it selects;
/// returns `Service/name port -> container` for each port routed and a reason for each left alone.
pub fn route(
    docs: &mut [Node],
    agent_path: &str,
    space: &str,
    cluster_domain: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let mut agented = Vec::new();
    for (d, doc) in docs.iter_mut().enumerate() {
        let Some(template) = pod_template_mut(doc) else { continue };
        let labels = string_map(template.get("metadata").and_then(|m| m.get("labels")));
        let Some(containers) = containers_mut(template) else { continue };
        for (i, c) in containers.iter().enumerate() {
            let command = c.get("command").and_then(Node::strings).unwrap_or_default();
            if command.first().map(String::as_str) != Some(agent_path) {
                continue;
            }
            let mut ports = BTreeMap::new();
            if let Some(Node { value: Value::Seq(list), .. }) = c.get("ports") {
                for p in list {
                    if let (Some(name), Some(n)) =
                        (p.get("name").and_then(Node::as_str), port_number(p.get("containerPort")))
                    {
                        ports.insert(name.to_string(), n);
                    }
                }
            }
            let routes = command.windows(2).filter(|w| w[0] == "--route").map(|w| w[1].clone()).collect();
            agented.push(Agented { doc: d, container: i, labels: labels.clone(), ports, routes, added: 0 });
        }
    }
    let (mut routed, mut skipped) = (Vec::new(), Vec::new());
    for doc in docs.iter_mut() {
        if doc.get("kind").and_then(Node::as_str) != Some("Service") {
            continue;
        }
        let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?").to_string();
        let Some(spec) = doc.get_mut("spec") else { continue };
        let selector = string_map(spec.get("selector"));
        let target = agented
            .iter_mut()
            .find(|a| !selector.is_empty() && selector.iter().all(|(k, v)| a.labels.get(k) == Some(v)));
        let Some(a) = target else { continue };
        let Some(Node { value: Value::Seq(ports), .. }) = spec.get_mut("ports") else { continue };
        for p in ports.iter_mut() {
            let Some(service_port) = port_number(p.get("port")) else { continue };
            let protocol = p.get("protocol").and_then(Node::as_str).unwrap_or("TCP");
            if protocol != "TCP" {
                skipped.push(format!("Service/{name} port {service_port}: {protocol} is not routed"));
                continue;
            }
            let target_port = p.get("targetPort");
            let app = match target_port.map(|t| &t.value) {
                None => Some(service_port),
                Some(Value::Str(s)) if s.starts_with(ROUTE_PORT_PREFIX) => continue,
                Some(Value::Str(s)) if s.parse::<u16>().is_err() => a.ports.get(s).copied(),
                _ => port_number(target_port),
            };
            let Some(app) = app else {
                skipped.push(format!(
                    "Service/{name} port {service_port}: its targetPort names no port of the container; not routed"
                ));
                continue;
            };
            let n = a.routes.len();
            let listen = ROUTE_PORT_BASE + n as u16;
            a.routes.push(format!("{listen}:{app}:{name}:{service_port}"));
            a.added += 1;
            p.set("targetPort", Node::string(&format!("{ROUTE_PORT_PREFIX}{n}")));
            routed.push(format!("Service/{name} port {service_port} -> routing proxy :{listen} -> app :{app}"));
        }
    }
    for a in agented.iter().filter(|a| a.added > 0) {
        let Some(template) = pod_template_mut(&mut docs[a.doc]) else { continue };
        let Some(c) = containers_mut(template).and_then(|c| c.get_mut(a.container)) else { continue };
        let mut command = c.get("command").and_then(Node::strings).unwrap_or_default();
        let split = command.iter().position(|x| x == "--").unwrap_or(command.len());
        let mut extra = Vec::new();
        if !command[..split].iter().any(|x| x == "--space") {
            extra.extend(["--space".to_string(), space.to_string()]);
        }
        if let Some(domain) = cluster_domain.filter(|_| !command[..split].iter().any(|x| x == "--cluster-domain")) {
            extra.extend(["--cluster-domain".to_string(), domain.to_string()]);
        }
        let new_routes = &a.routes[a.routes.len() - a.added..];
        for r in new_routes {
            extra.extend(["--route".to_string(), r.clone()]);
        }
        command.splice(split..split, extra);
        c.set("command", Node::plain(Value::Seq(command.iter().map(|x| Node::string(x)).collect())));
        let mut list = match c.remove("ports") {
            Some(Node { value: Value::Seq(l), .. }) => l,
            _ => Vec::new(),
        };
        for (i, r) in new_routes.iter().enumerate() {
            let n = a.routes.len() - a.added + i;
            let listen: i64 = r.split(':').next().and_then(|l| l.parse().ok()).unwrap_or_default();
            let entry = vec![
                (Node::string("name"), Node::string(&format!("{ROUTE_PORT_PREFIX}{n}"))),
                (Node::string("containerPort"), Node::plain(Value::Int(listen))),
                (Node::string("protocol"), Node::string("TCP")),
            ];
            list.push(Node::plain(Value::Map(entry)));
        }
        c.set("ports", Node::plain(Value::Seq(list)));
    }
    (routed, skipped)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::backend::kubernetes::post_render::{parse_documents, DEFAULT_AGENT_PATH};

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api\n  labels:\n    app: api\nspec:\n  containers:\n  - name: api\n    image: api:1\n    command: [/devspaces/devspaces-agent, --root, /app, --, node, server.js]\n";

    #[test]
    fn each_tcp_port_of_a_selecting_service_is_routed_and_the_rest_say_why_not() {
        let text = format!("{POD}---\nkind: Service\nmetadata:\n  name: api\nspec:\n  selector:\n    app: api\n  ports:\n  - port: 80\n    targetPort: web\n  - port: 81\n    targetPort: 3001\n  - port: 53\n    protocol: UDP\n");
        let mut docs = parse_documents(&text).unwrap();
        let (routed, unrouted) = route(&mut docs, DEFAULT_AGENT_PATH, "dev/alice", None);
        assert_eq!(routed, vec!["Service/api port 81 -> routing proxy :50100 -> app :3001"]);
        assert_eq!(unrouted.len(), 2, "{unrouted:?}");
        assert!(unrouted[0].contains("port 80: its targetPort names no port of the container"), "{unrouted:?}");
        assert!(unrouted[1].contains("port 53: UDP is not routed"), "{unrouted:?}");
        let cmd = docs[0].get("spec").unwrap().get("containers").unwrap();
        let Value::Seq(c) = &cmd.value else { panic!() };
        let command = c[0].get("command").and_then(Node::strings).unwrap();
        assert_eq!(command[3..8], ["--space", "dev/alice", "--route", "50100:3001:api:81", "--"]);
        // Again: nothing more.
        let (routed, _) = route(&mut docs, DEFAULT_AGENT_PATH, "dev/alice", None);
        assert!(routed.is_empty());
    }

    #[test]
    fn a_container_without_the_agent_is_not_routed() {
        let text = POD.replace("/devspaces/devspaces-agent, --root, /app, --, ", "");
        let text = format!("{text}---\nkind: Service\nmetadata:\n  name: api\nspec:\n  selector:\n    app: api\n  ports:\n  - port: 80\n");
        let mut docs = parse_documents(&text).unwrap();
        assert_eq!(route(&mut docs, DEFAULT_AGENT_PATH, "dev", None), (vec![], vec![]));
    }
}
