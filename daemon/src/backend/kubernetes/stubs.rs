//! A child space reaches its parent's services by name: stand-in Services in the child's namespace.
//!
//! A child space's namespace (`alice` of `dev/alice`) holds only what the child runs, so an app
//! there calling `http://api/` would find no `api`. For every Service of the parent's namespace
//! that the child does not run, the child's namespace gets a Service of the same name of type
//! `ExternalName` pointing at the parent's (`api.dev.svc.cluster.local`): the cluster's DNS answers
//! `api` in `alice` with the parent's Service, whose routing proxy sends a request that names alice
//! to alice's instance of each service she runs (`agent/src/route.rs`; it serves a child whose
//! `api` is this stand-in itself, since that resolves to its own Service).
//!
//! A stand-in carries [`STAND_IN_LABEL`] (its value the parent's namespace). The session that
//! deploys into a child makes them before its Helm install, removing the stand-ins its own chart
//! replaces ([`plan`]); its `down` puts them back once its release is gone; a parent's deploy and
//! `down` bring its children's stand-ins up to date; removing the space deletes them with its
//! namespace. Services that are no stand-in are never touched.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use super::post_render::parse_documents;
use super::space::{SpaceName, PARENT_LABEL};
use super::{Cluster, KubeError};
use crate::config::yaml::{Node, Value};

/// Marks a Service as a stand-in for the parent's Service of the same name; the value is the
/// parent's namespace.
pub const STAND_IN_LABEL: &str = "devspaces.io/stand-in-for";
/// The cluster's DNS domain (the stand-ins name `<service>.<parent>.svc.<domain>`).
pub const CLUSTER_DOMAIN_ENV: &str = "DEVSPACES_CLUSTER_DOMAIN";
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// `DEVSPACES_CLUSTER_DOMAIN`, else `cluster.local`.
pub fn cluster_domain() -> String {
    std::env::var(CLUSTER_DOMAIN_ENV)
        .ok()
        .map(|d| d.trim().trim_matches('.').to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| DEFAULT_CLUSTER_DOMAIN.to_string())
}

/// A Service found in the child's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub name: String,
    /// The parent namespace it stands in for, when it is a stand-in.
    pub stand_in_for: Option<String>,
}

/// What to change in a child's namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub create: Vec<String>,
    pub delete: Vec<String>,
}

/// The stand-ins a child needs: one for each of the parent's Services (`parent_services`) that
/// neither the child has (a Service of its own) nor `own` is about to install (the chart being
/// deployed into the child); stand-ins for one of `own`, for a Service the parent no longer has,
/// or for another parent, go. Services of the child's own are never in the plan.
pub fn plan(parent: &str, parent_services: &BTreeSet<String>, child: &[Found], own: &BTreeSet<String>) -> Plan {
    let mut out = Plan::default();
    let present: BTreeSet<&str> = child.iter().map(|f| f.name.as_str()).collect();
    for f in child {
        let Some(p) = &f.stand_in_for else { continue };
        if own.contains(&f.name) || !parent_services.contains(&f.name) || p != parent {
            out.delete.push(f.name.clone());
        }
    }
    for name in parent_services {
        let stale = out.delete.contains(name);
        if !own.contains(name) && (!present.contains(name.as_str()) || stale) && reachable(name) {
            out.create.push(name.clone());
        }
    }
    out
}

/// The API server's own Service (`default/kubernetes`) is not the app's.
fn reachable(name: &str) -> bool {
    name != "kubernetes"
}

/// The stand-in for the parent's Service `name` (ExternalName to its cluster DNS name).
pub fn stand_in(name: &str, parent: &str, domain: &str) -> Service {
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "labels": {STAND_IN_LABEL: parent, "app.kubernetes.io/managed-by": "devspaces"},
            "annotations": {"devspaces.io/note": format!(
                "{name} of the parent space '{parent}', which this child space does not run; \
                 removed when a session in this space installs its own {name}")},
        },
        "spec": {"type": "ExternalName", "externalName": format!("{name}.{parent}.svc.{domain}")},
    });
    serde_json::from_value(body).unwrap_or_default()
}

