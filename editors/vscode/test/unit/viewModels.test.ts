// Unit tests of the view models (sessions, tree, status bar, trace list, log lines) fed with the protocol's golden notifications.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { channelName, formatDebugReady, formatLog, formatLogsDropped, formatSynced } from "../../src/model/logs";
import { SessionsModel, type ModelChange } from "../../src/model/sessions";
import { statusBarView } from "../../src/model/statusBar";
import { formatTrace, TraceList } from "../../src/model/traceList";
import { buildTree, type TreeNode } from "../../src/model/tree";
import { CommandIds } from "../../src/contributions";
import type {
  DebugReadyParams,
  DevspacesEvent,
  LogParams,
  LogsDroppedParams,
  Phase,
  ServiceStatusParams,
  SessionInfo,
  StatusResult,
  SyncedParams,
  TraceParams,
  UpManyResult,
  UpResult,
} from "../../src/protocol";
import { golden } from "../support/golden";

const feed = (model: SessionsModel, events: DevspacesEvent[]) => {
  for (const e of events) model.applyNotification(e.method, e.params);
};

const trace = (i: number, session = "7f3a9c2e"): TraceParams => ({
  ...golden<TraceParams>("trace.params.json"),
  session,
  path: `/r/${String(i)}`,
  durationMs: i,
});

describe("SessionsModel from events.json", () => {
  it("keeps one service with its port forward, trace, phase and last sync", () => {
    const model = new SessionsModel(50);
    const changes: ModelChange["kind"][] = [];
    model.onDidChange((c) => changes.push(c.kind));
    feed(model, golden<DevspacesEvent[]>("events.json"));
    const [s, ...rest] = model.list();
    assert.equal(rest.length, 0);
    assert.ok(s);
    assert.equal(s.service, "webfrontend");
    assert.equal(s.phase, "running");
    assert.equal(s.detail, "pid 4242");
    assert.deepEqual([...s.portForwards.values()], [
      { localPort: 3000, remotePort: 80, url: "http://localhost:3000", state: "open" },
    ]);
    assert.equal(s.traces.size, 1);
    assert.equal(s.lastSynced?.class, "static-sync");
    assert.ok(changes.includes("log") && changes.includes("logsDropped") && changes.includes("synced"));
  });

  it("keeps the latest debugReady of a session and tells the listeners", () => {
    const model = new SessionsModel(50);
    const seen: number[] = [];
    model.onDidChange((c) => {
      if (c.kind === "debugReady") seen.push(c.params.restarts);
    });
    feed(model, golden<DevspacesEvent[]>("events.json"));
    const ready = golden<DebugReadyParams>("debug-ready.params.json");
    assert.deepEqual(model.get("7f3a9c2e")?.debugReady, ready);
    assert.equal(model.applyNotification("devspaces/debugReady", { ...ready, restarts: 3 }), true);
    assert.equal(model.get("7f3a9c2e")?.debugReady?.restarts, 3);
    assert.deepEqual(seen, [2, 3]);
  });

  it("ignores window/showMessage and unknown methods", () => {
    const model = new SessionsModel(50);
    assert.equal(model.applyNotification("window/showMessage", golden("show-message.params.json")), false);
    assert.equal(model.applyNotification("devspaces/somethingNew", {}), false);
    assert.equal(model.list().length, 0);
  });

  it("takes a session from an up result, then a crash from serviceStatus", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    model.applyNotification("devspaces/serviceStatus", golden<ServiceStatusParams>("service-status.params.json"));
    const s = model.get("7f3a9c2e");
    assert.equal(s?.phase, "crashed");
    assert.equal(s?.exitCode, 1);
    assert.deepEqual(s?.lastLines, ["TypeError: x is not a function", "    at server.js:12:5"]);
    assert.equal(model.byPath("/home/ana/src/samples/nodejs/webfrontend")?.session, "7f3a9c2e");
  });

  it("drops a stopped session and does not bring it back on late events", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    model.applyNotification("devspaces/serviceStatus", { ...golden<ServiceStatusParams>("service-status.running.params.json"), phase: "stopped" });
    assert.equal(model.list().length, 0);
    model.applyNotification("devspaces/trace", golden("trace.params.json"));
    model.applyNotification("devspaces/portForward", golden("port-forward.params.json"));
    assert.equal(model.list().length, 0);
  });

  it("removes a session after down and resets to the status result", () => {
    const model = new SessionsModel(50);
    feed(model, golden<DevspacesEvent[]>("events.json"));
    model.removeSession("7f3a9c2e");
    assert.equal(model.list().length, 0);
    model.reset(golden<StatusResult>("status.result.json").sessions);
    assert.equal(model.list().length, 1);
    model.reset(golden<StatusResult>("status.result.empty.json").sessions);
    assert.equal(model.list().length, 0);
  });

  it("updates a port forward in place by local port", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    model.applyNotification("devspaces/portForward", { ...golden<object>("port-forward.params.json"), state: "reconnecting" });
    const forwards = [...(model.get("7f3a9c2e")?.portForwards.values() ?? [])];
    assert.equal(forwards.length, 1);
    assert.equal(forwards[0]?.state, "reconnecting");
  });
});

