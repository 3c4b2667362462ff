import { randomUUID } from "node:crypto";
import type { Config, DeploymentJobsSourceConfig } from "./config/schema.js";
import { parseDuration } from "./model/time.js";
import { type Alert, type Observation, objectKey, type StoredObject } from "./model/types.js";
import { recordNews } from "./notify/route.js";
import { replacementFinder } from "./rules/replacement.js";
import { AliyunClient } from "./sources/aliyun/client.js";
import {
  createDeploymentJob,
  createdByCertwatch,
  type FailedWorker,
  failedWorkers,
  planRedeploy,
  type RedeployPlan,
  scheduleDeploymentJob,
} from "./sources/aliyun/redeploy.js";
import { ApiError, type HttpClient, newCallStats } from "./sources/http.js";
import type { LedgerEntry, RedeployRecord, Store } from "./store/store.js";

/**
 * Acting on failed deployment workers: one redeploy (`certwatch redeploy`, or automation after a sweep), claimed in
 * the store before CAS is asked so that nothing is redeployed twice within `remediation.window`, and announced in
 * the next digest.
 */

export interface RedeployContext {
  config: Config;
  store: Store;
  http: HttpClient;
  now: Date;
  warn: (message: string) => void;
}

export interface RedeployRequest {
  source: DeploymentJobsSourceConfig;
  jobId: string;
  cert?: string;
  at?: Date;
  dryRun?: boolean;
  /** Ignore an earlier redeploy of the same workers still inside its window. */
  force?: boolean;
  trigger: RedeployRecord["trigger"];
}

/** A failed worker left out because a later worker deployed to its resource successfully. */
export interface FixedWorker {
  worker: FailedWorker;
  fixedBy: Observation;
}

interface Outcome {
  fromJob: string;
  fixed: FixedWorker[];
  /** Ledger entries of the announcement, for delivery in the same run. */
  recorded: LedgerEntry[];
}

export type RedeployResult = Outcome &
  (
    | { outcome: "nothing-failed" }
    /** A failed worker names no certificate and none was given. */
    | { outcome: "needs-cert"; plan: RedeployPlan }
    /** The same workers were redeployed within the window. */
    | { outcome: "held"; plan: RedeployPlan; earlier: RedeployRecord }
    | { outcome: "planned"; plan: RedeployPlan }
    /** The job exists: `record.state` says whether it was scheduled (`pending`) or is still `editing`. */
    | { outcome: "created"; plan: RedeployPlan; record: RedeployRecord; notice?: Alert }
    /** CAS refused, or gave no clear answer (`record.state` is `unknown`: the job may exist). */
    | { outcome: "refused"; plan: RedeployPlan; record: RedeployRecord; notice?: Alert }
  );

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

/** The announcement of one redeploy attempt, delivered like an alert so that it is sent once and never lost. */
export function redeployNotice(
  record: RedeployRecord,
  plan: RedeployPlan,
  source: DeploymentJobsSourceConfig,
): Alert {
  const created = record.state === "pending" || record.state === "editing";
  const workers = plural(record.workers.length, "failed worker");
  const how = record.trigger === "automatic" ? "automatically" : "with certwatch redeploy";
  const summary = created
    ? `redeploy job ${record.jobId} created for ${workers} of job ${record.fromJob} (${how})` +
      (record.state === "editing" ? `; not scheduled yet: ${record.error}` : "")
    : record.state === "unknown"
      ? `redeploy of ${workers} of job ${record.fromJob} (${how}) got no clear answer from CAS; a job may exist: ${record.error}`
      : `redeploy of ${workers} of job ${record.fromJob} (${how}) refused: ${record.error}`;
  const products = [...new Set(plan.failed.map((worker) => worker.where.split(" ")[0]))];
  const nativeId = record.jobId ?? record.fromJob;
  const object: Observation = {
    key: objectKey(source.name, "deployment-job", nativeId),
    kind: "deployment-job",
    nativeId,
    name: created ? `redeploy job ${record.jobId}` : `redeploy of job ${record.fromJob}`,
    domains: [...new Set(plan.failed.flatMap((worker) => worker.domains))],
    status: created ? "pending" : "failed",
    rawStatus: record.state,
    details: {
      ...(record.jobId ? { job: `${record.jobId} (${plan.params.Name})`, jobId: record.jobId } : {}),
      fromJob: record.fromJob,
      workers: String(record.workers.length),
      trigger: record.trigger,
      resource: plan.failed.map((worker) => worker.where || worker.resourceId).join(", "),
      certificate: record.certIds.join(", "),
      ...(record.error ? { error: record.error } : {}),
    },
    labels: {
      ...source.labels,
      source: source.name,
      provider: "aliyun",
      region: source.region,
      ...(products.length === 1 ? { product: products[0] } : {}),
    },
  };
  return {
    fingerprint: `redeploy:${object.key}`,
    rule: "redeploy",
    stage: record.state,
    episode: record.at,
    severity: created && record.state === "pending" ? "info" : "warning",
    summary,
    object,
    transition: "new",
    generation: 0,
  };
}

