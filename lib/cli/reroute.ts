import { randomUUID } from "node:crypto";
import { DEFAULT_LEASE_MS } from "../notify/deliver.js";
import { moveNewsToLedger, reroutePending, waitingIds } from "../notify/route.js";
import type { LedgerEntry } from "../store/ledger.js";
import { openStore } from "../store/open.js";
import { loadForCli, UsageError } from "./context.js";
import type { Output } from "./output.js";

export interface RerouteCommandOptions {
  config: string;
  from: string;
  to: string;
  dryRun?: boolean;
}

const notifications = (count: number) => `${count} notification${count === 1 ? "" : "s"}`;

/**
 * Moves the notifications waiting for receiver `--from` (typically one renamed or removed from the config) to the
 * configured receiver `--to`; the next sweep or notify run delivers them there.
 */
export async function rerouteCommand(options: RerouteCommandOptions, output: Output): Promise<number> {
  const { config, redact } = await loadForCli(options.config);
  const configured = config.receivers.map((receiver) => receiver.name);
  if (!configured.includes(options.to)) {
    throw new UsageError(
      `--to: no receiver named ${options.to} in ${options.config} (receivers: ${configured.join(", ")})`,
    );
  }
  if (options.from === options.to) throw new UsageError("--from and --to name the same receiver");
  const opened = await openStore(config.store, { dryRun: options.dryRun ?? false, redact });
  try {
    const { store } = opened;
    if (options.dryRun) {
      const waiting = (await waitingIds(store)).get(options.from)?.size ?? 0;
      output.out(
        `would move ${notifications(waiting)} waiting for ${options.from} to ${options.to}; nothing changed (dry run)`,
      );
      return 0;
    }
    // News a sweep left in the inbox is recorded for its receivers first, so that what waits for --from moves too.
    const recorded: LedgerEntry[] = [];
    await moveNewsToLedger(store, recorded);
    const moved = await reroutePending(
      store.ledger,
      options.from,
      options.to,
      { runId: `reroute-${randomUUID()}`, now: new Date() },
      recorded,
    );
    const doubled =
      moved.alreadyThere > 0
        ? ` (${moved.alreadyThere} of them ${options.to} already had: kept once, not doubled)`
        : "";
    output.out(
      moved.moved === 0 && moved.inFlight === 0
        ? `nothing waits for ${options.from}`
        : `moved ${notifications(moved.moved)} from ${options.from} to ${options.to}${doubled}; the next sweep or notify run delivers them`,
    );
    if (moved.inFlight === 0) return 0;
    output.err(
      `${notifications(moved.inFlight)} left with ${options.from}: being sent, or held by a move that was ` +
        `interrupted; run this again in ${DEFAULT_LEASE_MS / 60_000} minutes`,
    );
    return 1;
  } finally {
    await opened.close();
  }
}
