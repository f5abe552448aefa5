//! The Helm post-renderer: makes the agent the command of every container running the built image.
//!
//! Pure: text in, text out. Reads Helm's multi-document YAML into the configuration's YAML tree
//! (`config::yaml`) and writes it back with its block writer, every string double-quoted. Key order
//! is kept; comments are dropped (Helm needs none of them).

use crate::config::yaml::{self, emit_documents, Node, Value};

/// The label put on every object and pod template the session deploys.
pub const SESSION_LABEL: &str = "devspaces.io/session";
/// The port the agent listens on inside the pod (loopback only; reached by port-forward).
pub const DEFAULT_AGENT_PORT: u16 = 50051;
/// Where the agent keeps the warm streams of the forwards (`--tunnel`, on the pod's loopback).
pub const TUNNEL_PORT: u16 = 50052;
pub use crate::backend::agent_layer::DEFAULT_AGENT_PATH;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub session: String,
    /// `REPO:TAG` of the built image; containers whose image matches get the agent.
    pub image: String,
    pub agent_path: String,
    pub agent_port: u16,
    /// The image's WORKDIR; else the container's `workingDir`, else `/`. The sync root when
    /// `sync_target` is absent.
    pub workdir: Option<String>,
    /// `container.syncTarget`: where synced files go; the agent's `--root` when set.
    pub sync_target: Option<String>,
    /// The image's ENTRYPOINT followed by its CMD, for containers that set neither command nor args.
    pub image_command: Option<Vec<String>>,
    /// The image's ENTRYPOINT alone, for containers that set args but no command.
    pub image_entrypoint: Option<Vec<String>>,
    /// The Secret holding the session token (key `token`).
    pub token_secret: String,
    /// The space the release is in: with it, the chart's Services go through the agent's routing
    /// proxy in the pods (`routing.rs`); without it, straight to the apps as the chart says.
    pub space: Option<String>,
    /// The cluster's DNS domain, for the routing proxy (`--cluster-domain`; the agent's default
    /// is `cluster.local`).
    pub cluster_domain: Option<String>,
}

/// The output and what was changed, for logs and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    /// `Kind/name container` for every container that got the agent.
    pub injected: Vec<String>,
    /// Each Service port routed through the routing proxy, and each left alone with the reason.
    pub routed: Vec<String>,
    pub unrouted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PostRenderError {
    #[error("post-render: the manifests are not valid YAML: {0}")]
    Yaml(String),
    #[error("post-render: document {doc} is a {what}, not a Kubernetes object")]
    NotAnObject { doc: usize, what: &'static str },
    #[error("post-render: container '{container}' of {object} sets neither command nor args, so it runs the image's own ENTRYPOINT/CMD; pass them as --command-json '[\"...\"]'")]
    NeedsImageCommand { object: String, container: String },
    #[error("post-render: container '{container}' of {object} sets args but no command, so it runs the image's ENTRYPOINT with them; pass the ENTRYPOINT as --entrypoint-json '[\"...\"]' (`[]` when the image has none)")]
    NeedsEntrypoint { object: String, container: String },
    #[error("post-render: no container runs the image '{image}' (images in the chart: {seen}); set install.set.image.tag to $(tag) and image.repository to the built repository")]
    NoMatch { image: String, seen: String },
}

fn s(v: &str) -> Node {
    Node::string(v)
}

/// Parses every non-empty document of Helm's rendered manifests.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, PostRenderError> {
    yaml::parse_documents(text)
        .map_err(|e| PostRenderError::Yaml(format!("line {} column {}: {}", e.pos.line, e.pos.col, e.message)))
}

/// Rewrites Helm's rendered manifests for a session (see the module docs).
pub fn post_render(input: &str, opts: &Options) -> Result<Rendered, PostRenderError> {
    let mut docs = parse_documents(input)?;
    let mut injected = Vec::new();
    let mut seen = Vec::new();
    for (i, doc) in docs.iter_mut().enumerate() {
        if !matches!(doc.value, Value::Map(_)) {
            let what = if matches!(doc.value, Value::Seq(_)) { "list" } else { "scalar" };
            return Err(PostRenderError::NotAnObject { doc: i + 1, what });
        }
        object(doc, opts, &mut injected, &mut seen)?;
    }
    if injected.is_empty() {
        seen.sort();
        seen.dedup();
        return Err(PostRenderError::NoMatch {
            image: opts.image.clone(),
            seen: if seen.is_empty() { "none".into() } else { seen.join(", ") },
        });
    }
    let (routed, unrouted) = match &opts.space {
        Some(space) => super::routing::route(&mut docs, &opts.agent_path, space, opts.cluster_domain.as_deref()),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Rendered { text: emit_documents(&docs), injected, routed, unrouted })
}

