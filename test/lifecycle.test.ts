import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../lib/cli/main.js";
import { parseConfig } from "../lib/config/load.js";
import { type ScmCertificate, scmTime } from "../sim/fleet.js";
import { Rig } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

/** One SCM certificate expiring `days` after NOW. */
function cert(id: string, days: number, overrides: Partial<ScmCertificate> = {}): ScmCertificate {
  return {
    id: `scs${id.padStart(13, "0")}`,
    name: id,
    domain: `${id}.example.com`,
    sans: "",
    type: "DV_SSL_CERT",
    brand: "GEOTRUST",
    signature_algorithm: "SHA256WITHRSA",
    deploy_support: true,
    expire_time: scmTime(at(days * DAY)),
    domain_type: "SINGLE_DOMAIN",
    validity_period: 12,
    status: "ISSUED",
    domain_count: 1,
    wildcard_count: 0,
    ...overrides,
  };
}

/** `transition stage name` for each alert of a run, for compact expectations. */
function news(summary: { alerts: { transition: string; stage: string; name: string }[] }): string[] {
  return summary.alerts.map((a) => `${a.transition} ${a.stage} ${a.name}`);
}

let rig: Rig;
afterEach(async () => {
  await rig?.stop();
});

async function start(certificates: ScmCertificate[], extraYaml = ""): Promise<Rig> {
  rig = await new Rig(certificates, extraYaml).start();
  return rig;
}

