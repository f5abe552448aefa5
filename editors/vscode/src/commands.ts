// The Dev Spaces commands: each turns what the user picked into one daemon request and feeds the answer to the model.

import * as path from "node:path";
import * as vscode from "vscode";
import { CommandIds, ConfigSection, Settings } from "./contributions";
import { readSettings, type DaemonConnection } from "./connection";
import { locateDaemon } from "./daemon";
import type { SessionsModel, ServiceState } from "./model/sessions";
import { formatTrace } from "./model/traceList";
import type { TreeNode } from "./model/tree";
import {
  Methods,
  type ClassifyResult,
  type DownResult,
  type ListUrisResult,
  type RestartResult,
  type UpManyResult,
  type UpParams,
  type UpResult,
} from "./protocol";
import { runPrep, type PrepOptions } from "./prep";
import { findServiceRoot } from "./service";
import type { DebugAttacher } from "./ui/debug";
import type { ServiceOutputs } from "./ui/output";

export interface CommandDeps {
  connection: DaemonConnection;
  model: SessionsModel;
  outputs: ServiceOutputs;
  log: vscode.LogOutputChannel;
  debug: DebugAttacher;
}

/** What a command was invoked on: a tree node, an explorer/editor resource, a URL, or nothing (the palette). */
type Target = TreeNode | vscode.Uri | string | undefined;

/** The extension host's environment, sent with `up`: the session uses it, not the environment of whoever started the daemon. */
function clientEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === "string"));
}

function isNode(t: unknown): t is TreeNode {
  return typeof t === "object" && t !== null && "context" in t && "session" in t;
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const data = (e as { data?: { hint?: string } }).data;
    return data?.hint ? `${e.message} (${data.hint})` : e.message;
  }
  return String(e);
}

