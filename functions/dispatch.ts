import { randomUUID } from "node:crypto";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { lambdaRuntime, type Runtime, sqs } from "./runtime.js";

/** SQS takes at most ten messages a batch. */
const BATCH = 10;

export interface DispatchDeps {
  runtime: () => Promise<Runtime>;
  sqs: Pick<SQSClient, "send">;
  queueUrl: string;
}

/**
 * Scheduled: records the run (how many sources it waits for), then queues one FIFO message per unit (each member account of an
 * organization, discovered here, is its own), grouped by the budget it spends, for the sweep workers.
 */
export function dispatchHandler(deps: DispatchDeps) {
  return async (event: { id?: string; time?: string }): Promise<{ runId: string; dispatched: number }> => {
    if (!deps.queueUrl)
      throw new Error("CERTWATCH_QUEUE_URL is not set: the dispatcher has nowhere to send sources");
    const { config, store, http, redact, logger, metrics } = await deps.runtime();
    // Imported here, not with the handler: a cold start reads only what it runs first (see runtime.ts).
    const [{ SendMessageBatchCommand }, { dispatchMessages }, { startRun }] = await Promise.all([
      import("./aws/sqs.js"),
      import("../lib/dispatch.js"),
      import("../lib/run-tracking.js"),
    ]);
    const runId = event.id ?? randomUUID();
    const now = new Date();
    const messages = await dispatchMessages(config, runId, now, { http, redact, store });
    // The run's deadline counts from the scheduled instant, as notifySchedule does, not from this start.
    await startRun(store, runId, messages.length, event.time ? new Date(event.time) : now);
    for (let i = 0; i < messages.length; i += BATCH) {
      const batch = messages.slice(i, i + BATCH);
      const result = await deps.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: deps.queueUrl,
          Entries: batch.map((message, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify(message.body),
            MessageGroupId: message.groupId,
            MessageDeduplicationId: message.deduplicationId,
          })),
        }),
      );
      // Throwing makes EventBridge retry the dispatch; deduplication ids keep the messages already sent single.
      if (result.Failed?.length)
        throw new Error(`SQS refused ${result.Failed.length} of ${batch.length} messages`);
    }
    logger.info("dispatched", { runId, sources: messages.length });
    metrics.addMetric("sourcesDispatched", MetricUnit.Count, messages.length);
    metrics.publishStoredMetrics();
    return { runId, dispatched: messages.length };
  };
}

export const handler = dispatchHandler({
  runtime: lambdaRuntime,
  sqs,
  queueUrl: process.env.CERTWATCH_QUEUE_URL ?? "",
});
