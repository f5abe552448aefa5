//! `prep` then `up` on the local backend, per stack whose toolchain is on this machine: a static
//! edit is static-sync, a source edit restarts, a project-file edit redeploys.
//!
//! Each test writes a small project (no dependencies), runs `devspacesd prep`, then `devspacesd up
//! --json`, and checks the three classes through the app's own HTTP answers. A stack whose tool
//! (`node`, `python3`, `go`, `mvn`) is missing is skipped with a note. .NET is covered by the
//! `prep` tables in the daemon (its generated files load and classify), not here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use devspaces_tests::*;

struct Stack {
    tool: &'static str,
    folder: &'static str,
    files: &'static [(&'static str, &'static str)],
    static_file: &'static str,
    source_file: &'static str,
    project_file: &'static str,
    /// Appended to the project file: a change that keeps it valid.
    project_edit: &'static str,
}

const NODE_SERVER: &str = r#"// A web app for the prep test: /version answers VERSION, the rest is served from public/.
const http = require('http');
const fs = require('fs');
const path = require('path');
const VERSION = 'v1';
http.createServer((req, res) => {
  if (req.url === '/version') { res.end(VERSION); return; }
  const file = path.join(__dirname, 'public', req.url === '/' ? 'index.html' : req.url);
  fs.readFile(file, (err, data) => { if (err) { res.statusCode = 404; res.end('not found'); } else { res.end(data); } });
}).listen(Number(process.env.PORT || 3000));
"#;

const PYTHON_APP: &str = r#"# A web app for the prep test: /version answers VERSION, the rest is served from static/.
import http.server
import os

VERSION = "v1"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def do_GET(self):
        if self.path == "/version":
            body = VERSION.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()
"#;

const GO_MAIN: &str = r#"// A web app for the prep test: /version answers version, the rest is served from static/.
package main

import (
	"fmt"
	"net/http"
	"os"
)

const version = "v1"

func main() {
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, version) })
	http.Handle("/", http.FileServer(http.Dir("static")))
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"#;

const NODE: Stack = Stack {
    tool: "node",
    folder: "shop",
    files: &[
        ("package.json", "{\n  \"name\": \"shop\",\n  \"version\": \"1.0.0\",\n  \"main\": \"server.js\"\n}\n"),
        ("server.js", NODE_SERVER),
        ("public/index.html", "<h1>page one</h1>\n"),
    ],
    static_file: "public/index.html",
    source_file: "server.js",
    project_file: "package.json",
    project_edit: "\n",
};

const PYTHON: Stack = Stack {
    tool: "python3",
    folder: "catalog",
    files: &[
        ("requirements.txt", "# no dependencies\n"),
        ("app.py", PYTHON_APP),
        ("static/index.html", "<h1>page one</h1>\n"),
    ],
    static_file: "static/index.html",
    source_file: "app.py",
    project_file: "requirements.txt",
    project_edit: "# edited\n",
};

const GO: Stack = Stack {
    tool: "go",
    folder: "gateway",
    files: &[
        ("go.mod", "module example.com/gateway\n\ngo 1.22\n"),
        ("main.go", GO_MAIN),
        ("static/index.html", "<h1>page one</h1>\n"),
    ],
    static_file: "static/index.html",
    source_file: "main.go",
    project_file: "go.mod",
    project_edit: "// edited\n",
};

const JAVA_APP: &str = r#"// A web app for the prep test: /version answers VERSION, the rest is served from the static folder.
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

public class App {
    static final String VERSION = "v1";

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/", ex -> {
            String p = ex.getRequestURI().getPath();
            byte[] body;
            int code = 200;
            Path file = Paths.get("src/main/resources/static", p.equals("/") ? "index.html" : p.substring(1));
            if (p.equals("/version")) {
                body = VERSION.getBytes();
            } else if (Files.isRegularFile(file)) {
                body = Files.readAllBytes(file);
            } else {
                body = "not found".getBytes();
                code = 404;
            }
            ex.sendResponseHeaders(code, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        server.start();
    }
}
"#;

const POM: &str = r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>orders</artifactId>
  <version>1.0</version>
  <packaging>jar</packaging>
  <properties>
    <maven.compiler.source>17</maven.compiler.source>
    <maven.compiler.target>17</maven.compiler.target>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-jar-plugin</artifactId>
        <configuration><archive><manifest><mainClass>App</mainClass></manifest></archive></configuration>
      </plugin>
    </plugins>
  </build>
</project>
"#;

const JAVA: Stack = Stack {
    tool: "mvn",
    folder: "orders",
    files: &[
        ("pom.xml", POM),
        ("src/main/java/App.java", JAVA_APP),
        ("src/main/resources/static/index.html", "<h1>page one</h1>\n"),
    ],
    static_file: "src/main/resources/static/index.html",
    source_file: "src/main/java/App.java",
    project_file: "pom.xml",
    project_edit: "<!-- edited -->\n",
};

