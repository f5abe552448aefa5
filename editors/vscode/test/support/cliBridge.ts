// A stop-gap `--stdio` server that runs `devspacesd up --json` per session and relays its events, to try the end-to-end test before the daemon serves --stdio itself.

import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import * as readline from "node:readline";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import type { DevspacesEvent, SessionInfo, UpParams } from "../../src/protocol";

const binary = process.env.DEVSPACESD_CLI ?? "";
if (!binary) {
  process.stderr.write("cliBridge: set DEVSPACESD_CLI to the devspacesd binary\n");
  process.exit(2);
}

const connection = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
const running = new Map<string, { child: ChildProcess; info: SessionInfo }>();

connection.onRequest("initialize", () => ({
  serverInfo: { name: "devspacesd-cli-bridge", version: "0.0.0" },
  capabilities: { experimental: { devspaces: { protocolVersion: 1 } } },
}));
connection.onNotification("initialized", () => undefined);
connection.onRequest("shutdown", () => {
  for (const { child } of running.values()) child.kill("SIGINT");
  return null;
});
connection.onNotification("exit", () => process.exit(0));
connection.onRequest("devspaces/status", () => ({ sessions: [...running.values()].map((r) => r.info) }));
connection.onRequest("devspaces/watch", () => ({ sessions: [] }));

connection.onRequest("devspaces/up", (p: UpParams) =>
  new Promise<SessionInfo & { attached: boolean }>((resolve, reject) => {
    const args = ["up", p.path, "--json", "--backend", p.backend ?? "local"];
    if (p.space) args.push("--space", p.space);
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "inherit"] });
    let info: SessionInfo | undefined;
    child.on("error", reject);
    child.on("exit", (code) => {
      if (!info) reject(new Error(`devspacesd up exited with ${String(code)} before its first event`));
    });
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const e = JSON.parse(line) as DevspacesEvent;
      const params = e.params as { session?: string; service?: string };
      if (!info && params.session) {
        info = {
          session: params.session,
          service: params.service ?? path.basename(p.path),
          path: p.path,
          space: p.space ?? "default",
          backend: p.backend ?? "local",
          phase: "deploying",
          detail: "",
          tag: `${params.session}-1`,
          portForwards: [],
          watchers: 1,
          startedAt: new Date().toISOString(),
        };
        running.set(info.session, { child, info });
        resolve({ ...info, attached: false });
      }
      void connection.sendNotification(e.method, e.params);
    });
  }),
);

connection.onRequest("devspaces/down", (p: { session: string }) => {
  const r = running.get(p.session);
  if (!r) return Promise.reject(new Error(`unknown session '${p.session}'`));
  running.delete(p.session);
  return new Promise((resolve) => {
    r.child.on("exit", () => { resolve({ outcome: "stopped", service: r.info.service, session: r.info.session }); });
    r.child.kill("SIGINT");
  });
});

connection.listen();
