import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { deliberately } from "./contract/setup.js";
import { expectedAlertNames, KEYS, namesIn, Rig } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const THRESHOLDS = [30, 14, 7, 1];

/** The test's own reading of the stage a certificate is in; independent of lib/rules. */
function stageAt(expireTime: string, at: Date): string | undefined {
  const remaining = Date.parse(`${expireTime.replace(" ", "T").replace(/\.0$/, "")}+08:00`) - at.getTime();
  if (remaining <= 0) return "expired";
  const threshold = [...THRESHOLDS].sort((a, b) => a - b).find((days) => remaining <= days * DAY);
  return threshold === undefined ? undefined : `${threshold}d`;
}

function slackText(rig: Rig): string {
  return rig.slack.posts
    .map((post) =>
      [post.body.text, ...(post.body.blocks ?? []).map((block) => block.text?.text ?? "")].join("\n"),
    )
    .join("\n");
}

describe("Huawei SCM end to end: simulator → sweep → dynalite → Slack and email", () => {
  const fleet = Rig.fleet(120, NOW);
  const rig = new Rig(fleet);
  const expected = expectedAlertNames(fleet, NOW);

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("the fleet has certificates in every stage, so the test means something", () => {
    const stages = new Set(fleet.filter((c) => c.expire_time).map((c) => stageAt(c.expire_time, NOW)));
    expect([...stages].sort()).toEqual(["14d", "1d", "30d", "7d", "expired", undefined].sort());
    expect(fleet.some((c) => c.status === "REVOKED")).toBe(true);
    expect(expected.length).toBeGreaterThan(10);
    expect(expected.length).toBeLessThan(fleet.length);
  });

  it("first sweep: reads 3 pages, sends one Slack digest and one email naming exactly the alerting certificates", async () => {
    const summary = await rig.sweep(NOW);
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 120, added: 120, calls: 3, throttled: 0 });
    expect(rig.scm.stats.requests).toBe(3);

    expect(rig.slack.posts).toHaveLength(1);
    expect(namesIn(slackText(rig))).toEqual(expected);
    expect(rig.smtp.messages).toHaveLength(1);
    const [mail] = rig.smtp.messages;
    expect(namesIn(mail?.html ?? "")).toEqual(expected);
    expect(namesIn(mail?.text ?? "")).toEqual(expected);
    expect(mail?.subject).toMatch(/^\[certwatch\] \d+ critical, \d+ warning: /);
    expect(summary.deliveries.map((d) => [d.receiver, d.sent, d.failed, d.deferred])).toEqual([
      ["ops-slack", expected.length, 0, 0],
      ["ops-mail", expected.length, 0, 0],
    ]);
  });

  it("a second sweep an hour later sends nothing", async () => {
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts).toEqual([]);
    expect(rig.slack.posts).toHaveLength(1);
    expect(rig.smtp.messages).toHaveLength(1);
    expect(summary.sources[0]).toMatchObject({ added: 0, changed: 0, gone: 0 });
  });

  it("nine days later announces only the stages crossed since, each once", async () => {
    const later = new Date(NOW.getTime() + 9 * DAY);
    const crossed = fleet
      .filter((c) => c.expire_time && c.status !== "REVOKED" && c.status !== "CHECKING")
      .filter((c) => stageAt(c.expire_time, later) !== stageAt(c.expire_time, NOW))
      .map((c) => c.name)
      .sort();
    expect(crossed.length).toBeGreaterThan(0);

    const summary = await rig.sweep(later);
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts.map((a) => a.name).sort()).toEqual(crossed);
    expect(summary.alerts.every((a) => a.transition !== "resolved")).toBe(true);
    expect(rig.slack.posts).toHaveLength(2);
    expect(namesIn(JSON.stringify(rig.slack.posts[1]?.body))).toEqual(crossed);
    expect(rig.smtp.messages).toHaveLength(2);
    expect(namesIn(rig.smtp.messages[1]?.html ?? "")).toEqual(crossed);

    const again = await rig.sweep(new Date(later.getTime() + HOUR));
    expect(again.alerts).toEqual([]);
    expect(rig.slack.posts).toHaveLength(2);
  });
});

