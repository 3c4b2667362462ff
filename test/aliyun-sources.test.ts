import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { HttpClient } from "../lib/sources/http.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { casRegionOf } from "../lib/sources/aliyun/client.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import {
  type ClientCertificateRecord,
  clientCertificateFleet,
  deploymentFleet,
  sslCertificateFleet,
} from "../sim/aliyun-fleet.js";
import { observeExchanges } from "../sim/server.js";
import { makeCertificate, makeKey } from "../sim/tls-site.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { SmtpSink } from "../sim/smtp.js";
import { deliberately } from "./contract/setup.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const KEYS = { accessKey: "LTAI5tTESTACCESSKEY00", secretKey: "aliyun-test-secret-1234" };

/** Milliseconds from CAS's numeric strings, the test's own reading: seconds below 1e12, milliseconds above. */
function casMillis(value: string | number): number {
  const n = Number(value);
  return n >= 1e12 ? n : n * 1000;
}

class CasRig {
  slack = new SlackReceiverSim();
  smtp = new SmtpSink();
  http = new HttpClient();
  dynamo!: EmbeddedDynamo;
  store!: Store;
  config!: Config;

  constructor(readonly cas: CasSimulator) {}

  async start(extraSourceYaml = ""): Promise<this> {
    const [casUrl, slackUrl, smtpPort, dynamo] = await Promise.all([
      this.cas.listen(),
      this.slack.listen(),
      this.smtp.listen(),
      startEmbeddedDynamo(),
    ]);
    this.dynamo = dynamo;
    this.store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await this.store.ensureTable();
    const source = (name: string, type: string) => `
  - name: ${name}
    type: ${type}
    endpoint: ${casUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
    region: cn-hangzhou
    timeout: 2s${extraSourceYaml}`;
    this.config = await parseConfig(
      `
sources:${source("ali-pki", "aliyun-client-certificates")}${source("ali-deploy", "aliyun-deployment-jobs")}${source("ali-ssl", "aliyun-ssl-certificates")}
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
  - { name: ops-mail, type: email, from: certwatch@test.local, to: [oncall@test.local], smtp: { host: 127.0.0.1, port: ${smtpPort} } }
`,
      "aliyun.yml",
    );
    return this;
  }

  sweep(now: Date, only?: string[]): Promise<RunSummary> {
    return runSweep({ config: this.config, store: this.store, http: this.http, now, only });
  }

  /** Everything the last digest said: its Slack posts (a long digest takes several) and its email. */
  lastMessages(slackPosts = 1): { slack: string; email: string } {
    const posts = this.slack.posts.slice(-slackPosts).map((post) => post.body);
    const mail = this.smtp.messages.at(-1);
    return { slack: JSON.stringify(posts), email: `${mail?.html ?? ""}\n${mail?.text ?? ""}` };
  }

  async stop(): Promise<void> {
    this.store.close();
    await this.http.close();
    await Promise.all([this.cas.close(), this.slack.close(), this.smtp.close(), this.dynamo.close()]);
  }
}

function matchesIn(text: string, pattern: RegExp): string[] {
  return [...new Set(text.match(pattern) ?? [])].sort();
}

