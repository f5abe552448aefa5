// Loads the bundled extension (dist/extension.js) against the vscode stand-in and reads back what its UI shows.

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { it } from "node:test";
import { extensionRoot, repoRoot } from "./golden";
import { installVscodeStub, recorded, type TreeItem, type TreeProviderLike } from "./vscode-stub";

export interface ExtensionModule {
  activate(context: { subscriptions: { dispose(): unknown }[] }): void;
  deactivate(): Promise<void> | undefined;
}

export interface Activated {
  ext: ExtensionModule;
  context: { subscriptions: { dispose(): unknown }[] };
  /** deactivate, then dispose what activate registered. */
  close(): Promise<void>;
}

export function activateBundled(): Activated {
  installVscodeStub();
  const bundle = path.join(extensionRoot(), "dist", "extension.js");
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing; run 'npm run bundle' first`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext = require(bundle) as ExtensionModule;
  const context = { subscriptions: [] as { dispose(): unknown }[] };
  ext.activate(context);
  return {
    ext,
    context,
    async close() {
      await ext.deactivate();
      for (const d of context.subscriptions.splice(0)) d.dispose();
    },
  };
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface TreeSnapshot {
  label: string;
  description?: string;
  context?: string;
  command?: { command: string; arguments?: unknown[] };
  children: TreeSnapshot[];
}

/** The whole tree as the view would render it, through the provider's getChildren/getTreeItem. */
export async function treeSnapshot(viewId: string): Promise<TreeSnapshot[]> {
  const provider = recorded.trees.get(viewId);
  if (!provider) throw new Error(`no tree view '${viewId}' was created`);
  const walk = async (p: TreeProviderLike<unknown>, node?: unknown): Promise<TreeSnapshot[]> => {
    const out: TreeSnapshot[] = [];
    for (const child of await p.getChildren(node)) {
      const item: TreeItem = await p.getTreeItem(child);
      out.push({
        label: item.label,
        description: item.description,
        context: item.contextValue,
        command: item.command,
        children: await walk(p, child),
      });
    }
    return out;
  };
  return walk(provider);
}

/** The lines an output channel holds, or [] when it was never created. */
export function channelLines(name: string): string[] {
  return recorded.channels.get(name)?.lines ?? [];
}

/** An executable that runs a compiled test script with node, standing in for a daemon binary. */
export function nodeScriptExecutable(script: string, env: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-"));
  const file = path.join(dir, "devspacesd");
  const exports = Object.entries(env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}\n`).join("");
  fs.writeFileSync(file, `#!/bin/sh\n${exports}exec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"\n`, { mode: 0o755 });
  return file;
}

/** Stops, by the pid in each `*.pid` file of a test's state folder, the daemons it started. */
export function stopDaemons(stateDir: string): void {
  for (const f of fs.existsSync(stateDir) ? fs.readdirSync(stateDir) : []) {
    if (!f.endsWith(".pid")) continue;
    const pid = Number(fs.readFileSync(path.join(stateDir, f), "utf8").trim());
    if (pid > 0) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
  }
}

/** The daemon binary the integration suites run: `DEVSPACESD`, else the debug build. */
export function daemonBinary(): string {
  const file = process.env.DEVSPACESD ?? path.join(repoRoot(), "target", "debug", "devspacesd");
  if (!fs.existsSync(file)) {
    throw new Error(`no daemon binary at ${file}; build it with 'cargo build -p devspacesd' at the repository root, or set DEVSPACESD`);
  }
  return file;
}

/** Fails with what the daemon said when `devspacesd --stdio` does not answer `initialize`. */
export async function probeStdio(binary: string, env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(binary, ["--stdio"], { env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (err += b.toString("utf8")));
  let exited: number | null | undefined;
  child.on("exit", (code) => (exited = code));
  child.on("error", (e) => (err += String(e)));
  const body = JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { processId: process.pid, rootUri: null, capabilities: {} } });
  child.stdin.write(`Content-Length: ${String(Buffer.byteLength(body))}\r\n\r\n${body}`);
  try {
    await waitFor("devspacesd --stdio to answer initialize", () => (out.includes('"id":0') || exited !== undefined ? true : undefined), 15_000);
  } finally {
    child.kill("SIGTERM");
  }
  if (!/"result"\s*:/.test(out)) {
    throw new Error(
      `'${binary} --stdio' is not an editor server yet (exit ${String(exited)}): ` +
        `stdout ${JSON.stringify(out.slice(0, 400))}, stderr ${JSON.stringify(err.slice(0, 400))}`,
    );
  }
}

/**
 * A suite's numbered steps: each later step needs the one before, and fails (never skips) when
 * that did not pass.
 */
export function orderedSteps(): (n: number, name: string, fn: () => Promise<void>) => void {
  let passed = 0;
  return (n, name, fn) => {
    void it(name, async () => {
      if (passed !== n - 1) throw new Error(`step ${String(n - 1)} did not pass, so this step cannot run`);
      await fn();
      passed = n;
    });
  };
}