describe("SessionsModel from up results", () => {
  it("takes each started service of up-many.result.json and names each one that did not start", () => {
    const model = new SessionsModel(50);
    const applied = model.applyUp(golden<UpManyResult>("up-many.result.json"));
    assert.deepEqual(applied.sessions.map((s) => [s.service, s.phase, s.path]), [
      ["webfrontend", "running", "/home/ana/src/samples/nodejs/webfrontend"],
    ]);
    // The daemon's message already starts with the service's name: it is not named twice.
    assert.deepEqual(applied.failures, ["api: azds.yaml:3:7: unknown key 'instal' (did you mean 'install'?)"]);
    assert.deepEqual(model.list().map((s) => s.service), ["webfrontend"]);
  });

  it("names a failed service whose message does not", () => {
    const model = new SessionsModel(50);
    const applied = model.applyUp({
      services: [{ path: "/app/api", name: "api", port: 41234, attached: false, error: { code: -32903, message: "no container engine answers" } }],
    });
    assert.deepEqual(applied.failures, ["api: no container engine answers"]);
    assert.deepEqual(applied.sessions, []);
  });

  it("takes a single service's up result as before", () => {
    const model = new SessionsModel(50);
    const applied = model.applyUp(golden<UpResult>("up.result.json"));
    assert.deepEqual(applied.sessions.map((s) => [s.service, s.phase]), [["webfrontend", "running"]]);
    assert.deepEqual(applied.failures, []);
  });

  it("keeps what notifications said before the answer arrived (they are newer than the answer's session)", () => {
    const model = new SessionsModel(50);
    // The daemon read the session (syncing, no forward yet), then the app came up and its events
    // were sent before the answer.
    model.applyNotification("devspaces/portForward", golden("port-forward.params.json"));
    model.applyNotification("devspaces/serviceStatus", golden("service-status.running.params.json"));
    const stale = { ...golden<UpResult>("up.result.json"), phase: "syncing" as const, detail: "", portForwards: [] };
    model.applyUp({ services: [{ path: stale.path, name: "webfrontend", port: 3000, attached: false, session: stale }] });
    const s = model.get("7f3a9c2e");
    assert.equal(s?.phase, "running");
    assert.equal(s?.path, "/home/ana/src/samples/nodejs/webfrontend");
    assert.equal(s?.space, "dev/ana");
    assert.deepEqual([...(s?.portForwards.keys() ?? [])], [3000]);
  });
});

