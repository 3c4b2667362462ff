import { randomUUID } from "node:crypto";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config, SourceConfig } from "../lib/config/schema.js";
import type { Alert, Observation } from "../lib/model/types.js";
import { messages } from "../lib/notify/messages.js";
import { dependentsClause } from "../lib/rules/expiry.js";
import { signCall } from "../lib/sources/aliyun/signer.js";
import { HuaweiClient } from "../lib/sources/huawei/client.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { driverFor } from "../lib/sources/index.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { type RunSummary, runSweep } from "../lib/sweep.js";
import { type CaCertificateRecord, CasSimulator } from "../sim/aliyun-cas.js";
import { clientCertificateFleet } from "../sim/aliyun-fleet.js";
import {
  type CcmAuthority,
  type CcmCertificate,
  ccmAuthority,
  ccmCertificate,
  ccmSimulator,
} from "../sim/huawei-ccm.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { deliberately } from "./contract/setup.js";
import { alert, observation } from "./fixtures.js";
import { embeddedStore } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const DAY = 86_400_000;
const ALIYUN = { accessKey: "LTAI5tPRIVATECAKEY001", secretKey: "aliyun-private-ca-secret" };
const HUAWEI = { accessKey: "HWPRIVATECAACCESSKEY1", secretKey: "huawei-private-ca-secret" };
const DOMAIN_ID = "0a1b2c3d4e5f";

/** A CA as CAS holds it, `days` from NOW to its end. */
function aliyunCa(
  index: number,
  days: number,
  fields: Partial<CaCertificateRecord> = {},
): CaCertificateRecord {
  const id = `1ef78be5-0000-6000-b5ef-${String(index).padStart(12, "0")}`;
  return {
    Identifier: id,
    ParentIdentifier: ROOT_ID,
    CertificateType: "SUB_ROOT",
    Status: "ISSUE",
    CommonName: `Example Sub CA ${index}`,
    SubjectDN: `C=CN,O=Example,CN=Example Sub CA ${index}`,
    SerialNumber: `70E3B2566D92805173767869727FB9${String(index).padStart(4, "0")}`,
    Algorithm: "RSA",
    KeySize: 2048,
    SignAlgorithm: "SHA256WITHRSA",
    BeforeDate: NOW.getTime() - 365 * DAY,
    AfterDate: NOW.getTime() + days * DAY,
    Years: 5,
    ...fields,
  };
}

const ROOT_ID = "1ef78be5-0000-6000-b5ef-root00000001";

/** 120 CAs: three pages of 50. A root, one subordinate 20 days from its end, one revoked, the rest far from theirs. */
function aliyunFleet(): CaCertificateRecord[] {
  // A root is served without ParentIdentifier.
  const { ParentIdentifier: _none, ...root } = aliyunCa(0, 3650, {
    Identifier: ROOT_ID,
    CertificateType: "ROOT",
    CommonName: "Example Root CA",
    Years: 10,
  });
  const subordinates = Array.from({ length: 119 }, (_, index) => aliyunCa(index + 1, 400 + index));
  Object.assign(subordinates[40] as CaCertificateRecord, {
    AfterDate: NOW.getTime() + 20 * DAY,
    CommonName: "Soon Sub CA",
  });
  Object.assign(subordinates[80] as CaCertificateRecord, { Status: "REVOKE", CommonName: "Revoked Sub CA" });
  return [root, ...subordinates];
}

/**
 * A Huawei CCM estate: root R; subordinate S 20 days from its end, which issued subordinate S2; a disabled CA with
 * nothing under it and one with two certificates; one scheduled for deletion; one pending. 82 private certificates
 * (two pages of 50): 60 issued by S, 3 revoked and 2 expired by S, 5 by S2, 10 by R, 2 by the disabled one.
 */
