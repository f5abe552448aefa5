// The "Dev Spaces" tree as plain data (services, port forwards, traces), built from SessionsModel; no vscode import.

import type { Phase } from "../protocol";
import { CommandIds } from "../contributions";
import type { ServiceState, SessionsModel } from "./sessions";

/** Tells the view's menus which node a command was invoked on (package.json `viewItem == ...`). */
export type NodeContext = "service" | "portForward" | "debug" | "traces" | "trace" | "synced";

export interface TreeNode {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon name. */
  icon?: string;
  context: NodeContext;
  session: string;
  /** Present on port forwards and traces: the URL to open. */
  url?: string;
  command?: { command: string; title: string; arguments: unknown[] };
  children: TreeNode[];
}

const PHASE_ICONS: Record<Phase, string> = {
  syncing: "sync~spin",
  building: "tools",
  deploying: "cloud-upload",
  starting: "loading~spin",
  running: "pass",
  restarting: "debug-restart",
  crashed: "error",
  failed: "error",
  stopped: "circle-slash",
};

export function phaseIcon(phase: Phase | undefined): string {
  return phase ? PHASE_ICONS[phase] : "circle-outline";
}

export function buildTree(model: SessionsModel): TreeNode[] {
  return model.list().map(serviceNode);
}

function serviceNode(state: ServiceState): TreeNode {
  const id = `service:${state.session}`;
  const children: TreeNode[] = [];
  for (const pf of state.portForwards.values()) {
    children.push({
      id: `${id}:port:${String(pf.localPort)}`,
      label: pf.url,
      description: `→ ${String(pf.remotePort)}${pf.state === "open" ? "" : ` (${pf.state})`}`,
      tooltip: `forwards ${pf.url} to port ${String(pf.remotePort)} of ${state.service}`,
      icon: pf.state === "open" ? "link-external" : "debug-disconnect",
      context: "portForward",
      session: state.session,
      url: pf.url,
      command: { command: CommandIds.openInBrowser, title: "Open in Browser", arguments: [pf.url] },
      children: [],
    });
  }
  if (state.debugReady) {
    const d = state.debugReady;
    children.push({
      id: `${id}:debug`,
      label: `debugger ${d.host}:${String(d.port)}`,
      description: `${d.adapter} · → ${String(d.remotePort)}`,
      tooltip: [`${d.adapter} debug server of ${state.service}, restart ${String(d.restarts)}`, ...d.pathMappings.map((m) => `${m.localRoot} -> ${m.remoteRoot}`)].join("\n"),
      icon: "debug-alt",
      context: "debug",
      session: state.session,
      children: [],
    });
  }
  if (state.lastSynced) {
    const s = state.lastSynced;
    const files = s.files.length === 1 ? (s.files[0] ?? "") : `${String(s.files.length)} files`;
    children.push({
      id: `${id}:synced`,
      label: `synced ${files}`,
      description: `${s.class} · ${String(s.durationMs)} ms`,
      tooltip: s.files.join("\n"),
      icon: "cloud-upload",
      context: "synced",
      session: state.session,
      children: [],
    });
  }
  const traces = state.traces.rows();
  const firstUrl = [...state.portForwards.values()].find((pf) => pf.state !== "closed")?.url;
  children.push({
    id: `${id}:traces`,
    label: "Recent requests",
    description: traces.length === 0 ? "none yet" : String(traces.length),
    icon: "history",
    context: "traces",
    session: state.session,
    children: traces.map((row, i) => ({
      id: `${id}:trace:${String(i)}:${row.trace.time}`,
      label: row.label,
      description: row.description,
      tooltip: `${row.trace.time}: ${String(row.trace.bytes)} bytes`,
      icon: row.trace.status >= 500 ? "error" : row.trace.status >= 400 ? "warning" : "arrow-swap",
      context: "trace" as const,
      session: state.session,
      url: firstUrl ? joinUrl(firstUrl, row.trace.path) : undefined,
      children: [],
    })),
  });
  const detail = state.detail ? ` (${state.detail})` : "";
  return {
    id,
    label: state.service,
    description: `${state.phase ?? "unknown"}${state.space ? ` · ${state.space}` : ""}`,
    tooltip: [
      `${state.service}: ${state.phase ?? "unknown"}${detail}`,
      state.path,
      state.backend ? `backend ${state.backend}` : undefined,
      `session ${state.session}`,
      state.exitCode !== undefined ? `exit code ${String(state.exitCode)}` : undefined,
      ...(state.lastLines ?? []),
    ]
      .filter((l): l is string => l !== undefined && l !== "")
      .join("\n"),
    icon: phaseIcon(state.phase),
    context: "service",
    session: state.session,
    children,
  };
}

function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + (path.startsWith("/") ? path : `/${path}`);
}