describe("alert lifecycle scenarios", () => {
  it("quiet rerun: a second sweep with nothing new sends nothing", async () => {
    await start([cert("a", 5), cert("b", 90)]);
    expect(news(await rig.sweep(NOW))).toEqual(["new 7d a"]);
    const again = await rig.sweep(at(HOUR));
    expect(again.alerts).toEqual([]);
    expect(rig.slack.posts).toHaveLength(1);
    expect(rig.smtp.messages).toHaveLength(1);
  });

  it("threshold crossing: each threshold once, escalating", async () => {
    await start([cert("a", 20)]);
    expect(news(await rig.sweep(NOW))).toEqual(["new 30d a"]);
    expect(news(await rig.sweep(at(7 * DAY)))).toEqual(["escalated 14d a"]);
    expect(news(await rig.sweep(at(8 * DAY)))).toEqual([]);
    expect(news(await rig.sweep(at(14 * DAY)))).toEqual(["escalated 7d a"]);
    expect(rig.slack.posts).toHaveLength(3);
  });

  it("missed-run catch-up: the most severe stage reached, not a burst", async () => {
    await start([cert("a", 20)]);
    await rig.sweep(NOW);
    const late = await rig.sweep(at(21 * DAY));
    expect(news(late)).toEqual(["escalated expired a"]);
    expect(rig.slack.posts).toHaveLength(2);
  });

  it("renewal: notAfter moves past every threshold, one resolved notice", async () => {
    const a = cert("a", 5);
    await start([a]);
    await rig.sweep(NOW);
    a.expire_time = scmTime(at(400 * DAY));
    const renewed = await rig.sweep(at(DAY));
    expect(news(renewed)).toEqual(["resolved resolved a"]);
    expect(renewed.alerts[0]?.summary).toMatch(/^resolved \(was 7d\); now valid until 2027-12-27$/);
    expect(news(await rig.sweep(at(2 * DAY)))).toEqual([]);
  });

  it("replacement: a newer certificate for the same domains resolves the old one's alert as replaced", async () => {
    const fleet = [cert("old", 5, { domain: "shop.example.com", sans: "www.shop.example.com" })];
    await start(fleet);
    expect(news(await rig.sweep(NOW))).toEqual(["new 7d old"]);
    fleet.push(
      cert("new", 365, { domain: "www.shop.example.com", sans: "shop.example.com;api.shop.example.com" }),
    );
    const replaced = await rig.sweep(at(HOUR));
    expect(news(replaced)).toEqual(["resolved resolved old"]);
    expect(replaced.alerts[0]?.summary).toContain("replaced by new");
    // The old one expiring later is not news: it is no longer what serves these domains.
    expect(news(await rig.sweep(at(6 * DAY)))).toEqual([]);
  });

  it("revocation: critical at once, and the expiry alert it supersedes is not 'resolved'", async () => {
    const a = cert("a", 5);
    await start([a]);
    await rig.sweep(NOW);
    a.status = "REVOKED";
    const revoked = await rig.sweep(at(HOUR));
    expect(news(revoked)).toEqual(["new revoked a"]);
    expect(revoked.alerts[0]?.severity).toBe("critical");
  });

  it("source outage: two failed runs make one alert and no resolutions; recovery makes one resolved notice", async () => {
    const a = cert("a", 8.5);
    await start([a, cert("b", 90)]);
    expect(news(await rig.sweep(NOW))).toEqual(["new 14d a"]);
    const before = await rig.store.loadObjects("hw-test");
    rig.scm.injectAlways("5xx");
    const first = await rig.sweep(at(HOUR));
    expect(first.exitCode).toBe(1);
    expect(first.alerts).toEqual([]);
    // Time passes while the source is down: the known certificate crosses 7 days and still alerts, marked stale.
    const second = await rig.sweep(at(2 * DAY));
    expect(news(second).sort()).toEqual(["escalated 7d a", "new blind source hw-test"]);
    expect(second.alerts.every((alert) => alert.transition !== "resolved")).toBe(true);
    const lastEmail = rig.smtp.messages.at(-1)?.text ?? "";
    expect(lastEmail).toContain("source unreachable: as last seen 2026-11-22 00:00 UTC");
    expect(lastEmail).toContain("certwatch cannot see this source: 2 failed sweeps in a row");
    expect((await rig.store.loadObjects("hw-test")).size).toBe(before.size);
    expect(news(await rig.sweep(at(3 * DAY)))).toEqual([]);

    rig.scm.injectAlways(undefined);
    const recovered = await rig.sweep(at(4 * DAY));
    expect(recovered.exitCode).toBe(0);
    expect(news(recovered)).toEqual(["resolved resolved source hw-test"]);
  });

  it("inventory drop: an empty listing with no error is reported, not turned into resolutions", async () => {
    const fleet = [cert("a", 5), cert("b", 6), cert("c", 90)];
    await start(fleet);
    await rig.sweep(NOW);
    const stored = fleet.splice(0, fleet.length);
    const dropped = await rig.sweep(at(HOUR));
    expect(dropped.exitCode).toBe(1);
    expect(dropped.sources[0]?.error).toMatch(
      /^inventory dropped from 3 to 0 objects without any error from the API/,
    );
    expect(dropped.alerts).toEqual([]);
    expect((await rig.store.loadObjects("hw-test")).size).toBe(3);
    fleet.push(...stored);
    expect((await rig.sweep(at(2 * HOUR))).exitCode).toBe(0);
  });

  it("an untrusted drop still announces what the short listing shows: a new certificate expiring soon", async () => {
    const fleet = [cert("a", 90), cert("b", 90), cert("c", 90)];
    await start(fleet);
    await rig.sweep(NOW);
    fleet.splice(0, fleet.length, cert("d", 3));
    const dropped = await rig.sweep(at(HOUR));
    expect(dropped.exitCode).toBe(1);
    expect(dropped.sources[0]?.error).toMatch(/^inventory dropped from 3 to 1 objects/);
    expect(news(dropped)).toEqual(["new 7d d"]);
    expect((await rig.store.loadObjects("hw-test")).size).toBe(4);
  });

  it("a drop the operator trusts resolves what is gone, as 'no longer listed'", async () => {
    const fleet = [cert("a", 5), cert("c", 90)];
    await start(fleet, "alerts: { trustInventoryDrops: true }\n");
    await rig.sweep(NOW);
    fleet.splice(0, fleet.length);
    const gone = await rig.sweep(at(HOUR));
    expect(gone.exitCode).toBe(0);
    expect(news(gone)).toEqual(["resolved resolved a"]);
    expect(gone.alerts[0]?.summary).toContain("no longer listed by the source");
  });

  it("silence: held back and counted while it lasts, announced once it ends", async () => {
    await start(
      [cert("a", 5, { domain: "a.staging.example.com" }), cert("b", 5)],
      `silences:\n  - { match: { domain: "*.staging.example.com" }, until: "2026-11-23T00:00:00Z", reason: throwaway }\n`,
    );
    const silenced = await rig.sweep(NOW);
    expect(news(silenced).filter((line) => !line.endsWith(" a"))).toEqual(["new 7d b"]);
    expect(silenced.silenced).toBe(1);
    expect(silenced.alerts.find((alert) => alert.name === "a")?.silencedBy).toBe("throwaway");
    expect(rig.slack.posts.map((post) => JSON.stringify(post.body)).join()).not.toContain(
      "a.staging.example.com",
    );
    const after = await rig.sweep(at(DAY + HOUR));
    expect(news(after)).toEqual(["new 7d a"]);
  });

  it("a silence for a span runs from the first run that saw it, not from each run that reads the config", async () => {
    await start(
      [cert("a", 5, { domain: "a.staging.example.com" }), cert("b", 5)],
      `silences:\n  - { match: { domain: "*.staging.example.com", kind: certificate }, until: 1d, reason: throwaway }\n`,
    );
    const announced = (summary: Awaited<ReturnType<Rig["sweep"]>>) =>
      news({ alerts: summary.alerts.filter((alert) => !alert.silencedBy) });
    const first = await rig.sweep(NOW);
    expect(announced(first)).toEqual(["new 7d b"]);
    expect(first.silenced).toBe(1);
    // Still held 20 hours on, with the match's keys written the other way round: the day counts from the first run.
    const reordered = await parseConfig(
      rig
        .yaml()
        .replace(
          '{ domain: "*.staging.example.com", kind: certificate }',
          '{ kind: certificate, domain: "*.staging.example.com" }',
        ),
      "reordered.yml",
    );
    expect(Object.keys(reordered.silences[0]?.match ?? {})).toEqual(["kind", "domain"]);
    const held = await rig.sweep(at(20 * HOUR), { config: reordered });
    expect(held.silenced).toBe(1);
    expect(announced(held)).toEqual([]);
    // A dry run looks without recording anything.
    expect((await rig.sweep(at(21 * HOUR), { dryRun: true })).silenced).toBe(1);
    expect(news(await rig.sweep(at(DAY + HOUR)))).toEqual(["new 7d a"]);
  });

  it("reminders and acks: a critical alert repeats daily; an ack holds reminders; a new stage lifts it", async () => {
    await start([cert("a", 5)], "alerts: { repeatCritical: 24h }\n");
    const dir = await mkdtemp(join(tmpdir(), "certwatch-ack-"));
    try {
      await writeFile(
        join(dir, "certwatch.yml"),
        `store: { type: dynamodb, table: certwatch, endpoint: "${rig.dynamo.endpoint}" }\n${rig.yaml()}`,
      );
      expect(news(await rig.sweep(NOW))).toEqual(["new 7d a"]);
      expect(news(await rig.sweep(at(12 * HOUR)))).toEqual([]);
      const reminder = await rig.sweep(at(25 * HOUR));
      expect(news(reminder)).toEqual(["reminder 7d a"]);

      const fingerprint = reminder.alerts[0]?.fingerprint ?? "";
      const lines: string[] = [];
      const output = {
        out: (line: string) => lines.push(line),
        err: (line: string) => lines.push(line),
        isTTY: false,
      };
      const code = await main(
        [
          "node",
          "certwatch",
          "ack",
          fingerprint,
          "--until",
          "30d",
          "--reason",
          "renewal in CHG-1234",
          "-c",
          join(dir, "certwatch.yml"),
        ],
        output,
      );
      expect(lines.join("\n")).toMatch(
        /^acknowledged expiry:hw-test\/certificate\/\S+ at stage 7d until .* by \S+: renewal in CHG-1234/,
      );
      expect(code).toBe(0);

      const held = await rig.sweep(at(50 * HOUR));
      expect(held.alerts).toEqual([]);
      expect(held.acknowledged).toBe(1);
      // Four and a half days on the certificate is inside 1 day: a new stage, announced despite the ack.
      expect(news(await rig.sweep(at(4.5 * DAY)))).toEqual(["escalated 1d a"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an alert that fires again after it resolved is delivered again, not taken for a repeat", async () => {
    const a = cert("a", 5);
    const original = a.expire_time;
    await start([a]);
    await rig.sweep(NOW);
    a.expire_time = scmTime(at(400 * DAY));
    expect(news(await rig.sweep(at(HOUR)))).toEqual(["resolved resolved a"]);
    a.expire_time = original;
    const again = await rig.sweep(at(2 * HOUR));
    expect(news(again)).toEqual(["new 7d a"]);
    expect(again.deliveries.map((d) => d.sent)).toEqual([1, 1]);
    expect(rig.slack.posts).toHaveLength(3);
  });

  it("a receiver that refuses is reported in the summary and exit status, and its alerts wait for it", async () => {
    await start([cert("a", 5)]);
    rig.slack.answerNext(404, "no_service");
    const refused = await rig.sweep(NOW);
    expect(refused.exitCode).toBe(1);
    expect(refused.deliveries[0]).toMatchObject({ receiver: "ops-slack", sent: 0, deferred: 1 });
    expect(refused.deliveries[0]?.errors[0]).toMatch(/^Slack rejected the message: 404 no_service/);
    expect(refused.deliveries[1]).toMatchObject({ receiver: "ops-mail", sent: 1 });
    const fixed = await rig.sweep(at(HOUR));
    expect(fixed.deliveries[0]).toMatchObject({ receiver: "ops-slack", sent: 1 });
    expect(fixed.exitCode).toBe(0);
  });
});

describe("heartbeat and steady-state cost", () => {
  it("pings the heartbeat after a run that swept every source, and holds it back when one failed", async () => {
    const pings: string[] = [];
    const server = createServer((req, res) => {
      pings.push(req.url ?? "");
      res.end("OK");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping/3f6c-secret-token`;
    try {
      await start([cert("a", 90), cert("b", 20)], `heartbeatUrl: "${url}"\n`);
      const ok = await rig.sweep(NOW);
      expect(ok.heartbeat).toEqual({ sent: true });
      expect(pings).toEqual(["/ping/3f6c-secret-token"]);
      rig.scm.injectAlways("5xx");
      const failed = await rig.sweep(at(HOUR));
      expect(failed.heartbeat).toEqual({
        sent: false,
        error: "heartbeat held back: a source or a delivery failed in this run",
      });
      rig.scm.injectAlways(undefined);
      // b crosses 14 days, and Slack refuses the message: nobody was told, so no "all is well" either.
      rig.slack.answerNext(404, "no_service");
      const undelivered = await rig.sweep(at(7 * DAY));
      expect(undelivered.alerts.map((alert) => alert.name)).toEqual(["b"]);
      expect(undelivered.heartbeat?.sent).toBe(false);
      expect(pings).toHaveLength(1);
      expect(pings).toHaveLength(1);
      expect(JSON.stringify(failed)).not.toContain("secret-token");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("staleAfter: a source whose own schedule stopped is reported by the runs that still happen", async () => {
    await start([cert("a", 90)], "alerts: { staleAfter: 48h }\n");
    const sources = ["hw-a", "hw-b"].map((name) => ({
      ...rig.config.sources[0],
      name,
    })) as typeof rig.config.sources;
    const config = { ...rig.config, sources };
    await rig.sweep(NOW, { config });
    // From now on only hw-a is swept (its cron still runs); hw-b's cron died.
    expect((await rig.sweep(at(DAY), { config, only: ["hw-a"] })).alerts).toEqual([]);
    const stale = await rig.sweep(at(3 * DAY), { config, only: ["hw-a"] });
    expect(news(stale)).toEqual(["new stale source hw-b"]);
    expect(stale.sources.map((source) => source.name)).toEqual(["hw-a"]);
    expect((await rig.sweep(at(4 * DAY), { config, only: ["hw-a"] })).alerts).toEqual([]);
    const back = await rig.sweep(at(5 * DAY), { config });
    expect(news(back)).toEqual(["resolved resolved source hw-b"]);
  });

  it("a steady-state sweep with no changes writes two items per source: its history record and its last record", async () => {
    await start([cert("a", 5), cert("b", 20), cert("c", 90)], "");
    const sources = [0, 1, 2].map((n) => ({
      ...rig.config.sources[0],
      name: `hw-${n}`,
    })) as typeof rig.config.sources;
    const config = { ...rig.config, sources };
    await rig.sweep(NOW, { config });
    const before = rig.store.usage.writeUnits;
    const quiet = await rig.sweep(at(HOUR), { config });
    const writes = rig.store.usage.writeUnits - before;
    console.log(
      `steady-state sweep of ${sources.length} sources: ${writes} DynamoDB write units (limit ${2 * sources.length})`,
    );
    expect(quiet.alerts).toEqual([]);
    expect(writes).toBeLessThanOrEqual(2 * sources.length);
  });
});
