import type { Config } from "../config/schema.js";
import { matches } from "../model/match.js";
import { shellWord } from "../model/text.js";
import type { Alert } from "../model/types.js";
import type { Ledger, LedgerEntry } from "../store/ledger.js";
import type { Store } from "../store/store.js";
import { DEFAULT_LEASE_MS, type DeliverOptions } from "./deliver.js";
import { mapInOrder } from "../sources/concurrency.js";

/**
 * Which receivers an alert goes to. Routes are tried in order; the first match wins unless it says `continue`.
 * An alert no route matches goes to `defaultReceivers`, or to every receiver: an unrouted alert is never dropped.
 */
export function receiversFor(alert: Alert, config: Config): string[] {
  const everyone = config.receivers.map((receiver) => receiver.name);
  if (!config.routes || config.routes.length === 0) return everyone;
  const chosen = new Set<string>();
  for (const route of config.routes) {
    if (!matches(route.match, alert)) continue;
    for (const name of route.receivers) chosen.add(name);
    if (!route.continue) break;
  }
  if (chosen.size > 0) return [...chosen];
  return config.defaultReceivers ?? everyone;
}

/**
 * Deterministic, so that recording the same news twice (a retried run) is a no-op; and distinct for news that
 * only looks the same: an alert firing again after it resolved (generation), or the nth reminder.
 */
export function notificationId(alert: Alert): string {
  const generation = alert.generation > 0 ? `|g${alert.generation}` : "";
  const reminder = alert.reminder ? `|r${alert.reminder}` : "";
  return `${alert.fingerprint}|${alert.episode}|${alert.stage}${generation}${reminder}`;
}

/** Ledger writes in flight at once while news is recorded. */
const RECORDS_AT_ONCE = 16;

/**
 * The ledger's first step for a batch of news. It comes before the marks that say the news was announced: a crash
 * in between re-records the same ids (a no-op) instead of losing them.
 */
export async function recordNews(
  alerts: Alert[],
  options: { config: Config; store: Store; now: Date },
): Promise<LedgerEntry[]> {
  const recorded: LedgerEntry[] = [];
  const notifications = alerts.flatMap((alert) =>
    receiversFor(alert, options.config).map((receiver) => ({ alert, receiver })),
  );
  // Each is its own conditional write (claimed once, never doubled, whoever else records the same news: a CLI sweep
  // beside Lambda on one table, notify's staleness watch); a first sweep has thousands, so several go at once.
  const writes = mapInOrder(notifications, RECORDS_AT_ONCE, ({ alert, receiver }) =>
    options.store.ledger.recordNotification(receiver, notificationId(alert), alert, options.now),
  );
  for await (const entry of writes) if (entry) recorded.push(entry);
  return recorded;
}

/** Notifications waiting for a receiver the config no longer names (renamed or removed): nobody would send them. */
export interface OrphanedReceiver {
  receiver: string;
  pending: number;
}

export async function orphanedReceivers(ledger: Ledger, config: Config): Promise<OrphanedReceiver[]> {
  const configured = new Set(config.receivers.map((receiver) => receiver.name));
  const counts = await ledger.pendingCounts();
  return [...counts]
    .filter(([receiver]) => !configured.has(receiver))
    .map(([receiver, pending]) => ({ receiver, pending }))
    .sort((a, b) => a.receiver.localeCompare(b.receiver));
}

/** What an operator reads about orphaned notifications: what is wrong, and the command that repairs it. */
export function orphanAdvice({ receiver, pending }: OrphanedReceiver): string {
  return (
    `${pending} notification${pending === 1 ? "" : "s"} pending for receiver ${JSON.stringify(receiver)}, which ` +
    `the config no longer names: nothing will send ${pending === 1 ? "it" : "them"}. Move them to a configured ` +
    `receiver: certwatch reroute --from ${shellWord(receiver)} --to RECEIVER`
  );
}

export interface RerouteOutcome {
  /** Entries now waiting for the new receiver. */
  moved: number;
  /** Of those, entries the new receiver already had under the same id: kept once, not doubled. */
  alreadyThere: number;
  /** Entries being sent right now, or whose interrupted move still holds its lease: left where they are. */
  inFlight: number;
}

/**
 * Moves the notifications waiting for receiver `from` to receiver `to`, each under its own id. Each is claimed
 * first (so no run sends it meanwhile), then recorded for `to` (conditional on the id being new there, so
 * nothing is doubled), and only then deleted for `from`. A crash in between leaves it recorded for both, the old
 * one claimed: once that claim's lease is over, running the move again deletes the old one and doubles nothing.
 */
export async function reroutePending(
  ledger: Ledger,
  from: string,
  to: string,
  options: Pick<DeliverOptions, "runId" | "now" | "leaseMs" | "clock">,
): Promise<RerouteOutcome> {
  const outcome: RerouteOutcome = { moved: 0, alreadyThere: 0, inFlight: 0 };
  for (const entry of await ledger.pendingFor(from)) {
    // Claims run on the wall clock, as deliveries' do.
    const wallClock = options.clock?.() ?? new Date();
    if (!(await ledger.claim(entry, options.runId, wallClock, options.leaseMs ?? DEFAULT_LEASE_MS))) {
      outcome.inFlight++;
      continue;
    }
    const recorded = await ledger.recordNotification(to, entry.id, entry.alert, options.now);
    await ledger.forgetNotification(entry, options.runId);
    outcome.moved++;
    if (!recorded) outcome.alreadyThere++;
  }
  return outcome;
}
