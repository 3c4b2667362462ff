import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import type { DeploymentJobsSourceConfig } from "../lib/config/schema.js";
import { DAY_MS } from "../lib/model/time.js";
import { type Alert, type Observation, objectKey } from "../lib/model/types.js";
import type { Digest } from "../lib/notify/digest.js";
import { html } from "../lib/notify/email.js";
import type { Language } from "../lib/notify/messages.js";
import { slackMessage } from "../lib/notify/slack.js";
import { redeployNotice } from "../lib/remediate/notice.js";

/**
 * Renders what users receive, with the real renderers, into docs/samples: the Slack Block Kit message, the email
 * in English and Chinese, and a screenshot of the email taken with headless Chromium. Run: npm run samples.
 */
const OUT = resolve("docs/samples");
const NOW = new Date("2026-11-22T01:00:00Z");
const inDays = (days: number) => new Date(NOW.getTime() + days * DAY_MS).toISOString();

/** An object as its source would observe it: its key is made of its source, kind and id, as a collector makes it. */
function certificate(
  overrides: Partial<Omit<Observation, "key">> & { nativeId: string; name: string },
): Observation {
  const observation: Omit<Observation, "key"> = {
    kind: "certificate",
    domains: [],
    status: "active",
    rawStatus: "ISSUED",
    labels: { source: "hw-prod", provider: "huawei", product: "scm", region: "ap-southeast-1" },
    ...overrides,
  };
  return {
    ...observation,
    key: objectKey(observation.labels.source, observation.kind, observation.nativeId),
  };
}

const api = certificate({
  nativeId: "scs1554192131150",
  name: "api-2026",
  domains: ["api.example.com", "api-internal.example.com"],
  notAfter: inDays(2.6),
});
const shop = certificate({
  nativeId: "14000123",
  name: "shop-cn",
  domains: ["shop.example.cn", "m.shop.example.cn"],
  notAfter: inDays(12.4),
  rawStatus: "WILLEXPIRED",
  labels: { source: "ali-ssl", provider: "aliyun", product: "ssl", region: "cn-hangzhou", team: "commerce" },
});
const device = certificate({
  kind: "client-certificate",
  nativeId: "client-00042",
  name: "device-00042.iot.example.com",
  domains: ["device-00042.iot.example.com"],
  notAfter: inDays(200),
  status: "revoked",
  rawStatus: "revoked",
  revokedAt: "2026-11-21T14:05:00.000Z",
  labels: { source: "ali-pki", provider: "aliyun", product: "private-ca" },
});
const worker = certificate({
  kind: "deployment-task",
  nativeId: "8004/20017",
  name: "shop-cn-2026 on SLB lb-8004-1 listener lsn-1@443 port 443",
  domains: ["shop.example.cn"],
  notAfter: undefined,
  status: "failed",
  rawStatus: "error",
  details: {
    jobId: "8004",
    job: "8004 (renew shop-cn)",
    resource: "lb-8004-1 listener lsn-1@443 port 443",
    certificate: "12000004",
  },
  labels: {
    source: "ali-deploy",
    provider: "aliyun",
    product: "SLB",
    region: "cn-hangzhou",
    account: "1666884372152785",
  },
});
const sso = certificate({
  nativeId: "app-ins-0001/cer-5c81c5ce",
  name: "jira-saml certificate cer-5c81c5ce",
  notAfter: inDays(6.2),
  rawStatus: "ACTIVE",
  successor: { nativeId: "app-ins-0001/cer-a96ccdb1", notAfter: "2027-11-20T00:00:00.000Z" },
  details: { application: "jira-saml" },
  labels: { source: "hw-sso", provider: "huawei", product: "identity-center", application: "app-ins-0001" },
});
const renewed = certificate({
  nativeId: "scs1554192139999",
  name: "www-2026",
  domains: ["www.example.com"],
  notAfter: "2027-11-30T00:00:00.000Z",
});

