// Debugging: the contributed `devspaces` debug configuration, the adapter configurations it resolves to, and attaching (again after each restart) at devspaces/debugReady through the bundled extension and a scripted daemon.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { attachConfiguration, ReattachPolicy, StopWatch } from "../../src/debug";
import type { TreeNode } from "../../src/model/tree";
import type { DebugReadyParams } from "../../src/protocol";
import { extensionRoot, golden } from "../support/golden";
import { activateBundled, channelLines, nodeScriptExecutable, treeSnapshot, waitFor, type Activated } from "../support/harness";
import { endDebugSession, recorded, setSetting, Uri, workspace } from "../support/vscode-stub";

interface Debugger {
  type: string;
  label: string;
  configurationAttributes: { attach: { properties: Record<string, { type: string }> } };
  initialConfigurations: Record<string, unknown>[];
  configurationSnippets: { label: string; body: Record<string, unknown> }[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(extensionRoot(), "package.json"), "utf8")) as {
  activationEvents: string[];
  contributes: { debuggers: Debugger[]; menus: Record<string, { command: string; when?: string }[]> };
};
const ready = golden<DebugReadyParams>("debug-ready.params.json");

describe("the devspaces debug configuration in package.json", () => {
  it("contributes the type with an attach request naming the service, an initial configuration and a snippet", () => {
    assert.deepEqual(manifest.contributes.debuggers.map((d) => d.type), ["devspaces"]);
    const [d] = manifest.contributes.debuggers;
    assert.ok(d);
    assert.equal(d.label, "Dev Spaces");
    assert.deepEqual(Object.keys(d.configurationAttributes), ["attach"]);
    assert.equal(d.configurationAttributes.attach.properties.service?.type, "string");
    assert.deepEqual(d.initialConfigurations, [{ type: "devspaces", request: "attach", name: "Dev Spaces: attach to the service" }]);
    assert.equal(d.configurationSnippets.length, 1);
    assert.deepEqual(
      { type: d.configurationSnippets[0]?.body.type, request: d.configurationSnippets[0]?.body.request },
      { type: "devspaces", request: "attach" },
    );
    assert.ok(typeof d.configurationSnippets[0]?.body.service === "string");
  });

  it("activates when a devspaces configuration is resolved and on Debug Service", () => {
    for (const e of ["onDebugResolve:devspaces", "onDebugInitialConfigurations", "onCommand:devspaces.debugService"]) {
      assert.ok(manifest.activationEvents.includes(e), e);
    }
    assert.ok(manifest.contributes.menus["view/item/context"]?.some((m) => m.command === "devspaces.debugService" && m.when?.includes("viewItem == service")));
  });
});

describe("attachConfiguration from a debugReady", () => {
  const mapping = ready.pathMappings[0];
  assert.ok(mapping);

  it("python: debugpy attach by connect, with the path mappings", () => {
    assert.deepEqual(attachConfiguration(ready, "web"), {
      name: "web",
      type: "debugpy",
      request: "attach",
      devspacesSession: ready.session,
      connect: { host: "127.0.0.1", port: 5678 },
      pathMappings: [{ localRoot: mapping.localRoot, remoteRoot: mapping.remoteRoot }],
      justMyCode: false,
    });
  });

  it("node: js-debug attach by address and port, localRoot and remoteRoot", () => {
    const c = attachConfiguration({ ...ready, adapter: "node", port: 9229 });
    assert.deepEqual(
      [c.type, c.request, c.address, c.port, c.localRoot, c.remoteRoot, c.name],
      ["node", "attach", "127.0.0.1", 9229, mapping.localRoot, mapping.remoteRoot, "Dev Spaces: webfrontend"],
    );
  });

  it("go, dotnet and java: remote Delve, netcoredbg through debugServer, JDWP", () => {
    const go = attachConfiguration({ ...ready, adapter: "go", port: 2345 });
    assert.deepEqual([go.type, go.mode, go.host, go.port, go.substitutePath], ["go", "remote", "127.0.0.1", 2345, [{ from: mapping.localRoot, to: mapping.remoteRoot }]]);
    const dotnet = attachConfiguration({ ...ready, adapter: "dotnet", port: 4711 });
    assert.deepEqual([dotnet.type, dotnet.debugServer, dotnet.sourceFileMap], ["coreclr", 4711, { [mapping.remoteRoot]: mapping.localRoot }]);
    const java = attachConfiguration({ ...ready, adapter: "java", port: 5005 });
    assert.deepEqual([java.type, java.hostName, java.port], ["java", "127.0.0.1", 5005]);
  });
});

