// Runs `devspacesd prep FOLDER` and reads what it printed; no vscode import.

import { execFile } from "node:child_process";

export interface PrepOptions {
  enableIngress: boolean;
  force: boolean;
}

/** What one prep run came to, read from devspacesd's output. */
export interface PrepOutcome {
  ok: boolean;
  /** The first line: `<folder>: <stack> project (<file>), service '<name>'`. */
  summary: string;
  /** Files written or overwritten, relative to the folder. */
  written: string[];
  notes: string[];
  /** The daemon's error, when it failed. */
  error: string;
  /** It refused because generated files exist: running again with `force` overwrites them. */
  needsForce: boolean;
}

/** Runs a program and returns its exit status and output (execFile by default; tests pass their own). */
export type Exec = (file: string, args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

export const execProgram: Exec = (file, args) =>
  new Promise((resolve) => {
    execFile(file, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
    });
  });

export function prepArgs(folder: string, opts: PrepOptions): string[] {
  const args = ["prep", folder];
  if (opts.enableIngress) args.push("--enable-ingress");
  if (opts.force) args.push("--force");
  return args;
}

export function parsePrepOutput(code: number, stdout: string, stderr: string): PrepOutcome {
  const lines = stdout.split("\n").map((l) => l.trim());
  const written = lines.flatMap((l) => {
    const m = /^(?:wrote|overwrote) (.+)$/.exec(l);
    return m?.[1] ? [m[1]] : [];
  });
  const notes = lines.flatMap((l) => (l.startsWith("note: ") ? [l.slice("note: ".length)] : []));
  const error = stderr.trim().replace(/^error: /, "");
  return {
    ok: code === 0,
    summary: lines[0] ?? "",
    written,
    notes,
    error,
    needsForce: code !== 0 && /already exists? ?.*--force/.test(error),
  };
}

/** `devspacesd prep` on a folder, through `exec`. */
export async function runPrep(daemon: string, folder: string, opts: PrepOptions, exec: Exec = execProgram): Promise<PrepOutcome> {
  const { code, stdout, stderr } = await exec(daemon, prepArgs(folder, opts));
  return parsePrepOutput(code, stdout, stderr);
}
