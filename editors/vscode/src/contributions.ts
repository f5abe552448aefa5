// The IDs of every command, view and setting the extension registers, checked against package.json by a test; no vscode import.

export const CommandIds = {
  up: "devspaces.up",
  down: "devspaces.down",
  downAll: "devspaces.downAll",
  restart: "devspaces.restart",
  restartAll: "devspaces.restartAll",
  selectSpace: "devspaces.selectSpace",
  showLogs: "devspaces.showLogs",
  showTraces: "devspaces.showTraces",
  openInBrowser: "devspaces.openInBrowser",
  classifyFile: "devspaces.classifyFile",
  prep: "devspaces.prep",
  debugService: "devspaces.debugService",
} as const;

export type CommandId = (typeof CommandIds)[keyof typeof CommandIds];

export const ViewContainerId = "devspaces";
export const ServicesViewId = "devspaces.services";

export const ConfigSection = "devspaces";

/** Setting names under `devspaces.` with their defaults. */
export const Settings = {
  daemonPath: "daemonPath",
  backend: "backend",
  space: "space",
  traceHistorySize: "traceHistorySize",
} as const;

export const SettingDefaults = {
  daemonPath: "",
  backend: "auto",
  space: "",
  traceHistorySize: 50,
} as const;
