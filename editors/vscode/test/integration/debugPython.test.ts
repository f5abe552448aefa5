// End to end: Debug Service through the bundled extension and the real `devspacesd --stdio` on a temp copy of examples/python-web under debugpy: the attach VS Code is asked to start, and again after an edit restarts the app.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe } from "node:test";
import { repoRoot } from "../support/golden";
import { activateBundled, channelLines, daemonBinary, orderedSteps, probeStdio, stopDaemons, treeSnapshot, waitFor, type Activated } from "../support/harness";
import { recorded, setSetting, Uri, workspace } from "../support/vscode-stub";

const VIEW = "devspaces.services";
const CHANNEL = "Dev Spaces: python-web";
/** The debugpy the daemon's own debugging tests use (tests/src/dap.rs), in the same cache folder. */
const DEBUGPY_VERSION = "1.8.17";

/** debugpy where the app's python finds it (PYTHONPATH): pip-installed once into ~/.cache/devspaces. */
function debugpy(): string {
  const dir = path.join(os.homedir(), ".cache", "devspaces", `debugpy-${DEBUGPY_VERSION}`);
  if (fs.existsSync(path.join(dir, "debugpy", "__init__.py"))) return dir;
  const tmp = `${dir}.installing-${String(process.pid)}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  execFileSync("python3", ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-warn-script-location", "--target", tmp, `debugpy==${DEBUGPY_VERSION}`], {
    stdio: "inherit",
  });
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another test installed it meanwhile
  }
  if (!fs.existsSync(path.join(dir, "debugpy", "__init__.py"))) throw new Error(`debugpy is not in ${dir} after pip install`);
  return dir;
}

const diagnostics = () =>
  `\nDev Spaces log:\n${channelLines("Dev Spaces").join("\n")}\n${CHANNEL}:\n${channelLines(CHANNEL).join("\n")}\n` +
  `messages: ${JSON.stringify(recorded.messages)}`;

const explain = (e: unknown): never => {
  throw new Error(`${String(e)}${diagnostics()}`);
};

describe("Debug Service on python-web through the extension and the real daemon", () => {
  let activated: Activated | undefined;
  let work = "";
  let service: string;
  let stateDir: string;

  const step = orderedSteps();

  step(1, "the extension activates on a copy of python-web, debugpy on the editor's PYTHONPATH", async () => {
    const binary = daemonBinary();
    work = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-debug-e2e-")));
    stateDir = path.join(work, "state");
    service = path.join(work, "python-web");
    fs.cpSync(path.join(repoRoot(), "examples", "python-web"), service, { recursive: true });
    process.env.DEVSPACES_STATE_DIR = stateDir;
    // Up carries the editor's environment: the app's python finds debugpy there.
    process.env.PYTHONPATH = debugpy();
    await probeStdio(binary, process.env);
    setSetting("devspaces.daemonPath", binary);
    setSetting("devspaces.backend", "local");
    workspace.workspaceFolders = [{ uri: Uri.file(service), name: "python-web", index: 0 }];
    activated = activateBundled();
    await waitFor("the client to start", () => channelLines("Dev Spaces").some((l) => l.includes("--stdio (from setting)")));
  });

  after(async () => {
    await activated?.close();
    stopDaemons(stateDir);
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  step(2, "up: the service runs", async () => {
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    await waitFor("python-web running", async () => (await treeSnapshot(VIEW)).find((n) => n.label === "python-web")?.description?.startsWith("running"), 120_000).catch(
      explain,
    );
    assert.equal(recorded.debugStarts.length, 0);
  });

  let first: Record<string, unknown> = {};

  step(3, "Debug Service: the app restarts under debugpy and VS Code is asked to attach to the forward with the path mapping", async () => {
    await recorded.commands.get("devspaces.debugService")?.(Uri.file(service));
    assert.deepEqual(recorded.messages.filter((m) => m.level === "error"), []);
    await waitFor("an attach", () => recorded.debugStarts.length === 1, 120_000).catch(explain);
    const start = recorded.debugStarts[0];
    assert.ok(start);
    assert.equal(start.folder, service);
    first = start.config;
    assert.equal(first.type, "debugpy");
    assert.equal(first.request, "attach");
    const connect = first.connect as { host: string; port: number };
    assert.equal(connect.host, "127.0.0.1");
    assert.ok(Number.isInteger(connect.port) && connect.port > 0, JSON.stringify(first));
    const [mapping, ...more] = first.pathMappings as { localRoot: string; remoteRoot: string }[];
    assert.equal(more.length, 0);
    assert.equal(mapping?.localRoot, service);
    // The remote side is where the local backend runs the app: its copy of the service's files.
    assert.ok(mapping && fs.existsSync(path.join(mapping.remoteRoot, "app.py")), JSON.stringify(mapping));
    const ready = channelLines(CHANNEL).filter((l) => l.includes("debugger (python) ready"));
    assert.equal(ready.length, 1);
    assert.ok(ready[0]?.includes(`ready on 127.0.0.1:${String(connect.port)}; path mapping ${service} -> ${mapping.remoteRoot} (restart 0)`), ready[0]);
  });

  step(4, "an edit to version.py restarts the app under the debugger and VS Code is asked to attach again, to the same port", async () => {
    const file = path.join(service, "version.py");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace('VERSION = "1.0.0"', 'VERSION = "1.0.1"'));
    await waitFor("a second attach", () => recorded.debugStarts.length === 2, 120_000).catch(explain);
    assert.deepEqual(recorded.debugStarts[1]?.config, first);
    assert.ok(channelLines(CHANNEL).some((l) => l.includes("debugger (python) ready") && l.endsWith("(restart 1)")), diagnostics());
  });

  step(5, "down stops it", async () => {
    await recorded.commands.get("devspaces.down")?.(Uri.file(service));
    await waitFor("an empty tree", async () => ((await treeSnapshot(VIEW)).length === 0 ? true : undefined), 30_000).catch(explain);
  });
});
