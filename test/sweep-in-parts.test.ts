import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { dispatchHandler } from "../functions/dispatch.js";
import type { Runtime } from "../functions/runtime.js";
import { sweepHandler } from "../functions/sweep.js";
import { parseConfig } from "../lib/config/load.js";
import { makeRedactor, secretValues } from "../lib/config/secrets.js";
import type { SweepRequest } from "../lib/dispatch.js";
import type { NotifyRequest } from "../lib/run-tracking.js";
import type { RunSummary } from "../lib/sweep.js";
import type { SweepProgress } from "../lib/sweep-source.js";
import type { Observation } from "../lib/model/types.js";
import type { ScmCertificate } from "../sim/fleet.js";
import { FifoQueue } from "./fifo-queue.js";
import { KEYS, Rig } from "./harness.js";
import { scmCertificate } from "./fixtures.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

/** 600 certificates, one in ten expiring within the alert window. */
function fleet(count: number): ScmCertificate[] {
  return Array.from({ length: count }, (_, n) =>
    scmCertificate(n, n % 10 === 0 ? 5 + (n % 20) : 200 + (n % 300), NOW),
  );
}

/** Sweep options that interrupt the run once the part has listed `objects` (as Ctrl-C on the CLI does). */
function interruptedAfter(objects: number) {
  const interrupt = new AbortController();
  return {
    interrupt: interrupt.signal,
    onProgress: (_source: string, progress: SweepProgress) => {
      if (progress.objects >= objects) interrupt.abort();
    },
  };
}

const news = (summary: RunSummary) => summary.alerts.map((alert) => `${alert.transition} ${alert.name}`);

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

describe("a sweep in parts on the CLI", () => {
  it("interrupted twice, completes in three parts: nothing missing or gone before the last, each alert once", async () => {
    const certificates = fleet(600);
    rig = await new Rig(certificates).start();
    const first = await rig.sweep(NOW);
    expect(first.sources[0]).toMatchObject({ ok: true, objects: 600 });
    const announced = news(first).length;
    expect(announced).toBe(60);

    // Five leave from the middle of the listing, three arrive that expire soon.
    const removed = certificates.splice(300, 5);
    certificates.push(
      scmCertificate(1001, 3, NOW),
      scmCertificate(1002, 4, NOW),
      scmCertificate(1003, 6, NOW),
    );

    const part1 = await rig.sweep(at(HOUR), interruptedAfter(150));
    expect(part1.sources[0]).toMatchObject({ continues: { part: 1 }, missing: 0, gone: 0 });
    expect(part1.sources[0]?.warnings.join(" ")).toContain("swept in parts: part 1 stopped");
    expect(part1.exitCode).toBe(1);
    const afterPart1 = await rig.store.loadObjects("hw-test");
    expect([...afterPart1.values()].filter((object) => object.missingSince)).toEqual([]);
    for (const gone of removed) expect(afterPart1.has(`hw-test/certificate/${gone.id}`)).toBe(true);
    expect(news(part1).filter((line) => line.startsWith("resolved"))).toEqual([]);

    const part2 = await rig.sweep(at(2 * HOUR), interruptedAfter(150));
    expect(part2.sources[0]).toMatchObject({ continues: { part: 2 }, missing: 0, gone: 0 });
    expect(news(part2).filter((line) => line.startsWith("resolved"))).toEqual([]);

    const last = await rig.sweep(at(3 * HOUR));
    expect(last.sources[0]?.continues).toBeUndefined();
    // SCM's ShowCertificate answers 404 for each: gone at once, and only now.
    expect(last.sources[0]).toMatchObject({ ok: true, objects: 598, gone: 5, missing: 0 });
    expect(last.exitCode).toBe(0);
    const resolved = news(last).filter((line) => line.startsWith("resolved"));
    const removedAlerting = removed.filter((certificate) => Number(certificate.id.slice(3)) % 10 === 0);
    expect(resolved).toEqual(removedAlerting.map((certificate) => `resolved ${certificate.name}`));
    // The three arrivals are announced once, by whichever part listed them.
    const arrivals = [part1, part2, last].flatMap(news).filter((line) => /cert-0100[123]/.test(line));
    expect(arrivals.sort()).toEqual(["new cert-01001", "new cert-01002", "new cert-01003"]);
    expect(await rig.store.checkpoints.load("hw-test")).toBeUndefined();
    // The last part's snapshot is the whole inventory, arrivals seen by earlier parts included.
    let latest: Observation[] = [];
    for await (const snapshot of rig.store.snapshots("hw-test")) latest = snapshot.observations;
    expect(latest).toHaveLength(598);

    // A quiet sweep afterwards has nothing to say.
    expect(news(await rig.sweep(at(4 * HOUR)))).toEqual([]);
  }, 60_000);

  it("a saved place the store cannot read fails the sweep, keeping the place; the next sweep continues from it", async () => {
    rig = await new Rig(fleet(600)).start();
    await rig.sweep(NOW);
    const part1 = await rig.sweep(at(HOUR), interruptedAfter(150));
    expect(part1.sources[0]?.continues).toEqual({ part: 1 });
    // DynamoDB refusing the read once (throttled): dynalite cannot be made to, so the store's answer is replaced.
    const refused = Object.assign(new Error("Rate of requests exceeds the allowed throughput."), {
      name: "ProvisionedThroughputExceededException",
    });
    vi.spyOn(rig.store.checkpoints, "load").mockRejectedValueOnce(refused);
    const unread = await rig.sweep(at(2 * HOUR));
    expect(unread.sources[0]).toMatchObject({ ok: false, missing: 0, gone: 0 });
    expect(unread.sources[0]?.error).toMatch(/saved place of this sweep in parts could not be read/);
    expect(unread.exitCode).toBe(1);
    expect((await rig.store.checkpoints.load("hw-test"))?.part).toBe(1);
    const last = await rig.sweep(at(3 * HOUR));
    expect(last.sources[0]).toMatchObject({ ok: true, objects: 600, missing: 0, gone: 0 });
    expect(last.sources[0]?.continues).toBeUndefined();
    expect(await rig.store.checkpoints.load("hw-test")).toBeUndefined();
  }, 60_000);

  it("a listing that moves between parts completes what it shows, takes nothing as missing, and says why", async () => {
    const certificates = fleet(600);
    rig = await new Rig(certificates).start();
    await rig.sweep(NOW);
    const part1 = await rig.sweep(at(HOUR), interruptedAfter(200));
    expect(part1.sources[0]?.continues).toEqual({ part: 1 });
    // Between the parts, ten leave from the first pages: every later entry moves ten places up the listing.
    const removed = certificates.splice(0, 10);
    const last = await rig.sweep(at(2 * HOUR));
    expect(last.sources[0]).toMatchObject({ ok: true, missing: 0, gone: 0 });
    expect(last.sources[0]?.warnings.join(" ")).toMatch(/total moved from 600 to 590 between parts/);
    expect(news(last).filter((line) => line.startsWith("resolved"))).toEqual([]);
    // The next whole listing settles it: the ten are confirmed gone by their look-ups.
    const next = await rig.sweep(at(3 * HOUR));
    expect(next.sources[0]).toMatchObject({ ok: true, gone: removed.length, missing: 0 });
  }, 60_000);
});

