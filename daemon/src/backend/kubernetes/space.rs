//! Spaces on Kubernetes: namespaces labelled as Dev Spaces labelled them, and the selected space per context.
//!
//! A root space `dev` is the namespace `dev` with `azds.io/space=true`. A child space `dev/alice`
//! is the namespace `alice` with `azds.io/space=true` and `azds.io/parent-space=dev`: Dev Spaces
//! named a child's namespace after the child alone (space names were unique per cluster), so
//! `kubectl -n alice` works as its users expect; a second `other/alice` is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

use super::{Cluster, KubeError};

pub const SPACE_LABEL: &str = "azds.io/space";
pub const PARENT_LABEL: &str = "azds.io/parent-space";
/// How long `remove` waits for Kubernetes to finish deleting a namespace.
const REMOVE_DEADLINE: Duration = Duration::from_secs(120);

/// `name` or `parent/child`, each a DNS-1123 label (a namespace name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceName {
    pub parent: Option<String>,
    pub name: String,
}

impl SpaceName {
    pub fn parse(s: &str) -> Result<SpaceName, KubeError> {
        crate::backend::check_space_name(s).map_err(KubeError::Space)?;
        let (parent, name) = match s.split_once('/') {
            Some((p, c)) => (Some(p), c),
            None => (None, s),
        };
        Ok(SpaceName { parent: parent.map(str::to_string), name: name.to_string() })
    }

    /// The namespace the space lives in (the child's own name for a child).
    pub fn namespace(&self) -> &str {
        &self.name
    }