describe("Alibaba CAS sources end to end: simulator → sweep → dynalite → Slack and email", () => {
  const clientCertificates = clientCertificateFleet({ count: 150, now: NOW });
  const deploymentJobs = deploymentFleet({ jobs: 12, workersPerJob: 6, now: NOW });
  const sslCertificates = sslCertificateFleet({ count: 250, now: NOW });
  const rig = new CasRig(
    new CasSimulator({ credentials: KEYS, clientCertificates, deploymentJobs, sslCertificates, now: NOW }),
  );

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("client certificates: revoked ones critical with their revoke time, and expiry from AfterDate", async () => {
    const expected = clientCertificates
      .filter((c) => c.revocation.Status === "revoked" || c.AfterDate - NOW.getTime() <= 30 * DAY)
      .map((c) => c.CommonName.slice(0, 12))
      .sort();
    const summary = await rig.sweep(NOW, ["ali-pki"]);
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 150, calls: 6, throttled: 0 });
    const { slack, email } = rig.lastMessages();
    expect(matchesIn(slack, /device-\d{5}/g)).toEqual(expected);
    expect(matchesIn(email, /device-\d{5}/g)).toEqual(expected);

    const revoked = clientCertificates.filter((c) => c.revocation.Status === "revoked");
    expect(revoked.length).toBeGreaterThan(1);
    const revocations = summary.alerts.filter((a) => a.stage === "revoked");
    expect(revocations.map((a) => a.name).sort()).toEqual(revoked.map((c) => c.CommonName).sort());
    expect(revocations.every((a) => a.severity === "critical")).toBe(true);
    // RevokeTime arrives both as an integer and as `2021-01-01T00:00Z`; both become the same kind of instant.
    const stored = await rig.store.loadObjects("ali-pki");
    // Sans is a JSON array of {Type, Value}: DNS names and IPs become domains, email and URI names stay details.
    for (const cert of clientCertificates) {
      const observation = stored.get(`ali-pki/client-certificate/${cert.Identifier}`)?.observation;
      const sans = cert.Sans
        ? (JSON.parse(cert.Sans.replace(/,\s*\]$/, "]")) as { Type: number; Value: string }[])
        : [];
      const named = (type: number) => sans.filter((san) => san.Type === type).map((san) => san.Value);
      expect(observation?.domains).toEqual([...new Set([cert.CommonName, ...named(2), ...named(7)])]);
      expect(observation?.details?.emails).toBe(named(1).join(", ") || undefined);
      expect(observation?.details?.uris).toBe(named(6).join(", ") || undefined);
    }
    expect(clientCertificates.some((c) => c.Sans.endsWith(", ]"))).toBe(true);
    for (const cert of revoked) {
      const observation = stored.get(`ali-pki/client-certificate/${cert.Identifier}`)?.observation;
      const form = cert.revocation.RevokeTime ?? "";
      const expectedInstant =
        typeof form === "number" ? new Date(form * 1000).toISOString() : new Date(form).toISOString();
      expect(observation?.revokedAt).toBe(expectedInstant);
    }
  });

  it("deployment jobs: failed and rolled-back workers once each with job, product, resource, region and certificate", async () => {
    const workers = deploymentJobs.flatMap((job) => job.workers);
    const stuck = (w: (typeof workers)[number]) =>
      w.Status === "processing" && NOW.getTime() - casMillis(w.GmtModified) > 6 * HOUR;
    const expected = workers
      .filter((w) => ["error", "rollback_error", "rollback"].includes(w.Status) || stuck(w))
      .map((w) => `${w.JobId}/${w.Id}`)
      .sort();
    expect(expected.length).toBeGreaterThan(2);
    const summary = await rig.sweep(NOW, ["ali-deploy"]);
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: workers.length });
    const { slack, email } = rig.lastMessages();
    expect(matchesIn(slack, /\b80\d\d\/2\d{4}\b/g)).toEqual(expected);
    expect(matchesIn(email, /\b80\d\d\/2\d{4}\b/g)).toEqual(expected);

    const failed = workers.find((w) => w.Status === "error");
    const alert = summary.alerts.find(
      (a) => failed && a.fingerprint.endsWith(`${failed.JobId}/${failed.Id}`),
    );
    expect(alert).toMatchObject({ stage: "failed", severity: "critical" });
    expect(alert?.summary).toContain(`job ${failed?.JobId}`);
    expect(alert?.summary).toContain(failed?.CloudProduct);
    expect(email).toContain(failed?.RegionId);
    expect(email).toContain(`${failed?.CertId}`);
  });

  it("GmtCreate/GmtModified in seconds and in milliseconds read as the same instants", async () => {
    const stored = await rig.store.loadObjects("ali-deploy");
    const workers = deploymentJobs.flatMap((job) => job.workers);
    const inSeconds = workers.filter((w) => w.GmtModified.length <= 10);
    const inMillis = workers.filter((w) => w.GmtModified.length > 10);
    expect(inSeconds.length).toBeGreaterThan(0);
    expect(inMillis.length).toBeGreaterThan(0);
    for (const w of workers) {
      const observation = stored.get(`ali-deploy/deployment-task/${w.JobId}/${w.Id}`)?.observation;
      expect(observation?.updatedAt).toBe(new Date(casMillis(w.GmtModified)).toISOString());
    }
  });

  it("finished jobs whose GmtModified has not moved are not listed again; a worker fixed later resolves its alert", async () => {
    const unfinished = deploymentJobs.filter((job) => job.Status === "processing").length;
    const before = rig.cas.callsOf("ListWorkerResource");
    const quiet = await rig.sweep(new Date(NOW.getTime() + HOUR), ["ali-deploy"]);
    expect(rig.cas.callsOf("ListWorkerResource") - before).toBe(unfinished);
    expect(quiet.sources[0]).toMatchObject({ ok: true, gone: 0, changed: 0 });
    expect(quiet.alerts.filter((a) => a.stage !== "stuck")).toEqual([]);

    const job = deploymentJobs.find((j) => j.workers.some((w) => w.Status === "error"));
    const worker = job?.workers.find((w) => w.Status === "error");
    if (!job || !worker) throw new Error("fleet has no failed worker");
    const fixedAt = String(NOW.getTime() + 2 * HOUR);
    worker.Status = "success";
    worker.GmtModified = fixedAt;
    job.GmtModified = fixedAt;
    const later = await rig.sweep(new Date(NOW.getTime() + 3 * HOUR), ["ali-deploy"]);
    const resolved = later.alerts.filter((a) => a.transition === "resolved");
    expect(resolved.map((a) => a.fingerprint)).toEqual([
      `deployment:ali-deploy/deployment-task/${job.Id}/${worker.Id}`,
    ]);
  });

  it("SSL certificates: listed once per status, expired and revoked included, expiry from the exact NotAfter", async () => {
    const expected = sslCertificates
      .filter((c) => c.Revoked || c.NotAfter - NOW.getTime() <= 30 * DAY)
      .map((c) => c.Name)
      .sort();
    expect(sslCertificates.some((c) => !c.Revoked && c.NotAfter < NOW.getTime())).toBe(true);
    const postsBefore = rig.slack.posts.length;
    // CAS documents no default for an absent CertificateStatus: every status must be asked for by name.
    const asked = new Set<string | null>();
    const stop = observeExchanges(({ request }) => {
      if (request.headers["x-acs-action"] === "ListCertificates")
        asked.add(new URLSearchParams(request.url.search).get("CertificateStatus"));
    });
    const summary = await rig.sweep(NOW, ["ali-ssl"]).finally(stop);
    expect([...asked].sort()).toEqual(["expired", "issued", "revoked", "willExpire"]);
    expect(summary.exitCode).toBe(0);
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 250 });
    const { slack, email } = rig.lastMessages(rig.slack.posts.length - postsBefore);
    expect(matchesIn(slack, /web-\d{5}/g)).toEqual(expected);
    expect(matchesIn(email, /web-\d{5}/g)).toEqual(expected);

    const stored = await rig.store.loadObjects("ali-ssl");
    for (const cert of sslCertificates) {
      const observation = stored.get(`ali-ssl/certificate/${cert.CertificateId}`)?.observation;
      expect(observation?.notAfter).toBe(new Date(cert.NotAfter).toISOString());
      expect(observation?.domains).toEqual(cert.Sans);
      const status = cert.Revoked ? "revoked" : cert.NotAfter <= NOW.getTime() ? "expired" : "active";
      expect(observation?.status).toBe(status);
      expect(observation?.labels.region).toBe("cn-hangzhou");
    }
  });

  it("a page that repeats an earlier one ends the source's sweep with an error, and the others go on", async () => {
    rig.cas.repeatFirstPage = true;
    const summary = await rig.sweep(new Date(NOW.getTime() + 4 * HOUR), ["ali-ssl", "ali-pki"]);
    rig.cas.repeatFirstPage = false;
    expect(summary.exitCode).toBe(1);
    for (const source of summary.sources) {
      expect(source.ok).toBe(false);
      expect(source.error).toMatch(
        /returned a malformed page: (CertificateStatus=issued: )?page 2 repeats entries of an earlier page$/,
      );
      expect(source.gone).toBe(0);
    }
  });

  it("a malformed page names the call and the field; throttling answers are retried", async () => {
    // Always, not once: requests still in flight from an earlier failed sweep would take a one-off fault.
    rig.cas.injectAlways("malformed");
    const malformed = await rig.sweep(new Date(NOW.getTime() + 5 * HOUR), ["ali-ssl"]);
    rig.cas.injectAlways(undefined);
    expect(malformed.sources[0]?.error).toBe(
      "ListCertificates returned a malformed page: CertificateStatus=issued page 1: TotalCount is missing or not a whole number",
    );
    rig.cas.inject("throttle");
    const throttled = await rig.sweep(new Date(NOW.getTime() + 6 * HOUR), ["ali-ssl"]);
    expect(throttled.sources[0]).toMatchObject({ ok: true, throttled: 1, retries: 1 });
  });
});

