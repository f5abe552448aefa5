//! End-to-end on the real cluster of tests/cluster/: spaces, the post-renderer in both Helm forms, and the static agent in a pod.
//!
//! Run with `eval "$(tests/cluster/env)"` and `cargo test -p devspaces-tests --features cluster
//! --test cluster_spaces`. Refuses any kubeconfig outside the cluster's state folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use devspaces_tests::{bin, cluster_kubeconfig, ok, repo_root, short_id};
use devspacesd::backend::agent_layer;
use devspacesd::backend::kubernetes::post_render::{
    parse_documents, DEFAULT_AGENT_PATH, DEFAULT_AGENT_PORT, SESSION_LABEL, TUNNEL_PORT,
};
use devspacesd::backend::kubernetes::{helm_plugin, space, Cluster, ConnectOptions};
use devspacesd::config::yaml::{Node, Value};

struct Ctx {
    kubeconfig: PathBuf,
    state_dir: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Ctx {
    /// `helm <args> <chart> -n <namespace> <flags> --post-renderer devspaces`: Helm 4 through the
    /// plugin in `plugins`, its post-renderer given `pr`.
    fn helm_with_plugin(
        &self,
        plugins: &Path,
        args: &[&str],
        chart: &Path,
        namespace: &str,
        flags: &[&str],
        pr: &[String],
    ) -> Command {
        let mut c = self.cmd("helm");
        c.env("HELM_PLUGINS", plugins).args(args).arg(chart).args(["-n", namespace]).args(flags);
        c.args(["--post-renderer", helm_plugin::PLUGIN_NAME]);
        with_pr_args(&mut c, pr);
        c
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("KUBECONFIG", &self.kubeconfig)
            .env("DEVSPACES_STATE_DIR", self.state_dir.path())
            .env("HELM_CACHE_HOME", self.work.path().join("helm-cache"))
            .env("HELM_CONFIG_HOME", self.work.path().join("helm-config"))
            .env("HELM_DATA_HOME", self.work.path().join("helm-data"));
        c
    }
    fn ds(&self, args: &[&str]) -> std::process::Output {
        self.cmd(bin().to_str().unwrap())
            .arg(args[0])
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(&args[1..])
            .output()
            .unwrap()
    }
}

fn text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn ns_labels(ctx: &Ctx, ns: &str) -> serde_json::Value {
    let out = ok(ctx.cmd("kubectl").args(["get", "ns", ns, "-o", "json"]));
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["metadata"]["labels"].clone()
}

/// Removes whatever the test made, also when an assertion fails half-way.
struct Cleanup<'a> {
    ctx: &'a Ctx,
    release: Option<(String, String)>,
    images: Vec<String>,
    namespaces: Vec<String>,
    forward: Option<Child>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(mut f) = self.forward.take() {
            let _ = f.kill();
            let _ = f.wait();
        }
        if let Some((rel, ns)) = self.release.take() {
            let _ = self.ctx.cmd("helm").args(["uninstall", &rel, "-n", &ns, "--wait"]).output();
        }
        for img in self.images.drain(..) {
            let _ = Command::new("buildah").args(["rmi", "-f", &img]).output();
            if let Some(addr) = std::env::var_os("DEVSPACES_CONTAINERD_ADDRESS") {
                for name in [format!("docker.io/library/{img}"), format!("localhost/{img}")] {
                    let _ = Command::new("ctr")
                        .arg("--address")
                        .arg(&addr)
                        .args(["-n", "k8s.io", "images", "rm", &name])
                        .output();
                }
            }
        }
        for ns in self.namespaces.drain(..) {
            let _ = self.ctx.cmd("kubectl").args(["delete", "ns", &ns, "--ignore-not-found", "--wait=false"]).output();
        }
    }
}

