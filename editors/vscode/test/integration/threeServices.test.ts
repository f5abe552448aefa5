// End to end: one Up on a folder of three Python services (written by `devspacesd prep`) through the bundled extension and the real `devspacesd --stdio`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe } from "node:test";
import type { TreeNode } from "../../src/model/tree";
import { activateBundled, channelLines, daemonBinary, orderedSteps, probeStdio, stopDaemons, treeSnapshot, waitFor, type Activated, type TreeSnapshot } from "../support/harness";
import { LogLevel, recorded, setLogLevel, setSetting, Uri, workspace } from "../support/vscode-stub";

const VIEW = "devspaces.services";
const NAMES = ["api", "data", "web"];

/** A stdlib HTTP server that answers every GET with its service's name (PORT comes from devspaces). */
function appSource(name: string): string {
  return `import http.server, os

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"${name}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

print("${name} listening on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString("utf8")));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      })
      .on("error", reject);
  });
}

/** The requests vscode-languageclient traced on the connection (the "Dev Spaces" channel at log level Trace). */
function sentRequests(method: string): string[] {
  return channelLines("Dev Spaces").filter((l) => l.includes(`Sending request '${method} - (`));
}

/** A wait ends at the first error the extension shows (the caller adds what the daemon and the apps said). */
function failFastOnError(): void {
  const errors = recorded.messages.filter((m) => m.level === "error");
  if (errors.length > 0) throw new Error(`the extension showed errors: ${JSON.stringify(errors)}`);
}

const diagnostics = () =>
  `\nDev Spaces log (last 30 lines):\n${channelLines("Dev Spaces").slice(-30).join("\n")}\n` +
  NAMES.map((n) => `Dev Spaces: ${n}:\n${channelLines(`Dev Spaces: ${n}`).join("\n")}`).join("\n") +
  `\nmessages: ${JSON.stringify(recorded.messages)}`;

describe("three services through the extension and the real daemon, with one up", () => {
  let activated: Activated | undefined;
  let work = "";
  let app = "";
  let stateDir = "";

  const step = orderedSteps();

  const services = async (): Promise<TreeSnapshot[]> => (await treeSnapshot(VIEW)).filter((n) => n.context === "service");
  const openForward = (s: TreeSnapshot) => s.children.find((c) => c.context === "portForward" && !(c.description ?? "").includes("("));

  step(1, "devspacesd prep writes three services and the extension activates with the wire traced", async () => {
    const binary = daemonBinary();
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-three-")));
    stateDir = path.join(work, "state");
    app = path.join(work, "shop");
    for (const name of NAMES) {
      const dir = path.join(app, name);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, "app.py"), appSource(name));
      fs.writeFileSync(path.join(dir, "requirements.txt"), "");
      execFileSync(binary, ["prep", dir], { stdio: "pipe" });
      assert.ok(fs.existsSync(path.join(dir, "azds.yaml")), `prep wrote no azds.yaml in ${dir}`);
    }
    // Our own daemon and state, never the user's shared one.
    process.env.DEVSPACES_STATE_DIR = stateDir;
    await probeStdio(binary, process.env);
    setSetting("devspaces.daemonPath", binary);
    setSetting("devspaces.backend", "local");
    // At Trace, vscode-languageclient writes every message it sends to the "Dev Spaces" channel.
    setLogLevel(LogLevel.Trace);
    workspace.workspaceFolders = [{ uri: Uri.file(app), name: "shop", index: 0 }];
    activated = activateBundled();
    await waitFor("the client to start", () => channelLines("Dev Spaces").some((l) => l.includes("--stdio (from setting)")));
  });

  after(async () => {
    await activated?.close();
    // The shared daemon would leave by itself after 10 idle minutes; ours goes now.
    stopDaemons(stateDir);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const urls = new Map<string, string>();

  step(2, "Up on the folder: one devspaces/up, three services running in the tree with their URLs", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(app));
    const tree = await waitFor(
      "three services running, each with an open port forward",
      async () => {
        failFastOnError();
        const t = await services();
        return t.length === 3 && t.every((s) => s.description?.startsWith("running") && openForward(s)) ? t : undefined;
      },
      150_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}${diagnostics()}`);
    });
    assert.deepEqual(tree.map((s) => s.label).sort(), NAMES);
    const ups = sentRequests("devspaces/up");
    assert.equal(ups.length, 1, ups.join("\n"));
    for (const s of tree) {
      const pf = openForward(s) as TreeSnapshot;
      assert.match(pf.label, /^http:\/\/localhost:\d+$/, s.label);
      urls.set(s.label, pf.label);
    }
    assert.equal(new Set(urls.values()).size, 3, `three different URLs: ${[...urls.values()].join(", ")}`);
    assert.match(recorded.statusBarItems[0]?.text ?? "", /3 services running/);
    assert.deepEqual(recorded.messages.filter((m) => m.level === "error"), []);
  });

  step(3, "each URL serves its own service, and the request shows under that service in the tree", async () => {
    for (const [name, url] of urls) {
      const res = await get(`${url}/hello-${name}`);
      assert.equal(res.status, 200, name);
      assert.equal(res.body, name);
    }
    await waitFor(
      "a trace under each service",
      async () => {
        const t = await services();
        return t.every((s) => {
          const traces = s.children.find((c) => c.context === "traces");
          return traces?.children.some((c) => c.label === `GET /hello-${s.label}`);
        });
      },
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}${diagnostics()}`);
    });
    for (const s of await services()) {
      const labels = s.children.find((c) => c.context === "traces")?.children.map((c) => c.label) ?? [];
      assert.deepEqual(labels, [`GET /hello-${s.label}`], s.label);
    }
  });

  step(4, "Down on the api item stops api only; Down All stops the rest", async () => {
    const provider = recorded.trees.get(VIEW);
    assert.ok(provider);
    const api = ((await provider.getChildren(undefined)) as TreeNode[]).find((n) => n.label === "api");
    assert.ok(api);
    await recorded.commands.get("devspaces.down")?.(api);
    assert.deepEqual((await services()).map((s) => s.label).sort(), ["data", "web"]);
    await waitFor("api's URL to stop answering", async () => {
      const res = await get(urls.get("api") ?? "").catch(() => undefined);
      return res?.body !== "api";
    }, 30_000);
    const web = await get(urls.get("web") ?? "");
    assert.equal(web.body, "web");
    await recorded.commands.get("devspaces.downAll")?.();
    assert.deepEqual(await services(), []);
    assert.equal(sentRequests("devspaces/down").length, 3);
    assert.deepEqual(recorded.messages.filter((m) => m.level === "error"), []);
  });
});