export function registerCommands(deps: CommandDeps): vscode.Disposable[] {
  const { connection, model, outputs } = deps;

  const run =
    (name: string, fn: (target: Target) => Promise<void>) =>
    async (target: Target): Promise<void> => {
      try {
        await fn(target);
      } catch (e) {
        const message = `${name}: ${describeError(e)}`;
        deps.log.appendLine(message);
        void vscode.window.showErrorMessage(message);
      }
    };

  /**
   * What Up starts: the resource's service; a folder outside any service, as it is (the daemon starts
   * every service below it); else the active editor's service; else the workspace's services, all of
   * them offered and picked, several going in one request (`paths`).
   */
  async function upFolders(target: Target): Promise<string[] | undefined> {
    if (target instanceof vscode.Uri && target.scheme === "file") {
      const root = findServiceRoot(target.fsPath);
      if (root) return [root];
      const stat = await vscode.workspace.fs.stat(target);
      if (stat.type === vscode.FileType.Directory) return [target.fsPath];
      throw new Error(`'${target.fsPath}' is not inside a folder with an azds.yaml`);
    }
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.scheme === "file") {
      const root = findServiceRoot(active.fsPath);
      if (root) return [root];
    }
    const files = await vscode.workspace.findFiles("**/azds.yaml", "**/node_modules/**");
    const folders = files.map((f) => path.dirname(f.fsPath)).sort();
    if (folders.length <= 1) {
      if (folders[0] === undefined) throw new Error("no azds.yaml in this workspace; open a folder that holds one");
      return folders;
    }
    const picked = await vscode.window.showQuickPick(
      folders.map((f) => ({ label: path.basename(f), description: vscode.workspace.asRelativePath(f), folder: f, picked: true })),
      { placeHolder: "Which services? (every one picked starts, in one request)", canPickMany: true },
    );
    return picked && picked.length > 0 ? picked.map((p) => p.folder) : undefined;
  }

  /** The running session a command is about: the node's, the resource's service, the only one, or one the user picks. */
  async function session(target: Target): Promise<ServiceState | undefined> {
    if (isNode(target)) return model.get(target.session);
    if (target instanceof vscode.Uri) {
      const root = findServiceRoot(target.fsPath);
      const found = root ? model.byPath(root) : undefined;
      if (!found) throw new Error(`no session runs for '${root ?? target.fsPath}'; run Dev Spaces: Up first`);
      return found;
    }
    const all = model.list();
    if (all.length <= 1) {
      if (all[0] === undefined) throw new Error("no service is up; run Dev Spaces: Up first");
      return all[0];
    }
    const picked = await vscode.window.showQuickPick(
      all.map((s) => ({ label: s.service, description: `${s.phase ?? ""} · ${s.space ?? ""}`, state: s })),
      { placeHolder: "Which service?" },
    );
    return picked?.state;
  }

  /**
   * The sessions Down and Restart act on: a folder outside any service stands for every session below
   * it (an application's folder); anything else names one session, as `session` finds it.
   */
  async function sessionsFor(target: Target): Promise<ServiceState[]> {
    if (target instanceof vscode.Uri && target.scheme === "file" && !findServiceRoot(target.fsPath)) {
      const below = model.list().filter((s) => s.path !== undefined && s.path.startsWith(target.fsPath + path.sep));
      if (below.length === 0) throw new Error(`no session runs below '${target.fsPath}'; run Dev Spaces: Up first`);
      return below;
    }
    const s = await session(target);
    return s ? [s] : [];
  }

  /** Every session the view shows, for Down All and Restart All. */
  function allSessions(): ServiceState[] {
    const all = model.list();
    if (all.length === 0) throw new Error("no service is up; run Dev Spaces: Up first");
    return all;
  }

  async function down(sessions: ServiceState[]): Promise<void> {
    const results = await Promise.allSettled(
      sessions.map(async (s) => {
        const result = await connection.request<DownResult>(Methods.down, { session: s.session });
        model.removeSession(result.session);
        outputs.channel(result.service).appendLine(`[devspaces] down: ${result.outcome}`);
      }),
    );
    failOnRejected(sessions, results);
  }

  async function restart(sessions: ServiceState[]): Promise<void> {
    const results = await Promise.allSettled(
      sessions.map(async (s) => {
        const result = await connection.request<RestartResult>(Methods.restart, { session: s.session, kind: "process" });
        outputs.channel(result.service).appendLine(`[devspaces] restart (${result.kind}): ${result.phase}`);
      }),
    );
    failOnRejected(sessions, results);
  }

  /** One error naming each service whose request failed (the others went through). */
  function failOnRejected(sessions: ServiceState[], results: PromiseSettledResult<void>[]): void {
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${sessions[i]?.service ?? "?"}: ${describeError(r.reason)}`] : []));
    if (failed.length > 0) throw new Error(failed.join("; "));
  }

  async function openUrl(url: string): Promise<void> {
    await vscode.env.openExternal(vscode.Uri.parse(url));
  }

  /** The project folder for Prep: the explorer's folder (or a file's folder), else a workspace folder. */
  async function projectFolder(target: Target): Promise<string | undefined> {
    if (target instanceof vscode.Uri && target.scheme === "file") {
      const stat = await vscode.workspace.fs.stat(target);
      return stat.type === vscode.FileType.Directory ? target.fsPath : path.dirname(target.fsPath);
    }
    const folders = vscode.workspace.workspaceFolders ?? [];
    if (folders.length <= 1) {
      if (folders[0] === undefined) throw new Error("open a project folder first");
      return folders[0].uri.fsPath;
    }
    const picked = await vscode.window.showWorkspaceFolderPick({ placeHolder: "Prepare which folder?" });
    return picked?.uri.fsPath;
  }

  const handlers: Record<string, (target: Target) => Promise<void>> = {
    [CommandIds.up]: async (target) => {
      const folders = await upFolders(target);
      const [first, ...more] = folders ?? [];
      if (first === undefined) return;
      const settings = readSettings();
      const params: UpParams = { path: first, attach: true, env: clientEnv() };
      if (more.length > 0) params.paths = more;
      if (settings.backend !== "auto") params.backend = settings.backend;
      if (settings.space) params.space = settings.space;
      const result = await connection.request<UpResult | UpManyResult>(Methods.up, params);
      const applied = model.applyUp(result);
      const shown = applied.sessions[0];
      if (shown) outputs.show(shown.service);
      for (const failure of applied.failures) {
        deps.log.appendLine(`up: ${failure}`);
        void vscode.window.showErrorMessage(`up: ${failure}`);
      }
    },
    [CommandIds.down]: async (target) => {
      await down(await sessionsFor(target));
    },
    [CommandIds.downAll]: async () => {
      await down(allSessions());
    },
    [CommandIds.restart]: async (target) => {
      await restart(await sessionsFor(target));
    },
    [CommandIds.restartAll]: async () => {
      await restart(allSessions());
    },
    [CommandIds.selectSpace]: async () => {
      const current = readSettings().space;
      const known = new Set<string>(model.list().map((s) => s.space ?? "").filter((s) => s !== ""));
      if (current) known.add(current);
      const enter = "$(edit) Enter a space name…";
      const items = [...known].sort().map((label) => ({ label, description: label === current ? "selected" : "" }));
      const picked = await vscode.window.showQuickPick([...items, { label: enter, description: "" }], {
        placeHolder: "Space for Dev Spaces: Up (parent/child for a child space)",
      });
      if (!picked) return;
      const space =
        picked.label === enter
          ? await vscode.window.showInputBox({ prompt: "Space name", value: current, placeHolder: "dev or dev/ana" })
          : picked.label;
      if (space === undefined) return;
      await vscode.workspace.getConfiguration(ConfigSection).update(Settings.space, space, vscode.ConfigurationTarget.Workspace);
    },
    [CommandIds.debugService]: async (target) => {
      const s = await session(target);
      if (s) await deps.debug.debugService(s);
    },
    [CommandIds.showLogs]: async (target) => {
      const s = await session(target);
      if (s) outputs.show(s.service);
    },
    [CommandIds.showTraces]: async (target) => {
      const s = await session(target);
      if (!s) return;
      const base = [...s.portForwards.values()].find((pf) => pf.state !== "closed")?.url;
      const picked = await vscode.window.showQuickPick(
        s.traces.all().map((t) => ({ label: formatTrace(t), description: t.time, path: t.path })),
        { placeHolder: s.traces.size === 0 ? `${s.service}: no requests yet` : `${s.service}: recent requests (newest first)` },
      );
      if (picked && base) await openUrl(base.replace(/\/+$/, "") + picked.path);
    },
    [CommandIds.openInBrowser]: async (target) => {
      if (typeof target === "string") return openUrl(target);
      if (isNode(target) && target.url) return openUrl(target.url);
      const s = isNode(target) || target instanceof vscode.Uri ? await session(target) : undefined;
      const result = await connection.request<ListUrisResult>(Methods.listUris, s ? { session: s.session } : {});
      const uris = result.uris.filter((u) => u.state !== "closed");
      if (uris.length <= 1) {
        if (uris[0] === undefined) throw new Error("no service has a port forward; run Dev Spaces: Up first");
        return openUrl(uris[0].url);
      }
      const picked = await vscode.window.showQuickPick(
        uris.map((u) => ({ label: u.url, description: `${u.service} · ${u.kind}` })),
        { placeHolder: "Open which URL?" },
      );
      if (picked) await openUrl(picked.label);
    },
    [CommandIds.prep]: async (target) => {
      const folder = await projectFolder(target);
      if (!folder) return;
      const settings = readSettings();
      const located = locateDaemon({ setting: settings.daemonPath, envPath: process.env.PATH, platform: process.platform });
      if (!located.ok) throw new Error(located.message);
      const ingress = await vscode.window.showQuickPick(
        [
          { label: "Without a public URL", enableIngress: false },
          { label: "With a public URL (--enable-ingress)", enableIngress: true },
        ],
        { placeHolder: `Prepare ${path.basename(folder)} for Dev Spaces` },
      );
      if (!ingress) return;
      const opts: PrepOptions = { enableIngress: ingress.enableIngress, force: false };
      let outcome = await runPrep(located.path, folder, opts);
      if (outcome.needsForce) {
        const overwrite = "Overwrite";
        const answer = await vscode.window.showWarningMessage(outcome.error, { modal: true }, overwrite);
        if (answer !== overwrite) return;
        outcome = await runPrep(located.path, folder, { ...opts, force: true });
      }
      if (!outcome.ok) throw new Error(outcome.error);
      deps.log.appendLine(`prep: ${outcome.summary}; wrote ${outcome.written.join(", ")}`);
      for (const note of outcome.notes) deps.log.appendLine(`prep: note: ${note}`);
      const open = "Open azds.yaml";
      const answer = await vscode.window.showInformationMessage(
        `${outcome.summary}: wrote ${outcome.written.length} files${outcome.notes.length ? ` (${outcome.notes.join("; ")})` : ""}`,
        open,
      );
      if (answer === open) await vscode.window.showTextDocument(vscode.Uri.file(path.join(folder, "azds.yaml")));
    },
    [CommandIds.classifyFile]: async (target) => {
      const uri = target instanceof vscode.Uri ? target : vscode.window.activeTextEditor?.document.uri;
      if (uri?.scheme !== "file") throw new Error("open a file of a service first");
      const root = findServiceRoot(uri.fsPath);
      if (!root) throw new Error(`'${uri.fsPath}' is not inside a folder with an azds.yaml`);
      const rel = path.relative(root, uri.fsPath).split(path.sep).join("/");
      const result = await connection.request<ClassifyResult>(Methods.classify, { path: root, paths: [rel] });
      const lines = result.results.map((r) => `${r.path}: ${r.class} (rule ${r.rule})`);
      void vscode.window.showInformationMessage(`${result.service}: ${lines.join("; ")}`);
    },
  };

  return Object.entries(handlers).map(([id, fn]) =>
    vscode.commands.registerCommand(id, run(id.replace(/^devspaces\./, ""), fn)),
  );
}
