// Starts devspacesd --stdio through vscode-languageclient and restarts it when it dies.

import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  type CloseHandlerResult,
  type ErrorHandlerResult,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { RestartBudget } from "./daemon";
import type { InitializeExperimental } from "./protocol";

export interface ClientSettings {
  daemonPath: string;
}

export function createClient(settings: ClientSettings, outputChannel: vscode.LogOutputChannel): LanguageClient {
  const serverOptions: ServerOptions = {
    command: settings.daemonPath,
    args: ["--stdio"],
  };
  const budget = new RestartBudget();
  const clientOptions: LanguageClientOptions = {
    // azds.yaml diagnostics reach Problems through the client's standard text document sync.
    documentSelector: [{ scheme: "file", pattern: "**/azds.yaml" }],
    outputChannel,
    errorHandler: {
      error(): ErrorHandlerResult {
        return { action: ErrorAction.Continue };
      },
      closed(): CloseHandlerResult {
        if (budget.take(Date.now())) {
          return { action: CloseAction.Restart, message: "devspacesd exited; starting it again", handled: true };
        }
        return {
          action: CloseAction.DoNotRestart,
          message: "devspacesd exited 5 times in 3 minutes and is not started again; see the Dev Spaces output",
        };
      },
    },
  };
  return new LanguageClient("devspaces", "Dev Spaces", serverOptions, clientOptions);
}

/** The protocol version the daemon speaks, from its initialize result. */
export function serverProtocolVersion(client: LanguageClient): number | undefined {
  const experimental = client.initializeResult?.capabilities.experimental as InitializeExperimental | undefined;
  return experimental?.devspaces?.protocolVersion;
}
