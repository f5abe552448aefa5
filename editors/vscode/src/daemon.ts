// Finds the devspacesd binary (setting, then PATH) and words the message when it is missing; no vscode import.

import * as fs from "node:fs";
import * as path from "node:path";

export const DAEMON_NAME = "devspacesd";
export const INSTALL_COMMAND = "cargo install --path daemon";

export type Located = { ok: true; path: string; from: "setting" | "PATH" } | { ok: false; message: string };

export interface LocateInput {
  /** The `devspaces.daemonPath` setting (empty when unset). */
  setting: string;
  /** The PATH variable. */
  envPath: string | undefined;
  platform: NodeJS.Platform;
  /** Whether a file exists and may be executed. */
  isExecutable?: (file: string) => boolean;
}

export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function locateDaemon(input: LocateInput): Located {
  const isExecutable = input.isExecutable ?? isExecutableFile;
  const setting = input.setting.trim();
  if (setting !== "") {
    if (isExecutable(setting)) return { ok: true, path: setting, from: "setting" };
    return {
      ok: false,
      message:
        `devspaces.daemonPath is '${setting}', which is not an executable file; ` +
        `fix the setting, or clear it and install the daemon with '${INSTALL_COMMAND}' from the devspaces checkout`,
    };
  }
  const exe = input.platform === "win32" ? `${DAEMON_NAME}.exe` : DAEMON_NAME;
  const sep = input.platform === "win32" ? ";" : ":";
  for (const dir of (input.envPath ?? "").split(sep)) {
    if (dir === "") continue;
    const candidate = path.join(dir, exe);
    if (isExecutable(candidate)) return { ok: true, path: candidate, from: "PATH" };
  }
  return {
    ok: false,
    message:
      `${DAEMON_NAME} was not found on PATH; install it with '${INSTALL_COMMAND}' from the devspaces checkout, ` +
      `or set devspaces.daemonPath to the binary`,
  };
}

/**
 * Decides whether a daemon that died is started again: at most `limit` restarts within `windowMs`,
 * so a daemon that dies at once on every start is not restarted forever.
 */
export class RestartBudget {
  private readonly starts: number[] = [];

  constructor(
    private readonly limit = 5,
    private readonly windowMs = 3 * 60 * 1000,
  ) {}

  take(now: number): boolean {
    while (this.starts.length > 0 && now - (this.starts[0] ?? now) > this.windowMs) this.starts.shift();
    if (this.starts.length >= this.limit) return false;
    this.starts.push(now);
    return true;
  }
}