function huaweiFleet(): { authorities: CcmAuthority[]; certificates: CcmCertificate[] } {
  let created = NOW.getTime() - 400 * DAY;
  const ca = (id: string, status: CcmAuthority["status"], days: number, issuer?: CcmAuthority) =>
    ccmAuthority({
      ca_id: id,
      status,
      not_after: NOW.getTime() + days * DAY,
      create_time: (created += DAY),
      commonName: `CA ${id}`,
      issuer,
    });
  const root = ca("ca-root", "ACTIVED", 3650);
  const sub = ca("ca-sub", "ACTIVED", 20, root);
  const nested = ca("ca-nested", "ACTIVED", 900, sub);
  const disabledAlone = ca("ca-disabled-alone", "DISABLED", 10, root);
  const disabledInUse = ca("ca-disabled-in-use", "DISABLED", 25, root);
  const deleted = ca("ca-deleted", "DELETED", 300, root);
  const pending = ca("ca-pending", "PENDING", 3650, root);
  let serial = 0;
  const issue = (issuer: CcmAuthority, count: number, status: CcmCertificate["status"], days: number) =>
    Array.from({ length: count }, () => {
      const id = `cert-${String(++serial).padStart(4, "0")}`;
      return ccmCertificate({
        certificate_id: id,
        status,
        not_after: NOW.getTime() + days * DAY,
        create_time: (created += 60_000),
        commonName: `${id}.internal.example.com`,
        issuer,
      });
    });
  return {
    authorities: [root, sub, nested, disabledAlone, disabledInUse, deleted, pending],
    certificates: [
      ...issue(sub, 60, "ISSUED", 200),
      ...issue(sub, 3, "REVOKED", 200),
      ...issue(sub, 2, "EXPIRED", -5),
      ...issue(nested, 5, "ISSUED", 300),
      ...issue(root, 10, "ISSUED", 365),
      ...issue(disabledInUse, 2, "ISSUED", 20),
    ],
  };
}

