import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DispatchMessage, SweepRequest } from "../lib/dispatch.js";
import type { NotifyTrigger } from "../lib/run-tracking.js";
import { lambdaRuntime, type Runtime, recordSourceMetrics, sqs } from "./runtime.js";

interface SqsEvent {
  Records: { messageId: string; body: string }[];
}

interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface SweepDeps {
  runtime: () => Promise<Runtime>;
  triggerNotify: NotifyTrigger;
  /** The sweep queue, for the follow-up of a sweep in parts. */
  sqs?: Pick<SQSClient, "send">;
  queueUrl?: string;
}

/**
 * SQS worker: sweeps the one source each message names and records its news in the ledger; the notify function
 * delivers. The sweep that completes its run, or that has news past the run's deadline, has notify run at once.
 * A vendor failure is a recorded, failed sweep, not an error. Only what could not be done at all (the store
 * unreachable, an unknown source, notify not reachable) is reported as a batch item failure, retried, then
 * dead-lettered. A redelivered message sweeps again and records nothing twice. A source too big for one run is swept
 * in parts (lib/sweep-parts.ts): each part queues the next, and only the last counts the unit done for its run.
 */
export function sweepHandler(deps: SweepDeps) {
  return async (event: SqsEvent): Promise<SqsBatchResponse> => {
    const { config, store, http, redact, logger, metrics } = await deps.runtime();
    // Imported here, not with the handler: a cold start reads only what it runs first (see runtime.ts).
    const [{ finishSweep }, { resolveUnit }, { sweepSources }, { followUpMessage }] = await Promise.all([
      import("../lib/run-tracking.js"),
      import("../lib/organizations.js"),
      import("../lib/sweep-source.js"),
      import("../lib/dispatch.js"),
    ]);
    /** Counts the unit done for its run, and has notify run when that is due. */
    const finish = async (request: SweepRequest, hasNews: boolean) => {
      const trigger = await finishSweep(store, request, hasNews, new Date());
      if (trigger) {
        await deps.triggerNotify(trigger);
        logger.info("notify triggered", { ...trigger });
      }
    };
    const batchItemFailures: SqsBatchResponse["batchItemFailures"] = [];
    for (const record of event.Records) {
      try {
        const request = JSON.parse(record.body) as SweepRequest;
        const source = resolveUnit(config.sources, request);
        if (!source) throw new Error(`no source named ${JSON.stringify(request.source)} in the config`);
        // A follow-up queued twice, or by a part whose sweep another message then finished (a retried last part, a
        // later run that continued it): nothing is left to sweep, but the unit still counts done for this run.
        if (request.part !== undefined && !(await store.checkpoints.exists(source.name, new Date()))) {
          logger.info("sweep in parts already finished", { runId: request.runId, source: source.name });
          await finish(request, false);
          continue;
        }
        const [outcome] = await sweepSources(
          { config, store, http, now: new Date(), redact, earlierRun: "fail-source" },
          request.runId,
          [source],
        );
        if (!outcome) continue;
        recordSourceMetrics(metrics, outcome.report, outcome.alerts);
        logger.info("source swept", {
          runId: request.runId,
          source: source.name,
          ok: outcome.report.ok,
          error: outcome.report.error,
          objects: outcome.report.objects,
          calls: outcome.report.calls,
          alerts: outcome.alerts.length,
          ...(outcome.report.continues ? { part: outcome.report.continues.part } : {}),
        });
        if (outcome.report.continues) {
          await queueFollowUp(followUpMessage(request, source, outcome.report.continues.part + 1));
          if (outcome.alerts.length > 0) {
            await deps.triggerNotify({ runId: request.runId, reason: "part-news", source: source.name });
          }
          continue;
        }
        await finish(request, outcome.alerts.length > 0);
      } catch (error) {
        logger.error("sweep could not run", {
          messageId: record.messageId,
          error: redact((error as Error).message),
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures };
  };

  async function queueFollowUp(message: DispatchMessage): Promise<void> {
    if (!deps.sqs || !deps.queueUrl)
      throw new Error(
        "CERTWATCH_QUEUE_URL is not set: the sweep cannot queue the next part of a sweep in parts",
      );
    const { SendMessageBatchCommand } = await import("./aws/sqs.js");
    const result = await deps.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: deps.queueUrl,
        Entries: [
          {
            Id: "0",
            MessageBody: JSON.stringify(message.body),
            MessageGroupId: message.groupId,
            MessageDeduplicationId: message.deduplicationId,
          },
        ],
      }),
    );
    if (result.Failed?.length)
      throw new Error("SQS refused the message for the next part of a sweep in parts");
  }
}

/** Invokes the notify function asynchronously (InvocationType Event): the sweep does not wait for deliveries. */
export function invokeNotify(lambda: Pick<LambdaClient, "send">, functionName: string): NotifyTrigger {
  return async (request) => {
    if (!functionName)
      throw new Error("CERTWATCH_NOTIFY_FUNCTION is not set: the sweep cannot have notify run");
    const { InvokeCommand } = await import("./aws/lambda.js");
    await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: "Event",
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
    );
  };
}

let lambdaClient: Promise<LambdaClient> | undefined;

/** The container's Lambda client, made on first use. */
const lambda: Pick<LambdaClient, "send"> = {
  send: async (...args: Parameters<LambdaClient["send"]>) => {
    lambdaClient ??= import("./aws/lambda.js").then(({ LambdaClient }) => new LambdaClient({}));
    return (await lambdaClient).send(...args);
  },
} as Pick<LambdaClient, "send">;

export const handler = sweepHandler({
  runtime: lambdaRuntime,
  sqs,
  queueUrl: process.env.CERTWATCH_QUEUE_URL ?? "",
  triggerNotify: invokeNotify(lambda, process.env.CERTWATCH_NOTIFY_FUNCTION ?? ""),
});
