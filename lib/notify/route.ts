import type { Config } from "../config/schema.js";
import { matches } from "../model/match.js";
import type { Alert } from "../model/types.js";

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