describe("SSL certificates over time", () => {
  it("a certificate that expires between two sweeps is announced as expired, never as resolved", async () => {
    const sslCertificates = sslCertificateFleet({ count: 60, now: NOW, seed: 5 });
    const rig = new CasRig(new CasSimulator({ credentials: KEYS, sslCertificates, now: NOW }));
    await rig.start();
    const expiring = sslCertificates
      .filter((c) => !c.Revoked && c.NotAfter > NOW.getTime() && c.NotAfter - NOW.getTime() < 7 * DAY)
      .sort((a, b) => a.NotAfter - b.NotAfter)[0];
    expect(expiring).toBeDefined();
    const later = new Date((expiring?.NotAfter ?? 0) + HOUR);
    try {
      const first = await rig.sweep(NOW, ["ali-ssl"]);
      expect(first.alerts.filter((a) => a.name === expiring?.Name)).toHaveLength(1);
      rig.cas.now = later;
      const summary = await rig.sweep(later, ["ali-ssl"]);
      expect(summary.sources[0]).toMatchObject({ ok: true, gone: 0 });
      const about = summary.alerts.filter((a) => a.name === expiring?.Name);
      expect(about).toEqual([
        expect.objectContaining({ stage: "expired", severity: "critical", transition: "escalated" }),
      ]);
      expect(summary.alerts.filter((a) => a.transition === "resolved")).toEqual([]);
    } finally {
      await rig.stop();
    }
  });
});

