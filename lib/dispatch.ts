import type { Config, SourceConfig } from "./config/schema.js";
import { type ExpansionIo, expandAccounts, type UnitRequest, unitRequest } from "./organizations.js";
import { credentialScope } from "./sources/scope.js";

/** What a sweep worker is told: which unit (and what discovery learnt of it), and which run it belongs to. */
export interface SweepRequest extends UnitRequest {
  runId: string;
  /** The dispatch instant; evaluation uses the worker's own clock. */
  dispatchedAt: string;
  /** A follow-up of a sweep in parts: the part it sweeps (2 onwards); the place itself is in the store. */
  part?: number;
}

export interface DispatchMessage {
  body: SweepRequest;
  /** FIFO group: units that share a vendor budget (a credential, a member account) are never swept at once. */
  groupId: string;
  /** Within SQS's five-minute window, a dispatch retried for the same run sends each unit once. */
  deduplicationId: string;
}

/**
 * One queue message per unit, grouped by the budget it spends. Organizations are discovered here, on every run:
 * each member becomes its own message (and its own group), beside the organization's discovery unit, which fails
 * when the organization cannot be listed (see lib/organizations.ts).
 */
export async function dispatchMessages(
  config: Config,
  runId: string,
  now: Date,
  io: ExpansionIo,
): Promise<DispatchMessage[]> {
  const units = await expandAccounts(config.sources, { ...io, now, runId });
  return units.map((unit) => ({
    body: { ...unitRequest(unit), runId, dispatchedAt: now.toISOString() },
    groupId: credentialScope(unit),
    deduplicationId: `${runId}:${unit.name}`,
  }));
}

/**
 * The message that continues a sweep in parts: the same unit, in the same FIFO group (so it waits until this part's
 * message is done), deduplicated per part so that a redelivered part cannot queue its follow-up twice.
 */
export function followUpMessage(request: SweepRequest, unit: SourceConfig, part: number): DispatchMessage {
  return {
    body: { ...request, part },
    groupId: credentialScope(unit),
    deduplicationId: `${request.runId}:${unit.name}:part-${part}`,
  };
}
