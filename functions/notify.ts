import { randomUUID } from "node:crypto";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { HeartbeatResult } from "../lib/notify/heartbeat.js";
import type { DeliveryReport } from "../lib/notify/deliver.js";
import type { OrphanedReceiver } from "../lib/notify/route.js";
import { remediate } from "../lib/remediate/index.js";
import type { NotifyRequest } from "../lib/run-tracking.js";
import { lambdaRuntime, type Runtime } from "./runtime.js";

export interface NotifyResult {
  runId: string;
  deliveries: DeliveryReport[];
  orphaned: OrphanedReceiver[];
  heartbeat?: HeartbeatResult;
  /** The sweep that had this notify run; absent when the schedule or a person ran it. */
  trigger?: NotifyRequest;
}

/**
 * Invoked by the sweep that completes a run (or has news past the run's deadline), scheduled a few minutes after
 * dispatch as a safety net, and run on demand: watches every source for staleness, redeploys failed workers when
 * `remediation.redeployFailedWorkers` is on, delivers everything pending as one digest per receiver, then pings
 * the heartbeat if every source's last sweep and every delivery went well. Notifications waiting for a receiver
 * the config no longer names are logged as errors, counted, and hold the heartbeat back. Several at once send
 * nothing twice: each notification is claimed before it is sent.
 */
export function notifyHandler(runtime: () => Promise<Runtime>) {
  return async (event?: unknown): Promise<NotifyResult> => {
    const { config, store, http, redact, logger, metrics } = await runtime();
    // Imported here, not with the handler: a cold start reads only what it runs first (see runtime.ts).
    const [
      { orphanAdvice, orphanedReceivers },
      { knownUnits },
      { isNotifyRequest },
      { deliverAll, deliveriesFailed, heartbeatUnless },
      { watchSources },
    ] = await Promise.all([
      import("../lib/notify/route.js"),
      import("../lib/organizations.js"),
      import("../lib/run-tracking.js"),
      import("../lib/sweep.js"),
      import("../lib/watch-unswept.js"),
    ]);
    const trigger = isNotifyRequest(event) ? event : undefined;
    const now = new Date();
    const runId = randomUUID();
    const options = { config, store, now, redact };
    // Organizations as their last discovery recorded them: each member is watched and counts for the heartbeat.
    const units = await knownUnits(config.sources, store);
    const watched = await watchSources(options, units);
    const remediation = await remediate({ ...options, http, sources: units });
    if (remediation.reports.length > 0 || remediation.waiting > 0) {
      logger.info("redeployed failed workers", { jobs: remediation.reports, waiting: remediation.waiting });
    }
    const deliveries = await deliverAll(options, runId, [
      ...watched.flatMap((news) => news.recorded),
      ...remediation.recorded,
    ]);
    const orphaned = await orphanedReceivers(store, config);
    for (const orphan of orphaned) logger.error(orphanAdvice(orphan), { ...orphan });
    let heartbeat: HeartbeatResult | undefined;
    if (config.heartbeatUrl) {
      const last = await Promise.all(units.map((source) => store.lastSweep(source.name)));
      const blind = last.some((record) => !record?.ok);
      const undelivered = deliveriesFailed(deliveries) || orphaned.length > 0;
      heartbeat = await heartbeatUnless(config.heartbeatUrl, blind || undelivered);
    }
    for (const outcome of ["sent", "deferred", "failed"] as const) {
      metrics.addMetric(
        `deliveries_${outcome}`,
        MetricUnit.Count,
        deliveries.reduce((sum, d) => sum + d[outcome], 0),
      );
    }
    metrics.addMetric(
      "orphaned_pending",
      MetricUnit.Count,
      orphaned.reduce((sum, orphan) => sum + orphan.pending, 0),
    );
    metrics.publishStoredMetrics();
    logger.info("notify finished", { runId, trigger, deliveries, orphaned, heartbeat });
    return { runId, deliveries, orphaned, heartbeat, trigger };
  };
}

export const handler = notifyHandler(lambdaRuntime);