/// The names of the Services in rendered manifests (`helm template`'s output), `kind: *List`
/// items included.
pub fn service_names(manifests: &str) -> Result<BTreeSet<String>, String> {
    fn walk(n: &Node, out: &mut BTreeSet<String>) {
        let kind = n.get("kind").and_then(Node::as_str).unwrap_or_default();
        if kind.ends_with("List") {
            if let Some(Node { value: Value::Seq(items), .. }) = n.get("items") {
                items.iter().for_each(|i| walk(i, out));
            }
        } else if kind == "Service" {
            if let Some(name) = n.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str) {
                out.insert(name.to_string());
            }
        }
    }
    let docs = parse_documents(manifests).map_err(|e| e.to_string())?;
    let mut out = BTreeSet::new();
    docs.iter().for_each(|d| walk(d, &mut out));
    Ok(out)
}

fn found(s: &Service) -> Found {
    Found {
        name: s.metadata.name.clone().unwrap_or_default(),
        stand_in_for: s.metadata.labels.as_ref().and_then(|l| l.get(STAND_IN_LABEL)).cloned(),
    }
}

/// Brings the stand-ins of the child space `child` up to date with its parent's Services, `own`
/// being the Services about to be installed there (empty after a `down`). Returns what changed.
pub async fn sync(cluster: &Cluster, child: &SpaceName, own: &BTreeSet<String>) -> Result<Plan, KubeError> {
    let Some(parent) = &child.parent else { return Ok(Plan::default()) };
    let ns = child.namespace();
    let parents: Api<Service> = Api::namespaced(cluster.client.clone(), parent);
    let listed =
        parents.list(&ListParams::default()).await.map_err(KubeError::api(format!("listing services of {parent}")))?;
    // The parent's own stand-ins (none in a root space) are no service of it.
    let parent_services: BTreeSet<String> =
        listed.items.iter().map(found).filter(|f| f.stand_in_for.is_none()).map(|f| f.name).collect();
    let api: Api<Service> = Api::namespaced(cluster.client.clone(), ns);
    let child_services: Vec<Found> = api
        .list(&ListParams::default())
        .await
        .map_err(KubeError::api(format!("listing services of {ns}")))?
        .items
        .iter()
        .map(found)
        .collect();
    let p = plan(parent, &parent_services, &child_services, own);
    for name in &p.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(KubeError::api(format!("deleting the stand-in service {ns}/{name}"))(e)),
        }
    }
    let domain = cluster_domain();
    for name in &p.create {
        match api.create(&PostParams::default(), &stand_in(name, parent, &domain)).await {
            Ok(_) => {}
            // Another session of this space made it (or its own Service) a moment ago.
            Err(kube::Error::Api(s)) if s.is_already_exists() => {}
            Err(e) => return Err(KubeError::api(format!("creating the stand-in service {ns}/{name}"))(e)),
        }
    }
    Ok(p)
}

/// After a root space's services changed (a deploy, a `down`): every child's stand-ins.
pub async fn sync_children(cluster: &Cluster, root: &str) -> Result<BTreeMap<String, Plan>, KubeError> {
    let namespaces: Api<Namespace> = Api::all(cluster.client.clone());
    let children = namespaces
        .list(&ListParams::default().labels(&format!("{PARENT_LABEL}={root}")))
        .await
        .map_err(KubeError::api(format!("listing the child spaces of {root}")))?;
    let mut out = BTreeMap::new();
    for ns in children.items {
        let Some(name) = ns.metadata.name else { continue };
        if ns.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let child = SpaceName { parent: Some(root.to_string()), name: name.clone() };
        out.insert(name, sync(cluster, &child, &BTreeSet::new()).await?);
    }
    Ok(out)
}

