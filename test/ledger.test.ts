import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeRedactor } from "../lib/config/secrets.js";
import { deliverPending } from "../lib/notify/deliver.js";
import type { Digest } from "../lib/notify/digest.js";
import { DeliveryError, type Receiver } from "../lib/notify/receiver.js";
import { notificationId, reroutePending } from "../lib/notify/route.js";
import { slackReceiver } from "../lib/notify/slack.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import type { Ledger } from "../lib/store/ledger.js";
import { Store } from "../lib/store/store.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { alert } from "./fixtures.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const MINUTE = 60_000;
const LEASE = 15 * MINUTE;

/** A receiver that records what it was given and fails as told. */
class RecordingReceiver implements Receiver {
  readonly type = "recording";
  readonly sent: Digest[] = [];
  failWith: DeliveryError | undefined;
  constructor(
    readonly name: string,
    readonly maxAlertsPerMessage = 100,
  ) {}
  async send(digest: Digest): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(digest);
  }
  preview = () => "";
  payload = () => "";
  close = async () => undefined;
}

describe("delivery ledger: claim → send → mark", () => {
  let dynamo: EmbeddedDynamo;
  let store: Store;

  beforeAll(async () => {
    dynamo = await startEmbeddedDynamo();
    store = new Store({ table: "ledger", endpoint: dynamo.endpoint, historyDays: 30 });
    await store.ensureTable();
  });
  afterAll(async () => {
    store.close();
    await dynamo.close();
  });

  async function record(receiver: string, ids: string[]) {
    for (const id of ids) {
      const a = alert({ nativeId: id });
      await store.ledger.recordNotification(receiver, notificationId(a), a, NOW);
    }
  }

  it("records each notification once, however often it is recorded", async () => {
    const a = alert({ nativeId: "dup" });
    expect(await store.ledger.recordNotification("once", notificationId(a), a, NOW)).toMatchObject({
      state: "pending",
    });
    expect(await store.ledger.recordNotification("once", notificationId(a), a, NOW)).toBeUndefined();
    expect(await store.ledger.pendingFor("once")).toHaveLength(1);
  });

  it("a crash between send and mark resends that one message once its lease ends, and nothing else", async () => {
    const receiver = new RecordingReceiver("crashy", 2);
    await record("crashy", ["a", "b", "c"]);
    // The run dies after its first message went out: the mark never happens.
    const crashingStore = Object.create(store.ledger) as Ledger;
    crashingStore.markSent = async () => {
      throw new Error("process killed");
    };
    await expect(deliverPending(crashingStore, receiver, { runId: "run-1", now: NOW })).rejects.toThrow(
      "killed",
    );
    expect(receiver.sent).toHaveLength(1);
    expect(receiver.sent[0]?.alerts.map((x) => x.object.nativeId)).toEqual(["a", "b"]);

    // A run inside the lease leaves the in-flight message alone but sends what was never tried.
    // Leases run on the wall clock (not the run's --now), so the later runs move the clock itself.
    const clock = (aheadMs: number) => () => new Date(Date.now() + aheadMs);
    const early = await deliverPending(store.ledger, receiver, {
      runId: "run-2",
      now: NOW,
      clock: clock(MINUTE),
    });
    expect(early).toMatchObject({ sent: 1, messages: 1 });
    expect(receiver.sent.map((d) => d.alerts.map((x) => x.object.nativeId))).toEqual([["a", "b"], ["c"]]);

    // After the lease, the one message that was in flight goes again; then nothing is left.
    const late = await deliverPending(store.ledger, receiver, {
      runId: "run-3",
      now: NOW,
      clock: clock(LEASE + MINUTE),
    });
    expect(late).toMatchObject({ sent: 2, messages: 1 });
    expect(receiver.sent.map((d) => d.alerts.map((x) => x.object.nativeId))).toEqual([
      ["a", "b"],
      ["c"],
      ["a", "b"],
    ]);
    const after = await deliverPending(store.ledger, receiver, {
      runId: "run-4",
      now: NOW,
      clock: clock(2 * LEASE),
    });
    expect(after).toMatchObject({ sent: 0, messages: 0 });
    expect(receiver.sent).toHaveLength(3);
  });

  it("a claim the store fails gives back what the run claimed: the next run sends it all, without waiting out a lease", async () => {
    const receiver = new RecordingReceiver("throttled", 40);
    const ids = Array.from({ length: 40 }, (_, n) => `t${String(n).padStart(2, "0")}`);
    await record("throttled", ids);
    const failing = Object.create(store.ledger) as Ledger;
    failing.claim = async (entry, runId, now, leaseMs) => {
      if (entry.alert.object.nativeId === "t03") throw new Error("ProvisionedThroughputExceededException");
      return store.ledger.claim(entry, runId, now, leaseMs);
    };
    await expect(deliverPending(failing, receiver, { runId: "run-1", now: NOW })).rejects.toThrow(
      "ProvisionedThroughputExceededException",
    );
    expect(receiver.sent).toHaveLength(0);
    const pending = await store.ledger.pendingFor("throttled");
    expect(pending.map((entry) => entry.state)).toEqual(ids.map(() => "pending"));

    // Within any lease: nothing is held by the failed run.
    const next = await deliverPending(store.ledger, receiver, { runId: "run-2", now: NOW });
    expect(next).toMatchObject({ sent: 40, messages: 1 });
    expect(receiver.sent[0]?.alerts.map((x) => x.object.nativeId).sort()).toEqual(ids);
  });

  it("keeps a retryable failure pending for the next run, and delivers it then", async () => {
    const receiver = new RecordingReceiver("flaky");
    await record("flaky", ["d", "e"]);
    receiver.failWith = new DeliveryError("SMTP server refused the message: 451 try later", true);
    const failed = await deliverPending(store.ledger, receiver, { runId: "r1", now: NOW });
    expect(failed).toMatchObject({
      sent: 0,
      deferred: 2,
      failed: 0,
      errors: ["SMTP server refused the message: 451 try later"],
    });
    receiver.failWith = undefined;
    const retried = await deliverPending(store.ledger, receiver, { runId: "r2", now: NOW });
    expect(retried).toMatchObject({ sent: 2, deferred: 0, failed: 0 });
  });

  it("keeps alerts a broken receiver refused until it is fixed, and gives up only after a week of failed runs", async () => {
    const receiver = new RecordingReceiver("broken");
    await record("broken", ["f"]);
    receiver.failWith = new DeliveryError("Slack rejected the message: 404 no_service", false);
    const first = await deliverPending(store.ledger, receiver, { runId: "r1", now: NOW });
    expect(first).toMatchObject({
      deferred: 1,
      failed: 0,
      errors: ["Slack rejected the message: 404 no_service"],
    });
    receiver.failWith = undefined;
    expect(await deliverPending(store.ledger, receiver, { runId: "r2", now: NOW })).toMatchObject({
      sent: 1,
    });

    await record("broken", ["g"]);
    receiver.failWith = new DeliveryError("Slack rejected the message: 404 no_service", false);
    const day = (n: number) => new Date(NOW.getTime() + n * 24 * 3_600_000);
    // Hourly runs for a day do not give up; three failed runs over more than a week do.
    for (let run = 0; run < 24; run++) {
      const report = await deliverPending(store.ledger, receiver, {
        runId: `hour-${run}`,
        now: new Date(NOW.getTime() + run * 3_600_000),
      });
      expect(report).toMatchObject({ deferred: 1, failed: 0 });
    }
    expect(await deliverPending(store.ledger, receiver, { runId: "day-8", now: day(8) })).toMatchObject({
      deferred: 0,
      failed: 1,
    });
    expect(await store.ledger.pendingFor("broken")).toEqual([]);
  });

  it("delivers what this run recorded even if the pending index does not show it yet", async () => {
    const receiver = new RecordingReceiver("lagging");
    const a = alert({ nativeId: "h" });
    const entry = await store.ledger.recordNotification("lagging", notificationId(a), a, NOW);
    const laggingIndex = Object.create(store.ledger) as Ledger;
    laggingIndex.pendingFor = async () => [];
    const report = await deliverPending(laggingIndex, receiver, {
      runId: "r1",
      now: NOW,
      fresh: entry ? [entry] : [],
    });
    expect(report).toMatchObject({ sent: 1 });
  });

  it("keeps no part of a Slack webhook's token in the ledger or the report when Slack's 404 echoes its path", async () => {
    const slack = new SlackReceiverSim();
    const url = await slack.listen();
    try {
      const token = new URL(url).pathname.split("/").pop() as string;
      await record("echoed", ["e1"]);
      slack.answerNext(404, (path) => `no_service: ${path} (${encodeURIComponent(path)})`);
      const receiver = slackReceiver({ name: "echoed", type: "slack", language: "en", webhookUrl: url });
      const report = await deliverPending(store.ledger, receiver, { runId: "r1", now: NOW });
      const [kept] = await store.ledger.pendingFor("echoed");
      expect(kept?.lastError).toMatch(/^Slack rejected the message: 404 no_service/);
      for (const text of [kept?.lastError, ...report.errors]) expect(text).not.toContain(token);
    } finally {
      await slack.close();
    }
  });

  it("a store given the config's secrets masks them in what it keeps, whoever let them through", async () => {
    const webhookUrl = "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/tokentokentoken123456789";
    const masking = new Store({
      table: "ledger",
      endpoint: dynamo.endpoint,
      historyDays: 30,
      redact: makeRedactor([webhookUrl]),
    });
    try {
      const receiver = new RecordingReceiver("leaky");
      await record("leaky", ["l1"]);
      const echoed =
        "no hook at /services/T0AB12CD3/B0EF45GH6/tokentokentoken123456789, token tokentokentoken123456789";
      receiver.failWith = new DeliveryError(echoed, false);
      await deliverPending(masking.ledger, receiver, { runId: "r1", now: NOW });
      const [kept] = await masking.ledger.pendingFor("leaky");
      expect(kept?.lastError).toBe("no hook at ***, token ***");
    } finally {
      masking.close();
    }
  });

  it("reroute moves what waits for a retired receiver under the same ids; cut short, it doubles nothing when run again", async () => {
    await record("retired", ["m1", "m2"]);
    expect((await store.ledger.pendingIds()).get("retired")?.size).toBe(2);
    // The first move dies after recording m1 for the successor, before deleting it for the retired receiver.
    const crashing = Object.create(store.ledger) as Ledger;
    crashing.forgetNotification = async () => {
      throw new Error("process killed");
    };
    const move = { runId: "move-1", now: NOW };
    await expect(reroutePending(crashing, "retired", "successor", move)).rejects.toThrow("killed");

    // m1 is still claimed by the dead move: a move within its lease leaves it, and moves m2.
    const clock = (aheadMs: number) => () => new Date(Date.now() + aheadMs);
    expect(
      await reroutePending(store.ledger, "retired", "successor", {
        runId: "move-2",
        now: NOW,
        clock: clock(MINUTE),
      }),
    ).toEqual({ moved: 1, alreadyThere: 0, inFlight: 1 });
    // Once that lease is over, m1 is finished: already recorded for the successor, so not recorded twice.
    expect(
      await reroutePending(store.ledger, "retired", "successor", {
        runId: "move-3",
        now: NOW,
        clock: clock(LEASE + MINUTE),
      }),
    ).toEqual({ moved: 1, alreadyThere: 1, inFlight: 0 });
    expect(await store.ledger.pendingFor("retired")).toEqual([]);
    expect((await store.ledger.pendingIds()).has("retired")).toBe(false);

    const successor = new RecordingReceiver("successor");
    expect(await deliverPending(store.ledger, successor, { runId: "r1", now: NOW })).toMatchObject({
      sent: 2,
    });
    expect(successor.sent.flatMap((digest) => digest.alerts.map((a) => a.object.nativeId)).sort()).toEqual([
      "m1",
      "m2",
    ]);
    expect(await reroutePending(store.ledger, "retired", "successor", { runId: "move-4", now: NOW })).toEqual(
      {
        moved: 0,
        alreadyThere: 0,
        inFlight: 0,
      },
    );
  });

  it("splits 300 alerts across Slack posts within Slack's limits, each alert present exactly once", async () => {
    const slack = new SlackReceiverSim();
    const url = await slack.listen();
    const ids = Array.from({ length: 300 }, (_, i) => `cert-${String(i).padStart(5, "0")}`);
    await record("split", ids);
    const receiver = {
      ...slackReceiver({ name: "split", type: "slack", language: "en", webhookUrl: url }),
      name: "split",
    };
    const report = await deliverPending(store.ledger, receiver, { runId: "r1", now: NOW });
    await slack.close();

    expect(report).toMatchObject({ sent: 300, failed: 0, messages: 7 });
    expect(slack.posts).toHaveLength(7);
    const seen: string[] = [];
    for (const post of slack.posts) {
      const blocks = post.body.blocks ?? [];
      expect(blocks.length).toBeLessThanOrEqual(50);
      for (const block of blocks.filter((b) => b.type === "section")) {
        expect(block.text?.text.length).toBeLessThanOrEqual(3000);
        seen.push(...(block.text?.text.match(/cert-\d{5}/g) ?? []).slice(0, 1));
      }
    }
    expect(seen.sort()).toEqual(ids);
  });
});