fn label(meta_owner: &mut Node, session: &str) {
    if let Some(labels) = meta_owner.entry_map("metadata").and_then(|m| m.entry_map("labels")) {
        labels.set(SESSION_LABEL, s(session));
    }
}

fn object(
    doc: &mut Node,
    opts: &Options,
    injected: &mut Vec<String>,
    seen: &mut Vec<String>,
) -> Result<(), PostRenderError> {
    let kind = doc.get("kind").and_then(Node::as_str).unwrap_or_default().to_string();
    if kind == "List" || kind.ends_with("List") {
        if let Some(Node { value: Value::Seq(items), .. }) = doc.get_mut("items") {
            for item in items.iter_mut().filter(|x| matches!(x.value, Value::Map(_))) {
                object(item, opts, injected, seen)?;
            }
        }
        return Ok(());
    }
    label(doc, &opts.session);
    let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(Node::as_str).unwrap_or("?").to_string();
    let id = format!("{kind}/{name}");
    if kind == "CronJob" {
        if let Some(job) = doc.get_mut("spec").and_then(|s| s.get_mut("jobTemplate")) {
            label(job, &opts.session);
        }
    }
    let template = super::routing::pod_template_mut(doc);
    let Some(template) = template else { return Ok(()) };
    if kind != "Pod" {
        label(template, &opts.session);
    }
    let Some(Node { value: Value::Seq(containers), .. }) =
        template.get_mut("spec").and_then(|s| s.get_mut("containers"))
    else {
        return Ok(());
    };
    for c in containers.iter_mut() {
        let image = c.get("image").and_then(Node::as_str).unwrap_or_default().to_string();
        seen.push(image.clone());
        if !same_image(&image, &opts.image) {
            continue;
        }
        let cname = c.get("name").and_then(Node::as_str).unwrap_or("?").to_string();
        inject(c, opts, &id, &cname)?;
        injected.push(format!("{id} {cname}"));
    }
    Ok(())
}

fn inject(c: &mut Node, opts: &Options, object: &str, container: &str) -> Result<(), PostRenderError> {
    let command = c.get("command").and_then(Node::strings).filter(|v| !v.is_empty());
    let already = command.as_ref().is_some_and(|cmd| cmd[0] == opts.agent_path);
    if !already {
        let args = c.get("args").and_then(Node::strings);
        let original: Vec<String> = match (command, args) {
            (Some(cmd), args) => cmd.into_iter().chain(args.unwrap_or_default()).collect(),
            (None, Some(args)) => match &opts.image_entrypoint {
                Some(ep) => ep.iter().cloned().chain(args).collect(),
                None => {
                    return Err(PostRenderError::NeedsEntrypoint { object: object.into(), container: container.into() })
                }
            },
            (None, None) => match &opts.image_command {
                Some(cmd) => cmd.clone(),
                None => {
                    return Err(PostRenderError::NeedsImageCommand {
                        object: object.into(),
                        container: container.into(),
                    })
                }
            },
        };
        let root = opts
            .sync_target
            .clone()
            .or_else(|| opts.workdir.clone())
            .or_else(|| c.get("workingDir").and_then(Node::as_str).map(str::to_string))
            .unwrap_or_else(|| "/".into());
        let mut agent = vec![
            opts.agent_path.clone(),
            "--root".into(),
            root,
            "--listen".into(),
            format!("127.0.0.1:{}", opts.agent_port),
            "--tunnel".into(),
            format!("127.0.0.1:{TUNNEL_PORT}"),
            "--".into(),
        ];
        agent.extend(original);
        c.set("command", Node::plain(Value::Seq(agent.iter().map(|a| s(a)).collect())));
        c.remove("args");
    }
    let map =
        |entries: Vec<(&str, Node)>| Node::plain(Value::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect()));
    let secret_ref = map(vec![("name", s(&opts.token_secret)), ("key", s(super::space::SESSION_SECRET_KEY))]);
    let token = map(vec![
        ("name", s(devspaces_protocol::agent::TOKEN_ENV)),
        ("valueFrom", map(vec![("secretKeyRef", secret_ref)])),
    ]);
    match c.get_mut("env") {
        Some(Node { value: Value::Seq(env), .. }) => {
            env.retain(|e| e.get("name").and_then(Node::as_str) != Some(devspaces_protocol::agent::TOKEN_ENV));
            env.push(token);
        }
        _ => c.set("env", Node::plain(Value::Seq(vec![token]))),
    }
    Ok(())
}

