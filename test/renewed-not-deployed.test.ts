import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config } from "../lib/config/schema.js";
import { renderHtml } from "../lib/report/html.js";
import { readInventory } from "../lib/report/inventory.js";
import { HttpClient } from "../lib/sources/http.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import {
  type DeploymentJobRecord,
  deploymentFleet,
  type SslCertificateRecord,
  sslCertificateFleet,
} from "../sim/aliyun-fleet.js";
import { type ScmCertificate, scmFleet, scmTime } from "../sim/fleet.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { makeCa, makeLeaf, TlsSite } from "../sim/tls-site.js";

const DAY = 86_400_000;
/** Certificates are made relative to the real clock: the handshake reads it too. */
const NOW = new Date();
const KEYS = { accessKey: "HWRENEWEDNOTDEPLOYED1", secretKey: "renewed-not-deployed-secret" };
const ALIYUN = { accessKey: "LTAI5tRENEWEDNOTDEPL", secretKey: "renewed-not-deployed-aliyun" };
const HOST = "shop.example.test";

describe("renewed but not deployed: an endpoint still serving what the inventory has replaced", () => {
  const site = new TlsSite();
  const { intermediate } = makeCa(NOW);
  const old = makeLeaf(NOW, [HOST], 12, intermediate);
  const oldUntil = new Date(NOW.getTime() + 12 * DAY).toISOString().slice(0, 10);
  // SCM holds the renewal for the same name; the fleet's others are of other names.
  const [template] = scmFleet({ count: 1, now: NOW, seed: 7 }) as [ScmCertificate];
  const renewal: ScmCertificate = {
    ...template,
    id: "scs1700000000777",
    name: "shop-2027",
    domain: HOST,
    sans: "",
    status: "ISSUED",
    domain_type: "SINGLE_DOMAIN",
    wildcard_count: 0,
    domain_count: 1,
    expire_time: scmTime(new Date(NOW.getTime() + 380 * DAY)),
  };
  const scm = scmSimulator({ certificates: [renewal], credentials: KEYS });
  // A CAS job once deployed the old certificate onto the CDN that serves this name.
  const [job] = deploymentFleet({ jobs: 1, workersPerJob: 1, now: NOW }) as [DeploymentJobRecord];
  for (const worker of job.workers)
    Object.assign(worker, { CertDomain: HOST, ResourceDomain: HOST, Status: "success" });
  Object.assign(job, { Status: "success", CertDomain: HOST });
  const cas = new CasSimulator({ credentials: ALIYUN, deploymentJobs: [job], now: NOW });
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    site.serve(HOST, [old, intermediate]);
    let scmUrl: string;
    let casUrl: string;
    let slackUrl: string;
    [, scmUrl, casUrl, slackUrl, dynamo] = await Promise.all([
      site.start(),
      scm.listen(),
      cas.listen(),
      slack.listen(),
      startEmbeddedDynamo(),
    ]);
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
    config = await parseConfig(
      `
sources:
  - name: edge
    type: tls-endpoints
    retries: 0
    endpoints:
      - { host: ${HOST}, port: ${site.port}, connectTo: 127.0.0.1 }
  - name: hw-scm
    type: huawei-scm
    endpoint: ${scmUrl}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
  - name: ali-deploy
    type: aliyun-deployment-jobs
    endpoint: ${casUrl}
    credentials: { accessKey: ${ALIYUN.accessKey}, secretKey: ${ALIYUN.secretKey} }
receivers:
  - { name: ops, type: slack, webhookUrl: "${slackUrl}" }
`,
      "served.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([site.close(), scm.close(), cas.close(), slack.close(), dynamo.close()]);
  });

  const sweep = (minutes: number) =>
    runSweep({ config, store, http, now: new Date(NOW.getTime() - 60 * 60_000 + minutes * 60_000) });
  const notDeployed = (alerts: { fingerprint: string; transition: string; summary: string }[]) =>
    alerts.filter((alert) => alert.fingerprint.startsWith("not-deployed:"));

  it("the first run already compares them: one alert naming both certificates and where the newer one is", async () => {
    const first = await sweep(0);
    expect(first.sources.map((report) => [report.name, report.ok])).toEqual([
      ["edge", true],
      ["hw-scm", true],
      ["ali-deploy", true],
    ]);
    const [alert, ...more] = notDeployed(first.alerts);
    expect(more).toEqual([]);
    expect(alert?.transition).toBe("new");
    expect(alert?.summary).toContain(`renewed but not deployed: serves CN=${HOST}, valid until`);
    expect(alert?.summary).toContain(`source hw-scm holds shop-2027 (scs1700000000777), valid until`);
    // Where the old one went: the job to run again with the newer certificate.
    expect(alert?.summary).toMatch(
      new RegExp(
        `; for this name, CAS job ${job.Id} deployed shop-0-2026 on \\S+ .*\\(succeeded, source ali-deploy\\)$`,
      ),
    );
    expect(JSON.stringify(slack.posts.at(-1)?.body)).toContain("renewed but not deployed");
  });

  it("the HTML report shows the endpoint's certificate beside the newest one in the inventory", async () => {
    const inventory = await readInventory(store, config, NOW, { sources: config.sources });
    const row = inventory.rows.find((candidate) => candidate.kind === "endpoint");
    expect(row?.severity).toBe("warning");
    expect(row?.inventoryNewest).toMatchObject({ source: "hw-scm", nativeId: "scs1700000000777" });
    const html = renderHtml(inventory);
    const endpoints = /<table id="endpoints">[\s\S]*?<\/table>/.exec(html)?.[0] ?? "";
    expect(endpoints).toContain(`CN=${HOST}, until ${oldUntil}`);
    expect(endpoints).toContain("shop-2027 (scs1700000000777) in hw-scm, until");
    expect(endpoints).toContain("renewed but not deployed");
  });

  it("an index missing from the store (one from before it, or a write that failed) is written whole once", async () => {
    const last = await store.lastSweep("hw-scm");
    if (!last) throw new Error("hw-scm was swept before");
    const { indexVersion: _version, ...older } = last;
    await store.updateLastSweep(older);
    const [object] = (await store.loadObjects("hw-scm")).values();
    await store.hostnames.update([{ before: object?.observation }]);
    const certificates = async () =>
      (await store.hostnames.covering(HOST)).filter((found) => found.kind === "certificate");
    expect(await certificates()).toEqual([]);
    const quiet = await sweep(5);
    expect(quiet.sources.find((report) => report.name === "hw-scm")).toMatchObject({ ok: true, changed: 0 });
    expect((await store.hostnames.covering(HOST)).map((found) => found.nativeId)).toContain(
      "scs1700000000777",
    );
    expect(notDeployed(quiet.alerts)).toEqual([]);
  });

  it("says it once: a run with nothing new sends nothing", async () => {
    expect(notDeployed((await sweep(10)).alerts)).toEqual([]);
  });

  it("an index that cannot be read is no all-clear: the alert neither resolves nor comes again", async () => {
    const covering = store.hostnames.covering.bind(store.hostnames);
    store.hostnames.covering = () => Promise.reject(new Error("ProvisionedThroughputExceededException"));
    try {
      const unread = await sweep(12);
      expect(unread.sources.find((report) => report.name === "edge")?.warnings.join("\n")).toMatch(
        /the inventory could not be read .*ProvisionedThroughputExceededException; its comparisons stand as last judged/,
      );
      expect(notDeployed(unread.alerts)).toEqual([]);
      // A rejection that carries nothing is no all-clear either.
      store.hostnames.covering = () => Promise.reject(undefined);
      const unreadAgain = await sweep(13);
      expect(unreadAgain.sources.find((report) => report.name === "edge")?.warnings.join("\n")).toMatch(
        /the inventory could not be read to compare with what is served: failed with undefined; its comparisons stand as last judged/,
      );
      expect(notDeployed(unreadAgain.alerts)).toEqual([]);
    } finally {
      store.hostnames.covering = covering;
    }
    expect(notDeployed((await sweep(14)).alerts)).toEqual([]);
  });

  it("resolves once the endpoint serves the newer certificate", async () => {
    site.serve(HOST, [makeLeaf(NOW, [HOST], 380, intermediate), intermediate]);
    const switched = await sweep(20);
    expect(notDeployed(switched.alerts).map((alert) => alert.transition)).toEqual(["resolved"]);
    expect(notDeployed((await sweep(30)).alerts)).toEqual([]);
  });

  it("fromInventory probes every name the inventories hold, through the store's hostname index", async () => {
    // Names resolve here only as localhost: another SCM account holds a certificate for it, probed on the site.
    const local: ScmCertificate = { ...renewal, id: "scs1700000000888", name: "local", domain: "localhost" };
    site.serve("localhost", [makeLeaf(NOW, ["localhost"], 30, intermediate), intermediate]);
    const withLocal = scmSimulator({ certificates: [local], credentials: KEYS });
    const url = await withLocal.listen();
    try {
      const inventory = await parseConfig(
        `
sources:
  - { name: all-sites, type: tls-endpoints, fromInventory: true, inventoryPort: ${site.port}, retries: 0 }
  - name: hw-scm-local
    type: huawei-scm
    endpoint: ${url}
    credentials: { accessKey: ${KEYS.accessKey}, secretKey: ${KEYS.secretKey} }
receivers:
  - { name: ops, type: webhook, url: "http://127.0.0.1:9/unused" }
`,
        "inventory.yml",
      );
      const summary = await runSweep({ config: inventory, store, http, now: NOW });
      const probed = summary.sources.find((report) => report.name === "all-sites");
      // Every name of the index is probed: shop.example.test does not resolve and fails alone; localhost answers.
      expect(probed).toMatchObject({ ok: true, objects: 2 });
      const localhost = summary.alerts.find((alert) =>
        alert.fingerprint.startsWith("not-deployed:all-sites/"),
      );
      expect(localhost?.summary).toMatch(/renewed but not deployed: serves CN=localhost/);
    } finally {
      await withLocal.close();
    }
  });

  it("notInInventory: alert tells of a served certificate no inventory holds for its name, and only that one", async () => {
    site.serve("elsewhere.example.test", [
      makeLeaf(NOW, ["elsewhere.example.test"], 60, intermediate),
      intermediate,
    ]);
    const strict = await parseConfig(
      `
sources:
  - name: edge-strict
    type: tls-endpoints
    retries: 0
    notInInventory: alert
    endpoints:
      - { host: ${HOST}, port: ${site.port}, connectTo: 127.0.0.1 }
      - { host: elsewhere.example.test, port: ${site.port}, connectTo: 127.0.0.1 }
receivers:
  - { name: ops, type: webhook, url: "http://127.0.0.1:9/unused" }
`,
      "strict.yml",
    );
    const summary = await runSweep({ config: strict, store, http, now: NOW, dryRun: true });
    const unknown = summary.alerts.filter((alert) => alert.fingerprint.startsWith("not-in-inventory:"));
    // shop.example.test now serves the certificate SCM holds; elsewhere.example.test serves one nobody lists.
    expect(unknown.map((alert) => alert.name)).toEqual([
      `elsewhere.example.test:${site.port} (via 127.0.0.1)`,
    ]);
    expect(unknown[0]?.summary).toMatch(
      /^serves CN=elsewhere\.example\.test, valid until \d{4}-\d{2}-\d{2}, which no inventory certwatch sweeps holds/,
    );
  });
});