describe("a missing required field", () => {
  it("fails that source naming the call and the field, keeps stored state, and the other sources go on", async () => {
    const clientCertificates = clientCertificateFleet({ count: 30, now: NOW });
    const rig = new CasRig(
      new CasSimulator({
        credentials: KEYS,
        clientCertificates,
        sslCertificates: sslCertificateFleet({ count: 10, now: NOW }),
        now: NOW,
      }),
    );
    await rig.start();
    try {
      await rig.sweep(NOW, ["ali-pki"]);
      const before = await rig.store.loadObjects("ali-pki");
      const broken = clientCertificates[3] as unknown as Record<string, unknown>;
      delete broken.AfterDate;
      const summary = await rig.sweep(new Date(NOW.getTime() + HOUR), ["ali-pki", "ali-ssl"]);
      expect(summary.exitCode).toBe(1);
      const [pki, ssl] = summary.sources;
      expect(pki?.error).toBe(
        "ListClientCertificate returned a malformed page: page 1: CertificateList[3].AfterDate is missing",
      );
      expect(ssl).toMatchObject({ ok: true, objects: 10 });
      expect(await rig.store.loadObjects("ali-pki")).toEqual(before);
    } finally {
      await rig.stop();
    }
  });

  it("a field of the wrong type or form fails that source the same way: SANs split on commas are not SANs", async () => {
    const clientCertificates = clientCertificateFleet({ count: 30, now: NOW });
    const sslCertificates = sslCertificateFleet({ count: 10, now: NOW });
    const cas = new CasSimulator({ credentials: KEYS, clientCertificates, sslCertificates, now: NOW });
    const rig = new CasRig(cas);
    await rig.start();
    try {
      await rig.sweep(NOW, ["ali-pki", "ali-ssl"]);
      const before = {
        pki: await rig.store.loadObjects("ali-pki"),
        ssl: await rig.store.loadObjects("ali-ssl"),
      };
      (clientCertificates[5] as { Sans: string }).Sans = "device-00006.example.com,10.0.0.6";
      const later = new Date(NOW.getTime() + HOUR);
      const summary = await deliberately(() => rig.sweep(later, ["ali-pki"]));
      expect(summary.sources[0]?.error).toBe(
        "ListClientCertificate returned a malformed page: page 1: CertificateList[5].Sans is not a JSON array of {Type, Value}",
      );
      // A list the contract gives as a JSON array, served as a string, is refused rather than guessed at.
      cas.answerNext("ListCertificates", 200, {
        TotalCount: 1,
        CurrentPage: 1,
        ShowSize: 100,
        CertificateList: [
          { CertificateId: "1", NotAfter: 1_800_000_000_000, SubjectAlternativeNames: "a.example.cn" },
        ],
      });
      const ssl = await rig.sweep(later, ["ali-ssl"]);
      expect(ssl.sources[0]?.error).toBe(
        "ListCertificates returned a malformed page: CertificateStatus=issued page 1: CertificateList[0].SubjectAlternativeNames is not a list of strings",
      );
      expect(await rig.store.loadObjects("ali-pki")).toEqual(before.pki);
      expect(await rig.store.loadObjects("ali-ssl")).toEqual(before.ssl);
    } finally {
      await rig.stop();
    }
  });
});

