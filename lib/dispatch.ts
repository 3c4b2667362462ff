import type { Config } from "./config/schema.js";
import { credentialScope } from "./sources/scope.js";

/** What a sweep worker is told: which source, and which run it belongs to. */
export interface SweepRequest {
  source: string;
  runId: string;
  /** The dispatch instant; evaluation uses the worker's own clock. */
  dispatchedAt: string;
}

export interface DispatchMessage {
  body: SweepRequest;
  /** FIFO group: sources that share a vendor budget are never swept at the same time. */
  groupId: string;
  /** Within SQS's five-minute window, a dispatch retried for the same run sends each source once. */
  deduplicationId: string;
}

/** One queue message per source, grouped by the credential whose budget it spends. */
export function dispatchMessages(config: Config, runId: string, now: Date): DispatchMessage[] {
  return config.sources.map((source) => ({
    body: { source: source.name, runId, dispatchedAt: now.toISOString() },
    groupId: credentialScope(source),
    deduplicationId: `${runId}:${source.name}`,
  }));
}
