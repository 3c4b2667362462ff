import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { INBOX_FROM, moveNewsToLedger, notificationId, recordNews } from "../lib/notify/route.js";
import type { Alert } from "../lib/model/types.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import type { LedgerEntry } from "../lib/store/ledger.js";
import type { Notification } from "../lib/store/news-inbox.js";
import type { Store } from "../lib/store/store.js";
import { deliverAll } from "../lib/sweep.js";
import { sweepSources } from "../lib/sweep-source.js";
import { embeddedStore, expectedAlertNames, namesIn, Rig } from "./harness.js";
import { scmCertificate } from "./fixtures.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const RECEIVERS = ["ops-slack", "ops-mail"];

/** 200 certificates, 70 of them expiring within the alert window: 140 notifications over two receivers. */
const fleet = Array.from({ length: 200 }, (_, n) => scmCertificate(n, n % 20 < 7 ? 5 + (n % 9) : 300, NOW));
const expiring = expectedAlertNames(fleet, NOW);

/** A Lambda sweep worker's part: sweep and record, deliver nothing. */
function sweepAsWorker(rig: Rig, runId: string) {
  rig.clockMs = NOW.getTime();
  return sweepSources(
    { config: rig.config, store: rig.store, http: rig.http, now: NOW },
    runId,
    rig.config.sources,
  );
}

async function waiting(store: Store): Promise<number[]> {
  return Promise.all(RECEIVERS.map((receiver) => store.inbox.waitingFor(receiver)));
}

describe("a sweep with much news stores it in the inbox; delivery records and sends each once", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.stop();
    rig = undefined;
  });

  it("a sweep worker writes batches, not ledger entries; notify records them and sends each alert once", async () => {
    expect(expiring.length * RECEIVERS.length).toBeGreaterThanOrEqual(INBOX_FROM);
    rig = await new Rig(fleet).start();
    const [outcome] = await sweepAsWorker(rig, "run-1");
    expect(outcome?.alerts.map((alert) => alert.object.name).sort()).toEqual(expiring);
    expect(outcome?.recorded).toEqual([]);
    for (const receiver of RECEIVERS) expect(await rig.store.ledger.pendingFor(receiver)).toEqual([]);
    expect(await waiting(rig.store)).toEqual([expiring.length, expiring.length]);

    const deliveries = await deliverAll({ config: rig.config, store: rig.store, now: NOW }, "notify-1");
    expect(deliveries.map(({ receiver, sent, errors }) => ({ receiver, sent, errors }))).toEqual(
      RECEIVERS.map((receiver) => ({ receiver, sent: expiring.length, errors: [] })),
    );
    expect(namesIn(rig.slack.posts.map((post) => JSON.stringify(post.body)).join("\n"))).toEqual(expiring);
    expect(await waiting(rig.store)).toEqual([0, 0]);
  }, 60_000);

  it("a sweep that stored its news and then failed to save is swept again: the news is recorded once", async () => {
    rig = await new Rig(fleet).start();
    const store = rig.store;
    const writeObjects = store.writeObjects.bind(store);
    store.writeObjects = () => Promise.reject(new Error("ProvisionedThroughputExceededException: slow down"));
    const [failed] = await sweepAsWorker(rig, "run-1");
    expect(failed?.report).toMatchObject({ ok: false, error: expect.stringContaining("could not save") });
    store.writeObjects = writeObjects;
    // Nothing marked announced: the next sweep finds the same news and stores it again, in batches of its own.
    const [again] = await sweepAsWorker(rig, "run-2");
    expect(again?.report.ok).toBe(true);
    expect(again?.alerts.map((alert) => alert.object.name).sort()).toEqual(expiring);
    expect(await waiting(store)).toEqual([2 * expiring.length, 2 * expiring.length]);

    const deliveries = await deliverAll({ config: rig.config, store, now: NOW }, "notify-1");
    expect(deliveries.map((delivery) => delivery.sent)).toEqual([expiring.length, expiring.length]);
    // One section block per alert sent: each name in exactly one.
    const sections = rig.slack.posts.flatMap((post) =>
      (post.body.blocks ?? []).filter((block) => block.type === "section"),
    );
    expect(sections.flatMap((block) => namesIn(block.text?.text ?? "")).sort()).toEqual(expiring);
    // The next sweep has nothing new to tell, and nothing waits.
    const [quiet] = await sweepAsWorker(rig, "run-3");
    expect(quiet?.alerts).toEqual([]);
    expect(await waiting(store)).toEqual([0, 0]);
  }, 60_000);

  it("a move the store cuts short keeps the batch; the next run records the rest, nothing twice", async () => {
    rig = await new Rig(fleet).start();
    const store = rig.store;
    await sweepAsWorker(rig, "run-1");
    const record = store.ledger.recordNotification.bind(store.ledger);
    let calls = 0;
    store.ledger.recordNotification = (...args) =>
      ++calls > 50 ? Promise.reject(new Error("RequestLimitExceeded")) : record(...args);
    const first = await deliverAll({ config: rig.config, store, now: NOW }, "notify-1");
    store.ledger.recordNotification = record;
    for (const delivery of first) {
      expect(delivery.errors).toEqual([
        expect.stringContaining("news waiting in the store could not all be recorded"),
      ]);
      expect(delivery.errors[0]).toContain("RequestLimitExceeded");
    }
    const sentFirst = first.reduce((sum, delivery) => sum + delivery.sent, 0);
    expect(sentFirst).toBeGreaterThan(0);
    expect(sentFirst).toBeLessThan(2 * expiring.length);
    expect(await waiting(store)).not.toEqual([0, 0]);

    const second = await deliverAll({ config: rig.config, store, now: NOW }, "notify-2");
    expect(second.flatMap((delivery) => delivery.errors)).toEqual([]);
    expect(sentFirst + second.reduce((sum, delivery) => sum + delivery.sent, 0)).toBe(2 * expiring.length);
    expect(await waiting(store)).toEqual([0, 0]);
  }, 60_000);
});

