// Reads the protocol's golden JSON files (protocol/tests/golden/), the recorded daemon messages the tests replay.

import * as fs from "node:fs";
import * as path from "node:path";

/** The repository root, found from this file whether it runs from test/ or out/test/. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "protocol", "tests", "golden"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no protocol/tests/golden above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** The extension's folder (editors/vscode). */
export function extensionRoot(): string {
  return path.join(repoRoot(), "editors", "vscode");
}

// The caller names the golden file's type; the parse cannot check it.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function golden<T = unknown>(name: string): T {
  const file = path.join(repoRoot(), "protocol", "tests", "golden", name);
  return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}