describe("a failing SCM source", () => {
  const fleet = Rig.fleet(120, NOW);
  const rig = new Rig(fleet);

  beforeAll(async () => {
    await rig.start();
    await rig.sweep(NOW);
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("answering 500 fails the run (exit 1), names the source and call, and leaves stored state untouched", async () => {
    const before = await rig.store.loadObjects("hw-test");
    rig.scm.injectAlways("5xx");
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR));
    rig.scm.injectAlways(undefined);

    expect(summary.exitCode).toBe(1);
    const [source] = summary.sources;
    expect(source?.ok).toBe(false);
    expect(source?.name).toBe("hw-test");
    expect(source?.error).toMatch(/^ListCertificates failed: HTTP 500 SCM\.0001 .* after 4 attempts$/);
    expect(source?.gone).toBe(0);
    expect(source?.consecutiveFailures).toBe(1);
    expect(await rig.store.loadObjects("hw-test")).toEqual(before);
    expect(summary.alerts).toEqual([]);
    const sweepRecord = await rig.store.lastSweep("hw-test");
    expect(sweepRecord).toMatchObject({ ok: false, consecutiveFailures: 1 });
  });

  it("a malformed page fails the run naming the call and the field, and reports nothing as gone", async () => {
    const before = await rig.store.loadObjects("hw-test");
    rig.scm.inject("malformed");
    const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR));

    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toMatch(
      /^ListCertificates returned a malformed page: offset=\d+: certificates/,
    );
    expect(summary.sources[0]?.consecutiveFailures).toBe(2);
    expect(await rig.store.loadObjects("hw-test")).toEqual(before);
  });

  it("a body that is not JSON is reported as a malformed page", async () => {
    rig.scm.inject("bad-json");
    const summary = await rig.sweep(new Date(NOW.getTime() + 3 * HOUR));
    expect(summary.sources[0]?.error).toMatch(
      /ListCertificates returned a malformed page: the body is not JSON/,
    );
  });

  it("recovers on the next good sweep: only the source-health alert resolves, nothing else is resent", async () => {
    const posts = rig.slack.posts.length;
    const summary = await rig.sweep(new Date(NOW.getTime() + 4 * HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, consecutiveFailures: 0, added: 0, gone: 0 });
    expect(summary.alerts.map((a) => [a.fingerprint.split(":")[0], a.transition])).toEqual([
      ["source-health", "resolved"],
    ]);
    expect(rig.slack.posts).toHaveLength(posts + 1);
  });

  it("throttling (429 APIGW.0308) and transient 5xx are retried within the sweep", async () => {
    rig.scm.inject("throttle");
    rig.scm.inject("5xx");
    const summary = await rig.sweep(new Date(NOW.getTime() + 5 * HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, retries: 2, throttled: 1, calls: 5 });
  });
});

describe("what the store keeps", () => {
  const fleet = Rig.fleet(120, NOW);
  const rig = new Rig(fleet);

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("writes only what changed, and a compressed snapshot only when the inventory changed", async () => {
    await rig.sweep(NOW);
    let snapshots = [];
    for await (const snapshot of rig.store.snapshots("hw-test")) snapshots.push(snapshot);
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]?.observations).toHaveLength(120);

    const before = rig.store.usage.writeUnits;
    const quiet = await rig.sweep(new Date(NOW.getTime() + HOUR));
    const steadyWrites = rig.store.usage.writeUnits - before;
    console.log(`steady-state sweep of 120 unchanged certificates: ${steadyWrites} DynamoDB write units`);
    expect(quiet.alerts).toEqual([]);
    // The sweep's history record and the source's last record.
    expect(steadyWrites).toBe(2);

    // One certificate renewed, one deleted: two object writes, a new snapshot, a resolved notice if it was alerting.
    const renewed = fleet.find((c) => c.status === "ISSUED" && stageAt(c.expire_time, NOW) === "7d");
    expect(renewed).toBeDefined();
    if (!renewed) return;
    renewed.expire_time = "2027-11-30 12:00:00.0";
    const removed = fleet.splice(fleet.length - 1, 1)[0];
    const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR));
    expect(summary.sources[0]).toMatchObject({ changed: 1, gone: 1, added: 0, objects: 119 });
    expect(summary.alerts.map((a) => [a.name, a.transition])).toEqual([[renewed.name, "resolved"]]);
    snapshots = [];
    for await (const snapshot of rig.store.snapshots("hw-test")) snapshots.push(snapshot);
    expect(snapshots).toHaveLength(2);
    expect(snapshots[1]?.observations).toHaveLength(119);
    expect(snapshots[1]?.observations.some((o) => o.nativeId === removed?.id)).toBe(false);
    expect(JSON.stringify(snapshots)).not.toContain(KEYS.secretKey);
  });
});

