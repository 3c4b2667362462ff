import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config, SourceConfig } from "../lib/config/schema.js";
import type { Observation } from "../lib/model/types.js";
import { AliyunClient } from "../lib/sources/aliyun/client.js";
import { lookUpScmCertificate } from "../lib/sources/huawei/scm.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { driverFor } from "../lib/sources/index.js";
import type { EmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { type CaCertificateRecord, CasSimulator } from "../sim/aliyun-cas.js";
import { clientCertificateFleet, deploymentFleet, sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { scmFleet } from "../sim/fleet.js";
import { type CcmAuthority, ccmAuthority, ccmCertificate, ccmSimulator } from "../sim/huawei-ccm.js";
import { identityCenterFleet, identityCenterSimulator } from "../sim/huawei-identity-center.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { checkExchange, loadContracts } from "./contract/check.js";
import { contractViolations, deliberately, exercisedContracts } from "./contract/setup.js";
import { embeddedStore } from "./harness.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const ALIYUN = { accessKey: "LTAI5tCONTRACTKEY0001", secretKey: "aliyun-contract-secret-1" };
const HUAWEI = { accessKey: "HWCONTRACTACCESSKEY01", secretKey: "huawei-contract-secret-1" };
const DAY = 86_400_000;

/**
 * Alibaba private CAs as DescribeCACertificateList serves them: a root and the subordinate `sub-ca-0001` that issued
 * the client certificates of `clientCertificateFleet`, so that the CA's dependents come from the ali-pki sweep.
 */
function casAuthorities(): CaCertificateRecord[] {
  const ca = (Identifier: string, CommonName: string, days: number): CaCertificateRecord => ({
    Identifier,
    CertificateType: "ROOT",
    Status: "ISSUE",
    CommonName,
    SubjectDN: `C=CN,O=Example,CN=${CommonName}`,
    SerialNumber: `70E3B2566D92805173767869727FB9${Identifier.slice(-4)}`,
    Algorithm: "RSA",
    KeySize: 2048,
    SignAlgorithm: "SHA256WITHRSA",
    BeforeDate: NOW.getTime() - 365 * DAY,
    AfterDate: NOW.getTime() + days * DAY,
    Years: 5,
  });
  const root = ca("root-ca-0001", "Example Root CA", 3650);
  return [
    root,
    {
      ...ca("sub-ca-0001", "Example Sub CA", 20),
      CertificateType: "SUB_ROOT",
      ParentIdentifier: root.Identifier,
    },
  ];
}

/** Huawei CCM: a root, a subordinate 20 days from its end, and 60 private certificates (two pages of 50). */
function ccmEstate() {
  let created = NOW.getTime() - 400 * DAY;
  const ca = (id: string, days: number, issuer?: CcmAuthority) =>
    ccmAuthority({
      ca_id: id,
      status: "ACTIVED",
      not_after: NOW.getTime() + days * DAY,
      create_time: (created += DAY),
      commonName: `CA ${id}`,
      issuer,
    });
  const root = ca("ca-root", 3650);
  const sub = ca("ca-sub", 20, root);
  const certificates = Array.from({ length: 60 }, (_, index) => {
    const id = `cert-${String(index + 1).padStart(4, "0")}`;
    return ccmCertificate({
      certificate_id: id,
      status: "ISSUED",
      not_after: NOW.getTime() + 200 * DAY,
      create_time: (created += 60_000),
      commonName: `${id}.internal.example.com`,
      issuer: index < 50 ? sub : root,
    });
  });
  return { authorities: [root, sub], certificates };
}

/**
 * Every call certwatch sends, made the way certwatch makes it (a sweep of every source type that calls a cloud,
 * validate's calls, the look-ups of one SCM certificate and one Alibaba CA, an automatic redeploy), through the
 * simulators; the setup file holds each exchange to vendor-contracts.json, and this suite says which calls that
 * covered. (`tls-endpoints` calls no cloud: test/tls-endpoints.test.ts holds it.)
 */
describe("every call certwatch makes, held to the vendors' contracts", () => {
  const jobs = deploymentFleet({ jobs: 6, workersPerJob: 3, now: NOW });
  const cas = new CasSimulator({
    credentials: ALIYUN,
    clientCertificates: clientCertificateFleet({ count: 60, now: NOW }),
    deploymentJobs: jobs,
    sslCertificates: sslCertificateFleet({ count: 60, now: NOW }),
    caCertificates: casAuthorities(),
    now: NOW,
  });
  const certificates = scmFleet({ count: 60, now: NOW });
  const scm = scmSimulator({ certificates, credentials: HUAWEI, clock: () => NOW.getTime() });
  const identityCenter = identityCenterSimulator({
    fleet: identityCenterFleet({ applications: 4, certificatesPerApplication: 2, now: NOW }),
    credentials: HUAWEI,
  });
  const ccm = ccmSimulator({ ...ccmEstate(), credentials: HUAWEI, domainId: "0a1b2c3d4e5f" });
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    const [casUrl, scmUrl, icUrl, ccmUrl, slackUrl] = await Promise.all([
      cas.listen(),
      scm.listen(),
      identityCenter.listen(),
      ccm.listen(),
      slack.listen(),
    ]);
    ({ dynamo, store } = await embeddedStore());
    const aliyun = (name: string, type: string, extra = "") => `
  - name: ${name}
    type: ${type}
    endpoint: ${casUrl}
    credentials: { accessKey: ${ALIYUN.accessKey}, secretKey: ${ALIYUN.secretKey} }${extra}`;
    config = await parseConfig(
      `
sources:
  - name: hw-scm
    type: huawei-scm
    endpoint: ${scmUrl}
    credentials: { accessKey: ${HUAWEI.accessKey}, secretKey: ${HUAWEI.secretKey} }
    domainId: 0a1b2c3d4e5f
  - name: hw-sso
    type: huawei-identity-center
    endpoint: ${icUrl}
    credentials: { accessKey: ${HUAWEI.accessKey}, secretKey: ${HUAWEI.secretKey} }
    instanceId: ins-0123456789abcdef
    domainId: 0a1b2c3d4e5f${aliyun("ali-pki", "aliyun-client-certificates")}${aliyun("ali-ssl", "aliyun-ssl-certificates")}${aliyun("ali-deploy", "aliyun-deployment-jobs", "\n    contactIds: [1, 2]")}${aliyun("ali-ca", "aliyun-private-ca")}
  - name: hw-ca
    type: huawei-private-ca
    endpoint: ${ccmUrl}
    credentials: { accessKey: ${HUAWEI.accessKey}, secretKey: ${HUAWEI.secretKey} }
    domainId: 0a1b2c3d4e5f
remediation: { redeployFailedWorkers: true, maxJobsPerRun: 10 }
receivers:
  - { name: ops-slack, type: slack, webhookUrl: "${slackUrl}" }
`,
      "contract.yml",
    );
  });
  afterAll(async () => {
    store.close();
    await http.close();
    await Promise.all([
      cas.close(),
      scm.close(),
      identityCenter.close(),
      ccm.close(),
      slack.close(),
      dynamo.close(),
    ]);
  });

  const context = () => ({ http, stats: newCallStats(), previous: new Map(), warn: () => undefined });

  it("a sweep of every source type, and the redeploys it starts, send only what the contracts hold", async () => {
    const summary = await runSweep({ config, store, http, now: NOW });
    expect(summary.sources.map((source) => [source.name, source.ok])).toEqual(
      config.sources.map((source) => [source.name, true]),
    );
    expect(summary.remediation?.jobs.some((job) => job.outcome === "created")).toBe(true);
    for (const source of config.sources) await driverFor(source.type).verify(source as never, context());
    const scmSource = config.sources[0] as Extract<SourceConfig, { type: "huawei-scm" }>;
    const found = await lookUpScmCertificate(scmSource, context(), certificates[0]?.id ?? "");
    expect(found).not.toBe("gone");
    expect(await lookUpScmCertificate(scmSource, context(), "scs0000000000000")).toBe("gone");
    // The private CAs: Alibaba's look-up by Identifier, and the counts of what depends on each CA.
    const caSource = config.sources.find((source) => source.name === "ali-ca") as Extract<
      SourceConfig,
      { type: "aliyun-private-ca" }
    >;
    const subCa = (await store.loadObjects("ali-ca")).get(
      "ali-ca/certificate-authority/sub-ca-0001",
    )?.observation;
    const issuedBySubCa = [...(await store.loadObjects("ali-pki")).values()].filter(
      (object) =>
        object.observation.status === "active" && object.observation.details?.issuer === "sub-ca-0001",
    ).length;
    expect(issuedBySubCa).toBeGreaterThan(0);
    expect(subCa?.details?.dependents).toBe(String(issuedBySubCa));
    const caDriver = driverFor("aliyun-private-ca");
    expect(await caDriver.lookUp?.(caSource, context(), subCa as Observation)).toMatchObject({
      nativeId: "sub-ca-0001",
    });
    expect(
      await caDriver.lookUp?.(caSource, context(), { ...(subCa as Observation), nativeId: "gone-ca" }),
    ).toBe("gone");
    const hwSub = (await store.loadObjects("hw-ca")).get("hw-ca/certificate-authority/ca-sub")?.observation;
    expect(hwSub?.details?.dependents).toBe("50");

    expect([...exercisedContracts()].sort()).toEqual([
      "aliyun.cas.CreateDeploymentJob",
      "aliyun.cas.DescribeCACertificateList",
      "aliyun.cas.DescribeClientCertificateStatus",
      "aliyun.cas.ListCertificates",
      "aliyun.cas.ListClientCertificate",
      "aliyun.cas.ListDeploymentJob",
      "aliyun.cas.ListWorkerResource",
      "aliyun.cas.UpdateDeploymentJobStatus",
      "huawei.ccm.ListCertificate",
      "huawei.ccm.ListCertificateAuthority",
      "huawei.identitycenter.ListApplicationInstanceCertificates",
      "huawei.identitycenter.ListApplicationInstances",
      "huawei.scm.ListCertificates",
      "huawei.scm.ShowCertificate",
    ]);
    expect(contractViolations()).toEqual([]);
  });

  it("would catch certwatch sending a parameter the call does not take, or an action under the wrong version", async () => {
    const seen: Exchange[] = [];
    const stop = observeExchanges((exchange) => seen.push(exchange));
    try {
      const source = config.sources[3] as Extract<SourceConfig, { type: "aliyun-ssl-certificates" }>;
      await deliberately(() =>
        new AliyunClient(source, context()).rpc("ListCertificates", {
          CertificateStatus: "issued",
          Status: "ISSUED",
        }),
      );
    } finally {
      stop();
    }
    const contracts = loadContracts();
    expect(seen.flatMap((exchange) => checkExchange(contracts, exchange).violations)).toEqual([
      "aliyun.cas ListCertificates: query parameter Status is not in the contract",
    ]);
    const wrongVersion: Exchange = {
      ...(seen[0] as Exchange),
      request: {
        ...(seen[0] as Exchange).request,
        headers: { ...(seen[0] as Exchange).request.headers, "x-acs-version": "2020-06-30" },
      },
    };
    expect(checkExchange(contracts, wrongVersion).violations).toEqual([
      expect.stringContaining("ListCertificates: sent under version 2020-06-30"),
    ]);
  });
});
