// The extension's entry point: wires the daemon connection, the model and the UI together; no decisions of its own.

import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { DaemonConnection, readSettings } from "./connection";
import { ConfigSection, ServicesViewId, Settings } from "./contributions";
import { SessionsModel } from "./model/sessions";
import { DebugAttacher } from "./ui/debug";
import { ServiceOutputs } from "./ui/output";
import { PhaseStatusBar } from "./ui/statusBar";
import { ServicesTreeProvider } from "./ui/tree";

let active: DaemonConnection | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel("Dev Spaces", { log: true });
  const model = new SessionsModel(readSettings().traceHistorySize);
  const connection = new DaemonConnection(model, log);
  active = connection;
  const outputs = new ServiceOutputs(model);
  const tree = new ServicesTreeProvider(model);
  const treeView = vscode.window.createTreeView(ServicesViewId, { treeDataProvider: tree, showCollapseAll: true });
  const statusBar = new PhaseStatusBar(model, () => readSettings().space || undefined);

  const debug = new DebugAttacher(model, connection, log);

  context.subscriptions.push(log, connection, outputs, tree, treeView, statusBar, debug);
  context.subscriptions.push(...registerCommands({ connection, model, outputs, log, debug }));
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${ConfigSection}.${Settings.traceHistorySize}`)) {
        model.setTraceHistorySize(readSettings().traceHistorySize);
      }
      if (e.affectsConfiguration(`${ConfigSection}.${Settings.space}`)) statusBar.update();
      if (e.affectsConfiguration(`${ConfigSection}.${Settings.daemonPath}`)) {
        connection.restart().catch((err: unknown) => {
          void vscode.window.showErrorMessage(err instanceof Error ? err.message : String(err));
        });
      }
    }),
  );

  // Start at once so azds.yaml diagnostics and running sessions show without a command.
  connection.get().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    log.appendLine(message);
    void vscode.window.showErrorMessage(message, "Open Settings").then((choice) => {
      if (choice === "Open Settings") {
        void vscode.commands.executeCommand("workbench.action.openSettings", `${ConfigSection}.${Settings.daemonPath}`);
      }
    });
  });
}

/** VS Code waits for the returned promise, so the daemon gets `shutdown` and `exit`. */
export function deactivate(): Promise<void> | undefined {
  const connection = active;
  active = undefined;
  return connection?.stop();
}
