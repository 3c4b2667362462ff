import type { Config } from "../config/schema.js";
import { matches } from "../model/match.js";
import { shellWord } from "../model/text.js";
import type { Alert } from "../model/types.js";
import type { Ledger, LedgerEntry } from "../store/ledger.js";
import type { Notification } from "../store/news-inbox.js";
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
/** From this many notifications on, a run's news goes to the inbox in batches rather than to the ledger one by one. */
export const INBOX_FROM = 100;

/**
 * The ledger's first step for a batch of news. It comes before the marks that say the news was announced: a crash
 * in between records the same ids again (a no-op) instead of losing them. Much news (a first sweep's thousands) is
 * stored in the news inbox, a few batch writes, and delivery records each notification from there
 * (`moveNewsToLedger`); a little is recorded here, each notification its own conditional write.
 */
export async function recordNews(
  alerts: Alert[],
  options: { config: Config; store: Store; now: Date },
): Promise<LedgerEntry[]> {
  const notifications = alerts.flatMap((alert) =>
    receiversFor(alert, options.config).map((receiver) => ({
      receiver,
      id: notificationId(alert),
      alert,
    })),
  );
  const recorded: LedgerEntry[] = [];
  const oneByOne =
    notifications.length >= INBOX_FROM
      ? await options.store.inbox.put(notifications, options.now)
      : notifications;
  await recordEach(options.store.ledger, oneByOne, options.now, recorded);
  return recorded;
}

/**
 * Each notification its own conditional write (recorded once, whoever else records the same news: a CLI sweep
 * beside Lambda on one table, notify's staleness watch, a second run moving the same batch), several at once.
 * What this run recorded is added to `recorded` as it goes, so that a store failure part-way keeps what was done.
 */
async function recordEach(
  ledger: Ledger,
  notifications: Notification[],
  at: Date,
  recorded: LedgerEntry[],
): Promise<void> {
  const writes = mapInOrder(notifications, RECORDS_AT_ONCE, ({ receiver, id, alert }) =>
    ledger.recordNotification(receiver, id, alert, at),
  );
  for await (const entry of writes) if (entry) recorded.push(entry);
}

/**
 * Delivery's first step: records in the ledger each notification the news inbox holds, then deletes its batch. A
 * batch is deleted only once all of it is recorded, and a notification recorded twice is one entry (its id is the
 * write's condition): a run stopped part-way, a sweep retried after storing its batches, or two runs moving one batch
 * lose and double nothing. Adds what this run recorded to `recorded`, for delivery to send even before the pending
 * index shows it; throws what the store failed, leaving the rest for the next run.
 */
export async function moveNewsToLedger(store: Store, recorded: LedgerEntry[]): Promise<void> {
  for await (const batch of store.inbox.batches()) {
    await recordEach(store.ledger, batch.notifications, batch.at, recorded);
    await batch.done();
  }
}

/** Notifications waiting for a receiver the config no longer names (renamed or removed): nobody would send them. */
export interface OrphanedReceiver {
  receiver: string;
  pending: number;
}

export async function orphanedReceivers(store: Store, config: Config): Promise<OrphanedReceiver[]> {
  const configured = new Set(config.receivers.map((receiver) => receiver.name));
  return [...(await waitingIds(store))]
    .filter(([receiver]) => !configured.has(receiver))
    .map(([receiver, ids]) => ({ receiver, pending: ids.size }))
    .sort((a, b) => a.receiver.localeCompare(b.receiver));
}

/**
 * The ids of the notifications waiting for each receiver: pending in the ledger, or still in the news inbox (a dry
 * run moves none of it, a failed move leaves some), each once. An inbox that cannot be read adds nothing here: the
 * delivery that tried to move it has already reported why.
 */
export async function waitingIds(store: Store): Promise<Map<string, Set<string>>> {
  const [waiting, inInbox] = await Promise.all([
    store.ledger.pendingIds(),
    store.inbox.waiting().catch(() => new Map<string, Set<string>>()),
  ]);
  for (const [receiver, ids] of inInbox) {
    const pending = waiting.get(receiver) ?? new Set<string>();
    for (const id of ids) pending.add(id);
    waiting.set(receiver, pending);
  }
  return waiting;
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
  /** Entries this process just recorded: those for `from` move even when the pending index does not show them yet. */
  fresh: LedgerEntry[] = [],
): Promise<RerouteOutcome> {
  const outcome: RerouteOutcome = { moved: 0, alreadyThere: 0, inFlight: 0 };
  const waiting = new Map((await ledger.pendingFor(from)).map((entry) => [entry.id, entry]));
  for (const entry of fresh)
    if (entry.receiver === from && !waiting.has(entry.id)) waiting.set(entry.id, entry);
  for (const entry of waiting.values()) {
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