describe("private CAs: Alibaba DescribeCACertificateList and Huawei CCM, through the simulators and a real sweep", () => {
  const authorities = aliyunFleet();
  const cas = new CasSimulator({ credentials: ALIYUN, caCertificates: authorities, now: NOW });
  const estate = huaweiFleet();
  const ccm = ccmSimulator({ ...estate, credentials: HUAWEI, domainId: DOMAIN_ID });
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    const [casUrl, ccmUrl, slackUrl] = await Promise.all([cas.listen(), ccm.listen(), slack.listen()]);
    ({ dynamo, store } = await embeddedStore());
    config = await parseConfig(
      `
sources:
  - name: ali-ca
    type: aliyun-private-ca
    endpoint: ${casUrl}
    credentials: { accessKey: ${ALIYUN.accessKey}, secretKey: ${ALIYUN.secretKey} }
    region: cn-hangzhou
    timeout: 2s
  - name: hw-ca
    type: huawei-private-ca
    endpoint: ${ccmUrl}
    credentials: { accessKey: ${HUAWEI.accessKey}, secretKey: ${HUAWEI.secretKey} }
    domainId: ${DOMAIN_ID}
    timeout: 2s
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
`,
      "private-ca.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([cas.close(), ccm.close(), slack.close(), dynamo.close()]);
  });

  const sweep = (name: string, at = NOW): Promise<RunSummary> =>
    runSweep({ config, store, http, now: at, only: [name] });
  const context = () => ({ http, stats: newCallStats(), previous: new Map(), warn: () => undefined });
  const sourceNamed = <T extends SourceConfig["type"]>(name: string) =>
    config.sources.find((source) => source.name === name) as Extract<SourceConfig, { type: T }>;
  const lastSlack = () => JSON.stringify(slack.posts.at(-1)?.body ?? "");

  it("Alibaba: pages through 120 CAs; the one 20 days from its end is critical, the revoked one too", async () => {
    const summary = await sweep("ali-ca");
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 120, calls: 3, throttled: 0 });
    expect(cas.callsOf("DescribeCACertificateList")).toBe(3);

    const byName = new Map(summary.alerts.map((a) => [a.name, a]));
    expect([...byName.keys()].sort()).toEqual(["Revoked Sub CA", "Soon Sub CA"]);
    expect(byName.get("Soon Sub CA")).toMatchObject({ severity: "critical", stage: "30d", daysLeft: 20 });
    // CAS cannot say what depends on a CA: its client certificates live in another source.
    expect(byName.get("Soon Sub CA")?.summary).toBe(
      "expires in 20 days (2026-12-12); every certificate it issued fails with it",
    );
    expect(byName.get("Revoked Sub CA")).toMatchObject({ severity: "critical", stage: "revoked" });
    expect(lastSlack()).toContain("every certificate it issued fails with it");

    const stored = await store.loadObjects("ali-ca");
    const root = stored.get(`ali-ca/certificate-authority/${ROOT_ID}`)?.observation;
    expect(root).toMatchObject({
      kind: "certificate-authority",
      status: "active",
      rawStatus: "ISSUE",
      domains: [],
    });
    // What depends on the root is known from this very sweep: its 118 subordinate CAs in force (one is revoked).
    expect(root?.details).toEqual({
      caType: "root",
      serial: "70e3b2566d92805173767869727fb90000",
      dependents: "118",
    });
    const soon = [...stored.values()].find(
      (object) => object.observation.name === "Soon Sub CA",
    )?.observation;
    expect(soon?.details).toMatchObject({ caType: "subordinate", issuer: ROOT_ID });
    expect(soon?.details?.dependents).toBeUndefined();
    expect(soon?.notAfter).toBe(new Date(NOW.getTime() + 20 * DAY).toISOString());
  });

  it("Alibaba: a page without a CA's AfterDate fails the source naming the call and the field, and changes nothing", async () => {
    const before = await store.loadObjects("ali-ca");
    const record = authorities[60] as Partial<CaCertificateRecord>;
    const afterDate = record.AfterDate;
    delete record.AfterDate;
    try {
      const summary = await sweep("ali-ca", new Date(NOW.getTime() + 3_600_000));
      expect(summary.exitCode).toBe(1);
      expect(summary.sources[0]?.error).toBe(
        "DescribeCACertificateList returned a malformed page: page 2: CertificateList[10].AfterDate is missing",
      );
      expect(await store.loadObjects("ali-ca")).toEqual(before);
    } finally {
      record.AfterDate = afterDate;
    }
  });

  it("Alibaba: verify makes one signed call, and a look-up tells a CA that is gone from one that is not", async () => {
    const source = sourceNamed<"aliyun-private-ca">("ali-ca");
    const driver = driverFor("aliyun-private-ca");
    expect(await driver.verify(source, context())).toMatch(
      /^credentials accepted \(.+\); 120 private CAs visible$/,
    );
    const known = (await store.loadObjects("ali-ca")).get(`ali-ca/certificate-authority/${ROOT_ID}`)
      ?.observation as Observation;
    expect(await driver.lookUp?.(source, context(), known)).toMatchObject({
      nativeId: ROOT_ID,
      status: "active",
    });
    expect(await driver.lookUp?.(source, context(), { ...known, nativeId: "1ef78be5-gone" })).toBe("gone");
  });

  it("Huawei: CAs and their certificates; a subordinate CA counts what it issued and what its own CAs issued", async () => {
    const seen: Exchange[] = [];
    const stop = observeExchanges((exchange) => seen.push(exchange));
    const summary = await sweep("hw-ca").finally(stop);
    // One page of CAs, two of certificates, oldest first so that a CA or certificate created mid-walk comes last.
    expect(summary.sources[0]).toMatchObject({ ok: true, objects: 7 + 82, calls: 3 });
    expect(seen.map((exchange) => `${exchange.request.url.pathname}${exchange.request.url.search}`)).toEqual([
      "/v1/private-certificate-authorities?sort_key=create_time&sort_dir=ASC&limit=50&offset=0",
      "/v1/private-certificates?sort_key=create_time&sort_dir=ASC&limit=50&offset=0",
      "/v1/private-certificates?sort_key=create_time&sort_dir=ASC&limit=50&offset=50",
    ]);

    const stored = await store.loadObjects("hw-ca");
    const ca = (id: string) => stored.get(`hw-ca/certificate-authority/${id}`)?.observation;
    // S: 60 issued (revoked and expired ones depend on nothing), plus S2 and its 5.
    expect(ca("ca-sub")?.details).toMatchObject({
      caType: "subordinate",
      issuer: "ca-root",
      dependents: "66",
    });
    expect(ca("ca-nested")?.details).toMatchObject({ issuer: "ca-sub", dependents: "5" });
    // R: its 10, S's 66 and S itself, S2 counted once, both disabled CAs and their 2; not the deleted or pending CA.
    expect(ca("ca-root")?.details).toMatchObject({
      caType: "root",
      dependents: String(10 + 1 + 66 + 1 + 1 + 2),
    });
    expect(ca("ca-root")?.details?.issuer).toBeUndefined();
    const certificate = stored.get("hw-ca/client-certificate/cert-0001")?.observation;
    expect(certificate).toMatchObject({
      kind: "client-certificate",
      status: "active",
      rawStatus: "ISSUED",
      domains: ["cert-0001.internal.example.com"],
      details: { issuer: "ca-sub", issuerName: "CA ca-sub" },
    });

    const subAlert = summary.alerts.find(
      (a) => a.fingerprint === "expiry:hw-ca/certificate-authority/ca-sub",
    );
    expect(subAlert).toMatchObject({ severity: "critical", stage: "30d" });
    expect(subAlert?.summary).toBe("expires in 20 days (2026-12-12); 66 known certificates depend on it");
    expect(lastSlack()).toContain("66 known certificates depend on it");
    // The revoked and expired certificates S issued alert on their own.
    expect(
      summary.alerts.filter((a) => a.fingerprint.startsWith("revocation:hw-ca/client-certificate/")),
    ).toHaveLength(3);
    expect(summary.alerts.filter((a) => a.stage === "expired")).toHaveLength(2);
  });

  it("Huawei: a disabled CA is watched while certificates depend on it; deleted and pending ones are not", async () => {
    const stored = await store.loadObjects("hw-ca");
    const ca = (id: string) => stored.get(`hw-ca/certificate-authority/${id}`)?.observation;
    expect(ca("ca-disabled-alone")).toMatchObject({ status: "inactive", rawStatus: "DISABLED" });
    expect(ca("ca-disabled-alone")?.details?.dependents).toBe("0");
    expect(ca("ca-deleted")).toMatchObject({ status: "inactive", rawStatus: "DELETED" });
    expect(ca("ca-pending")).toMatchObject({ status: "pending", rawStatus: "PENDING" });

    const summary = await sweep("hw-ca", new Date(NOW.getTime() + 3_600_000));
    expect(summary.sources[0]?.ok).toBe(true);
    const caAlerts = (await store.loadObjects("hw-ca")).values();
    const alerting = [...caAlerts]
      .filter(
        (object) =>
          object.observation.kind === "certificate-authority" && Object.keys(object.alerts).length > 0,
      )
      .map((object) => object.observation.nativeId)
      .sort();
    // The disabled CA 10 days from its end has nothing under it: no alert. The one with two certificates is critical.
    expect(alerting).toEqual(["ca-disabled-in-use", "ca-sub"]);
    const inUse = (await store.loadObjects("hw-ca")).get("hw-ca/certificate-authority/ca-disabled-in-use");
    expect(inUse?.alerts.expiry).toMatchObject({ stage: "30d", severity: "critical" });
  });

  it("Huawei: a malformed page fails the source naming the call and the field", async () => {
    ccm.inject("malformed");
    const summary = await sweep("hw-ca", new Date(NOW.getTime() + 2 * 3_600_000));
    expect(summary.exitCode).toBe(1);
    expect(summary.sources[0]?.error).toBe(
      "ListCertificateAuthority returned a malformed page: offset=0: total is missing or not a whole number",
    );
  });

  it("Huawei: verify makes one signed call", async () => {
    const source = sourceNamed<"huawei-private-ca">("hw-ca");
    expect(await driverFor("huawei-private-ca").verify(source, context())).toBe(
      "credentials accepted; 7 private CAs visible",
    );
  });

  it("the CAS simulator serves DescribeCACertificateList under 2020-06-30 only, with its filters and default page", async () => {
    const call = async (version: string, query: string) => {
      const url = new URL(`/?${query}`, config.sources[0]?.endpoint);
      const headers = signCall(
        { action: "DescribeCACertificateList", version, method: "POST", url },
        ALIYUN,
        new Date(),
        randomUUID(),
      );
      const response = await request(url, { method: "POST", headers });
      return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> };
    };
    const wrongVersion = await deliberately(() => call("2020-04-07", "CurrentPage=1"));
    expect(wrongVersion).toMatchObject({ status: 404, body: { Code: "InvalidAction.NotFound" } });
    const revoked = await call("2020-06-30", "CaStatus=revoke");
    expect(revoked.body).toMatchObject({ TotalCount: 1, ShowSize: 20, PageCount: 1 });
    expect((revoked.body.CertificateList as CaCertificateRecord[])[0]?.CommonName).toBe("Revoked Sub CA");
    const roots = await call("2020-06-30", "CertType=root");
    expect((roots.body.CertificateList as CaCertificateRecord[]).map((ca) => ca.Identifier)).toEqual([
      ROOT_ID,
    ]);
    const firstPage = await call("2020-06-30", "");
    expect(firstPage.body).toMatchObject({ TotalCount: 120, PageCount: 6, CurrentPage: 1 });
    expect(firstPage.body.CertificateList).toHaveLength(20);
    const bad = await deliberately(() => call("2020-06-30", "CaStatus=ISSUE"));
    expect(bad).toMatchObject({ status: 400, body: { Code: "InvalidParameter" } });
  });

  it("the CCM simulator pages 10 at a time, newest first, unless asked otherwise, and refuses what is not signed", async () => {
    const source = sourceNamed<"huawei-private-ca">("hw-ca");
    const client = new HuaweiClient(source, context());
    const page = (await client.get("ListCertificate", "/v1/private-certificates", {})) as {
      total: number;
      certificates: CcmCertificate[];
    };
    expect(page.total).toBe(82);
    expect(page.certificates.map((certificate) => certificate.certificate_id)).toEqual(
      Array.from({ length: 10 }, (_, index) => `cert-${String(82 - index).padStart(4, "0")}`),
    );
    const revoked = (await client.get("ListCertificate", "/v1/private-certificates", {
      status: "REVOKED",
    })) as {
      total: number;
    };
    expect(revoked.total).toBe(3);
    const subordinates = (await client.get(
      "ListCertificateAuthority",
      "/v1/private-certificate-authorities",
      {
        type: "SUBORDINATE",
        sort_key: "not_after",
        sort_dir: "ASC",
      },
    )) as { certificate_authorities: CcmAuthority[] };
    expect(subordinates.certificate_authorities.map((ca) => ca.ca_id)).toEqual([
      "ca-disabled-alone",
      "ca-sub",
      "ca-disabled-in-use",
      "ca-deleted",
      "ca-nested",
      "ca-pending",
    ]);
    const unsigned = await deliberately(() =>
      request(new URL("/v1/private-certificate-authorities", source.endpoint)),
    );
    expect(unsigned.statusCode).toBe(401);
    expect(await unsigned.body.json()).toMatchObject({ error_code: "APIGW.0301" });
  });

  it("a CA's messages read naturally with a count, with one, with none, and without one, in both languages", () => {
    const ca = (dependents?: string) =>
      observation({
        nativeId: "ca-1",
        kind: "certificate-authority",
        domains: [],
        details: dependents === undefined ? {} : { dependents },
      });
    expect(dependentsClause(ca("12"))).toBe("12 known certificates depend on it");
    expect(dependentsClause(ca("1"))).toBe("1 known certificate depends on it");
    expect(dependentsClause(ca("0"))).toBe("no certificate certwatch knows of depends on it");
    expect(dependentsClause(ca())).toBe("every certificate it issued fails with it");

    const expiring = (object: Observation): Alert => ({
      ...alert({ nativeId: "ca-1" }),
      object,
      stage: "30d",
      daysLeft: 20,
    });
    expect(messages["zh-CN"].when(expiring(ca("12")))).toBe(
      "将在 20 天后过期（2026-12-01）；已知 12 个证书依赖它",
    );
    expect(messages["zh-CN"].when(expiring(ca()))).toBe(
      "将在 20 天后过期（2026-12-01）；它签发的所有证书将随之失效",
    );
    expect(messages.en.action(expiring(ca("12")))).toBe(
      "renew the CA, or create a new one, and reissue the certificates it signed before it expires",
    );
    expect(messages.en.kind["certificate-authority"]).toBe("certificate authority");
  });
});

