import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import { notifyHandler } from "../functions/notify.js";
import type { Runtime } from "../functions/runtime.js";
import { sweepHandler } from "../functions/sweep.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import { HttpClient } from "../lib/sources/http.js";
import { startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { scmFleet } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";

const SCOPES = 20;
const SOURCES_PER_SCOPE = 10;
const WORKERS = 8;
const QPS = 10;

interface QueuedMessage {
  messageId: string;
  group: string;
  body: string;
}

/**
 * An in-process SQS FIFO queue: messages of one group are handed out one at a time and in order, as SQS does;
 * different groups go out in parallel.
 */
class FifoQueue {
  private readonly waiting: QueuedMessage[] = [];
  private readonly busy = new Set<string>();

  push(message: QueuedMessage): void {
    this.waiting.push(message);
  }

  take(): QueuedMessage | undefined {
    const index = this.waiting.findIndex((message) => !this.busy.has(message.group));
    if (index < 0) return undefined;
    const [message] = this.waiting.splice(index, 1);
    if (!message) return undefined;
    this.busy.add(message.group);
    return message;
  }

  done(message: QueuedMessage): void {
    this.busy.delete(message.group);
  }

  get empty(): boolean {
    return this.waiting.length === 0 && this.busy.size === 0;
  }
}

describe("local fan-out: dispatch → FIFO queue → concurrent sweep workers → notify", () => {
  it(`${SCOPES * SOURCES_PER_SCOPE} sources over ${SCOPES} credential scopes: one sweep per scope at a time, no throttling`, async () => {
    const now = new Date();
    const sims: SimServer[] = [];
    const slack = new SlackReceiverSim();
    const dynamo = await startEmbeddedDynamo();
    const store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
    try {
      const slackUrl = await slack.listen();
      const lines: string[] = [];
      for (let scope = 0; scope < SCOPES; scope++) {
        const credentials = {
          accessKey: `SCOPEKEY${String(scope).padStart(12, "0")}`,
          secretKey: `scope-secret-${scope}`,
        };
        const sim = scmSimulator({
          certificates: scmFleet({ count: 40, now, seed: scope + 1 }),
          credentials,
          qps: QPS,
          latencyMs: 5,
          clock: () => now.getTime(),
        });
        sims.push(sim);
        const url = await sim.listen();
        for (let n = 0; n < SOURCES_PER_SCOPE; n++) {
          lines.push(
            `  - { name: s${scope}-${n}, type: huawei-scm, endpoint: "${url}", qps: ${QPS}, credentials: { accessKey: ${credentials.accessKey}, secretKey: ${credentials.secretKey} } }`,
          );
        }
      }
      const config = await parseConfig(
        `sources:\n${lines.join("\n")}\nreceivers:\n  - { name: ops, type: slack, webhookUrl: "${slackUrl}" }\n`,
        "fanout.yml",
      );
      const logger = new Logger({ serviceName: "fanout", logLevel: "SILENT" });
      const metrics = new Metrics({ namespace: "fanout" });
      const runtimeWith = (http: HttpClient): Runtime => ({
        config,
        store,
        http,
        redact: makeRedactor(secretValues(config)),
        logger,
        metrics,
      });

      const started = Date.now();
      const queue = new FifoQueue();
      let sequence = 0;
      const sqs = {
        send: async (command: SendMessageBatchCommand) => {
          for (const entry of command.input.Entries ?? []) {
            queue.push({
              messageId: `m-${sequence++}`,
              group: entry.MessageGroupId ?? "",
              body: entry.MessageBody ?? "",
            });
          }
          return { Failed: [] };
        },
      };
      const dispatched = await dispatchHandler({
        runtime: async () => runtimeWith(new HttpClient()),
        sqs: sqs as never,
        queueUrl: "q.fifo",
      })({ id: "fanout-run" });

      // Each worker is its own Lambda: its own connections and no limiter shared with the others.
      const failures: string[] = [];
      const inFlight = new Map<string, number>();
      const maxInFlightPerGroup = new Map<string, number>();
      const worker = async () => {
        const http = new HttpClient();
        const sweep = sweepHandler(async () => runtimeWith(http));
        try {
          while (!queue.empty) {
            const message = queue.take();
            if (!message) {
              await new Promise((resolve) => setTimeout(resolve, 2));
              continue;
            }
            const running = (inFlight.get(message.group) ?? 0) + 1;
            inFlight.set(message.group, running);
            maxInFlightPerGroup.set(
              message.group,
              Math.max(running, maxInFlightPerGroup.get(message.group) ?? 0),
            );
            const result = await sweep({ Records: [{ messageId: message.messageId, body: message.body }] });
            inFlight.set(message.group, running - 1);
            failures.push(...result.batchItemFailures.map((failure) => failure.itemIdentifier));
            queue.done(message);
          }
        } finally {
          await http.close();
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, worker));
      const notified = await notifyHandler(async () => runtimeWith(new HttpClient()))();
      const seconds = (Date.now() - started) / 1000;

      const throttled = sims.reduce((sum, sim) => sum + sim.stats.throttled, 0);
      const calls = sims.reduce((sum, sim) => sum + sim.stats.requests, 0);
      const maxPerGroup = Math.max(...maxInFlightPerGroup.values());
      const maxPerSim = Math.max(...sims.map((sim) => sim.stats.maxInFlight));
      console.log(
        `fan-out: ${dispatched.dispatched} sources, ${SCOPES} scopes, ${WORKERS} workers: ${seconds.toFixed(2)} s total, ` +
          `${calls} vendor calls, max concurrency per group ${maxPerGroup}, max requests in flight per account ${maxPerSim}, ` +
          `${throttled} throttling answers, ${notified.deliveries[0]?.sent ?? 0} alerts delivered in ${slack.posts.length} Slack posts`,
      );
      expect(dispatched.dispatched).toBe(SCOPES * SOURCES_PER_SCOPE);
      expect(failures).toEqual([]);
      expect(maxInFlightPerGroup.size).toBe(SCOPES);
      expect(maxPerGroup).toBe(1);
      // The grouping is what keeps each account's budget: sources of one account never overlap.
      expect(maxPerSim).toBe(1);
      expect(throttled).toBe(0);
      for (let scope = 0; scope < SCOPES; scope++) {
        for (let n = 0; n < SOURCES_PER_SCOPE; n++)
          expect((await store.lastSweep(`s${scope}-${n}`))?.ok).toBe(true);
      }
      expect(notified.deliveries[0]?.sent).toBeGreaterThan(0);
    } finally {
      store.close();
      await Promise.all([...sims.map((sim) => sim.close()), slack.close(), dynamo.close()]);
    }
  }, 120_000);
});