describe("TraceList", () => {
  it("keeps the newest traces first and at most its capacity", () => {
    const list = new TraceList(3);
    for (let i = 1; i <= 5; i++) list.add(trace(i));
    assert.deepEqual(list.all().map((t) => t.path), ["/r/5", "/r/4", "/r/3"]);
    list.resize(1);
    assert.deepEqual(list.all().map((t) => t.path), ["/r/5"]);
    list.resize(0);
    list.add(trace(6));
    assert.equal(list.size, 0);
  });

  it("renders method, path, status and milliseconds", () => {
    const t = golden<TraceParams>("trace.params.json");
    assert.equal(formatTrace(t), "GET /api/greeting?name=ana 200 4 ms · trace 4bf92f35");
    const list = new TraceList(5);
    list.add(t);
    assert.deepEqual(list.rows().map(({ label, description }) => ({ label, description })), [
      { label: "GET /api/greeting?name=ana", description: "200 · 4 ms · trace 4bf92f35" },
    ]);
    // A routing proxy's trace names its caller and the space that served it.
    const routed = golden<TraceParams>("trace.routed.params.json");
    assert.equal(formatTrace(routed), "GET /items 200 1 ms · from api, served by dev/alice · trace 4bf92f35");
  });

  it("follows the traceHistorySize setting through the model", () => {
    const model = new SessionsModel(2);
    for (let i = 1; i <= 4; i++) model.applyNotification("devspaces/trace", trace(i));
    assert.equal(model.get("7f3a9c2e")?.traces.size, 2);
    model.setTraceHistorySize(1);
    assert.equal(model.get("7f3a9c2e")?.traces.size, 1);
  });
});

describe("tree", () => {
  const strip = (n: TreeNode): unknown => ({
    label: n.label,
    description: n.description,
    icon: n.icon,
    context: n.context,
    ...(n.url ? { url: n.url } : {}),
    ...(n.command ? { command: n.command } : {}),
    ...(n.children.length ? { children: n.children.map(strip) } : {}),
  });

  it("shows services, port forwards, the debugger, the last sync and recent traces from events.json", () => {
    const model = new SessionsModel(50);
    feed(model, golden<DevspacesEvent[]>("events.json"));
    model.applySession({ ...golden<SessionInfo>("up.result.json"), phase: "running" });
    assert.deepEqual(buildTree(model).map(strip), [
      {
        label: "webfrontend",
        description: "running · dev/ana",
        icon: "pass",
        context: "service",
        children: [
          {
            label: "http://localhost:3000",
            description: "→ 80",
            icon: "link-external",
            context: "portForward",
            url: "http://localhost:3000",
            command: { command: CommandIds.openInBrowser, title: "Open in Browser", arguments: ["http://localhost:3000"] },
          },
          { label: "debugger 127.0.0.1:5678", description: "python · → 41873", icon: "debug-alt", context: "debug" },
          { label: "synced 2 files", description: "static-sync · 12 ms", icon: "cloud-upload", context: "synced" },
          {
            label: "Recent requests",
            description: "1",
            icon: "history",
            context: "traces",
            children: [
              {
                label: "GET /api/greeting?name=ana",
                description: "200 · 4 ms · trace 4bf92f35",
                icon: "arrow-swap",
                context: "trace",
                url: "http://localhost:3000/api/greeting?name=ana",
              },
            ],
          },
        ],
      },
    ]);
  });

  it("shows every phase with its own icon and a crash's last lines in the tooltip", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    const icons = new Set<string | undefined>();
    for (const phase of golden<Phase[]>("phase.json").filter((p) => p !== "stopped")) {
      model.applyNotification("devspaces/serviceStatus", { service: "webfrontend", session: "7f3a9c2e", phase, detail: "" });
      const node = buildTree(model)[0];
      assert.equal(node?.description, `${phase} · dev/ana`);
      icons.add(node?.icon);
    }
    assert.ok(icons.size >= 6, `phase icons: ${[...icons].join(", ")}`);
    model.applyNotification("devspaces/serviceStatus", golden("service-status.params.json"));
    const tooltip = buildTree(model)[0]?.tooltip ?? "";
    assert.match(tooltip, /crashed \(node server\.js exited\)/);
    assert.match(tooltip, /exit code 1/);
    assert.match(tooltip, /TypeError: x is not a function/);
  });

  it("marks a forward that is not open", () => {
    const model = new SessionsModel(50);
    model.applyNotification("devspaces/portForward", { ...golden<object>("port-forward.params.json"), state: "closed" });
    const pf = buildTree(model)[0]?.children[0];
    assert.equal(pf?.description, "→ 80 (closed)");
    assert.equal(pf?.icon, "debug-disconnect");
  });

  it("is empty with no session", () => {
    assert.deepEqual(buildTree(new SessionsModel(50)), []);
  });
});

