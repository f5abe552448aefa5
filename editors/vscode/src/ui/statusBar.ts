// The status bar item showing the phase of the running sessions, rendered from model/statusBar.ts.

import * as vscode from "vscode";
import { ServicesViewId } from "../contributions";
import type { SessionsModel } from "../model/sessions";
import { statusBarView } from "../model/statusBar";

export class PhaseStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: { dispose(): void };

  constructor(
    private readonly model: SessionsModel,
    private readonly space: () => string | undefined,
  ) {
    this.item = vscode.window.createStatusBarItem("devspaces.phase", vscode.StatusBarAlignment.Left, 10);
    this.item.name = "Dev Spaces";
    this.item.command = `${ServicesViewId}.focus`;
    this.subscription = model.onDidChange((change) => {
      if (change.kind === "sessions") this.update();
    });
    this.update();
    this.item.show();
  }

  update(): void {
    const view = statusBarView(this.model, this.space());
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
