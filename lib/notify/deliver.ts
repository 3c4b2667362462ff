import { mapInOrder } from "../sources/concurrency.js";
import type { Ledger, LedgerEntry } from "../store/ledger.js";
import { compareAlerts } from "./digest.js";
import { DeliveryError, type Receiver } from "./receiver.js";

/**
 * A failing entry is given up on (recorded as failed and reported) only once it has failed at least this many
 * runs and waited this long: long enough to outlast an outage of Slack, a mail server, or a weekend, not forever.
 */
export const GIVE_UP = { attempts: 3, afterMs: 7 * 24 * 3_600_000 };
/** A claim older than this belongs to a run that died between send and mark; its entries may be sent again. */
export const DEFAULT_LEASE_MS = 15 * 60_000;
/**
 * Claims and marks of one message's entries in flight at once. Each is its own conditional write, so their order
 * does not matter; one after another, a first sweep's 26,000 entries spent longer marking than sending.
 */
const LEDGER_WRITES_AT_ONCE = 16;

export interface DeliveryReport {
  receiver: string;
  messages: number;
  sent: number;
  /** Entries left pending for the next run after a retryable failure. */
  deferred: number;
  /** Entries given up on: a permanent failure or too many attempts. */
  failed: number;
  errors: string[];
}

export interface DeliverOptions {
  runId: string;
  /** The run's instant (`--now`), kept on finished entries. Claims and leases use the wall clock. */
  now: Date;
  leaseMs?: number;
  /** The wall clock for claims; replaceable in tests that need the lease to run out. */
  clock?: () => Date;
  /** Entries this run recorded: delivered even when the pending index does not show them yet. */
  fresh?: LedgerEntry[];
  redact?: (text: string) => string;
}

export function chunk<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * Claims the entries of one message, several at once, in their order. When the store fails a claim, what this run
 * did claim goes back to pending before the failure is thrown, rather than waiting out its lease unsent.
 */
async function claimAll(
  ledger: Ledger,
  entries: LedgerEntry[],
  options: DeliverOptions,
): Promise<LedgerEntry[]> {
  const claimed: LedgerEntry[] = [];
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  for (const group of chunk(entries, LEDGER_WRITES_AT_ONCE)) {
    // Real time, not --now: a runbook sweep "as of next week" must not hold or steal live claims.
    const wallClock = options.clock?.() ?? new Date();
    const claims = await Promise.allSettled(
      group.map((entry) => ledger.claim(entry, options.runId, wallClock, leaseMs)),
    );
    claims.forEach((claim, index) => {
      if (claim.status === "fulfilled" && claim.value) claimed.push(group[index] as LedgerEntry);
    });
    const failed = claims.find((claim) => claim.status === "rejected");
    if (failed) {
      const why = `not sent: the store failed a claim (${(failed.reason as Error).message})`;
      await Promise.allSettled(
        claimed.map((entry) => ledger.release(entry, options.runId, options.now, why)),
      );
      throw failed.reason;
    }
  }
  return claimed;
}

/**
 * Drains one receiver's pending ledger entries: claim → send → mark, one message at a time, as Alertmanager's
 * notify pipeline does with its notification log. A crash between send and mark can resend that one message
 * once its lease runs out; nothing else is sent twice and nothing is dropped.
 */
export async function deliverPending(
  ledger: Ledger,
  receiver: Receiver,
  options: DeliverOptions,
): Promise<DeliveryReport> {
  const { runId, now } = options;
  const redact = options.redact ?? ((text: string) => text);
  const report: DeliveryReport = {
    receiver: receiver.name,
    messages: 0,
    sent: 0,
    deferred: 0,
    failed: 0,
    errors: [],
  };
  const pending = new Map((await ledger.pendingFor(receiver.name)).map((entry) => [entry.id, entry]));
  for (const entry of options.fresh ?? []) if (!pending.has(entry.id)) pending.set(entry.id, entry);
  // Most severe first across the whole digest, so that when it is split the first message is the one to read.
  const ordered = [...pending.values()].sort((a, b) => compareAlerts(a.alert, b.alert));
  const batches = chunk(ordered, receiver.maxAlertsPerMessage);
  for (const [index, batch] of batches.entries()) {
    const claimed = await claimAll(ledger, batch, options);
    if (claimed.length === 0) continue;
    try {
      await receiver.send({
        alerts: claimed.map((entry) => entry.alert),
        generatedAt: now.toISOString(),
        part: { index: index + 1, count: batches.length },
      });
    } catch (error) {
      const failure =
        error instanceof DeliveryError
          ? error
          : new DeliveryError(`unexpected error: ${(error as Error).message}`, true);
      const message = redact(failure.message);
      report.errors.push(message);
      // Even a "permanent" refusal (a deleted webhook, a rejected login) is usually fixed by the operator, and the
      // alerts must go out then: an entry stays pending until it has failed GIVE_UP.attempts runs over GIVE_UP.afterMs.
      const outcomes = mapInOrder(claimed, LEDGER_WRITES_AT_ONCE, async (entry) => {
        const waitedMs = now.getTime() - Date.parse(entry.createdAt);
        if (entry.attempts + 1 < GIVE_UP.attempts || waitedMs < GIVE_UP.afterMs) {
          await ledger.release(entry, runId, now, message);
          return "deferred" as const;
        }
        await ledger.markFailed(entry, runId, now, message);
        return "failed" as const;
      });
      for await (const outcome of outcomes) report[outcome]++;
      // The receiver is down or refusing: leave the rest pending instead of hammering it.
      const untouched = batches.slice(index + 1).reduce((sum, rest) => sum + rest.length, 0);
      report.deferred += untouched;
      break;
    }
    report.messages++;
    const marks = mapInOrder(claimed, LEDGER_WRITES_AT_ONCE, (entry) => ledger.markSent(entry, runId, now));
    for await (const _marked of marks) report.sent++;
  }
  return report;
}