describe("a sweep in parts on Lambda", () => {
  it("a source too big for its budget continues in follow-up messages: three parts or more, notify once at the end", async () => {
    const certificates = fleet(1200);
    rig = await new Rig(certificates).start();
    // Five calls a second for 24 pages: about five seconds of listing against parts of 1.5 s (75% of 2 s).
    const config = await parseConfig(
      `sources:
  - name: big
    type: huawei-scm
    endpoint: ${rig.scmUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    qps: 5
    timeBudget: 2s
receivers:
  - { name: ops, type: slack, webhookUrl: "${rig.slackUrl}" }
`,
      "parts.yml",
    );
    const logger = new Logger({ serviceName: "parts", logLevel: "SILENT" });
    const metrics = new Metrics({ namespace: "parts" });
    const runtime = async (): Promise<Runtime> => ({
      config,
      store: (rig as Rig).store,
      http: (rig as Rig).http,
      redact: makeRedactor(secretValues(config)),
      logger,
      metrics,
    });
    const store = rig.store;

    /** One scheduled run: dispatch, then a worker takes messages until the queue is empty. */
    const run = async (runId: string, afterEachMessage: (request: SweepRequest) => Promise<void>) => {
      const queue = new FifoQueue();
      await dispatchHandler({ runtime, sqs: queue.sqs as never, queueUrl: "q.fifo" })({ id: runId });
      const asked: NotifyRequest[] = [];
      const sweep = sweepHandler({
        runtime,
        triggerNotify: async (request) => {
          asked.push(request);
        },
        sqs: queue.sqs as never,
        queueUrl: "q.fifo",
      });
      const requests: SweepRequest[] = [];
      for (let message = queue.take(); message; message = queue.take()) {
        const result = await sweep({ Records: [{ messageId: message.messageId, body: message.body }] });
        expect(result.batchItemFailures).toEqual([]);
        queue.done(message);
        const request = JSON.parse(message.body) as SweepRequest;
        requests.push(request);
        await afterEachMessage(request);
      }
      return { requests, asked, groups: queue.groupsSeen };
    };

    rig.clockMs = Date.now();
    const first = await run("run-1", async () => undefined);
    expect(first.requests.length).toBeGreaterThanOrEqual(3);
    expect(first.requests.map((request) => request.part)).toEqual([
      undefined,
      ...first.requests.slice(1).map((_, index) => index + 2),
    ]);
    // Every part waits its turn in the unit's own FIFO group.
    expect(first.groups.size).toBe(1);
    expect((await store.loadObjects("big")).size).toBe(1200);
    expect(first.asked.filter((request) => request.reason === "run-complete")).toHaveLength(1);
    expect(first.asked.at(-1)?.reason).toBe("run-complete");
    expect((await store.lastSweep("big"))?.ok).toBe(true);

    // Five leave; while the parts run, none of the 1,200 is missing or gone, whatever page it sits on.
    const removed = certificates.splice(600, 5);
    let checked = 0;
    const second = await run("run-2", async () => {
      const checkpoint = await store.checkpoints.load("big");
      if (!checkpoint) return;
      checked++;
      const objects = [...(await store.loadObjects("big")).values()];
      expect(objects).toHaveLength(1200);
      expect(objects.filter((object) => object.missingSince)).toEqual([]);
    });
    console.log(
      `sweep in parts on Lambda: 1,200 certificates at 5 calls/s under a 2 s timeBudget: ${first.requests.length} ` +
        `parts from an empty store, ${second.requests.length} with five removed`,
    );
    expect(checked).toBeGreaterThanOrEqual(2);
    expect(second.requests.length).toBe(checked + 1);
    // The last part's listing is complete: the five are missing now, or gone where a look-up fitted its budget.
    const after = await store.loadObjects("big");
    const missing = [...after.values()].filter((object) => object.missingSince);
    const notGoneYet = removed.filter((gone) => after.has(`big/certificate/${gone.id}`));
    expect(missing.map((object) => object.observation.nativeId).sort()).toEqual(
      notGoneYet.map((gone) => gone.id).sort(),
    );
    expect(after.size).toBe(1195 + notGoneYet.length);
    expect(await store.checkpoints.load("big")).toBeUndefined();

    // A follow-up that comes once the sweep has ended (its part retried after the last one cleared the place) sweeps
    // nothing, but still counts the unit done, so that its run completes and notify is asked.
    const queue = new FifoQueue();
    await dispatchHandler({ runtime, sqs: queue.sqs as never, queueUrl: "q.fifo" })({ id: "run-3" });
    const dispatched = queue.take();
    const asked: NotifyRequest[] = [];
    const late = sweepHandler({ runtime, triggerNotify: async (request) => void asked.push(request) });
    const followUp = { ...(JSON.parse(dispatched?.body ?? "{}") as SweepRequest), part: 2 };
    const callsBefore = rig.scm.stats.requests;
    expect(await late({ Records: [{ messageId: "late", body: JSON.stringify(followUp) }] })).toEqual({
      batchItemFailures: [],
    });
    expect(rig.scm.stats.requests).toBe(callsBefore);
    expect(asked).toEqual([expect.objectContaining({ runId: "run-3", reason: "run-complete" })]);

    // SQS refusing the next part's message: the part is a batch item failure, retried by SQS; its place stays saved,
    // so the retry continues from it and queues the follow-up then.
    const refusing = {
      send: async (command: { input: { Entries?: unknown[] } }) =>
        command.input.Entries?.length === 1 ? { Failed: [{ Id: "0" }] } : { Failed: [] },
    };
    const retried = new FifoQueue();
    await dispatchHandler({ runtime, sqs: retried.sqs as never, queueUrl: "q.fifo" })({ id: "run-4" });
    const first4 = retried.take();
    const message = { messageId: first4?.messageId ?? "", body: first4?.body ?? "" };
    const noFollowUp = sweepHandler({
      runtime,
      triggerNotify: async () => undefined,
      sqs: refusing as never,
      queueUrl: "q.fifo",
    });
    expect(await noFollowUp({ Records: [message] })).toEqual({
      batchItemFailures: [{ itemIdentifier: message.messageId }],
    });
    expect((await store.checkpoints.load("big"))?.part).toBe(1);
    const again = sweepHandler({
      runtime,
      triggerNotify: async () => undefined,
      sqs: retried.sqs as never,
      queueUrl: "q.fifo",
    });
    expect(await again({ Records: [message] })).toEqual({ batchItemFailures: [] });
    expect((await store.checkpoints.load("big"))?.part).toBe(2);
    if (first4) retried.done(first4);
    expect(JSON.parse(retried.take()?.body ?? "{}")).toMatchObject({ runId: "run-4", part: 3 });
  }, 180_000);
});
