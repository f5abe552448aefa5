// Renders the pure tree model (model/tree.ts) as the "Dev Spaces" view's TreeDataProvider.

import * as vscode from "vscode";
import { buildTree, type TreeNode } from "../model/tree";
import type { SessionsModel } from "../model/sessions";

export class ServicesTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: { dispose(): void };

  constructor(private readonly model: SessionsModel) {
    this.subscription = model.onDidChange((change) => {
      if (change.kind === "sessions") this.changed.fire(undefined);
    });
  }

  getChildren(node?: TreeNode): TreeNode[] {
    return node ? node.children : buildTree(this.model);
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const state = node.children.length === 0 ? vscode.TreeItemCollapsibleState.None : vscode.TreeItemCollapsibleState.Expanded;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.contextValue = node.context;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
    if (node.command) item.command = node.command;
    return item;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
