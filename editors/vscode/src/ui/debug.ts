// The `devspaces` debug configuration type and Debug Service: attach the editor's debugger at each devspaces/debugReady of a session the user debugs.

import * as path from "node:path";
import * as vscode from "vscode";
import type { DaemonConnection } from "../connection";
import {
  AdapterExtensions,
  attachConfiguration,
  DebugType,
  ReattachPolicy,
  SessionKey,
  StopWatch,
  type DevspacesDebugConfiguration,
} from "../debug";
import type { ServiceState, SessionsModel } from "../model/sessions";
import { Methods, type DebugParams, type DebugReadyParams, type DebugResult } from "../protocol";

/** How long resolving a `devspaces` configuration waits for the debug server (a build may run first). */
const READY_TIMEOUT_MS = 10 * 60_000;

export class DebugAttacher implements vscode.Disposable {
  private readonly policy = new ReattachPolicy();
  private readonly disposables: { dispose(): unknown }[] = [];

  constructor(
    private readonly model: SessionsModel,
    private readonly connection: DaemonConnection,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      model.onDidChange((change) => {
        if (change.kind === "debugReady" && this.policy.take(change.params)) void this.attach(change.params);
        if (change.kind === "sessions") {
          for (const id of this.policy.sessions()) if (!model.get(id)) this.policy.stop(id);
        }
      }),
      vscode.debug.registerDebugConfigurationProvider(DebugType, {
        provideDebugConfigurations: () => [initialConfiguration()],
        resolveDebugConfiguration: (folder, config) => this.resolve(folder, config),
      }),
      vscode.debug.registerDebugAdapterTrackerFactory("*", {
        createDebugAdapterTracker: (session) => {
          const id = session.configuration[SessionKey] as unknown;
          if (typeof id !== "string") return undefined;
          const watch = new StopWatch();
          return {
            onWillReceiveMessage: (m: { type?: string; command?: string }) => {
              watch.toAdapter(m);
            },
            onDidSendMessage: (m: { type?: string; event?: string }) => {
              watch.fromAdapter(m);
            },
            onWillStopSession: () => {
              if (watch.stoppedByUser) {
                this.policy.stop(id);
                this.log.appendLine(`debug: ${session.name} stopped by the user; not attaching again after a restart`);
              }
            },
          };
        },
      }),
    );
  }

  /** Debug Service: debug the session's app and attach, now if its debug server is ready, else at its debugReady. */
  async debugService(state: ServiceState): Promise<void> {
    this.policy.want(state.session);
    const ready = state.debugReady;
    if (ready && state.phase === "running") {
      if (this.policy.take(ready)) await this.attach(ready);
      else void vscode.window.showInformationMessage(`${state.service}: the debugger is already attached`);
      return;
    }
    try {
      const params: DebugParams = { session: state.session, enable: true };
      await this.connection.request<DebugResult>(Methods.debug, params);
    } catch (e) {
      this.policy.stop(state.session);
      throw e;
    }
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private async attach(ready: DebugReadyParams): Promise<void> {
    const config = attachConfiguration(ready);
    this.log.appendLine(`debug: attaching to ${ready.service} (${ready.adapter}) on ${ready.host}:${String(ready.port)}, restart ${String(ready.restarts)}`);
    const started = await vscode.debug.startDebugging(folderOf(ready), config as vscode.DebugConfiguration);
    if (!started) {
      const message = `${ready.service}: could not start the ${String(config.type)} debugger; is ${AdapterExtensions[ready.adapter]} installed?`;
      this.log.appendLine(`debug: ${message}`);
      void vscode.window.showErrorMessage(message);
    }
  }

  /** A `devspaces` configuration becomes the real adapter's attach configuration, once the service's debug server is ready. */
  private async resolve(folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
    const wanted = (config.type ? config : { ...config, ...initialConfiguration() }) as DevspacesDebugConfiguration;
    const state = this.target(folder, wanted.service);
    if (!state) {
      void vscode.window.showErrorMessage(
        wanted.service ? `Dev Spaces: no session of '${wanted.service}' runs; run Dev Spaces: Up first` : "Dev Spaces: no service is up; run Dev Spaces: Up first",
      );
      return undefined;
    }
    let ready = state.phase === "running" ? state.debugReady : undefined;
    if (!ready) {
      const next = this.nextReady(state.session);
      try {
        await this.connection.request<DebugResult>(Methods.debug, { session: state.session, enable: true } satisfies DebugParams);
      } catch (e) {
        next.cancel();
        void vscode.window.showErrorMessage(`Dev Spaces: debug ${state.service}: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }
      ready = await next.ready;
    }
    this.policy.want(state.session);
    this.policy.take(ready);
    return attachConfiguration(ready, wanted.name) as vscode.DebugConfiguration;
  }

  /** The session a configuration names: by service name or folder, else the workspace folder's, else the only one. */
  private target(folder: vscode.WorkspaceFolder | undefined, service: string | undefined): ServiceState | undefined {
    const all = this.model.list();
    if (service) {
      const resolved = folder && !path.isAbsolute(service) ? path.join(folder.uri.fsPath, service) : service;
      return all.find((s) => s.service === service || s.path === resolved);
    }
    const root = folder?.uri.fsPath;
    const inFolder = root ? all.filter((s) => s.path === root || s.path?.startsWith(root + path.sep)) : [];
    if (inFolder.length === 1) return inFolder[0];
    return all.length === 1 ? all[0] : undefined;
  }

  /** The session's next debugReady; `cancel` stops waiting. */
  private nextReady(session: string): { ready: Promise<DebugReadyParams>; cancel(): void } {
    let cancel = (): void => undefined;
    const ready = new Promise<DebugReadyParams>((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`no devspaces/debugReady for the session within ${String(READY_TIMEOUT_MS / 60_000)} minutes`));
      }, READY_TIMEOUT_MS);
      const sub = this.model.onDidChange((change) => {
        if (change.kind === "debugReady" && change.params.session === session) {
          clearTimeout(timer);
          sub.dispose();
          resolve(change.params);
        }
      });
      cancel = () => {
        clearTimeout(timer);
        sub.dispose();
      };
    });
    return { ready, cancel };
  }
}

function initialConfiguration(): DevspacesDebugConfiguration {
  return { type: DebugType, request: "attach", name: "Dev Spaces: attach to the service" };
}

/** The workspace folder that holds the service (the first mapping's local side). */
function folderOf(ready: DebugReadyParams): vscode.WorkspaceFolder | undefined {
  const local = ready.pathMappings[0]?.localRoot;
  if (!local) return undefined;
  return (vscode.workspace.workspaceFolders ?? []).find((f) => local === f.uri.fsPath || local.startsWith(f.uri.fsPath + path.sep));
}
