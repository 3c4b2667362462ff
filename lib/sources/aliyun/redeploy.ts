import type { DeploymentJobsSourceConfig } from "../../config/schema.js";
import { sha256Hex } from "../encoding.js";
import { domainList, optionalText, requiredText } from "../fields.js";
import type { AliyunClient } from "./client.js";
import { workerPages } from "./deployment-jobs.js";

const WORKERS = "ListWorkerResource";
const CREATE = "CreateDeploymentJob";
const UPDATE = "UpdateDeploymentJobStatus";
/** Every job certwatch creates is named so; automation never redeploys such a job's failures by itself. */
const NAME_PREFIX = "certwatch redeploy of job ";

/** Whether a stored worker's `job` detail (`<id> (<name>)`) names a job certwatch created. */
export function createdByCertwatch(jobDetail: string | undefined): boolean {
  return jobDetail?.includes(`(${NAME_PREFIX}`) ?? false;
}

/** The name of the job certwatch creates to redeploy workers of `fromJob`. */
export function redeployJobName(fromJob: string, scope: "failed" | "all"): string {
  return `${NAME_PREFIX}${fromJob}${scope === "all" ? ", all workers" : ""}`;
}

export interface JobWorker {
  worker: string;
  status: string;
  resourceId: string;
  /** The resource's cloud: `aliyun`, or another cloud's name (`CloudName`, absent for Alibaba Cloud targets). */
  cloud: string;
  certId?: string;
  domains: string[];
  where: string;
}

/**
 * One new deployment job for workers of one job: its failed workers (`scope` `failed`), or every worker with a
 * renewed certificate (`all`).
 */
export interface RedeployPlan {
  source: string;
  fromJob: string;
  scope: "failed" | "all";
  workers: JobWorker[];
  /** sha256 of the sorted worker ids: the idempotence key. */
  workerSet: string;
  params: {
    Name: string;
    JobType: "user" | "cloud";
    CertIds: string;
    ResourceIds: string;
    ContactIds: string;
    ScheduleTime?: number;
  };
}

export function workerSetOf(workerIds: string[]): string {
  return sha256Hex([...workerIds].sort().join(","));
}

/** The workers of the job (ListWorkerResource, all pages) whose status is one of `statuses`, or all of them. */
export async function workersOf(
  client: AliyunClient,
  jobId: string,
  statuses: readonly string[] | "all",
): Promise<JobWorker[]> {
  const kept: JobWorker[] = [];
  for await (const workers of workerPages(client, jobId)) {
    for (const { raw } of workers) {
      const status = requiredText(raw.Status, WORKERS, "Status");
      if (statuses !== "all" && !statuses.includes(status)) continue;
      const worker = requiredText(raw.Id, WORKERS, "Id");
      const product = optionalText(raw.CloudProduct) ?? "unknown product";
      const instance = optionalText(raw.InstanceId) ?? optionalText(raw.ResourceDomain);
      kept.push({
        worker,
        status,
        resourceId: requiredText(raw.ResourceId, WORKERS, `worker ${worker} ResourceId`),
        cloud: optionalText(raw.CloudName) ?? "aliyun",
        certId: optionalText(raw.CertId),
        domains: domainList(raw.CertDomain, raw.ResourceDomain),
        where: [product, instance].filter(Boolean).join(" "),
      });
    }
  }
  return kept;
}

export function planRedeploy(options: {
  source: DeploymentJobsSourceConfig;
  fromJob: string;
  /** `failed` unless given. */
  scope?: RedeployPlan["scope"];
  workers: JobWorker[];
  cert?: string;
  at?: Date;
}): RedeployPlan {
  const unique = (values: string[]) => [...new Set(values)];
  const scope = options.scope ?? "failed";
  const certIds = options.cert
    ? [options.cert]
    : unique(options.workers.flatMap((w) => (w.certId ? [w.certId] : [])));
  return {
    source: options.source.name,
    fromJob: options.fromJob,
    scope,
    workers: options.workers,
    workerSet: workerSetOf(options.workers.map((w) => w.worker)),
    params: {
      Name: redeployJobName(options.fromJob, scope),
      // A job deploys to one kind of resource: `user` for Alibaba Cloud's own services, `cloud` for other clouds'.
      // The repaired job's workers tell which it was, and CAS checks the type against the resources.
      JobType: options.workers.some((w) => w.cloud !== "aliyun") ? "cloud" : "user",
      CertIds: certIds.join(","),
      ResourceIds: unique(options.workers.map((w) => w.resourceId)).join(","),
      ContactIds: (options.source.contactIds ?? []).join(","),
      // The reference page: a UNIX timestamp in milliseconds (example 1706613560008).
      ...(options.at ? { ScheduleTime: options.at.getTime() } : {}),
    },
  };
}

/**
 * Creates the job; it starts `editing`. Sent once: after a timeout or a 5xx the job may exist, and a second one
 * would deploy twice, so the error says the outcome is unknown instead.
 */
export async function createDeploymentJob(client: AliyunClient, plan: RedeployPlan): Promise<string> {
  const body = await client.rpc(CREATE, { ...plan.params }, { once: true });
  return requiredText(body.JobId, CREATE, "JobId");
}

/** Moves a created job from `editing` to `pending`: CAS runs it then, or at its ScheduleTime. */
export async function scheduleDeploymentJob(client: AliyunClient, jobId: string): Promise<void> {
  await client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
}
