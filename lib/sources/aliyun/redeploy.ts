import type { SourceConfig } from "../../config/schema.js";
import { sha256Hex } from "../encoding.js";
import { optionalText, requiredText } from "../fields.js";
import { listOf, numberedPages, totalOf } from "../paging.js";
import { AliyunClient } from "./client.js";

type Source = Extract<SourceConfig, { type: "aliyun-deployment-jobs" }>;

const WORKERS = "ListWorkerResource";
const CREATE = "CreateDeploymentJob";
const UPDATE = "UpdateDeploymentJobStatus";
const PAGE_SIZE = 50;

export interface FailedWorker {
  worker: string;
  status: string;
  resourceId: string;
  certId?: string;
  where: string;
}

/** One new deployment job for exactly the failed workers of one job. */
export interface RedeployPlan {
  source: string;
  fromJob: string;
  failed: FailedWorker[];
  /** sha256 of the sorted failed worker ids: the idempotence key. */
  workerSet: string;
  params: {
    Name: string;
    JobType: "user";
    CertIds: string;
    ResourceIds: string;
    ContactIds: string;
    ScheduleTime?: number;
  };
}

export function workerSetOf(workerIds: string[]): string {
  return sha256Hex([...workerIds].sort().join(","));
}

/** Every worker of the job (ListWorkerResource, all pages), keeping those in one of `failedStatuses`. */
export async function failedWorkers(
  client: AliyunClient,
  jobId: string,
  failedStatuses: string[],
): Promise<FailedWorker[]> {
  const failed: FailedWorker[] = [];
  const pages = numberedPages({
    call: WORKERS,
    where: `job ${jobId}`,
    pageSize: PAGE_SIZE,
    concurrency: 1,
    idOf: (raw: Record<string, unknown>) => String(raw.Id),
    fetch: async (page) => {
      const body = await client.rpc(WORKERS, { JobId: jobId, CurrentPage: page, ShowSize: PAGE_SIZE });
      const where = `job ${jobId} page ${page}: `;
      return {
        total: totalOf(body, WORKERS, "Total", where),
        items: listOf(body, WORKERS, "Data", where) as Record<string, unknown>[],
      };
    },
  });
  for await (const workers of pages) {
    for (const raw of workers) {
      const status = requiredText(raw.Status, WORKERS, "Status");
      if (!failedStatuses.includes(status)) continue;
      const worker = requiredText(raw.Id, WORKERS, "Id");
      const product = optionalText(raw.CloudProduct) ?? "unknown product";
      const instance = optionalText(raw.InstanceId) ?? optionalText(raw.ResourceDomain);
      failed.push({
        worker,
        status,
        resourceId: requiredText(raw.ResourceId, WORKERS, `worker ${worker} ResourceId`),
        certId: optionalText(raw.CertId),
        where: [product, instance].filter(Boolean).join(" "),
      });
    }
  }
  return failed;
}

export function planRedeploy(options: {
  source: Source;
  fromJob: string;
  failed: FailedWorker[];
  contactIds: number[];
  cert?: string;
  at?: Date;
}): RedeployPlan {
  const unique = (values: string[]) => [...new Set(values)];
  const certIds = options.cert
    ? [options.cert]
    : unique(options.failed.flatMap((w) => (w.certId ? [w.certId] : [])));
  return {
    source: options.source.name,
    fromJob: options.fromJob,
    failed: options.failed,
    workerSet: workerSetOf(options.failed.map((w) => w.worker)),
    params: {
      Name: `certwatch redeploy of job ${options.fromJob}`,
      JobType: "user",
      CertIds: certIds.join(","),
      ResourceIds: unique(options.failed.map((w) => w.resourceId)).join(","),
      ContactIds: options.contactIds.join(","),
      // The reference page: a UNIX timestamp in milliseconds (example 1706613560008).
      ...(options.at ? { ScheduleTime: options.at.getTime() } : {}),
    },
  };
}

/** Creates the job (it starts `editing`) and schedules it (`pending`); returns the new job id. */
export async function executeRedeploy(client: AliyunClient, plan: RedeployPlan): Promise<string> {
  const body = await client.rpc(CREATE, { ...plan.params });
  const jobId = requiredText(body.JobId, CREATE, "JobId");
  await client.rpc(UPDATE, { JobId: jobId, Status: "pending" });
  return jobId;
}