/// The Deployment's first container of a rendered stream, and that every object carries the label.
fn check_rendered(yaml: &str, session: &str, image: &str, want_tail: &[&str]) {
    let docs = parse_documents(yaml).unwrap_or_else(|e| panic!("rendered output does not parse: {e}\n{yaml}"));
    assert!(docs.len() >= 2, "expected a Service and a Deployment:\n{yaml}");
    for d in &docs {
        let label =
            d.get("metadata").and_then(|m| m.get("labels")).and_then(|l| l.get(SESSION_LABEL)).and_then(Node::as_str);
        assert_eq!(label, Some(session), "object without the session label: {d:?}");
    }
    let deploy =
        docs.iter().find(|d| d.get("kind").and_then(Node::as_str) == Some("Deployment")).expect("a Deployment");
    let template = deploy.get("spec").and_then(|s| s.get("template")).unwrap();
    assert_eq!(
        template
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(SESSION_LABEL))
            .and_then(Node::as_str),
        Some(session)
    );
    let Some(Node { value: Value::Seq(containers), .. }) = template.get("spec").and_then(|s| s.get("containers"))
    else {
        panic!("no containers")
    };
    let c = &containers[0];
    assert_eq!(c.get("image").and_then(Node::as_str), Some(image));
    let Some(Node { value: Value::Seq(cmd), .. }) = c.get("command") else { panic!("no command: {c:?}") };
    let cmd: Vec<&str> = cmd.iter().filter_map(Node::as_str).collect();
    let (port, tunnel) = (format!("127.0.0.1:{DEFAULT_AGENT_PORT}"), format!("127.0.0.1:{TUNNEL_PORT}"));
    let mut want =
        vec![DEFAULT_AGENT_PATH, "--root", "/app", "--listen", port.as_str(), "--tunnel", tunnel.as_str(), "--"];
    want.extend_from_slice(want_tail);
    assert_eq!(cmd, want);
    assert!(c.get("args").is_none(), "args must be folded into the command");
    let Some(Node { value: Value::Seq(env), .. }) = c.get("env") else { panic!("no env") };
    let token =
        env.iter().find(|e| e.get("name").and_then(Node::as_str) == Some("DEVSPACES_AGENT_TOKEN")).expect("token env");
    let sref = token.get("valueFrom").and_then(|v| v.get("secretKeyRef")).expect("secretKeyRef");
    assert_eq!(sref.get("name").and_then(Node::as_str), Some(space::session_secret_name(session).as_str()));
    assert_eq!(sref.get("key").and_then(Node::as_str), Some("token"));
}

