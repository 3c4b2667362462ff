import type { AlertsConfig } from "../config/schema.js";
import { HOUR_MS } from "../model/time.js";
import type { Observation, RuleResult } from "../model/types.js";

const IN_PROGRESS = new Set(["editing", "pending", "scheduling", "processing"]);

function where(object: Observation): string {
  const { details, labels } = object;
  return `${labels.product ?? "cloud product"} ${details?.resource ?? ""}`.trim();
}

/**
 * The deployment rule, per worker: a failed status (configurable) is critical, a rollback warns, and a worker
 * that has sat in an in-progress state for longer than `stuckAfterMs` warns. Each worker's change of state
 * (its GmtModified) starts a new episode, so a retried worker that fails again is news again.
 */
export function deploymentAlert(
  object: Observation,
  now: Date,
  alerts: AlertsConfig,
  stuckAfterMs: number,
): RuleResult | undefined {
  if (object.kind !== "deployment-task") return undefined;
  const base = {
    fingerprint: `deployment:${object.key}`,
    rule: "deployment",
    episode: object.updatedAt ?? object.rawStatus,
    object,
  };
  const job = object.details?.job ?? "?";
  if (alerts.failedDeploymentStatuses.includes(object.rawStatus)) {
    return {
      ...base,
      stage: "failed",
      severity: "critical",
      summary: `deployment to ${where(object)} failed (${object.rawStatus}, job ${job})`,
    };
  }
  if (object.rawStatus === "rollback") {
    return {
      ...base,
      stage: "rolled-back",
      severity: "warning",
      summary: `deployment to ${where(object)} was rolled back (job ${job})`,
    };
  }
  if (IN_PROGRESS.has(object.rawStatus) && object.updatedAt) {
    const waitedMs = now.getTime() - Date.parse(object.updatedAt);
    if (waitedMs > stuckAfterMs) {
      return {
        ...base,
        stage: "stuck",
        severity: "warning",
        summary: `deployment to ${where(object)} stuck in ${object.rawStatus} for ${Math.floor(waitedMs / HOUR_MS)} hours (job ${job})`,
      };
    }
  }
  return undefined;
}