describe("the news inbox on its own", () => {
  let dynamo: EmbeddedDynamo;
  let store: Store;
  beforeAll(async () => {
    ({ dynamo, store } = await embeddedStore());
  });
  afterAll(async () => {
    store.close();
    await dynamo.close();
  });

  const alert = (n: number, name: string): Alert =>
    ({
      fingerprint: `fp-${n}`,
      episode: 1,
      stage: "expiring-7d",
      generation: 0,
      severity: "warning",
      transition: "new",
      object: { key: `hw/certificate/${n}`, name },
    }) as unknown as Alert;
  const notification = (n: number, name = `cert-${n}`): Notification => {
    const made = alert(n, name);
    return { receiver: "ops-slack", id: notificationId(made), alert: made };
  };

  it("two runs moving the same batches at once record each notification once between them", async () => {
    await store.inbox.put(
      Array.from({ length: 2_500 }, (_, n) => notification(n)),
      NOW,
    );
    const a: LedgerEntry[] = [];
    const b: LedgerEntry[] = [];
    await Promise.all([moveNewsToLedger(store, a), moveNewsToLedger(store, b)]);
    expect(a.length + b.length).toBe(2_500);
    expect(new Set([...a, ...b].map((entry) => entry.id)).size).toBe(2_500);
    expect((await store.ledger.pendingFor("ops-slack")).length).toBe(2_500);
    expect(await store.inbox.waitingFor("ops-slack")).toBe(0);
    // Recorded at the sweep's instant, not the move's.
    expect(new Set([...a, ...b].map((entry) => entry.createdAt))).toEqual(new Set([NOW.toISOString()]));
  });

  it("hostile names come back as written, in as many batches as fit the item limit", async () => {
    const hostile = [
      "line\nbreak <b>markup</b> `code` \\u0000 \u202e",
      randomBytes(90_000).toString("base64"),
      randomBytes(160_000).toString("base64"),
    ];
    // The big ones first: together they are more than two batches can hold.
    const many = Array.from({ length: 3 * INBOX_FROM }, (_, n) =>
      notification(10_000 + n, n < 6 ? hostile[1 + (n % 2)] : `${hostile[0]} ${n}`),
    );
    // As a sweep records it: past INBOX_FROM, into the inbox, nothing into the ledger yet.
    const config = { receivers: [{ name: "ops-slack" }], routes: [] } as never;
    const recorded = await recordNews(
      many.map((one) => one.alert),
      { config, store, now: NOW },
    );
    expect(recorded).toEqual([]);
    const read: Notification[] = [];
    let batches = 0;
    for await (const batch of store.inbox.batches()) {
      batches++;
      read.push(...batch.notifications);
    }
    expect(read).toEqual(many);
    // Three names of 213 KB (about 160 KB compressed) and three of 120 KB: no batch holds two of the first.
    expect(batches).toBeGreaterThanOrEqual(3);
    const moved: LedgerEntry[] = [];
    await moveNewsToLedger(store, moved);
    expect(moved.map((entry) => entry.id).sort()).toEqual(many.map((one) => one.id).sort());
    expect(moved.find((entry) => entry.id === many[6]?.id)?.alert.object.name).toBe(`${hostile[0]} 6`);
  }, 60_000);
});