describe("a listing whose total has no bound", () => {
  it("fails that source at once, naming maxPages; another source in the same run finishes and delivers", async () => {
    const cas = new CasSimulator({
      credentials: KEYS,
      deploymentJobs: deploymentFleet({ jobs: 3, workersPerJob: 2, now: NOW }),
      sslCertificates: sslCertificateFleet({ count: 60, now: NOW, seed: 5 }),
      now: NOW,
    });
    const rig = new CasRig(cas);
    await rig.start();
    try {
      // Ten million jobs, of which only the first page holds any.
      cas.answerNext("ListDeploymentJob", 200, {
        Total: 10_000_000,
        CurrentPage: 1,
        ShowSize: 50,
        Data: [{ Id: 1, Name: "job-1", Status: "success" }],
      });
      const summary = await rig.sweep(NOW, ["ali-deploy", "ali-ssl"]);
      expect(summary.exitCode).toBe(1);
      const [deploy, ssl] = summary.sources;
      expect(deploy).toMatchObject({ name: "ali-deploy", ok: false, calls: 1 });
      expect(deploy?.error).toBe(
        "ListDeploymentJob: 200,000 pages needed for a total of 10000000, more than maxPages 10,000 (raise the source's maxPages if the estate is really that big)",
      );
      expect(ssl).toMatchObject({ name: "ali-ssl", ok: true, objects: 60 });
      expect(summary.deliveries.find((delivery) => delivery.receiver === "ops-slack")?.sent).toBeGreaterThan(
        0,
      );
      expect(rig.slack.posts.length).toBeGreaterThan(0);
    } finally {
      await rig.stop();
    }
  });
});

describe("pacing within Alibaba's 10 calls per second per AccessKey", () => {
  it("400 client certificates and 60 deployment jobs: no throttling, wall time close to calls ÷ 10", async () => {
    const rig = new CasRig(
      new CasSimulator({
        credentials: KEYS,
        qps: 10,
        latencyMs: 5,
        clientCertificates: clientCertificateFleet({ count: 400, now: NOW }),
        deploymentJobs: deploymentFleet({ jobs: 60, workersPerJob: 4, now: NOW }),
      }),
    );
    await rig.start();
    try {
      const started = Date.now();
      const summary = await runSweep({
        config: rig.config,
        store: rig.store,
        http: rig.http,
        now: NOW,
        only: ["ali-pki", "ali-deploy"],
        receivers: [],
      });
      const wallSeconds = (Date.now() - started) / 1000;
      const calls = summary.sources.reduce((sum, source) => sum + source.calls, 0);
      const lowerBound = calls / 10;
      console.log(
        `pacing: ${calls} calls, ${rig.cas.stats.throttled} throttling answers, wall ${wallSeconds.toFixed(2)} s, ` +
          `calls ÷ 10 = ${lowerBound.toFixed(2)} s, ratio ${(wallSeconds / lowerBound).toFixed(3)}`,
      );
      expect(summary.sources.every((source) => source.ok)).toBe(true);
      expect(rig.cas.stats.throttled).toBe(0);
      expect(summary.sources.reduce((sum, source) => sum + source.throttled, 0)).toBe(0);
      expect(calls).toBe(8 + 8 + 2 + 60);
      expect(wallSeconds).toBeLessThanOrEqual(1.2 * lowerBound);
    } finally {
      await rig.stop();
    }
  }, 60_000);
});