fn have(tool: &str) -> bool {
    let arg = if tool == "go" { "version" } else { "--version" };
    Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success())
}

fn edit(svc: &Path, file: &str, from: &str, to: &str) {
    let p = svc.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} holds {from:?}");
    std::fs::write(&p, text.replace(from, to)).unwrap();
}

fn prep_then_up(stack: &Stack) {
    if !have(stack.tool) {
        eprintln!("skipped: {} is not on this machine", stack.tool);
        return;
    }
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let svc = tmp.path().join(stack.folder);
    for (path, contents) in stack.files {
        let p = svc.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    let out = env.command().arg("prep").arg(&svc).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "prep failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let chart = format!("charts/{}", stack.folder);
    for f in [
        "Dockerfile",
        "Dockerfile.develop",
        "azds.yaml",
        &format!("{chart}/Chart.yaml"),
        &format!("{chart}/templates/_helpers.tpl"),
    ] {
        assert!(stdout.contains(&format!("wrote {f}")), "prep names {f}: {stdout}");
        assert!(svc.join(f).is_file(), "{f} exists");
    }
    // Its output loads with no warning (classify prints warnings on stderr) and classifies as intended.
    let out = env
        .command()
        .args(["classify", "--service"])
        .arg(&svc)
        .args([stack.static_file, stack.source_file, stack.project_file, "Dockerfile.develop"])
        .current_dir(&svc)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "classify: {}", String::from_utf8_lossy(&out.stderr));
    let classes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or_default().to_string())
        .collect();
    assert_eq!(classes, ["static-sync", "process-restart", "redeploy", "redeploy"]);
    // A second prep refuses to overwrite.
    let again = env.command().arg("prep").arg(&svc).output().unwrap();
    assert!(!again.status.success(), "a second prep without --force refuses");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    if stack.tool == "go" {
        // Fill Go's build cache first, so the agent's first build is not a cold compile of net/http.
        let warm = Command::new("go").args(["build", "-o", "/dev/null", "."]).current_dir(&svc).status().unwrap();
        assert!(warm.success(), "the Go project builds");
    }
    if stack.tool == "mvn" {
        // Fetch Maven's plugins first (once per machine), so the agent's first build is not a download.
        let warm = Command::new("mvn").args(["-q", "package", "-DskipTests"]).current_dir(&svc).status().unwrap();
        assert!(warm.success(), "the Maven project builds");
        std::fs::remove_dir_all(svc.join("target")).unwrap();
    }

    let mut up = Up::start(&env, &svc);
    let port = up.url_port();
    let pid1 = up.wait_running();
    assert_eq!(http_get(port, "/version").1, "v1");
    assert!(http_get(port, "/").1.contains("page one"));
    // The deploy's full sync (class redeploy) names every file: take it, so the waits below see the edits.
    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy" && synced_with(p, stack.static_file));

    // A static file: synced, served at once, the same process.
    edit(&svc, stack.static_file, "page one", "page two");
    let s = up.wait_method("devspaces/synced", |p| synced_with(p, stack.static_file));
    assert_eq!(s["class"], "static-sync");
    assert!(http_get(port, "/").1.contains("page two"));
    assert!(alive(pid1), "a static edit keeps the app");

    // A source file: synced, the app restarts.
    edit(&svc, stack.source_file, "v1", "v2");
    let s = up.wait_method("devspaces/synced", |p| synced_with(p, stack.source_file));
    assert_eq!(s["class"], "process-restart");
    let pid2 = up.wait_running();
    assert_ne!(pid1, pid2, "a source edit restarts the app");
    assert_eq!(http_get(port, "/version").1, "v2");

    // The project file: a redeploy on the same URL.
    let p = svc.join(stack.project_file);
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str(stack.project_edit);
    std::fs::write(&p, text).unwrap();
    up.wait_method("devspaces/synced", |p| p["class"] == "redeploy");
    let pid3 = up.wait_for_within("running after the redeploy", Duration::from_secs(120), |v| {
        v["method"] == "devspaces/serviceStatus" && v["params"]["phase"] == "running"
    })["params"]["detail"]
        .as_str()
        .and_then(|d| d.strip_prefix("pid "))
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap();
    assert_ne!(pid3, pid2);
    assert_eq!(http_get(port, "/version").1, "v2", "same URL after the redeploy");

    up.interrupt();
    wait_gone(pid3, "the app after Ctrl-C");
}

#[test]
fn node_prep_then_up() {
    prep_then_up(&NODE);
}

#[test]
fn python_prep_then_up() {
    prep_then_up(&PYTHON);
}

#[test]
fn go_prep_then_up() {
    prep_then_up(&GO);
}

#[test]
fn java_prep_then_up() {
    prep_then_up(&JAVA);
}
