// The status bar item's text and tooltip from SessionsModel: the phase of each session; no vscode import.

import type { SessionsModel } from "./sessions";
import { phaseIcon } from "./tree";

export interface StatusBarView {
  text: string;
  tooltip: string;
  /** True when a session crashed or failed (the item is shown as an error). */
  error: boolean;
}

export function statusBarView(model: SessionsModel, space: string | undefined): StatusBarView {
  const sessions = model.list();
  const where = space ? ` (${space})` : "";
  if (sessions.length === 0) {
    return { text: "$(cloud) Dev Spaces", tooltip: `Dev Spaces: no service is up${where}`, error: false };
  }
  const error = sessions.some((s) => s.phase === "crashed" || s.phase === "failed");
  const lines = sessions.map((s) => `${s.service}: ${s.phase ?? "unknown"}${s.detail ? ` (${s.detail})` : ""}`);
  if (sessions.length === 1) {
    const s = sessions[0];
    if (s) {
      return { text: `$(${phaseIcon(s.phase)}) ${s.service}: ${s.phase ?? "unknown"}`, tooltip: lines.join("\n"), error };
    }
  }
  const worst = sessions.find((s) => s.phase === "crashed" || s.phase === "failed");
  const busy = sessions.find((s) => s.phase !== "running");
  const shown = worst ?? busy;
  const text = shown
    ? `$(${phaseIcon(shown.phase)}) ${String(sessions.length)} services: ${shown.service} ${shown.phase ?? "unknown"}`
    : `$(${phaseIcon("running")}) ${String(sessions.length)} services running`;
  return { text, tooltip: lines.join("\n"), error };
}