describe("one account on several CAS sites", () => {
  it("sweeps each endpoint as its own unit, labelled with its region, selected together by the source's name", async () => {
    const china = new CasSimulator({
      credentials: KEYS,
      sslCertificates: sslCertificateFleet({ count: 12, now: NOW, seed: 1 }),
      now: NOW,
    });
    const international = new CasSimulator({
      credentials: KEYS,
      sslCertificates: sslCertificateFleet({ count: 7, now: NOW, seed: 2 }),
      now: NOW,
    });
    const slack = new SlackReceiverSim();
    const [chinaUrl, internationalUrl, slackUrl, dynamo] = await Promise.all([
      china.listen(),
      international.listen(),
      slack.listen(),
      startEmbeddedDynamo(),
    ]);
    const store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    const http = new HttpClient();
    try {
      await store.ensureTable();
      const config = await parseConfig(
        `
sources:
  - name: ali-ssl
    type: aliyun-ssl-certificates
    endpoints:
      - { url: "${chinaUrl}", region: cn-hangzhou }
      - { url: "${internationalUrl}", region: ap-southeast-1 }
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
receivers: [{ name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }]
`,
        "sites.yml",
      );
      const summary = await runSweep({ config, store, http, now: NOW, only: ["ali-ssl"], dryRun: true });
      expect(summary.sources.map(({ name, ok, objects }) => ({ name, ok, objects }))).toEqual([
        { name: "ali-ssl", ok: true, objects: 12 },
        { name: "ali-ssl.2", ok: true, objects: 7 },
      ]);
      await runSweep({ config, store, http, now: NOW, only: ["ali-ssl.2"] });
      const stored = [...(await store.loadObjects("ali-ssl.2")).values()];
      expect(stored).toHaveLength(7);
      expect(new Set(stored.map((object) => object.observation.labels.region))).toEqual(
        new Set(["ap-southeast-1"]),
      );
      expect(stored[0]?.observation.key).toMatch(/^ali-ssl\.2\/certificate\/\d+$/);
      expect((await store.loadObjects("ali-ssl")).size).toBe(0);
      expect(china.callsOf("ListCertificates")).toBe(4);
      expect(international.callsOf("ListCertificates")).toBe(8);

      // Both sites swept, then the endpoints reordered: each unit's inventory belongs to the other site now. Rather
      // than announce one site "gone" and the other "new", both sweeps are refused, saying why, and nothing changes.
      await runSweep({ config, store, http, now: NOW });
      const before = await Promise.all(["ali-ssl", "ali-ssl.2"].map((name) => store.loadObjects(name)));
      const reordered = await parseConfig(
        `
sources:
  - name: ali-ssl
    type: aliyun-ssl-certificates
    endpoints: ["${internationalUrl}", "${chinaUrl}"]
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
receivers: [{ name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }]
`,
        "sites.yml",
      );
      const refused = await runSweep({ config: reordered, store, http, now: new Date(NOW.getTime() + HOUR) });
      expect(refused.exitCode).toBe(1);
      expect(refused.sources.map((source) => source.error)).toEqual([
        `ali-ssl holds the inventory of ${chinaUrl}, but the config now gives it ${internationalUrl}: nothing was ` +
          "swept or changed. If the endpoints of the source were reordered or one was removed, put them back in " +
          "their order (add new ones at the end). If this is a new site or account, give it a source of its own.",
        expect.stringContaining(`ali-ssl.2 holds the inventory of ${internationalUrl}`),
      ]);
      expect(refused.alerts.filter((alert) => alert.transition === "resolved")).toEqual([]);
      expect(refused.alerts.filter((alert) => alert.transition === "new")).toEqual([]);
      expect(await Promise.all(["ali-ssl", "ali-ssl.2"].map((name) => store.loadObjects(name)))).toEqual(
        before,
      );
      const restored = await runSweep({ config, store, http, now: new Date(NOW.getTime() + 2 * HOUR) });
      expect(restored.sources.map((source) => source.ok)).toEqual([true, true]);
    } finally {
      store.close();
      await http.close();
      await Promise.all([china.close(), international.close(), slack.close(), dynamo.close()]);
    }
  });
});

describe("client certificates the two calls disagree on, or that carry hostile names", () => {
  it("a revocation either call shows is a revocation; unusable SAN values are left out, with a warning", async () => {
    const [good, unknown, lagging, hostile] = clientCertificateFleet({ count: 4, now: NOW, seed: 9 }).map(
      (cert): ClientCertificateRecord => ({
        ...cert,
        Sans: "",
        AfterDate: NOW.getTime() + 200 * DAY,
        Status: "ISSUE",
        revocation: { Status: "good" },
      }),
    ) as [ClientCertificateRecord, ClientCertificateRecord, ClientCertificateRecord, ClientCertificateRecord];
    // The listing says REVOKE; the status call does not know, or has not caught up.
    unknown.Status = "REVOKE";
    unknown.revocation = { Status: "unknown" };
    lagging.Status = "REVOKE";
    // 6,000 names of 80 characters (480 KB), and names that would forge a line in a message.
    hostile.Sans = JSON.stringify([
      { Type: 2, Value: "a.example.com\n• [resolved] all clear" },
      { Type: 7, Value: "10.0.0.1\u2028" },
      { Type: 1, Value: `${"x".repeat(2000)}@example.com` },
      ...Array.from({ length: 6000 }, (_, i) => ({ Type: 2, Value: `${"a".repeat(60)}-${i}.example.com` })),
    ]);
    const rig = new CasRig(
      new CasSimulator({
        credentials: KEYS,
        clientCertificates: [good, unknown, lagging, hostile],
        now: NOW,
      }),
    );
    await rig.start();
    try {
      const summary = await rig.sweep(NOW, ["ali-pki"]);
      expect(summary.exitCode).toBe(0);
      expect(
        summary.alerts
          .filter((a) => a.stage === "revoked")
          .map((a) => a.name)
          .sort(),
      ).toEqual([unknown.CommonName, lagging.CommonName].sort());
      expect(summary.sources[0]?.warnings).toEqual(
        expect.arrayContaining([
          `ListClientCertificate lists client certificate ${unknown.Identifier} as REVOKE while DescribeClientCertificateStatus says "unknown"; taken as revoked`,
          `ListClientCertificate lists client certificate ${lagging.Identifier} as REVOKE while DescribeClientCertificateStatus says "good"; taken as revoked`,
          expect.stringMatching(
            new RegExp(
              `^ListClientCertificate: \\d+ subject alternative names of client certificate ${hostile.Identifier} were left out`,
            ),
          ),
        ]),
      );
      const stored = (await rig.store.loadObjects("ali-pki")).get(
        `ali-pki/client-certificate/${hostile.Identifier}`,
      );
      const domains = stored?.observation.domains ?? [];
      expect(domains.length).toBeGreaterThan(100);
      expect(domains.length).toBeLessThanOrEqual(500);
      expect(domains.join("")).not.toMatch(/[\n\u2028]/);
      expect(stored?.observation.details?.emails).toBeUndefined();
    } finally {
      await rig.stop();
    }
  });
});

