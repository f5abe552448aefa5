// A scripted stand-in for `devspacesd --stdio` that answers from the golden JSON, so the client wiring is tested without the real daemon.

import * as fs from "node:fs";
import * as path from "node:path";
import { createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import type {
  DebugParams,
  DebugReadyParams,
  DevspacesEvent,
  SessionInfo,
  StatusResult,
  UpManyResult,
  UpOutcome,
  UpParams,
  UpResult,
} from "../../src/protocol";
import { golden } from "./golden";

if (process.env.FAKE_DAEMON_PIDFILE) fs.appendFileSync(process.env.FAKE_DAEMON_PIDFILE, `${String(process.pid)}\n`);

const connection = createMessageConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
const sessions = new Map<string, SessionInfo>();
/** Sessions whose app runs under its debug server: how many restarts under the debugger so far. */
const debugging = new Map<string, number>();
let counter = 0;

/** Rewrites a golden event to name this session and service, and its forward to bind `port` when given. */
function retarget(e: DevspacesEvent, s: SessionInfo, port?: number): DevspacesEvent {
  const params = { ...(e.params as Record<string, unknown>) };
  if ("session" in params) {
    params.session = s.session;
    params.service = s.service;
  }
  if (port !== undefined && "localPort" in params) {
    params.localPort = port;
    params.url = `http://localhost:${String(port)}`;
  }
  return { method: e.method, params };
}

/** FAKE_PROTOCOL_VERSION plays a daemon of another protocol version. */
function withVersion(experimental: { devspaces: { protocolVersion: number } }): unknown {
  const v = process.env.FAKE_PROTOCOL_VERSION;
  if (v) experimental.devspaces.protocolVersion = Number(v);
  return experimental;
}

/** FAKE_DAEMON_REQUESTS: each up, down and restart received, one JSON line each, for the tests to count. */
function logRequest(method: string, params: unknown): void {
  if (process.env.FAKE_DAEMON_REQUESTS) fs.appendFileSync(process.env.FAKE_DAEMON_REQUESTS, `${JSON.stringify({ method, params })}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function play(s: SessionInfo, port?: number): Promise<void> {
  const token = `devspaces/${s.session}/sync/1`;
  await connection.sendRequest("window/workDoneProgress/create", { token });
  await connection.sendNotification("$/progress", { token, value: { kind: "begin", title: `${s.service}: sync`, message: "0/2 files", percentage: 0 } });
  await connection.sendNotification("$/progress", { token, value: { kind: "end", message: "2 files in 3 ms" } });
  await sleep(20);
  // events.json: log, trace, portForward, serviceStatus running, synced, logsDropped, debugReady, showMessage.
  for (const e of golden<DevspacesEvent[]>("events.json")) {
    // debugReady only comes, as from the daemon, when the app runs under its debug server.
    if (e.method === "devspaces/debugReady") {
      if (debugging.has(s.session)) await sendDebugReady(s);
      continue;
    }
    await connection.sendNotification(e.method, retarget(e, s, port).params);
  }
}

/** The golden debugReady for a session under the debugger: its folder mapped to a copy under the state folder, this restart's count. */
async function sendDebugReady(s: SessionInfo): Promise<void> {
  const ready: DebugReadyParams = {
    ...golden<DebugReadyParams>("debug-ready.params.json"),
    service: s.service,
    session: s.session,
    pathMappings: [{ localRoot: s.path, remoteRoot: `/fake-state/spaces/${s.space}/${s.service}/fs/app` }],
    restarts: debugging.get(s.session) ?? 0,
  };
  await connection.sendNotification("devspaces/debugReady", ready);
}

/** The app restarts (under the debugger when it is debugged): restarting, running, then a new debugReady. */
async function restartApp(s: SessionInfo, debugged: boolean): Promise<void> {
  await connection.sendNotification("devspaces/serviceStatus", { service: s.service, session: s.session, phase: "restarting", detail: "" });
  await sleep(10);
  await connection.sendNotification("devspaces/serviceStatus", { service: s.service, session: s.session, phase: "running", detail: "pid 4243" });
  if (debugged) await sendDebugReady(s);
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

function startSession(p: UpParams, dir: string): SessionInfo {
  counter++;
  const id = `fake${String(process.pid)}x${String(counter)}`;
  if (p.debug) debugging.set(id, 0);
  const s: SessionInfo = {
    ...golden<SessionInfo>("up.result.json"),
    session: id,
    service: path.basename(dir),
    path: dir,
    space: p.space ?? "default",
    backend: p.backend ?? "local",
    phase: "syncing",
    detail: "",
    portForwards: [],
  };
  sessions.set(s.session, s);
  return s;
}

/** The service folders below `dir` (hidden folders and node_modules skipped), as the daemon finds them. */
function servicesBelow(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith(".") || e.name === "node_modules") continue;
    const sub = path.join(dir, e.name);
    if (fs.existsSync(path.join(sub, "azds.yaml"))) out.push(sub);
    else out.push(...servicesBelow(sub));
  }
  return out.sort();
}

function up(p: UpParams): UpResult | UpManyResult | ResponseError {
  if (process.env.FAKE_DAEMON_UPFILE) fs.appendFileSync(process.env.FAKE_DAEMON_UPFILE, `${JSON.stringify(p)}\n`);
  logRequest("devspaces/up", p);
  const single = fs.existsSync(path.join(p.path, "azds.yaml")) && (p.paths ?? []).length === 0;
  if (single) {
    const s = startSession(p, p.path);
    setTimeout(() => void play(s), 10);
    return { ...s, attached: false };
  }
  const dirs = [p.path, ...(p.paths ?? [])].flatMap((d) => (fs.existsSync(path.join(d, "azds.yaml")) ? [d] : servicesBelow(d)));
  if (dirs.length === 0) {
    return new ResponseError(-32901, `'${p.path}' is not a service folder: no azds.yaml in ${p.path} or any folder below it (write one with \`devspacesd prep\`)`);
  }
  // Each service's port as the daemon would give it: stable, one per name.
  const services = dirs.map((dir, i): UpOutcome => {
    const name = path.basename(dir).toLowerCase();
    const port = 41000 + i;
    // A typo the daemon's configuration check reports, as in the golden up-many result.
    if (fs.readFileSync(path.join(dir, "azds.yaml"), "utf8").includes("instal:")) {
      return { path: dir, name, port, attached: false, error: { code: -32902, message: `${name}: azds.yaml:3:1: unknown key 'instal' (did you mean 'install'?)` } };
    }
    const s = startSession(p, dir);
    setTimeout(() => void play(s, port), 10);
    return { path: dir, name, port, attached: false, session: s };
  });
  return { services };
}

connection.onRequest("devspaces/up", (p: UpParams): unknown => up(p));

connection.onRequest("devspaces/down", async (p: { session: string }) => {
  logRequest("devspaces/down", p);
  const s = sessions.get(p.session);
  if (!s) return Promise.reject(new Error(`unknown session '${p.session}'`));
  sessions.delete(p.session);
  await connection.sendNotification("devspaces/serviceStatus", { service: s.service, session: s.session, phase: "stopped", detail: "down" });
  return { outcome: "stopped", service: s.service, session: s.session };
});

connection.onRequest("devspaces/restart", (p: { session: string; kind?: "process" | "redeploy" }) => {
  logRequest("devspaces/restart", p);
  const s = sessions.get(p.session);
  if (!s) return Promise.reject(new Error(`unknown session '${p.session}'`));
  const restarts = debugging.get(s.session);
  if (restarts !== undefined) debugging.set(s.session, restarts + 1);
  setTimeout(() => void restartApp(s, restarts !== undefined), 10);
  return Promise.resolve({ kind: p.kind ?? "process", phase: "restarting", service: s.service, session: s.session });
});

/** devspaces/debug: the app restarts under its debug server (or without it) and, debugged, a debugReady follows. */
connection.onRequest("devspaces/debug", (p: DebugParams) => {
  logRequest("devspaces/debug", p);
  const s = p.session ? sessions.get(p.session) : undefined;
  if (!s) return Promise.reject(new ResponseError(-32900, `unknown session '${String(p.session)}'`));
  const enable = p.enable ?? true;
  if (enable) debugging.set(s.session, debugging.has(s.session) ? (debugging.get(s.session) ?? 0) + 1 : 0);
  else debugging.delete(s.session);
  setTimeout(() => void restartApp(s, enable), 10);
  return Promise.resolve({ debug: enable, service: s.service, session: s.session });
});

connection.onRequest("devspaces/classify", (p: { path: string; paths: string[] }) => ({
  batch: "static-sync",
  service: path.basename(p.path),
  results: p.paths.map((x) => ({ path: x, class: "static-sync", rule: "3: sync static/**, static" })),
}));

connection.listen();
