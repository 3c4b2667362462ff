import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  INBOX_FROM,
  moveNewsToLedger,
  notificationId,
  orphanedReceivers,
  recordNews,
  reroutePending,
} from "../lib/notify/route.js";
import type { Alert } from "../lib/model/types.js";
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import type { TableClient } from "../lib/store/client.js";
import type { Ledger, LedgerEntry } from "../lib/store/ledger.js";
import type { Notification } from "../lib/store/news-inbox.js";
import type { Store } from "../lib/store/store.js";
import { deliverAll } from "../lib/sweep.js";
import { sweepSources } from "../lib/sweep-source.js";
import { withEmbeddedStore, expectedAlertNames, namesIn, Rig } from "./harness.js";
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

/** Notifications waiting in the inbox for each receiver: each id once, and as stored (copies included). */
async function waiting(store: Store): Promise<{ distinct: number[]; stored: number[] }> {
  const distinct = await store.inbox.waiting();
  const stored = new Map<string, number>();
  for await (const batch of store.inbox.batches()) {
    for (const { receiver } of batch.notifications) stored.set(receiver, (stored.get(receiver) ?? 0) + 1);
  }
  return {
    distinct: RECEIVERS.map((receiver) => distinct.get(receiver)?.size ?? 0),
    stored: RECEIVERS.map((receiver) => stored.get(receiver) ?? 0),
  };
}
const NONE = { distinct: [0, 0], stored: [0, 0] };

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
    expect(await waiting(rig.store)).toEqual({
      distinct: [expiring.length, expiring.length],
      stored: [expiring.length, expiring.length],
    });

    const deliveries = await deliverAll({ config: rig.config, store: rig.store, now: NOW }, "notify-1");
    expect(deliveries.map(({ receiver, sent, errors }) => ({ receiver, sent, errors }))).toEqual(
      RECEIVERS.map((receiver) => ({ receiver, sent: expiring.length, errors: [] })),
    );
    expect(namesIn(rig.slack.posts.map((post) => JSON.stringify(post.body)).join("\n"))).toEqual(expiring);
    expect(await waiting(rig.store)).toEqual(NONE);
  }, 60_000);

  it("a sweep whose news the store refuses fails, marks nothing announced, and the next sweep stores it", async () => {
    rig = await new Rig(fleet).start();
    const store = rig.store;
    const put = store.inbox.put.bind(store.inbox);
    store.inbox.put = () => Promise.reject(new Error("ProvisionedThroughputExceededException: slow down"));
    const [failed] = await sweepAsWorker(rig, "run-1");
    store.inbox.put = put;
    expect(failed?.report).toMatchObject({ ok: false, error: expect.stringContaining("could not save") });
    expect(failed?.report.error).toContain("ProvisionedThroughputExceededException");
    expect(await waiting(store)).toEqual(NONE);
    const [again] = await sweepAsWorker(rig, "run-2");
    expect(again?.alerts.map((alert) => alert.object.name).sort()).toEqual(expiring);
    expect((await waiting(store)).distinct).toEqual([expiring.length, expiring.length]);
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
    expect(await waiting(store)).toEqual({
      distinct: [expiring.length, expiring.length],
      stored: [2 * expiring.length, 2 * expiring.length],
    });

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
    expect(await waiting(store)).toEqual(NONE);
  }, 60_000);

  it("a move the store cuts short sends nothing, not even what waited before; the next run sends it all, once", async () => {
    rig = await new Rig(fleet).start();
    const store = rig.store;
    const [outcome] = await sweepAsWorker(rig, "run-1");
    const firing = outcome?.alerts[0] as Alert;
    // Already pending: a resolution, which must not go out ahead of the news it follows, still in the inbox.
    const resolution: Alert = {
      ...firing,
      transition: "resolved",
      resolvedFrom: firing.stage,
      stage: "resolved",
    };
    const earlier = await recordNews([resolution], { config: rig.config, store, now: NOW });
    expect(earlier).toHaveLength(RECEIVERS.length);
    const record = store.ledger.recordNotification.bind(store.ledger);
    let calls = 0;
    store.ledger.recordNotification = (...args) =>
      ++calls > 50 ? Promise.reject(new Error("RequestLimitExceeded")) : record(...args);
    const first = await deliverAll({ config: rig.config, store, now: NOW }, "notify-1");
    store.ledger.recordNotification = record;
    for (const delivery of first) {
      expect(delivery).toMatchObject({ sent: 0, messages: 0 });
      expect(delivery.errors).toEqual([
        expect.stringContaining("nothing sent: news waiting in the store could not all be recorded"),
      ]);
      expect(delivery.errors[0]).toContain("RequestLimitExceeded");
    }
    expect(rig.slack.posts).toEqual([]);
    expect((await waiting(store)).stored).not.toEqual([0, 0]);

    const second = await deliverAll({ config: rig.config, store, now: NOW }, "notify-2");
    expect(second.flatMap((delivery) => delivery.errors)).toEqual([]);
    expect(second.map((delivery) => delivery.sent)).toEqual([expiring.length + 1, expiring.length + 1]);
    expect(await waiting(store)).toEqual(NONE);
  }, 60_000);
});