/** An automatic redeploy of job 8003's failed CDN workers, announced as the digest announces every one. */
const redeployed = redeployNotice(
  {
    source: "ali-deploy",
    workerSet: "sample",
    state: "pending",
    trigger: "automatic",
    claimId: "sample",
    fromJob: "8003",
    jobId: "9001",
    workers: ["20013", "20014"],
    resourceIds: ["1286012", "1286013"],
    certIds: ["12000003"],
    at: NOW.toISOString(),
    until: inDays(1),
  },
  {
    source: "ali-deploy",
    fromJob: "8003",
    workerSet: "sample",
    scope: "failed",
    workers: ["20013", "20014"].map((id, index) => ({
      worker: id,
      status: "error",
      resourceId: String(1286012 + index),
      cloud: "aliyun",
      certId: "12000003",
      domains: ["static.example.cn"],
      where: `CDN static${index}.example.cn`,
    })),
    params: {
      Name: "certwatch redeploy of job 8003",
      JobType: "user",
      CertIds: "12000003",
      ResourceIds: "1286012,1286013",
      ContactIds: "1",
    },
  },
  { name: "ali-deploy", region: "cn-hangzhou", labels: {} } as unknown as DeploymentJobsSourceConfig,
);

const base = { generation: 0 } as const;
const alerts: Alert[] = [
  {
    ...base,
    fingerprint: `expiry:${api.key}`,
    rule: "expiry",
    stage: "7d",
    episode: api.notAfter ?? "",
    severity: "critical",
    summary: "expires in 2 days (2026-11-24)",
    object: api,
    daysLeft: 2,
    transition: "escalated",
  },
  {
    ...base,
    fingerprint: `revocation:${device.key}`,
    rule: "revocation",
    stage: "revoked",
    episode: device.revokedAt ?? "",
    severity: "critical",
    summary: `revoked at ${device.revokedAt}`,
    object: device,
    transition: "new",
  },
  {
    ...base,
    fingerprint: `deployment:${worker.key}`,
    rule: "deployment",
    stage: "failed",
    episode: "2026-11-21T22:10:00.000Z",
    severity: "critical",
    summary:
      "deployment to SLB lb-8004-1 listener lsn-1@443 port 443 failed (error, job 8004 (renew shop-cn))",
    object: worker,
    transition: "new",
  },
  {
    ...base,
    fingerprint: `expiry:${sso.key}`,
    rule: "expiry",
    stage: "7d",
    episode: sso.notAfter ?? "",
    severity: "critical",
    summary: "expires in 6 days (2026-11-28)",
    object: sso,
    daysLeft: 6,
    transition: "new",
  },
  {
    ...base,
    fingerprint: `expiry:${shop.key}`,
    rule: "expiry",
    stage: "14d",
    episode: shop.notAfter ?? "",
    severity: "warning",
    summary: "expires in 12 days (2026-12-04)",
    object: shop,
    daysLeft: 12,
    transition: "new",
  },
  {
    ...base,
    fingerprint: `expiry:${renewed.key}`,
    rule: "expiry",
    stage: "resolved",
    episode: "2026-11-29T00:00:00.000Z",
    severity: "critical",
    summary: "resolved (was 7d); now valid until 2027-11-30",
    object: renewed,
    transition: "resolved",
    resolvedFrom: "7d",
  },
  redeployed,
];

const digest: Digest = { alerts, generatedAt: NOW.toISOString() };

async function screenshot(file: string, png: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    await page.goto(`file://${file}`);
    await page.screenshot({ path: png, fullPage: true });
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  await writeFile(join(OUT, "slack.json"), `${JSON.stringify(slackMessage(digest), null, 2)}\n`);
  await writeFile(
    join(OUT, "slack.zh-CN.json"),
    `${JSON.stringify(slackMessage(digest, "zh-CN"), null, 2)}\n`,
  );
  for (const language of ["en", "zh-CN"] as Language[]) {
    const suffix = language === "en" ? "" : `.${language}`;
    await writeFile(join(OUT, `email${suffix}.html`), html(digest, language));
  }
  await screenshot(join(OUT, "email.html"), join(OUT, "email.png"));
  console.log(`samples written to ${OUT}`);
}

await main();