describe("private CAs: an Alibaba CA tells how many client certificates of another source depend on it", () => {
  const authorities = aliyunFleet();
  const soon = authorities.find((ca) => ca.CommonName === "Soon Sub CA") as CaCertificateRecord;
  const clients = clientCertificateFleet({ count: 30, now: NOW, seed: 5 }).map((client) => ({
    ...client,
    ParentIdentifier: soon.Identifier,
  }));
  const cas = new CasSimulator({
    credentials: ALIYUN,
    caCertificates: authorities,
    clientCertificates: clients,
    now: NOW,
  });
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    const casUrl = await cas.listen();
    ({ dynamo, store } = await embeddedStore());
    const source = (name: string, type: string) => `
  - name: ${name}
    type: ${type}
    endpoint: ${casUrl}
    credentials: { accessKey: ${ALIYUN.accessKey}, secretKey: ${ALIYUN.secretKey} }
    timeout: 2s`;
    config = await parseConfig(
      `sources:${source("ali-ca", "aliyun-private-ca")}${source("ali-pki", "aliyun-client-certificates")}
receivers:
  - { name: ops, type: webhook, url: "http://127.0.0.1:9/unused" }
`,
      "dependents.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([cas.close(), dynamo.close()]);
  });

  it("the first run already counts them: the CA is swept once its client certificates are written", async () => {
    const summary = await runSweep({ config, store, http, now: NOW, dryRun: false });
    expect(summary.sources.map((report) => [report.name, report.ok])).toEqual([
      ["ali-ca", true],
      ["ali-pki", true],
    ]);
    const inForce = [...(await store.loadObjects("ali-pki")).values()].filter(
      (object) => object.observation.status === "active",
    ).length;
    expect(inForce).toBeGreaterThan(1);
    const alert = summary.alerts.find((candidate) => candidate.name === "Soon Sub CA");
    expect(alert?.summary).toBe(
      `expires in 20 days (2026-12-12); ${inForce} known certificates depend on it`,
    );
    // One of them is revoked: the count follows, and the CA's stored count with it.
    const active = clients.find((client) => client.Status === "ISSUE" && client.AfterDate > NOW.getTime());
    if (active) active.Status = "REVOKE";
    const revokedAt = Math.floor(NOW.getTime() / 1000);
    if (active) Object.assign(active, { revocation: { Status: "revoked", RevokeTime: revokedAt } });
    const again = await runSweep({ config, store, http, now: new Date(NOW.getTime() + 60_000) });
    expect(again.sources.every((report) => report.ok)).toBe(true);
    const stored = await store.loadObjects("ali-ca");
    const ca = stored.get(`ali-ca/certificate-authority/${soon.Identifier}`)?.observation;
    expect(ca?.details?.dependents).toBe(String(inForce - 1));
  });

  it("a CA swept before its client certificates, listed unchanged after them, records their count", async () => {
    const fresh = await embeddedStore();
    const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);
    const soonKey = `ali-ca/certificate-authority/${soon.Identifier}`;
    try {
      await runSweep({ config, store: fresh.store, http, now: at(0), only: ["ali-ca"] });
      expect(
        (await fresh.store.getObject("ali-ca", soonKey))?.observation.details?.dependents,
      ).toBeUndefined();
      await runSweep({ config, store: fresh.store, http, now: at(1), only: ["ali-pki"] });
      const inForce = [...(await fresh.store.loadObjects("ali-pki")).values()].filter(
        (object) => object.observation.status === "active",
      ).length;
      const again = await runSweep({ config, store: fresh.store, http, now: at(2), only: ["ali-ca"] });
      expect(again.sources[0]).toMatchObject({ ok: true, changed: 1 });
      const stored = await fresh.store.getObject("ali-ca", soonKey);
      expect(stored?.observation.details?.dependents).toBe(String(inForce));
    } finally {
      fresh.store.close();
      await fresh.dynamo.close();
    }
  });
});