describe("renewed in CAS but not deployed: the alert gives the redeploy command that pushes the renewal", () => {
  const PAY = "pay.example.test";
  const site = new TlsSite();
  const { intermediate } = makeCa(NOW);
  const [renewal] = sslCertificateFleet({ count: 1, now: NOW, seed: 3 }) as [SslCertificateRecord];
  Object.assign(renewal, {
    CertificateId: 24_000_001,
    Name: "pay-2027",
    CommonName: PAY,
    Sans: [PAY],
    NotAfter: NOW.getTime() + 400 * DAY,
    Revoked: false,
  });
  const [job] = deploymentFleet({ jobs: 1, workersPerJob: 2, now: NOW, seed: 5 }) as [DeploymentJobRecord];
  for (const worker of job.workers)
    Object.assign(worker, { CertDomain: PAY, ResourceDomain: PAY, Status: "success" });
  Object.assign(job, { Status: "success", CertDomain: PAY });
  const cas = new CasSimulator({
    credentials: ALIYUN,
    sslCertificates: [renewal],
    deploymentJobs: [job],
    now: NOW,
  });
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    site.serve(PAY, [makeLeaf(NOW, [PAY], 20, intermediate), intermediate]);
    let casUrl: string;
    [, casUrl, dynamo] = await Promise.all([site.start(), cas.listen(), startEmbeddedDynamo()]);
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
    const aliyun = `{ accessKey: ${ALIYUN.accessKey}, secretKey: ${ALIYUN.secretKey} }`;
    config = await parseConfig(
      `
sources:
  - { name: edge, type: tls-endpoints, retries: 0, endpoints: [{ host: ${PAY}, port: ${site.port}, connectTo: 127.0.0.1 }] }
  - { name: ali-ssl, type: aliyun-ssl-certificates, endpoint: "${casUrl}", credentials: ${aliyun} }
  - { name: ali-deploy, type: aliyun-deployment-jobs, endpoint: "${casUrl}", credentials: ${aliyun}, contactIds: [1] }
receivers:
  - { name: ops, type: webhook, url: "http://127.0.0.1:9/unused" }
`,
      "cas.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([site.close(), cas.close(), dynamo.close()]);
  });

  it("names the job that deployed onto the name and the command that deploys the renewal there", async () => {
    const summary = await runSweep({ config, store, http, now: NOW, dryRun: false });
    const alert = summary.alerts.find((candidate) => candidate.fingerprint.startsWith("not-deployed:"));
    expect(alert?.summary).toContain("source ali-ssl holds pay-2027 (24000001)");
    expect(alert?.summary).toContain(
      `certwatch redeploy --source ali-deploy --job ${job.Id} --all-workers --cert 24000001`,
    );
  });
});
