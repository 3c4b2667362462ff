import type { DeploymentJobsSourceConfig } from "../config/schema.js";
import { type Alert, type Observation, objectKey } from "../model/types.js";
import { type RedeployPlan, redeployJobName } from "../sources/aliyun/redeploy.js";
import type { RedeployRecord } from "../store/redeploys.js";

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;

/**
 * What a redeploy record covers, as its announcement says it: "2 failed workers of job 8004", or for an
 * all-workers redeploy "4 workers of job 8004 with certificate 12000009".
 */
function coverage(record: RedeployRecord): string {
  return record.scope === "all"
    ? `${plural(record.workers.length, "worker")} of job ${record.fromJob} with certificate ${record.certIds.join(", ")}`
    : `${plural(record.workers.length, "failed worker")} of job ${record.fromJob}`;
}

/** The announcement of one redeploy attempt, delivered like an alert so that it is sent once and never lost. */
export function redeployNotice(
  record: RedeployRecord,
  plan: RedeployPlan,
  source: DeploymentJobsSourceConfig,
): Alert {
  const created = record.state === "pending" || record.state === "editing";
  const workers = coverage(record);
  const how = record.trigger === "automatic" ? "automatically" : "with certwatch redeploy";
  const summary = created
    ? `redeploy job ${record.jobId} created for ${workers} (${how})` +
      (record.state === "editing" ? `; not scheduled yet: ${record.error}` : "")
    : record.state === "unknown"
      ? `redeploy of ${workers} (${how}) got no clear answer from CAS; a job may exist: ${record.error}`
      : `redeploy of ${workers} (${how}) refused: ${record.error}`;
  // The workers the record covers: an earlier attempt announced late may cover fewer than the current plan.
  const covered = plan.workers.filter((worker) => record.workers.includes(worker.worker));
  const described = covered.length > 0 ? covered : plan.workers;
  const products = [...new Set(described.map((worker) => worker.where.split(" ")[0]))];
  const nativeId = record.jobId ?? record.fromJob;
  const jobName = redeployJobName(record.fromJob, record.scope ?? "failed");
  const object: Observation = {
    key: objectKey(source.name, "deployment-job", nativeId),
    kind: "deployment-job",
    nativeId,
    name: created ? `redeploy job ${record.jobId}` : `redeploy of job ${record.fromJob}`,
    domains: [...new Set(described.flatMap((worker) => worker.domains))],
    status: created ? "pending" : "failed",
    rawStatus: record.state,
    details: {
      ...(record.jobId ? { job: `${record.jobId} (${jobName})`, jobId: record.jobId } : {}),
      jobName,
      fromJob: record.fromJob,
      workers: String(record.workers.length),
      ...(record.scope === "all" ? { scope: "all" } : {}),
      trigger: record.trigger,
      resource: described.map((worker) => worker.where || worker.resourceId).join(", "),
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
