import { randomUUID } from "node:crypto";
import type { Config, DeploymentJobsSourceConfig } from "./config/schema.js";
import { parseDuration } from "./model/time.js";
import { type Ack, type Alert, type Observation, objectKey, type StoredObject } from "./model/types.js";
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
import type { LedgerEntry } from "./store/ledger.js";
import type { RedeployRecord } from "./store/redeploys.js";
import type { Store } from "./store/store.js";

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
  /** Applied to every vendor error before it is stored, announced or printed. */
  redact: (text: string) => string;
  /** The source's stored objects, when the caller has loaded them already. */
  stored?: Map<string, StoredObject>;
}

export interface RedeployRequest {
  source: DeploymentJobsSourceConfig;
  jobId: string;
  cert?: string;
  at?: Date;
  dryRun?: boolean;
  /** Ignore an earlier redeploy of the same resources still inside its window. */
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
  notice?: Alert;
}

type RedeployOutcome =
  /** Every failed worker was fixed by a later deployment. */
  | { outcome: "nothing-left" }
  /** A failed worker names no certificate and none was given. */
  | { outcome: "needs-cert"; plan: RedeployPlan }
  /** A redeploy of some of the same resources is inside its window. */
  | { outcome: "held"; plan: RedeployPlan; earlier: RedeployRecord }
  | { outcome: "planned"; plan: RedeployPlan }
  /** The job exists: `record.state` says whether it was scheduled (`pending`) or is still `editing`. */
  | { outcome: "created"; plan: RedeployPlan; record: RedeployRecord }
  /** An earlier redeploy's job, left `editing`, was scheduled (or tried again). */
  | { outcome: "scheduled"; plan: RedeployPlan; record: RedeployRecord }
  /** CAS refused, or gave no clear answer (`record.state` is `unknown`: the job may exist). */
  | { outcome: "refused"; plan: RedeployPlan; record: RedeployRecord };

export type RedeployResult = Outcome & RedeployOutcome;

/** A claim this old that recorded no outcome belongs to a run that stopped midway. */
const CLAIM_LEASE_MS = 15 * 60_000;

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
      jobName: plan.params.Name,
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

/** Only a clear 4xx from CAS says the job was not created; anything else (5xx, timeout, a 2xx without a JobId) may have. */
function clearRefusal(error: unknown): boolean {
  if (!(error instanceof ApiError) || error.detail.outcomeUnknown) return false;
  const status = error.detail.status ?? 0;
  return status >= 400 && status < 500;
}

/**
 * Moves a created job from `editing` to `pending`; on failure it stays `editing` with the reason, so that the
 * next attempt schedules it. The write is conditional on the record still being `editing`: a run that scheduled
 * it meanwhile is not overwritten.
 */
async function schedule(
  client: AliyunClient,
  record: RedeployRecord,
  context: RedeployContext,
): Promise<RedeployRecord> {
  let next: RedeployRecord;
  try {
    await scheduleDeploymentJob(client, record.jobId as string);
    const { error: _scheduled, ...rest } = record;
    next = { ...rest, state: "pending" };
  } catch (error) {
    next = { ...record, state: "editing", error: context.redact(failureText(error)) };
  }
  await context.store.redeploys.update(next, "editing");
  return next;
}

/**
 * One redeploy of one job's failed workers: list them, leave out those a later deployment fixed, hold those whose
 * resources an open redeploy covers, plan, claim the worker set, create the job (sent once), schedule it, record
 * how it went and announce it. A failed listing throws.
 */