/// `name[:tag][@digest]` split into a normalized repository and a tag (`latest` when absent);
/// `docker.io/library/x`, `docker.io/x` and `x` are the same repository.
pub fn normalize_image(reference: &str) -> (String, String) {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match no_digest[last_slash..].rfind(':') {
        Some(i) => (&no_digest[..last_slash + i], &no_digest[last_slash + i + 1..]),
        None => (no_digest, "latest"),
    };
    let mut repo = repo.to_string();
    for prefix in ["docker.io/", "index.docker.io/"] {
        if let Some(rest) = repo.strip_prefix(prefix) {
            repo = rest.to_string();
        }
    }
    if let Some(rest) = repo.strip_prefix("library/") {
        repo = rest.to_string();
    }
    (repo, tag.to_string())
}

pub fn same_image(a: &str, b: &str) -> bool {
    !a.is_empty() && normalize_image(a) == normalize_image(b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn image_references() {
        let same = [
            ("app:1", "docker.io/library/app:1"),
            ("app", "app:latest"),
            ("reg:5000/a/app:t", "reg:5000/a/app:t"),
            ("docker.io/me/app:t", "me/app:t"),
            ("app:t@sha256:ab", "app:t"),
        ];
        for (a, b) in same {
            assert!(same_image(a, b), "{a} == {b}");
        }
        let differ = [
            ("app:1", "app:2"),
            ("reg:5000/app:1", "app:1"),
            ("localhost/app:1", "app:1"),
            ("", "app:1"),
            ("other/app:1", "app:1"),
        ];
        for (a, b) in differ {
            assert!(!same_image(a, b), "{a} != {b}");
        }
    }

    fn options(json: &serde_json::Value) -> Options {
        let list = |k: &str| {
            json.get(k)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        };
        let session = json["session"].as_str().unwrap().to_string();
        Options {
            token_secret: crate::backend::kubernetes::space::session_secret_name(&session),
            session,
            image: json["image"].as_str().unwrap().into(),
            agent_path: DEFAULT_AGENT_PATH.into(),
            agent_port: DEFAULT_AGENT_PORT,
            workdir: json.get("workdir").and_then(|v| v.as_str()).map(String::from),
            sync_target: json.get("syncTarget").and_then(|v| v.as_str()).map(String::from),
            image_command: list("commandJson"),
            image_entrypoint: list("entrypointJson"),
            space: json.get("space").and_then(|v| v.as_str()).map(String::from),
            cluster_domain: json.get("clusterDomain").and_then(|v| v.as_str()).map(String::from),
        }
    }

    #[test]
    fn fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/post-render");
        let mut cases: Vec<_> =
            std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        cases.sort();
        assert!(cases.len() >= 7, "fixtures missing under {}", root.display());
        for case in cases {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            let read = |f: &str| std::fs::read_to_string(case.join(f));
            let opts = options(&serde_json::from_str(&read("options.json").unwrap()).unwrap());
            let got = post_render(&read("input.yaml").unwrap(), &opts);
            match (read("expected.yaml"), read("expected-error.txt")) {
                (Ok(want), _) => {
                    let got = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                    let parsed = parse_documents(&got.text)
                        .unwrap_or_else(|e| panic!("{name}: output does not parse: {e}\n{}", got.text));
                    let plain = |docs: Vec<Node>| docs.iter().map(Node::without_ranges).collect::<Vec<_>>();
                    let want = plain(parse_documents(&want).unwrap());
                    assert_eq!(plain(parsed), want, "{name}: output differs:\n{}", got.text);
                    // Running it again changes nothing: a redeploy may post-render its own output.
                    let again = post_render(&got.text, &opts).unwrap();
                    assert_eq!(again.text, got.text, "{name}: not idempotent");
                }
                (Err(_), Ok(fragment)) => {
                    let e = got.err().unwrap_or_else(|| panic!("{name}: expected an error"));
                    assert!(e.to_string().contains(fragment.trim()), "{name}: error '{e}' lacks '{}'", fragment.trim());
                }
                _ => panic!("{name}: needs expected.yaml or expected-error.txt"),
            }
        }
    }
}
