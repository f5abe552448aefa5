// How log lines, dropped-line counts and synced batches are written to a service's output channel; no vscode import.

import type { DebugReadyParams, LogParams, LogsDroppedParams, SyncedParams } from "../protocol";

/** The output channel that holds a service's logs. */
export function channelName(service: string): string {
  return `Dev Spaces: ${service}`;
}

/** App output as it is; build and devspaces lines marked so they stand out. */
export function formatLog(p: LogParams): string {
  switch (p.stream) {
    case "stdout":
      return p.line;
    case "stderr":
      return `[stderr] ${p.line}`;
    case "build":
      return `[build] ${p.line}`;
    case "system":
      return `[devspaces] ${p.line}`;
  }
}

export function formatLogsDropped(p: LogsDroppedParams): string {
  return `[devspaces] ${String(p.count)} log lines dropped (the editor could not keep up)`;
}

export function formatSynced(p: SyncedParams): string {
  const files = p.files.length <= 3 ? p.files.join(", ") : `${String(p.files.length)} files`;
  return `[devspaces] synced ${p.class}: ${files} (${String(p.durationMs)} ms)`;
}

export function formatDebugReady(p: DebugReadyParams): string {
  const mappings = p.pathMappings.map((m) => `${m.localRoot} -> ${m.remoteRoot}`).join(", ");
  return `[devspaces] debugger (${p.adapter}) ready on ${p.host}:${String(p.port)}; path mapping ${mappings || "none"} (restart ${String(p.restarts)})`;
}
