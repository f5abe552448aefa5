// Checks package.json and the packaged .vsix against what activate() registers: commands, views, settings, menus.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { CommandIds, ServicesViewId, SettingDefaults, Settings, ViewContainerId } from "../../src/contributions";
import { activateBundled, type Activated } from "../support/harness";
import { extensionRoot } from "../support/golden";
import { recorded, setSetting } from "../support/vscode-stub";
import { listZip, readZipEntry } from "../support/zip";

interface Manifest {
  name: string;
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  devDependencies: Record<string, string>;
  contributes: {
    commands: { command: string; title: string; category: string }[];
    viewsContainers: { activitybar: { id: string }[] };
    views: Record<string, { id: string }[]>;
    menus: Record<string, { command: string; when?: string }[]>;
    configuration: { properties: Record<string, { default: unknown }> };
  };
}

const root = extensionRoot();
const source = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as Manifest;
const vsixPath = path.join(root, "out", "devspaces.vsix");

describe("the packaged .vsix", () => {
  it("exists and carries the bundle, not the sources or node_modules", () => {
    assert.ok(fs.existsSync(vsixPath), `${vsixPath} is missing; 'npm run package' makes it`);
    const names = listZip(fs.readFileSync(vsixPath));
    assert.ok(names.includes("extension/dist/extension.js"), names.join(", "));
    assert.ok(names.includes("extension/package.json"));
    assert.ok(names.includes("extension.vsixmanifest"));
    assert.deepEqual(names.filter((n) => /node_modules|\/src\/|\/test\/|\.ts$/.test(n)), []);
  });

  it("declares the same contributions, activation events and entry point as package.json", () => {
    const packed = JSON.parse(readZipEntry(fs.readFileSync(vsixPath), "extension/package.json").toString("utf8")) as Manifest;
    assert.deepEqual(packed.contributes, source.contributes);
    assert.deepEqual(packed.activationEvents, source.activationEvents);
    assert.equal(packed.main, "./dist/extension.js");
    assert.equal(packed.engines.vscode, source.engines.vscode);
  });

  it("pins @types/vscode to the declared engine", () => {
    assert.equal(`^${source.devDependencies["@types/vscode"] ?? ""}`, source.engines.vscode);
  });
});

describe("package.json against what activate registers", () => {
  let activated: Activated;

  before(() => {
    // No daemon: activation must still register everything and say how to install devspacesd.
    setSetting("devspaces.daemonPath", path.join(root, "no-such-devspacesd"));
    activated = activateBundled();
  });
  after(async () => {
    await activated.close();
  });

  it("registers exactly the contributed commands", () => {
    const declared = source.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual([...recorded.commands.keys()].sort(), declared);
    assert.deepEqual(Object.values(CommandIds).sort(), declared);
    for (const c of source.contributes.commands) assert.equal(c.category, "Dev Spaces");
  });

  it("activates on azds.yaml and on each command", () => {
    assert.ok(source.activationEvents.includes("workspaceContains:**/azds.yaml"));
    for (const id of Object.values(CommandIds)) assert.ok(source.activationEvents.includes(`onCommand:${id}`), id);
  });

  it("creates the contributed view in its container", () => {
    assert.deepEqual([...recorded.trees.keys()], [ServicesViewId]);
    assert.deepEqual(source.contributes.views[ViewContainerId]?.map((v) => v.id), [ServicesViewId]);
    assert.deepEqual(source.contributes.viewsContainers.activitybar.map((c) => c.id), [ViewContainerId]);
  });

  it("declares every setting the code reads, with the same defaults", () => {
    const props = source.contributes.configuration.properties;
    assert.deepEqual(Object.keys(props).sort(), Object.values(Settings).map((s) => `devspaces.${s}`).sort());
    for (const [key, value] of Object.entries(SettingDefaults)) assert.deepEqual(props[`devspaces.${key}`]?.default, value, key);
  });

  it("menus name only declared commands", () => {
    const declared = new Set(source.contributes.commands.map((c) => c.command));
    for (const [menu, items] of Object.entries(source.contributes.menus)) {
      for (const item of items) assert.ok(declared.has(item.command), `${menu}: ${item.command}`);
    }
  });

  it("shows a status bar item and says how to install a missing daemon", async () => {
    assert.equal(recorded.statusBarItems[0]?.text, "$(cloud) Dev Spaces");
    await new Promise((r) => setTimeout(r, 50));
    const error = recorded.messages.find((m) => m.level === "error");
    assert.match(error?.text ?? "", /not an executable file.*cargo install --path daemon/);
  });
});
