import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../lib/config/load.js";
import type { Config, SourceConfig } from "../lib/config/schema.js";
import { AliyunClient } from "../lib/sources/aliyun/client.js";
import { lookUpScmCertificate } from "../lib/sources/huawei/scm.js";
import { HttpClient, newCallStats } from "../lib/sources/http.js";
import { driverFor } from "../lib/sources/index.js";
import { type EmbeddedDynamo, startEmbeddedDynamo } from "../lib/store/embedded.js";
import { Store } from "../lib/store/store.js";
import { runSweep } from "../lib/sweep.js";
import { CasSimulator } from "../sim/aliyun-cas.js";
import { clientCertificateFleet, deploymentFleet, sslCertificateFleet } from "../sim/aliyun-fleet.js";
import { scmFleet } from "../sim/fleet.js";
import { identityCenterFleet, identityCenterSimulator } from "../sim/huawei-identity-center.js";
import { scmSimulator } from "../sim/huawei-scm.js";
import { type Exchange, observeExchanges } from "../sim/server.js";
import { SlackReceiverSim } from "../sim/slack.js";
import { checkExchange, loadContracts } from "./contract/check.js";
import { contractViolations, deliberately, exercisedContracts } from "./contract/setup.js";

const NOW = new Date("2026-11-22T00:00:00Z");
const ALIYUN = { accessKey: "LTAI5tCONTRACTKEY0001", secretKey: "aliyun-contract-secret-1" };
const HUAWEI = { accessKey: "HWCONTRACTACCESSKEY01", secretKey: "huawei-contract-secret-1" };

/**
 * Every call certwatch sends, made the way certwatch makes it (a sweep of every source type, validate's calls,
 * SCM's look-up of one certificate, an automatic redeploy), through the simulators; the setup file holds each
 * exchange to vendor-contracts.json, and this suite says which calls that covered.
 */
describe("every call certwatch makes, held to the vendors' contracts", () => {
  const jobs = deploymentFleet({ jobs: 6, workersPerJob: 3, now: NOW });
  const cas = new CasSimulator({
    credentials: ALIYUN,
    clientCertificates: clientCertificateFleet({ count: 60, now: NOW }),
    deploymentJobs: jobs,
    sslCertificates: sslCertificateFleet({ count: 60, now: NOW }),
    now: NOW,
  });
  const certificates = scmFleet({ count: 60, now: NOW });
  const scm = scmSimulator({ certificates, credentials: HUAWEI, clock: () => NOW.getTime() });
  const identityCenter = identityCenterSimulator({
    fleet: identityCenterFleet({ applications: 4, certificatesPerApplication: 2, now: NOW }),
    credentials: HUAWEI,
  });
  const slack = new SlackReceiverSim();
  const http = new HttpClient();
  let dynamo: EmbeddedDynamo;
  let store: Store;
  let config: Config;

  beforeAll(async () => {
    const [casUrl, scmUrl, icUrl, slackUrl] = await Promise.all([
      cas.listen(),
      scm.listen(),
      identityCenter.listen(),
      slack.listen(),
    ]);
    dynamo = await startEmbeddedDynamo();
    store = new Store({ table: "certwatch", endpoint: dynamo.endpoint, historyDays: 90 });
    await store.ensureTable();
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
    domainId: 0a1b2c3d4e5f${aliyun("ali-pki", "aliyun-client-certificates")}${aliyun("ali-ssl", "aliyun-ssl-certificates")}${aliyun("ali-deploy", "aliyun-deployment-jobs", "\n    contactIds: [1, 2]")}
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
    await Promise.all([cas.close(), scm.close(), identityCenter.close(), slack.close(), dynamo.close()]);
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

    expect([...exercisedContracts()].sort()).toEqual([
      "aliyun.cas.CreateDeploymentJob",
      "aliyun.cas.DescribeClientCertificateStatus",
      "aliyun.cas.ListCertificates",
      "aliyun.cas.ListClientCertificate",
      "aliyun.cas.ListDeploymentJob",
      "aliyun.cas.ListWorkerResource",
      "aliyun.cas.UpdateDeploymentJobStatus",
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