function failureText(error: unknown): string {
  return error instanceof ApiError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
}

/** Moves a created job to `pending`; on failure it stays `editing`, recorded so that the next attempt schedules it. */
async function schedule(client: AliyunClient, record: RedeployRecord): Promise<RedeployRecord> {
  try {
    await scheduleDeploymentJob(client, record.jobId as string);
    const { error: _none, ...scheduled } = record;
    return { ...scheduled, state: "pending" };
  } catch (error) {
    return { ...record, state: "editing", error: failureText(error) };
  }
}

/**
 * One redeploy of one job's failed workers: list them, leave out those a later deployment fixed, plan, claim the
 * worker set, create the job, schedule it, record how it went and announce it. A failed listing throws.
 */
export async function redeployJob(
  request: RedeployRequest,
  context: RedeployContext,
): Promise<RedeployResult> {
  const { source, jobId, trigger } = request;
  const { config, store, now } = context;
  const client = new AliyunClient(source, {
    http: context.http,
    stats: newCallStats(),
    previous: new Map(),
    warn: context.warn,
  });
  const failed = await failedWorkers(client, jobId, config.alerts.failedDeploymentStatuses);
  const stored = await store.loadObjects(source.name);
  const replacementOf = replacementFinder(stored.values());
  const fixed: FixedWorker[] = [];
  const open: FailedWorker[] = [];
  for (const worker of failed) {
    const known = stored.get(objectKey(source.name, "deployment-task", `${jobId}/${worker.worker}`));
    const fixedBy = known && replacementOf(known.observation);
    if (fixedBy) fixed.push({ worker, fixedBy });
    else open.push(worker);
  }
  const base = { fromJob: jobId, fixed, recorded: [] as LedgerEntry[] };
  if (open.length === 0) return { ...base, outcome: "nothing-failed" };

  const plan = planRedeploy({ source, fromJob: jobId, failed: open, cert: request.cert, at: request.at });
  const announce = async (record: RedeployRecord) => {
    const notice = redeployNotice(record, plan, source);
    return { notice, recorded: request.dryRun ? [] : await recordNews([notice], context) };
  };

  const earlier = await store.getRedeploy(source.name, plan.workerSet, now);
  if (earlier && !request.force) {
    if (earlier.state !== "editing" || !earlier.jobId || request.dryRun) {
      return { ...base, outcome: "held", plan, earlier };
    }
    // Created before but never scheduled: finish that job rather than create another.
    const record = await schedule(client, earlier);
    await store.updateRedeploy(record);
    return { ...base, outcome: "created", plan, record };
  }
  const missingCert = !request.cert && open.some((worker) => !worker.certId);
  if (missingCert && trigger === "manual") return { ...base, outcome: "needs-cert", plan };
  if (request.dryRun) return { ...base, outcome: "planned", plan };

  const windowMs = parseDuration(config.remediation.window) ?? 86_400_000;
  let record: RedeployRecord = {
    source: source.name,
    workerSet: plan.workerSet,
    state: "claimed",
    trigger,
    claimId: randomUUID(),
    fromJob: jobId,
    workers: open.map((worker) => worker.worker),
    resourceIds: plan.params.ResourceIds.split(","),
    certIds: plan.params.CertIds.split(",").filter(Boolean),
    at: now.toISOString(),
    until: new Date(now.getTime() + windowMs).toISOString(),
  };
  if (!(await store.claimRedeploy(record, now, request.force))) {
    // Someone else claimed these workers between our read and our write.
    const winner = await store.getRedeploy(source.name, plan.workerSet, now);
    return { ...base, outcome: "held", plan, earlier: winner ?? record };
  }

  const refuse = async (error: string, state: "refused" | "unknown"): Promise<RedeployResult> => {
    record = { ...record, state, error };
    // A refusal someone met at the terminal is theirs to fix and retry; automation waits out the window instead
    // of asking again every run. A job that may exist holds the workers either way.
    if (state === "refused" && trigger === "manual") {
      await store.releaseRedeploy(record);
      return { ...base, outcome: "refused", plan, record };
    }
    await store.updateRedeploy(record);
    return { ...base, outcome: "refused", plan, record, ...(await announce(record)) };
  };
  if (missingCert) {
    return refuse(
      `worker ${open.find((worker) => !worker.certId)?.worker} names no CertId; run certwatch redeploy with --cert`,
      "refused",
    );
  }
  try {
    record = { ...record, state: "editing", jobId: await createDeploymentJob(client, plan) };
  } catch (error) {
    return refuse(
      failureText(error),
      error instanceof ApiError && error.detail.outcomeUnknown ? "unknown" : "refused",
    );
  }
  await store.updateRedeploy(record);
  record = await schedule(client, record);
  await store.updateRedeploy(record);
  return { ...base, outcome: "created", plan, record, ...(await announce(record)) };
}

