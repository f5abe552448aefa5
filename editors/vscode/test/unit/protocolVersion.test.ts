// A daemon speaking another protocol version is refused with a message that says which to update.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { activateBundled, nodeScriptExecutable, waitFor, type Activated } from "../support/harness";
import { recorded, setSetting, Uri } from "../support/vscode-stub";

describe("protocol version", () => {
  let activated: Activated | undefined;
  after(async () => {
    await activated?.close();
  });

  it("refuses a daemon of another version, on activation and on a command", async () => {
    const script = path.join(__dirname, "..", "support", "fakeDaemon.js");
    setSetting("devspaces.daemonPath", nodeScriptExecutable(script, { FAKE_PROTOCOL_VERSION: "2" }));
    activated = activateBundled();
    const expected = "devspacesd speaks protocol version 2 and this extension version 1; update the one that is older";
    await waitFor("the refusal", () => recorded.messages.some((m) => m.level === "error" && m.text === expected));
    const service = fs.mkdtempSync(path.join(os.tmpdir(), "devspaces-vscode-v-"));
    fs.writeFileSync(path.join(service, "azds.yaml"), "kind: helm-release\n");
    await recorded.commands.get("devspaces.up")?.(Uri.file(service));
    assert.ok(recorded.messages.some((m) => m.text === `up: ${expected}`), JSON.stringify(recorded.messages));
  });
});
