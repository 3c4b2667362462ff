import { randomUUID } from "node:crypto";
import type { Config, DeploymentJobsSourceConfig } from "../config/schema.js";
import { parseDuration } from "../model/time.js";
import { type Alert, type Observation, objectKey, type StoredObject } from "../model/types.js";
import { recordNews } from "../notify/route.js";
import { replacementFinder } from "../rules/replacement.js";
import { AliyunClient } from "../sources/aliyun/client.js";
import {
  createDeploymentJob,
  type JobWorker,
  planRedeploy,
  type RedeployPlan,
  scheduleDeploymentJob,
  workersOf,
} from "../sources/aliyun/redeploy.js";
import { ApiError, type HttpClient, newCallStats } from "../sources/http.js";
import type { LedgerEntry } from "../store/ledger.js";
import type { RedeployRecord } from "../store/redeploys.js";
import type { Store } from "../store/store.js";
import { redeployNotice } from "./notice.js";

/**
 * One redeploy of workers of one job (`certwatch redeploy`, or automation after a sweep): its failed workers, or
 * with `allWorkers` every worker with a renewed certificate. The worker set is claimed in the store before CAS is
 * asked, so that no resource is redeployed twice within `remediation.window`, and the attempt is announced in the
 * next digest.
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
  /** Required with `allWorkers`. */
  cert?: string;
  /** Every worker of the job, whatever its status, rather than its failed workers: a renewed certificate's push. */
  allWorkers?: boolean;
  at?: Date;
  dryRun?: boolean;
  /** Ignore an earlier redeploy of the same resources still inside its window. */
  force?: boolean;
  trigger: RedeployRecord["trigger"];
}

/** A failed worker left out because a later worker deployed to its resource successfully. */
export interface FixedWorker {
  worker: JobWorker;
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
  /** Every failed worker was fixed by a later deployment (or, for all workers, the job has none). */
  | { outcome: "nothing-left" }
  /** A worker names no certificate and none was given (always so for all workers without `cert`). */
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

export function failureText(error: unknown): string {
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
 * One redeploy of one job's failed workers (or all its workers): list them, leave out failed workers a later
 * deployment fixed, hold those whose resources an open redeploy covers, plan, claim the worker set, create the job
 * (sent once), schedule it, record how it went and announce it. A failed listing throws.
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
  const scope = request.allWorkers ? "all" : "failed";
  const listed = await workersOf(
    client,
    jobId,
    request.allWorkers ? "all" : config.alerts.failedDeploymentStatuses,
  );
  const fixed: FixedWorker[] = [];
  const open: JobWorker[] = [];
  if (request.allWorkers) {
    // A renewed certificate goes to every resource, including those a later deployment fixed with the old one.
    open.push(...listed);
  } else {
    const stored = context.stored ?? (await store.loadObjects(source.name));
    const replacementOf = replacementFinder(stored);
    for (const worker of listed) {
      const known = stored.get(objectKey(source.name, "deployment-task", `${jobId}/${worker.worker}`));
      const fixedBy = known && replacementOf(known.observation);
      if (fixedBy) fixed.push({ worker, fixedBy });
      else open.push(worker);
    }
  }
  const base = { fromJob: jobId, fixed, recorded: [] as LedgerEntry[] };
  if (open.length === 0) return { ...base, outcome: "nothing-left" };

  const plan = planRedeploy({
    source,
    fromJob: jobId,
    scope,
    workers: open,
    cert: request.cert,
    at: request.at,
  });
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
  const missingCert = !request.cert && (request.allWorkers || open.some((worker) => !worker.certId));
  if (missingCert && trigger === "manual") return { ...base, outcome: "needs-cert", plan };
  if (request.dryRun) return { ...base, outcome: "planned", plan };

  const windowMs = parseDuration(config.remediation.window) ?? 86_400_000;
  let record: RedeployRecord = {
    source: source.name,
    workerSet: plan.workerSet,
    ...(request.allWorkers ? { scope: "all" as const } : {}),
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
    if (request.allWorkers)
      return refuse("a redeploy of all workers needs the renewed certificate (--cert)", "refused");
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
      `CAS created job ${newJob} for the ${request.allWorkers ? "" : "failed "}workers of job ${jobId}, but certwatch could not record or ` +
        `announce it: ${redact(failureText(error))}. Check job ${newJob} in the CAS console`,
      { cause: error },
    );
  }
}
