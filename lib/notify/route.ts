import type { Config } from "../config/schema.js";
import { matches } from "../model/match.js";
import type { Alert } from "../model/types.js";
import type { LedgerEntry, Store } from "../store/store.js";

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

/**
 * The ledger's first step for a batch of news. It comes before the marks that say the news was announced: a crash
 * in between re-records the same ids (a no-op) instead of losing them.
 */
export async function recordNews(
  alerts: Alert[],
  options: { config: Config; store: Store; now: Date },
): Promise<LedgerEntry[]> {
  const recorded: LedgerEntry[] = [];
  for (const alert of alerts) {
    for (const receiver of receiversFor(alert, options.config)) {
      const entry = await options.store.recordNotification(
        receiver,
        notificationId(alert),
        alert,
        options.now,
      );
      if (entry) recorded.push(entry);
    }
  }
  return recorded;
}
