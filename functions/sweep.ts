import type { SweepRequest } from "../lib/dispatch.js";
import { sweepSources } from "../lib/sweep-source.js";
import { lambdaRuntime, type Runtime, recordSourceMetrics } from "./runtime.js";

interface SqsEvent {
  Records: { messageId: string; body: string }[];
}

interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/**
 * SQS worker: sweeps the one source each message names and records its news in the ledger; the notify function
 * delivers. A vendor failure is a recorded, failed sweep, not an error. Only what could not be done at all (the
 * store unreachable, an unknown source) is reported as a batch item failure, retried, then dead-lettered.
 * A redelivered message sweeps again and records nothing twice.
 */
export function sweepHandler(runtime: () => Promise<Runtime>) {
  return async (event: SqsEvent): Promise<SqsBatchResponse> => {
    const { config, store, http, redact, logger, metrics } = await runtime();
    const batchItemFailures: SqsBatchResponse["batchItemFailures"] = [];
    for (const record of event.Records) {
      try {
        const request = JSON.parse(record.body) as SweepRequest;
        const source = config.sources.find((candidate) => candidate.name === request.source);
        if (!source) throw new Error(`no source named ${JSON.stringify(request.source)} in the config`);
        const [outcome] = await sweepSources(
          { config, store, http, now: new Date(), redact },
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
        });
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
}

export const handler = sweepHandler(lambdaRuntime);