fn post_render_args(session: &str, image: &str, command_json: &str) -> Vec<String> {
    ["--session", session, "--image", image, "--workdir", "/app", "--command-json", command_json]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn with_pr_args(c: &mut Command, args: &[String]) {
    for a in args {
        c.arg(format!("--post-renderer-args={a}"));
    }
}

fn static_agent() -> PathBuf {
    let t = Instant::now();
    let out = ok(Command::new(repo_root().join("scripts/build-static-agent.sh")).env_remove("RUSTFLAGS"));
    let path = PathBuf::from(out.trim());
    let ldd = Command::new("ldd").arg(&path).output().unwrap();
    let l = text(&ldd);
    assert!(l.contains("statically linked") || l.contains("not a dynamic executable"), "the agent must be static: {l}");
    eprintln!("[cluster_spaces] static agent {} ({:.1} s)", path.display(), t.elapsed().as_secs_f64());
    path
}

fn port_forward(ctx: &Ctx, ns: &str, pod: &str) -> (Child, SocketAddr) {
    let mut child = ctx
        .cmd("kubectl")
        .args([
            "port-forward",
            "-n",
            ns,
            &format!("pod/{pod}"),
            &format!(":{DEFAULT_AGENT_PORT}"),
            "--address",
            "127.0.0.1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    reader.read_line(&mut line).unwrap();
    // kubectl prints a line per connection: keep reading, or its next write fails and drops the connection.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    // "Forwarding from 127.0.0.1:40123 -> 50051"
    let port: u16 = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output: {line:?}"));
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn write_chart(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("Chart.yaml"), "apiVersion: v2\nname: tiny\nversion: 0.1.0\n").unwrap();
    std::fs::write(dir.join("values.yaml"), "image:\n  repository: tiny\n  tag: latest\n  pullPolicy: IfNotPresent\n")
        .unwrap();
    std::fs::write(
        dir.join("templates/deployment.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        imagePullPolicy: {{ .Values.image.pullPolicy }}
        readinessProbe:
          exec: {command: [test, -f, /app/ready.txt]}
          periodSeconds: 1
"#,
    )
    .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn spaces_post_render_and_agent_in_a_pod() {
    let started = Instant::now();
    let kubeconfig = cluster_kubeconfig();
    let registry = std::env::var("DEVSPACES_REGISTRY").expect("DEVSPACES_REGISTRY (from tests/cluster/env)");
    let ctx = Ctx { kubeconfig, state_dir: tempfile::tempdir().unwrap(), work: tempfile::tempdir().unwrap() };
    let id = short_id();
    let (parent, child) = (format!("dsp-{id}"), format!("dsc-{id}"));
    let session = format!("t{id}");
    let mut cleanup = Cleanup {
        ctx: &ctx,
        release: None,
        images: Vec::new(),
        namespaces: vec![child.clone(), parent.clone()],
        forward: None,
    };

    // 1. Spaces: select parent/child creates both namespaces with Dev Spaces' labels.
    let sel = ctx.ds(&["space", "select", &format!("{parent}/{child}")]);
    assert!(sel.status.success(), "space select: {}", text(&sel));
    assert!(
        text(&sel).contains(&format!("ingress hosts render as {child}.s.{parent}.<service>.devspaces.localhost")),
        "{}",
        text(&sel)
    );
    let pl = ns_labels(&ctx, &parent);
    assert_eq!(pl["azds.io/space"], "true");
    assert!(pl.get("azds.io/parent-space").is_none(), "a root space has no parent: {pl}");
    let cl = ns_labels(&ctx, &child);
    assert_eq!(
        (cl["azds.io/space"].as_str(), cl["azds.io/parent-space"].as_str()),
        (Some("true"), Some(parent.as_str()))
    );
    let list = text(&ctx.ds(&["space", "list"]));
    assert!(
        list.contains(&format!("  {parent}\n")) && list.contains(&format!("* {parent}/{child}\n")),
        "space list:\n{list}"
    );
    let refused = ctx.ds(&["space", "remove", &parent]);
    assert!(!refused.status.success() && text(&refused).contains("has child spaces"), "{}", text(&refused));
    let taken = ctx.ds(&["space", "select", &child]);
    assert!(!taken.status.success() && text(&taken).contains("already the child space"), "{}", text(&taken));
    eprintln!("[cluster_spaces] spaces ok ({:.1} s)", started.elapsed().as_secs_f64());

    // 2. The post-renderer on the python-web example: Helm 4 through the plugin, Helm 3 as an executable.
    let chart = repo_root().join("examples/python-web/charts/python-web");
    let image = format!("python-web:{session}-1");
    let pr = post_render_args(&session, &image, r#"["python3","app.py"]"#);
    let plugins = helm_plugin::write(&ctx.work.path().join("helm-plugins"), &bin()).unwrap();
    let tag_set = format!("image.tag={session}-1");
    let mut h4 = ctx.helm_with_plugin(&plugins, &["template", "web"], &chart, &child, &["--set", &tag_set], &pr);
    check_rendered(&ok(&mut h4), &session, &image, &["python3", "app.py"]);
    let mut h3 = ctx.cmd("helm3");
    h3.args(["template", "web"])
        .arg(&chart)
        .args(["-n", &child, "--set", &format!("image.tag={session}-1"), "--post-renderer"])
        .arg(bin())
        .arg("--post-renderer-args=post-render");
    with_pr_args(&mut h3, &pr);
    check_rendered(&ok(&mut h3), &session, &image, &["python3", "app.py"]);
    eprintln!(
        "[cluster_spaces] post-render via helm 4 plugin and helm3 exec ok ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // 3. A busybox image plus the agent layer, imported into the node.
    let agent = static_agent();
    let tag = format!("{session}-1");
    let (base, app) = (format!("tiny-base:{tag}"), format!("tiny:{tag}"));
    cleanup.images = vec![base.clone(), app.clone()];
    let src = ctx.work.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Dockerfile"),
        "ARG REGISTRY\nFROM ${REGISTRY}/devspaces/busybox:1.35\nWORKDIR /app\nRUN echo ready > /app/ready.txt\nCMD [\"sh\", \"-c\", \"echo tiny-started; exec sleep 100000\"]\n",
    )
    .unwrap();
    let t = Instant::now();
    ok(Command::new("buildah")
        .args(["bud", "-q", "--network", "none", "--build-arg", &format!("REGISTRY={registry}"), "-t", &base])
        .arg(&src));
    let layer = ctx.work.path().join("agent-layer");
    agent_layer::write_context(&layer, &format!("localhost/{base}"), &agent, DEFAULT_AGENT_PATH).unwrap();
    ok(Command::new("buildah").args(["bud", "-q", "--network", "none", "-t", &app]).arg(&layer));
    let archive = ctx.work.path().join("tiny.tar");
    ok(Command::new("buildah").args(["push", "-q", &app]).arg(format!("docker-archive:{}:{app}", archive.display())));
    let containerd =
        std::env::var("DEVSPACES_CONTAINERD_ADDRESS").expect("DEVSPACES_CONTAINERD_ADDRESS (from tests/cluster/env)");
    ok(Command::new("ctr").args(["--address", &containerd, "-n", "k8s.io", "images", "import"]).arg(&archive));
    eprintln!("[cluster_spaces] image built with the agent layer and imported ({:.1} s)", t.elapsed().as_secs_f64());

    // 4. The session token Secret (kube-rs), then helm install through the Helm 4 plugin.
    let cluster =
        Cluster::connect(&ConnectOptions { kubeconfig: Some(ctx.kubeconfig.clone()), context: None }).await.unwrap();
    let token = format!("token-{id}-{}", std::process::id());
    space::apply_session_secret(&cluster, &child, &session, &token).await.unwrap();
    let tiny = ctx.work.path().join("tiny");
    write_chart(&tiny);
    let t = Instant::now();
    let tag_set = format!("image.tag={tag}");
    let flags = ["--set", &tag_set, "--set", "image.pullPolicy=Never", "--wait", "--timeout", "120s"];
    let pr = post_render_args(&session, &app, r#"["sh","-c","echo tiny-started; exec sleep 100000"]"#);
    let mut install = ctx.helm_with_plugin(&plugins, &["install", "tiny"], &tiny, &child, &flags, &pr);
    cleanup.release = Some(("tiny".into(), child.clone()));
    ok(&mut install);
    let sel = format!("{SESSION_LABEL}={session}");
    ok(ctx.cmd("kubectl").args(["wait", "-n", &child, "--for=condition=Ready", "pod", "-l", &sel, "--timeout=120s"]));
    let pod = ok(ctx.cmd("kubectl").args([
        "get",
        "pod",
        "-n",
        &child,
        "-l",
        &sel,
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]));
    eprintln!("[cluster_spaces] helm install to pod Ready ({:.1} s)", t.elapsed().as_secs_f64());
    let pid1 = ok(ctx.cmd("kubectl").args(["exec", "-n", &child, &pod, "--", "cat", "/proc/1/cmdline"]));
    assert!(pid1.starts_with(&format!("{DEFAULT_AGENT_PATH}\0--root\0/app\0")), "PID 1 is not the agent: {pid1:?}");
    let dep = ok(ctx.cmd("kubectl").args(["get", "deploy", "tiny", "-n", &child, "-o", "jsonpath={.metadata.labels}"]));
    assert!(dep.contains(&session), "deployment labels: {dep}");

    // 5. Reach the agent through a port-forward with the token, send a file, read it back in the pod.
    let (fwd, addr) = port_forward(&ctx, &child, &pod);
    cleanup.forward = Some(fwd);
    let connected = tokio::time::timeout(
        Duration::from_secs(30),
        devspacesd::agent::client::AgentClient::connect(addr, &token, None),
    )
    .await
    .expect("agent answers within 30 s");
    let (client, _events) = connected.unwrap_or_else(|e| {
        let logs = ctx.cmd("kubectl").args(["logs", "-n", &child, &pod]).output().unwrap();
        panic!("the agent refused or dropped the connection: {e}\npod logs:\n{}", text(&logs))
    });
    assert!(client.welcome.app_pid.is_some(), "the agent runs the app");
    let body = format!("hello from {session}\n");
    let mut tarball = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tarball.append_data(&mut h, "synced/hello.txt", body.as_bytes()).unwrap();
    client.send_files(1, tarball.into_inner().unwrap()).await.expect("send_files");
    let back = ok(ctx.cmd("kubectl").args(["exec", "-n", &child, &pod, "--", "cat", "/app/synced/hello.txt"]));
    assert_eq!(back, body);
    let wrong = devspacesd::agent::client::AgentClient::connect(addr, "not-the-token", None).await;
    assert!(wrong.is_err(), "a wrong token must be refused");
    eprintln!(
        "[cluster_spaces] agent reached through port-forward, file synced ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // 6. Uninstall and remove the spaces (parent with its child).
    if let Some(mut f) = cleanup.forward.take() {
        let _ = f.kill();
        let _ = f.wait();
    }
    ok(ctx.cmd("helm").args(["uninstall", "tiny", "-n", &child, "--wait"]));
    cleanup.release = None;
    let removed = ctx.ds(&["space", "remove", &parent, "--recursive"]);
    assert!(removed.status.success(), "space remove: {}", text(&removed));
    for ns in [&parent, &child] {
        let gone = ctx.cmd("kubectl").args(["get", "ns", ns]).output().unwrap();
        assert!(!gone.status.success(), "namespace {ns} still exists");
    }
    cleanup.namespaces.clear();
    let list = text(&ctx.ds(&["space", "list"]));
    assert!(!list.contains(&parent), "space list after remove:\n{list}");
    drop(cleanup);
    eprintln!("[cluster_spaces] done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Sessions of one `up` of several services select the same new space at once: every select
/// succeeds, whichever made the namespace (the others find it made a moment ago).
#[test]
fn a_new_space_selected_by_several_processes_at_once() {
    let ctx = Ctx {
        kubeconfig: cluster_kubeconfig(),
        state_dir: tempfile::tempdir().unwrap(),
        work: tempfile::tempdir().unwrap(),
    };
    let (parent, child) = (format!("dsa-{}", short_id()), format!("dsb-{}", short_id()));
    let cleanup = Cleanup {
        ctx: &ctx,
        release: None,
        images: Vec::new(),
        namespaces: vec![child.clone(), parent.clone()],
        forward: None,
    };
    let space = format!("{parent}/{child}");
    let selects: Vec<Child> = (0..4)
        .map(|_| {
            ctx.cmd(bin().to_str().unwrap())
                .args(["space", "select", &space])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in selects {
        let out = s.wait_with_output().unwrap();
        assert!(out.status.success(), "space select {space}: {}", text(&out));
    }
    assert_eq!(ns_labels(&ctx, &parent)["azds.io/space"], "true");
    assert_eq!(ns_labels(&ctx, &child)["azds.io/parent-space"], parent.as_str());
    drop(cleanup);
}
