// The connection to devspacesd and the settings it starts with: starts the daemon on first use, re-reads its sessions after each start.

import * as vscode from "vscode";
import { State, type LanguageClient } from "vscode-languageclient/node";
import { createClient, serverProtocolVersion } from "./client";
import { ConfigSection, SettingDefaults, Settings } from "./contributions";
import { locateDaemon } from "./daemon";
import type { SessionsModel } from "./model/sessions";
import { Methods, PROTOCOL_VERSION, type Backend, type StatusResult, type WatchResult } from "./protocol";

const NOTIFICATIONS = [
  Methods.log,
  Methods.logsDropped,
  Methods.trace,
  Methods.portForward,
  Methods.serviceStatus,
  Methods.synced,
  Methods.debugReady,
] as const;

export interface ExtensionSettings {
  daemonPath: string;
  /** "auto" lets the daemon choose from the develop Dockerfile. */
  backend: Backend | "auto";
  space: string;
  traceHistorySize: number;
}

export function readSettings(): ExtensionSettings {
  const c = vscode.workspace.getConfiguration(ConfigSection);
  return {
    daemonPath: c.get<string>(Settings.daemonPath, SettingDefaults.daemonPath),
    backend: c.get<Backend | "auto">(Settings.backend, SettingDefaults.backend),
    space: c.get<string>(Settings.space, SettingDefaults.space),
    traceHistorySize: c.get<number>(Settings.traceHistorySize, SettingDefaults.traceHistorySize),
  };
}

/** Owns the connection to devspacesd: starts it on first use and keeps the model in step after each (re)start. */
export class DaemonConnection implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;

  constructor(
    private readonly model: SessionsModel,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The running client, started when needed; rejects with a message the user can act on. */
  get(): Promise<LanguageClient> {
    const client = this.client;
    if (client?.isRunning()) return Promise.resolve(client);
    if (client && client.state === State.Starting) {
      // A restart after the daemon died is under way: wait for it rather than start a second daemon.
      return client.start().then(() => client);
    }
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async request<R>(method: string, params: object): Promise<R> {
    const client = await this.get();
    return client.sendRequest<R>(method, params);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.get();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(2000);
      } catch (e) {
        this.log.appendLine(`stopping devspacesd: ${String(e)}`);
      }
      await client.dispose().catch(() => undefined);
    }
    this.model.clear();
  }

  dispose(): void {
    void this.stop();
  }

  private async start(): Promise<LanguageClient> {
    if (this.client) await this.stop();
    const settings = readSettings();
    const located = locateDaemon({ setting: settings.daemonPath, envPath: process.env.PATH, platform: process.platform });
    if (!located.ok) throw new Error(located.message);
    this.log.appendLine(`starting ${located.path} --stdio (from ${located.from})`);
    const client = createClient({ daemonPath: located.path }, this.log);
    for (const method of NOTIFICATIONS) {
      client.onNotification(method, (params: unknown) => {
        this.model.applyNotification(method, params);
      });
    }
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) {
        void this.resync(client);
      } else if (e.newState === State.Stopped) {
        this.model.clear();
      }
    });
    this.client = client;
    await client.start();
    const version = serverProtocolVersion(client);
    if (version !== undefined && version !== PROTOCOL_VERSION) {
      await this.stop();
      throw new Error(
        `devspacesd speaks protocol version ${String(version)} and this extension version ${String(PROTOCOL_VERSION)}; ` +
          `update the one that is older`,
      );
    }
    return client;
  }

  /** After a (re)start: show every session the daemon runs and watch those of this workspace's folders. */
  private async resync(client: LanguageClient): Promise<void> {
    try {
      const status = await client.sendRequest<StatusResult>(Methods.status, {});
      this.model.reset(status.sessions);
      const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
      for (const s of status.sessions) {
        if (folders.some((f) => s.path === f || s.path.startsWith(f + "/"))) {
          const watched = await client.sendRequest<WatchResult>(Methods.watch, { session: s.session, replayLines: 100 });
          for (const info of watched.sessions) this.model.applySession(info);
        }
      }
    } catch (e) {
      this.log.appendLine(`reading the daemon's sessions: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