describe("the news inbox on its own", () => {
  let store: Store;
  withEmbeddedStore((opened) => (store = opened));

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
  const notification = (n: number, name = `cert-${n}`, receiver = "ops-slack"): Notification => {
    const made = alert(n, name);
    return { receiver, id: notificationId(made), alert: made };
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
    expect(await store.inbox.waiting()).toEqual(new Map());
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

  it("a notification too big for a ledger entry is left out of the batches, to be recorded (and refused) alone", async () => {
    const tooBig = notification(20_000, "x".repeat(420_000));
    const rest = Array.from({ length: INBOX_FROM }, (_, n) => notification(20_001 + n));
    expect(await store.inbox.put([...rest.slice(0, 50), tooBig, ...rest.slice(50)], NOW)).toEqual([tooBig]);
    // As a sweep records it: the store refuses the one, and says so, as it did before there was an inbox; what
    // shares its sweep is not announced either (the sweep's save fails), so the next sweep tells it again.
    const config = { receivers: [{ name: "ops-slack" }], routes: [] } as never;
    await expect(
      recordNews(
        [...rest, tooBig].map((one) => one.alert),
        { config, store, now: NOW },
      ),
    ).rejects.toThrow(/size/i);
    // Nothing in the inbox is held back by it.
    const moved: LedgerEntry[] = [];
    await moveNewsToLedger(store, moved);
    expect(moved.map((entry) => entry.id).sort()).toEqual(rest.map((one) => one.id).sort());
  }, 60_000);

  it("news in the inbox for a receiver the config no longer names is reported as orphaned, each id once", async () => {
    const renamed = Array.from({ length: INBOX_FROM }, (_, n) =>
      notification(30_000 + n, undefined, "old-slack"),
    );
    await store.inbox.put(renamed, NOW);
    await store.inbox.put(renamed.slice(0, 10), NOW);
    const config = { receivers: [{ name: "ops-slack" }], routes: [] } as never;
    const orphaned = [{ receiver: "old-slack", pending: INBOX_FROM }];
    expect(await orphanedReceivers(store, config)).toEqual(orphaned);
    const recorded: LedgerEntry[] = [];
    await moveNewsToLedger(store, recorded);
    // Pending in the ledger and stored again in the inbox (a retried sweep): still counted once.
    await store.inbox.put(renamed, NOW);
    expect(await orphanedReceivers(store, config)).toEqual(orphaned);
    // An inbox that cannot be read leaves the ledger's count (the delivery that tried to move it says why).
    const waiting = store.inbox.waiting.bind(store.inbox);
    store.inbox.waiting = () => Promise.reject(new Error("ThrottlingException"));
    expect(await orphanedReceivers(store, config)).toEqual(orphaned);
    store.inbox.waiting = waiting;
    // `certwatch reroute` records them first, then moves what it recorded even if the index does not show it yet.
    await moveNewsToLedger(store, recorded);
    const lagging = Object.create(store.ledger, { pendingFor: { value: async () => [] } }) as Ledger;
    const moved = await reroutePending(
      lagging,
      "old-slack",
      "ops-slack",
      { runId: "reroute-1", now: NOW },
      recorded,
    );
    expect(moved).toEqual({ moved: INBOX_FROM, alreadyThere: 0, inFlight: 0 });
    expect(await orphanedReceivers(store, config)).toEqual([]);
  }, 60_000);

  it("a batch that cannot be read holds back every delivery, and its key is in the message", async () => {
    const table = (store as unknown as { table: TableClient }).table;
    const key = { pk: "NEWS", sk: "2026-11-22T00:00:00.000Z#damaged#0000" };
    await table.writeAll([
      { PutRequest: { Item: { ...key, at: NOW.toISOString(), count: 1, news: Buffer.from("x") } } },
    ]);
    const config = { receivers: [{ name: "ops-slack", type: "slack" }], routes: [] } as never;
    const receiver = {
      name: "ops-slack",
      maxAlertsPerMessage: 10,
      send: async () => undefined,
      close: async () => {},
    };
    const [report] = await deliverAll(
      { config, store, now: NOW, receivers: [receiver as never] },
      "notify-damaged",
    );
    expect(report?.sent).toBe(0);
    expect(report?.errors).toEqual([expect.stringContaining(`nothing sent`)]);
    expect(report?.errors[0]).toContain(`news batch ${key.sk} cannot be read`);
    await table.write(new DeleteCommand({ TableName: table.name, Key: key }));
  });
});
