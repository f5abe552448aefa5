// The devspaces editor protocol (docs/protocol.md) as TypeScript types and method names; no vscode import.

export const PROTOCOL_VERSION = 1;

export const Methods = {
  up: "devspaces/up",
  down: "devspaces/down",
  restart: "devspaces/restart",
  status: "devspaces/status",
  listUris: "devspaces/listUris",
  classify: "devspaces/classify",
  watch: "devspaces/watch",
  unwatch: "devspaces/unwatch",
  log: "devspaces/log",
  logsDropped: "devspaces/logsDropped",
  trace: "devspaces/trace",
  portForward: "devspaces/portForward",
  serviceStatus: "devspaces/serviceStatus",
  synced: "devspaces/synced",
  debug: "devspaces/debug",
  debugReady: "devspaces/debugReady",
} as const;

export type Backend = "local" | "kubernetes" | "container";
export type Phase =
  | "syncing"
  | "building"
  | "deploying"
  | "starting"
  | "running"
  | "restarting"
  | "crashed"
  | "failed"
  | "stopped";
export type LogStream = "stdout" | "stderr" | "build" | "system";
export type PortState = "open" | "reconnecting" | "closed";
export type ChangeClass = "static-sync" | "process-restart" | "redeploy";
export type ClassifyClass = ChangeClass | "ignored";

interface SessionScoped {
  service: string;
  session: string;
}

export interface LogParams extends SessionScoped {
  stream: LogStream;
  line: string;
  time: string;
}

export interface LogsDroppedParams extends SessionScoped {
  count: number;
}

/** Where a routing proxy in the cluster sent a request. */
export interface Routed {
  servedBy: string;
  source: string;
  routeAs?: string;
}

/** The request's trace (W3C Trace Context) and this hop's span in it. */
export interface TraceLink {
  traceId: string;
  spanId: string;
  parentId?: string;
}

export interface TraceParams extends SessionScoped {
  method: string;
  path: string;
  status: number;
  durationMs: number;
  bytes: number;
  time: string;
  routed?: Routed;
  link?: TraceLink;
}

export interface PortForwardInfo {
  localPort: number;
  remotePort: number;
  url: string;
  state: PortState;
}

export type PortForwardParams = SessionScoped & PortForwardInfo;

export interface ServiceStatusParams extends SessionScoped {
  phase: Phase;
  detail: string;
  exitCode?: number;
  lastLines?: string[];
}

export interface SyncedParams extends SessionScoped {
  class: ChangeClass;
  files: string[];
  durationMs: number;
}

/** Which protocol a debug server speaks (docs/protocol.md, devspaces/debugReady). */
export type DebugAdapterKind = "python" | "node" | "go" | "dotnet" | "java";

/** The workspace folder and where its files are where the app runs. */
export interface PathMapping {
  localRoot: string;
  remoteRoot: string;
}

/** `devspaces/debugReady`: the app's debug server listens; a debugger attaches to `host:port` (the daemon's forward). */
export interface DebugReadyParams extends SessionScoped {
  host: string;
  port: number;
  remotePort: number;
  adapter: DebugAdapterKind;
  pathMappings: PathMapping[];
  /** How many restarts under the debugger came before this one. */
  restarts: number;
}

export type DebugParams = SessionTarget & { enable?: boolean };

export interface DebugResult {
  debug: boolean;
  service: string;
  session: string;
}

export interface SessionInfo {
  session: string;
  service: string;
  path: string;
  space: string;
  backend: Backend;
  /** Where it runs, as `up` prints it: "local", "container (docker)", the Kubernetes context. */
  target?: string;
  phase: Phase;
  detail: string;
  tag: string;
  portForwards: PortForwardInfo[];
  watchers: number;
  startedAt: string;
}

export interface SessionTarget {
  session?: string;
  path?: string;
  space?: string;
  backend?: Backend;
}

export interface UpParams {
  /** A service folder, or a folder holding services below it (then the result is an UpManyResult). */
  path: string;
  /** More service folders started with `path`'s in the same request (then the result is an UpManyResult). */
  paths?: string[];
  space?: string;
  backend?: Backend;
  attach?: boolean;
  /** Run the app under its stack's debug server (devspaces/debugReady follows). */
  debug?: boolean;
  /** The client's environment: the session expands azds.yaml's ${VAR} and runs the app with it; absent, the daemon's. */
  env?: Record<string, string>;
}

export type UpResult = SessionInfo & { attached: boolean };

/** A service of an up of several services that did not start: the error its own `up` would have answered. */
export interface UpFailure {
  code: number;
  message: string;
}

/** One service of an up of several services: its session, or why it did not start. */
export interface UpOutcome {
  path: string;
  /** The name the other services call it by (its folder, lowercased). */
  name: string;
  /** Its stable loopback port. */
  port: number;
  session?: SessionInfo;
  attached: boolean;
  error?: UpFailure;
}

/** `devspaces/up` of several services (`paths`, or a `path` holding services below it): one outcome per service. */
export interface UpManyResult {
  services: UpOutcome[];
}

/** Whether an up result is the several-services shape. */
export function isUpMany(result: UpResult | UpManyResult): result is UpManyResult {
  return Array.isArray((result as Partial<UpManyResult>).services);
}

export type DownParams = SessionTarget & { keepIfWatched?: boolean };

export interface DownResult {
  outcome: "stopped" | "detached";
  service: string;
  session: string;
}

export type RestartParams = SessionTarget & { kind?: "process" | "redeploy" };

export interface RestartResult {
  kind: "process" | "redeploy";
  phase: Phase;
  service: string;
  session: string;
}

export interface StatusResult {
  daemon: {
    clients: number;
    pid: number;
    protocolVersion: number;
    startedAt: string;
    version: string;
  };
  sessions: SessionInfo[];
}

export interface UriInfo {
  kind: "localhost" | "public";
  remotePort: number;
  service: string;
  session: string;
  state: PortState;
  url: string;
}

export interface ListUrisResult {
  uris: UriInfo[];
}

export interface ClassifyParams {
  path: string;
  paths: string[];
}

export interface ClassifyResult {
  batch: ClassifyClass;
  service: string;
  results: { path: string; class: ClassifyClass; rule: string }[];
}

export type WatchParams = SessionTarget & { replayLines?: number };

export interface WatchResult {
  sessions: SessionInfo[];
}

export interface InitializeExperimental {
  devspaces?: {
    protocolVersion: number;
    version: string;
    backends: Backend[];
    requests: string[];
    notifications: string[];
    maxMessageBytes: number;
  };
}

/** One notification as the daemon sends it (also the shape of `devspacesd up --json` lines). */
export interface DevspacesEvent {
  method: string;
  params: unknown;
}
