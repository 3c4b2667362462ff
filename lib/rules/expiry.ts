import type { AlertsConfig } from "../config/schema.js";
import { DAY_MS, daysLeft, HOUR_MS, wholeDays } from "../model/time.js";
import type { Observation, RuleResult } from "../model/types.js";

/** Statuses whose expiry matters: the certificate is (or should be) serving. Unknown ones are watched too. */
const LIVE = new Set<Observation["status"]>(["active", "expired", "unknown"]);

/** A CA's `dependents` (details hold text): how many known certificates chain to it, when its source can tell. */
function dependentsOf(object: Observation): number | undefined {
  const text = object.details?.dependents;
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * Whether the object's expiry is watched. A disabled CA issues nothing new, but what it already issued still chains
 * to it: it is watched while anything known depends on it.
 */
function watched(object: Observation): boolean {
  if (LIVE.has(object.status)) return true;
  return (
    object.kind === "certificate-authority" && object.status === "inactive" && (dependentsOf(object) ?? 0) > 0
  );
}

/** What a CA takes with it, for its messages: the count when known, the plain fact otherwise. */
export function dependentsClause(object: Observation): string {
  const count = dependentsOf(object);
  if (count === undefined) return "every certificate it issued fails with it";
  if (count === 0) return "no certificate certwatch knows of depends on it";
  return `${count} known certificate${count === 1 ? " depends" : "s depend"} on it`;
}

/** A CA's alerts say what depends on it; other objects' alerts are their own news. */
function withDependents(object: Observation, summary: string): string {
  return object.kind === "certificate-authority" ? `${summary}; ${dependentsClause(object)}` : summary;
}

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
  if (!watched(object) || !object.notAfter) return undefined;
  const remainingMs = Date.parse(object.notAfter) - now.getTime();
  const expired = remainingMs <= 0 || object.status === "expired";
  // criticalWithinDays is a stage of its own: crossing it is news even when it is not one of the thresholds.
  const thresholds = [...new Set([...alerts.expiryThresholdsDays, alerts.criticalWithinDays])]
    .filter((days) => days > 0)
    .sort((a, b) => a - b);
  const threshold = thresholds.find((days) => remainingMs <= days * DAY_MS);
  if (!expired && threshold === undefined) return undefined;
  const stage = expired ? "expired" : `${threshold}d`;
  // A CA takes everything it issued with it: critical from the first stage.
  const critical =
    expired ||
    object.kind === "certificate-authority" ||
    (threshold ?? Infinity) <= alerts.criticalWithinDays;
  const date = object.notAfter.slice(0, 10);
  return {
    fingerprint: `expiry:${object.key}`,
    rule: "expiry",
    stage,
    episode: object.notAfter,
    severity: critical ? "critical" : "warning",
    summary: withDependents(
      object,
      expired ? `expired ${ago(-remainingMs)} (${date})` : `expires in ${span(remainingMs)} (${date})`,
    ),
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
    summary: withDependents(
      object,
      object.revokedAt ? `revoked at ${object.revokedAt}` : `revoked (status ${object.rawStatus})`,
    ),
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
