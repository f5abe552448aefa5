// The bundled extension with vscode-languageclient against a scripted daemon (test/support/fakeDaemon.ts): the wiring from wire to UI.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { activateBundled, channelLines, nodeScriptExecutable, treeSnapshot, waitFor, type Activated } from "../support/harness";
import { openTextDocument, recorded, setSetting, Uri, type Diagnostic } from "../support/vscode-stub";

describe("extension against a scripted daemon", () => {
  let activated: Activated;
  let service: string;
  let pidfile: string;
  let upfile: string;

  before(() => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-svc-"));
    service = path.join(work, "webfrontend");
    fs.mkdirSync(path.join(service, "static"), { recursive: true });
    fs.writeFileSync(path.join(service, "azds.yaml"), "kind: helm-release\napiVersion: 1.1\n");
    fs.writeFileSync(path.join(service, "static", "index.html"), "<p>hi</p>\n");
    pidfile = path.join(work, "pids");
    upfile = path.join(work, "ups");
    const script = path.join(__dirname, "..", "support", "fakeDaemon.js");
    setSetting("devspaces.daemonPath", nodeScriptExecutable(script, { FAKE_DAEMON_PIDFILE: pidfile, FAKE_DAEMON_UPFILE: upfile }));
    setSetting("devspaces.space", "dev/ana");
    activated = activateBundled();
  });

  after(async () => {
    await activated.close();
  });

  const pids = () => (fs.existsSync(pidfile) ? fs.readFileSync(pidfile, "utf8").trim().split("\n") : []);

  it("starts the daemon on activation", async () => {
    await waitFor("the daemon to start", () => pids().length === 1);
    await waitFor("the client to log its start", () => channelLines("Dev Spaces").some((l) => l.includes("--stdio (from setting)")));
  });

  it("up fills the tree, the service's output channel, progress and the status bar", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    const tree = await waitFor("the service to be running", async () => {
      const t = await treeSnapshot("devspaces.services");
      return t[0]?.description === "running · dev/ana" && t[0].children.some((c) => c.label === "Recent requests" && c.description === "1") ? t : undefined;
    });
    const [svc] = tree;
    assert.equal(svc?.label, "webfrontend");
    assert.deepEqual(svc?.children.map((c) => [c.context, c.label, c.description]), [
      ["portForward", "http://localhost:3000", "→ 80"],
      ["synced", "synced 2 files", "static-sync · 12 ms"],
      ["traces", "Recent requests", "1"],
    ]);
    assert.deepEqual(svc?.children[2]?.children.map((c) => [c.label, c.description]), [["GET /api/greeting?name=ana", "200 · 4 ms · trace 4bf92f35"]]);
    assert.deepEqual(channelLines("Dev Spaces: webfrontend"), [
      "GET /api/greeting 200",
      "[devspaces] synced static-sync: public/index.html, public/site.css (12 ms)",
      "[devspaces] 1832 log lines dropped (the editor could not keep up)",
    ]);
    assert.ok(recorded.progress.some((p) => p.title === "webfrontend: sync" && p.done), JSON.stringify(recorded.progress));
    assert.equal(recorded.statusBarItems[0]?.text, "$(pass) webfrontend: running");
    // up carries the editor's environment, so the session uses it rather than the daemon's.
    const [up] = fs.readFileSync(upfile, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { env?: Record<string, string> });
    assert.equal(up?.env?.PATH, process.env.PATH);
    assert.equal(Object.keys(up?.env ?? {}).length, Object.values(process.env).filter((v) => v !== undefined).length);
    await waitFor("window/showMessage as an error", () =>
      recorded.messages.some((m) => m.level === "error" && m.text.includes("build failed: npm install exited with code 1")),
    );
  });

  it("a port forward opens the browser and classify names the rule", async () => {
    const pf = (await treeSnapshot("devspaces.services"))[0]?.children[0];
    assert.ok(pf?.command);
    await recorded.commands.get(pf.command.command)?.(...(pf.command.arguments ?? []));
    assert.deepEqual(recorded.opened, ["http://localhost:3000/"]);
    await recorded.commands.get("devspaces.classifyFile")?.(Uri.file(path.join(service, "static", "index.html")));
    assert.ok(
      recorded.messages.some((m) => m.text === "webfrontend: static/index.html: static-sync (rule 3: sync static/**, static)"),
      JSON.stringify(recorded.messages),
    );
  });

  it("azds.yaml diagnostics reach the client's diagnostic collection (Problems)", async () => {
    const file = path.join(service, "azds.yaml");
    fs.writeFileSync(file, "kind: helm-release\nconfigurations:\n  develop:\n    container:\n      comand: [node]\n");
    openTextDocument(file);
    const diags = await waitFor("diagnostics", () => recorded.diagnostics.get("devspaces")?.get(Uri.file(file).toString()));
    assert.deepEqual(
      (diags as Diagnostic[]).map((d) => [d.range.start.line, d.range.start.character, d.severity, d.source, d.message]),
      [[4, 6, 1, "devspaces", "unknown key 'comand' in configurations.develop.container (did you mean 'command'?)"]],
    );
    // A file outside the document selector is not sent.
    const other = path.join(service, "values.yaml");
    fs.writeFileSync(other, "comand: x\n");
    openTextDocument(other);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(recorded.diagnostics.get("devspaces")?.get(Uri.file(other).toString()), undefined);
  });

  it("down clears the service", async () => {
    await recorded.commands.get("devspaces.down")?.(Uri.file(service));
    assert.deepEqual(await treeSnapshot("devspaces.services"), []);
    assert.equal(recorded.statusBarItems[0]?.text, "$(cloud) Dev Spaces");
  });

  it("a daemon that dies is started again and its sessions re-read", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    await waitFor("the service", async () => (await treeSnapshot("devspaces.services")).length === 1);
    const first = pids()[0];
    assert.ok(first);
    process.kill(Number(first), "SIGKILL");
    await waitFor("a second daemon", () => pids().length === 2);
    // The new daemon runs no session: the tree follows its status.
    await waitFor("the tree to follow the new daemon", async () => (await treeSnapshot("devspaces.services")).length === 0);
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    await waitFor("the service again", async () => (await treeSnapshot("devspaces.services"))[0]?.description === "running · dev/ana");
  });
});
