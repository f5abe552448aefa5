// A stand-in for the `vscode` module outside the editor: the UI surface the extension and vscode-languageclient touch, recording what they show.

import * as fs from "node:fs";
import * as path from "node:path";
import Module from "node:module";
import { minimatch } from "minimatch";

type Listener<T> = (e: T) => unknown;

export class Disposable {
  constructor(private readonly fn: () => unknown = () => undefined) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const i of items) i.dispose();
    });
  }
  dispose(): void {
    this.fn();
  }
}

export class EventEmitter<T> {
  private listeners: Listener<T>[] = [];
  readonly event = (listener: Listener<T>, thisArg?: unknown, disposables?: Disposable[]): Disposable => {
    const bound: Listener<T> = thisArg ? listener.bind(thisArg) : listener;
    this.listeners.push(bound);
    const d = new Disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== bound);
    });
    disposables?.push(d);
    return d;
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly authority: string,
    readonly path: string,
    readonly query: string,
    readonly fragment: string,
  ) {}
  static file(p: string): Uri {
    return new Uri("file", "", path.resolve(p), "", "");
  }
  static parse(value: string): Uri {
    const u = new URL(value);
    return new Uri(u.protocol.replace(/:$/, ""), u.host, decodeURIComponent(u.pathname), u.search.replace(/^\?/, ""), u.hash.replace(/^#/, ""));
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return base.with({ path: path.posix.join(base.path, ...parts) });
  }
  get fsPath(): string {
    return this.path;
  }
  with(change: { scheme?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(change.scheme ?? this.scheme, this.authority, change.path ?? this.path, change.query ?? this.query, change.fragment ?? this.fragment);
  }
  toString(): string {
    if (this.scheme === "file") return `file://${encodeURI(this.path)}`;
    return `${this.scheme}://${this.authority}${this.path}${this.query ? `?${this.query}` : ""}${this.fragment ? `#${this.fragment}` : ""}`;
  }
  toJSON(): unknown {
    return { scheme: this.scheme, path: this.path, external: this.toString() };
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    this.start = typeof a === "number" ? new Position(a, b as number) : a;
    this.end = typeof a === "number" ? new Position(c ?? 0, d ?? 0) : (b as Position);
  }
}

export class ThemeIcon {
  constructor(readonly id: string) {}
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  iconPath?: ThemeIcon;
  command?: { command: string; title: string; arguments?: unknown[] };
  constructor(
    readonly label: string,
    readonly collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export enum LogLevel {
  Off = 0,
  Trace = 1,
  Debug = 2,
  Info = 3,
  Warning = 4,
  Error = 5,
}

export enum FileType {
  Unknown = 0,
  File = 1,
  Directory = 2,
  SymbolicLink = 64,
}

export enum DiagnosticSeverity {
  Error = 0,
  Warning = 1,
  Information = 2,
  Hint = 3,
}

export class CancellationError extends Error {}

/** vscode-languageclient maps LSP code action kinds onto these when it loads. */
export const CodeActionKind: Record<string, { value: string }> = Object.fromEntries(
  (
    [
    ["Empty", ""],
    ["QuickFix", "quickfix"],
    ["Refactor", "refactor"],
    ["RefactorExtract", "refactor.extract"],
    ["RefactorInline", "refactor.inline"],
    ["RefactorRewrite", "refactor.rewrite"],
    ["Source", "source"],
    ["SourceOrganizeImports", "source.organizeImports"],
    ["SourceFixAll", "source.fixAll"],
    ["Notebook", "notebook"],
    ] as const
  ).map(([k, v]) => [k, { value: v }]),
);

export class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  readonly token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

/** Data classes vscode-languageclient subclasses when it loads; nothing here calls them. */
class Plain {
  readonly args: unknown[];
  constructor(...args: unknown[]) {
    this.args = args;
  }
}
export class Diagnostic {
  source?: string;
  code?: unknown;
  constructor(
    readonly range: Range,
    readonly message: string,
    readonly severity: DiagnosticSeverity = DiagnosticSeverity.Error,
  ) {}
}
export class CompletionItem extends Plain {}
export class CodeAction extends Plain {}
export class SymbolInformation extends Plain {}
export class DocumentLink extends Plain {}
export class CodeLens extends Plain {}
export class InlayHint extends Plain {}
export class TypeHierarchyItem extends Plain {}
export class CallHierarchyItem extends Plain {}

// ---- what the UI showed, for the tests to read ----

/** The level new log channels start at; setLogLevel changes it and every channel's, as "Developer: Set Log Level" does. */
let defaultLogLevel = LogLevel.Info;

export class RecordingOutputChannel {
  readonly lines: string[] = [];
  shown = 0;
  logLevel = defaultLogLevel;
  private readonly levelChanged = new EventEmitter<LogLevel>();
  readonly onDidChangeLogLevel = this.levelChanged.event;
  constructor(readonly name: string) {}
  setLogLevel(level: LogLevel): void {
    this.logLevel = level;
    this.levelChanged.fire(level);
  }
  append(text: string): void {
    this.lines.push(text);
  }
  appendLine(line: string): void {
    this.lines.push(line);
  }
  replace(text: string): void {
    this.lines.length = 0;
    this.lines.push(text);
  }
  clear(): void {
    this.lines.length = 0;
  }
  show(): void {
    this.shown++;
  }
  hide(): void {
    /* nothing to hide */
  }
  dispose(): void {
    /* kept for the test to read */
  }
  trace(m: string): void {
    this.lines.push(`[trace] ${m}`);
  }
  debug(m: string): void {
    this.lines.push(`[debug] ${m}`);
  }
  info(m: string): void {
    this.lines.push(`[info] ${m}`);
  }
  warn(m: string): void {
    this.lines.push(`[warn] ${m}`);
  }
  error(m: string | Error): void {
    this.lines.push(`[error] ${String(m)}`);
  }
}

export interface TreeProviderLike<T> {
  getChildren(node?: T): T[] | Promise<T[]>;
  getTreeItem(node: T): TreeItem | Promise<TreeItem>;
  onDidChangeTreeData?: (l: Listener<unknown>) => Disposable;
}

export const recorded = {
  channels: new Map<string, RecordingOutputChannel>(),
  messages: [] as { level: "info" | "warning" | "error"; text: string }[],
  opened: [] as string[],
  trees: new Map<string, TreeProviderLike<unknown>>(),
  statusBarItems: [] as { text: string; tooltip?: string; command?: string; backgroundColor?: ThemeColor }[],
  progress: [] as { title?: string; messages: string[]; done: boolean }[],
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  /** Diagnostic collections by name, then diagnostics by document URI. */
  diagnostics: new Map<string, Map<string, unknown[]>>(),
  /** Debug configuration providers by debug type. */
  debugProviders: new Map<string, DebugProviderLike>(),
  /** Each vscode.debug.startDebugging call: the workspace folder's path and the configuration. */
  debugStarts: [] as { folder?: string; config: Record<string, unknown> }[],
  /** Answers for showQuickPick / showInputBox, taken in order; undefined cancels. */
  quickPickAnswers: [] as ((items: { label: string }[]) => unknown)[],
};

/** Sets the level of every log channel, and of those created later (vscode-languageclient traces the wire at Trace). */
export function setLogLevel(level: LogLevel): void {
  defaultLogLevel = level;
  for (const channel of recorded.channels.values()) channel.setLogLevel(level);
}

const settings = new Map<string, unknown>();
const configChanged = new EventEmitter<{ affectsConfiguration(s: string): boolean }>();

export function setSetting(key: string, value: unknown): void {
  settings.set(key, value);
  configChanged.fire({ affectsConfiguration: (s: string) => key === s || key.startsWith(`${s}.`) });
}

const never = () => new Disposable();

export interface StubTextDocument {
  uri: Uri;
  fileName: string;
  languageId: string;
  version: number;
  isClosed: boolean;
  isDirty: boolean;
  isUntitled: boolean;
  getText(): string;
}

const documentOpened = new EventEmitter<StubTextDocument>();

/** Opens a file as the editor would: it joins workspace.textDocuments and onDidOpenTextDocument fires. */
export function openTextDocument(file: string, languageId = "yaml"): StubTextDocument {
  const text = fs.readFileSync(file, "utf8");
  const doc: StubTextDocument = {
    uri: Uri.file(file),
    fileName: file,
    languageId,
    version: 1,
    isClosed: false,
    isDirty: false,
    isUntitled: false,
    getText: () => text,
  };
  workspace.textDocuments.push(doc);
  documentOpened.fire(doc);
  return doc;
}

type Filter = string | { language?: string; scheme?: string; pattern?: string };

/** vscode.languages.match for the filters the extension uses (language, scheme, glob pattern). */
function matchSelector(selector: Filter | Filter[], doc: StubTextDocument): number {
  const filters = Array.isArray(selector) ? selector : [selector];
  for (const f of filters) {
    if (typeof f === "string") {
      if (f === doc.languageId || f === "*") return 10;
      continue;
    }
    if (f.language && f.language !== "*" && f.language !== doc.languageId) continue;
    if (f.scheme && f.scheme !== "*" && f.scheme !== doc.uri.scheme) continue;
    if (f.pattern && !minimatch(doc.uri.fsPath, f.pattern, { dot: true })) continue;
    return 10;
  }
  return 0;
}

export const version = "1.91.0";

export const env = {
  appName: "vscode-stub",
  language: "en",
  openExternal(uri: Uri): Promise<boolean> {
    recorded.opened.push(uri.toString());
    return Promise.resolve(true);
  },
};

export const window = {
  activeTextEditor: undefined,
  visibleTextEditors: [],
  onDidChangeVisibleTextEditors: never,
  onDidChangeActiveTextEditor: never,
  tabGroups: { all: [], onDidChangeTabs: never, onDidChangeTabGroups: never },
  createOutputChannel(name: string): RecordingOutputChannel {
    const channel = new RecordingOutputChannel(name);
    recorded.channels.set(name, channel);
    return channel;
  },
  createTreeView(id: string, options: { treeDataProvider: TreeProviderLike<unknown> }) {
    recorded.trees.set(id, options.treeDataProvider);
    return new Disposable();
  },
  registerTreeDataProvider(id: string, provider: TreeProviderLike<unknown>) {
    recorded.trees.set(id, provider);
    return new Disposable();
  },
  createStatusBarItem() {
    const item = { text: "", show() {}, hide() {}, dispose() {} };
    recorded.statusBarItems.push(item);
    return item;
  },
  showInformationMessage(text: string): Promise<undefined> {
    recorded.messages.push({ level: "info", text });
    return Promise.resolve(undefined);
  },
  showWarningMessage(text: string): Promise<undefined> {
    recorded.messages.push({ level: "warning", text });
    return Promise.resolve(undefined);
  },
  showErrorMessage(text: string): Promise<undefined> {
    recorded.messages.push({ level: "error", text });
    return Promise.resolve(undefined);
  },
  showQuickPick(items: { label: string }[]): Promise<unknown> {
    const answer = recorded.quickPickAnswers.shift();
    return Promise.resolve(answer ? answer(items) : undefined);
  },
  showInputBox(): Promise<unknown> {
    const answer = recorded.quickPickAnswers.shift();
    return Promise.resolve(answer ? answer([]) : undefined);
  },
  async withProgress<R>(
    options: { title?: string },
    task: (p: { report(v: { message?: string }): void }, token: CancellationTokenSource["token"]) => Promise<R>,
  ): Promise<R> {
    const entry = { title: options.title, messages: [] as string[], done: false };
    recorded.progress.push(entry);
    const source = new CancellationTokenSource();
    try {
      return await task({ report: (v) => { if (v.message) entry.messages.push(v.message); } }, source.token);
    } finally {
      entry.done = true;
    }
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: Uri; name: string; index: number }[] | undefined,
  textDocuments: [] as StubTextDocument[],
  notebookDocuments: [],
  onDidOpenTextDocument: documentOpened.event,
  onDidCloseTextDocument: never,
  onDidChangeTextDocument: never,
  onDidSaveTextDocument: never,
  onWillSaveTextDocument: never,
  onDidChangeWorkspaceFolders: never,
  onDidOpenNotebookDocument: never,
  onDidCloseNotebookDocument: never,
  onDidChangeNotebookDocument: never,
  onDidSaveNotebookDocument: never,
  onDidChangeConfiguration: configChanged.event,
  getConfiguration(section?: string) {
    const key = (k: string) => (section ? `${section}.${k}` : k);
    return {
      get<T>(k: string, fallback?: T): T | undefined {
        return settings.has(key(k)) ? (settings.get(key(k)) as T) : fallback;
      },
      has(k: string): boolean {
        return settings.has(key(k));
      },
      update(k: string, value: unknown): Promise<void> {
        setSetting(key(k), value);
        return Promise.resolve();
      },
    };
  },
  /** The files of the workspace folders whose relative path matches `include` and not `exclude`. */
  findFiles(include: string, exclude?: string | null): Promise<Uri[]> {
    const found: Uri[] = [];
    const walk = (root: string, dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        const rel = path.relative(root, full).split(path.sep).join("/");
        if (exclude && minimatch(rel, exclude, { dot: true })) continue;
        if (e.isDirectory()) walk(root, full);
        else if (e.isFile() && minimatch(rel, include, { dot: true })) found.push(Uri.file(full));
      }
    };
    for (const f of workspace.workspaceFolders ?? []) walk(f.uri.fsPath, f.uri.fsPath);
    return Promise.resolve(found);
  },
  fs: {
    stat(uri: Uri): Promise<{ type: FileType; size: number; ctime: number; mtime: number }> {
      const st = fs.statSync(uri.fsPath);
      const type = st.isDirectory() ? FileType.Directory : st.isFile() ? FileType.File : FileType.Unknown;
      return Promise.resolve({ type, size: st.size, ctime: st.ctimeMs, mtime: st.mtimeMs });
    },
  },
  asRelativePath(p: string | Uri): string {
    return typeof p === "string" ? p : p.fsPath;
  },
  createFileSystemWatcher() {
    return { onDidCreate: never, onDidChange: never, onDidDelete: never, dispose() {} };
  },
};

export const commands = {
  registerCommand(id: string, fn: (...args: unknown[]) => unknown): Disposable {
    if (recorded.commands.has(id)) throw new Error(`command '${id}' already exists`);
    recorded.commands.set(id, fn);
    return new Disposable(() => recorded.commands.delete(id));
  },
  executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    const fn = recorded.commands.get(id);
    return Promise.resolve(fn ? fn(...args) : undefined);
  },
};

/** Providers vscode-languageclient registers for server capabilities devspacesd does not announce; all no-ops. */
const languagesBase: Record<string, unknown> = {
    match: matchSelector,
    createDiagnosticCollection(name: string) {
      const entries = new Map<string, unknown[]>();
      recorded.diagnostics.set(name, entries);
      return {
        name,
        set(uri: Uri, diags: unknown[]) {
          entries.set(uri.toString(), diags);
        },
        delete(uri: Uri) {
          entries.delete(uri.toString());
        },
        clear() {
          entries.clear();
        },
        forEach() {},
        get: (uri: Uri) => entries.get(uri.toString()),
        has: (uri: Uri) => entries.has(uri.toString()),
        dispose() {},
      };
    },
};

export const languages = new Proxy(languagesBase,
  {
    get(target, prop: string) {
      if (prop in target) return target[prop];
      if (prop.startsWith("register")) return never;
      throw new Error(`vscode stub: languages.${prop} is not stubbed`);
    },
  },
);

export interface DebugProviderLike {
  provideDebugConfigurations?: (folder: unknown) => unknown;
  resolveDebugConfiguration?: (folder: { uri: Uri } | undefined, config: Record<string, unknown>) => unknown;
}

interface TrackerLike {
  onWillReceiveMessage?(m: unknown): void;
  onDidSendMessage?(m: unknown): void;
  onWillStopSession?(): void;
}

const trackerFactories: { type: string; factory: { createDebugAdapterTracker(s: unknown): TrackerLike | undefined } }[] = [];

export const debug = {
  activeDebugSession: undefined,
  registerDebugConfigurationProvider(type: string, provider: DebugProviderLike): Disposable {
    if (recorded.debugProviders.has(type)) throw new Error(`a debug configuration provider for '${type}' already exists`);
    recorded.debugProviders.set(type, provider);
    return new Disposable(() => recorded.debugProviders.delete(type));
  },
  registerDebugAdapterTrackerFactory(type: string, factory: { createDebugAdapterTracker(s: unknown): TrackerLike | undefined }): Disposable {
    const entry = { type, factory };
    trackerFactories.push(entry);
    return new Disposable(() => trackerFactories.splice(trackerFactories.indexOf(entry), 1));
  },
  startDebugging(folder: { uri: Uri } | undefined, config: Record<string, unknown>): Promise<boolean> {
    recorded.debugStarts.push({ folder: folder?.uri.fsPath, config });
    return Promise.resolve(true);
  },
};

/**
 * Plays the end of a debug session through the registered adapter trackers, as VS Code does:
 * `by: "user"` the editor asks the adapter to disconnect (the Stop button); `by: "debuggee"` the
 * adapter says the debuggee terminated first (the app restarted), then the editor disconnects.
 */
export function endDebugSession(config: Record<string, unknown>, by: "user" | "debuggee"): void {
  const session = { name: String(config.name), type: String(config.type), configuration: config };
  for (const { type, factory } of trackerFactories) {
    if (type !== "*" && type !== session.type) continue;
    const tracker = factory.createDebugAdapterTracker(session);
    if (!tracker) continue;
    if (by === "debuggee") tracker.onDidSendMessage?.({ type: "event", event: "terminated", seq: 1 });
    tracker.onWillReceiveMessage?.({ type: "request", command: "disconnect", seq: 1, arguments: {} });
    tracker.onWillStopSession?.();
  }
}

const stub: Record<string, unknown> = {
  Disposable, EventEmitter, Uri, Position, Range, ThemeIcon, ThemeColor, TreeItem, TreeItemCollapsibleState,
  CodeActionKind, StatusBarAlignment, ConfigurationTarget, ProgressLocation, LogLevel, FileType, DiagnosticSeverity, CancellationError,
  CancellationTokenSource, Diagnostic, CompletionItem, CodeAction, SymbolInformation, DocumentLink, CodeLens,
  InlayHint, TypeHierarchyItem, CallHierarchyItem, version, env, window, workspace, commands, languages, debug,
};

/** Anything not listed above fails loudly, so the stand-in never hides a missing piece. */
const strict = new Proxy(stub, {
  get(target, prop) {
    if (typeof prop === "symbol" || prop in target || prop === "__esModule" || prop === "then") return target[prop as string];
    throw new Error(`vscode stub: vscode.${prop} is not stubbed`);
  },
});

let installed = false;

/** Makes `require("vscode")` return this stand-in. */
export function installVscodeStub(): void {
  if (installed) return;
  installed = true;
  const id = "\0vscode-stub";
  const m = new Module(id);
  m.exports = strict;
  m.loaded = true;
  (Module as unknown as { _cache: Record<string, Module> })._cache[id] = m;
  const resolve = (Module as unknown as { _resolveFilename: (...a: unknown[]) => string })._resolveFilename;
  (Module as unknown as { _resolveFilename: (...a: unknown[]) => string })._resolveFilename = function (request: unknown, ...rest: unknown[]) {
    if (request === "vscode") return id;
    return resolve.call(this, request, ...rest);
  };
}
