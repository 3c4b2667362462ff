import { type FixedWorker, type RedeployResult, redeployJob } from "../remediate/redeploy-job.js";
import type { RedeployPlan } from "../sources/aliyun/redeploy.js";
import { ApiError, HttpClient, IncompleteListingError, MalformedResponseError } from "../sources/http.js";
import type { RedeployRecord } from "../store/redeploys.js";
import { openStore } from "../store/open.js";
import { loadForCli, parseNow, UsageError } from "./context.js";
import type { Output } from "./output.js";

export interface RedeployCommandOptions {
  config: string;
  source: string;
  job: string;
  cert?: string;
  allWorkers?: boolean;
  at?: string;
  dryRun?: boolean;
  force?: boolean;
}

/** How far in the past `--at` may be: the clocks of this machine and of CAS may differ by that much. */
const CLOCK_SKEW_MS = 60_000;

function describePlan(plan: RedeployPlan): string[] {
  const { params } = plan;
  return [
    plan.scope === "all"
      ? `job ${plan.fromJob}: all ${plan.workers.length} worker(s), with certificate ${params.CertIds}`
      : `job ${plan.fromJob}: ${plan.workers.length} failed worker(s)`,
    ...plan.workers.map(
      (w) => `  worker ${w.worker} (${w.status}) resource ${w.resourceId}${w.where ? ` ${w.where}` : ""}`,
    ),
    `new job "${params.Name}": JobType ${params.JobType}, CertIds ${params.CertIds}, ` +
      `ResourceIds ${params.ResourceIds}, ContactIds ${params.ContactIds}` +
      (params.ScheduleTime !== undefined
        ? `, ScheduleTime ${params.ScheduleTime} (${new Date(params.ScheduleTime).toISOString()})`
        : ", starting as soon as it is pending"),
  ];
}

function describeFixed(fixed: FixedWorker[]): string[] {
  return fixed.map(
    ({ worker, fixedBy }) =>
      `  worker ${worker.worker} (${worker.status}) left out: resource ${worker.resourceId} was deployed ` +
      `successfully since by job ${fixedBy.details?.jobId}, worker ${fixedBy.details?.worker}`,
  );
}

function describeEarlier(fromJob: string, earlier: RedeployRecord): string {
  const workers =
    earlier.scope === "all"
      ? `${earlier.workers.length} worker(s) of job ${earlier.fromJob} with certificate ${earlier.certIds.join(",")}`
      : `${earlier.workers.length} failed worker(s) of job ${earlier.fromJob}`;
  const held = `nothing created; the window closes ${earlier.until}, or run again with --force`;
  switch (earlier.state) {
    case "pending":
    case "editing":
      return `job ${fromJob}: these resources were already redeployed as job ${earlier.jobId} (${workers}) at ${earlier.at}; ${held}`;
    case "claimed":
      return `job ${fromJob}: a redeploy of these resources (${workers}) started at ${earlier.at} and has not recorded its job yet; ${held}`;
    default:
      return `job ${fromJob}: the redeploy of these resources (${workers}) at ${earlier.at} ended ${earlier.state}: ${earlier.error}; ${held}`;
  }
}

/** The job a result names, and whether it is scheduled. */
function describeJob(record: RedeployRecord): string {
  return record.state === "pending"
    ? "and moved to pending"
    : `but is still editing: ${record.error}; run the same command again to schedule it`;
}

/** What the terminal shows for each outcome, and the exit status: 1 when CAS refused or may have half-done it. */
function report(result: RedeployResult, allWorkers: boolean, output: Output): number {
  const fixed = describeFixed(result.fixed);
  switch (result.outcome) {
    case "nothing-left":
      if (result.fixed.length === 0) {
        output.out(`job ${result.fromJob} has no ${allWorkers ? "" : "failed "}workers; nothing to redeploy`);
        return 0;
      }
      output.out(
        [
          `job ${result.fromJob}: every failed worker was fixed by a later deployment; nothing to redeploy`,
          ...fixed,
        ].join("\n"),
      );
      return 0;
    case "needs-cert":
      throw new UsageError(
        result.plan.scope === "all"
          ? `job ${result.fromJob}: --all-workers needs --cert CERT_ID, the renewed certificate to deploy`
          : `job ${result.fromJob}: a failed worker names no CertId; pass --cert CERT_ID`,
      );
    case "held":
      output.out([describeEarlier(result.fromJob, result.earlier), ...fixed].join("\n"));
      return 0;
    case "planned":
      output.out(["dry run: nothing created", ...describePlan(result.plan), ...fixed].join("\n"));
      return 0;
    case "created":
    case "scheduled": {
      const { record } = result;
      const verb = result.outcome === "created" ? "created" : "(created earlier)";
      const workers =
        record.scope === "all"
          ? `${record.workers.length} worker(s) of job ${record.fromJob} with certificate ${record.certIds.join(",")}`
          : `${record.workers.length} failed worker(s)`;
      output.out(
        [
          `redeploy job ${record.jobId} ${verb} for ${workers} ${describeJob(record)}`,
          ...describePlan(result.plan),
          ...fixed,
        ].join("\n"),
      );
      return record.state === "pending" ? 0 : 1;
    }
    case "refused": {
      const { record } = result;
      output.err(
        record.state === "unknown"
          ? `certwatch: the redeploy of job ${result.fromJob} got no clear answer: ${record.error}. Look for a job ` +
              `"${result.plan.params.Name}" in the CAS console before trying again (with --force)`
          : `certwatch: CAS refused the redeploy of job ${result.fromJob}: ${record.error}`,
      );
      return 1;
    }
  }
}

/**
 * `certwatch redeploy`: a new CAS deployment job for exactly the failed workers of one job (with `--all-workers`,
 * for every worker, with the renewed certificate `--cert`), created and moved to `pending`. The same resources are
 * not redeployed twice within `remediation.window`; the attempt is announced in the next digest.
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
  if (options.allWorkers && options.cert === undefined) {
    throw new UsageError(
      "--all-workers needs --cert CERT_ID: the renewed certificate's CertId, which the new job deploys to every " +
        `worker of job ${options.job}`,
    );
  }
  const at = options.at === undefined ? undefined : parseNow(options.at, "--at");
  if (at && at.getTime() < now.getTime() - CLOCK_SKEW_MS) {
    throw new UsageError(
      `--at: ${options.at} is in the past (it is now ${now.toISOString()}); give a later time, or leave --at out ` +
        "to start the job at once",
    );
  }
  if (!source.contactIds?.length) {
    throw new UsageError(
      `${source.name}: set contactIds (CAS contact ids, from ListContact) in ${options.config}; ` +
        "CreateDeploymentJob requires them",
    );
  }

  const http = new HttpClient();
  const opened = await openStore(config.store, { dryRun: options.dryRun === true, redact });
  try {
    let result: RedeployResult;
    try {
      result = await redeployJob(
        {
          source,
          jobId: options.job,
          cert: options.cert,
          allWorkers: options.allWorkers === true,
          at,
          dryRun: options.dryRun,
          force: options.force,
          trigger: "manual",
        },
        { config, store: opened.store, http, now, redact, warn: (message) => output.err(redact(message)) },
      );
    } catch (error) {
      const listing = [ApiError, MalformedResponseError, IncompleteListingError];
      if (!listing.some((type) => error instanceof type)) throw error;
      output.err(
        redact(`certwatch: could not list the workers of job ${options.job}: ${(error as Error).message}`),
      );
      return 1;
    }
    return report(result, options.allWorkers === true, output);
  } finally {
    await opened.close();
    await http.close();
  }
}
