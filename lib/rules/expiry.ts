import type { AlertsConfig } from "../config/schema.js";
import { DAY_MS, daysLeft, HOUR_MS, wholeDays } from "../model/time.js";
import type { Observation, RuleResult } from "../model/types.js";

/** Statuses whose expiry matters: the certificate is (or should be) serving. Unknown ones are watched too. */
const LIVE = new Set<Observation["status"]>(["active", "expired", "unknown"]);

/** `5 hours`, `1 day`, `12 days`: whole units, rounded down, the days as every report counts them (wholeDays). */
function span(ms: number): string {
  if (ms < DAY_MS) {
    const hours = Math.max(1, Math.floor(ms / HOUR_MS));
    return `${hours} hour${hours === 1 ? "" : "s"}`;
  }
  const days = wholeDays(ms);
  return `${days} day${days === 1 ? "" : "s"}`;
}

function ago(ms: number): string {
  return ms < HOUR_MS ? "just now" : `${span(ms)} ago`;
}

/**
 * The expiry rule: a certificate's stage is the smallest threshold its remaining time is within, or `expired`.
 * Only the current stage is returned, so a missed run catches up with the most severe stage, not a burst.
 */
export function expiryAlert(object: Observation, now: Date, alerts: AlertsConfig): RuleResult | undefined {
  if (!LIVE.has(object.status) || !object.notAfter) return undefined;
  const remainingMs = Date.parse(object.notAfter) - now.getTime();
  const expired = remainingMs <= 0 || object.status === "expired";
  // criticalWithinDays is a stage of its own: crossing it is news even when it is not one of the thresholds.
  const thresholds = [...new Set([...alerts.expiryThresholdsDays, alerts.criticalWithinDays])]
    .filter((days) => days > 0)
    .sort((a, b) => a - b);
  const threshold = thresholds.find((days) => remainingMs <= days * DAY_MS);
  if (!expired && threshold === undefined) return undefined;
  const stage = expired ? "expired" : `${threshold}d`;
  const critical = expired || (threshold ?? Infinity) <= alerts.criticalWithinDays;
  const date = object.notAfter.slice(0, 10);
  return {
    fingerprint: `expiry:${object.key}`,
    rule: "expiry",
    stage,
    episode: object.notAfter,
    severity: critical ? "critical" : "warning",
    summary: expired ? `expired ${ago(-remainingMs)} (${date})` : `expires in ${span(remainingMs)} (${date})`,
    object,
    daysLeft: daysLeft(object.notAfter, now),
  };
}

/** The revocation rule: a revoked certificate is critical at once, whatever its expiry. */
export function revocationAlert(object: Observation): RuleResult | undefined {
  if (object.status !== "revoked") return undefined;
  return {
    fingerprint: `revocation:${object.key}`,
    rule: "revocation",
    stage: "revoked",
    episode: object.revokedAt ?? object.notAfter ?? "revoked",
    severity: "critical",
    summary: object.revokedAt ? `revoked at ${object.revokedAt}` : `revoked (status ${object.rawStatus})`,
    object,
  };
}

/** Orders stages of one rule: higher is more severe. */
export function stageRank(stage: string): number {
  if (stage === "revoked") return 1_000_001;
  if (stage === "expired") return 1_000_000;
  const days = Number.parseInt(stage, 10);
  return Number.isNaN(days) ? 0 : 999_999 - days;
}
