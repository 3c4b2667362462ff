import { parseDuration } from "../model/time.js";
import {
  executeRedeploy,
  failedWorkers,
  planRedeploy,
  type RedeployPlan,
} from "../sources/aliyun/redeploy.js";
import { AliyunClient } from "../sources/aliyun/client.js";
import { HttpClient, newCallStats } from "../sources/http.js";
import { openStore } from "../store/open.js";
import { loadForCli, UsageError } from "./context.js";
import type { Output } from "./output.js";

export interface RedeployCommandOptions {
  config: string;
  source: string;
  job: string;
  cert?: string;
  at?: string;
  dryRun?: boolean;
}

function describePlan(plan: RedeployPlan): string[] {
  const { params } = plan;
  return [
    `job ${plan.fromJob}: ${plan.failed.length} failed worker(s)`,
    ...plan.failed.map(
      (w) => `  worker ${w.worker} (${w.status}) resource ${w.resourceId}${w.where ? ` ${w.where}` : ""}`,
    ),
    `new job "${params.Name}": JobType ${params.JobType}, CertIds ${params.CertIds}, ` +
      `ResourceIds ${params.ResourceIds}, ContactIds ${params.ContactIds}` +
      (params.ScheduleTime !== undefined
        ? `, ScheduleTime ${params.ScheduleTime} (${new Date(params.ScheduleTime).toISOString()})`
        : ", starting as soon as it is pending"),
  ];
}

/**
 * `certwatch redeploy`: a new CAS deployment job for exactly the failed workers of one job, created and moved to
 * `pending`. The same failed workers are not redeployed twice within `remediation.window`.
 */
export async function redeployCommand(options: RedeployCommandOptions, output: Output): Promise<number> {
  const now = new Date();
  const { config, redact } = await loadForCli(options.config);
  const source = config.sources.find((candidate) => candidate.name === options.source);
  if (!source) throw new UsageError(`--source: no source named ${options.source} in ${options.config}`);
  if (source.type !== "aliyun-deployment-jobs") {
    throw new UsageError(
      `--source: ${source.name} is ${source.type}; redeploy needs an aliyun-deployment-jobs source`,
    );
  }
  if (!/^[1-9]\d*$/.test(options.job))
    throw new UsageError(`--job: ${JSON.stringify(options.job)} is not a job id`);
  if (options.cert !== undefined && !/^[1-9]\d*$/.test(options.cert)) {
    throw new UsageError(`--cert: ${JSON.stringify(options.cert)} is not a certificate id`);
  }
  let at: Date | undefined;
  if (options.at !== undefined) {
    at = new Date(Date.parse(options.at));
    if (!/^\d{4}-\d{2}-\d{2}/.test(options.at) || Number.isNaN(at.getTime())) {
      throw new UsageError(
        `--at: ${JSON.stringify(options.at)} is not an ISO 8601 time such as 2026-12-01T02:00:00Z`,
      );
    }
  }
  const contactIds = source.contactIds ?? [];
  if (contactIds.length === 0) {
    throw new UsageError(
      `${source.name}: set contactIds (CAS contact ids, from ListContact) in ${options.config}; ` +
        "CreateDeploymentJob requires them",
    );
  }
  const windowMs = parseDuration(config.remediation.window) ?? 86_400_000;

  const http = new HttpClient();
  const opened = await openStore(config.store, { dryRun: options.dryRun === true });
  try {
    const client = new AliyunClient(source, {
      http,
      stats: newCallStats(),
      previous: new Map(),
      warn: (message) => output.err(redact(message)),
    });
    const failed = await failedWorkers(client, options.job, config.alerts.failedDeploymentStatuses);
    if (failed.length === 0) {
      output.out(
        `job ${options.job}: no worker in ${config.alerts.failedDeploymentStatuses.join("/")}; nothing to redeploy`,
      );
      return 0;
    }
    if (!options.cert && failed.some((w) => !w.certId)) {
      throw new UsageError(`job ${options.job}: a failed worker names no CertId; pass --cert CERT_ID`);
    }
    const plan = planRedeploy({ source, fromJob: options.job, failed, contactIds, cert: options.cert, at });
    const earlier = await opened.store.getRedeploy(source.name, plan.workerSet, now);
    if (earlier) {
      output.out(
        `job ${options.job}: these ${failed.length} failed worker(s) were already redeployed as job ${earlier.jobId} ` +
          `at ${earlier.at}; nothing created (the window closes ${earlier.until})`,
      );
      return 0;
    }
    if (options.dryRun) {
      output.out(["dry run: nothing created", ...describePlan(plan)].join("\n"));
      return 0;
    }
    let jobId: string;
    try {
      jobId = await executeRedeploy(client, plan);
    } catch (error) {
      output.err(
        redact(`certwatch: CAS refused the redeploy of job ${options.job}: ${(error as Error).message}`),
      );
      return 1;
    }
    await opened.store.putRedeploy({
      source: source.name,
      workerSet: plan.workerSet,
      fromJob: options.job,
      jobId,
      workers: failed.map((w) => w.worker),
      resourceIds: plan.params.ResourceIds.split(","),
      certIds: plan.params.CertIds.split(","),
      at: now.toISOString(),
      until: new Date(now.getTime() + windowMs).toISOString(),
    });
    output.out(
      [
        `redeploy job ${jobId} created for ${failed.length} failed worker(s) and moved to pending`,
        ...describePlan(plan),
      ].join("\n"),
    );
    return 0;
  } finally {
    await opened.close();
    await http.close();
  }
}
