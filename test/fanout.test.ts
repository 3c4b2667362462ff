import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import { type NotifyResult, notifyHandler } from "../functions/notify.js";
import type { Runtime } from "../functions/runtime.js";
import { sweepHandler } from "../functions/sweep.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import type { NotifyRequest } from "../lib/run-tracking.js";
import { HttpClient } from "../lib/sources/http.js";
import { TableClient } from "../lib/store/client.js";
import { startEmbeddedDynamo } from "../lib/store/embedded.js";
import type { LedgerEntry } from "../lib/store/ledger.js";
import { Store } from "../lib/store/store.js";
import { keys } from "../lib/store/table.js";
import { scmFleet } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import type { SimServer } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { FifoQueue } from "./fifo-queue.js";

const SCOPES = 20;
const SOURCES_PER_SCOPE = 10;
const WORKERS = 8;
const QPS = 10;

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
      const dispatched = await dispatchHandler({
        runtime: async () => runtimeWith(new HttpClient()),
        sqs: queue.sqs as never,
        queueUrl: "q.fifo",
      })({ id: "fanout-run" });

      // Each worker is its own Lambda: its own connections and no limiter shared with the others.
      const failures: string[] = [];
      const inFlight = new Map<string, number>();
      const maxInFlightPerGroup = new Map<string, number>();
      const asked: NotifyRequest[] = [];
      const worker = async () => {
        const http = new HttpClient();
        const sweep = sweepHandler({
          runtime: async () => runtimeWith(http),
          triggerNotify: async (request) => {
            asked.push(request);
          },
        });
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
      // The worker whose sweep completed the run asked for notify; the Lambda service runs it at once.
      expect(asked).toEqual([expect.objectContaining({ runId: "fanout-run", reason: "run-complete" })]);
      const notified = await notifyHandler(async () => runtimeWith(new HttpClient()))(asked[0]);
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

const MINUTE = 60_000;
/** The sweep queue's VisibilityTimeout (serverless.yml): a message that failed is handed out again this late. */
const VISIBILITY_TIMEOUT_MINUTES = 60;
/** The default notifySchedule runs ten minutes after dispatchSchedule, once a day. */
const SCHEDULED_NOTIFY_MINUTES = 10;
const NEXT_DAYS_NOTIFY_MINUTES = 24 * 60 + SCHEDULED_NOTIFY_MINUTES;

describe("fan-out timing on a simulated clock: late news goes out within minutes, not the next day", () => {
  it("a slow source and a retried message each have notify run; minutes from record to delivery", async () => {
    const dispatchedAt = new Date("2026-03-02T01:00:00Z");
    // Only Date is simulated (and keeps ticking), so that I/O and timers run for real.
    vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true, now: dispatchedAt });
    const at = (minutes: number) => vi.setSystemTime(dispatchedAt.getTime() + minutes * MINUTE);
    const minutesAfterDispatch = (iso: string) => (Date.parse(iso) - dispatchedAt.getTime()) / MINUTE;
    const credentials = { accessKey: "TIMINGKEY00000000001", secretKey: "timing-secret" };
    const sim = scmSimulator({
      certificates: scmFleet({ count: 40, now: dispatchedAt, seed: 3 }),
      credentials,
      qps: 1000,
    });
    const slack = new SlackReceiverSim();
    const dynamo = await startEmbeddedDynamo();
    const store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    // The retried message's first worker cannot read the table (here: one that does not exist).
    const unreachable = new Store({ table: "certwatch-missing", endpoint: dynamo.endpoint, historyDays: 90 });
    const ledgerTable = new TableClient({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    const http = new HttpClient();
    try {
      await store.ensureTable();
      const [scmUrl, slackUrl] = await Promise.all([sim.listen(), slack.listen()]);
      const onTime = ["on-time-0", "on-time-1", "on-time-2"];
      const sources = [...onTime, "slow", "retried"].map(
        (name) =>
          `  - { name: ${name}, type: huawei-scm, endpoint: "${scmUrl}", credentials: { accessKey: ${credentials.accessKey}, secretKey: ${credentials.secretKey} } }`,
      );
      const config = await parseConfig(
        `sources:\n${sources.join("\n")}\nreceivers:\n  - { name: ops, type: slack, webhookUrl: "${slackUrl}" }\n`,
        "timing.yml",
      );
      const runtimeOn = (onStore: Store): Runtime => ({
        config,
        store: onStore,
        http,
        redact: makeRedactor(secretValues(config)),
        logger: new Logger({ serviceName: "timing", logLevel: "SILENT" }),
        metrics: new Metrics({ namespace: "timing" }),
      });
      const notify = notifyHandler(async () => runtimeOn(store));
      const invocations: { minute: number; request: NotifyRequest; result: NotifyResult }[] = [];
      const workerOn = (onStore: Store) =>
        sweepHandler({
          runtime: async () => runtimeOn(onStore),
          // What the Lambda service does with an asynchronous invocation: runs notify within moments.
          triggerNotify: async (request) => {
            const minute = minutesAfterDispatch(new Date().toISOString());
            invocations.push({ minute, request, result: await notify(request) });
          },
        });
      const worker = workerOn(store);

      const bodies = new Map<string, string>();
      const sqs = {
        send: async (command: SendMessageBatchCommand) => {
          for (const entry of command.input.Entries ?? [])
            bodies.set(JSON.parse(entry.MessageBody ?? "").source, entry.MessageBody ?? "");
          return { Failed: [] };
        },
      };
      const messageOf = (source: string) => ({
        Records: [{ messageId: `m-${source}`, body: bodies.get(source) ?? "" }],
      });
      await dispatchHandler({ runtime: async () => runtimeOn(store), sqs: sqs as never, queueUrl: "q.fifo" })(
        {
          id: "timing-run",
        },
      );

      at(1);
      expect((await workerOn(unreachable)(messageOf("retried"))).batchItemFailures).toHaveLength(1);
      await Promise.all(onTime.map((source) => worker(messageOf(source))));
      expect(invocations).toEqual([]);

      at(SCHEDULED_NOTIFY_MINUTES);
      const scheduled = await notify({ "detail-type": "Scheduled Event", source: "aws.events" });
      expect(scheduled.trigger).toBeUndefined();

      // Slow: its sweep ends after the others' and past the run's deadline.
      at(24);
      await worker(messageOf("slow"));
      // Retried: SQS hands the message out again once its visibility timeout is over; it completes the run.
      at(1 + VISIBILITY_TIMEOUT_MINUTES);
      await worker(messageOf("retried"));

      expect(invocations.map(({ request }) => request)).toEqual([
        { runId: "timing-run", reason: "late-news", source: "slow" },
        { runId: "timing-run", reason: "run-complete", source: "retried" },
      ]);
      const entries: LedgerEntry[] = [];
      for await (const item of ledgerTable.queryPrefix(keys.receiver("ops"), ""))
        entries.push(item as unknown as LedgerEntry);
      expect(entries.filter((entry) => entry.state !== "sent")).toEqual([]);
      const timing = new Map<string, { recorded: number; delivered: number }>();
      for (const entry of entries as (LedgerEntry & { finishedAt: string })[]) {
        const source = entry.alert.object.labels.source;
        const seen = timing.get(source);
        const recorded = minutesAfterDispatch(entry.createdAt);
        const delivered = minutesAfterDispatch(entry.finishedAt);
        timing.set(source, {
          recorded: Math.min(recorded, seen?.recorded ?? recorded),
          delivered: Math.max(delivered, seen?.delivered ?? delivered),
        });
      }
      const waited = (source: string) => {
        const { recorded, delivered } = timing.get(source) ?? { recorded: NaN, delivered: NaN };
        return delivered - recorded;
      };
      const line = (source: string, how: string) => {
        const { recorded, delivered } = timing.get(source) ?? { recorded: NaN, delivered: NaN };
        return `${source}: recorded +${recorded.toFixed(1)}, delivered +${delivered.toFixed(1)} ${how}: ${waited(source).toFixed(1)} min`;
      };
      const nextDay = (source: string) =>
        (NEXT_DAYS_NOTIFY_MINUTES - (timing.get(source)?.recorded ?? NaN)).toFixed(0);
      console.log(
        [
          `fan-out timing, simulated minutes after dispatch (run deadline and scheduled notify +${SCHEDULED_NOTIFY_MINUTES}; ${entries.length} notifications):`,
          ...onTime.map((source) => line(source, "by the scheduled notify")),
          line("slow", "by the notify its sweep asked for (late news)"),
          line(
            "retried",
            `(received again after the ${VISIBILITY_TIMEOUT_MINUTES} min visibility timeout) by the notify it asked for (run complete)`,
          ),
          `on the schedule alone, slow and retried would wait for the next day's notify at +${NEXT_DAYS_NOTIFY_MINUTES}: ` +
            `${nextDay("slow")} and ${nextDay("retried")} min`,
        ].join("\n  "),
      );
      expect([...timing.keys()].sort()).toEqual([...onTime, "retried", "slow"].sort());
      for (const source of onTime) expect(waited(source)).toBeLessThanOrEqual(SCHEDULED_NOTIFY_MINUTES);
      expect(waited("slow")).toBeLessThan(5);
      expect(waited("retried")).toBeLessThan(5);
      expect(invocations.map(({ minute }) => Math.floor(minute))).toEqual([
        24,
        1 + VISIBILITY_TIMEOUT_MINUTES,
      ]);
      for (const { result } of invocations) expect(result.deliveries[0]?.sent).toBeGreaterThan(0);
    } finally {
      vi.useRealTimers();
      store.close();
      unreachable.close();
      ledgerTable.close();
      await http.close();
      await Promise.all([sim.close(), slack.close(), dynamo.close()]);
    }
  }, 120_000);
});
