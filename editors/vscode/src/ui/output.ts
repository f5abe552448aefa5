// One output channel per service, written from the model's log, dropped-lines and synced events.

import * as vscode from "vscode";
import { channelName, formatDebugReady, formatLog, formatLogsDropped, formatSynced } from "../model/logs";
import type { SessionsModel } from "../model/sessions";

export class ServiceOutputs implements vscode.Disposable {
  private readonly channels = new Map<string, vscode.OutputChannel>();
  private readonly subscription: { dispose(): void };

  constructor(model: SessionsModel) {
    this.subscription = model.onDidChange((change) => {
      switch (change.kind) {
        case "log":
          this.channel(change.params.service).appendLine(formatLog(change.params));
          break;
        case "logsDropped":
          this.channel(change.params.service).appendLine(formatLogsDropped(change.params));
          break;
        case "synced":
          this.channel(change.params.service).appendLine(formatSynced(change.params));
          break;
        case "status": {
          const p = change.params;
          if (p.phase === "crashed" || p.phase === "failed") {
            const code = p.exitCode !== undefined ? ` (exit code ${String(p.exitCode)})` : "";
            this.channel(p.service).appendLine(`[devspaces] ${p.phase}: ${p.detail}${code}`);
          }
          break;
        }
        case "debugReady":
          this.channel(change.params.service).appendLine(formatDebugReady(change.params));
          break;
        case "sessions":
          break;
      }
    });
  }

  channel(service: string): vscode.OutputChannel {
    let channel = this.channels.get(service);
    if (!channel) {
      channel = vscode.window.createOutputChannel(channelName(service));
      this.channels.set(service, channel);
    }
    return channel;
  }

  show(service: string): void {
    this.channel(service).show(true);
  }

  dispose(): void {
    this.subscription.dispose();
    for (const channel of this.channels.values()) channel.dispose();
    this.channels.clear();
  }
}
