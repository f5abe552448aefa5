// A scripted stand-in for `devspacesd --stdio` that answers from the golden JSON, so the client wiring is tested without the real daemon.

import * as fs from "node:fs";
import * as path from "node:path";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import type { DevspacesEvent, SessionInfo, StatusResult, UpParams } from "../../src/protocol";
import { golden } from "./golden";

if (process.env.FAKE_DAEMON_PIDFILE) fs.appendFileSync(process.env.FAKE_DAEMON_PIDFILE, `${String(process.pid)}\n`);

const connection = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
const sessions = new Map<string, SessionInfo>();
let counter = 0;

/** Rewrites a golden event to name this session and service. */
function retarget(e: DevspacesEvent, s: SessionInfo): DevspacesEvent {
  const params = { ...(e.params as Record<string, unknown>) };
  if ("session" in params) {
    params.session = s.session;
    params.service = s.service;
  }
  return { method: e.method, params };
}

/** FAKE_PROTOCOL_VERSION plays a daemon of another protocol version. */
function withVersion(experimental: { devspaces: { protocolVersion: number } }): unknown {
  const v = process.env.FAKE_PROTOCOL_VERSION;
  if (v) experimental.devspaces.protocolVersion = Number(v);
  return experimental;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function play(s: SessionInfo): Promise<void> {
  const token = `devspaces/${s.session}/sync/1`;
  await connection.sendRequest("window/workDoneProgress/create", { token });
  await connection.sendNotification("$/progress", { token, value: { kind: "begin", title: `${s.service}: sync`, message: "0/2 files", percentage: 0 } });
  await connection.sendNotification("$/progress", { token, value: { kind: "end", message: "2 files in 3 ms" } });
  await sleep(20);
  // events.json: log, trace, portForward, serviceStatus running, synced, logsDropped, showMessage.
  for (const e of golden<DevspacesEvent[]>("events.json")) {
    await connection.sendNotification(e.method, retarget(e, s).params);
  }
}

connection.onRequest("initialize", () => ({
  serverInfo: { name: "devspacesd", version: "0.1.0-fake" },
  capabilities: {
    textDocumentSync: { openClose: true, change: 1, save: { includeText: false } },
    experimental: withVersion(golden("initialize.experimental.json")),
  },
}));
connection.onNotification("initialized", () => undefined);
connection.onRequest("shutdown", () => null);
connection.onNotification("exit", () => process.exit(0));

/** azds.yaml diagnostics as docs/protocol.md shows them: an unknown key with a did-you-mean, else none. */
connection.onNotification("textDocument/didOpen", (p: { textDocument: { uri: string; text: string } }) => {
  const lines = p.textDocument.text.split("\n");
  const diagnostics = lines.flatMap((line, i) => {
    const at = line.indexOf("comand:");
    return at < 0
      ? []
      : [
          {
            range: { start: { line: i, character: at }, end: { line: i, character: at + 6 } },
            severity: 2,
            source: "devspaces",
            message: "unknown key 'comand' in configurations.develop.container (did you mean 'command'?)",
          },
        ];
  });
  void connection.sendNotification("textDocument/publishDiagnostics", { uri: p.textDocument.uri, diagnostics });
});

connection.onRequest("devspaces/status", (): StatusResult => ({
  ...golden<StatusResult>("status.result.empty.json"),
  sessions: [...sessions.values()],
}));
connection.onRequest("devspaces/watch", () => ({ sessions: [...sessions.values()] }));

connection.onRequest("devspaces/up", (p: UpParams) => {
  if (process.env.FAKE_DAEMON_UPFILE) fs.appendFileSync(process.env.FAKE_DAEMON_UPFILE, `${JSON.stringify(p)}\n`);
  counter++;
  const s: SessionInfo = {
    ...golden<SessionInfo>("up.result.json"),
    session: `fake${String(process.pid)}x${String(counter)}`,
    service: path.basename(p.path),
    path: p.path,
    space: p.space ?? "default",
    backend: p.backend ?? "local",
    phase: "syncing",
    detail: "",
    portForwards: [],
  };
  sessions.set(s.session, s);
  setTimeout(() => void play(s), 10);
  return { ...s, attached: false };
});

connection.onRequest("devspaces/down", async (p: { session: string }) => {
  const s = sessions.get(p.session);
  if (!s) return Promise.reject(new Error(`unknown session '${p.session}'`));
  sessions.delete(p.session);
  await connection.sendNotification("devspaces/serviceStatus", { service: s.service, session: s.session, phase: "stopped", detail: "down" });
  return { outcome: "stopped", service: s.service, session: s.session };
});

connection.onRequest("devspaces/classify", (p: { path: string; paths: string[] }) => ({
  batch: "static-sync",
  service: path.basename(p.path),
  results: p.paths.map((x) => ({ path: x, class: "static-sync", rule: "3: sync static/**, static" })),
}));

connection.listen();