describe("region labels of CAS endpoints", () => {
  it("come from the host's site, or the config, and are never invented for another host", () => {
    expect(casRegionOf({ endpoint: "https://cas.aliyuncs.com" })).toBe("cn-hangzhou");
    expect(casRegionOf({ endpoint: "https://cas.ap-southeast-1.aliyuncs.com" })).toBe("ap-southeast-1");
    expect(casRegionOf({ endpoint: "https://CAS.eu-central-1.aliyuncs.com/" })).toBe("eu-central-1");
    expect(casRegionOf({ endpoint: "https://cas-proxy.example.com" })).toBeUndefined();
    expect(casRegionOf({ endpoint: "http://127.0.0.1:8080" })).toBeUndefined();
    expect(casRegionOf({ endpoint: "https://cas.aliyuncs.com", region: "cn-shanghai" })).toBe("cn-shanghai");
  });
});

describe("CAS objects missing from a listing", () => {
  it("a client certificate is confirmed gone by ListClientCertificate's Identifier; an SSL one by the next listing", async () => {
    const clientCertificates = clientCertificateFleet({ count: 30, now: NOW });
    const sslCertificates = sslCertificateFleet({ count: 40, now: NOW });
    const rig = new CasRig(
      new CasSimulator({ credentials: KEYS, clientCertificates, sslCertificates, now: NOW }),
    );
    await rig.start();
    try {
      const first = await rig.sweep(NOW, ["ali-pki", "ali-ssl"]);
      const alerting = (source: string) =>
        first.alerts.filter((a) => a.source === source && a.transition === "new");
      const [clientAlert] = alerting("ali-pki");
      const [sslAlert] = alerting("ali-ssl");
      if (!clientAlert || !sslAlert) throw new Error("the fleets have alerting certificates in both sources");
      clientCertificates.splice(
        clientCertificates.findIndex((c) => clientAlert.fingerprint.endsWith(`/${c.Identifier}`)),
        1,
      );
      sslCertificates.splice(
        sslCertificates.findIndex((c) => sslAlert.fingerprint.endsWith(`/${c.CertificateId}`)),
        1,
      );

      const missing = await rig.sweep(new Date(NOW.getTime() + HOUR), ["ali-pki", "ali-ssl"]);
      const byName = (summary: RunSummary, name: string) => summary.sources.find((s) => s.name === name);
      expect(byName(missing, "ali-pki")).toMatchObject({ ok: true, gone: 1, missing: 0 });
      expect(byName(missing, "ali-ssl")).toMatchObject({ ok: true, gone: 0, missing: 1 });
      expect(missing.alerts.map((a) => [a.fingerprint, a.transition])).toEqual([
        [clientAlert.fingerprint, "resolved"],
      ]);

      const confirmed = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR), ["ali-pki", "ali-ssl"]);
      expect(byName(confirmed, "ali-ssl")).toMatchObject({ ok: true, gone: 1, missing: 0 });
      expect(confirmed.alerts.map((a) => [a.fingerprint, a.transition])).toEqual([
        [sslAlert.fingerprint, "resolved"],
      ]);
    } finally {
      await rig.stop();
    }
  });
});