/// What a plan did, for the session's log (`None` when nothing).
pub fn describe(ns: &str, p: &Plan) -> Option<String> {
    let mut parts = Vec::new();
    if !p.create.is_empty() {
        parts.push(format!("made {}", p.create.join(", ")));
    }
    if !p.delete.is_empty() {
        parts.push(format!("removed {}", p.delete.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("stand-ins for the parent's services in {ns}: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn child(own: &[&str], stand_ins: &[(&str, &str)]) -> Vec<Found> {
        own.iter()
            .map(|n| Found { name: n.to_string(), stand_in_for: None })
            .chain(stand_ins.iter().map(|(n, p)| Found { name: n.to_string(), stand_in_for: Some(p.to_string()) }))
            .collect()
    }

    #[test]
    fn a_child_gets_a_stand_in_for_each_parent_service_it_does_not_run() {
        struct Case {
            what: &'static str,
            parent: &'static [&'static str],
            child: Vec<Found>,
            own: &'static [&'static str],
            create: &'static [&'static str],
            delete: &'static [&'static str],
        }
        let cases = [
            Case {
                what: "a new child, deploying data",
                parent: &["api", "data", "web"],
                child: child(&[], &[]),
                own: &["data"],
                create: &["api", "web"],
                delete: &[],
            },
            Case {
                what: "the stand-in for what the chart installs goes first",
                parent: &["api", "data", "web"],
                child: child(&[], &[("api", "dev"), ("data", "dev"), ("web", "dev")]),
                own: &["data"],
                create: &[],
                delete: &["data"],
            },
            Case {
                what: "after down: the stand-in comes back; the child's other services stay",
                parent: &["api", "data", "web"],
                child: child(&["web"], &[("api", "dev")]),
                own: &[],
                create: &["data"],
                delete: &[],
            },
            Case {
                what: "a service the parent no longer has, or a stand-in for another parent",
                parent: &["api", "kubernetes"],
                child: child(&[], &[("api", "old"), ("gone", "dev")]),
                own: &[],
                create: &["api"],
                delete: &["api", "gone"],
            },
            Case {
                what: "a redeploy of the same chart changes nothing",
                parent: &["api", "data"],
                child: child(&["data"], &[("api", "dev")]),
                own: &["data"],
                create: &[],
                delete: &[],
            },
        ];
        for c in cases {
            let got = plan("dev", &set(c.parent), &c.child, &set(c.own));
            assert_eq!(got.create, set(c.create).into_iter().collect::<Vec<_>>(), "{}: create", c.what);
            assert_eq!(got.delete, set(c.delete).into_iter().collect::<Vec<_>>(), "{}: delete", c.what);
        }
    }

    #[test]
    fn a_stand_in_is_an_external_name_to_the_parents_service() {
        let s = serde_json::to_value(stand_in("api", "dev", "cluster.local")).unwrap();
        assert_eq!(s["metadata"]["name"], "api");
        assert_eq!(s["metadata"]["labels"][STAND_IN_LABEL], "dev");
        assert_eq!(s["spec"]["type"], "ExternalName");
        assert_eq!(s["spec"]["externalName"], "api.dev.svc.cluster.local");
        assert_eq!(describe("alice", &Plan::default()), None);
        let p = Plan { create: vec!["api".into(), "web".into()], delete: vec!["data".into()] };
        assert_eq!(
            describe("alice", &p).unwrap(),
            "stand-ins for the parent's services in alice: made api, web; removed data"
        );
    }

    #[test]
    fn service_names_of_rendered_manifests() {
        let text = "---\n# Source: x\napiVersion: v1\nkind: Service\nmetadata:\n  name: data\n---\nkind: Deployment\nmetadata:\n  name: data\n---\nkind: List\nitems:\n- kind: Service\n  metadata:\n    name: data-metrics\n";
        assert_eq!(service_names(text).unwrap(), set(&["data", "data-metrics"]));
        assert!(service_names("a: [").is_err());
    }
}