    /// The placeholder form `Placeholders::for_space` takes: `name` or `parent/child`.
    pub fn path(&self) -> String {
        match &self.parent {
            Some(p) => format!("{p}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One space found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceEntry {
    pub space: SpaceName,
    pub terminating: bool,
}

/// The spaces among namespaces given as (name, labels, terminating), sorted parent first.
pub fn spaces_from(namespaces: &[(String, BTreeMap<String, String>, bool)]) -> Vec<SpaceEntry> {
    let mut out: Vec<SpaceEntry> = namespaces
        .iter()
        .filter(|(_, labels, _)| labels.get(SPACE_LABEL).map(String::as_str) == Some("true"))
        .map(|(name, labels, terminating)| SpaceEntry {
            space: SpaceName {
                parent: labels.get(PARENT_LABEL).filter(|p| !p.is_empty()).cloned(),
                name: name.clone(),
            },
            terminating: *terminating,
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |e: &SpaceEntry| {
            (
                e.space.parent.clone().unwrap_or_else(|| e.space.name.clone()),
                e.space.parent.is_some(),
                e.space.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// What runs in each namespace: the Services of devspaces sessions, by namespace.
pub type Running = BTreeMap<String, BTreeSet<String>>;

/// What a space runs (`runs api, data`) and, for a child, which of its parent's services a
/// request for it reaches instead (`; web from dev`); empty when it runs nothing.
pub fn runs(space: &SpaceName, running: &Running) -> String {
    let empty = BTreeSet::new();
    let own = running.get(space.namespace()).unwrap_or(&empty);
    if own.is_empty() {
        return String::new();
    }
    let list = |s: &mut dyn Iterator<Item = &String>| s.map(String::as_str).collect::<Vec<_>>().join(", ");
    let mut out = format!("runs {}", list(&mut own.iter()));
    if let Some(parent) = &space.parent {
        let rest: Vec<&String> = running.get(parent).unwrap_or(&empty).iter().filter(|s| !own.contains(*s)).collect();
        if !rest.is_empty() {
            out.push_str(&format!("; {} from {parent}", list(&mut rest.into_iter())));
        }
    }
    out
}

/// The lines of `space list`: `* ` marks the selected space, children follow their parent, and
/// each space that runs something says what ([`runs`]): who runs what in which child.
pub fn render_list(entries: &[SpaceEntry], selected: Option<&SpaceName>, running: &Running) -> Vec<String> {
    let width = entries.iter().map(|e| e.space.path().len()).max().unwrap_or(0);
    entries
        .iter()
        .map(|e| {
            let mark = if selected.map(|s| s.name == e.space.name).unwrap_or(false) { "*" } else { " " };
            let state = if e.terminating { "  (being removed)" } else { "" };
            let path = e.space.path();
            match runs(&e.space, running) {
                r if r.is_empty() => format!("{mark} {path}{state}"),
                r => format!("{mark} {path:<width$}  {r}{state}"),
            }
        })
        .collect()
}

/// The Services devspaces sessions deployed (labelled with the session; a child's stand-ins for
/// its parent's are not), by namespace.
pub async fn running(cluster: &Cluster) -> Result<Running, KubeError> {
    let api: Api<Service> = Api::all(cluster.client.clone());
    let found = api
        .list(&ListParams::default().labels(super::post_render::SESSION_LABEL))
        .await
        .map_err(KubeError::api("listing the sessions' services"))?;
    let mut out = Running::new();
    for s in found.items {
        if let (Some(ns), Some(name)) = (s.metadata.namespace, s.metadata.name) {
            out.entry(ns).or_default().insert(name);
        }
    }
    Ok(out)
}

pub async fn list(cluster: &Cluster) -> Result<Vec<SpaceEntry>, KubeError> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let found = api
        .list(&ListParams::default().labels(&format!("{SPACE_LABEL}=true")))
        .await
        .map_err(KubeError::api("listing namespaces"))?;
    let rows: Vec<_> = found.items.iter().map(ns_row).collect();
    Ok(spaces_from(&rows))
}

fn ns_row(ns: &Namespace) -> (String, BTreeMap<String, String>, bool) {
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    (ns.metadata.name.clone().unwrap_or_default(), ns.metadata.labels.clone().unwrap_or_default(), terminating)
}

/// Makes sure the space's namespace(s) exist with the labels; returns the namespaces it created
/// or labelled. An existing namespace without the labels (such as `default`) is adopted.
pub async fn select(cluster: &Cluster, space: &SpaceName) -> Result<Vec<String>, KubeError> {
    let mut changed = Vec::new();
    if let Some(parent) = &space.parent {
        if ensure(cluster, parent, None).await? {
            changed.push(parent.clone());
        }
    }
    if ensure(cluster, &space.name, space.parent.as_deref()).await? {
        changed.push(space.name.clone());
    }
    Ok(changed)
}

/// What to do with a namespace that exists when a space `name` (child of `parent`) is selected.
#[derive(Debug, PartialEq, Eq)]
enum Existing {
    /// It is that space already.
    Keep,
    /// A namespace that is no space yet (such as `default`): give it the labels.
    Label,
}

/// The decision on an existing namespace, from its labels and whether it is being deleted.
fn existing(
    name: &str,
    parent: Option<&str>,
    have: &BTreeMap<String, String>,
    terminating: bool,
) -> Result<Existing, KubeError> {
    let want = match parent {
        Some(p) => format!("{p}/{name}"),
        None => name.to_string(),
    };
    if terminating {
        return Err(KubeError::Space(format!("namespace '{name}' is being deleted; wait until `kubectl get ns {name}` finds nothing, then select '{want}' again")));
    }
    let is_space = have.get(SPACE_LABEL).map(String::as_str) == Some("true");
    let have_parent = have.get(PARENT_LABEL).filter(|p| !p.is_empty()).map(String::as_str);
    if is_space && have_parent == parent {
        return Ok(Existing::Keep);
    }
    if is_space {
        let is = match have_parent {
            Some(p) => format!("the child space '{p}/{name}'"),
            None => format!("the root space '{name}'"),
        };
        return Err(KubeError::Space(format!("cannot select '{want}': namespace '{name}' is already {is} (space names are unique per cluster; pick another name)")));
    }
    Ok(Existing::Label)
}

async fn ensure(cluster: &Cluster, name: &str, parent: Option<&str>) -> Result<bool, KubeError> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let mut labels = BTreeMap::from([(SPACE_LABEL.to_string(), "true".to_string())]);
    if let Some(p) = parent {
        labels.insert(PARENT_LABEL.to_string(), p.to_string());
    }
    let found = match api.get_opt(name).await.map_err(KubeError::api(format!("reading namespace {name}")))? {
        Some(ns) => ns,
        None => {
            let ns = Namespace {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.into()),
                    labels: Some(labels.clone()),
                    ..Default::default()
                },
                ..Default::default()
            };
            match api.create(&PostParams::default(), &ns).await {
                Ok(_) => return Ok(true),
                // Made a moment ago by another session selecting the same space (an `up` of several
                // services starts them all at once): decided on as a namespace that was there.
                Err(kube::Error::Api(status)) if status.is_already_exists() => {
                    api.get(name).await.map_err(KubeError::api(format!("reading namespace {name}")))?
                }
                Err(e) => return Err(KubeError::api(format!("creating namespace {name}"))(e)),
            }
        }
    };
    let (_, have, terminating) = ns_row(&found);
    match existing(name, parent, &have, terminating)? {
        Existing::Keep => Ok(false),
        Existing::Label => {
            let patch = serde_json::json!({"metadata": {"labels": labels}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(KubeError::api(format!("labelling namespace {name}")))?;
            Ok(true)
        }
    }
}

/// Deletes a space's namespace (and with `recursive` its children first) and waits until
/// Kubernetes has removed them. Refuses namespaces that are not spaces.
pub async fn remove(cluster: &Cluster, space: &SpaceName, recursive: bool) -> Result<Vec<String>, KubeError> {
    let all = list(cluster).await?;
    let Some(found) = all.iter().find(|e| e.space.name == space.name) else {
        return Err(KubeError::Space(format!(
            "no space '{}' in context '{}' (see `devspacesd space list`)",
            space.path(),
            cluster.context
        )));
    };
    if space.parent.is_some() && found.space.parent != space.parent {
        return Err(KubeError::Space(format!(
            "no space '{}': namespace '{}' is the space '{}'",
            space.path(),
            space.name,
            found.space.path()
        )));
    }
    let children: Vec<&SpaceEntry> =
        all.iter().filter(|e| e.space.parent.as_deref() == Some(space.name.as_str())).collect();
    if !children.is_empty() && !recursive {
        let names: Vec<String> = children.iter().map(|c| c.space.path()).collect();
        return Err(KubeError::Space(format!(
            "space '{}' has child spaces ({}); remove them first or pass --recursive",
            space.name,
            names.join(", ")
        )));
    }
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let mut doomed: Vec<String> = children.iter().map(|c| c.space.name.clone()).collect();
    doomed.push(space.name.clone());
    for name in &doomed {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(KubeError::api(format!("deleting namespace {name}"))(e)),
        }
    }
    let deadline = tokio::time::Instant::now() + REMOVE_DEADLINE;
    for name in &doomed {
        while api.get_opt(name).await.map_err(KubeError::api(format!("waiting for namespace {name} to go")))?.is_some()
        {
            if tokio::time::Instant::now() > deadline {
                return Err(KubeError::Space(format!(
                    "namespace '{name}' is still being deleted after {} s (see `kubectl get ns {name} -o yaml`)",
                    REMOVE_DEADLINE.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(doomed)
}

/// The Secret holding a session's agent token: `devspaces-session-<id>`, key `token`.
pub fn session_secret_name(session: &str) -> String {
    format!("devspaces-session-{session}")
}
pub const SESSION_SECRET_KEY: &str = "token";

/// Creates or updates the session's token Secret in `namespace` (labelled with the session).
pub async fn apply_session_secret(
    cluster: &Cluster,
    namespace: &str,
    session: &str,
    token: &str,
) -> Result<(), KubeError> {
    let api: Api<Secret> = Api::namespaced(cluster.client.clone(), namespace);
    let name = session_secret_name(session);
    let body = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "labels": {super::post_render::SESSION_LABEL: session}},
        "type": "Opaque",
        "stringData": {SESSION_SECRET_KEY: token},
    });
    api.patch(&name, &PatchParams::apply("devspaces").force(), &Patch::Apply(&body))
        .await
        .map_err(KubeError::api(format!("writing secret {namespace}/{name}")))?;
    Ok(())
}

/// Where the selected space of a kube context is recorded: `<state>/kube/<context>/space`.
pub fn selection_file(state_dir: &Path, context: &str) -> PathBuf {
    let safe: String = context
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    state_dir.join("kube").join(safe).join("space")
}

pub fn read_selection(state_dir: &Path, context: &str) -> Option<SpaceName> {
    let text = std::fs::read_to_string(selection_file(state_dir, context)).ok()?;
    SpaceName::parse(text.trim()).ok()
}

pub fn write_selection(state_dir: &Path, context: &str, space: &SpaceName) -> Result<(), KubeError> {
    let file = selection_file(state_dir, context);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(KubeError::io(format!("creating {}", dir.display())))?;
    }
    // A temp name of this process's own: several processes may select at once (the sessions of
    // one up of several services), and a shared one would be renamed away under the others.
    let tmp = file.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", space.path())).map_err(KubeError::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        KubeError::io(format!("renaming {}", file.display()))(e)
    })
}

pub fn clear_selection(state_dir: &Path, context: &str) -> Result<(), KubeError> {
    match std::fs::remove_file(selection_file(state_dir, context)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(KubeError::io("clearing the selected space")(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_selection_is_written_whole_and_leaves_no_temp_file() {
        // Several processes selecting at once is cluster_spaces' a_new_space_selected_by_several_processes_at_once.
        let state = tempfile::tempdir().unwrap();
        let space = SpaceName::parse("dev/alice").unwrap();
        for _ in 0..4 {
            write_selection(state.path(), "ctx", &space).unwrap();
        }
        assert_eq!(read_selection(state.path(), "ctx"), Some(space));
        let leftovers: Vec<_> = std::fs::read_dir(selection_file(state.path(), "ctx").parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no temp file is left");
    }

    #[test]
    fn space_names() {
        let ok = [("dev", None, "dev"), ("dev/alice", Some("dev"), "alice"), ("a-1/b2", Some("a-1"), "b2")];
        for (input, parent, name) in ok {
            let s = SpaceName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!((s.parent.as_deref(), s.namespace()), (parent, name));
            assert_eq!(s.path(), input);
        }
        for bad in ["", "Dev", "a/b/c", "-a", "a-", "a/", "/b", "a_b", "dev/dev", &"x".repeat(64)] {
            assert!(SpaceName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn list_marks_selection_and_groups_children() {
        let l = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()
        };
        let rows = vec![
            ("zed".to_string(), l(&[(SPACE_LABEL, "true"), (PARENT_LABEL, "dev")]), false),
            ("kube-system".to_string(), l(&[]), false),
            ("dev".to_string(), l(&[(SPACE_LABEL, "true")]), false),
            ("alice".to_string(), l(&[(SPACE_LABEL, "true"), (PARENT_LABEL, "dev")]), true),
            ("default".to_string(), l(&[(SPACE_LABEL, "true")]), false),
            ("other".to_string(), l(&[(SPACE_LABEL, "false")]), false),
        ];
        let entries = spaces_from(&rows);
        let selected = SpaceName::parse("dev/zed").ok();
        assert_eq!(
            render_list(&entries, selected.as_ref(), &Running::new()),
            vec!["  default", "  dev", "  dev/alice  (being removed)", "* dev/zed"]
        );
        // Who runs what: the parent its services, each child its own and the parent's others.
        let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let running = Running::from([
            ("dev".to_string(), set(&["api", "data", "web"])),
            ("zed".to_string(), set(&["data"])),
            ("other".to_string(), set(&["x"])),
        ]);
        assert_eq!(
            render_list(&entries, selected.as_ref(), &running),
            vec![
                "  default",
                "  dev        runs api, data, web",
                "  dev/alice  (being removed)",
                "* dev/zed    runs data; api, web from dev",
            ]
        );
        let everything = Running::from([("zed".to_string(), set(&["api", "data", "web"]))]);
        assert_eq!(runs(&SpaceName::parse("dev/zed").unwrap(), &everything), "runs api, data, web");
    }

    #[test]
    fn an_existing_namespace_is_kept_labelled_or_refused() {
        /// A namespace found when selecting space `name` (child of `parent`), and the decision:
        /// `Ok`, or an error whose message holds the text.
        struct Case {
            name: &'static str,
            parent: Option<&'static str>,
            labels: &'static [(&'static str, &'static str)],
            terminating: bool,
            want: Result<Existing, &'static str>,
        }
        let case = |name, parent, labels, terminating, want| Case { name, parent, labels, terminating, want };
        const ROOT: &[(&str, &str)] = &[(SPACE_LABEL, "true")];
        const CHILD: &[(&str, &str)] = &[(SPACE_LABEL, "true"), (PARENT_LABEL, "dev")];
        let cases = [
            // The same space, also when another session made it a moment ago.
            case("dev", None, ROOT, false, Ok(Existing::Keep)),
            case("alice", Some("dev"), CHILD, false, Ok(Existing::Keep)),
            case("x", None, &[(SPACE_LABEL, "true"), (PARENT_LABEL, "")], false, Ok(Existing::Keep)),
            // A namespace that is no space (default, or labelled false) is adopted.
            case("default", None, &[], false, Ok(Existing::Label)),
            case("x", None, &[(SPACE_LABEL, "false")], false, Ok(Existing::Label)),
            // Another space of the same name, or one being deleted, is refused.
            case("alice", None, CHILD, false, Err("is already the child space 'dev/alice'")),
            case("alice", Some("other"), CHILD, false, Err("is already the child space 'dev/alice'")),
            case("dev", Some("p"), ROOT, false, Err("is already the root space 'dev'")),
            case("dev", None, ROOT, true, Err("is being deleted")),
        ];
        for c in cases {
            let labels: BTreeMap<String, String> =
                c.labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let (name, parent) = (c.name, c.parent);
            match (existing(name, parent, &labels, c.terminating), c.want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name} {parent:?} {labels:?}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{name} {parent:?}: {e}"),
                (got, want) => panic!("{name} {parent:?} {labels:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn selection_is_per_context() {
        let dir = tempfile::tempdir().unwrap();
        let s = SpaceName::parse("dev/alice").unwrap();
        write_selection(dir.path(), "kind-a", &s).unwrap();
        assert_eq!(read_selection(dir.path(), "kind-a"), Some(s));
        assert_eq!(read_selection(dir.path(), "arn:aws/b"), None);
        assert!(selection_file(dir.path(), "arn:aws/b").ends_with("kube/arn_aws_b/space"));
        clear_selection(dir.path(), "kind-a").unwrap();
        assert_eq!(read_selection(dir.path(), "kind-a"), None);
    }
}
