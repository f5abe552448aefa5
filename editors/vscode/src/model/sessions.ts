// The sessions the daemon reports, kept as it sends them (results and notifications); no vscode import.

import {
  isUpMany,
  Methods,
  type DebugReadyParams,
  type LogParams,
  type LogsDroppedParams,
  type Phase,
  type PortForwardInfo,
  type PortForwardParams,
  type ServiceStatusParams,
  type SessionInfo,
  type SyncedParams,
  type TraceParams,
  type UpManyResult,
  type UpOutcome,
  type UpResult,
} from "../protocol";
import { TraceList } from "./traceList";

export interface ServiceState {
  session: string;
  service: string;
  path?: string;
  space?: string;
  backend?: string;
  phase?: Phase;
  detail?: string;
  exitCode?: number;
  lastLines?: string[];
  /** By local port, in the order first seen. */
  portForwards: Map<number, PortForwardInfo>;
  traces: TraceList;
  lastSynced?: SyncedParams;
  /** The latest `devspaces/debugReady`: where a debugger attaches now. */
  debugReady?: DebugReadyParams;
}

/** What an `up` answered: the sessions it started or attached to, and each service that did not start. */
export interface UpApplied {
  sessions: ServiceState[];
  /** One line per failed service, starting with its name. */
  failures: string[];
}

/** What a notification changed, so the UI can refresh only what it shows. */
export type ModelChange =
  | { kind: "sessions" }
  | { kind: "log"; params: LogParams }
  | { kind: "logsDropped"; params: LogsDroppedParams }
  | { kind: "synced"; params: SyncedParams }
  | { kind: "status"; params: ServiceStatusParams }
  | { kind: "debugReady"; params: DebugReadyParams };

type Listener = (change: ModelChange) => void;

export class SessionsModel {
  private readonly sessions = new Map<string, ServiceState>();
  /** Sessions that stopped: late notifications for them must not bring them back. */
  private readonly ended = new Set<string>();
  private readonly listeners: Listener[] = [];

  constructor(private traceHistorySize: number) {}

  onDidChange(listener: Listener): { dispose(): void } {
    this.listeners.push(listener);
    return {
      dispose: () => {
        const at = this.listeners.indexOf(listener);
        if (at >= 0) this.listeners.splice(at, 1);
      },
    };
  }

  /** Sessions in the order they were first seen. */
  list(): ServiceState[] {
    return [...this.sessions.values()];
  }

  get(session: string): ServiceState | undefined {
    return this.sessions.get(session);
  }

  /** The session of a service folder, if one runs there. */
  byPath(path: string): ServiceState | undefined {
    return this.list().find((s) => s.path === path);
  }

  setTraceHistorySize(size: number): void {
    this.traceHistorySize = size;
    for (const state of this.sessions.values()) state.traces.resize(size);
    this.emit({ kind: "sessions" });
  }

  /** A session as `status` or `watch` returned it: the daemon's current view, which replaces the model's. */
  applySession(info: SessionInfo): void {
    this.ended.delete(info.session);
    const state = this.ensure(info.session, info.service);
    if (!state) return;
    state.path = info.path;
    state.space = info.space;
    state.backend = info.backend;
    if (info.phase === "stopped") {
      this.end(info.session);
    } else {
      state.phase = info.phase;
      state.detail = info.detail;
      state.portForwards = new Map(info.portForwards.map((pf) => [pf.localPort, { ...pf }]));
    }
    this.emit({ kind: "sessions" });
  }

  /**
   * What `devspaces/up` answered, for one service or several. The session in an up result was read
   * when the daemon answered, and the notifications it sent before the answer arrive first: what they
   * already said (phase, forwards) is newer, so the result only fills in what is not known yet.
   */
  applyUp(result: UpResult | UpManyResult): UpApplied {
    const applied: UpApplied = { sessions: [], failures: [] };
    const outcomes: Pick<UpOutcome, "name" | "session" | "error">[] = isUpMany(result)
      ? result.services
      : [{ name: result.service, session: result }];
    for (const o of outcomes) {
      if (o.session) {
        const state = this.mergeSession(o.session);
        if (state) applied.sessions.push(state);
      } else {
        const message = o.error?.message ?? "did not start (the daemon gave no reason)";
        applied.failures.push(message.startsWith(`${o.name}:`) ? message : `${o.name}: ${message}`);
      }
    }
    this.emit({ kind: "sessions" });
    return applied;
  }