export async function redeployJob(
  request: RedeployRequest,
  context: RedeployContext,
): Promise<RedeployResult> {
  const { source, jobId, trigger } = request;
  const { config, store, now, redact } = context;
  const client = new AliyunClient(source, {
    http: context.http,
    stats: newCallStats(),
    previous: new Map(),
    warn: context.warn,
    redact: context.redact,
  });
  const failed = await failedWorkers(client, jobId, config.alerts.failedDeploymentStatuses);
  const stored = context.stored ?? (await store.loadObjects(source.name));
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
  if (open.length === 0) return { ...base, outcome: "nothing-left" };

  const plan = planRedeploy({ source, fromJob: jobId, failed: open, cert: request.cert, at: request.at });
  // Recording a notice twice is a no-op (the ledger id is the same), so every path that finds an attempt may do it.
  const announce = async (record: RedeployRecord): Promise<Pick<Outcome, "notice" | "recorded">> => {
    if (request.dryRun) return { recorded: [] };
    const notice = redeployNotice(record, plan, source);
    return { notice, recorded: await recordNews([notice], context) };
  };

  const resources = new Set(plan.params.ResourceIds.split(","));
  const earlier = request.force
    ? undefined
    : (await store.redeploys.list(source.name)).find(
        (record) =>
          Date.parse(record.until) > now.getTime() && record.resourceIds.some((id) => resources.has(id)),
      );
  if (earlier) {
    if (request.dryRun) return { ...base, outcome: "held", plan, earlier };
    if (earlier.state === "editing" && earlier.jobId) {
      // Created before but never scheduled: finish that job rather than create another.
      const record = await schedule(client, earlier, context);
      return { ...base, outcome: "scheduled", plan, record, ...(await announce(record)) };
    }
    if (earlier.state === "claimed" && now.getTime() - Date.parse(earlier.at) > CLAIM_LEASE_MS) {
      const record: RedeployRecord = {
        ...earlier,
        state: "unknown",
        error: "the run that claimed these workers stopped before recording whether CAS created the job",
      };
      if (await store.redeploys.update(record, "claimed")) {
        return { ...base, outcome: "held", plan, earlier: record, ...(await announce(record)) };
      }
    }
    // A run that stopped after CAS answered but before it recorded the notice: announce it now.
    const unannounced = earlier.state !== "claimed" && earlier.fromJob === jobId;
    return { ...base, outcome: "held", plan, earlier, ...(unannounced ? await announce(earlier) : {}) };
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
    resourceIds: [...resources],
    certIds: plan.params.CertIds.split(",").filter(Boolean),
    at: now.toISOString(),
    until: new Date(now.getTime() + windowMs).toISOString(),
  };
  if (!(await store.redeploys.claim(record, now, request.force))) {
    // Another run claimed these workers between our read and our write.
    const winner = (await store.redeploys.list(source.name)).find((r) => r.workerSet === plan.workerSet);
    return { ...base, outcome: "held", plan, earlier: winner ?? record };
  }

  const refuse = async (error: unknown, state: "refused" | "unknown"): Promise<RedeployResult> => {
    record = { ...record, state, error: redact(typeof error === "string" ? error : failureText(error)) };
    // A refusal someone met at the terminal is theirs to fix and retry; automation does not ask again. A job that
    // may exist holds the workers either way.
    if (state === "refused" && trigger === "manual") {
      await store.redeploys.release(record);
      return { ...base, outcome: "refused", plan, record };
    }
    await store.redeploys.update(record, "claimed");
    return { ...base, outcome: "refused", plan, record, ...(await announce(record)) };
  };
  if (missingCert) {
    const worker = open.find((candidate) => !candidate.certId)?.worker;
    return refuse(`worker ${worker} names no CertId; run certwatch redeploy with --cert`, "refused");
  }
  let newJob: string;
  try {
    newJob = await createDeploymentJob(client, plan);
  } catch (error) {
    return refuse(error, clearRefusal(error) ? "refused" : "unknown");
  }
  try {
    const created: RedeployRecord = { ...record, state: "editing", jobId: newJob };
    await store.redeploys.update(created, "claimed");
    record = await schedule(client, created, context);
    return { ...base, outcome: "created", plan, record, ...(await announce(record)) };
  } catch (error) {
    throw new Error(
      `CAS created job ${newJob} for the failed workers of job ${jobId}, but certwatch could not record or ` +
        `announce it: ${redact(failureText(error))}. Check job ${newJob} in the CAS console`,
      { cause: error },
    );
  }
}

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
        workers: "plan" in result ? result.plan.failed.length : 0,
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
