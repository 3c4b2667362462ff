import type { SourceConfig } from "../../config/schema.js";
import { type Observation, objectKey, type Status } from "../../model/types.js";
import { mapInOrder } from "../concurrency.js";
import { domainList, optionalInstant, optionalText, requiredText } from "../fields.js";
import { totalOf } from "../paging.js";
import type { CollectContext, SourceDriver } from "../types.js";
import { AliyunClient, casRegionOf } from "./client.js";

type Source = Extract<SourceConfig, { type: "aliyun-deployment-jobs" }>;

const JOBS = "ListDeploymentJob";
const WORKERS = "ListWorkerResource";

const WORKER_STATUSES: Record<string, Status> = {
  editing: "pending",
  pending: "pending",
  scheduling: "pending",
  processing: "pending",
  success: "succeeded",
  error: "failed",
  rollback: "rolled-back",
  rollback_success: "rolled-back",
  rollback_error: "failed",
};

/** A job in one of these states changes only when someone acts on it, and then its GmtModified moves. */
const FINISHED_JOB_STATUSES = new Set(["success", "error", "rollback_success", "rollback_error"]);

interface Job {
  id: string;
  name?: string;
  status: string;
  modified?: string;
}

function readJob(raw: Record<string, unknown>, where: string): Job {
  return {
    id: requiredText(raw.Id, JOBS, `${where}.Id`),
    name: optionalText(raw.Name),
    status: requiredText(raw.Status, JOBS, `${where}.Status`),
    modified: optionalInstant(raw.GmtModified, JOBS, `${where}.GmtModified`),
  };
}

function toObservation(
  source: Source,
  job: Job,
  raw: Record<string, unknown>,
  where: string,
  warn: (message: string) => void,
): Observation {
  const workerId = requiredText(raw.Id, WORKERS, `${where}.Id`);
  const rawStatus = requiredText(raw.Status, WORKERS, `${where}.Status`);
  let status = WORKER_STATUSES[rawStatus];
  if (!status) {
    warn(
      `${WORKERS}: ${where}.Status of worker ${workerId} is ${JSON.stringify(raw.Status)}, not a documented status`,
    );
    status = "unknown";
  }
  const product = optionalText(raw.CloudProduct) ?? "unknown product";
  const listener = optionalText(raw.ListenerId);
  const port = optionalText(raw.Port);
  const resource = [
    optionalText(raw.InstanceId) ?? optionalText(raw.ResourceId) ?? "unknown resource",
    listener ? `listener ${listener}` : undefined,
    port ? `port ${port}` : undefined,
  ]
    .filter(Boolean)
    .join(" ");
  const certificate = optionalText(raw.CertId) ?? optionalText(raw.OrderId) ?? "unknown";
  const certificateName = optionalText(raw.CertName) ?? `certificate ${certificate}`;
  // CloudName is left out for Alibaba Cloud's own services; other clouds' resources carry it.
  const cloud = optionalText(raw.CloudName);
  const nativeId = `${job.id}/${workerId}`;
  return {
    key: objectKey(source.name, "deployment-task", nativeId),
    kind: "deployment-task",
    nativeId,
    name: `${certificateName} on ${product} ${resource}`,
    domains: domainList(raw.CertDomain, raw.ResourceDomain),
    status,
    rawStatus,
    updatedAt: optionalInstant(raw.GmtModified, WORKERS, `${where}.GmtModified`),
    details: {
      jobId: job.id,
      job: job.name ? `${job.id} (${job.name})` : job.id,
      ...(job.modified ? { jobModified: job.modified } : {}),
      worker: workerId,
      resource,
      certificate,
      ...(optionalText(raw.ResourceId) ? { resourceId: String(raw.ResourceId) } : {}),
      ...(cloud && cloud !== "aliyun" ? { cloud } : {}),
    },
    labels: {
      ...source.labels,
      source: source.name,
      provider: "aliyun",
      product,
      region: optionalText(raw.RegionId) ?? optionalText(raw.CloudRegion) ?? casRegionOf(source),
      account: optionalText(raw.UserId),
    },
  };
}

/** Every worker of one job with its place for error messages, a page at a time (`ListWorkerResource`). */
export function workerPages(
  client: AliyunClient,
  jobId: string,
): AsyncGenerator<{ raw: Record<string, unknown>; where: string }[]> {
  return client.pages({
    call: WORKERS,
    params: { JobId: jobId },
    where: `job ${jobId}`,
    concurrency: 1,
    total: "Total",
    list: "Data",
    read: (raw, where) => ({ raw, where }),
    idOf: (worker) => String(worker.raw.Id),
  });
}

/**
 * Alibaba CAS deployment jobs: `ListDeploymentJob` by page, then `ListWorkerResource` per job. A finished job whose
 * GmtModified has not moved since the last good sweep is not listed again; its stored workers stand.
 */
export const aliyunDeploymentJobs: SourceDriver<"aliyun-deployment-jobs"> = {
  type: "aliyun-deployment-jobs",

  async *collect(source, context: CollectContext) {
    const client = new AliyunClient(source, context);
    const knownByJob = new Map<string, Observation[]>();
    for (const observation of context.previous.values()) {
      const jobId = observation.details?.jobId;
      if (observation.kind !== "deployment-task" || !jobId) continue;
      const known = knownByJob.get(jobId);
      if (known) known.push(observation);
      else knownByJob.set(jobId, [observation]);
    }

    const workersOf = async (job: Job): Promise<Observation[]> => {
      const known = knownByJob.get(job.id);
      const unchanged = known?.every((o) => job.modified && o.details?.jobModified === job.modified);
      if (FINISHED_JOB_STATUSES.has(job.status) && known && unchanged) return known;
      const observations: Observation[] = [];
      for await (const workers of workerPages(client, job.id)) {
        for (const { raw, where } of workers)
          observations.push(toObservation(source, job, raw, where, context.warn));
      }
      return observations;
    };

    const jobPages = client.pages({
      call: JOBS,
      total: "Total",
      list: "Data",
      read: readJob,
      idOf: (job) => job.id,
    });
    for await (const jobs of jobPages) {
      for await (const workers of mapInOrder(jobs, client.limiter.concurrency, workersOf)) yield* workers;
    }
  },

  async verify(source, context) {
    const client = new AliyunClient(source, context);
    const body = await client.rpc(JOBS, { CurrentPage: 1, ShowSize: 1 });
    return `credentials accepted (${client.credentialsUsed}); ${totalOf(body, JOBS, "Total", "")} deployment jobs visible`;
  },
};
