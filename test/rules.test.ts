import { describe, expect, it } from "vitest";
import { configSchema } from "../lib/config/schema.js";
import { parseInstant, parseLocalTime } from "../lib/model/time.js";
import { optionalInstant } from "../lib/sources/fields.js";
import { receiversFor } from "../lib/notify/route.js";
import { evaluateObject } from "../lib/rules/evaluate.js";
import { expiryAlert } from "../lib/rules/expiry.js";
import { replacementFinder } from "../lib/rules/replacement.js";
import type { Observation, Status, StoredObject } from "../lib/model/types.js";
import { observation } from "./fixtures.js";

/** The finder over objects as a sweep holds them: by key. */
const finderOf = (objects: StoredObject[], askedAbout?: Observation[]) =>
  replacementFinder(new Map(objects.map((object) => [object.observation.key, object])), askedAbout);

const DAY = 86_400_000;
const HOUR = 3_600_000;
const NOW = new Date("2026-11-22T00:00:00Z");
/** The config as written; `config` is what the schema makes of it. */
const written = {
  sources: [
    { name: "hw-test", type: "huawei-scm", endpoint: "https://x.example.com", credentials: { token: "tok" } },
  ],
  receivers: [{ name: "ops", type: "slack", webhookUrl: "https://hooks.slack.com/services/T/B/C" }],
  silences: [
    { match: { domain: "*.staging.example.com" }, until: "2026-12-01T00:00:00Z", reason: "throwaway" },
  ],
};
const config = configSchema.parse(written);

function inDays(days: number): string {
  return new Date(NOW.getTime() + days * DAY).toISOString();
}

function stored(notAfter: string, overrides: Partial<StoredObject> = {}): StoredObject {
  return {
    observation: observation({ nativeId: "c1", notAfter }),
    firstSeenAt: NOW.toISOString(),
    changedAt: NOW.toISOString(),
    alerts: {},
    ...overrides,
  };
}

const noAcks = new Map();

/** Runs evaluation the way the sweep does: alert state carries over from one run to the next. */
function runAt(object: StoredObject, at: Date, settings = config): { object: StoredObject; news: string[] } {
  const result = evaluateObject(object, { now: at, config: settings, acks: noAcks });
  return {
    object: { ...object, ...result.state },
    news: result.alerts.map((a) => `${a.transition}:${a.stage}:${a.severity}`),
  };
}

describe("time parsing", () => {
  it("reads SCM's zone-less expire_time in the source's offset", () => {
    expect(parseLocalTime("2021-05-27 16:46:25.0", "+08:00")).toBe("2021-05-27T08:46:25.000Z");
    expect(parseLocalTime("2021-05-27 16:46:25", "Z")).toBe("2021-05-27T16:46:25.000Z");
    expect(parseLocalTime("2021-05-27 16:46:25.5", "-05:30")).toBe("2021-05-27T22:16:25.500Z");
    expect(parseLocalTime("27/05/2021", "+08:00")).toBeUndefined();
  });

  it("refuses times that do not exist or cannot be a certificate's, rather than reading them as others", () => {
    // Rolled over into the next month or year before; a two-digit year became 19xx.
    expect(parseLocalTime("2026-13-01 00:00:00.0", "+08:00")).toBeUndefined();
    expect(parseLocalTime("2026-02-30 00:00:00.0", "+08:00")).toBeUndefined();
    expect(parseLocalTime("2026-11-31 23:59:59.0", "Z")).toBeUndefined();
    expect(parseLocalTime("0099-01-01 00:00:00.0", "Z")).toBe(new Date("0099-01-01T00:00:00Z").toISOString());
    expect(parseLocalTime("2028-02-29 12:00:00.0", "Z")).toBe("2028-02-29T12:00:00.000Z");
    expect(parseInstant("2026-02-30")).toBeUndefined();
    expect(parseInstant("2026-02-29T00:00Z")).toBeUndefined();
    expect(parseInstant("2026-04-31 10:00:00")).toBeUndefined();
    expect(parseInstant("2028-02-29")).toBe("2028-02-29T00:00:00.000Z");
    // A date written as digits is not epoch seconds in 1970 (a false "expired"); nor is a number past any Date.
    expect(parseInstant("20261201")).toBeUndefined();
    expect(parseInstant(20261201)).toBeUndefined();
    expect(parseInstant(9e15)).toBeUndefined();
    expect(parseInstant("1749580567000")).toBe("2025-06-10T18:36:07.000Z");
    expect(parseInstant(1_749_580_567)).toBe("2025-06-10T18:36:07.000Z");
  });

  it("names the field when a vendor's time cannot be read", () => {
    expect(() => optionalInstant(9e15, "ListThings", "page 1: Data[0].NotAfter")).toThrow(
      "ListThings returned a malformed page: page 1: Data[0].NotAfter 9000000000000000 is not a time",
    );
  });
});

