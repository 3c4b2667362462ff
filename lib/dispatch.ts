import type { Config } from "./config/schema.js";
import type { MemberAccount } from "./config/units.js";
import { type DiscoveryIo, expandAccounts } from "./sources/accounts.js";
import { credentialScope } from "./sources/scope.js";

/** What a sweep worker is told: which source, and which run it belongs to. */
export interface SweepRequest {
  source: string;
  runId: string;
  /** The dispatch instant; evaluation uses the worker's own clock. */
  dispatchedAt: string;
  /** An organization's member unit: the account dispatch discovered, so that the worker need not list them again. */
  account?: MemberAccount;
  /** The unit cannot be swept (its organization could not be listed): the worker records it as failed, with this. */
  unitError?: string;
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
 * each member becomes its own message (and its own group); one that cannot be listed is one failed unit.
 */
export async function dispatchMessages(
  config: Config,
  runId: string,
  now: Date,
  io: DiscoveryIo,
): Promise<DispatchMessage[]> {
  const units = await expandAccounts(config.sources, io);
  return units.map((unit) => ({
    body: {
      source: unit.name,
      runId,
      dispatchedAt: now.toISOString(),
      ...(unit.account ? { account: unit.account } : {}),
      ...(unit.unitError === undefined ? {} : { unitError: unit.unitError }),
    },
    groupId: credentialScope(unit),
    deduplicationId: `${runId}:${unit.name}`,
  }));
}