describe("SCM collector details", () => {
  it("fetches the remaining pages concurrently, within the credential's concurrency", async () => {
    const fleet = Rig.fleet(500, NOW);
    const rig = await new Rig(fleet).start();
    // Pacing (10 calls/s by default) would otherwise be the binding limit, not concurrency.
    rig.scm.latencyMs = 200;
    const source = { ...rig.config.sources[0], qps: 100 } as (typeof rig.config.sources)[0];
    try {
      const summary = await rig.sweep(NOW, { config: { ...rig.config, sources: [source] }, receivers: [] });
      expect(summary.sources[0]).toMatchObject({ ok: true, objects: 500, calls: 10 });
      expect(rig.scm.stats.maxInFlight).toBeGreaterThan(1);
      expect(rig.scm.stats.maxInFlight).toBeLessThanOrEqual(4);
    } finally {
      await rig.stop();
    }
  });

  it("authenticates with an IAM token in X-Auth-Token instead of a signature", async () => {
    const rig = await new Rig(Rig.fleet(20, NOW)).start();
    try {
      const scm = (await import("../sim/huawei-scm.js")).scmSimulator({
        certificates: rig.certificates,
        credentials: KEYS,
        token: "iam-token-0123456789abcdef0123456789",
        clock: () => NOW.getTime(),
      });
      const url = await scm.listen();
      const source = {
        ...rig.config.sources[0],
        endpoint: url,
        credentials: { token: "iam-token-0123456789abcdef0123456789" },
      } as (typeof rig.config.sources)[0];
      const summary = await rig.sweep(NOW, { config: { ...rig.config, sources: [source] }, receivers: [] });
      await scm.close();
      expect(summary.sources[0]).toMatchObject({ ok: true, objects: 20 });
    } finally {
      await rig.stop();
    }
  });

  it("keeps an undocumented status as raw, watches the certificate anyway, and warns naming the field", async () => {
    const fleet = Rig.fleet(10, NOW);
    const odd = fleet[0];
    if (!odd) throw new Error("empty fleet");
    odd.status = "FROZEN";
    odd.expire_time = "2026-11-25 08:00:00.0";
    // Listed by expiry, ascending: after every certificate expiring earlier, and those never issued.
    const index = fleet.filter((c) => c.expire_time < odd.expire_time).length;
    const rig = await new Rig(fleet).start();
    try {
      // An undocumented status is outside the contract on purpose.
      const summary = await deliberately(() => rig.sweep(NOW, { receivers: [] }));
      expect(summary.exitCode).toBe(0);
      expect(summary.sources[0]?.warnings).toEqual([
        `ListCertificates: offset=0: certificates[${index}].status of certificate ${odd.id} is "FROZEN", not a documented status`,
      ]);
      const stored = (await rig.store.loadObjects("hw-test")).get(`hw-test/certificate/${odd.id}`);
      expect(stored?.observation).toMatchObject({ status: "unknown", rawStatus: "FROZEN" });
      expect(summary.alerts.map((a) => a.name)).toContain(odd.name);
    } finally {
      await rig.stop();
    }
  });
});

describe("a source past its timeBudget", () => {
  const rig = new Rig(Rig.fleet(120, NOW));
  // Another account, so that the two sources do not share a credential's limiter.
  const stalledKeys = { accessKey: "TESTACCESSKEY0000002", secretKey: "test-secret-key-stalled-1" };
  const stalled = scmSimulator({ certificates: Rig.fleet(10, NOW, 3), credentials: stalledKeys });

  beforeAll(async () => {
    await rig.start();
    stalled.injectAlways("hang");
    const source = `  - name: hw-stalled
    type: huawei-scm
    endpoint: ${await stalled.listen()}
    credentials: { accessKey: ${stalledKeys.accessKey}, secretKey: ${stalledKeys.secretKey} }
    timeout: 1500ms
    timeBudget: 500ms
`;
    rig.config = await parseConfig(rig.yaml().replace("receivers:", `${source}receivers:`), "test.yml");
  });
  afterAll(async () => {
    await Promise.all([rig.stop(), stalled.close()]);
  });

  it("fails alone naming the bound, its request cancelled; the other source finishes and delivers", async () => {
    const started = Date.now();
    const summary = await rig.sweep(NOW);
    expect(summary.exitCode).toBe(1);
    const [healthy, slow] = summary.sources;
    expect(healthy).toMatchObject({ name: "hw-test", ok: true, objects: 120 });
    expect(slow).toMatchObject({ name: "hw-stalled", ok: false, objects: 0 });
    expect(slow?.error).toBe(
      "stopped after 500ms, the source's timeBudget, with 0 objects read; its requests were cancelled and nothing stored was changed (raise timeBudget if the source really takes that long)",
    );
    expect(summary.deliveries.find((delivery) => delivery.receiver === "ops-slack")?.sent).toBeGreaterThan(0);
    expect(rig.slack.posts.length).toBeGreaterThan(0);
    // Cancelled, not left to time out after 1.5 s and be sent again.
    await sleep(Math.max(0, started + 2_600 - Date.now()));
    expect(stalled.stats.requests).toBe(1);
  });
});
