import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedAlertNames, namesIn, Rig } from "./harness.js";

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

  it("recovers on the next good sweep with nothing lost and nothing resent", async () => {
    const posts = rig.slack.posts.length;
    const summary = await rig.sweep(new Date(NOW.getTime() + 4 * HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, consecutiveFailures: 0, gone: 0, added: 0 });
    expect(rig.slack.posts.length).toBe(posts);
  });

  it("throttling (429 APIGW.0308) and transient 5xx are retried within the sweep", async () => {
    rig.scm.inject("throttle");
    rig.scm.inject("5xx");
    const summary = await rig.sweep(new Date(NOW.getTime() + 5 * HOUR));
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, retries: 2, throttled: 1, calls: 5 });
  });
});