describe("ReattachPolicy and StopWatch", () => {
  it("attaches a wanted session once per restart, and no more once stopped", () => {
    const p = new ReattachPolicy();
    assert.equal(p.take(ready), false, "not wanted yet");
    p.want(ready.session);
    assert.equal(p.take(ready), true);
    assert.equal(p.take(ready), false, "the same debugReady again (a late watcher's replay)");
    assert.equal(p.take({ ...ready, restarts: ready.restarts + 1 }), true);
    p.stop(ready.session);
    assert.equal(p.take({ ...ready, restarts: ready.restarts + 2 }), false);
  });

  it("tells the user's Stop from a debug server that went away", () => {
    const user = new StopWatch();
    user.toAdapter({ type: "request", command: "disconnect" });
    assert.equal(user.stoppedByUser, true);
    const restart = new StopWatch();
    restart.fromAdapter({ type: "event", event: "terminated" });
    restart.toAdapter({ type: "request", command: "disconnect" });
    assert.equal(restart.stoppedByUser, false);
    assert.equal(new StopWatch().stoppedByUser, false, "the connection closed: nothing asked");
  });
});

describe("Debug Service and the devspaces configuration through the extension and a scripted daemon", () => {
  let activated: Activated;
  let work: string;
  let service: string;
  let requestsFile: string;

  const requests = (method: string): Record<string, unknown>[] =>
    (fs.existsSync(requestsFile) ? fs.readFileSync(requestsFile, "utf8").trim().split("\n") : [])
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as { method: string; params: Record<string, unknown> })
      .filter((l) => l.method === method)
      .map((l) => l.params);

  const serviceNode = async (): Promise<TreeNode> => {
    const provider = recorded.trees.get("devspaces.services");
    assert.ok(provider);
    const [node] = (await provider.getChildren(undefined)) as TreeNode[];
    assert.ok(node);
    return node;
  };

  /** The output channel's lines for each debugReady of the service. */
  const readyLines = () => channelLines("Dev Spaces: webfrontend").filter((l) => l.includes("debugger (python) ready"));

  const expected = (remoteRoot: string) => ({
    folder: work,
    config: {
      name: "Dev Spaces: webfrontend",
      type: "debugpy",
      request: "attach",
      devspacesSession: "",
      connect: { host: "127.0.0.1", port: 5678 },
      pathMappings: [{ localRoot: service, remoteRoot }],
      justMyCode: false,
    },
  });

  before(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-debug-")));
    service = path.join(work, "webfrontend");
    fs.mkdirSync(service);
    fs.writeFileSync(path.join(service, "azds.yaml"), "kind: helm-release\napiVersion: 1.1\n");
    requestsFile = path.join(work, "requests.jsonl");
    workspace.workspaceFolders = [{ uri: Uri.file(work), name: "work", index: 0 }];
    const script = path.join(__dirname, "..", "support", "fakeDaemon.js");
    setSetting("devspaces.daemonPath", nodeScriptExecutable(script, { FAKE_DAEMON_REQUESTS: requestsFile }));
    setSetting("devspaces.space", "dev/ana");
    activated = activateBundled();
  });

  after(async () => {
    await activated.close();
  });

  it("registers the devspaces configuration provider, whose initial configuration is package.json's", async () => {
    const provider = recorded.debugProviders.get("devspaces");
    assert.ok(provider?.provideDebugConfigurations);
    assert.deepEqual(await provider.provideDebugConfigurations(undefined), manifest.contributes.debuggers[0]?.initialConfigurations);
  });

  it("Debug Service sends devspaces/debug, attaches at debugReady with the host, port and mappings, and again after a restart", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    await waitFor("the service running", async () => (await treeSnapshot("devspaces.services"))[0]?.description === "running · dev/ana");
    assert.equal(readyLines().length, 0, "not debugging before Debug Service");
    const node = await serviceNode();
    await recorded.commands.get("devspaces.debugService")?.(node);
    assert.deepEqual(requests("devspaces/debug"), [{ session: node.session, enable: true }]);
    await waitFor("an attach", () => recorded.debugStarts.length === 1);
    const first = recorded.debugStarts[0];
    assert.ok(first);
    const remoteRoot = `/fake-state/spaces/dev/ana/webfrontend/fs/app`;
    const want = expected(remoteRoot);
    assert.deepEqual(first, { ...want, config: { ...want.config, devspacesSession: node.session } });
    // The view shows the debugger under the service.
    const tree = await treeSnapshot("devspaces.services");
    assert.deepEqual(tree[0]?.children.find((c) => c.context === "debug")?.label, "debugger 127.0.0.1:5678");

    // A process-restart under the debugger: the debug connection ends, a new debugReady (restarts 1) comes, the editor attaches again.
    endDebugSession(first.config, "debuggee");
    await recorded.commands.get("devspaces.restart")?.(node);
    await waitFor("a second attach", () => recorded.debugStarts.length === 2);
    assert.deepEqual(recorded.debugStarts[1], first);
    assert.equal(readyLines().length, 2);
    assert.match(readyLines()[1] ?? "", /on 127\.0\.0\.1:5678; path mapping .*webfrontend -> \/fake-state\/.* \(restart 1\)$/);
  });

  it("once the user stops debugging, a restart does not attach again; Debug Service does", async () => {
    const node = await serviceNode();
    const config = recorded.debugStarts[1]?.config;
    assert.ok(config);
    endDebugSession(config, "user");
    await recorded.commands.get("devspaces.restart")?.(node);
    await waitFor("the restart's debugReady", () => readyLines().length === 3);
    await waitFor("the service running again", async () => (await treeSnapshot("devspaces.services"))[0]?.description === "running · dev/ana");
    assert.equal(recorded.debugStarts.length, 2, "no attach after the user stopped");
    // The debug server runs: Debug Service attaches at once, with no request.
    await recorded.commands.get("devspaces.debugService")?.(node);
    assert.equal(recorded.debugStarts.length, 3);
    assert.equal(requests("devspaces/debug").length, 1);
    assert.deepEqual(recorded.debugStarts[2], recorded.debugStarts[0]);
  });

  it("a devspaces launch configuration resolves to the adapter's attach configuration, switching the session to the debugger first", async () => {
    await recorded.commands.get("devspaces.down")?.(Uri.file(service));
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    await waitFor("the new session running", async () => (await treeSnapshot("devspaces.services"))[0]?.description === "running · dev/ana");
    const node = await serviceNode();
    const provider = recorded.debugProviders.get("devspaces");
    assert.ok(provider?.resolveDebugConfiguration);
    const folder = { uri: Uri.file(work) };
    const resolved = (await provider.resolveDebugConfiguration(folder, { type: "devspaces", request: "attach", name: "web", service: "webfrontend" })) as Record<string, unknown>;
    assert.deepEqual(requests("devspaces/debug").at(-1), { session: node.session, enable: true });
    const want = expected(`/fake-state/spaces/dev/ana/webfrontend/fs/app`).config;
    assert.deepEqual(resolved, { ...want, name: "web", devspacesSession: node.session });
    // VS Code starts that one itself; after a restart the extension attaches again by itself.
    const before = recorded.debugStarts.length;
    await recorded.commands.get("devspaces.restart")?.(node);
    await waitFor("an attach after the restart", () => recorded.debugStarts.length === before + 1);
    assert.deepEqual(recorded.debugStarts.at(-1)?.config, { ...resolved, name: "Dev Spaces: webfrontend" });
    // A name no session has is refused with a message.
    const none = await provider.resolveDebugConfiguration(folder, { type: "devspaces", request: "attach", name: "x", service: "nosuch" });
    assert.equal(none, undefined);
    assert.ok(recorded.messages.some((m) => m.level === "error" && m.text.includes("no session of 'nosuch' runs")));
  });
});
