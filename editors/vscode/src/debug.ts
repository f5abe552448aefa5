// What a `devspaces` debug configuration becomes for each debug server kind, and when to attach again; no vscode import.

import type { DebugAdapterKind, DebugReadyParams } from "./protocol";

export const DebugType = "devspaces";

/** A `devspaces` launch configuration as a user writes it in launch.json. */
export interface DevspacesDebugConfiguration {
  type: typeof DebugType;
  request: "attach";
  name: string;
  /** The service's name, or its folder; empty: the folder's service, else the only session. */
  service?: string;
}

/** The key, in the real adapter's configuration, that names the devspaces session it attaches to. */
export const SessionKey = "devspacesSession";

/** The extension each debug server kind needs in VS Code, for messages. */
export const AdapterExtensions: Record<DebugAdapterKind, string> = {
  python: "Python Debugger (ms-python.debugpy)",
  node: "JavaScript Debugger (built in)",
  go: "Go (golang.go)",
  dotnet: "C# (ms-dotnettools.csharp)",
  java: "Debugger for Java (vscjava.vscode-java-debug)",
};

/**
 * The attach configuration of the adapter that speaks the debug server's protocol, aimed at the
 * daemon's forward (`host:port`) with the path mappings between the workspace and where the app runs.
 */
export function attachConfiguration(ready: DebugReadyParams, name = `Dev Spaces: ${ready.service}`): Record<string, unknown> {
  const base = { name, request: "attach", [SessionKey]: ready.session };
  const first = ready.pathMappings[0];
  switch (ready.adapter) {
    case "python":
      // debugpy speaks DAP: the Python Debugger extension connects to it.
      return {
        ...base,
        type: "debugpy",
        connect: { host: ready.host, port: ready.port },
        pathMappings: ready.pathMappings.map((m) => ({ localRoot: m.localRoot, remoteRoot: m.remoteRoot })),
        justMyCode: false,
      };
    case "node":
      // The inspector (CDP): js-debug attaches by address and port.
      return {
        ...base,
        type: "node",
        address: ready.host,
        port: ready.port,
        ...(first ? { localRoot: first.localRoot, remoteRoot: first.remoteRoot } : {}),
        restart: false,
      };
    case "go":
      // Delve headless with --accept-multiclient: vscode-go's remote attach, paths by substitutePath.
      return {
        ...base,
        type: "go",
        mode: "remote",
        host: ready.host,
        port: ready.port,
        substitutePath: ready.pathMappings.map((m) => ({ from: m.localRoot, to: m.remoteRoot })),
      };
    case "dotnet":
      // netcoredbg in server mode speaks DAP on the port: VS Code talks to it through `debugServer`.
      return {
        ...base,
        type: "coreclr",
        debugServer: ready.port,
        sourceFileMap: Object.fromEntries(ready.pathMappings.map((m) => [m.remoteRoot, m.localRoot])),
      };
    case "java":
      // JDWP: the Java debugger attaches by host name and port.
      return { ...base, type: "java", hostName: ready.host, port: ready.port };
  }
}

/**
 * When to attach, per session: a session the user asked to debug is attached at each new
 * `debugReady` (a higher `restarts` than the one last attached), until the user stops debugging it.
 */
export class ReattachPolicy {
  /** Session -> the `restarts` of the debugReady last attached (-1: wanted, none attached yet). */
  private readonly wanted = new Map<string, number>();

  /** The user asked to debug this session. */
  want(session: string): void {
    if (!this.wanted.has(session)) this.wanted.set(session, -1);
  }

  /** The user stopped debugging it (or the session ended): no more attaching by itself. */
  stop(session: string): void {
    this.wanted.delete(session);
  }

  /** The sessions wanted. */
  sessions(): string[] {
    return [...this.wanted.keys()];
  }

  isWanted(session: string): boolean {
    return this.wanted.has(session);
  }

  /** Whether this debugReady should start an attach now; when it should, it counts as attached. */
  take(ready: DebugReadyParams): boolean {
    const last = this.wanted.get(ready.session);
    if (last === undefined || ready.restarts <= last) return false;
    this.wanted.set(ready.session, ready.restarts);
    return true;
  }
}

/**
 * Whether a debug session ended because the user stopped it: the editor asked the adapter to
 * disconnect or terminate before the adapter said the debuggee was gone. A debug server stopped
 * by a restart ends the other way round (its connection closes, or `terminated` comes first).
 */
export class StopWatch {
  private userAsked = false;
  private debuggeeGone = false;

  /** A message the editor sends to the adapter. */
  toAdapter(message: { type?: string; command?: string }): void {
    if (message.type === "request" && (message.command === "disconnect" || message.command === "terminate") && !this.debuggeeGone) {
      this.userAsked = true;
    }
  }

  /** A message the adapter sends to the editor. */
  fromAdapter(message: { type?: string; event?: string }): void {
    if (message.type === "event" && (message.event === "terminated" || message.event === "exited")) this.debuggeeGone = true;
  }

  get stoppedByUser(): boolean {
    return this.userAsked;
  }
}