describe("expiry rule", () => {
  it.each([
    [45, undefined, undefined],
    [30, "30d", "warning"],
    [20, "30d", "warning"],
    [14, "14d", "warning"],
    [7, "7d", "critical"],
    [0.5, "1d", "critical"],
    [-2, "expired", "critical"],
  ])("%s days left → stage %s, %s", (days, stage, severity) => {
    const result = expiryAlert(observation({ nativeId: "c1", notAfter: inDays(days) }), NOW, config.alerts);
    expect(result?.stage).toBe(stage);
    expect(result?.severity).toBe(severity);
  });

  it("treats criticalWithinDays as a stage even when it is not a threshold", () => {
    const alerts = { ...config.alerts, expiryThresholdsDays: [30, 10, 1], criticalWithinDays: 7 };
    const at = (days: number) =>
      expiryAlert(observation({ nativeId: "c1", notAfter: inDays(days) }), NOW, alerts);
    expect([at(9)?.stage, at(9)?.severity]).toEqual(["10d", "warning"]);
    expect([at(6)?.stage, at(6)?.severity]).toEqual(["7d", "critical"]);
  });

  it("says hours, not 0 days, inside the last day", () => {
    const result = expiryAlert(observation({ nativeId: "c1", notAfter: inDays(0.25) }), NOW, config.alerts);
    expect(result?.summary).toMatch(/^expires in 6 hours \(/);
  });

  it("leaves unissued and inactive certificates alone", () => {
    for (const status of ["pending", "failed", "inactive"] as const) {
      expect(
        expiryAlert(observation({ nativeId: "c1", status, notAfter: inDays(1) }), NOW, config.alerts),
      ).toBeUndefined();
    }
  });
});

describe("evaluation: transitions, not repetition", () => {
  it("an end read more precisely (a date became an instant) is the same life: nothing is announced again", () => {
    // The old SSL listing gave CAS's end as a date, read as UTC midnight; ListCertificates gives the instant.
    const dated = runAt(stored("2026-11-27T00:00:00.000Z"), NOW);
    expect(dated.news).toEqual(["new:7d:critical"]);
    const precise = {
      ...dated.object,
      observation: { ...dated.object.observation, notAfter: "2026-11-27T15:59:59.000Z" },
    };
    const after = runAt(precise, new Date(NOW.getTime() + HOUR));
    expect(after.news).toEqual([]);
    expect(after.object.alerts.expiry?.episode).toBe("2026-11-27T00:00:00.000Z");
    // A real renewal moves the end by far more than that: the alert resolves.
    const renewed = { ...after.object, observation: { ...after.object.observation, notAfter: inDays(370) } };
    expect(runAt(renewed, new Date(NOW.getTime() + 2 * HOUR)).news).toEqual(["resolved:resolved:critical"]);
  });

  it("announces each threshold once, and nothing in between", () => {
    let step = runAt(stored(inDays(20)), NOW);
    expect(step.news).toEqual(["new:30d:warning"]);
    step = runAt(step.object, new Date(NOW.getTime() + DAY));
    expect(step.news).toEqual([]);
    step = runAt(step.object, new Date(NOW.getTime() + 7 * DAY));
    expect(step.news).toEqual(["escalated:14d:warning"]);
    step = runAt(step.object, new Date(NOW.getTime() + 14 * DAY));
    expect(step.news).toEqual(["escalated:7d:critical"]);
  });

  it("catches up a missed run with the most severe stage reached, not a burst", () => {
    let step = runAt(stored(inDays(20)), NOW);
    step = runAt(step.object, new Date(NOW.getTime() + 21 * DAY));
    expect(step.news).toEqual(["escalated:expired:critical"]);
  });

  it("resolves once when a renewal moves notAfter past every threshold", () => {
    const step = runAt(stored(inDays(5)), NOW);
    expect(step.news).toEqual(["new:7d:critical"]);
    const renewed = { ...step.object, observation: { ...step.object.observation, notAfter: inDays(365) } };
    const after = runAt(renewed, new Date(NOW.getTime() + DAY));
    expect(after.news).toEqual(["resolved:resolved:critical"]);
    expect(runAt(after.object, new Date(NOW.getTime() + 2 * DAY)).news).toEqual([]);
  });

  it("sends the all-clear where the alarm went: a resolution keeps the severity it was announced with", () => {
    const routed = configSchema.parse({
      ...written,
      receivers: [
        { name: "pager", type: "slack", webhookUrl: "https://hooks.slack.com/services/T/B/C" },
        { name: "mail", type: "email", from: "a@b.c", to: ["d@e.f"], smtp: { host: "mail.example.com" } },
      ],
      routes: [
        { match: { severity: "critical" }, receivers: ["pager"] },
        { match: {}, receivers: ["mail"] },
      ],
    });
    const step = runAt(stored(inDays(5)), NOW);
    const renewed = { ...step.object, observation: { ...step.object.observation, notAfter: inDays(365) } };
    const [resolution] = evaluateObject(renewed, { now: NOW, config: routed, acks: noAcks }).alerts;
    expect(resolution?.transition).toBe("resolved");
    expect(resolution && receiversFor(resolution, routed)).toEqual(["pager"]);
  });

  it("a revocation is critical at once and supersedes an expiry alert without a false 'resolved'", () => {
    const step = runAt(stored(inDays(5)), NOW);
    const revoked = {
      ...step.object,
      observation: { ...step.object.observation, status: "revoked" as const, rawStatus: "REVOKED" },
    };
    expect(runAt(revoked, NOW).news).toEqual(["new:revoked:critical"]);
  });

  it("a revocation is not 'resolved' by a status that did not come back (unknown)", () => {
    const revoked = stored(inDays(300));
    revoked.observation = { ...revoked.observation, status: "revoked", rawStatus: "revoked" };
    const step = runAt(revoked, NOW);
    expect(step.news).toEqual(["new:revoked:critical"]);
    const unknown = {
      ...step.object,
      observation: { ...step.object.observation, status: "unknown" as const },
    };
    const after = runAt(unknown, new Date(NOW.getTime() + DAY));
    expect(after.news).toEqual([]);
    expect(after.object.alerts.revocation?.stage).toBe("revoked");
  });

  it("a failed deployment worker resolves only on success, not while a retry runs", () => {
    const worker = stored("", {});
    worker.observation = {
      ...observation({ nativeId: "8000/1", kind: "deployment-task", notAfter: undefined }),
      status: "failed",
      rawStatus: "error",
      updatedAt: NOW.toISOString(),
    };
    const failed = runAt(worker, NOW);
    expect(failed.news).toEqual(["new:failed:critical"]);
    const retrying = {
      ...failed.object,
      observation: { ...failed.object.observation, status: "pending" as const, rawStatus: "processing" },
    };
    expect(runAt(retrying, new Date(NOW.getTime() + HOUR)).news).toEqual([]);
    const succeeded = {
      ...failed.object,
      observation: { ...failed.object.observation, status: "succeeded" as const, rawStatus: "success" },
    };
    expect(runAt(succeeded, new Date(NOW.getTime() + 2 * HOUR)).news).toEqual(["resolved:resolved:critical"]);
  });

  it("a silence holds an alert back until it ends, then it is announced", () => {
    const object = stored(inDays(5));
    object.observation.domains = ["web.staging.example.com"];
    const silenced = evaluateObject(object, { now: NOW, config, acks: noAcks });
    expect(silenced.alerts).toEqual([]);
    expect(silenced.silenced.map((s) => s.reason)).toEqual(["throwaway"]);
    expect(silenced.state.alerts).toEqual({});
    const later = evaluateObject(object, { now: new Date("2026-12-01T00:00:01Z"), config, acks: noAcks });
    expect(later.alerts.map((a) => a.stage)).toEqual(["expired"]);
  });
});

describe("replacement of a deployment worker", () => {
  /** A worker of `job` on resource `resource`; `modified` is its GmtModified, when the vendor gave one. */
  const worker = (
    job: number,
    id: number,
    status: Status,
    resource: string,
    modified?: string,
  ): StoredObject => ({
    observation: observation({
      key: `ali-deploy/deployment-task/${job}/${id}`,
      kind: "deployment-task",
      nativeId: `${job}/${id}`,
      domains: [],
      notAfter: undefined,
      status,
      rawStatus: status,
      updatedAt: modified,
      details: { jobId: String(job), job: String(job), worker: String(id), resourceId: resource },
    }),
    firstSeenAt: NOW.toISOString(),
    changedAt: NOW.toISOString(),
    alerts: {},
  });
  const at = (hours: number) => new Date(NOW.getTime() + hours * HOUR).toISOString();

  it("a later success on the same resource replaces a failed or rolled-back worker; an earlier one does not", () => {
    const failed = worker(8001, 1, "failed", "r1", at(-5));
    const rolledBack = worker(8002, 2, "rolled-back", "r2", at(-5));
    const earlier = worker(7000, 3, "succeeded", "r1", at(-9));
    const later = worker(9000, 4, "succeeded", "r1", at(-1));
    const latest = worker(9001, 5, "succeeded", "r1", at(0));
    const elsewhere = worker(9002, 6, "succeeded", "r9", at(0));
    const laterOnR2 = worker(9003, 7, "succeeded", "r2", at(-1));
    const find = finderOf([failed, rolledBack, earlier, later, latest, elsewhere, laterOnR2]);
    expect(find(failed.observation)?.nativeId).toBe("9001/5");
    expect(find(rolledBack.observation)?.nativeId).toBe("9003/7");
    expect(finderOf([failed, earlier, elsewhere])(failed.observation)).toBeUndefined();
    // Told what it will be asked about (a sweep's judged objects), it indexes less and answers the same.
    const all = [failed, rolledBack, earlier, later, latest, elsewhere, laterOnR2];
    const asked = finderOf(all, [failed.observation, rolledBack.observation]);
    expect(asked(failed.observation)?.nativeId).toBe("9001/5");
    expect(asked(rolledBack.observation)?.nativeId).toBe("9003/7");
    const certificate = (id: string, domains: string[], days: number): StoredObject => ({
      ...worker(1, 1, "active", "-"),
      observation: observation({
        key: `c/${id}`,
        nativeId: id,
        domains,
        notAfter: inDays(days),
        status: "active",
      }),
    });
    const expiring = certificate("old", ["a.example", "b.example"], 5);
    const renewal = certificate("new", ["b.example", "a.example", "c.example"], 400);
    const partial = certificate("partial", ["a.example"], 500);
    const other = certificate("other", ["z.example"], 600);
    const certificates = [expiring, renewal, partial, other];
    expect(finderOf(certificates, [expiring.observation])(expiring.observation)?.nativeId).toBe("new");
    expect(finderOf(certificates)(expiring.observation)?.nativeId).toBe("new");
  });

  it("without GmtModified on either side, the later job id decides; a worker still running is never replaced", () => {
    const failed = worker(8001, 1, "failed", "r1", at(-5));
    const redeployed = worker(9000, 2, "succeeded", "r1");
    const older = worker(7000, 3, "succeeded", "r1");
    expect(finderOf([failed, redeployed])(failed.observation)?.nativeId).toBe("9000/2");
    expect(finderOf([failed, older])(failed.observation)).toBeUndefined();
    const running = worker(8001, 4, "pending", "r1", at(-5));
    expect(finderOf([running, redeployed])(running.observation)).toBeUndefined();
  });

  it("the resolution says which job fixed it", () => {
    const failed = worker(8001, 1, "failed", "r1", at(-5));
    failed.alerts = { deployment: { stage: "failed", episode: at(-5), severity: "critical", at: at(-4) } };
    const redeployed = worker(9000, 2, "succeeded", "r1", at(-1));
    const result = evaluateObject(
      failed,
      { now: NOW, config, acks: noAcks },
      { replacement: finderOf([failed, redeployed])(failed.observation) },
    );
    expect(result.alerts.map((a) => [a.transition, a.summary])).toEqual([
      ["resolved", "resolved (was failed); redeployed successfully by job 9000, worker 2"],
    ]);
  });
});