  private mergeSession(info: SessionInfo): ServiceState | undefined {
    this.ended.delete(info.session);
    if (info.phase === "stopped") {
      this.end(info.session);
      return undefined;
    }
    const state = this.ensure(info.session, info.service);
    if (!state) return undefined;
    state.path = info.path;
    state.space = info.space;
    state.backend = info.backend;
    if (state.phase === undefined) {
      state.phase = info.phase;
      state.detail = info.detail;
    }
    for (const pf of info.portForwards) {
      if (!state.portForwards.has(pf.localPort)) state.portForwards.set(pf.localPort, { ...pf });
    }
    return state;
  }

  /** Replaces every session with what `devspaces/status` returned. */
  reset(infos: SessionInfo[]): void {
    const keep = new Set(infos.map((i) => i.session));
    for (const id of [...this.sessions.keys()]) {
      if (!keep.has(id)) this.end(id);
    }
    for (const info of infos) this.applySession(info);
    this.emit({ kind: "sessions" });
  }

  /** The session ended (a `down` result, or the connection to the daemon was lost). */
  removeSession(session: string): void {
    const known = this.sessions.has(session);
    this.end(session);
    if (known) this.emit({ kind: "sessions" });
  }

  clear(): void {
    for (const id of [...this.sessions.keys()]) this.end(id);
    this.emit({ kind: "sessions" });
  }

  /** Feeds one notification; returns false for methods this model does not keep. */
  applyNotification(method: string, params: unknown): boolean {
    switch (method) {
      case Methods.serviceStatus: {
        const p = params as ServiceStatusParams;
        if (p.phase === "stopped") {
          this.end(p.session);
        } else {
          const state = this.ensure(p.session, p.service);
          if (state) {
            state.phase = p.phase;
            state.detail = p.detail;
            state.exitCode = p.exitCode;
            state.lastLines = p.lastLines;
          }
        }
        this.emit({ kind: "status", params: p });
        this.emit({ kind: "sessions" });
        return true;
      }
      case Methods.portForward: {
        const p = params as PortForwardParams;
        this.ensure(p.session, p.service)?.portForwards.set(p.localPort, {
          localPort: p.localPort,
          remotePort: p.remotePort,
          url: p.url,
          state: p.state,
        });
        this.emit({ kind: "sessions" });
        return true;
      }
      case Methods.trace: {
        const p = params as TraceParams;
        this.ensure(p.session, p.service)?.traces.add(p);
        this.emit({ kind: "sessions" });
        return true;
      }
      case Methods.synced: {
        const p = params as SyncedParams;
        const state = this.ensure(p.session, p.service);
        if (state) state.lastSynced = p;
        this.emit({ kind: "synced", params: p });
        this.emit({ kind: "sessions" });
        return true;
      }
      case Methods.debugReady: {
        const p = params as DebugReadyParams;
        const state = this.ensure(p.session, p.service);
        if (state) state.debugReady = p;
        this.emit({ kind: "debugReady", params: p });
        this.emit({ kind: "sessions" });
        return true;
      }
      case Methods.log: {
        const p = params as LogParams;
        this.emit({ kind: "log", params: p });
        return true;
      }
      case Methods.logsDropped: {
        const p = params as LogsDroppedParams;
        this.emit({ kind: "logsDropped", params: p });
        return true;
      }
      default:
        return false;
    }
  }

  private end(session: string): void {
    this.sessions.delete(session);
    this.ended.add(session);
  }

  /** The state of a live session, created on its first event; undefined once it ended. */
  private ensure(session: string, service: string): ServiceState | undefined {
    if (this.ended.has(session)) return undefined;
    let state = this.sessions.get(session);
    if (!state) {
      state = { session, service, portForwards: new Map(), traces: new TraceList(this.traceHistorySize) };
      this.sessions.set(session, state);
    }
    return state;
  }

  private emit(change: ModelChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}
