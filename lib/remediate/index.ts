import type { Config, DeploymentJobsSourceConfig } from "../config/schema.js";
import type { Ack, Alert, StoredObject } from "../model/types.js";
import { createdByCertwatch } from "../sources/aliyun/redeploy.js";
import type { LedgerEntry } from "../store/ledger.js";
import type { RedeployRecord } from "../store/redeploys.js";
import { failureText, type RedeployContext, type RedeployResult, redeployJob } from "./redeploy-job.js";

/**
 * Acting on failed deployment workers: `notice.ts` announces a redeploy, `redeploy-job.ts` makes one (by hand with
 * `certwatch redeploy`, or here), and `remediate` below is the automation after a run's sweeps, which redeploys
 * failed workers only.
 */

export { redeployNotice } from "./notice.js";
export {
  type FixedWorker,
  type RedeployContext,
  type RedeployRequest,
  type RedeployResult,
  redeployJob,
} from "./redeploy-job.js";

/** One job the automation acted on (or would have, in a dry run). */
export interface RemediationReport {
  source: string;
  fromJob: string;
  outcome: RedeployResult["outcome"] | "failed";
  workers: number;
  jobId?: string;
  error?: string;
  warnings?: string[];
}

export interface Remediation {
  reports: RemediationReport[];
  /** Announcements, for the run's summary and dry-run previews. */
  alerts: Alert[];
  recorded: LedgerEntry[];
  /** Jobs with failed workers left for the next run by `maxJobsPerRun`. */
  waiting: number;
}

/**
 * Jobs whose failed workers were announced (an open `failed` mark) and not acknowledged, by their oldest failure;
 * never a job certwatch created, nor one an automatic redeploy already tried (it did not fix it: a person decides),
 * nor one a redeploy inside its window covers. A job left `editing`, or claimed by a run that stopped, stays in:
 * the attempt finishes it.
 */
function jobsToRedeploy(
  objects: Iterable<StoredObject>,
  redeploys: RedeployRecord[],
  acks: ReadonlyMap<string, Ack>,
  now: Date,
): Map<string, number> {
  const settled = new Set(
    redeploys
      .filter((r) => r.state !== "editing" && r.state !== "claimed")
      .filter((r) => r.trigger === "automatic" || Date.parse(r.until) > now.getTime())
      .map((r) => r.fromJob),
  );
  const oldestFailure = new Map<string, number>();
  for (const { observation, alerts } of objects) {
    const mark = alerts.deployment;
    const jobId = observation.details?.jobId;
    if (observation.kind !== "deployment-task" || mark?.stage !== "failed" || !jobId) continue;
    if (settled.has(jobId) || createdByCertwatch(observation.details?.job)) continue;
    const ack = acks.get(`deployment:${observation.key}`);
    if (ack?.stage === mark.stage && ack.episode === mark.episode) continue;
    const at = Date.parse(observation.updatedAt ?? mark.at);
    oldestFailure.set(jobId, Math.min(at, oldestFailure.get(jobId) ?? at));
  }
  return oldestFailure;
}

/**
 * `remediation.redeployFailedWorkers`: after the sweeps, redeploy the failed workers of every job with open
 * failed-worker alerts, oldest failure first, at most `maxJobsPerRun` attempts a run. Each attempt is announced.
 * It never throws: one job's trouble (a listing that fails, a store error) is reported and the run goes on to
 * deliver.
 */
export async function remediate(
  options: Omit<RedeployContext, "warn" | "redact" | "stored"> & {
    dryRun?: boolean;
    sources: Config["sources"];
    redact?: (text: string) => string;
  },
): Promise<Remediation> {
  const { config, store, now } = options;
  const remediation: Remediation = { reports: [], alerts: [], recorded: [], waiting: 0 };
  if (!config.remediation.redeployFailedWorkers) return remediation;
  const redact = options.redact ?? ((text: string) => text);
  const candidates: {
    source: DeploymentJobsSourceConfig;
    jobId: string;
    since: number;
    stored: Map<string, StoredObject>;
  }[] = [];
  let acks: ReadonlyMap<string, Ack> | undefined;
  for (const source of options.sources) {
    // An organization's discovery unit and a retiring member hold no jobs of their own to repair.
    if (source.type !== "aliyun-deployment-jobs" || source.discovery || source.leftOrganization !== undefined)
      continue;
    try {
      acks ??= await store.acks(now);
      const [stored, redeploys] = await Promise.all([
        store.loadObjects(source.name),
        store.redeploys.list(source.name),
      ]);
      for (const [jobId, since] of jobsToRedeploy(stored.values(), redeploys, acks, now)) {
        candidates.push({ source, jobId, since, stored });
      }
    } catch (error) {
      remediation.reports.push({
        source: source.name,
        fromJob: "?",
        outcome: "failed",
        workers: 0,
        error: redact(`could not read the store: ${failureText(error)}`),
      });
    }
  }
  candidates.sort((a, b) => a.since - b.since);

  let attempts = 0;
  for (const [index, { source, jobId, stored }] of candidates.entries()) {
    if (attempts >= config.remediation.maxJobsPerRun) {
      remediation.waiting = candidates.length - index;
      break;
    }
    const warnings: string[] = [];
    const report: RemediationReport = { source: source.name, fromJob: jobId, outcome: "failed", workers: 0 };
    try {
      const result = await redeployJob(
        { source, jobId, trigger: "automatic", dryRun: options.dryRun },
        { ...options, redact, stored, warn: (message) => warnings.push(redact(message)) },
      );
      if (result.outcome === "held" || result.outcome === "nothing-left") continue;
      attempts++;
      const record = "record" in result ? result.record : undefined;
      Object.assign(report, {
        outcome: result.outcome,
        workers: "plan" in result ? result.plan.workers.length : 0,
        ...(record?.jobId ? { jobId: record.jobId } : {}),
        ...(record?.error ? { error: record.error } : {}),
      });
      if (result.notice) remediation.alerts.push(result.notice);
      remediation.recorded.push(...result.recorded);
    } catch (error) {
      report.error = redact(failureText(error));
    }
    if (warnings.length > 0) report.warnings = warnings;
    remediation.reports.push(report);
  }
  return remediation;
}