/** One job the automation acted on (or would have, in a dry run). */
export interface RemediationReport {
  source: string;
  fromJob: string;
  outcome: RedeployResult["outcome"] | "failed";
  workers: number;
  jobId?: string;
  error?: string;
}

export interface Remediation {
  reports: RemediationReport[];
  /** Announcements, for the run's summary and dry-run previews. */
  alerts: Alert[];
  recorded: LedgerEntry[];
  /** Jobs with failed workers left for the next run by `maxJobsPerRun`. */
  waiting: number;
}

/** Jobs whose failed workers were announced (an open `failed` mark), not acknowledged, and not certwatch's own. */
function jobsToRedeploy(
  objects: Iterable<StoredObject>,
  acked: (fingerprint: string, mark: { stage: string; episode: string }) => boolean,
) {
  const oldestFailure = new Map<string, number>();
  for (const { observation, alerts } of objects) {
    const mark = alerts.deployment;
    const jobId = observation.details?.jobId;
    if (observation.kind !== "deployment-task" || mark?.stage !== "failed" || !jobId) continue;
    if (createdByCertwatch(observation.details?.jobName)) continue;
    if (acked(`deployment:${observation.key}`, mark)) continue;
    const at = Date.parse(observation.updatedAt ?? mark.at);
    oldestFailure.set(jobId, Math.min(at, oldestFailure.get(jobId) ?? at));
  }
  return oldestFailure;
}

/**
 * `remediation.redeployFailedWorkers`: after the sweeps, redeploy the failed workers of every job that has open
 * failed-worker alerts, oldest failure first, at most `maxJobsPerRun` jobs. Each attempt is announced; one job's
 * failure (a listing that fails, say) is reported and does not stop the others.
 */
export async function remediate(
  options: Omit<RedeployContext, "warn"> & {
    dryRun?: boolean;
    sources: Config["sources"];
    redact?: (text: string) => string;
  },
): Promise<Remediation> {
  const { config, store, now } = options;
  const remediation: Remediation = { reports: [], alerts: [], recorded: [], waiting: 0 };
  if (!config.remediation.redeployFailedWorkers) return remediation;
  const redact = options.redact ?? ((text: string) => text);
  const acks = await store.acks(now);
  const acked = (fingerprint: string, mark: { stage: string; episode: string }) => {
    const ack = acks.get(fingerprint);
    return ack?.stage === mark.stage && ack.episode === mark.episode;
  };
  const candidates: { source: DeploymentJobsSourceConfig; jobId: string; since: number }[] = [];
  for (const source of options.sources) {
    if (source.type !== "aliyun-deployment-jobs") continue;
    for (const [jobId, since] of jobsToRedeploy((await store.loadObjects(source.name)).values(), acked)) {
      candidates.push({ source, jobId, since });
    }
  }
  candidates.sort((a, b) => a.since - b.since);

  let created = 0;
  for (const [index, { source, jobId }] of candidates.entries()) {
    if (created >= config.remediation.maxJobsPerRun) {
      remediation.waiting = candidates.length - index;
      break;
    }
    try {
      const result = await redeployJob(
        { source, jobId, trigger: "automatic", dryRun: options.dryRun },
        { ...options, warn: () => undefined },
      );
      if (result.outcome === "held" || result.outcome === "nothing-failed") continue;
      created++;
      const record = "record" in result ? result.record : undefined;
      remediation.reports.push({
        source: source.name,
        fromJob: jobId,
        outcome: result.outcome,
        workers: "plan" in result ? result.plan.failed.length : 0,
        jobId: record?.jobId,
        error: record?.error && redact(record.error),
      });
      if ("notice" in result && result.notice) remediation.alerts.push(result.notice);
      remediation.recorded.push(...result.recorded);
    } catch (error) {
      remediation.reports.push({
        source: source.name,
        fromJob: jobId,
        outcome: "failed",
        workers: 0,
        error: redact(failureText(error)),
      });
    }
  }
  return remediation;
}
