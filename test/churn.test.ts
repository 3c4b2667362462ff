import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import { diffInventory, type Listing, Seen } from "../lib/diff.js";
import { PackedObjects } from "../lib/model/packed-objects.js";
import type { Observation, StoredObject } from "../lib/model/types.js";
import { RunOrderError } from "../lib/run-order.js";
import { sweepSources } from "../lib/sweep-source.js";
import type { ScmCertificate } from "../sim/fleet.js";
import { observeExchanges } from "../sim/server.js";
import { Rig } from "./harness.js";
import { scmCertificate } from "./fixtures.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

function news(summary: { alerts: { transition: string; stage: string; name: string }[] }): string[] {
  return summary.alerts.map((a) => `${a.transition} ${a.stage} ${a.name}`);
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

describe("an object across its lives", () => {
  it("a certificate that comes back, still expired, is announced again with a new id", async () => {
    const fleet = [scmCertificate(1, -3, NOW), scmCertificate(2, 200, NOW)];
    rig = await new Rig(fleet).start();
    expect(news(await rig.sweep(NOW))).toEqual(["new expired cert-00001"]);

    const [expired] = fleet.splice(0, 1);
    const left = await rig.sweep(at(HOUR));
    // ShowCertificate answers SCM's 404: gone at once, no second listing needed.
    expect(news(left)).toEqual(["resolved resolved cert-00001"]);
    expect(left.sources[0]).toMatchObject({ gone: 1, missing: 0 });
    expect(left.alerts[0]?.summary).toContain("no longer listed");

    fleet.push(expired as ScmCertificate);
    const back = await rig.sweep(at(2 * HOUR));
    expect(news(back)).toEqual(["new expired cert-00001"]);
    expect(back.deliveries.find((d) => d.receiver === "ops-slack")).toMatchObject({ sent: 1 });
    expect(rig.slack.posts).toHaveLength(3);
    const stored = (await rig.store.loadObjects("hw-test")).get(`hw-test/certificate/${expired?.id}`);
    expect(stored?.firstSeenAt).toBe(NOW.toISOString());
    expect(await rig.store.loadGone("hw-test")).toEqual(new Map());
  });
});

/** Runs `sweep` with SCM answering 500 to every call after the listing's first page: the look-ups fail. */
async function withLookUpsFailing<T>(started: Rig, sweep: () => Promise<T>): Promise<T> {
  const stop = observeExchanges((exchange) => {
    if (exchange.request.url.searchParams.get("offset") === "0") started.scm.injectAlways("5xx");
  });
  try {
    return await sweep();
  } finally {
    stop();
    started.scm.injectAlways(undefined);
  }
}

describe("missing is not gone", () => {
  /** Deletes `deleted` certificates and adds as many at the end of the order once the first page is served. */
  function churnAfterFirstPage(fleet: ScmCertificate[], deleted: string[], added: ScmCertificate[]) {
    let done = false;
    return observeExchanges((exchange) => {
      if (done || exchange.request.url.searchParams.get("offset") !== "0") return;
      done = true;
      for (const id of deleted)
        fleet.splice(
          fleet.findIndex((c) => c.id === id),
          1,
        );
      fleet.push(...added);
    });
  }

  it("certificates a walk steps over while the listing changes are looked up, not resolved", async () => {
    // By expiry: 50 certificates within 10 days fill the first page; the 13-day one opens the second.
    const early = Array.from({ length: 50 }, (_, i) => scmCertificate(1000 + i, 5 + i / 10, NOW));
    const thirteen = scmCertificate(13, 13, NOW);
    const fleet = [
      ...early,
      thirteen,
      ...Array.from({ length: 69 }, (_, i) => scmCertificate(2000 + i, 100 + i, NOW)),
    ];
    rig = await new Rig(fleet).start();
    await rig.sweep(NOW);
    // Once the first page is served, six of its certificates are deleted and six added at the end: the total stays
    // 120, and the second page, asked for at offset 50, starts six certificates later than it did.
    const deleted = early.slice(0, 6);
    const stepped = fleet.slice(50, 56);
    const stop = churnAfterFirstPage(
      fleet,
      deleted.map((c) => c.id),
      Array.from({ length: 6 }, (_, i) => scmCertificate(5000 + i, 300, NOW)),
    );
    let churned: Awaited<ReturnType<Rig["sweep"]>>;
    try {
      churned = await rig.sweep(at(HOUR));
    } finally {
      stop();
    }
    expect(churned.sources[0]).toMatchObject({ ok: true, added: 6, gone: 0, missing: 0 });
    expect(news(churned)).toEqual([]);
    const showCalls = 6;
    expect(churned.sources[0]?.calls).toBe(3 + showCalls);
    expect(stepped).toContain(thirteen);

    // The next listing lacks the six deleted ones; ShowCertificate's 404 confirms them gone.
    const settled = await rig.sweep(at(2 * HOUR));
    expect(settled.sources[0]).toMatchObject({ ok: true, gone: 6, missing: 0, objects: 120 });
    expect(settled.alerts.every((alert) => alert.transition === "resolved")).toBe(true);
    expect(settled.alerts.map((alert) => alert.name).sort()).toEqual(deleted.map((c) => c.name).sort());
  });

  it("a missing object whose look-up fails stays missing, alerting as last seen, and is settled by the next listing", async () => {
    const fleet = [scmCertificate(1, 5, NOW), scmCertificate(2, 200, NOW)];
    const started = await new Rig(fleet).start();
    rig = started;
    expect(news(await started.sweep(NOW))).toEqual(["new 7d cert-00001"]);
    const [first] = fleet.splice(0, 1);
    // The listing lacks it, and SCM answers every call after the listing, the look-up, with 500s.
    const lookUpFailed = await withLookUpsFailing(started, () => started.sweep(at(HOUR)));
    expect(lookUpFailed.sources[0]).toMatchObject({ ok: true, gone: 0, missing: 1, objects: 2 });
    expect(lookUpFailed.sources[0]?.warnings.join("\n")).toMatch(
      /cert-00001 \(scs0+1\) was not in the listing and could not be looked up: .*stays missing/,
    );
    expect(news(lookUpFailed)).toEqual([]);
    // Still alerting from what was last seen: it crosses into the 1-day stage while missing.
    fleet.push(first as ScmCertificate);
    const back = await rig.sweep(at(4.5 * DAY));
    expect(news(back)).toEqual(["escalated 1d cert-00001"]);
    expect(back.sources[0]).toMatchObject({ missing: 0, gone: 0 });
  });

  it("a second complete listing confirms what a look-up could not", () => {
    const observation = (id: string): Observation => ({
      key: `s/certificate/${id}`,
      kind: "certificate",
      nativeId: id,
      name: id,
      domains: [],
      status: "active",
      rawStatus: "ISSUED",
      labels: { source: "s", provider: "huawei" },
    });
    const stored: StoredObject[] = ["a", "b"].map((id) => ({
      observation: observation(id),
      firstSeenAt: "t0",
      changedAt: "t0",
      alerts: {},
    }));
    // Each sweep loads what is stored afresh, packed, and marks on it what its listing showed.
    const diff = (objects: Iterable<StoredObject>, listed: string[], listing: Listing, at: string) => {
      const packed = new PackedObjects();
      for (const object of objects) packed.pack(object);
      const seen = new Seen(packed);
      for (const id of listed) seen.add(observation(id));
      return diffInventory({
        stored: packed,
        seen,
        goneBefore: new Map(),
        confirmedGone: new Set(),
        listing,
        at,
      });
    };
    const first = diff(stored, ["b"], "complete", "t1");
    expect(first).toMatchObject({ gone: [], missing: 1 });
    expect(first.current.get("s/certificate/a")?.missingSince).toBe("t1");

    const unsettled = diff(first.current.values(), ["b"], "partial", "t2");
    expect(unsettled).toMatchObject({ gone: [], missing: 1 });

    const second = diff(first.current.values(), ["b"], "complete", "t3");
    expect(second.gone.map((object) => object.observation.nativeId)).toEqual(["a"]);
    expect(second.current.has("s/certificate/a")).toBe(false);

    const found = diff(first.current.values(), ["b", "a"], "partial", "t3");
    expect(found.current.get("s/certificate/a")?.missingSince).toBeUndefined();
    expect(found.changedKeys.has("s/certificate/a")).toBe(true);
    expect(found.changed).toBe(0);
  });
});

describe("the clock", () => {
  it("refuses a run earlier than one already recorded, naming it, unless it is a dry run", async () => {
    rig = await new Rig([scmCertificate(1, 5, NOW)]).start();
    const later = await rig.sweep(at(DAY));
    const refused = rig.sweep(NOW);
    await expect(refused).rejects.toBeInstanceOf(RunOrderError);
    await expect(rig.sweep(NOW)).rejects.toThrow(
      new RegExp(`run ${later.runId} at ${at(DAY).toISOString()} is already recorded`),
    );
    expect(rig.slack.posts).toHaveLength(1);
    const dry = await rig.sweep(NOW, { dryRun: true });
    expect(dry.exitCode).toBe(0);
  });

  it("the CLI exits 2 for such a run, with the message and no stack trace", async () => {
    rig = await new Rig([scmCertificate(1, 5, NOW)]).start();
    const dir = await mkdtemp(join(tmpdir(), "certwatch-clock-"));
    try {
      const config = join(dir, "certwatch.yml");
      await writeFile(
        config,
        `store: { type: dynamodb, table: certwatch, endpoint: "${rig.dynamo.endpoint}" }\n${rig.yaml()}`,
      );
      await rig.sweep(at(DAY));
      const lines: string[] = [];
      const output = {
        out: (line: string) => lines.push(line),
        err: (line: string) => lines.push(line),
        isTTY: false,
      };
      const code = await main(
        ["node", "certwatch", "sweep", "-c", config, "--now", NOW.toISOString()],
        output,
      );
      expect(code).toBe(2);
      expect(lines.join("\n")).toMatch(
        /source hw-test: run \S+ at 2026-11-23T00:00:00.000Z is already recorded/,
      );
      expect(lines.join("\n")).not.toMatch(/\n\s+at /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("tolerates seconds of skew between hosts, and counts failures from the record written last", async () => {
    rig = await new Rig([scmCertificate(1, 200, NOW)], "alerts: { sourceFailuresBeforeAlert: 2 }\n").start();
    // A host a minute ahead sweeps well; then hosts on time fail, twice.
    await rig.sweep(at(60_000));
    rig.scm.injectAlways("5xx");
    const behind = await rig.sweep(NOW);
    expect(behind.sources[0]).toMatchObject({ ok: false, consecutiveFailures: 1 });
    const next = await rig.sweep(at(90_000));
    expect(next.sources[0]).toMatchObject({ ok: false, consecutiveFailures: 2 });
    expect(news(next)).toEqual(["new blind source hw-test"]);
    const last = await rig.store.lastSweep("hw-test");
    expect(last?.runId).toBe(next.runId);
    expect(last?.latestRun?.at).toBe(at(90_000).toISOString());
  });
});

describe("odd clocks and a failing store", () => {
  it("the CLI refuses to record a --now ahead of the wall clock; a dry run may look there", async () => {
    rig = await new Rig([scmCertificate(1, 5, NOW)]).start();
    const dir = await mkdtemp(join(tmpdir(), "certwatch-future-"));
    try {
      const config = join(dir, "certwatch.yml");
      await writeFile(
        config,
        `store: { type: dynamodb, table: certwatch, endpoint: "${rig.dynamo.endpoint}" }\n${rig.yaml()}`,
      );
      const lines: string[] = [];
      const output = {
        out: (line: string) => lines.push(line),
        err: (line: string) => lines.push(line),
        isTTY: false,
      };
      const ahead = new Date(Date.now() + 30 * DAY).toISOString();
      expect(await main(["node", "certwatch", "sweep", "-c", config, "--now", ahead], output)).toBe(2);
      expect(lines.join("\n")).toMatch(/--now \S+ is ahead of this machine's clock .* Add --dry-run/);
      expect(await rig.store.lastSweep("hw-test")).toBeUndefined();
      expect(rig.slack.posts).toHaveLength(0);
      expect(
        await main(["node", "certwatch", "sweep", "-c", config, "--now", ahead, "--dry-run"], output),
      ).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a Lambda worker behind a recorded run records a failed sweep, which adds up to a 'cannot see' alert", async () => {
    // The second certificate enters the 30-day window between the worker's instant and the recorded run's.
    const fleet = [scmCertificate(1, 200, NOW), scmCertificate(2, 30.5, NOW)];
    const started = await new Rig(fleet, "alerts: { sourceFailuresBeforeAlert: 2 }\n").start();
    rig = started;
    expect(news(await started.sweep(at(DAY)))).toEqual(["new 30d cert-00002"]);
    const worker = (now: Date) =>
      sweepSources(
        { config: started.config, store: started.store, http: started.http, now, earlierRun: "fail-source" },
        `run-${now.getTime()}`,
        started.config.sources,
      );
    const [first] = await worker(NOW);
    expect(first?.report).toMatchObject({ ok: false, consecutiveFailures: 1 });
    expect(first?.report.error).toMatch(/is already recorded, later than this run's/);
    // Nothing is judged at the earlier instant: the later run's 30-day alert is not resolved.
    expect(first?.alerts).toEqual([]);
    const [second] = await worker(at(HOUR));
    expect(second?.report).toMatchObject({ ok: false, consecutiveFailures: 2 });
    expect(second?.alerts.map((alert) => `${alert.transition} ${alert.stage}`)).toEqual(["new blind"]);
    expect((await started.store.lastSweep("hw-test"))?.latestRun?.at).toBe(at(DAY).toISOString());
  });

  it("a save the store refuses fails that source, counts toward its health, and leaves the others to deliver", async () => {
    const started = await new Rig([scmCertificate(1, 5, NOW)]).start();
    rig = started;
    const sources = [0, 1].map((n) => ({ ...started.config.sources[0], name: `hw-${n}` }));
    const config = { ...started.config, sources } as typeof started.config;
    const store = Object.create(started.store) as typeof started.store;
    let refuse = true;
    store.writeObjects = async (source, changes, now) => {
      if (refuse && source === "hw-0") throw new Error("ProvisionedThroughputExceededException: slow down");
      return started.store.writeObjects(source, changes, now);
    };
    const summary = await started.sweep(NOW, { config, store });
    const [failed, fine] = summary.sources;
    expect(failed).toMatchObject({ name: "hw-0", ok: false, consecutiveFailures: 1 });
    expect(failed?.error).toMatch(/^the store could not save this sweep: .*slow down/);
    expect(fine).toMatchObject({ name: "hw-1", ok: true });
    // The refused source's news was recorded before its save failed: it is delivered too.
    expect(summary.deliveries.find((d) => d.receiver === "ops-slack")).toMatchObject({ sent: 2 });
    expect(await started.store.lastSweep("hw-0")).toMatchObject({ ok: false, consecutiveFailures: 1 });

    refuse = false;
    store.loadGone = async (source) => {
      if (source === "hw-1") throw new Error("ThrottlingException: rate exceeded");
      return started.store.loadGone(source);
    };
    const unreadable = await started.sweep(at(HOUR), { config, store });
    expect(unreadable.sources.find((s) => s.name === "hw-1")).toMatchObject({ ok: false });
    expect(unreadable.sources.find((s) => s.name === "hw-1")?.error).toMatch(/^the store could not be read/);
    expect(unreadable.sources.find((s) => s.name === "hw-0")).toMatchObject({ ok: true });
    // Recorded as a failed sweep too, so that unreadable runs add up to a "cannot see" alert and hold the heartbeat.
    expect(await started.store.lastSweep("hw-1")).toMatchObject({
      ok: false,
      consecutiveFailures: 1,
      error: expect.stringMatching(/^the store could not be read/),
    });
  });

  it("look-ups share the source's time budget: past it, the rest wait for the next listing", async () => {
    const fleet = Array.from({ length: 20 }, (_, i) => scmCertificate(i + 1, 5 + i, NOW));
    const started = await new Rig(fleet, "").start();
    rig = started;
    const source = { ...started.config.sources[0], timeBudget: "1500ms" };
    const config = { ...started.config, sources: [source] } as typeof started.config;
    await started.sweep(NOW, { config });
    fleet.splice(0, 6);
    // Each look-up takes 400 ms: the budget left after the listing holds a few, not six.
    const stop = observeExchanges((exchange) => {
      if (exchange.request.url.searchParams.get("offset") === "0") started.scm.latencyMs = 400;
    });
    try {
      const summary = await started.sweep(at(HOUR), { config });
      const report = summary.sources[0];
      expect(report?.ok).toBe(true);
      expect(report?.durationMs).toBeLessThan(2500);
      expect(report?.warnings.join("\n")).toMatch(
        /look-ups of objects missing from the listing were left for the next sweep/,
      );
      expect((report?.gone ?? 0) + (report?.missing ?? 0)).toBe(6);
      expect(report?.missing).toBeGreaterThan(0);
    } finally {
      stop();
      started.scm.latencyMs = 0;
    }
  });

  it("a missing certificate's alert says it is computed as last seen", async () => {
    const fleet = [scmCertificate(1, 5, NOW), scmCertificate(2, 200, NOW)];
    const started = await new Rig(fleet).start();
    rig = started;
    await started.sweep(NOW);
    fleet.splice(0, 1);
    // Gone from the listing, and its look-up fails, in the sweep where it crosses into the 1-day stage.
    const summary = await withLookUpsFailing(started, () => started.sweep(at(4.5 * DAY)));
    expect(news(summary)).toEqual(["escalated 1d cert-00001"]);
    const text = JSON.stringify(started.slack.posts.at(-1)?.body);
    expect(text).toContain(
      `not in the listing since ${at(4.5 * DAY)
        .toISOString()
        .slice(0, 16)
        .replace("T", " ")} UTC: as last seen`,
    );
  });
});
