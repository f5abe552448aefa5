// Finds the service folder (the one holding azds.yaml) that a file or folder belongs to; no vscode import.

import * as fs from "node:fs";
import * as path from "node:path";

/** The service folder holding a file: the nearest ancestor (or the folder itself) with an azds.yaml. */
export function findServiceRoot(file: string, exists: (p: string) => boolean = fs.existsSync): string | undefined {
  let dir = exists(path.join(file, "azds.yaml")) ? file : path.dirname(file);
  for (;;) {
    if (exists(path.join(dir, "azds.yaml"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
