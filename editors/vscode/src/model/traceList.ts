// A bounded list of a service's most recent HTTP traces, newest first; no vscode import.

import type { TraceParams } from "../protocol";

export interface TraceRow {
  label: string;
  description: string;
  trace: TraceParams;
}

export class TraceList {
  private items: TraceParams[] = [];

  constructor(private capacity: number) {}

  get size(): number {
    return this.items.length;
  }

  add(trace: TraceParams): void {
    this.items.unshift(trace);
    this.trim();
  }

  resize(capacity: number): void {
    this.capacity = capacity;
    this.trim();
  }

  clear(): void {
    this.items = [];
  }

  /** Newest first. */
  all(): readonly TraceParams[] {
    return this.items;
  }

  rows(): TraceRow[] {
    return this.items.map((trace) => ({
      label: `${trace.method} ${trace.path}`,
      description: `${trace.status} · ${trace.durationMs} ms${hop(trace)}`,
      trace,
    }));
  }

  private trim(): void {
    const keep = Math.max(0, Math.floor(this.capacity));
    if (this.items.length > keep) {
      this.items.length = keep;
    }
  }
}

/** One line for a trace, as the Show Traces list and the logs print it. */
export function formatTrace(trace: TraceParams): string {
  return `${trace.method} ${trace.path} ${trace.status} ${trace.durationMs} ms${hop(trace)}`;
}

/**
 * Where the request came from and who served it (for a routing proxy's trace), and its trace id's
 * first 8 digits: the traces of one request through several services show the same.
 */
function hop(trace: TraceParams): string {
  const routed = trace.routed ? ` · from ${trace.routed.source}, served by ${trace.routed.servedBy}` : "";
  const link = trace.link ? ` · trace ${trace.link.traceId.slice(0, 8)}` : "";
  return routed + link;
}
