// Tidy checks: every TypeScript file says what it is for on its first line, and the view models stay free of `vscode`.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { extensionRoot } from "../support/golden";

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

const root = extensionRoot();
const files = [...tsFiles(path.join(root, "src")), ...tsFiles(path.join(root, "test"))];

describe("tidy", () => {
  it("every .ts file opens with a one-line // comment", () => {
    const bad = files.filter((f) => !/^\/\/ \S.*\n(\n|import |export |$)/.test(fs.readFileSync(f, "utf8")));
    assert.deepEqual(bad.map((f) => path.relative(root, f)), []);
  });

  it("the protocol types, view models and lookups do not import vscode", () => {
    const pure = files.filter((f) => {
      const rel = path.relative(path.join(root, "src"), f);
      return !rel.startsWith("..") && (rel.startsWith("model") || ["protocol.ts", "contributions.ts", "daemon.ts", "service.ts", "prep.ts"].includes(rel));
    });
    assert.ok(pure.length >= 9, pure.join(", "));
    for (const f of pure) assert.doesNotMatch(fs.readFileSync(f, "utf8"), /from "vscode"|require\("vscode"\)/, f);
  });
});
