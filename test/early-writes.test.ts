import { afterEach, describe, expect, it } from "vitest";
import { observeExchanges } from "../sim/server.js";
import { Rig } from "./harness.js";
import { scmCertificate } from "./fixtures.js";

const NOW = new Date("2026-11-22T00:00:00Z");

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.stop();
  rig = undefined;
});

describe("a first sweep writes new objects while the listing goes on", () => {
  it("a listing that fails late keeps what it wrote, unannounced; the next sweep announces each alert once", async () => {
    // 1,200 certificates: one in ten expires within the alert window and waits for the end of the sweep.
    const fleet = Array.from({ length: 1200 }, (_, n) => scmCertificate(n, n % 10 === 0 ? 7 : 300, NOW));
    rig = await new Rig(fleet).start();
    const started = rig;
    const stop = observeExchanges((exchange) => {
      if (Number(exchange.request.url.searchParams.get("offset")) >= 1100) started.scm.injectAlways("5xx");
    });
    const failed = await rig.sweep(NOW).finally(() => {
      stop();
      started.scm.injectAlways(undefined);
    });
    expect(failed.sources[0]?.ok).toBe(false);
    expect(failed.alerts.filter((alert) => alert.transition === "new")).toEqual([]);
    // Written as they were listed, in batches of 500, those that alert as not announced yet.
    const kept = await rig.store.loadObjects("hw-test");
    expect(kept.size % 500).toBe(0);
    expect(kept.size).toBeGreaterThanOrEqual(500);
    const alerting = [...kept.values()].filter(
      (object) => Number(object.observation.nativeId.slice(3)) % 10 === 0,
    );
    expect(alerting.length).toBeGreaterThan(0);
    for (const object of kept.values()) expect(object.alerts).toEqual({});
    // Their names are in the hostname index already.
    const [one] = kept.values();
    expect(await rig.store.hostnames.covering(one?.observation.domains[0] ?? "")).toEqual([
      expect.objectContaining({ key: one?.observation.key }),
    ]);

    const next = await rig.sweep(new Date(NOW.getTime() + 3_600_000));
    expect(next.sources[0]).toMatchObject({ ok: true, objects: 1200, added: 1200 - kept.size });
    const announced = next.alerts.filter((alert) => alert.transition === "new").map((alert) => alert.name);
    expect(announced.sort()).toEqual(
      fleet.filter((_, n) => n % 10 === 0).map((certificate) => certificate.name),
    );
    expect(new Set(announced).size).toBe(120);
    expect(next.sources[0]?.warnings).toEqual([]);
  }, 60_000);
});
