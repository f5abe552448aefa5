// The view models fed a session recorded from the real daemon (`devspacesd up --json` on examples/python-web, test/fixtures/).

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { formatLog, formatSynced } from "../../src/model/logs";
import { SessionsModel } from "../../src/model/sessions";
import { statusBarView } from "../../src/model/statusBar";
import { buildTree, type TreeNode } from "../../src/model/tree";
import type { DevspacesEvent, LogParams } from "../../src/protocol";
import { extensionRoot } from "../support/golden";

const events = fs
  .readFileSync(path.join(extensionRoot(), "test", "fixtures", "python-web.up.jsonl"), "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l) as DevspacesEvent);

const brief = (n: TreeNode): string[] => [
  `${n.label} | ${n.description ?? ""}`,
  ...n.children.flatMap((c) => brief(c).map((l) => `  ${l}`)),
];

/** Feeds events until (and including) the first one that matches. */
function feedUntil(model: SessionsModel, from: number, match: (e: DevspacesEvent) => boolean): number {
  for (let i = from; i < events.length; i++) {
    const e = events[i] as DevspacesEvent;
    model.applyNotification(e.method, e.params);
    if (match(e)) return i + 1;
  }
  throw new Error("the recording has no such event");
}

const params = (e: DevspacesEvent) => e.params as Record<string, unknown>;

describe("a python-web session recorded from devspacesd up --json", () => {
  it("goes through the phases the status bar shows", () => {
    const model = new SessionsModel(50);
    const seen: string[] = [];
    for (const e of events) {
      model.applyNotification(e.method, e.params);
      const text = statusBarView(model, undefined).text;
      if (seen.at(-1) !== text) seen.push(text);
    }
    assert.deepEqual(seen, [
      "$(cloud-upload) python-web: deploying",
      "$(sync~spin) python-web: syncing",
      "$(loading~spin) python-web: starting",
      "$(tools) python-web: building",
      "$(loading~spin) python-web: starting",
      "$(pass) python-web: running",
      "$(cloud) Dev Spaces",
    ]);
  });

  it("shows the port forward, the static sync and the traces in the tree, and clears on stop", () => {
    const model = new SessionsModel(50);
    let at = feedUntil(model, 0, (e) => e.method === "devspaces/serviceStatus" && params(e).phase === "running");
    const running = buildTree(model)[0];
    assert.ok(running);
    const url = (running.children.find((c) => c.context === "portForward"))?.url;
    assert.equal(url, "http://localhost:8080");

    at = feedUntil(model, at, (e) => e.method === "devspaces/synced");
    at = feedUntil(model, at, (e) => e.method === "devspaces/trace");
    const after = buildTree(model)[0];
    assert.ok(after);
    const lines = brief(after).map((l) => l.replace(/→ \d+/, "→ PORT").replace(/\d+ ms/g, "N ms"));
    assert.deepEqual(lines, [
      "python-web | running",
      "  http://localhost:8080 | → PORT",
      "  synced static/index.html | static-sync · N ms",
      "  Recent requests | 2",
      "    GET / | 200 · N ms",
      "    GET / | 200 · N ms",
    ]);

    feedUntil(model, at, (e) => e.method === "devspaces/serviceStatus" && params(e).phase === "stopped");
    assert.deepEqual(buildTree(model), []);
  });

  it("writes the app's, the build's and devspaces' lines to the output channel", () => {
    const out = events.flatMap((e) => {
      if (e.method === "devspaces/log") return [formatLog(e.params as LogParams)];
      if (e.method === "devspaces/synced") return [formatSynced(e.params as never)];
      return [];
    });
    assert.ok(out.some((l) => /^python-web \S+ listening on :\d+$/.test(l)), out.join("\n"));
    assert.ok(out.includes("[build] $ python3 -m py_compile app.py version.py"));
    assert.ok(out.some((l) => l.startsWith("[devspaces] started 'python3 app.py'")));
    assert.ok(out.some((l) => /^\[devspaces\] synced static-sync: static\/index\.html \(\d+ ms\)$/.test(l)));
  });
});
