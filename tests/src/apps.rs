//! A whole application for the multi-service tests: three Python services (web -> api -> data),
//! each its own folder with the files `devspacesd prep` writes (azds.yaml, Dockerfiles, chart),
//! calling each other by service name only (`http://api/`), as the same code would in the cluster.
//! The same source files run on every backend. Each call passes on the routing headers
//! (`azds-route-as`, `kubernetes-route-as`) of the request being served, as the reference app's
//! `HttpClientExtensions` does, so a request for a child space reaches that space's services at
//! every hop; and its `traceparent`, as ASP.NET Core's `HttpClient` does by itself, so the traces
//! of one request through the three services are linked.

use std::path::Path;

use serde_json::Value;

use crate::{ok, Env, Messages, Up};

/// A stdlib HTTP server: GET / answers `reply()`, which may `call` another service by name.
/// It binds every interface in an image devspaces built (a container or a pod: the agent is at
/// `/devspaces/devspaces-agent`), else loopback only; on `PORT`.
fn app(reply: &str) -> String {
    app_on(reply, r#"int(os.environ["PORT"])"#)
}

/// [`app`] listening on the port the Python expression `port` gives.
pub fn app_on(reply: &str, port: &str) -> String {
    format!(
        r#"import http.server, json, os, threading, urllib.request

# The routing headers and the trace context of the request being served (per handler thread),
# passed on by call().
PASSED_ON = ("azds-route-as", "kubernetes-route-as", "traceparent")
incoming = threading.local()

def call(name):
    # By name only: the cluster's DNS, the engine network's alias, or devspaces' name proxy
    # (HTTP_PROXY on the local backend) resolves it.
    req = urllib.request.Request("http://%s/" % name, headers=getattr(incoming, "route", {{}}))
    return json.load(urllib.request.urlopen(req, timeout=30))

def reply():
    {reply}

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        incoming.route = {{h: self.headers[h] for h in PASSED_ON if self.headers.get(h)}}
        try:
            body, status = json.dumps(reply()).encode(), 200
        except Exception as e:
            body, status = json.dumps({{"error": repr(e)}}).encode(), 502
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

contained = os.path.exists("/devspaces/devspaces-agent")
host = "0.0.0.0" if contained else "127.0.0.1"
port = {port}
print("listening on", host, port, flush=True)
http.server.ThreadingHTTPServer((host, port), H).serve_forever()
"#
    )
}

/// data's reply: its item, its pid and the `azds-route-as` the request reached it with (`None`
/// without), which shows that every hop passed the header on.
pub const DATA: &str =
    r#"return {"item": "apple", "pid": os.getpid(), "routeAs": incoming.route.get("azds-route-as")}"#;

/// The three services, front end last.
pub const THREE: [&str; 3] = ["data", "api", "web"];

/// Writes the three-service app under `root` (one folder per service) and preps each folder.
pub fn write_three_services(env: &Env, root: &Path) {
    let services = [
        ("data", DATA),
        ("api", r#"return {"via": "api", "pid": os.getpid(), "data": call("data")}"#),
        ("web", r#"return {"page": "web", "pid": os.getpid(), "api": call("api")}"#),
    ];
    for (name, reply) in services {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.py"), app(reply)).unwrap();
        std::fs::write(dir.join("requirements.txt"), "").unwrap();
        ok(env.command().arg("prep").arg(&dir));
    }
}

/// Points both Dockerfiles of every service at `image` (a Python base image the engine or the
/// cluster holds; nothing is pulled here) and drops their `pip install`: the app has no
/// dependencies, and Debian's python3 image has no pip.
pub fn use_base_image(root: &Path, image: &str) {
    for name in THREE {
        use_base_image_in(&root.join(name), image);
    }
}

/// [`use_base_image`] for the prepped service in `dir`.
pub fn use_base_image_in(dir: &Path, image: &str) {
    for file in ["Dockerfile", "Dockerfile.develop"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("FROM python:3.12-slim"), "prep's Dockerfile changed: {text}");
        let text: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with("RUN pip install"))
            .map(|l| if l.starts_with("FROM ") { format!("FROM {image}") } else { l.to_string() })
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
    }
}

/// Changes the data service's item (a process-restart edit).
pub fn edit_data(root: &Path, from: &str, to: &str) {
    let app = root.join("data/app.py");
    std::fs::write(&app, std::fs::read_to_string(&app).unwrap().replace(from, to)).unwrap();
}

/// The data service restarted (its `restarting` status comes), and every `restarting` status `up`
/// has shown so far is the data service's.
pub fn assert_only_data_restarted(up: &mut Up) {
    up.wait_method("devspaces/serviceStatus", |p| p["service"] == "data" && p["phase"] == "restarting");
    let restarted: Vec<&Value> = up
        .seen
        .iter()
        .filter(|e| e["method"] == "devspaces/serviceStatus" && e["params"]["phase"] == "restarting")
        .collect();
    assert!(restarted.iter().all(|e| e["params"]["service"] == "data"), "only data restarted: {restarted:?}");
}

/// The trace id the linked-trace checks send in their `traceparent`, and the span they send it as.
pub const SENT_TRACE: (&str, &str) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");

/// The `traceparent` header a linked-trace check sends.
pub fn sent_traceparent() -> String {
    format!("00-{}-{}-01", SENT_TRACE.0, SENT_TRACE.1)
}

/// The trace of `service` in the request [`sent_traceparent`] started whose hop before it was
/// `parent` (a span id): one hop of the linked traces of that request.
pub fn linked_hop(up: &mut Up, service: &str, parent: &str) -> Value {
    let p = up.wait_method("devspaces/trace", |p| {
        p["service"] == service && p["link"]["traceId"] == SENT_TRACE.0 && p["link"]["parentId"] == parent
    });
    assert!(p["link"]["spanId"].as_str().is_some_and(|s| s.len() == 16 && s != parent), "{p}");
    p
}

/// The span id of a trace [`linked_hop`] gave: the parent of the next hop.
pub fn span(trace: &Value) -> String {
    trace["link"]["spanId"].as_str().unwrap_or_default().to_string()
}