describe("content checks on the X509Certificate of CAS client certificates", () => {
  const dns = (...names: string[]) => names.map((name) => ({ Type: 2, Value: name }));
  /** A good client certificate, far from expiry, whose listing names `sans`; `pem` as the test makes it. */
  const record = (
    n: number,
    sans: { Type: number; Value: string }[],
    pem: string,
  ): ClientCertificateRecord => ({
    Identifier: `client-content-${n}`,
    SerialNumber: `7a${String(n).padStart(30, "0")}`,
    CommonName: `device-${n}.iot.example.com`,
    Sans: JSON.stringify(sans),
    BeforeDate: NOW.getTime() - DAY,
    AfterDate: NOW.getTime() + 300 * DAY,
    Status: "ISSUE",
    CertificateType: "CLIENT",
    Algorithm: "RSA",
    KeySize: 2048,
    ParentIdentifier: "sub-ca-0001",
    X509Certificate: pem,
    revocation: { Status: "good" },
  });
  const pemOf = (dnsNames: string[], options: { rsaBits?: number; hash?: "sha1" } = {}) =>
    makeCertificate({
      // The common name is not among the SANs, as Alibaba's private CA issues them: it is no disagreement.
      commonName: "device.iot.example.com",
      dnsNames,
      notBefore: new Date(NOW.getTime() - DAY),
      notAfter: new Date(NOW.getTime() + 300 * DAY),
      key: makeKey(options.rsaBits ? { rsa: options.rsaBits } : "ec"),
      hash: options.hash,
    }).pem;
  const weak = record(
    1,
    dns("a.backup.example.com"),
    pemOf(["a.backup.example.com"], { rsaBits: 1024, hash: "sha1" }),
  );
  const disagreeing = record(
    2,
    [...dns("b.backup.example.com"), { Type: 7, Value: "10.0.0.2" }],
    pemOf(["b.backup.example.com", "c.backup.example.com"]),
  );
  const unreadable = record(3, [], "-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----");
  const renewed = record(4, dns("a.backup.example.com"), pemOf(["a.backup.example.com"]));
  const clientCertificates = [weak, disagreeing, unreadable];
  const rig = new CasRig(new CasSimulator({ credentials: KEYS, clientCertificates, now: NOW }));
  const key = (certificate: ClientCertificateRecord) =>
    `ali-pki/client-certificate/${certificate.Identifier}`;

  beforeAll(async () => {
    await rig.start();
  });
  afterAll(async () => {
    await rig.stop();
  });

  it("warns on a weak key, a SHA-1 signature and SANs the listing does not name; an unreadable PEM is a warning", async () => {
    const summary = await rig.sweep(NOW, ["ali-pki"]);
    expect(summary.exitCode).toBe(0);
    expect(summary.alerts.map((a) => [a.fingerprint, a.severity, a.transition]).sort()).toEqual([
      [`san-mismatch:${key(disagreeing)}`, "warning", "new"],
      [`sha1-signature:${key(weak)}`, "warning", "new"],
      [`weak-key:${key(weak)}`, "warning", "new"],
    ]);
    expect(summary.alerts.find((a) => a.fingerprint.startsWith("san-mismatch:"))?.summary).toBe(
      "SANs disagree with the listed domains (listed but not in the certificate: 10.0.0.2; in the certificate but not listed: c.backup.example.com)",
    );
    expect(summary.sources[0]?.warnings).toEqual([
      expect.stringMatching(
        /^ListClientCertificate: page 1: CertificateList\[2\]\.X509Certificate of client certificate client-content-3: not a readable X\.509 certificate: .+; its key, signature and SANs are not checked$/,
      ),
    ]);
    const stored = await rig.store.loadObjects("ali-pki");
    expect(stored.get(key(disagreeing))?.observation.details).toMatchObject({
      keyType: "ec",
      signatureAlgorithm: "ecdsa-with-SHA256",
      sansNotInCertificate: "10.0.0.2",
      sansNotListed: "c.backup.example.com",
    });
    expect(JSON.stringify([...stored.values()])).not.toContain("BEGIN CERTIFICATE");
  });

  it("an unchanged certificate does not alert again", async () => {
    const summary = await rig.sweep(new Date(NOW.getTime() + HOUR), ["ali-pki"]);
    expect(summary.alerts).toEqual([]);
  });

  it("a renewed certificate with a good key in place of the weak one resolves its warnings and raises none", async () => {
    clientCertificates.splice(clientCertificates.indexOf(weak), 1, renewed);
    const summary = await rig.sweep(new Date(NOW.getTime() + 2 * HOUR), ["ali-pki"]);
    expect(summary.alerts.map((a) => [a.fingerprint, a.transition]).sort()).toEqual([
      [`sha1-signature:${key(weak)}`, "resolved"],
      [`weak-key:${key(weak)}`, "resolved"],
    ]);
  });
});
