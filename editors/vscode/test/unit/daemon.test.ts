// Unit tests of finding devspacesd (setting, then PATH), the restart budget and the service folder lookup.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { INSTALL_COMMAND, locateDaemon, RestartBudget } from "../../src/daemon";
import { findServiceRoot } from "../../src/service";

describe("locateDaemon", () => {
  const files = new Set(["/opt/ds/devspacesd", "/usr/bin/devspacesd", "/custom/devspacesd"]);
  const locate = (setting: string, envPath: string | undefined) =>
    locateDaemon({ setting, envPath, platform: "linux", isExecutable: (f: string) => files.has(f) });

  it("prefers the setting", () => {
    assert.deepEqual(locate("/custom/devspacesd", "/usr/bin"), { ok: true, path: "/custom/devspacesd", from: "setting" });
  });

  it("reports a setting that is not an executable, with the install command", () => {
    const r = locate("/nope/devspacesd", "/usr/bin");
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.message.includes("'/nope/devspacesd'") && r.message.includes(INSTALL_COMMAND));
  });

  it("falls back to the first PATH entry that has it", () => {
    assert.deepEqual(locate(" ", "/bin::/opt/ds:/usr/bin"), { ok: true, path: "/opt/ds/devspacesd", from: "PATH" });
  });

  it("says how to install it when it is nowhere", () => {
    const r = locate("", "/bin");
    assert.ok(!r.ok);
    assert.match(r.message, /devspacesd was not found on PATH; install it with 'cargo install --path daemon'/);
    assert.ok(!locate("", undefined).ok);
  });
});

describe("RestartBudget", () => {
  it("allows 5 restarts in 3 minutes, then again once the window passed", () => {
    const b = new RestartBudget(5, 180_000);
    const t0 = 1_000_000;
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => b.take(t0 + i * 1000)), [true, true, true, true, true, false]);
    assert.equal(b.take(t0 + 181_000), true);
  });
});

describe("findServiceRoot", () => {
  const exists = (p: string) => ["/w/api/azds.yaml", "/w/azds.yaml"].includes(p);
  it("finds the nearest folder with an azds.yaml", () => {
    assert.equal(findServiceRoot("/w/api/static/index.html", exists), "/w/api");
    assert.equal(findServiceRoot("/w/api", exists), "/w/api");
    assert.equal(findServiceRoot("/w/api/azds.yaml", exists), "/w/api");
    assert.equal(findServiceRoot("/w/web/app.js", exists), "/w");
    assert.equal(findServiceRoot("/elsewhere/x", exists), undefined);
  });
});
