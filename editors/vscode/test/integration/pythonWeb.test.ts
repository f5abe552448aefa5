// End to end: the bundled extension and vscode-languageclient against the real `devspacesd --stdio` on a temp copy of examples/python-web.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe } from "node:test";
import { repoRoot } from "../support/golden";
import { activateBundled, channelLines, daemonBinary, orderedSteps, probeStdio, stopDaemons, treeSnapshot, waitFor, type Activated, type TreeSnapshot } from "../support/harness";
import { openTextDocument, recorded, setSetting, Uri, workspace, type Diagnostic } from "../support/vscode-stub";

const VIEW = "devspaces.services";
const CHANNEL = "Dev Spaces: python-web";

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.on("data", (b: Buffer) => (body += b.toString("utf8")));
        res.on("end", () => { resolve({ status: res.statusCode ?? 0, body }); });
      })
      .on("error", reject);
  });
}

const diagnostics = () =>
  `\nDev Spaces log:\n${channelLines("Dev Spaces").join("\n")}\n${CHANNEL}:\n${channelLines(CHANNEL).join("\n")}\n` +
  `messages: ${JSON.stringify(recorded.messages)}`;

describe("python-web through the extension and the real daemon", () => {
  let activated: Activated | undefined;
  let work = "";
  let service: string;
  let stateDir: string;

  const step = orderedSteps();

  step(1, "devspacesd --stdio answers initialize and the extension activates", async () => {
    const binary = daemonBinary();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-e2e-"));
    stateDir = path.join(work, "state");
    service = path.join(work, "python-web");
    fs.cpSync(path.join(repoRoot(), "examples", "python-web"), service, { recursive: true });
    // Our own daemon and state, never the user's shared one.
    process.env.DEVSPACES_STATE_DIR = stateDir;
    await probeStdio(binary, process.env);
    setSetting("devspaces.daemonPath", binary);
    setSetting("devspaces.backend", "local");
    workspace.workspaceFolders = [{ uri: Uri.file(service), name: "python-web", index: 0 }];
    activated = activateBundled();
    await waitFor("the client to start", () => channelLines("Dev Spaces").some((l) => l.includes("--stdio (from setting)")));
  });

  after(async () => {
    await activated?.close();
    // The shared daemon would leave by itself after 10 idle minutes; ours goes now.
    stopDaemons(stateDir);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  let url = "";

  step(2, "up: the service runs with a port forward in the tree", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    const svc = await waitFor(
      "python-web running with an open port forward",
      async () => {
        const s = (await treeSnapshot(VIEW)).find((n) => n.label === "python-web");
        return s?.description?.startsWith("running") && s.children.some((c) => c.context === "portForward" && !(c.description ?? "").includes("(")) ? s : undefined;
      },
      120_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}${diagnostics()}`);
    });
    const pf = svc.children.find((c) => c.context === "portForward") as TreeSnapshot;
    assert.match(pf.label, /^http:\/\/localhost:\d+$/);
    url = pf.label;
    assert.match(recorded.statusBarItems[0]?.text ?? "", /python-web: running/);
  });

  step(3, "a log line reaches the service's output channel", async () => {
    await waitFor("the app's start line", () => channelLines(CHANNEL).some((l) => /python-web .* listening on :\d+/.test(l)), 30_000).catch(
      (e: unknown) => {
        throw new Error(`${String(e)}${diagnostics()}`);
      },
    );
  });

  step(4, "an edit to static/index.html gives a synced event", async () => {
    const page = path.join(service, "static", "index.html");
    fs.writeFileSync(page, fs.readFileSync(page, "utf8").replace("Hello from python-web", "Hello from the extension test"));
    await waitFor("a synced line", () => channelLines(CHANNEL).some((l) => l.startsWith("[devspaces] synced static-sync: static/index.html")), 30_000).catch(
      (e: unknown) => {
        throw new Error(`${String(e)}${diagnostics()}`);
      },
    );
    const svc = (await treeSnapshot(VIEW)).find((n) => n.label === "python-web");
    assert.ok(svc?.children.some((c) => c.context === "synced" && c.label === "synced static/index.html"));
  });

  step(5, "an HTTP GET to the forwarded URL adds a trace to the tree", async () => {
    const res = await get(`${url}/`);
    assert.equal(res.status, 200);
    assert.match(res.body, /Hello from the extension test/);
    const traces = await waitFor("a trace", async () => {
      const svc = (await treeSnapshot(VIEW)).find((n) => n.label === "python-web");
      const node = svc?.children.find((c) => c.context === "traces");
      return node && node.children.length > 0 ? node.children : undefined;
    }, 15_000);
    assert.equal(traces[0]?.label, "GET /");
    assert.match(traces[0]?.description ?? "", /^200 · \d+ ms · trace [0-9a-f]{8}$/);
  });

  step(6, "down clears the service", async () => {
    await recorded.commands.get("devspaces.down")?.(Uri.file(service));
    await waitFor("an empty tree", async () => ((await treeSnapshot(VIEW)).length === 0 ? true : undefined), 30_000).catch((e: unknown) => {
      throw new Error(`${String(e)}${diagnostics()}`);
    });
    assert.deepEqual(
      recorded.messages.filter((m) => m.level === "error"),
      [],
    );
  });

  step(7, "an azds.yaml with an unknown key gets a did-you-mean diagnostic", async () => {
    const dir = path.join(work, "typo");
    fs.mkdirSync(dir);
    const file = path.join(dir, "azds.yaml");
    const text = fs.readFileSync(path.join(service, "azds.yaml"), "utf8").replace("command: [python3, app.py]", "comand: [python3, app.py]");
    fs.writeFileSync(file, text);
    openTextDocument(file);
    const diags = (await waitFor("diagnostics for azds.yaml", () => recorded.diagnostics.get("devspaces")?.get(Uri.file(file).toString()), 15_000).catch(
      (e: unknown) => {
        throw new Error(`${String(e)}${diagnostics()}`);
      },
    )) as Diagnostic[];
    const line = text.split("\n").findIndex((l) => l.includes("comand:"));
    const hit = diags.find((d) => d.message.includes("'comand'"));
    assert.ok(hit, JSON.stringify(diags));
    assert.match(hit.message, /did you mean 'command'\?/);
    assert.equal(hit.range.start.line, line);
    assert.equal(hit.source, "devspaces");
  });
});
