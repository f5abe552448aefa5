// Unit tests of Dev Spaces: Prepare Project's call to `devspacesd prep` and how its output is read.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePrepOutput, prepArgs, runPrep, type Exec } from "../../src/prep";

const WROTE = `/w/shop: Node.js project (package.json), service 'shop'
wrote Dockerfile
wrote Dockerfile.develop
wrote charts/shop/Chart.yaml
overwrote azds.yaml
kept .dockerignore (the project's own)
note: no entry point found: the command runs server.js
next: devspacesd up /w/shop
`;

const REFUSED =
  "error: /w/shop: Dockerfile, azds.yaml already exist; prep overwrites only with --force (nothing was written)\n";

describe("prep", () => {
  it("passes the folder and the flags", () => {
    assert.deepEqual(prepArgs("/w/shop", { enableIngress: false, force: false }), ["prep", "/w/shop"]);
    assert.deepEqual(prepArgs("/w/shop", { enableIngress: true, force: true }), [
      "prep",
      "/w/shop",
      "--enable-ingress",
      "--force",
    ]);
  });

  it("reads what was written and the notes", () => {
    const o = parsePrepOutput(0, WROTE, "");
    assert.equal(o.ok, true);
    assert.equal(o.summary, "/w/shop: Node.js project (package.json), service 'shop'");
    assert.deepEqual(o.written, ["Dockerfile", "Dockerfile.develop", "charts/shop/Chart.yaml", "azds.yaml"]);
    assert.deepEqual(o.notes, ["no entry point found: the command runs server.js"]);
    assert.equal(o.needsForce, false);
  });

  it("tells a refusal to overwrite from other failures", () => {
    const refused = parsePrepOutput(1, "", REFUSED);
    assert.equal(refused.ok, false);
    assert.equal(refused.needsForce, true);
    assert.match(refused.error, /^\/w\/shop: Dockerfile, azds.yaml already exist/);
    const none = parsePrepOutput(1, "", "error: /w/x: no project file found (looked for package.json)\n");
    assert.equal(none.needsForce, false);
    assert.match(none.error, /no project file found/);
  });

  it("runs the daemon binary with those arguments", async () => {
    const calls: string[][] = [];
    const exec: Exec = (file, args) => {
      calls.push([file, ...args]);
      return Promise.resolve({ code: 0, stdout: WROTE, stderr: "" });
    };
    const o = await runPrep("/bin/devspacesd", "/w/shop", { enableIngress: true, force: false }, exec);
    assert.deepEqual(calls, [["/bin/devspacesd", "prep", "/w/shop", "--enable-ingress"]]);
    assert.equal(o.written.length, 4);
  });
});
