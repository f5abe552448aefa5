// The bundled extension against the scripted daemon with several services: one up request for all, the tree, and commands on one service or all.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { TreeNode } from "../../src/model/tree";
import { activateBundled, nodeScriptExecutable, treeSnapshot, waitFor, type Activated, type TreeSnapshot } from "../support/harness";
import { recorded, setSetting, Uri, workspace } from "../support/vscode-stub";

const VIEW = "devspaces.services";

interface Logged {
  method: string;
  params: { path?: string; paths?: string[]; session?: string; kind?: string };
}

/** A folder with a service (an azds.yaml) in each of `names`, and `extra` files written as given. */
function app(root: string, names: string[], extra: Record<string, string> = {}): string {
  for (const n of names) {
    fs.mkdirSync(path.join(root, n), { recursive: true });
    fs.writeFileSync(path.join(root, n, "azds.yaml"), "kind: helm-release\napiVersion: 1.1\n");
  }
  for (const [file, text] of Object.entries(extra)) fs.writeFileSync(path.join(root, file), text);
  return root;
}

describe("several services through the extension and a scripted daemon", () => {
  let activated: Activated;
  let work: string;
  let requestsFile: string;

  const requests = (method: string): Logged["params"][] =>
    (fs.existsSync(requestsFile) ? fs.readFileSync(requestsFile, "utf8").trim().split("\n") : [])
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Logged)
      .filter((l) => l.method === method)
      .map((l) => l.params);

  const services = async (): Promise<TreeSnapshot[]> => (await treeSnapshot(VIEW)).filter((n) => n.context === "service");

  const upErrors = () => recorded.messages.filter((m) => m.level === "error" && m.text.startsWith("up: ")).map((m) => m.text);

  /** The tree's service nodes as the view hands them to commands. */
  const nodes = async (): Promise<TreeNode[]> => {
    const provider = recorded.trees.get(VIEW);
    assert.ok(provider);
    return (await provider.getChildren(undefined)) as TreeNode[];
  };

  before(() => {
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-many-")));
    requestsFile = path.join(work, "requests.jsonl");
    const script = path.join(__dirname, "..", "support", "fakeDaemon.js");
    setSetting("devspaces.daemonPath", nodeScriptExecutable(script, { FAKE_DAEMON_REQUESTS: requestsFile }));
    setSetting("devspaces.space", "dev/ana");
    activated = activateBundled();
  });

  after(async () => {
    await activated.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("Up on a folder of three services sends one devspaces/up with that folder; the tree shows all three running", async () => {
    const root = app(path.join(work, "shop"), ["web", "api", "data"]);
    workspace.workspaceFolders = [{ uri: Uri.file(root), name: "shop", index: 0 }];
    await recorded.commands.get("devspaces.up")?.(Uri.file(root));
    const tree = await waitFor("three services running with a forward each", async () => {
      const t = await services();
      return t.length === 3 && t.every((s) => s.description === "running · dev/ana" && s.children.some((c) => c.context === "portForward")) ? t : undefined;
    });
    const ups = requests("devspaces/up");
    assert.equal(ups.length, 1, JSON.stringify(ups));
    assert.equal(ups[0]?.path, root);
    assert.equal(ups[0]?.paths, undefined);
    // Each service with its own forward (the port the daemon gave it), and its own recent requests.
    assert.deepEqual(
      tree.map((s) => [s.label, s.children.find((c) => c.context === "portForward")?.label]).sort(),
      [
        ["api", "http://localhost:41000"],
        ["data", "http://localhost:41001"],
        ["web", "http://localhost:41002"],
      ],
    );
    for (const s of tree) assert.equal(s.children.find((c) => c.context === "traces")?.description, "1", s.label);
    assert.match(recorded.statusBarItems[0]?.text ?? "", /3 services running/);
    assert.deepEqual(upErrors(), []);
  });

  it("Down on one service's tree item stops that service only", async () => {
    const api = (await nodes()).find((n) => n.label === "api");
    assert.ok(api);
    await recorded.commands.get("devspaces.down")?.(api);
    assert.deepEqual((await services()).map((s) => s.label).sort(), ["data", "web"]);
    assert.deepEqual(requests("devspaces/down"), [{ session: api.session }]);
  });

  it("Restart All restarts every service, each with its own request", async () => {
    const before = requests("devspaces/restart").length;
    await recorded.commands.get("devspaces.restartAll")?.();
    const sessions = (await nodes()).map((n) => n.session).sort();
    assert.deepEqual(requests("devspaces/restart").slice(before).map((p) => p.session).sort(), sessions);
    await waitFor("both running again", async () => (await services()).every((s) => s.description === "running · dev/ana"));
  });

  it("Down All stops every service the view shows", async () => {
    await recorded.commands.get("devspaces.downAll")?.();
    assert.deepEqual(await services(), []);
    assert.equal(requests("devspaces/down").length, 3);
    assert.equal(recorded.statusBarItems[0]?.text, "$(cloud) Dev Spaces");
  });

  it("a service that does not start is shown by name and the others start", async () => {
    const root = app(path.join(work, "half"), ["good"]);
    fs.mkdirSync(path.join(root, "broken"));
    fs.writeFileSync(path.join(root, "broken", "azds.yaml"), "kind: helm-release\ninstal:\n  chart: x\n");
    await recorded.commands.get("devspaces.up")?.(Uri.file(root));
    assert.deepEqual(upErrors(), ["up: broken: azds.yaml:3:1: unknown key 'instal' (did you mean 'install'?)"]);
    await waitFor("good running", async () => (await services()).some((s) => s.label === "good" && s.description === "running · dev/ana"));
    assert.deepEqual((await services()).map((s) => s.label), ["good"]);
    await recorded.commands.get("devspaces.down")?.(Uri.file(root));
    assert.deepEqual(await services(), []);
  });

  it("Up from the palette offers the workspace's services, all picked; the picked ones go in one request as paths", async () => {
    const root = app(path.join(work, "picked"), ["one", "two", "three"]);
    workspace.workspaceFolders = [{ uri: Uri.file(root), name: "picked", index: 0 }];
    let offered: { label: string; picked?: boolean }[] = [];
    recorded.quickPickAnswers.push((items: { label: string; picked?: boolean }[]) => {
      offered = items;
      return items.filter((i) => i.label !== "two");
    });
    const before = requests("devspaces/up").length;
    await recorded.commands.get("devspaces.up")?.();
    assert.deepEqual(offered.map((i) => [i.label, i.picked]), [
      ["one", true],
      ["three", true],
      ["two", true],
    ]);
    const ups = requests("devspaces/up").slice(before);
    assert.deepEqual(ups.map((u) => [u.path, u.paths]), [[path.join(root, "one"), [path.join(root, "three")]]]);
    await waitFor("one and three running", async () => {
      const t = await services();
      return t.length === 2 && t.every((s) => s.description === "running · dev/ana");
    });
    assert.deepEqual((await services()).map((s) => s.label).sort(), ["one", "three"]);
    await recorded.commands.get("devspaces.downAll")?.();
  });

  it("Up on a folder with no service says what the daemon answered", async () => {
    const empty = path.join(work, "empty");
    fs.mkdirSync(empty);
    await recorded.commands.get("devspaces.up")?.(Uri.file(empty));
    assert.ok(
      recorded.messages.some((m) => m.level === "error" && m.text.startsWith(`up: '${empty}' is not a service folder: no azds.yaml in ${empty} or any folder below it`)),
      JSON.stringify(recorded.messages),
    );
  });
});