describe("status bar", () => {
  it("says nothing is up, with the space", () => {
    const v = statusBarView(new SessionsModel(50), "dev");
    assert.equal(v.text, "$(cloud) Dev Spaces");
    assert.match(v.tooltip, /\(dev\)/);
    assert.equal(v.error, false);
  });

  it("shows the phase of one service as notifications arrive", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    const seen: string[] = [];
    for (const phase of ["syncing", "building", "restarting", "running", "failed"] as const) {
      model.applyNotification("devspaces/serviceStatus", { service: "webfrontend", session: "7f3a9c2e", phase, detail: "" });
      seen.push(statusBarView(model, undefined).text);
    }
    assert.deepEqual(seen, [
      "$(sync~spin) webfrontend: syncing",
      "$(tools) webfrontend: building",
      "$(debug-restart) webfrontend: restarting",
      "$(pass) webfrontend: running",
      "$(error) webfrontend: failed",
    ]);
    assert.equal(statusBarView(model, undefined).error, true);
  });

  it("summarises several services, naming the one that needs attention", () => {
    const model = new SessionsModel(50);
    model.applySession(golden<SessionInfo>("up.result.json"));
    model.applySession({ ...golden<SessionInfo>("up.result.json"), session: "b2", service: "mywebapi" });
    assert.equal(statusBarView(model, undefined).text, "$(pass) 2 services running");
    model.applyNotification("devspaces/serviceStatus", { ...golden<ServiceStatusParams>("service-status.params.json"), session: "b2", service: "mywebapi" });
    const v = statusBarView(model, undefined);
    assert.equal(v.text, "$(error) 2 services: mywebapi crashed");
    assert.match(v.tooltip, /webfrontend: running \(pid 4242\)\nmywebapi: crashed \(node server\.js exited\)/);
  });
});

describe("log lines", () => {
  it("prints app output as it is and marks the other streams", () => {
    const base = golden<LogParams>("log.params.json");
    assert.equal(channelName("webfrontend"), "Dev Spaces: webfrontend");
    assert.deepEqual(
      golden<LogParams["stream"][]>("log-stream.json").map((stream) => formatLog({ ...base, stream })),
      ["Listening on port 80", "[stderr] Listening on port 80", "[build] Listening on port 80", "[devspaces] Listening on port 80"],
    );
    assert.equal(formatLogsDropped(golden<LogsDroppedParams>("logs-dropped.params.json")), "[devspaces] 1832 log lines dropped (the editor could not keep up)");
    assert.equal(formatSynced(golden<SyncedParams>("synced.params.json")), "[devspaces] synced static-sync: public/index.html, public/site.css (12 ms)");
    assert.equal(
      formatDebugReady(golden<DebugReadyParams>("debug-ready.params.json")),
      "[devspaces] debugger (python) ready on 127.0.0.1:5678; path mapping /home/ana/src/samples/nodejs/webfrontend -> " +
        "/home/ana/.local/state/devspaces/spaces/default/webfrontend/fs/app (restart 2)",
    );
  });
});
